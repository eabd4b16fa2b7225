// apply folds one event into the cell state. It is deterministic: no clock, no randomness, no I/O.
// Times and ids come from the event. It mutates the state in place (the master holds one copy and
// replays millions of events on start; copying would be the bottleneck).
//
// Side effects are not performed here but left as data for the master to act on after the append:
// a task with `kill` set and not yet ended is one the master must (re)send KILL for; a pending
// instance whose notBefore has passed is one the job scheduler must place.

import { EMPTY, add, isTerminal, subtract, type Resources, type TaskState } from '../../core/index.js';
import { batchTaskEnded, serviceTaskEnded } from '../policy/index.js';
import type { Event, InstanceOutcome, LaunchedTask, PreemptionRecord, UpdateAction, UpdateStart } from './events.js';
import { AUDIT_KEPT, KEPT_TASKS_PER_INSTANCE, type AgentRecord, type CellState, type FrameworkRecord, type InstanceRecord, type JobRecord, type TaskRecord } from './state.js';
import { newRuns, newTemplateConfig, recordRunStart, recordSkip, recordSuspension, runEnded } from './runs.js';
import { INSTANCE_EVENTS_KEPT, VERSIONS_KEPT, isActiveUpdate, targetVersion, type UpdateRecord } from './updates.js';
import type { UpdateStatus } from '../../protocol/index.js';

export function apply(state: CellState, event: Event): void {
  if (event.by !== undefined) audit(state, event, event.by);
  switch (event.type) {
    case 'AgentRegistered': {
      const a = event.agent;
      const known = state.agents.get(a.agentId);
      if (known === undefined) {
        state.agents.set(a.agentId, { ...a, registeredAt: event.at, reachable: true, used: EMPTY, taskIds: new Set() });
      } else {
        Object.assign(known, a, { reachable: true });
      }
      return;
    }
    case 'AgentUnreachable': {
      const agent = state.agents.get(event.agentId);
      if (agent === undefined) return;
      agent.reachable = false;
      const waiting = new Set(event.waiting ?? []);
      for (const taskId of agent.taskIds) {
        const task = state.tasks.get(taskId);
        if (task === undefined || task.state === 'TASK_UNREACHABLE') continue;
        task.reachableState = task.state;
        task.unreachableAt = event.at;
        task.state = 'TASK_UNREACHABLE';
        task.reason = 'REASON_AGENT_UNREACHABLE';
        task.message = event.message;
        // Its instance waits for the agent (UnreachableReplaced, or the agent's return, moves it).
        if (waiting.has(taskId)) continue;
        // A victim on an agent that is gone frees nothing its preemptor could use soon.
        victimGone(state, task);
        instanceLostTask(state, task, event.at, true, event.outcomes?.[taskId]);
      }
      return;
    }
    case 'UnreachableReplaced':
      for (const [taskId, outcome] of Object.entries(event.outcomes)) {
        const task = state.tasks.get(taskId);
        if (task === undefined || task.state !== 'TASK_UNREACHABLE') continue;
        victimGone(state, task);
        instanceLostTask(state, task, event.at, true, outcome);
      }
      return;
    case 'JobCreated': {
      const template = event.spec.kind === 'cron' || (event.spec.after?.length ?? 0) > 0;
      const job = createJob(state, event.spec, event.at, event.by, !template);
      if (template) {
        job.runs = newRuns(event.at, event.spec.cron?.suspended ?? false);
        state.templates.add(job.key);
      }
      return;
    }
    case 'RunStarted': {
      const template = state.jobs.get(event.run.job);
      if (template === undefined) return;
      for (const key of event.run.prune ?? []) {
        const old = state.jobs.get(key);
        if (old !== undefined && old.parent === template.key) forgetJob(state, old);
      }
      recordRunStart(template, event.run, event.at, event.by);
      const run = createJob(state, event.run.spec, event.at, event.by, true);
      run.parent = template.key;
      run.run = event.run.number;
      return;
    }
    case 'RunSkipped': {
      const template = state.jobs.get(event.job);
      if (template === undefined) return;
      recordSkip(template, {
        at: event.at,
        reason: event.reason,
        ...(event.times === undefined ? {} : { times: event.times }),
        ...(event.parents === undefined ? {} : { parents: event.parents }),
      });
      return;
    }
    case 'RunsSuspended': {
      const template = state.jobs.get(event.job);
      if (template !== undefined) recordSuspension(template, event.suspended, event.at, event.skipped);
      return;
    }
    case 'TasksLaunched':
      for (const t of event.tasks) launch(state, t, event.at);
      return;
    case 'TaskStatusUpdated':
      updateStatus(state, event);
      return;
    case 'KillRequested': {
      const job = state.jobs.get(event.job);
      if (job === undefined) return;
      if (event.wholeJob && job.state === 'ACTIVE') {
        job.state = 'KILLING';
        job.endReason = event.message ?? `killed${event.by === undefined ? '' : ` by ${event.by}`}`;
        // Its update stops where it is: nothing is left to update.
        const u = job.activeUpdate === undefined ? undefined : state.updates.get(job.activeUpdate);
        if (u !== undefined) setUpdateStatus(state, u, 'ABORTED', event.at, 'the job was killed', event.by);
      }
      for (const i of event.instances) {
        const inst = job.instances[i];
        if (inst === undefined) continue;
        if (inst.state === 'PENDING') {
          if (event.restart && job.state === 'ACTIVE') {
            inst.notBefore = event.at;
            inst.failures = 0;
          } else {
            inst.state = 'KILLED';
          }
        } else if (inst.state === 'ACTIVE' && inst.taskId !== undefined) {
          const task = state.tasks.get(inst.taskId);
          if (task === undefined) continue;
          // A plain kill overrides an earlier restart; a restart never softens a kill. A victim
          // keeps its link to the instance waiting for it, so that instance learns when it ends.
          if (task.kill === undefined || (task.kill.restart && !event.restart)) {
            const preemptedFor = task.kill?.preemptedFor;
            task.kill = { at: event.at, reason: event.reason, restart: event.restart, ...(preemptedFor === undefined ? {} : { preemptedFor }) };
            state.killing.add(task.taskId);
          }
          // A task on an unreachable agent cannot be asked now; its instance moves on and the
          // master kills the task if the agent ever returns.
          if (task.state === 'TASK_UNREACHABLE') {
            victimGone(state, task);
            instanceLostTask(state, task, event.at, true);
          }
        }
      }
      if (job.state === 'FINISHED' || job.state === 'FAILED' || job.state === 'KILLED') {
        if (event.wholeJob) forgetJob(state, job);
        return;
      }
      settleJob(state, job, event.at);
      return;
    }
    case 'QuotaSet':
      if (event.quota === undefined) state.quotas.delete(event.role);
      else state.quotas.set(event.role, { role: event.role, quota: { ...event.quota }, setAt: event.at });
      return;
    case 'TasksPreempted':
      for (const p of event.preemptions) preempt(state, p, event.at);
      for (const taskId of event.reclaimed) {
        const task = state.tasks.get(taskId);
        if (task === undefined || isTerminal(task.state) || task.kill !== undefined) continue;
        task.kill = { at: event.at, reason: 'REASON_PREEMPTED', restart: true };
        state.killing.add(taskId);
      }
      return;
    case 'HostMaintenance':
      for (const hostname of event.hostnames) {
        if (event.mode === 'ACTIVE') state.maintenance.delete(hostname);
        else if (!state.maintenance.has(hostname)) state.maintenance.set(hostname, { hostname, mode: event.mode, since: event.at });
      }
      return;
    case 'FrameworkRegistered': {
      const f = event.framework;
      const known = state.frameworks.get(f.frameworkId);
      if (known === undefined) {
        state.frameworks.set(f.frameworkId, { ...f, registeredAt: event.at, taskIds: new Set(), byExternalId: new Map() });
      } else {
        Object.assign(known, f, { reregisteredAt: event.at });
      }
      return;
    }
    case 'FrameworkRemoved': {
      const f = state.frameworks.get(event.frameworkId);
      if (f === undefined) return;
      // Its live tasks are killed (the master owes their KILLs); the ended ones are forgotten, as
      // no one is left to acknowledge them. The framework goes once its last task has ended.
      for (const id of f.taskIds) {
        const task = state.tasks.get(id);
        if (task === undefined) continue;
        if (isTerminal(task.state)) {
          forgetFrameworkTask(state, f, task);
        } else if (task.kill === undefined) {
          task.kill = { at: event.at, reason: 'REASON_FRAMEWORK_REMOVED', restart: false };
          state.killing.add(id);
        }
        delete task.unacked;
      }
      state.frameworks.delete(f.frameworkId);
      return;
    }
    case 'FrameworkTasksKilled':
      for (const id of event.taskIds) {
        const task = state.tasks.get(id);
        if (task === undefined || task.frameworkId !== event.frameworkId || isTerminal(task.state) || task.kill !== undefined) continue;
        task.kill = { at: event.at, reason: 'REASON_TASK_KILLED', restart: false };
        state.killing.add(id);
      }
      return;
    case 'StatusAcknowledged': {
      const task = state.tasks.get(event.taskId);
      if (task === undefined || task.frameworkId !== event.frameworkId || task.unacked !== event.uuid) return;
      delete task.unacked;
      const f = state.frameworks.get(event.frameworkId);
      if (isTerminal(task.state) && f !== undefined) forgetFrameworkTask(state, f, task);
      return;
    }
    case 'TokenCreated':
      state.tokens.set(event.token.accessorId, event.token);
      if (event.token.revokedAt === undefined) state.tokenByHash.set(event.token.secretHash, event.token.accessorId);
      return;
    case 'TokenRevoked': {
      const token = state.tokens.get(event.accessorId);
      if (token === undefined || token.revokedAt !== undefined) return;
      token.revokedAt = event.at;
      state.tokenByHash.delete(token.secretHash);
      return;
    }
    case 'PolicySet':
      state.policies.set(event.policy.name, event.policy);
      return;
    case 'PolicyDeleted':
      state.policies.delete(event.name);
      return;
    case 'UpdateStarted':
      startUpdate(state, event.update, event.at, event.by);
      return;
    case 'UpdateInstancesActed': {
      const u = state.updates.get(event.id);
      if (u === undefined) return;
      if (event.newBatch !== undefined) u.batches.push([...event.newBatch]);
      for (const a of event.actions) actOnInstance(state, u, a, event.at);
      u.lastModifiedAt = event.at;
      return;
    }
    case 'UpdateStatusChanged': {
      const u = state.updates.get(event.id);
      if (u !== undefined) setUpdateStatus(state, u, event.status, event.at, event.message, event.by);
      return;
    }
    case 'JobsPruned':
      for (const key of event.jobs) {
        const job = state.jobs.get(key);
        if (job !== undefined) forgetJob(state, job);
      }
      for (const id of event.updates) forgetUpdate(state, id);
      return;
  }
}

/** audit records who caused an event; the oldest entries go once there are more than AUDIT_KEPT. */
function audit(state: CellState, event: Event, by: string): void {
  const subject = subjectOf(event);
  state.audit.push(subject === undefined ? { at: event.at, by, action: event.type } : { at: event.at, by, action: event.type, subject });
  // Dropped in chunks, so that keeping the bound costs no copy per event.
  if (state.audit.length > AUDIT_KEPT + AUDIT_KEPT / 10) state.audit.splice(0, state.audit.length - AUDIT_KEPT);
}

/** subjectOf is what an event was done to, for the audit. */
function subjectOf(event: Event): string | undefined {
  switch (event.type) {
    case 'JobCreated':
      return event.spec.job;
    case 'KillRequested':
      return event.job;
    case 'QuotaSet':
      return event.role;
    case 'HostMaintenance':
      return event.hostnames.join(',');
    case 'FrameworkRegistered':
      return event.framework.frameworkId;
    case 'FrameworkRemoved':
    case 'FrameworkTasksKilled':
      return event.frameworkId;
    case 'TokenCreated':
      return event.token.name;
    case 'TokenRevoked':
      return event.accessorId;
    case 'PolicySet':
      return event.policy.name;
    case 'PolicyDeleted':
      return event.name;
    case 'AgentRegistered':
      return event.agent.agentId;
    case 'UpdateStarted':
      return event.update.job;
    case 'UpdateStatusChanged':
      return event.id;
    case 'RunStarted':
      return event.run.key;
    case 'RunSkipped':
    case 'RunsSuspended':
      return event.job;
    default:
      return undefined;
  }
}

/** forgetFrameworkTask drops an ended task of an external framework once nothing is owed about it. */
function forgetFrameworkTask(state: CellState, f: FrameworkRecord, task: TaskRecord): void {
  state.tasks.delete(task.taskId);
  f.taskIds.delete(task.taskId);
  const external = task.launch?.externalId;
  if (external !== undefined && f.byExternalId.get(external) === task.taskId) f.byExternalId.delete(external);
}

/**
 * preempt has the victims killed, to be placed again marked preempted (so they may not preempt in
 * turn: no cascades), and has the preemptor wait for those still alive. Its instance preempts no
 * more until they have ended, so one pending task never takes more victims than it needs.
 */
function preempt(state: CellState, p: PreemptionRecord, at: number): void {
  const waiting: string[] = [];
  for (const victimId of p.victims) {
    const task = state.tasks.get(victimId);
    if (task === undefined || isTerminal(task.state)) continue;
    if (task.kill === undefined) {
      task.kill = { at, reason: 'REASON_PREEMPTED', restart: true, preemptedFor: { job: p.job, instance: p.instance } };
      state.killing.add(victimId);
    } else if (task.kill.preemptedFor === undefined) {
      task.kill.preemptedFor = { job: p.job, instance: p.instance };
    }
    const inst = state.jobs.get(task.job)?.instances[task.instance];
    if (inst !== undefined && inst.taskId === victimId) inst.preempted = true;
    // Wait only for victims that will tell this instance when they end (victimGone).
    const f = task.kill.preemptedFor;
    if (task.state !== 'TASK_UNREACHABLE' && f?.job === p.job && f.instance === p.instance) waiting.push(victimId);
  }
  const preemptor = state.jobs.get(p.job)?.instances[p.instance];
  if (preemptor === undefined || preemptor.state !== 'PENDING') return;
  if (waiting.length > 0) preemptor.awaitingVictims = waiting;
  else delete preemptor.awaitingVictims;
}

/**
 * victimGone: a task ended (or was lost with its agent). If it was a victim, the instance it was
 * preempted for stops waiting for it; once it waits for none, it may preempt again should the
 * room have been taken by someone else meanwhile.
 */
function victimGone(state: CellState, task: TaskRecord): void {
  const f = task.kill?.preemptedFor;
  if (f === undefined) return;
  const inst = state.jobs.get(f.job)?.instances[f.instance];
  const awaiting = inst?.awaitingVictims;
  if (inst === undefined || awaiting === undefined) return;
  const i = awaiting.indexOf(task.taskId);
  if (i >= 0) awaiting.splice(i, 1);
  if (awaiting.length === 0) delete inst.awaitingVictims;
}

/** MAX_GPU_DEVICES bounds a device index from an event, so a bad one cannot grow an array without end. */
const MAX_GPU_DEVICES = 1024;

/**
 * hold adds (sign 1) or releases (sign -1) what a task holds on its agent. A revocable task's cpus
 * and mem are held in slack (revocableUsed), the rest in used; GPU shares count per device.
 * Launch and end call it with the same task, so they cancel exactly.
 */
function hold(state: CellState, agent: AgentRecord, t: LaunchedTask, sign: 1 | -1): void {
  const r = t.resources;
  const regular: Resources = t.revocable === true ? { ...r, cpusMilli: 0, memMiB: 0 } : r;
  agent.used = sign === 1 ? add(agent.used, regular) : subtract(agent.used, regular);
  if (t.revocable === true) {
    const held = agent.revocableUsed ?? { cpusMilli: 0, memMiB: 0 };
    const now = { cpusMilli: held.cpusMilli + sign * r.cpusMilli, memMiB: held.memMiB + sign * r.memMiB };
    agent.revocableUsed = now;
    if (now.cpusMilli > 0 || now.memMiB > 0) state.revocableAgents.add(agent.agentId);
    else state.revocableAgents.delete(agent.agentId);
  }
  for (const g of t.gpus ?? []) {
    if (!Number.isInteger(g.device) || g.device < 0 || g.device >= MAX_GPU_DEVICES) continue;
    const used = (agent.gpuUsed ??= []);
    while (used.length <= g.device) used.push(0);
    used[g.device] = (used[g.device] ?? 0) + sign * g.milli;
  }
}

function launch(state: CellState, t: LaunchedTask, at: number): void {
  if (t.frameworkId !== undefined) {
    launchFrameworkTask(state, t, at);
    return;
  }
  const job = state.jobs.get(t.job);
  const inst = job?.instances[t.instance];
  const agent = state.agents.get(t.agentId);
  if (job === undefined || inst === undefined || agent === undefined) return;
  if (inst.taskId !== undefined) {
    inst.previousTaskIds.push(inst.taskId);
    while (inst.previousTaskIds.length > KEPT_TASKS_PER_INSTANCE) {
      const dropped = inst.previousTaskIds.shift() as string;
      const old = state.tasks.get(dropped);
      if (old !== undefined && isTerminal(old.state)) state.tasks.delete(dropped);
    }
  }
  const task: TaskRecord = { ...t, state: 'TASK_STAGING', launchedAt: at, version: inst.version ?? job.version ?? 1 };
  state.tasks.set(t.taskId, task);
  inst.state = 'ACTIVE';
  inst.taskId = t.taskId;
  inst.runs++;
  delete inst.preempted;
  delete inst.awaitingVictims;
  hold(state, agent, t, 1);
  agent.taskIds.add(t.taskId);
}

/** launchFrameworkTask records an external framework's task; it has no job or instance to move. */
function launchFrameworkTask(state: CellState, t: LaunchedTask, at: number): void {
  const f = t.frameworkId === undefined ? undefined : state.frameworks.get(t.frameworkId);
  const agent = state.agents.get(t.agentId);
  if (f === undefined || agent === undefined || t.launch === undefined || state.tasks.has(t.taskId)) return;
  state.tasks.set(t.taskId, { ...t, state: 'TASK_STAGING', launchedAt: at });
  f.taskIds.add(t.taskId);
  f.used = add(f.used ?? EMPTY, t.resources);
  f.byExternalId.set(t.launch.externalId, t.taskId);
  hold(state, agent, t, 1);
  agent.taskIds.add(t.taskId);
}

/** States in which a task ended through no fault of its own: its run is not counted as a failure. */
const LOST: ReadonlySet<TaskState> = new Set<TaskState>(['TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_UNREACHABLE']);

function updateStatus(state: CellState, event: Extract<Event, { type: 'TaskStatusUpdated' }>): void {
  const { status: s, at, outcome } = event;
  const task = state.tasks.get(s.taskId);
  if (task === undefined) return;
  // An ended task moves no more, except that its agent's word replaces the master's guess.
  if (isTerminal(task.state) && !(event.corrects === true && task.guessed === true)) return;
  // A correction of the master's guess ends a task that had ended already: what its end released
  // (the agent's hold, the framework's share) is not released again.
  const wasTerminal = isTerminal(task.state);
  const wasUnreachable = task.state === 'TASK_UNREACHABLE';
  task.state = s.state;
  task.lastUuid = s.uuid;
  if (s.reason === undefined) delete task.reason;
  else task.reason = s.reason;
  if (s.message === undefined) delete task.message;
  else task.message = s.message;
  if (s.healthy !== undefined) {
    if (s.healthy && task.healthy !== true) task.healthyAt = at;
    else if (!s.healthy) delete task.healthyAt;
    task.healthy = s.healthy;
  }
  if (event.guess === true) task.guessed = true;
  else delete task.guessed;
  if (s.state !== 'TASK_UNREACHABLE') {
    delete task.unreachableAt;
    delete task.reachableState;
  }
  if (s.state === 'TASK_RUNNING' && task.startedAt === undefined) task.startedAt = at;
  // An external framework is told of every update and must acknowledge it (only the latest is owed).
  const framework = task.frameworkId === undefined ? undefined : state.frameworks.get(task.frameworkId);
  if (framework !== undefined) task.unacked = s.uuid;
  if (event.returned === 'reclaim') reclaim(state, task, at);
  else if (event.returned === 'surplus' && task.kill === undefined && !isTerminal(s.state)) {
    task.kill = { at, reason: 'REASON_RECONCILIATION', restart: false };
    state.killing.add(task.taskId);
  }

  if (isTerminal(s.state)) {
    task.endedAt = at;
    state.killing.delete(task.taskId);
    const agent = state.agents.get(task.agentId);
    if (agent !== undefined && agent.taskIds.delete(task.taskId)) hold(state, agent, task, -1);
    victimGone(state, task);
    if (task.frameworkId !== undefined) {
      // Kept until its framework acknowledges the end (or is gone).
      if (framework === undefined) state.tasks.delete(task.taskId);
      else if (!wasTerminal) framework.used = subtract(framework.used ?? EMPTY, task.resources);
      return;
    }
    if (!state.jobs.has(task.job)) {
      state.tasks.delete(task.taskId);
      return;
    }
    countUpdateFailure(state, task, s.state);
    // A task replaced while its agent was away is no longer its instance's: its end decides
    // nothing (instanceLostTask checks), unless it was reclaimed above.
    instanceLostTask(state, task, at, LOST.has(s.state), outcome);
    return;
  }
  if (wasUnreachable) {
    // The agent came back with the task still running. If its instance has not been placed again
    // meanwhile, the instance simply has its task back (no second copy is ever started).
    const job = state.jobs.get(task.job);
    const inst = job?.instances[task.instance];
    if (job?.state === 'ACTIVE' && inst?.state === 'PENDING' && inst.taskId === task.taskId && task.kill === undefined) {
      inst.state = 'ACTIVE';
    }
  }
}

/**
 * reclaim makes a task that was replaced while its agent was away its instance's task again: the
 * replacement, if one was launched and still lives, is killed for good (it is the surplus copy).
 */
function reclaim(state: CellState, task: TaskRecord, at: number): void {
  const job = state.jobs.get(task.job);
  const inst = job?.instances[task.instance];
  if (job?.state !== 'ACTIVE' || inst === undefined || task.kill !== undefined) return;
  if (inst.state !== 'ACTIVE' && inst.state !== 'PENDING') return;
  if (inst.taskId !== undefined && inst.taskId !== task.taskId) {
    const other = state.tasks.get(inst.taskId);
    if (other !== undefined && !isTerminal(other.state) && other.kill === undefined) {
      other.kill = { at, reason: 'REASON_RECONCILIATION', restart: false };
      state.killing.add(other.taskId);
    }
    inst.previousTaskIds = inst.previousTaskIds.filter((id) => id !== task.taskId);
    inst.previousTaskIds.push(inst.taskId);
    inst.taskId = task.taskId;
  }
  inst.state = 'ACTIVE';
}

/**
 * instanceLostTask: the current task of an instance stopped running (ended, or lost with its
 * agent). A kill asked for, or a job no longer active, says what the instance does next; otherwise
 * the job's controller decided it when the end was recorded (outcome, from the event). Events
 * written before outcomes were recorded carry none: for those alone the controllers are asked here,
 * as they were then. Then whether the job has ended.
 */
function instanceLostTask(state: CellState, task: TaskRecord, at: number, lost: boolean, outcome?: InstanceOutcome): void {
  const job = state.jobs.get(task.job);
  const inst = job?.instances[task.instance];
  if (job === undefined || inst === undefined || inst.taskId !== task.taskId || inst.state !== 'ACTIVE') return;
  const end = { at, startedAt: task.startedAt, lost };
  if (task.kill !== undefined) {
    if (task.kill.restart && job.state === 'ACTIVE') {
      inst.state = 'PENDING';
      inst.notBefore = at;
      inst.failures = 0;
    } else {
      inst.state = 'KILLED';
    }
  } else if (job.state !== 'ACTIVE') {
    inst.state = 'KILLED';
  } else {
    const next =
      outcome ??
      (job.spec.kind === 'service'
        ? serviceTaskEnded(job.spec, inst.failures, end)
        : batchTaskEnded(job.spec, inst.failures, { ...end, succeeded: task.state === 'TASK_FINISHED' }));
    inst.state = next.state;
    if (next.state === 'PENDING') {
      inst.notBefore = next.notBefore;
      inst.failures = next.failures;
    } else if (next.state === 'FAILED') {
      inst.failures = next.failures;
      failJob(state, job, at);
    }
  }
  if (inst.state === 'PENDING') state.pendingJobs.add(job.key);
  settleJob(state, job, at);
}

/** failJob: one instance of a batch job used up its retries, so the job has failed: stop the rest. */
function failJob(state: CellState, job: JobRecord, at: number): void {
  job.state = 'FAILED';
  job.endedAt = at;
  const failed = job.instances.find((i) => i.state === 'FAILED');
  job.endReason = failed === undefined ? 'an instance failed' : `instance ${failed.instance} failed after ${failed.failures} failed run${failed.failures === 1 ? '' : 's'}`;
  runEnded(state, job, at);
  for (const inst of job.instances) {
    if (inst.state === 'PENDING') inst.state = 'KILLED';
    else if (inst.state === 'ACTIVE' && inst.taskId !== undefined) {
      const task = state.tasks.get(inst.taskId);
      if (task !== undefined && task.kill === undefined) {
        task.kill = { at, reason: 'REASON_JOB_FAILED', restart: false };
        state.killing.add(task.taskId);
      }
    }
  }
}

/**
 * settleJob ends a job once none of its instances is pending or active: a KILLING job (or one whose
 * every instance was killed) is removed; a batch job is FINISHED, or FAILED if an instance failed.
 */
function settleJob(state: CellState, job: JobRecord, at: number): void {
  for (const inst of job.instances) if (inst.state === 'PENDING' || inst.state === 'ACTIVE') return;
  // A template has no instances: it ends only when killed.
  if (job.runs !== undefined && job.state === 'ACTIVE') return;
  if (job.state === 'KILLING' || job.instances.every((i) => i.state === 'KILLED')) {
    job.state = 'KILLED';
    job.endedAt = at;
    job.endReason ??= 'every instance was killed';
    endActiveUpdate(state, job, at);
    runEnded(state, job, at);
    return;
  }
  if (job.state === 'ACTIVE') {
    const failed = job.instances.find((i) => i.state === 'FAILED');
    job.state = failed === undefined ? 'FINISHED' : 'FAILED';
    job.endedAt = at;
    job.endReason ??= failed === undefined ? 'every instance finished' : `instance ${failed.instance} failed`;
    endActiveUpdate(state, job, at);
    runEnded(state, job, at);
  }
}

/** createJob records a new job (a run's too) at version 1, its instances pending unless it is a template. */
function createJob(state: CellState, spec: JobRecord['spec'], at: number, by: string | undefined, withInstances: boolean): JobRecord {
  const old = state.jobs.get(spec.job);
  if (old !== undefined) forgetJob(state, old);
  const job: JobRecord = {
    key: spec.job,
    spec,
    state: 'ACTIVE',
    createdAt: at,
    instances: [],
    version: 1,
    versions: [{ version: 1, spec, at, cause: 'create', ...(by === undefined ? {} : { by }) }],
  };
  if (withInstances) {
    for (let i = 0; i < spec.instances; i++) {
      job.instances.push({ instance: i, state: 'PENDING', previousTaskIds: [], runs: 0, failures: 0, notBefore: at });
    }
    state.pendingJobs.add(job.key);
  }
  state.jobs.set(job.key, job);
  return job;
}

/** forgetJob forgets a job, its updates and its ended tasks; a task still alive is forgotten once it ends. */
function forgetJob(state: CellState, job: JobRecord): void {
  state.jobs.delete(job.key);
  state.templates.delete(job.key);
  for (const id of job.updateIds ?? []) forgetUpdate(state, id);
  for (const inst of job.instances) {
    for (const id of inst.taskId === undefined ? inst.previousTaskIds : [...inst.previousTaskIds, inst.taskId]) {
      const task = state.tasks.get(id);
      if (task !== undefined && isTerminal(task.state)) state.tasks.delete(id);
    }
  }
}

// ---- Updates -------------------------------------------------------------------------------

/** startUpdate records an update and the config version it rolls to; instances it leaves alone take that version's label. */
function startUpdate(state: CellState, start: UpdateStart, at: number, by: string | undefined): void {
  const job = state.jobs.get(start.job);
  if (job === undefined || job.activeUpdate !== undefined) return;
  const versions = (job.versions ??= [{ version: job.version ?? 1, spec: job.spec, at: job.createdAt, cause: 'create' }]);
  if (start.spec !== undefined && !versions.some((v) => v.version === start.to)) {
    versions.push({
      version: start.to,
      spec: start.spec,
      at,
      cause: start.kind,
      updateId: start.id,
      ...(by === undefined ? {} : { by }),
      ...(start.message === undefined ? {} : { message: start.message }),
    });
  }
  const update: UpdateRecord = {
    id: start.id,
    job: start.job,
    kind: start.kind,
    status: 'ROLLING_FORWARD',
    from: start.from,
    to: start.to,
    instanceCount: start.instanceCount,
    settings: start.settings,
    createdAt: at,
    lastModifiedAt: at,
    instances: {},
    order: start.instances.map((i) => i.instance),
    direction: 'forward',
    batches: [],
    started: 0,
    working: [],
    failed: 0,
    promoted: start.settings.canary === 0,
    events: [{ status: 'ROLLING_FORWARD', at, ...(by === undefined ? {} : { by }), ...(start.message === undefined ? {} : { message: start.message }) }],
    instanceEvents: [],
    ...(by === undefined ? {} : { by }),
    ...(start.message === undefined ? {} : { message: start.message }),
  };
  for (const i of start.instances) {
    update.instances[i.instance] = { instance: i.instance, change: i.change, status: 'IDLE', failures: 0, ...(i.initial === undefined ? {} : { initial: i.initial }) };
  }
  for (const n of start.relabel) {
    const inst = job.instances[n];
    if (inst !== undefined) inst.version = start.to;
  }
  state.updates.set(update.id, update);
  state.activeUpdates.add(update.id);
  job.activeUpdate = update.id;
  (job.updateIds ??= []).push(update.id);
  pruneVersions(job, state);
}

/**
 * actOnInstance folds one instance action. Starting to work on an instance replaces its task (a
 * kill with restart: it comes back with the version it is to run), adds it, or removes it (a kill
 * for good); the verdicts only record themselves.
 */
function actOnInstance(state: CellState, u: UpdateRecord, a: UpdateAction, at: number): void {
  const ui = u.instances[a.instance];
  if (ui === undefined) return;
  u.instanceEvents.push({ instance: a.instance, action: a.action, at, ...(a.message === undefined ? {} : { message: a.message }) });
  if (u.instanceEvents.length > INSTANCE_EVENTS_KEPT + INSTANCE_EVENTS_KEPT / 10) u.instanceEvents.splice(0, u.instanceEvents.length - INSTANCE_EVENTS_KEPT);
  if (a.action === 'UPDATED' || a.action === 'ROLLED_BACK') {
    ui.status = 'SUCCEEDED';
    stopWorking(u, a.instance);
    return;
  }
  if (a.action === 'UPDATE_FAILED' || a.action === 'ROLLBACK_FAILED') {
    if (ui.status !== 'FAILED') u.failed++;
    ui.status = 'FAILED';
    stopWorking(u, a.instance);
    if (a.message !== undefined) ui.message = a.message;
    return;
  }
  // UPDATING / ROLLING_BACK: this instance starts working.
  if (ui.status === 'IDLE') u.started++;
  if (ui.status !== 'WORKING') u.working.push(a.instance);
  ui.status = 'WORKING';
  ui.failures = 0;
  ui.workingAt = at;
  delete ui.message;
  if (u.direction === 'forward') ui.touched = true;
  const job = state.jobs.get(u.job);
  if (job === undefined) return;
  const target = targetVersion(u, ui);
  let inst = job.instances[a.instance];
  delete ui.fromTask;
  if (inst?.taskId !== undefined) ui.fromTask = inst.taskId;
  if (target === undefined) {
    if (inst !== undefined) killInstance(state, job, inst, at, false, 'REASON_INSTANCE_REMOVED');
    return;
  }
  if (inst === undefined) {
    while (job.instances.length < a.instance) {
      job.instances.push({ instance: job.instances.length, state: 'KILLED', previousTaskIds: [], runs: 0, failures: 0, notBefore: at });
    }
    inst = { instance: a.instance, state: 'PENDING', previousTaskIds: [], runs: 0, failures: 0, notBefore: at, version: target };
    job.instances.push(inst);
    state.pendingJobs.add(job.key);
    return;
  }
  inst.version = target;
  if (inst.state === 'KILLED' || inst.state === 'FINISHED' || inst.state === 'FAILED') {
    inst.state = 'PENDING';
    inst.notBefore = at;
    inst.failures = 0;
    state.pendingJobs.add(job.key);
    return;
  }
  killInstance(state, job, inst, at, true, 'REASON_INSTANCE_UPDATED');
}

/** killInstance: an update's kill of one instance's task, to run again (restart) or not; a pending instance is simply moved. */
function killInstance(state: CellState, job: JobRecord, inst: InstanceRecord, at: number, restart: boolean, reason: 'REASON_INSTANCE_UPDATED' | 'REASON_INSTANCE_REMOVED'): void {
  if (inst.state === 'PENDING') {
    if (restart) {
      inst.notBefore = at;
      inst.failures = 0;
      state.pendingJobs.add(job.key);
    } else {
      inst.state = 'KILLED';
    }
    return;
  }
  if (inst.state !== 'ACTIVE' || inst.taskId === undefined) return;
  const task = state.tasks.get(inst.taskId);
  if (task === undefined) return;
  if (task.kill === undefined || (task.kill.restart && !restart)) {
    const preemptedFor = task.kill?.preemptedFor;
    task.kill = { at, reason, restart, ...(preemptedFor === undefined ? {} : { preemptedFor }) };
    state.killing.add(task.taskId);
  }
  if (task.state === 'TASK_UNREACHABLE') {
    victimGone(state, task);
    instanceLostTask(state, task, at, true);
  }
}

/**
 * setUpdateStatus moves an update. Rolling back turns it round: the instances it acted on are
 * taken again, in the reverse order of its batches, back to the versions they ran (counts start
 * afresh). Ending it frees the job for another; rolling forward makes its config the job's.
 */
function setUpdateStatus(state: CellState, u: UpdateRecord, status: UpdateStatus, at: number, message: string | undefined, by: string | undefined): void {
  const job = state.jobs.get(u.job);
  const wasActive = isActiveUpdate(u.status);
  u.events.push({ status, at, ...(by === undefined ? {} : { by }), ...(message === undefined ? {} : { message }) });
  u.lastModifiedAt = at;
  if (status === 'ROLLING_BACK' && u.direction === 'forward') {
    u.direction = 'back';
    u.failed = 0;
    const touched = new Set<number>();
    for (const ui of Object.values(u.instances)) {
      if (ui.touched === true) {
        touched.add(ui.instance);
        ui.status = 'IDLE';
        ui.failures = 0;
        delete ui.message;
      }
    }
    u.backPlan = u.batches
      .map((b) => b.filter((i) => touched.has(i)).reverse())
      .filter((b) => b.length > 0)
      .reverse();
    u.backOrder = u.backPlan.flat();
    u.batches = [];
    u.started = 0;
    u.working = [];
  }
  if (status === 'ROLLING_FORWARD' && u.status === 'AWAITING_PROMOTION') u.promoted = true;
  if (status === 'AWAITING_PROMOTION') u.canariesDoneAt = at;
  u.status = status;
  const active = isActiveUpdate(status);
  if (active) {
    state.activeUpdates.add(u.id);
    if (job !== undefined) job.activeUpdate = u.id;
    return;
  }
  state.activeUpdates.delete(u.id);
  if (job === undefined) return;
  if (job.activeUpdate === u.id) delete job.activeUpdate;
  if (!wasActive) return;
  if (status === 'ROLLED_FORWARD' && job.state === 'ACTIVE') {
    const v = job.versions?.find((x) => x.version === u.to);
    if (v !== undefined) {
      if (job.runs !== undefined) newTemplateConfig(job.runs, job.spec, v.spec, at);
      job.version = v.version;
      job.spec = v.spec;
    }
  }
  if (status === 'ROLLED_FORWARD' || status === 'ROLLED_BACK') {
    // Instances removed for good go from the end of the job (a scale down, or a scale up rolled back).
    const count = status === 'ROLLED_FORWARD' ? u.instanceCount : job.spec.instances;
    while (job.instances.length > count && job.instances[job.instances.length - 1]?.state === 'KILLED') job.instances.pop();
  }
  pruneVersions(job, state);
}

function stopWorking(u: UpdateRecord, instance: number): void {
  const i = u.working.indexOf(instance);
  if (i >= 0) u.working.splice(i, 1);
}

/** endActiveUpdate: the job ended (killed, finished, failed), so its update stops where it is. */
function endActiveUpdate(state: CellState, job: JobRecord, at: number): void {
  const u = job.activeUpdate === undefined ? undefined : state.updates.get(job.activeUpdate);
  if (u !== undefined) setUpdateStatus(state, u, 'ABORTED', at, `the job ended: ${job.endReason ?? job.state}`, undefined);
}

/**
 * countUpdateFailure: a task of an instance an update works on ended through its own fault (not
 * killed, not lost with its agent) after the update replaced it: one more failure of its new
 * config. Counted here, as the end is recorded, so a count survives any restart of the master.
 */
function countUpdateFailure(state: CellState, task: TaskRecord, end: TaskState): void {
  if (task.kill !== undefined || LOST.has(end) || task.frameworkId !== undefined) return;
  const job = state.jobs.get(task.job);
  const u = job?.activeUpdate === undefined ? undefined : state.updates.get(job.activeUpdate);
  const ui = u?.instances[task.instance];
  if (u === undefined || ui?.status !== 'WORKING' || ui.workingAt === undefined) return;
  if (task.taskId === ui.fromTask || task.launchedAt < ui.workingAt) return;
  ui.failures++;
}

/** pruneVersions keeps a job's last VERSIONS_KEPT versions and ended updates, and every version an instance or its active update needs. */
function pruneVersions(job: JobRecord, state: CellState): void {
  const versions = job.versions;
  if (versions !== undefined && versions.length > VERSIONS_KEPT) {
    const needed = new Set<number>([job.version ?? 1]);
    for (const inst of job.instances) if (inst.version !== undefined) needed.add(inst.version);
    const active = job.activeUpdate === undefined ? undefined : state.updates.get(job.activeUpdate);
    if (active !== undefined) {
      needed.add(active.from).add(active.to);
      for (const ui of Object.values(active.instances)) if (ui.initial !== undefined) needed.add(ui.initial);
    }
    const newest = new Set(versions.slice(-VERSIONS_KEPT).map((v) => v.version));
    job.versions = versions.filter((v) => newest.has(v.version) || needed.has(v.version));
  }
  const ids = job.updateIds;
  if (ids !== undefined && ids.length > VERSIONS_KEPT) {
    const drop = ids.slice(0, ids.length - VERSIONS_KEPT).filter((id) => id !== job.activeUpdate);
    for (const id of drop) forgetUpdate(state, id);
    job.updateIds = ids.filter((id) => !drop.includes(id));
  }
}

function forgetUpdate(state: CellState, id: string): void {
  const u = state.updates.get(id);
  if (u === undefined) return;
  state.updates.delete(id);
  state.activeUpdates.delete(id);
  const job = state.jobs.get(u.job);
  if (job?.updateIds !== undefined) job.updateIds = job.updateIds.filter((x) => x !== id);
  if (job?.activeUpdate === id) delete job.activeUpdate;
}
