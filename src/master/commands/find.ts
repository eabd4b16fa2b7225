// Lookups every command makes, refused in one wording.

import { MusterError } from '../../core/index.js';
import type { CellState, JobRecord } from '../state/index.js';

/** findJob: the job of a key, or JOB_NOT_FOUND. */
export function findJob(state: CellState, key: string): JobRecord {
  const job = state.jobs.get(key);
  if (job === undefined) throw new MusterError('JOB_NOT_FOUND', `no job ${key}; see muster job list`);
  return job;
}
