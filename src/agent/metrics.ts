// The agent's /metrics page in Prometheus's text format. The figures live where they change (the
// task table, the status update queues); this file only renders them.

import { TASK_STATES, type TaskState } from '../core/index.js';
import type { TaskUsage } from '../protocol/index.js';

/** MetricsSnapshot is what /metrics shows, read at the time of the request. */
export interface MetricsSnapshot {
  tasksByState: Map<TaskState, number>;
  launches: number;
  updatesSent: number;
  updatesAcknowledged: number;
  updatesPending: number;
  subscribed: boolean;
  uptimeSecs: number;
  /** The isolation mode: cgroups-v2, cgroups-v1 or none. */
  isolation: string;
  /** The latest usage of each running task. */
  usage: TaskUsage[];
  /** The job of a task, for the job label. */
  jobOf(taskId: string): string | undefined;
}

/** renderMetrics writes every state, zeros included, so that dashboards see a stable set of series. */
export function renderMetrics(m: MetricsSnapshot): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: [string, number][]): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  metric(
    'muster_agent_tasks',
    'gauge',
    'Tasks on this agent by the state of their latest update.',
    TASK_STATES.map((s) => [`{state="${s}"}`, m.tasksByState.get(s) ?? 0]),
  );
  metric('muster_agent_task_launches_total', 'counter', 'Tasks launched since the agent started.', [['', m.launches]]);
  metric('muster_agent_status_updates_sent_total', 'counter', 'Status update sends, retries included.', [['', m.updatesSent]]);
  metric('muster_agent_status_updates_acknowledged_total', 'counter', 'Status updates the master acknowledged.', [
    ['', m.updatesAcknowledged],
  ]);
  metric('muster_agent_status_updates_pending', 'gauge', 'Status updates waiting for an acknowledgement.', [['', m.updatesPending]]);
  metric('muster_agent_subscribed', 'gauge', '1 while the agent is subscribed to a master.', [['', m.subscribed ? 1 : 0]]);
  metric('muster_agent_uptime_seconds', 'gauge', 'Seconds since the agent started.', [['', Math.floor(m.uptimeSecs)]]);
  metric('muster_agent_isolation', 'gauge', 'How the agent isolates tasks (1 for its mode).', [[`{mode="${m.isolation}"}`, 1]]);
  // Task ids and job keys are restricted to letters, digits, "-", "_", "." and "/": no escaping needed.
  const labels = (u: TaskUsage): string => `{task="${u.taskId}",job="${m.jobOf(u.taskId) ?? ''}"}`;
  metric('muster_agent_task_cpu_seconds_total', 'counter', 'CPU time (user + system) a task has used.', m.usage.map((u) => [labels(u), u.cpuSecs]));
  metric('muster_agent_task_memory_bytes', 'gauge', 'Memory a task uses now.', m.usage.map((u) => [labels(u), u.memBytes]));
  metric('muster_agent_task_disk_bytes', 'gauge', "Bytes in a task's sandbox at the last disk scan.", m.usage.map((u) => [labels(u), u.diskBytes]));
  return lines.join('\n') + '\n';
}
