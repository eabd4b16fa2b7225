// Status commands: a task's status update (from its agent, or made by the master) and an agent lost
// to silence become events here, each carrying what the job's controller decided for the instances
// whose tasks stopped running (jobs/lifecycle.ts), so that apply() only folds the decision.

import { isTerminal } from '../../core/index.js';
import type { CellState, Event, InstanceOutcome, StatusRecord } from '../state/index.js';
import { instanceOutcome, replaceDueAt, returnedCopy, statusOutcome, waitsForAgent } from '../jobs/lifecycle.js';

/**
 * statusEvent is a TaskStatusUpdated, with its instance's outcome when it ends the task, and, for a
 * task replaced while its agent was away, which copy survives. guess: the master made the status
 * up (TASK_LOST for a task its agent did not report); its agent's real end replaces it later.
 */
export function statusEvent(state: CellState, at: number, status: StatusRecord, options: { guess?: boolean; neverSent?: boolean } = {}): Event {
  const task = state.tasks.get(status.taskId);
  let returned = task === undefined || options.guess === true ? undefined : returnedCopy(state, task, status.state);
  // A copy whose LAUNCH never went out has done nothing: it never wins over a launched replacement.
  if (returned === 'reclaim' && options.neverSent === true && task !== undefined) {
    const inst = state.jobs.get(task.job)?.instances[task.instance];
    if (inst?.taskId !== task.taskId) returned = 'surplus';
  }
  let outcome = statusOutcome(state, status, at);
  // A batch copy that succeeded while replaced is taken back and counted: its instance is done.
  if (returned === 'reclaim' && isTerminal(status.state)) outcome = { state: 'FINISHED' };
  const corrects = task !== undefined && task.guessed === true && isTerminal(task.state) && options.guess !== true;
  return {
    type: 'TaskStatusUpdated',
    at,
    status,
    ...(outcome === undefined ? {} : { outcome }),
    ...(options.guess === true ? { guess: true as const } : {}),
    ...(corrects ? { corrects: true as const } : {}),
    ...(returned === undefined ? {} : { returned }),
  };
}

/**
 * unreachableEvent is an AgentUnreachable: the tasks whose instances wait for the agent (their
 * job's unreachable.replaceAfterSecs), and the outcome of each other instance whose task is lost
 * with the agent.
 */
export function unreachableEvent(state: CellState, at: number, agentId: string, message: string): Event {
  const outcomes: Record<string, InstanceOutcome> = {};
  const waiting: string[] = [];
  for (const taskId of state.agents.get(agentId)?.taskIds ?? []) {
    const task = state.tasks.get(taskId);
    if (task === undefined || task.state === 'TASK_UNREACHABLE') continue;
    if (waitsForAgent(state, task)) {
      waiting.push(taskId);
      continue;
    }
    const outcome = instanceOutcome(state, task, at, true, false);
    if (outcome !== undefined) outcomes[taskId] = outcome;
  }
  return { type: 'AgentUnreachable', at, agentId, message, outcomes, ...(waiting.length === 0 ? {} : { waiting }) };
}

/**
 * replaceEvent is an UnreachableReplaced for every unreachable task whose instance has waited out
 * its job's replaceAfterSecs by `at`, or undefined when none has. Only agents still unreachable are
 * looked at: a returned agent's tasks are heard of, not replaced.
 */
export function replaceEvent(state: CellState, at: number): Event | undefined {
  let outcomes: Record<string, InstanceOutcome> | undefined;
  for (const agent of state.agents.values()) {
    if (agent.reachable) continue;
    for (const taskId of agent.taskIds) {
      const task = state.tasks.get(taskId);
      if (task === undefined) continue;
      const due = replaceDueAt(state, task);
      if (due === undefined || due > at) continue;
      const outcome = instanceOutcome(state, task, at, true, false);
      if (outcome === undefined) continue;
      (outcomes ??= {})[taskId] = outcome;
    }
  }
  return outcomes === undefined ? undefined : { type: 'UnreachableReplaced', at, outcomes };
}

/** nextReplaceAt: when the next unreachable task is due to be replaced (ms), or undefined if none waits. */
export function nextReplaceAt(state: CellState): number | undefined {
  let next: number | undefined;
  for (const agent of state.agents.values()) {
    if (agent.reachable) continue;
    for (const taskId of agent.taskIds) {
      const task = state.tasks.get(taskId);
      const due = task === undefined ? undefined : replaceDueAt(state, task);
      if (due !== undefined && (next === undefined || due < next)) next = due;
    }
  }
  return next;
}
