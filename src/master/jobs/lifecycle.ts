// lifecycle: the job controllers' decision for an instance whose task stopped running, made once,
// by the command that records the end (commands/status.ts), and written into its event. apply()
// folds the outcome it is given; it decides only for events written before outcomes were.
//
// It also decides for tasks of an agent that went silent (the job's unreachable policy): whether
// an instance waits for its agent or is replaced at once, and, when a replaced task is heard of
// again, which of the two copies survives.

import { isTerminal, unreachablePolicy, type TaskState } from '../../core/index.js';
import type { CellState, InstanceOutcome, StatusRecord, TaskRecord } from '../state/index.js';
import { batchTaskEnded, serviceTaskEnded } from '../policy/index.js';

/** States in which a task ended through no fault of its own: its run is not counted as a failure. */
const LOST: ReadonlySet<string> = new Set(['TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_UNREACHABLE']);

/**
 * instanceOutcome is what the job's controller does with the instance of a task that stopped
 * running at `at` (lost: through no fault of its own; succeeded: it finished), or undefined where
 * no controller decides: the task is not its instance's current one, a kill was asked for (the
 * kill says what follows), or the job is not active (its instances are simply killed).
 */
export function instanceOutcome(state: CellState, task: TaskRecord, at: number, lost: boolean, succeeded: boolean): InstanceOutcome | undefined {
  const job = state.jobs.get(task.job);
  const inst = job?.instances[task.instance];
  if (job === undefined || inst === undefined || inst.taskId !== task.taskId || inst.state !== 'ACTIVE') return undefined;
  if (task.kill !== undefined || job.state !== 'ACTIVE') return undefined;
  const end = { at, startedAt: task.startedAt, lost };
  if (job.spec.kind === 'service') return serviceTaskEnded(job.spec, inst.failures, end);
  return batchTaskEnded(job.spec, inst.failures, { ...end, succeeded });
}

/**
 * statusOutcome is the outcome a status update decides, if it ends the task; see instanceOutcome.
 * A task replaced while its agent was away is no longer its instance's task, so its end decides
 * nothing here (see returnedCopy for the one case it does).
 */
export function statusOutcome(state: CellState, status: StatusRecord, at: number): InstanceOutcome | undefined {
  const task = state.tasks.get(status.taskId);
  if (task === undefined || task.frameworkId !== undefined || !isTerminal(status.state)) return undefined;
  if (isTerminal(task.state) && task.guessed !== true) return undefined;
  return instanceOutcome(state, task, at, LOST.has(status.state), status.state === 'TASK_FINISHED');
}

/**
 * waitsForAgent: the task's instance waits for its silent agent rather than being placed again at
 * once: the task is its live instance's, nobody asked for its end, and its job's
 * unreachable.replaceAfterSecs is above 0.
 */
export function waitsForAgent(state: CellState, task: TaskRecord): boolean {
  if (task.frameworkId !== undefined || task.kill !== undefined || isTerminal(task.state)) return false;
  const job = state.jobs.get(task.job);
  const inst = job?.instances[task.instance];
  if (job?.state !== 'ACTIVE' || inst?.taskId !== task.taskId || inst.state !== 'ACTIVE') return false;
  return unreachablePolicy(job.spec).replaceAfterSecs > 0;
}

/** replaceDueAt: when an unreachable task that waits for its agent is to be replaced (ms), or undefined if it does not wait. */
export function replaceDueAt(state: CellState, task: TaskRecord): number | undefined {
  if (task.state !== 'TASK_UNREACHABLE' || task.unreachableAt === undefined || !waitsForAgent(state, task)) return undefined;
  const job = state.jobs.get(task.job);
  if (job === undefined) return undefined;
  return task.unreachableAt + unreachablePolicy(job.spec).replaceAfterSecs * 1000;
}

/**
 * returnedCopy decides for a task heard of again after its instance moved on without it (it was
 * replaced while its agent was away, or the master guessed it lost) which copy survives: 'reclaim',
 * this one is its instance's task again and the replacement, if launched, is killed; 'surplus',
 * this one is killed. Undefined: nothing to decide (it was not replaced, or it ended and its end
 * counts for nothing). A batch copy that succeeded is reclaimed whatever the policy, if its instance
 * has not succeeded yet: a success counts once, and never twice.
 */
export function returnedCopy(state: CellState, task: TaskRecord, to: TaskState): 'reclaim' | 'surplus' | undefined {
  const away = task.state === 'TASK_UNREACHABLE' || (task.guessed === true && isTerminal(task.state));
  if (!away || task.frameworkId !== undefined) return undefined;
  const job = state.jobs.get(task.job);
  const inst = job?.instances[task.instance];
  if (job === undefined || inst === undefined) return isTerminal(to) ? undefined : 'surplus';
  // Still its instance's task: it simply carries on (or ends) as its instance's.
  if (inst.taskId === task.taskId && inst.state === 'ACTIVE' && !isTerminal(task.state)) return undefined;
  const open = inst.state === 'ACTIVE' || inst.state === 'PENDING';
  if (isTerminal(to)) {
    const counts = job.state === 'ACTIVE' && task.kill === undefined && open && job.spec.kind === 'batch' && to === 'TASK_FINISHED';
    return counts ? 'reclaim' : undefined;
  }
  if (job.state !== 'ACTIVE' || task.kill !== undefined || !open) return 'surplus';
  // Not placed again yet: no second copy exists, so the instance simply has its task back.
  if (inst.state === 'PENDING' && inst.taskId === task.taskId) return 'reclaim';
  return unreachablePolicy(job.spec).killOnReturn ? 'surplus' : 'reclaim';
}
