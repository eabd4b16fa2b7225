// client: the typed HTTP client of the master's REST API, shared by the CLI, the UI and tests.
export { MusterClient, normalizeMaster } from './client.js';
export type { AgentsPageOptions, EventStreamOptions, JobContentType, JobsPageOptions, MusterClientOptions, PageOptions, TasksPageOptions } from './client.js';
export type { JobInstancesAnswer } from '../protocol/index.js';
export { nodeFetch } from './nodefetch.js';
export { SseParser } from './sse.js';
export type { SseMessage } from './sse.js';
