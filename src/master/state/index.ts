// state: the master's durable state as a fold over events.
export * from './events.js';
export * from './state.js';
export { apply } from './apply.js';
export { isWanted, killGraceSecs } from './queries.js';
export * from './quota.js';
export { INSTANCE_MOVES, instanceMayMove, JOB_MOVES, jobMayMove, TASK_MOVES, taskMayMove } from './machine.js';
export * from './updates.js';
export * from './budget.js';
export * from './runs.js';
