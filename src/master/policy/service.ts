// The service controller keeps every instance of a service running. Its decision for an instance
// whose task ended is pure: the command that records the end (jobs/lifecycle.ts) asks it and writes
// the answer in the event; apply() folds it.

import type { JobSpec } from '../../core/index.js';
import { restartDelayMs } from './backoff.js';

export interface TaskEnd {
  at: number;
  /** When the task first ran; undefined if it never reached TASK_RUNNING. */
  startedAt: number | undefined;
  /** The task was lost with its agent (or never started there): not the task's fault. */
  lost: boolean;
}

export interface PendingAgain {
  state: 'PENDING';
  notBefore: number;
  failures: number;
}

/**
 * serviceTaskEnded: a service instance always runs again. A task that ran at least stableSecs
 * resets the failure count and restarts at once; one that ended sooner counts as a failure in a
 * row and waits out the backoff. A task lost with its agent is rescheduled at once, uncounted.
 * (A service task that exits 0 is restarted too: a service is meant to run until killed.)
 */
export function serviceTaskEnded(spec: JobSpec, failuresInARow: number, end: TaskEnd): PendingAgain {
  if (end.lost) return { state: 'PENDING', notBefore: end.at, failures: failuresInARow };
  const ranMs = end.startedAt === undefined ? 0 : end.at - end.startedAt;
  if (ranMs >= spec.restartBackoff.stableSecs * 1000) return { state: 'PENDING', notBefore: end.at, failures: 0 };
  const failures = failuresInARow + 1;
  return { state: 'PENDING', notBefore: end.at + restartDelayMs(spec, failures), failures };
}
