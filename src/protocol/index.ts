// protocol: wire formats shared by master, agent, client and CLI.
export * from './recordio.js';
export type * from './agent.js';
export { AGENT_API_PATH, AGENT_PROTOCOL_VERSION } from './agent.js';
export type * from './api.js';
export type * from './hosts.js';
export * as mesos from './mesos/index.js';
export type * from './updates.js';
export { ACTIVE_UPDATE_STATUSES } from './updates.js';
