// policy: the built-in framework's controllers' decisions, pure functions of a job's spec and an
// instance's history: what follows when a task ends (restart with backoff, finish, fail). The
// commands that record an end call them (jobs/lifecycle.ts) and write the answer in the event;
// apply() calls them only for events written before answers were recorded.
export { restartDelayMs } from './backoff.js';
export { serviceTaskEnded, type TaskEnd, type PendingAgain } from './service.js';
export { batchTaskEnded, type BatchNext } from './batch.js';
