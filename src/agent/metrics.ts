// AgentMetrics is the agent's /metrics, in a prom-client registry of this agent's own. The figures
// live where they change (the task table, the status update queues, the resource monitor); they are
// read once per scrape and set whole, so that a series exists exactly while its thing does: every
// task state shows, at 0 when no task is in it, and a task's usage series show while the task runs
// and are gone from the first scrape after it ended. Only the time from LAUNCH to TASK_RUNNING is
// observed as it happens.

import { Counter, Histogram, type Registry } from 'prom-client';
import { TASK_STATES, type TaskState } from '../core/index.js';
import { daemonRegistry, renderMetrics, scrapedMetrics } from '../metrics/index.js';
import { eventLoopDelay, WINDOW_SECS } from '../metrics/eventloop.js';
import type { TaskUsage } from '../protocol/index.js';

/** MetricsSnapshot is what /metrics shows, read at the time of the request. */
export interface MetricsSnapshot {
  tasksByState: Map<TaskState, number>;
  launches: number;
  updatesSent: number;
  updatesAcknowledged: number;
  updatesPending: number;
  healthCheckFailures: number;
  subscribed: boolean;
  uptimeSecs: number;
  /** Launches waiting for a launch slot. */
  launchesQueued: number;
  /** The isolation mode: cgroups-v2, cgroups-v1 or none. */
  isolation: string;
  /** The latest usage of each task that runs now. */
  usage: TaskUsage[];
  /** The job of a task, for the job label. */
  jobOf(taskId: string): string | undefined;
}

/** Buckets for a task's start on the agent: sandbox, cgroups and process, 10 ms to 2 minutes. */
const START_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export class AgentMetrics {
  readonly registry: Registry;
  private readonly taskStart: Histogram;
  /** The reading of the latest scrape. */
  private current: MetricsSnapshot | undefined;

  constructor(private readonly read: () => MetricsSnapshot) {
    const registry = daemonRegistry('agent');
    this.registry = registry;
    const registers = [registry];
    // prom-client calls collect() with the metric as `this`: the figures come through this arrow function.
    const current = (): MetricsSnapshot | undefined => this.current;
    const { gauge, tally } = scrapedMetrics(registry, current);

    gauge('muster_agent_tasks', 'Tasks on this agent by the state of their latest update (every state, 0 included).', ['state'], (g, m) => {
      for (const state of TASK_STATES) g.set({ state }, m.tasksByState.get(state) ?? 0);
    });
    tally('muster_agent_task_launches_total', 'Tasks launched since the agent started.', (m) => m.launches);
    tally('muster_agent_status_updates_sent_total', 'Status update sends, retries included.', (m) => m.updatesSent);
    tally('muster_agent_status_updates_acknowledged_total', 'Status updates the master acknowledged.', (m) => m.updatesAcknowledged);
    gauge('muster_agent_status_updates_pending', 'Status updates waiting for an acknowledgement.', [], (g, m) => g.set(m.updatesPending));
    tally(
      'muster_agent_health_check_failures_total',
      "Health checks of this agent's tasks that failed and counted (after the grace period).",
      (m) => m.healthCheckFailures,
    );
    gauge('muster_agent_launches_queued', 'Launched tasks waiting for a launch slot (the agent sets up a few at a time).', [], (g, m) => g.set(m.launchesQueued));
    // Started now, so that the window is full by the time anyone looks.
    eventLoopDelay();
    gauge(
      'muster_agent_event_loop_block_max_seconds',
      `The longest the agent's event loop worked without turning over the last ${WINDOW_SECS} seconds (a heartbeat due meanwhile waits that long).`,
      [],
      (g) => g.set(eventLoopDelay().max().block),
    );
    gauge(
      'muster_agent_event_loop_delay_max_seconds',
      `The longest gap between two turns of the agent's event loop over the last ${WINDOW_SECS} seconds, time off the CPU included.`,
      [],
      (g) => g.set(eventLoopDelay().max().gap),
    );
    gauge('muster_agent_subscribed', '1 while the agent is subscribed to a master.', [], (g, m) => g.set(m.subscribed ? 1 : 0));
    gauge('muster_agent_uptime_seconds', 'Seconds since the agent started.', [], (g, m) => g.set(Math.floor(m.uptimeSecs)));
    gauge('muster_agent_isolation', 'How the agent isolates tasks (1 for its mode).', ['mode'], (g, m) => g.set({ mode: m.isolation }, 1));
    this.taskStart = new Histogram({
      name: 'muster_agent_task_start_seconds',
      help: 'Time from receiving a LAUNCH to reporting TASK_RUNNING: sandbox, isolation and the processes started.',
      buckets: START_BUCKETS,
      registers,
    });

    // Per-task series: labelled by task and job, and only for the tasks that run now.
    const labels = (u: TaskUsage, m: MetricsSnapshot): { task: string; job: string } => ({ task: u.taskId, job: m.jobOf(u.taskId) ?? '' });
    new Counter({
      name: 'muster_agent_task_cpu_seconds_total',
      help: 'CPU time (user + system) a running task has used.',
      labelNames: ['task', 'job'],
      registers,
      collect() {
        const m = current();
        if (m === undefined) return;
        this.reset();
        for (const u of m.usage) this.inc(labels(u, m), u.cpuSecs);
      },
    });
    gauge('muster_agent_task_memory_bytes', 'Memory a running task uses now.', ['task', 'job'], (g, m) => {
      for (const u of m.usage) g.set(labels(u, m), u.memBytes);
    });
    gauge('muster_agent_task_disk_bytes', "Bytes in a running task's sandbox at the last disk scan.", ['task', 'job'], (g, m) => {
      for (const u of m.usage) g.set(labels(u, m), u.diskBytes);
    });
  }

  /** observeTaskStart records one task's start, from LAUNCH to TASK_RUNNING. */
  observeTaskStart(seconds: number): void {
    this.taskStart.observe(seconds);
  }

  /**
   * render reads the agent once and writes every metric, the process's included. Two scrapes at
   * once may mix their two readings, taken a moment apart; neither sees a series vanish.
   */
  render(): Promise<string> {
    this.current = this.read();
    return renderMetrics(this.registry);
  }
}
