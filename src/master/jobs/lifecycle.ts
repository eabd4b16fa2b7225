// lifecycle: the job controllers' decision for an instance whose task stopped running, made once,
// by the command that records the end (commands/status.ts), and written into its event. apply()
// folds the outcome it is given; it decides only for events written before outcomes were.

import { isTerminal } from '../../core/index.js';
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

/** statusOutcome is the outcome a status update decides, if it ends the task; see instanceOutcome. */
export function statusOutcome(state: CellState, status: StatusRecord, at: number): InstanceOutcome | undefined {
  const task = state.tasks.get(status.taskId);
  if (task === undefined || task.frameworkId !== undefined || isTerminal(task.state) || !isTerminal(status.state)) return undefined;
  // A task that was unreachable had its instance moved on when it was lost: its end decides nothing.
  if (task.state === 'TASK_UNREACHABLE') return undefined;
  return instanceOutcome(state, task, at, LOST.has(status.state), status.state === 'TASK_FINISHED');
}
