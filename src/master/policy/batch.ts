// The batch controller runs each instance to completion. An instance that fails runs again (with
// backoff) until it has failed maxTaskFailures times (Aurora's max_task_failures; -1 is no limit);
// then it is FAILED, and so is the job. A task lost with its agent is not counted.

import type { JobSpec } from '../../core/index.js';
import { restartDelayMs } from './backoff.js';
import type { PendingAgain, TaskEnd } from './service.js';

export type BatchNext = PendingAgain | { state: 'FINISHED' } | { state: 'FAILED'; failures: number };

export function batchTaskEnded(spec: JobSpec, failures: number, end: TaskEnd & { succeeded: boolean }): BatchNext {
  if (end.succeeded) return { state: 'FINISHED' };
  if (end.lost) return { state: 'PENDING', notBefore: end.at, failures };
  const counted = failures + 1;
  if (spec.maxTaskFailures !== -1 && counted >= spec.maxTaskFailures) return { state: 'FAILED', failures: counted };
  return { state: 'PENDING', notBefore: end.at + restartDelayMs(spec, counted), failures: counted };
}
