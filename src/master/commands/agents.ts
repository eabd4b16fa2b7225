// Agent commands: what an agent's SUBSCRIBE and UPDATE calls, and its silence, become as events,
// checked against the state they are appended to. The agent link (agents/link.ts) holds the
// streams, acknowledges once the events are durable and sends the KILLs decided here.

import { randomUUID } from 'node:crypto';
import { isTerminal, type Resources, type TaskReason } from '../../core/index.js';
import type { AgentInfo, RunningTask, TaskStatus } from '../../protocol/index.js';
import type { Decision } from '../eventlog.js';
import { isWanted, killGraceSecs, taskMayMove, type CellState, type Event } from '../state/index.js';
import { statusEvent, unreachableEvent } from './status.js';

/** AgentRegistration is what registerAgent decided: the agent's id and the tasks it runs that must be killed. */
export interface AgentRegistration {
  readonly agentId: string;
  readonly kills: readonly { readonly taskId: string; readonly grace: number }[];
}

/**
 * registerAgent registers an agent (again) and reconciles what it runs with what the master
 * believes: tasks it no longer has are lost, tasks of an unreachable spell it still runs are taken
 * back if their instance was not replaced meanwhile, and tasks nobody wants are to be killed.
 */
export function registerAgent(state: CellState, now: number, info: AgentInfo, resources: Resources, reported: readonly RunningTask[]): Decision<AgentRegistration> {
  const agentId = info.agentId ?? randomUUID();
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
      },
    },
  ];
  const reportedIds = new Map(reported.map((t) => [t.taskId, t.state]));
  for (const taskId of state.agents.get(agentId)?.taskIds ?? []) {
    const task = state.tasks.get(taskId);
    if (task === undefined || isTerminal(task.state)) continue;
    const there = reportedIds.get(taskId);
    if (there === undefined) {
      events.push(masterStatus(state, now, taskId, 'TASK_LOST', 'REASON_AGENT_RESTARTED', `agent ${info.hostname} came back without this task`));
    } else if (task.state === 'TASK_UNREACHABLE' && isWanted(state, task) && !isTerminal(there)) {
      events.push(masterStatus(state, now, taskId, there, 'REASON_RECONCILIATION', `agent ${info.hostname} is reachable again`));
    }
  }
  const kills: { taskId: string; grace: number }[] = [];
  for (const t of reported) {
    const task = state.tasks.get(t.taskId);
    if (isTerminal(t.state)) continue;
    if (!isWanted(state, task) || (task !== undefined && task.agentId !== agentId)) {
      kills.push({ taskId: t.taskId, grace: task === undefined ? 5 : killGraceSecs(state, task.job, task) });
    }
  }
  return { events, result: { agentId, kills } };
}

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
  if (isTerminal(task.state) || task.lastUuid === status.uuid) return { events: [], result: { outcome: 'duplicate', kill: false } };
  if (!taskMayMove(task.state, status.state)) return { events: [], result: { outcome: 'backwards', kill: false } };
  return { events: [statusEvent(state, now, status)], result: { outcome: 'recorded', kill: false } };
}

/** markUnreachable records that an agent has been silent past the agent timeout (once: not again while it is unreachable). */
export function markUnreachable(state: CellState, now: number, agentId: string, message: string): Decision<boolean> {
  if (state.agents.get(agentId)?.reachable !== true) return { events: [], result: false };
  return { events: [unreachableEvent(state, now, agentId, message)], result: true };
}

function masterStatus(state: CellState, now: number, taskId: string, to: TaskStatus['state'], reason: TaskReason, message: string): Event {
  return statusEvent(state, now, { taskId, state: to, reason, message, uuid: randomUUID(), timestamp: now });
}
