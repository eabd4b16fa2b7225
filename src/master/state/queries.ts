// Questions about the cell state that more than one part of the master asks.

import { isTerminal } from '../../core/index.js';
import type { CellState, TaskRecord } from './state.js';

/**
 * isWanted: the master still wants this task to run. An agent that reports a task the master does
 * not want (unknown, ended, asked to die, or replaced while its agent was away) is told to kill it.
 */
export function isWanted(state: CellState, task: TaskRecord | undefined): boolean {
  if (task === undefined || isTerminal(task.state) || task.kill !== undefined) return false;
  // An external framework's task belongs to no job: it is wanted while its framework is there.
  if (task.frameworkId !== undefined) return state.frameworks.has(task.frameworkId);
  const job = state.jobs.get(task.job);
  const inst = job?.instances[task.instance];
  if (job?.state !== 'ACTIVE' || inst?.taskId !== task.taskId) return false;
  return inst.state === 'ACTIVE' || (inst.state === 'PENDING' && task.state === 'TASK_UNREACHABLE');
}

/** killGraceSecs: how long a task of this job (or an external framework's task) gets between SIGTERM and SIGKILL. */
export function killGraceSecs(state: CellState, jobKey: string, task?: TaskRecord): number {
  return task?.launch?.killGraceSecs ?? state.jobs.get(jobKey)?.spec.killGraceSecs ?? 5;
}
