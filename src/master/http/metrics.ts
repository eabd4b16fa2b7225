// MasterMetrics is the master's /metrics: what an operator graphs and alerts on, in a prom-client
// registry of this master's own. Three kinds of figures:
//
// - read at scrape time from where they live (the cell state, the log's and the offer cycle's
//   tallies): gauges and counters that are set whole at each collect, so a series exists exactly
//   as long as its thing does: every task state shows, at 0 when no task is in it; an agent's
//   resources show while the master knows the agent, and go with it;
// - observed where they happen, through the hooks the log, the job scheduler and the router call
//   (log append, scheduling pass and HTTP request times);
// - folded from the appended events (status updates, preemptions, health, and the latencies from
//   a pending instance to its launch and from a launch to TASK_RUNNING), with the times the events
//   carry. Those are recorded only while this master leads, so that a standby following the same
//   log does not count the leader's work again.

import { Counter, Histogram, type Gauge, type Registry } from 'prom-client';
import { isTerminal, TASK_STATES, type TaskState } from '../../core/index.js';
import { daemonRegistry, renderMetrics, scrapedMetrics, statusClass } from '../../metrics/index.js';
import type { EventLog } from '../eventlog.js';
import type { CellState, Event, LoggedEvent } from '../state/index.js';
import { eventLoopDelay, RESOLUTION_MS, WINDOW_SECS, type LoopSecond } from '../../metrics/eventloop.js';
import type { AnsweredRequest } from './router.js';

/** MasterMetricsSource is what the collectors read; the parts that only a leader has may be absent. */
export interface MasterMetricsSource {
  readonly log: EventLog;
  /** startedAt: when this master started (ms). */
  readonly startedAt: number;
  /** leading: this master leads now. */
  leading(): boolean;
  /** epoch of the leader this master knows; 0 with a SQLite store (one master, no elections). */
  epoch(): number;
  isConnected(agentId: string): boolean;
  /** An external framework has a live subscription (absent: none is ever connected). */
  frameworkConnected?(frameworkId: string): boolean;
  /** The offer cycle's tallies; undefined while this master does not act (a standby). */
  offers(): { passes: number; offers: number; declined: number; rescinded: number } | undefined;
  /** Tasks the job scheduler launched since this master began to act. */
  launched(): number;
  /** LAUNCHes waiting for their agents' windows (absent: none). */
  queuedLaunches?(): number;
}

/** Buckets, in seconds, for work that takes from under a millisecond (an fsync, a small pass) to seconds. */
const FAST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Buckets for waits a person notices: from 10 ms to an hour pending. */
const WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
/** Buckets for a task's start: from 50 ms to 2 minutes (an image pull, a slow sandbox). */
const START_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Buckets for the event loop's longest gap or block in a second: from idle (the monitor's 5 ms) to a stalled loop; 0.05 is the budget. */
const LOOP_BUCKETS = [0.01, 0.02, 0.03, 0.04, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** The methods the API uses; anything else is labelled "other", so that a scanner cannot grow the label set. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
const RESOURCES = ['cpus', 'mem', 'disk', 'gpus'] as const;
const MiB = 1024 * 1024;

export class MasterMetrics {
  readonly registry: Registry;
  private source: MasterMetricsSource | undefined;
  private readonly schedulingPass: Histogram;
  private readonly logAppend: Histogram;
  private readonly placementLatency: Histogram;
  private readonly launchToRunning: Histogram;
  private readonly http: Histogram;
  private readonly statusUpdates: Counter;
  private readonly preemptions: Counter;
  private readonly healthFailures: Counter;
  private readonly reconciliations: Counter;
  private readonly divergences: Counter;
  private readonly runsStarted: Counter;
  private readonly timesSkipped: Counter;
  private readonly fireLateness: Histogram;
  private readonly loopDelay: Histogram;
  private readonly loopBlock: Histogram;
  /** Held here: the event-loop monitor keeps only a weak reference to it. */
  private readonly onLoopSecond: (second: LoopSecond) => void;
  /** Pending instances ("job\0instance") and since when they could be placed (ms); undefined: since before this master watched. */
  private readonly pendingSince = new Map<string, number | undefined>();
  /** Launched tasks not yet TASK_RUNNING, and when their launch was written (ms). */
  private readonly launchedAt = new Map<string, number>();
  /** Live tasks last reported unhealthy: a health failure counts when a task turns unhealthy, not on each later update. */
  private readonly unhealthy = new Set<string>();

  constructor() {
    const registry = daemonRegistry('master');
    this.registry = registry;
    const registers = [registry];
    const scraped = scrapedMetrics(registry, (): MasterMetricsSource | undefined => this.source);
    const tally = scraped.tally;
    const gauge = (name: string, help: string, collect: (g: Gauge) => void, labelNames: string[] = []): void => {
      scraped.gauge(name, help, labelNames, (g) => collect(g));
    };
    const self = { log: () => this.log(), sourced: () => this.sourced() };

    // The log.
    gauge('muster_master_log_index', 'Index of the last durable event in the log.', (g) => g.set(self.log().lastIndex));
    tally('muster_master_events_appended_total', 'Events written to the log since start.', (s) => s.log.stats.events);
    tally('muster_master_log_batches_total', 'Batches (transactions) written to the log since start.', (s) => s.log.stats.batches);
    this.logAppend = new Histogram({
      name: 'muster_master_log_append_seconds',
      help: 'Time to write one batch of events to the store durably (the fsync, or the etcd transaction).',
      buckets: FAST_BUCKETS,
      registers,
    });

    // Leadership.
    gauge('muster_master_leader', '1 while this master leads the cell, else 0.', (g) => g.set(self.sourced().leading() ? 1 : 0));
    gauge('muster_master_leader_epoch', 'Epoch (term) of the leader this master knows; 0 with a SQLite store.', (g) => g.set(self.sourced().epoch()));
    gauge('muster_master_uptime_seconds', 'Seconds since the master started.', (g) => g.set(Math.round((Date.now() - self.sourced().startedAt) / 1000)));

    // Offers and scheduling.
    tally('muster_master_allocation_passes_total', 'Allocation passes that made offers.', (s) => s.offers()?.passes ?? 0);
    tally('muster_master_offers_total', 'Offers made to frameworks.', (s) => s.offers()?.offers ?? 0);
    tally('muster_master_offers_declined_total', 'Offers a framework answered without launching on them.', (s) => s.offers()?.declined ?? 0);
    tally(
      'muster_master_offers_rescinded_total',
      'Outstanding offers the master withdrew because their agent disconnected, became unreachable, was removed or is stopping.',
      (s) => s.offers()?.rescinded ?? 0,
    );
    tally('muster_master_tasks_launched_total', 'Tasks the job scheduler launched since this master began to lead.', (s) => s.launched());
    this.schedulingPass = new Histogram({
      name: 'muster_master_scheduling_pass_seconds',
      help: "Time the job scheduler's pass takes to place the pending tasks on its offers (placement and preemption, before the append).",
      buckets: FAST_BUCKETS,
      registers,
    });
    this.placementLatency = new Histogram({
      name: 'muster_master_placement_latency_seconds',
      help: 'Time from an instance becoming placeable (its job created, its task ended or lost, its restart backoff over) to its launch being durable.',
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.launchToRunning = new Histogram({
      name: 'muster_master_task_launch_to_running_seconds',
      help: "Time from a task's launch being durable to its first TASK_RUNNING being recorded.",
      buckets: START_BUCKETS,
      registers,
    });
    this.preemptions = new Counter({
      name: 'muster_master_preemptions_total',
      help: 'Tasks killed to make room: preempted for a higher tier or priority (kind="preemption"), or revocable ones whose slack was taken back (kind="reclaim").',
      labelNames: ['kind'],
      registers,
    });
    for (const kind of ['preemption', 'reclaim']) this.preemptions.inc({ kind }, 0);

    // Tasks and their updates.
    this.statusUpdates = new Counter({
      name: 'muster_master_status_updates_total',
      help: 'Task status updates recorded in the log, by state.',
      labelNames: ['state'],
      registers,
    });
    for (const state of TASK_STATES) this.statusUpdates.inc({ state }, 0);
    this.healthFailures = new Counter({
      name: 'muster_master_health_check_failures_total',
      help: 'Times a running task turned unhealthy: an update reported it failing its health check after it was healthy or not yet checked.',
      registers,
    });
    this.healthFailures.inc(0);
    this.reconciliations = new Counter({
      name: 'muster_master_reconciliations_total',
      help: 'Reconciliations with an agent: each compares what the agent reports it holds with what the master believes.',
      registers,
    });
    this.reconciliations.inc(0);
    this.divergences = new Counter({
      name: 'muster_master_reconcile_divergences_total',
      help: 'Divergences reconciliation found and healed: a task the agent did not hold (kind="missing", recorded lost), a state the agent had settled that the master lacked (kind="state", recorded), a task the agent ran that the master did not want (kind="unwanted", killed).',
      labelNames: ['kind'],
      registers,
    });
    for (const kind of ['missing', 'state', 'unwanted']) this.divergences.inc({ kind }, 0);

    // Runs of cron and dependent jobs.
    this.runsStarted = new Counter({
      name: 'muster_master_runs_started_total',
      help: 'Runs of cron and dependent jobs started, by what started them: a scheduled time (trigger="schedule"), a person (manual), or their parents\' runs (parents).',
      labelNames: ['trigger'],
      registers,
    });
    for (const trigger of ['schedule', 'manual', 'parents']) this.runsStarted.inc({ trigger }, 0);
    this.timesSkipped = new Counter({
      name: 'muster_master_run_times_skipped_total',
      help: "Scheduled times of cron jobs that started no run (concurrency forbid, past the starting deadline, caught up by a later time, suspended, waiting for parents), and parents' triggers skipped for a failed parent.",
      registers,
    });
    this.timesSkipped.inc(0);
    this.fireLateness = new Histogram({
      name: 'muster_master_cron_fire_lateness_seconds',
      help: "Time from a cron job's scheduled time to its run's start being durable (its tasks are placed after that: see muster_master_placement_latency_seconds).",
      buckets: FAST_BUCKETS,
      registers,
    });
    gauge('muster_master_launches_queued', "LAUNCHes waiting for room in their agent's launch window.", (g) => g.set(self.sourced().queuedLaunches?.() ?? 0));
    gauge(
      'muster_master_tasks',
      'Tasks the master keeps, by state (every state, 0 included; ended tasks are kept a while for `task list --all`).',
      (g) => {
        const byState = new Map<TaskState, number>();
        for (const t of self.log().state.tasks.values()) byState.set(t.state, (byState.get(t.state) ?? 0) + 1);
        for (const state of TASK_STATES) g.set({ state }, byState.get(state) ?? 0);
      },
      ['state'],
    );
    gauge('muster_master_jobs', 'Jobs in the cell.', (g) => g.set(self.log().state.jobs.size));
    gauge('muster_master_instances_pending', 'Instances waiting to be placed.', (g) => {
      let pending = 0;
      const state = self.log().state;
      for (const key of state.pendingJobs) for (const i of state.jobs.get(key)?.instances ?? []) if (i.state === 'PENDING') pending++;
      g.set(pending);
    });

    // Frameworks: the built-in one and the external ones, and each one's tasks (live, or ended
    // and not yet acknowledged). Frameworks are bounded (MAX_FRAMEWORKS), so the label set is too.
    gauge(
      'muster_master_frameworks',
      'External frameworks known, by whether they are subscribed now.',
      (g) => {
        const s = self.sourced();
        let connected = 0;
        for (const id of s.log.state.frameworks.keys()) if (s.frameworkConnected?.(id) === true) connected++;
        g.set({ state: 'connected' }, connected);
        g.set({ state: 'disconnected' }, s.log.state.frameworks.size - connected);
      },
      ['state'],
    );
    gauge(
      'muster_master_framework_tasks',
      'Tasks each framework holds in the master ("muster" is the built-in one).',
      (g) => {
        const state = self.log().state;
        let external = 0;
        for (const f of state.frameworks.values()) {
          g.set({ framework: f.frameworkId }, f.taskIds.size);
          external += f.taskIds.size;
        }
        g.set({ framework: 'muster' }, state.tasks.size - external);
      },
      ['framework'],
    );

    // Agents.
    gauge(
      'muster_master_agents',
      'Agents known, by whether they are reachable and connected.',
      (g) => {
        const s = self.sourced();
        let reachable = 0;
        let connected = 0;
        for (const a of s.log.state.agents.values()) {
          if (a.reachable) reachable++;
          if (s.isConnected(a.agentId)) connected++;
        }
        g.set({ state: 'reachable' }, reachable);
        g.set({ state: 'unreachable' }, s.log.state.agents.size - reachable);
        g.set({ state: 'connected' }, connected);
      },
      ['state'],
    );
    gauge(
      'muster_master_agent_resources',
      "An agent's resources, by resource: cpus in cores, mem and disk in bytes, gpus in devices. Shown while the master knows the agent.",
      (g) => {
        for (const a of self.log().state.agents.values()) {
          const r = a.resources;
          const values = { cpus: r.cpusMilli / 1000, mem: r.memMiB * MiB, disk: r.diskMiB * MiB, gpus: r.gpus };
          for (const resource of RESOURCES) g.set({ agent_id: a.agentId, host: a.hostname, resource }, values[resource]);
        }
      },
      ['agent_id', 'host', 'resource'],
    );
    gauge(
      'muster_master_agent_resources_used',
      "What an agent's live tasks hold, revocable ones included, by resource, in the units of muster_master_agent_resources.",
      (g) => {
        for (const a of self.log().state.agents.values()) {
          const u = a.used;
          const revocable = a.revocableUsed ?? { cpusMilli: 0, memMiB: 0 };
          const values = {
            cpus: (u.cpusMilli + revocable.cpusMilli) / 1000,
            mem: (u.memMiB + revocable.memMiB) * MiB,
            disk: u.diskMiB * MiB,
            gpus: u.gpus,
          };
          for (const resource of RESOURCES) g.set({ agent_id: a.agentId, host: a.hostname, resource }, values[resource]);
        }
      },
      ['agent_id', 'host', 'resource'],
    );

    // The event loop: the monitor is the process's (see eventloop.ts).
    this.loopDelay = new Histogram({
      name: 'muster_master_event_loop_delay_seconds',
      help: `The longest the event loop went without turning in each second: the longest gap between ticks of a timer due every ${RESOLUTION_MS} ms, which clients feel whether the master was busy or the host did not run it. Seconds over 0.05: _count - _bucket{le="0.05"}.`,
      buckets: LOOP_BUCKETS,
      registers,
    });
    this.loopBlock = new Histogram({
      name: 'muster_master_event_loop_block_seconds',
      help: 'The longest the event loop worked without turning in each second: each gap of muster_master_event_loop_delay_seconds less the time the process was not on a CPU. A request holding the loop shows here; a host too busy to run the master does not. Seconds over the 0.05 budget: _count - _bucket{le="0.05"}.',
      buckets: LOOP_BUCKETS,
      registers,
    });
    this.onLoopSecond = (second) => {
      this.loopDelay.observe(second.gap);
      this.loopBlock.observe(second.block);
    };
    eventLoopDelay().onSecond(this.onLoopSecond);
    gauge(
      'muster_master_event_loop_delay_max_seconds',
      `The longest gap of muster_master_event_loop_delay_seconds over the last ${WINDOW_SECS} seconds.`,
      (g) => g.set(eventLoopDelay().max().gap),
    );
    gauge(
      'muster_master_event_loop_block_max_seconds',
      `The longest block of muster_master_event_loop_block_seconds over the last ${WINDOW_SECS} seconds.`,
      (g) => g.set(eventLoopDelay().max().block),
    );

    this.http = new Histogram({
      name: 'muster_master_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by method, route pattern and status class; for a stream (events, agent link, exec), its whole life.',
      labelNames: ['method', 'route', 'status_class'],
      buckets: HTTP_BUCKETS,
      registers,
    });
  }

  /**
   * attach starts the collectors on a master's log and parts, and folds the events appended from
   * now on. What is pending or launched before is left out of the latencies: when it began is not known.
   */
  attach(source: MasterMetricsSource): void {
    this.source = source;
    const state = source.log.state;
    for (const key of state.pendingJobs) {
      for (const i of state.jobs.get(key)?.instances ?? []) if (i.state === 'PENDING') this.pendingSince.set(instanceKey(key, i.instance), undefined);
    }
    for (const t of state.tasks.values()) if (t.healthy === false && !isTerminal(t.state)) this.unhealthy.add(t.taskId);
    source.log.onAppended((batch) => this.fold(batch, source));
  }

  /** observeSchedulingPass records one pass of the job scheduler. */
  observeSchedulingPass(seconds: number): void {
    this.schedulingPass.observe(seconds);
  }

  /** observeLogAppend records one durable append of a batch. */
  observeLogAppend(seconds: number): void {
    this.logAppend.observe(seconds);
  }

  /** observeRequest records one answered HTTP request (the router's observer). */
  observeRequest(r: AnsweredRequest): void {
    const method = METHODS.has(r.method) ? r.method : 'other';
    this.http.observe({ method, route: r.route, status_class: statusClass(r.status) }, r.seconds);
  }

  render(): Promise<string> {
    return renderMetrics(this.registry);
  }

  private sourced(): MasterMetricsSource {
    // Collectors run only once a source is attached (gauge() checks), so this cannot fail there.
    if (this.source === undefined) throw new Error('MasterMetrics read before attach()');
    return this.source;
  }

  private log(): EventLog {
    return this.sourced().log;
  }

  /** fold reads one durable batch for the counters and latencies that events tell. */
  private fold(batch: readonly LoggedEvent[], source: MasterMetricsSource): void {
    const leading = source.leading();
    let repending = false;
    let at = 0;
    for (const { event } of batch) {
      at = event.at;
      switch (event.type) {
        case 'JobCreated':
          if (event.spec.kind === 'cron' || (event.spec.after?.length ?? 0) > 0) break;
          for (let i = 0; i < event.spec.instances; i++) this.pendingSince.set(instanceKey(event.spec.job, i), event.at);
          break;
        case 'RunStarted':
          for (let i = 0; i < event.run.spec.instances; i++) this.pendingSince.set(instanceKey(event.run.key, i), event.at);
          if (leading) {
            this.runsStarted.inc({ trigger: event.run.trigger });
            if (event.run.scheduledAt !== undefined) this.fireLateness.observe(Math.max(0, event.at - event.run.scheduledAt) / 1000);
            const earlier = (event.run.owed?.count ?? 1) - 1;
            if (earlier > 0) this.timesSkipped.inc(earlier);
          }
          break;
        case 'RunSkipped':
          if (leading) this.timesSkipped.inc(event.times?.count ?? 1);
          break;
        case 'TasksLaunched':
          for (const t of event.tasks) {
            const key = instanceKey(t.job, t.instance);
            const since = this.pendingSince.get(key);
            this.pendingSince.delete(key);
            if (leading && since !== undefined) this.placementLatency.observe(Math.max(0, event.at - since) / 1000);
            this.launchedAt.set(t.taskId, event.at);
          }
          break;
        case 'TaskStatusUpdated':
          repending = this.foldStatus(event, leading) || repending;
          break;
        case 'TasksPreempted':
          if (leading) {
            const victims = event.preemptions.reduce((n, p) => n + p.victims.length, 0);
            if (victims > 0) this.preemptions.inc({ kind: 'preemption' }, victims);
            if (event.reclaimed.length > 0) this.preemptions.inc({ kind: 'reclaim' }, event.reclaimed.length);
          }
          repending = true;
          break;
        case 'KillRequested':
        case 'AgentUnreachable':
        case 'UnreachableReplaced':
        case 'AgentRegistered':
        case 'HostMaintenance':
          repending = true;
          break;
        case 'QuotaSet':
          break;
      }
    }
    if (repending) this.notePending(source.log.state, at);
  }

  /** observeReconciliation counts one reconciliation with an agent and what it found. */
  observeReconciliation(found: { missing: number; state: number; unwanted: number }): void {
    this.reconciliations.inc();
    for (const kind of ['missing', 'state', 'unwanted'] as const) if (found[kind] > 0) this.divergences.inc({ kind }, found[kind]);
  }

  /** foldStatus counts one recorded update; true when its task ended (its instance may be pending again). */
  private foldStatus(event: Extract<Event, { type: 'TaskStatusUpdated' }>, leading: boolean): boolean {
    const { taskId, state, healthy } = event.status;
    if (leading) this.statusUpdates.inc({ state });
    if (isTerminal(state)) {
      this.launchedAt.delete(taskId);
      this.unhealthy.delete(taskId);
      return true;
    }
    if (state === 'TASK_RUNNING') {
      const launched = this.launchedAt.get(taskId);
      this.launchedAt.delete(taskId);
      if (leading && launched !== undefined) this.launchToRunning.observe(Math.max(0, event.at - launched) / 1000);
    }
    if (healthy === false && !this.unhealthy.has(taskId)) {
      this.unhealthy.add(taskId);
      if (leading) this.healthFailures.inc();
    } else if (healthy === true) {
      this.unhealthy.delete(taskId);
    }
    return false;
  }

  /**
   * notePending starts the clock of instances that became pending again (a task ended or was lost,
   * a restart, a preemption): from the batch's time, or from the end of their restart backoff. It
   * also forgets instances that ended or whose job is gone, so that the map holds pending ones only.
   */
  private notePending(state: CellState, at: number): void {
    for (const key of state.pendingJobs) {
      const job = state.jobs.get(key);
      for (const i of job?.instances ?? []) {
        if (i.state !== 'PENDING') continue;
        const k = instanceKey(key, i.instance);
        if (!this.pendingSince.has(k)) this.pendingSince.set(k, Math.max(at, i.notBefore));
      }
    }
    for (const k of this.pendingSince.keys()) {
      const cut = k.indexOf('\0');
      const inst = state.jobs.get(k.slice(0, cut))?.instances[Number(k.slice(cut + 1))];
      // ACTIVE stays: its launch may be applied but not yet durable, and the TasksLaunched that follows clears it.
      if (inst === undefined || (inst.state !== 'PENDING' && inst.state !== 'ACTIVE')) this.pendingSince.delete(k);
    }
  }
}

function instanceKey(job: string, instance: number): string {
  return `${job}\0${instance}`;
}
