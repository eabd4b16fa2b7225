// agent: the daemon on each machine that runs tasks. startAgent is its one entry point.
export { startAgent } from './agent.js';
export type { AgentHandle, AgentOptions } from './options.js';
export { parseAttributes } from './detect.js';
export { parseRoleUsers, parseUidRange } from './isolation/index.js';
