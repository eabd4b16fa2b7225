// jobs: the controllers of the built-in framework. Their decisions are pure; apply() and the job
// scheduler execute them.
export { restartDelayMs, serviceTaskEnded, batchTaskEnded, type TaskEnd, type PendingAgain, type BatchNext } from '../policy/index.js';
export { instanceOutcome, statusOutcome } from './lifecycle.js';
export { MusterFramework, MUSTER_FRAMEWORK_ID, taskInfoOf, type FrameworkLinks } from './framework.js';
export { AgentSlotCache, agentSlot, agentSlots, agentsTouchedBy, freeOf, gpuFreeOf, NO_SLACK, pendingTaskOf, pendingTasks, runningOfJob, runningOnAgent, runningTaskOf } from './input.js';
export type { Slack } from './input.js';
export { startDrainController, type DrainController } from './drain.js';
