// Status commands: a task's status update (from its agent, or made by the master) and an agent lost
// to silence become events here, each carrying what the job's controller decided for the instances
// whose tasks stopped running (jobs/lifecycle.ts), so that apply() only folds the decision.

import type { CellState, Event, InstanceOutcome, StatusRecord } from '../state/index.js';
import { instanceOutcome, statusOutcome } from '../jobs/lifecycle.js';

/** statusEvent is a TaskStatusUpdated, with its instance's outcome when it ends the task. */
export function statusEvent(state: CellState, at: number, status: StatusRecord): Event {
  const outcome = statusOutcome(state, status, at);
  return outcome === undefined ? { type: 'TaskStatusUpdated', at, status } : { type: 'TaskStatusUpdated', at, status, outcome };
}

/** unreachableEvent is an AgentUnreachable, with the outcome of each instance whose task is lost with the agent. */
export function unreachableEvent(state: CellState, at: number, agentId: string, message: string): Event {
  const outcomes: Record<string, InstanceOutcome> = {};
  let any = false;
  for (const taskId of state.agents.get(agentId)?.taskIds ?? []) {
    const task = state.tasks.get(taskId);
    if (task === undefined || task.state === 'TASK_UNREACHABLE') continue;
    const outcome = instanceOutcome(state, task, at, true, false);
    if (outcome === undefined) continue;
    outcomes[taskId] = outcome;
    any = true;
  }
  return any ? { type: 'AgentUnreachable', at, agentId, message, outcomes } : { type: 'AgentUnreachable', at, agentId, message };
}
