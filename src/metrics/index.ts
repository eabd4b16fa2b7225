// metrics: what the master's and the agent's /metrics share: a registry per daemon, the process's
// default metrics, and small helpers. Each daemon defines its own metrics beside its code.
export { daemonRegistry, METRICS_CONTENT_TYPE, renderMetrics, scrapedMetrics, setCounter, statusClass } from './registry.js';
export type { ScrapedMetrics } from './registry.js';
