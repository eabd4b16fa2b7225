// The task, instance and job state machines, as tables of the moves that are legal. Commands check
// a move here before they write it (a status update that would move a task backwards, say, from a
// late retry, is acknowledged and not recorded); apply() folds what was written. Tools that read
// the log (the simulator, a postmortem) can check a whole log against the same tables.

import { isTerminal, TASK_STATES, type TaskState } from '../../core/index.js';
import type { InstanceState, JobState } from '../../protocol/index.js';

const ENDS: readonly TaskState[] = TASK_STATES.filter((s) => isTerminal(s));

/**
 * TASK_MOVES: from each state, the states a status may move a task to. A task ends from any live
 * state; TASK_UNREACHABLE (its agent silent) may come back to any live state once the agent
 * returns; a state may repeat (a health change arrives as TASK_RUNNING again). An ended task moves
 * no more.
 */
export const TASK_MOVES: Readonly<Record<TaskState, readonly TaskState[]>> = {
  TASK_STAGING: ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE', 'TASK_UNKNOWN', ...ENDS],
  TASK_STARTING: ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE', 'TASK_UNKNOWN', ...ENDS],
  TASK_RUNNING: ['TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE', 'TASK_UNKNOWN', ...ENDS],
  TASK_KILLING: ['TASK_KILLING', 'TASK_UNREACHABLE', 'TASK_UNKNOWN', ...ENDS],
  TASK_UNREACHABLE: ['TASK_UNREACHABLE', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNKNOWN', ...ENDS],
  TASK_UNKNOWN: ['TASK_UNKNOWN', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE', ...ENDS],
  TASK_FINISHED: [],
  TASK_FAILED: [],
  TASK_KILLED: [],
  TASK_ERROR: [],
  TASK_LOST: [],
  TASK_DROPPED: [],
  TASK_GONE: [],
};

/**
 * INSTANCE_MOVES: a pending instance is launched or killed; an active one runs again (pending),
 * finishes, fails or is killed. A killed instance comes back (pending) only when an update's
 * rollback restores an instance the update had removed.
 */
export const INSTANCE_MOVES: Readonly<Record<InstanceState, readonly InstanceState[]>> = {
  PENDING: ['ACTIVE', 'KILLED'],
  ACTIVE: ['PENDING', 'FINISHED', 'FAILED', 'KILLED'],
  FINISHED: [],
  FAILED: [],
  KILLED: ['PENDING'],
};

/**
 * JOB_MOVES: an active job is killed (KILLED once its tasks have ended), or a batch job finishes or
 * fails. An ended job is kept for the master's --job-retention, then pruned (JobsPruned).
 */
export const JOB_MOVES: Readonly<Record<JobState, readonly JobState[]>> = {
  ACTIVE: ['KILLING', 'FINISHED', 'FAILED'],
  KILLING: ['KILLED'],
  KILLED: [],
  FINISHED: [],
  FAILED: [],
};

export function taskMayMove(from: TaskState, to: TaskState): boolean {
  return TASK_MOVES[from].includes(to);
}

export function instanceMayMove(from: InstanceState, to: InstanceState): boolean {
  return INSTANCE_MOVES[from].includes(to);
}

export function jobMayMove(from: JobState, to: JobState): boolean {
  return JOB_MOVES[from].includes(to);
}
