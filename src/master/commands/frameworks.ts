// External framework commands: a Mesos scheduler's SUBSCRIBE, TEARDOWN, LAUNCH, KILL and
// ACKNOWLEDGE, each checked against the state it is appended to and turned into events, in one
// place for every caller (the scheduler API, the operator's teardown, the failover timer). The
// session side (streams, offers, resends) is frameworks/external.ts; what is checked against an
// offer is checkOffers (launch.ts). Each returns the Decision EventLog.submit takes.

import { randomUUID } from 'node:crypto';
import { isSafeId, isTerminal, MusterError } from '../../core/index.js';
import { mesos } from '../../protocol/index.js';
import type { Offer } from '../../scheduler/index.js';
import { authorize, can, type Caller } from '../auth/index.js';
import type { Decision } from '../eventlog.js';
import type { CellState, Event, FrameworkRecord, FrameworkRegistration, LaunchedTask } from '../state/index.js';

/** The role a task of a framework subscribed with role "*" runs under (a task's role must be a name). */
export const DEFAULT_TASK_ROLE = 'mesos';
/** Bounds on what frameworks may hold, so that no framework can grow the master without end. */
export const MAX_FRAMEWORKS = 1000;
export const MAX_TASKS_PER_FRAMEWORK = 100_000;

/**
 * registerFramework records a framework's (re-)subscription. A framework id the master does not
 * know (removed: torn down, or past its failover timeout) cannot come back: 'unknown', nothing
 * appended. A new one beyond MAX_FRAMEWORKS is refused.
 */
export function registerFramework(state: CellState, now: number, caller: Caller, registration: FrameworkRegistration, isNew: boolean): Decision<'registered' | 'unknown'> {
  for (const role of registration.roles) {
    if (role !== '*' && !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(role)) {
      throw new MusterError('INVALID_ARGUMENT', `role "${role}" must be "*" or 1-63 lowercase letters, digits or '-' (subscribe.framework_info.roles)`);
    }
    authorize(state, caller, 'framework:register', role);
  }
  // As Mesos: a framework that names a principal must be the one that authenticated.
  const principal = registration.principal;
  if (principal !== undefined && !caller.all && principal !== caller.principal) {
    throw new MusterError('FORBIDDEN', `framework_info.principal "${principal.slice(0, 80)}" is not the caller's (${caller.principal})`, { details: { field: 'framework_info.principal' } });
  }
  if (!isNew && !state.frameworks.has(registration.frameworkId)) return { events: [], result: 'unknown' };
  if (isNew && state.frameworks.size >= MAX_FRAMEWORKS) {
    throw new MusterError('UNAVAILABLE', `the master already has ${MAX_FRAMEWORKS} frameworks; tear some down first`);
  }
  return { events: [{ type: 'FrameworkRegistered', at: now, framework: registration }], result: 'registered' };
}

/**
 * removeFramework tears a framework down: its tasks are killed (apply() folds that in). False: it
 * was not there. Its own scheduler, or whoever may register frameworks as its role, may; cell:admin too.
 */
export function removeFramework(state: CellState, now: number, caller: Caller, frameworkId: string, message: string): Decision<boolean> {
  const f = state.frameworks.get(frameworkId);
  if (f === undefined) return { events: [], result: false };
  if (!can(state, caller, 'cell:admin', '*')) authorize(state, caller, 'framework:register', f.roles[0] ?? '*');
  return { events: [{ type: 'FrameworkRemoved', at: now, frameworkId, message }], result: true };
}

/** KillAnswer: what a framework's KILL found (an unknown task is answered TASK_LOST by the caller, as Mesos does). */
export type KillAnswer = 'unknown' | 'ended' | 'killing';

/** killFrameworkTask kills one of the framework's tasks by its own id. */
export function killFrameworkTask(state: CellState, now: number, frameworkId: string, externalId: string): Decision<KillAnswer> {
  const task = frameworkTask(state, frameworkId, externalId);
  if (task === undefined) return { events: [], result: 'unknown' };
  if (isTerminal(task.state)) return { events: [], result: 'ended' };
  return { events: [{ type: 'FrameworkTasksKilled', at: now, frameworkId, taskIds: [task.taskId] }], result: 'killing' };
}

/**
 * acknowledgeStatus records the framework's ACKNOWLEDGE of a task's latest update, named by the
 * uuid it was sent with; an ack of anything else (an older update, a task it does not have) is
 * ignored, as Mesos does. True: recorded.
 */
export function acknowledgeStatus(state: CellState, now: number, frameworkId: string, externalId: string, uuid: string): Decision<boolean> {
  const task = frameworkTask(state, frameworkId, externalId);
  if (task?.unacked === undefined || mesos.encodeStatusUuid(task.unacked) !== uuid) return { events: [], result: false };
  return { events: [{ type: 'StatusAcknowledged', at: now, frameworkId, taskId: task.taskId, uuid: task.unacked }], result: true };
}

/**
 * launchFrameworkTasks appends the tasks an ACCEPT's offer admitted (checkOffers), those still
 * launchable against the state appended to: the framework still there, the agent reachable, the
 * ids unused. It returns the tasks launched.
 */
export function launchFrameworkTasks(state: CellState, now: number, tasks: readonly LaunchedTask[]): Decision<LaunchedTask[]> {
  const ok = tasks.filter((t) => launchable(state, t));
  const events: Event[] = ok.length === 0 ? [] : [{ type: 'TasksLaunched', at: now, tasks: ok }];
  return { events, result: ok };
}

function frameworkTask(state: CellState, frameworkId: string, externalId: string): ReturnType<CellState['tasks']['get']> {
  const taskId = state.frameworks.get(frameworkId)?.byExternalId.get(externalId);
  return taskId === undefined ? undefined : state.tasks.get(taskId);
}

function launchable(s: CellState, t: LaunchedTask): boolean {
  const f = t.frameworkId === undefined ? undefined : s.frameworks.get(t.frameworkId);
  if (f === undefined || t.launch === undefined) return false;
  if (s.agents.get(t.agentId)?.reachable !== true || s.tasks.has(t.taskId)) return false;
  const old = f.byExternalId.get(t.launch.externalId);
  return old === undefined || !s.tasks.has(old);
}

/**
 * frameworkTaskOf turns a framework's TaskInfo on an offer into the task to launch, or says what is
 * wrong with it. Only command tasks run here: a custom executor or a container image is refused.
 * `seen` holds the task ids earlier in the same ACCEPT.
 */
export function frameworkTaskOf(state: CellState, f: FrameworkRecord | undefined, offer: Offer, t: mesos.TaskInfo, seen: ReadonlySet<string>): LaunchedTask | string {
  if (f === undefined) return 'the framework is not registered';
  const externalId = t.task_id.value;
  if (seen.has(externalId)) return `task id '${externalId}' appears twice in this ACCEPT`;
  const old = f.byExternalId.get(externalId);
  if (old !== undefined && state.tasks.has(old)) return `task id '${externalId}' is already in use`;
  if (f.taskIds.size >= MAX_TASKS_PER_FRAMEWORK) return `the framework already has ${MAX_TASKS_PER_FRAMEWORK} tasks`;
  if (t.agent_id.value !== offer.agentId) return `task.agent_id '${t.agent_id.value}' is not the offer's agent ${offer.agentId}`;
  if (t.executor !== undefined) return 'custom executors are not supported: give the task a command';
  if (t.container !== undefined) return 'containers are not supported yet: give the task a command';
  const command = t.command;
  if (command === undefined) return 'the task has no command';
  const cmd = command.shell ? (command.value ?? '') : [command.value ?? '', ...command.arguments].map(shellQuote).join(' ');
  if (cmd.trim() === '') return 'the task command is empty';
  const parsed = mesos.fromMesosResources(t.resources, 'task.resources');
  if (!parsed.ok) return `${parsed.field}: ${parsed.message}`;
  const resources = parsed.resources;
  if (resources.cpusMilli <= 0 && resources.memMiB <= 0) return 'the task asks for no cpus and no mem';
  if (resources.gpus > 0) return 'GPUs for external frameworks are not supported yet';
  const env: Record<string, string> = {};
  for (const v of command.environment?.variables ?? []) env[v.name] = v.value ?? '';
  const ports: Record<string, number> = {};
  let n = 0;
  for (const r of resources.ports) for (let p = r.begin; p <= r.end && n < 64; p++) ports[`port${n++}`] = p;
  const grace = t.kill_policy?.grace_period?.nanoseconds;
  const role = f.roles[0] === undefined || f.roles[0] === '*' ? DEFAULT_TASK_ROLE : f.roles[0];
  const safe = externalId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80);
  const taskId = `${safe.replace(/^[._-]+/, '') || 'task'}.${randomUUID().slice(0, 8)}`;
  if (!isSafeId(taskId)) return `task id '${externalId}' cannot be used`;
  return {
    taskId,
    job: `${role}/framework/${f.frameworkId}`,
    instance: 0,
    frameworkId: f.frameworkId,
    agentId: offer.agentId,
    resources,
    ports,
    launch: {
      name: t.name,
      externalId,
      cmd,
      env,
      killGraceSecs: grace === undefined ? 3 : Math.min(300, Math.max(0, grace / 1e9)),
    },
  };
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./=:,@%+-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}
