// restartDelayMs is the wait before a failed instance runs again: initialSecs, doubling with each
// quick failure in a row, capped at maxSecs. It is the penalty for flapping: a task that keeps
// dying right after it starts backs off, one that ran for a while restarts at once.

import type { JobSpec } from '../../core/index.js';

export function restartDelayMs(spec: JobSpec, failuresInARow: number): number {
  if (failuresInARow <= 0) return 0;
  const { initialSecs, maxSecs } = spec.restartBackoff;
  const secs = Math.min(initialSecs * 2 ** Math.min(failuresInARow - 1, 30), maxSecs);
  return Math.round(secs * 1000);
}
