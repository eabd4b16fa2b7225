// Each daemon (a master, an agent) keeps its metrics in a prom-client Registry of its own, never in
// prom-client's global one: `muster dev` runs a master and an agent in one process, and tests run
// several, and their series must not mix. What belongs to the process rather than to a daemon (CPU,
// memory, event loop lag, GC: prom-client's default metrics) is collected once per process, in a
// registry of its own, and shown on every daemon's page: collecting it per daemon would start one
// more event-loop monitor and GC observer for each, that nothing could stop.

import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { VERSION } from '../core/index.js';

/** METRICS_CONTENT_TYPE is the Content-Type of a /metrics answer (Prometheus text format 0.0.4). */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * LINT_FAILING_DEFAULTS are default metrics that are gauges named like counters ("_total"), which
 * `promtool check metrics` refuses. Each is the sum of a labelled gauge that stays
 * (nodejs_active_handles{type}…): sum() over it gives the same figure.
 */
const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

let processRegistry: Registry | undefined;

/** processMetrics is the process's registry of default metrics, started on first use. */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
    for (const name of LINT_FAILING_DEFAULTS) processRegistry.removeSingleMetric(name);
  }
  return processRegistry;
}

/**
 * daemonRegistry makes the registry of one daemon, with its build info
 * (muster_<daemon>_build_info{version, node_version} 1) already in it.
 */
export function daemonRegistry(daemon: 'master' | 'agent'): Registry {
  const registry = new Registry();
  const info = new Gauge({
    name: `muster_${daemon}_build_info`,
    help: `The ${daemon}'s Muster version and the version of Node.js it runs on (always 1).`,
    labelNames: ['version', 'node_version'],
    registers: [registry],
  });
  info.set({ version: VERSION, node_version: process.version }, 1);
  processMetrics();
  return registry;
}

/** renderMetrics writes a daemon's metrics, then the process's, in Prometheus's text format. */
export async function renderMetrics(registry: Registry): Promise<string> {
  const own = await registry.metrics();
  const shared = await processMetrics().metrics();
  return `${own.endsWith('\n') ? own : `${own}\n`}\n${shared}`;
}

/** statusClass is an HTTP status as its class ("2xx", "4xx"…): a label with a handful of values. */
export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

/**
 * setCounter makes a counter show a count kept elsewhere (a component's own tally), at collect
 * time. prom-client's counters only go up by inc(); a count read whole is set by starting over.
 */
export function setCounter(counter: { reset(): void; inc(value: number): void }, value: number): void {
  counter.reset();
  counter.inc(value);
}

/** ScrapedMetrics makes metrics whose figures are read whole from a daemon's state at each scrape. */
export interface ScrapedMetrics<S> {
  /** gauge is reset and filled by collect at each scrape, so a series exists exactly while collect sets it. */
  readonly gauge: (name: string, help: string, labelNames: string[], collect: (g: Gauge, s: S) => void) => void;
  /** tally shows a count the daemon keeps itself as a counter. */
  readonly tally: (name: string, help: string, read: (s: S) => number) => void;
}

/**
 * scrapedMetrics binds such metrics to a registry and to current(), what there is to read (undefined
 * while there is nothing: the metrics then show no series). prom-client calls collect() with the
 * metric as `this`, so the figures come through current(), an arrow function of the daemon's.
 */
export function scrapedMetrics<S>(registry: Registry, current: () => S | undefined): ScrapedMetrics<S> {
  const registers = [registry];
  return {
    gauge: (name, help, labelNames, collect) => {
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          const s = current();
          if (s === undefined) return;
          this.reset();
          collect(this, s);
        },
      });
    },
    tally: (name, help, read) => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          const s = current();
          if (s !== undefined) setCounter(this, read(s));
        },
      });
    },
  };
}
