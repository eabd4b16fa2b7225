// agents: the master's end of the agent link.
export { AgentLinks, type AgentLinksOptions } from './link.js';
