// master: the control plane.
export { startMaster } from './master.js';
export { DEFAULT_MASTER_OPTIONS, type MasterHandle, type MasterOptions } from './options.js';
export { EventLog } from './eventlog.js';
export { openStore, SqliteStore, type Store } from './store/index.js';
export { apply, emptyState, serializeState, deserializeState, type CellState, type Event } from './state/index.js';
