// master: the control plane.
export { startMaster } from './master.js';
export { DEFAULT_MASTER_OPTIONS, type MasterHandle, type MasterOptions } from './options.js';
export { EventLog } from './eventlog.js';
export { openStore, SqliteStore, type Store } from './store/index.js';
export { apply, emptyState, serializeState, deserializeState, type CellState, type Event } from './state/index.js';
// The job scheduler and its input builders, for the simulator and the benchmarks (src/sim): the
// same code the master runs, on a hollow cell's log.
export { OfferCycle } from './frameworks/offers.js';
export { OfferBook } from './frameworks/book.js';
export { ExternalFrameworks } from './frameworks/external.js';
export { Router } from './http/router.js';
export { addSchedulerRoutes } from './http/scheduler.js';
export { AgentSlotCache, MusterFramework, NO_SLACK, pendingTasks, runningOfJob, runningOnAgent, type FrameworkLinks, type Slack } from './jobs/index.js';
export { DEFAULT_SCHEDULING_OPTIONS, type SchedulingOptions } from './options.js';
export type { LoggedEvent } from './state/index.js';
