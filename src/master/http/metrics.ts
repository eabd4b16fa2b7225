// /metrics in Prometheus's text format: what an operator graphs and alerts on.

import type { TaskState } from '../../core/index.js';
import type { CellState } from '../state/index.js';

export interface MasterCounters {
  logIndex: number;
  eventsAppended: number;
  batchesAppended: number;
  allocationPasses: number;
  offersMade: number;
  tasksLaunched: number;
  connectedAgents: number;
  uptimeSecs: number;
}

export function renderMetrics(state: CellState, c: MasterCounters): string {
  const byState = new Map<TaskState, number>();
  for (const t of state.tasks.values()) byState.set(t.state, (byState.get(t.state) ?? 0) + 1);
  let pending = 0;
  for (const job of state.jobs.values()) for (const i of job.instances) if (i.state === 'PENDING') pending++;
  let reachable = 0;
  for (const a of state.agents.values()) if (a.reachable) reachable++;
  const lines = [
    '# HELP muster_master_log_index Index of the last durable event in the log.',
    '# TYPE muster_master_log_index gauge',
    `muster_master_log_index ${c.logIndex}`,
    '# HELP muster_master_events_appended_total Events written to the log since start.',
    '# TYPE muster_master_events_appended_total counter',
    `muster_master_events_appended_total ${c.eventsAppended}`,
    '# HELP muster_master_log_batches_total Batches (transactions) written to the log since start.',
    '# TYPE muster_master_log_batches_total counter',
    `muster_master_log_batches_total ${c.batchesAppended}`,
    '# HELP muster_master_allocation_passes_total Allocation passes that made offers.',
    '# TYPE muster_master_allocation_passes_total counter',
    `muster_master_allocation_passes_total ${c.allocationPasses}`,
    '# HELP muster_master_offers_total Offers made to frameworks.',
    '# TYPE muster_master_offers_total counter',
    `muster_master_offers_total ${c.offersMade}`,
    '# HELP muster_master_tasks_launched_total Tasks launched since start.',
    '# TYPE muster_master_tasks_launched_total counter',
    `muster_master_tasks_launched_total ${c.tasksLaunched}`,
    '# HELP muster_master_agents Agents known, by whether they are reachable and connected.',
    '# TYPE muster_master_agents gauge',
    `muster_master_agents{state="reachable"} ${reachable}`,
    `muster_master_agents{state="unreachable"} ${state.agents.size - reachable}`,
    `muster_master_agents{state="connected"} ${c.connectedAgents}`,
    '# HELP muster_master_jobs Jobs in the cell.',
    '# TYPE muster_master_jobs gauge',
    `muster_master_jobs ${state.jobs.size}`,
    '# HELP muster_master_instances_pending Instances waiting to be placed.',
    '# TYPE muster_master_instances_pending gauge',
    `muster_master_instances_pending ${pending}`,
    '# HELP muster_master_tasks Tasks the master keeps, by state.',
    '# TYPE muster_master_tasks gauge',
    ...[...byState].map(([s, n]) => `muster_master_tasks{state="${s}"} ${n}`),
    '# HELP muster_master_uptime_seconds Seconds since the master started.',
    '# TYPE muster_master_uptime_seconds gauge',
    `muster_master_uptime_seconds ${c.uptimeSecs}`,
  ];
  return lines.join('\n') + '\n';
}
