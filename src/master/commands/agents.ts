// Agent commands: what an agent's SUBSCRIBE and UPDATE calls, and its silence, become as events,
// checked against the state they are appended to. The agent link (agents/link.ts) holds the
// streams, acknowledges once the events are durable and sends the KILLs decided here.

import { randomUUID } from 'node:crypto';
import { escapeControls, isTerminal, MusterError, type Resources, type TaskReason } from '../../core/index.js';
import { authorize } from '../auth/index.js';
import type { AgentInfo, ReconcileReport, RunningTask, TaskStatus } from '../../protocol/index.js';
import type { Decision } from '../eventlog.js';
import { isWanted, killGraceSecs, taskMayMove, type CellState, type Event } from '../state/index.js';
import { replaceEvent, statusEvent, unreachableEvent } from './status.js';

/** AgentRegistration is what registerAgent decided: the agent's id and the tasks it runs that must be killed. */
export interface AgentRegistration {
  readonly agentId: string;
  readonly kills: readonly { readonly taskId: string; readonly grace: number }[];
  /** The credential issued to the agent this time (to send it in SUBSCRIBED), if any. */
  readonly credential?: string;
}

/**
 * AgentAccess is what an agent's call carried, on a master with authentication: the hash of its
 * bearer secret (undefined: none), and a fresh credential to issue should it join now. On a master
 * running open it is undefined and every agent is believed, as before.
 */
export interface AgentAccess {
  readonly bearerHash: string | undefined;
  readonly fresh: { readonly secret: string; readonly hash: string };
}

/**
 * admitAgent says whether a SUBSCRIBE may speak for the agent id it names, and what credential
 * hash the agent holds afterwards: a known agent with a credential must bear it (a second
 * connection for its id cannot take over without it); any other must bear a join token (a token
 * with agent:join), and is issued a credential of its own.
 */
function admitAgent(state: CellState, now: number, agentId: string, access: AgentAccess): { hash: string; issued?: string } {
  const known = state.agents.get(agentId)?.credentialHash;
  if (known !== undefined) {
    if (access.bearerHash === known) return { hash: known };
    throw new MusterError('FORBIDDEN', `agent id ${agentId} belongs to another agent: only the credential it was issued may subscribe with it`);
  }
  const tokenId = access.bearerHash === undefined ? undefined : state.tokenByHash.get(access.bearerHash);
  const token = tokenId === undefined ? undefined : state.tokens.get(tokenId);
  if (token === undefined || (token.expiresAt !== undefined && token.expiresAt <= now)) {
    throw new MusterError('UNAUTHENTICATED', 'an agent joins with a join token (a token with agent:join: muster agent --join-token-file), then uses the credential it is issued');
  }
  authorize(state, { principal: token.name, tokenId: token.accessorId, all: token.management }, 'agent:join', '*');
  return { hash: access.fresh.hash, issued: access.fresh.secret };
}

/** checkAgentCredential refuses an agent call (UPDATE, USAGE, …) that does not bear that agent's credential. */
export function checkAgentCredential(state: CellState, agentId: string, bearerHash: string | undefined): void {
  const agent = state.agents.get(agentId);
  if (agent?.credentialHash !== undefined && bearerHash === agent.credentialHash) return;
  // A token of the cell is someone known, not permitted (403); anything else proves nothing (401).
  const known = bearerHash !== undefined && state.tokenByHash.has(bearerHash);
  throw new MusterError(known ? 'FORBIDDEN' : 'UNAUTHENTICATED', `a call for agent ${agentId.slice(0, 80)} must bear that agent's credential (an agent subscribes again to get one)`);
}

/**
 * registerAgent registers an agent (again) and reconciles what it runs with what the master
 * believes: tasks it no longer has are lost (unless their LAUNCH has not gone out yet: unsent),
 * tasks of an unreachable spell it still runs are taken back, or one of two copies killed, as
 * their jobs' unreachable policies say, and tasks nobody wants are to be killed.
 */
export function registerAgent(
  state: CellState,
  now: number,
  info: AgentInfo,
  resources: Resources,
  reported: readonly RunningTask[],
  access?: AgentAccess,
  unsent: ReadonlySet<string> = NONE,
): Decision<AgentRegistration> {
  const agentId = info.agentId ?? randomUUID();
  const admitted = access === undefined ? undefined : admitAgent(state, now, agentId, access);
  const events: Event[] = [
    {
      type: 'AgentRegistered',
      at: now,
      agent: {
        agentId,
        hostname: info.hostname,
        address: info.address,
        port: info.port,
        resources,
        attributes: info.attributes,
        version: info.version,
        ...(info.isolation === undefined ? {} : { isolation: info.isolation }),
        ...(admitted === undefined ? {} : { credentialHash: admitted.hash }),
      },
    },
  ];
  const reportedIds = new Map(reported.map((t) => [t.taskId, t.state]));
  /** Tasks heard of again whose fate an event here decides (taken back, or the surplus copy, owed a KILL). */
  const decided = new Set<string>();
  for (const taskId of state.agents.get(agentId)?.taskIds ?? []) {
    const task = state.tasks.get(taskId);
    if (task === undefined || isTerminal(task.state)) continue;
    // A task whose LAUNCH has not gone out yet is as good as staging there: it goes out next.
    const neverSent = !reportedIds.has(taskId) && unsent.has(taskId);
    const there = reportedIds.get(taskId) ?? (neverSent ? 'TASK_STAGING' : undefined);
    if (there === undefined) {
      events.push(masterStatus(state, now, taskId, 'TASK_LOST', 'REASON_AGENT_RESTARTED', `agent ${info.hostname} came back without this task`, true));
    } else if (task.state === 'TASK_UNREACHABLE' && !isTerminal(there)) {
      // Back to what the master last knew from the agent: updates it has not acknowledged follow.
      // (A terminal one is on its way as an update; it decides then.)
      const back = task.reachableState === undefined || task.reachableState === 'TASK_UNREACHABLE' ? there : task.reachableState;
      const event = masterStatus(state, now, taskId, back, 'REASON_RECONCILIATION', `agent ${info.hostname} is reachable again`, false, neverSent);
      events.push(event);
      // Taken back, or the surplus copy (owed its KILL): decided here. Any other is killed below if unwanted.
      if (event.type === 'TaskStatusUpdated' && event.returned !== undefined) decided.add(taskId);
    }
  }
  const kills: { taskId: string; grace: number }[] = [];
  for (const t of reported) {
    const task = state.tasks.get(t.taskId);
    if (isTerminal(t.state) || decided.has(t.taskId)) continue;
    if (!isWanted(state, task) || (task !== undefined && task.agentId !== agentId)) {
      kills.push({ taskId: t.taskId, grace: task === undefined ? 5 : killGraceSecs(state, task.job, task) });
    }
  }
  return { events, result: { agentId, kills, ...(admitted?.issued === undefined ? {} : { credential: admitted.issued }) } };
}

const NONE: ReadonlySet<string> = new Set();

/**
 * StatusAnswer: what became of an agent's status update. 'recorded'; 'duplicate' (a retry of one
 * recorded, or of a task already ended); 'backwards' (a move the task state machine does not allow,
 * a late retry of an older state); 'unknown' (no such task on this agent). Every one is
 * acknowledged; `kill`: the task is not the master's and still runs there, so it is to be killed.
 */
export interface StatusAnswer {
  readonly outcome: 'recorded' | 'duplicate' | 'backwards' | 'unknown';
  readonly kill: boolean;
}

/** recordStatus records an agent's status update of one of its tasks once. */
export function recordStatus(state: CellState, now: number, agentId: string, status: TaskStatus): Decision<StatusAnswer> {
  const task = state.tasks.get(status.taskId);
  if (task === undefined || task.agentId !== agentId) return { events: [], result: { outcome: 'unknown', kill: !isTerminal(status.state) } };
  if (task.lastUuid === status.uuid) return { events: [], result: { outcome: 'duplicate', kill: false } };
  if (isTerminal(task.state)) {
    // The master's guess (TASK_LOST) gives way to the agent's word of how the task really ended;
    // an agent still running a task the master guessed lost is told to kill it.
    if (task.guessed !== true) return { events: [], result: { outcome: 'duplicate', kill: false } };
    if (!isTerminal(status.state)) return { events: [], result: { outcome: 'duplicate', kill: true } };
  } else if (!taskMayMove(task.state, status.state)) {
    return { events: [], result: { outcome: 'backwards', kill: false } };
  }
  // The message is the task's words (its output, a health check's): kept, with any control
  // character escaped, so that no listing or terminal shows an ESC it carries.
  const message = status.message === undefined ? undefined : escapeControls(status.message);
  const recorded = message === undefined || message === status.message ? status : { ...status, message };
  return { events: [statusEvent(state, now, recorded)], result: { outcome: 'recorded', kill: false } };
}

/**
 * markUnreachable records that an agent has been silent past the agent timeout (once: not again
 * while it is unreachable). The agent link does not ask for an agent whose SUBSCRIBE it is
 * registering: its silence is over.
 */
export function markUnreachable(state: CellState, now: number, agentId: string, message: string): Decision<boolean> {
  if (state.agents.get(agentId)?.reachable !== true) return { events: [], result: false };
  return { events: [unreachableEvent(state, now, agentId, message)], result: true };
}

/** replaceUnreachable moves on the instances whose tasks have waited out their jobs' replaceAfterSecs; the answer counts them. */
export function replaceUnreachable(state: CellState, now: number): Decision<number> {
  const event = replaceEvent(state, now);
  if (event?.type !== 'UnreachableReplaced') return { events: [], result: 0 };
  return { events: [event], result: Object.keys(event.outcomes).length };
}

/** masterStatus is a status the master makes for a task of an agent (guess: TASK_LOST for a task the agent does not report). */
export function masterStatus(state: CellState, now: number, taskId: string, to: TaskStatus['state'], reason: TaskReason, message: string, guess = false, neverSent = false): Event {
  return statusEvent(state, now, { taskId, state: to, reason, message, uuid: randomUUID(), timestamp: now }, { guess, neverSent });
}

/** Divergences counts what a reconciliation found the master and an agent disagreeing on. */
export interface Divergences {
  /** Tasks the master believed on the agent that the agent does not hold: recorded lost. */
  missing: number;
  /** Tasks whose state the agent has settled (every update acknowledged) and the master lacks: recorded. */
  state: number;
  /** Tasks the agent runs that the master does not want there: killed. */
  unwanted: number;
}

/** ReconcileAnswer: what a reconciliation found, and the tasks to kill on the agent. */
export interface ReconcileAnswer {
  readonly divergences: Divergences;
  readonly kills: readonly { readonly taskId: string; readonly grace: number }[];
}

/**
 * reconcileAgent compares an agent's report of what it holds with what the master believes and
 * heals the difference, as the agent's own word decides: a task the master believes there and the
 * agent does not hold is lost (unless its LAUNCH is still in flight: inFlight), a state the agent
 * has settled and the master lacks is recorded, and a task the agent runs that the master does not
 * want is to be killed. An unreachable agent's report is not believed: it registers again first.
 */
export function reconcileAgent(
  state: CellState,
  now: number,
  agentId: string,
  report: ReconcileReport,
  inFlight: (taskId: string) => boolean,
): Decision<ReconcileAnswer> {
  const divergences: Divergences = { missing: 0, state: 0, unwanted: 0 };
  const agent = state.agents.get(agentId);
  if (agent?.reachable !== true) return { events: [], result: { divergences, kills: [] } };
  const reported = new Map(report.tasks.map((t) => [t.taskId, t]));
  const events: Event[] = [];
  for (const taskId of agent.taskIds) {
    const task = state.tasks.get(taskId);
    if (task === undefined || isTerminal(task.state) || task.state === 'TASK_UNREACHABLE') continue;
    const there = reported.get(taskId);
    if (there === undefined) {
      if (inFlight(taskId)) continue;
      events.push(masterStatus(state, now, taskId, 'TASK_LOST', 'REASON_RECONCILIATION', `agent ${agent.hostname} does not hold this task`, true));
      divergences.missing++;
    } else if (there.settled && there.state !== task.state && taskMayMove(task.state, there.state)) {
      events.push(masterStatus(state, now, taskId, there.state, 'REASON_RECONCILIATION', `reconciled with agent ${agent.hostname}`));
      divergences.state++;
    }
  }
  const kills: { taskId: string; grace: number }[] = [];
  for (const t of report.tasks) {
    if (isTerminal(t.state)) continue;
    const task = state.tasks.get(t.taskId);
    // A task being killed already is owed its KILL by the link: not a divergence.
    if (task?.kill !== undefined && task.agentId === agentId) continue;
    if (!isWanted(state, task) || (task !== undefined && task.agentId !== agentId)) {
      kills.push({ taskId: t.taskId, grace: task === undefined ? 5 : killGraceSecs(state, task.job, task) });
      divergences.unwanted++;
    }
  }
  return { events, result: { divergences, kills } };
}
