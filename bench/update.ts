// update: a rolling update of a 10,000-instance service on 1,000 hollow agents, in batches of 500
// with watchSecs 0 (maxUnavailable 500), run by the master's own parts on a hollow cell: the update
// controller (startUpdateController: updateSteps decided inside log.submit after every append),
// the job scheduler's pass (kicked by every append, as the offer cycle is) and the agents' status
// updates recorded as the agent link records them (recordStatus, one submit per update), all over
// the real EventLog on SQLite. The hollow agents answer at once: a task asked to die reports
// TASK_KILLED, a launched task TASK_RUNNING, on the turn after the append that asked for it, so
// the update goes as fast as the master lets it.
//
// Four cells of the same size, each built the same way (untimed: agents, the service placed and
// running):
//   1. the update alone: wall time, batches, instance transitions (each UPDATING and each UPDATED
//      action is one: two per instance), and where the master's time went, per transition: the
//      controller (updateSteps and the apply of its events), the scheduler's passes, the status
//      updates, and the event loop's busy time (fsyncs and snapshots included).
//      Goal: controller ≤ 50 µs per transition.
//   2. online jobs without an update: jobs of 20 arriving at 83/s (bench/online.ts's load), from
//      the JobCreated submit to the durable TasksLaunched of its last task.
//   3. the same arrivals while updates run back to back (a new one starts as soon as one rolls
//      forward). Goal: p99 within 20 % of 2's.
//   4. the same again with paced agents: a new task of the service reports TASK_RUNNING 1 s after
//      its launch, as a real start might take, so the update runs at the agents' pace and the
//      controller mostly looks and finds nothing to do (it still runs after every append).
//
// MUSTER_BENCH_SCALE shrinks the agents, the instances, the batch and the arrival window alike.

import { performance } from 'node:perf_hooks';
import { validateJobSpec, type JobSpec } from '../src/core/index.js';
import { silentLogger } from '../src/log/index.js';
import type { Caller } from '../src/master/auth/index.js';
import { recordStatus } from '../src/master/commands/agents.js';
import { startUpdate } from '../src/master/commands/updates.js';
import type { Decision } from '../src/master/eventlog.js';
import { serializeState, type CellState, type EventLog, type Event } from '../src/master/index.js';
import { startUpdateController } from '../src/master/jobs/updater.js';
import type { TaskStatus } from '../src/protocol/index.js';
import { DEFAULT_PLACEMENT_OPTIONS } from '../src/scheduler/index.js';
import { HollowCell, hollowAgents, hollowJobs, type PassStats } from '../src/sim/index.js';
import { benchScale, C1M_SEED } from './c1m.js';
import { printTable } from './report.js';
import { percentile, round } from './stats.js';

const AGENTS = 1_000;
const INSTANCES = 10_000;
const BATCH = 500;
const JOB = 'bench/prod/rolling';
const TASKS_PER_JOB = 20;
const JOBS_PER_SEC = 83;
const DURATION_SEC = 20;
/** The most one update may take before the benchmark gives up on it (it would be stuck). */
const UPDATE_LIMIT_MS = 600_000;
/** After the last arrival, wait at most this long for the stragglers before reporting them unplaced. */
const SETTLE_MS = 30_000;
/** The paced run: a new task of the service takes this long to report TASK_RUNNING, as a real start might. */
const START_DELAY_MS = 1000;
const GOAL_US_PER_TRANSITION = 50;
const GOAL_P99_RATIO = 1.2;
const CALLER: Caller = { principal: 'bench', all: true };

/** serviceSpec: the service, tiny resources and no constraint, updated in batches of `batch` with no watch. */
function serviceSpec(instances: number, batch: number, cmd: string): JobSpec {
  return validateJobSpec({
    job: JOB,
    instances,
    resources: { cpus: 0.1, mem: '64MiB', disk: '16MiB' },
    processes: [{ name: 'main', cmd }],
    update: { batchSize: batch, watchSecs: 0, maxUnavailable: batch },
  });
}

// ---- where the master's time goes ----------------------------------------------------------

type Kind = 'controller' | 'status' | 'placement' | 'jobs' | 'start';

interface Cost {
  /** Submits. */
  calls: number;
  /** Events they wrote. */
  events: number;
  /** decide(): the command's own work against the state. */
  decideMs: number;
  /** decide() and apply() of its events: submit's synchronous part. */
  syncMs: number;
}

/**
 * Meter times every submit on a log by who made it, wrapping the log's submit (the master's own
 * code is not touched): decide() alone, and decide() with the apply() of its events, which submit
 * does before it returns. The controller's submits are the ones nobody else marks: startUpdateController
 * decides updateSteps (and now and then pruneSteps) and writes Update* events or none.
 */
class Meter {
  readonly costs = new Map<Kind, Cost>();
  private marked: Kind | undefined;
  private readonly restore: () => void;

  constructor(log: EventLog) {
    const real = log.submit.bind(log);
    const self = log as { submit: EventLog['submit'] };
    self.submit = <T>(decide: (state: CellState, now: number) => Decision<T>, by?: string): Promise<T> => {
      let events: readonly Event[] = [];
      let decideMs = 0;
      const t0 = performance.now();
      const done = real((state, now) => {
        const a = performance.now();
        const d = decide(state, now);
        decideMs = performance.now() - a;
        events = d.events;
        return d;
      }, by);
      const syncMs = performance.now() - t0;
      this.add(this.marked ?? kindOf(events), events.length, decideMs, syncMs);
      return done;
    };
    this.restore = () => Reflect.deleteProperty(log, 'submit');
  }

  /** as runs f with every submit it makes counted as kind. */
  as<T>(kind: Kind, f: () => T): T {
    const before = this.marked;
    this.marked = kind;
    try {
      return f();
    } finally {
      this.marked = before;
    }
  }

  get(kind: Kind): Cost {
    return this.costs.get(kind) ?? { calls: 0, events: 0, decideMs: 0, syncMs: 0 };
  }

  reset(): void {
    this.costs.clear();
  }

  close(): void {
    this.restore();
  }

  private add(kind: Kind, events: number, decideMs: number, syncMs: number): void {
    const c = this.get(kind);
    this.costs.set(kind, { calls: c.calls + 1, events: c.events + events, decideMs: c.decideMs + decideMs, syncMs: c.syncMs + syncMs });
  }
}

function kindOf(events: readonly Event[]): Kind {
  if (events.some((e) => e.type === 'TasksLaunched' || e.type === 'TasksPreempted')) return 'placement';
  if (events.some((e) => e.type === 'JobCreated')) return 'jobs';
  if (events.some((e) => e.type === 'TaskStatusUpdated')) return 'status';
  return 'controller';
}

// ---- the hollow agents ---------------------------------------------------------------------

interface Answer {
  agentId: string;
  taskId: string;
  state: TaskStatus['state'];
}

/**
 * HollowAgents answers for the hollow agents: after each append, every task it launched reports
 * TASK_RUNNING and every task the master wants dead (state.killing) TASK_KILLED, each as the agent
 * link records one status update (its own submit, recordStatus), on the next turn.
 */
class HollowAgents {
  statuses = 0;
  private readonly queue: Answer[] = [];
  private readonly answered = new Set<string>();
  private scheduled = false;
  private seq = 0;
  private failure: Error | undefined;
  private readonly off: () => void;

  /** startDelayMs: how long a launched task of the service takes to report TASK_RUNNING (0: on the next turn). */
  startDelayMs = 0;

  constructor(
    private readonly cell: HollowCell,
    private readonly meter: Meter,
  ) {
    this.off = cell.log.onAppended((batch) => {
      const later: Answer[] = [];
      for (const { event } of batch) {
        if (event.type !== 'TasksLaunched') continue;
        for (const t of event.tasks) {
          const answer: Answer = { agentId: t.agentId, taskId: t.taskId, state: 'TASK_RUNNING' };
          if (this.startDelayMs > 0 && t.job === JOB) later.push(answer);
          else this.queue.push(answer);
        }
      }
      if (later.length > 0) {
        setTimeout(() => {
          for (const a of later) this.queue.push(a);
          this.schedule();
        }, this.startDelayMs);
      }
      const state = cell.state;
      for (const id of state.killing) {
        if (this.answered.has(id)) continue;
        const t = state.tasks.get(id);
        if (t === undefined) continue;
        this.answered.add(id);
        this.queue.push({ agentId: t.agentId, taskId: id, state: 'TASK_KILLED' });
      }
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.queue.length === 0 || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.report());
  }

  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  close(): void {
    this.off();
  }

  private report(): void {
    this.scheduled = false;
    const queue = this.queue.splice(0);
    this.meter.as('status', () => {
      for (const q of queue) {
        const status: TaskStatus = { taskId: q.taskId, state: q.state, uuid: `s${(++this.seq).toString(36)}`, timestamp: this.cell.log.now() };
        this.statuses++;
        this.cell.log
          .submit((state, now) => recordStatus(state, now, q.agentId, status))
          .then(() => {
            if (q.state === 'TASK_KILLED') this.answered.delete(q.taskId);
          })
          .catch((e: unknown) => {
            this.failure ??= e instanceof Error ? e : new Error(String(e));
          });
      }
    });
  }
}

// ---- a cell ----------------------------------------------------------------------------------

interface Cell {
  readonly cell: HollowCell;
  readonly meter: Meter;
  readonly agents: HollowAgents;
  /** Starts the scheduler's kick on every append and the update controller: the master running. */
  run(): void;
  close(): Promise<void>;
}

/** openCell builds a cell with the service placed and every instance TASK_RUNNING (untimed). */
async function openCell(agentCount: number, instances: number, batch: number): Promise<Cell> {
  const cell = await HollowCell.open({ placement: { ...DEFAULT_PLACEMENT_OPTIONS, seed: C1M_SEED } });
  const meter = new Meter(cell.log);
  const agents = new HollowAgents(cell, meter);
  const stops: (() => void)[] = [];
  try {
    await cell.registerAgents(hollowAgents(agentCount));
    await cell.createJobs([serviceSpec(instances, batch, 'sleep infinity # v1')]);
    await cell.drain();
    await until(() => {
      agents.check();
      return runningOf(cell.state) === instances;
    }, 60_000, 'the service to run');
  } catch (e) {
    agents.close();
    meter.close();
    await cell.close();
    throw e;
  }
  return {
    cell,
    meter,
    agents,
    run() {
      // As the master's offer cycle: every append asks for a pass (many in one turn make one).
      stops.push(cell.log.onAppended(() => cell.kick()));
      const controller = startUpdateController(cell.log, silentLogger, { retentionSecs: 7 * 24 * 3600 });
      stops.push(() => controller.close());
      cell.autoSchedule(true);
    },
    async close() {
      for (const s of stops) s();
      agents.close();
      await cell.close();
      meter.close();
    },
  };
}

/** runningOf counts the service's instances whose task is TASK_RUNNING and not being killed. */
function runningOf(state: CellState): number {
  const job = state.jobs.get(JOB);
  let n = 0;
  for (const inst of job?.instances ?? []) {
    const t = inst.taskId === undefined ? undefined : state.tasks.get(inst.taskId);
    if (inst.state === 'ACTIVE' && t?.state === 'TASK_RUNNING' && t.kill === undefined) n++;
  }
  return n;
}

async function until(done: () => boolean, limitMs: number, what: string): Promise<void> {
  const by = performance.now() + limitMs;
  while (!done()) {
    if (performance.now() > by) throw new Error(`gave up waiting for ${what} after ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Updates starts updates of the service, each to a new command, and counts what they do. */
class Updates {
  started = 0;
  ended = 0;
  transitions = 0;
  batches = 0;
  private current: string | undefined;
  private readonly off: () => void;

  constructor(
    private readonly c: Cell,
    private readonly instances: number,
    private readonly batch: number,
  ) {
    this.off = c.cell.log.onAppended((batch) => {
      for (const { event } of batch) if (event.type === 'UpdateInstancesActed') this.transitions += event.actions.length;
    });
  }

  /** active: an update started here is running. */
  get active(): boolean {
    return this.current !== undefined && this.c.cell.state.activeUpdates.has(this.current);
  }

  /** status of the update started last. */
  get status(): string {
    return this.current === undefined ? 'none' : (this.c.cell.state.updates.get(this.current)?.status ?? 'gone');
  }

  async start(): Promise<void> {
    const id = `bench-update-${++this.started}`;
    const spec = serviceSpec(this.instances, this.batch, `sleep infinity # v${this.started + 1}`);
    this.finish();
    this.current = id;
    await this.c.meter.as('start', () => this.c.cell.log.submit((s, now) => startUpdate(s, now, CALLER, { key: JOB, spec, kind: 'update', id })));
  }

  /** finish counts the batches of the update started last, once it has ended (or is left). */
  finish(): void {
    if (this.current === undefined) return;
    const u = this.c.cell.state.updates.get(this.current);
    this.batches += u?.batches.length ?? 0;
    if (u !== undefined && u.status === 'ROLLED_FORWARD') this.ended++;
    this.current = undefined;
  }

  close(): void {
    this.off();
  }
}

// ---- phase 1: the update alone ---------------------------------------------------------------

interface AloneFigures {
  status: string;
  wallMs: number;
  transitions: number;
  batches: number;
  controller: Cost;
  statusCost: Cost;
  placement: Cost;
  passes: number;
  passMs: number;
  busyMs: number;
  statuses: number;
  events: number;
}

async function updateAlone(agentCount: number, instances: number, batch: number): Promise<AloneFigures> {
  const c = await openCell(agentCount, instances, batch);
  try {
    let passes = 0;
    let passMs = 0;
    c.cell.onPass((s: PassStats) => {
      passes++;
      // The pass's own work: input, place(), the event and its apply (not the wait for the fsync).
      passMs += s.inputMs + s.placeMs + s.applyMs;
    });
    c.run();
    await until(() => c.cell.state.activeUpdates.size === 0, 10_000, 'the controller to settle');
    const updates = new Updates(c, instances, batch);
    c.meter.reset();
    const statuses0 = c.agents.statuses;
    const index0 = c.cell.log.lastIndex;
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    await updates.start();
    await until(() => {
      c.agents.check();
      return !updates.active;
    }, UPDATE_LIMIT_MS, 'the update to end');
    // Ended once its last events are durable (and counted by the listeners).
    await c.cell.log.flushed();
    const wallMs = performance.now() - t0;
    const elu = performance.eventLoopUtilization(elu0);
    const status = updates.status;
    updates.finish();
    updates.close();
    return {
      status,
      wallMs,
      transitions: updates.transitions,
      batches: updates.batches,
      controller: c.meter.get('controller'),
      statusCost: c.meter.get('status'),
      placement: c.meter.get('placement'),
      passes,
      passMs,
      busyMs: elu.active,
      statuses: c.agents.statuses - statuses0,
      events: c.cell.log.lastIndex - index0,
    };
  } finally {
    await c.close();
  }
}

// ---- phases 2 and 3: online jobs, without and with an update ----------------------------------

interface Waiting {
  submittedAt: number;
  remaining: number;
  duringUpdate: boolean;
}

interface OnlineFigures {
  jobs: number;
  unplaced: number;
  latencies: number[];
  /** Latencies of the jobs submitted while an update ran. */
  duringUpdate: number[];
  updatesStarted: number;
  updatesRolledForward: number;
  transitions: number;
  controller: Cost;
  busyShare: number;
  /** Events appended from the first arrival until every job was placed. */
  events: number;
  /** serializeState of the cell at the end: what each snapshot (every 10,000 events) holds the event loop for. */
  snapshotMs: number;
}

async function online(agentCount: number, instances: number, batch: number, durationSec: number, withUpdate: boolean, startDelayMs = 0): Promise<OnlineFigures> {
  const c = await openCell(agentCount, instances, batch);
  c.agents.startDelayMs = startDelayMs;
  try {
    const waiting = new Map<string, Waiting>();
    const latencies: number[] = [];
    const duringUpdate: number[] = [];
    c.cell.onPass((s) => {
      if (s.placed === 0) return;
      const at = performance.now();
      for (const [job, n] of s.launched) {
        const w = waiting.get(job);
        if (w === undefined) continue;
        w.remaining -= n;
        if (w.remaining <= 0) {
          latencies.push(at - w.submittedAt);
          if (w.duringUpdate) duringUpdate.push(at - w.submittedAt);
          waiting.delete(job);
        }
      }
    });
    c.run();
    const updates = new Updates(c, instances, batch);
    let arriving = true;
    let failure: Error | undefined;
    // Back to back: the next update starts on the turn after the last one ended.
    const offNext = c.cell.log.onAppended(() => {
      if (!withUpdate || !arriving || updates.active || failure !== undefined) return;
      updates.start().catch((e: unknown) => {
        failure = e instanceof Error ? e : new Error(String(e));
      });
    });
    if (withUpdate) await updates.start();
    c.meter.reset();
    const index0 = c.cell.log.lastIndex;
    const elu0 = performance.eventLoopUtilization();
    const specs = hollowJobs(Math.round(JOBS_PER_SEC * durationSec), TASKS_PER_JOB, { prefix: 'online', seed: C1M_SEED + 1 });
    const submits: Promise<void>[] = [];
    const start = performance.now();
    let next = 0;
    while (next < specs.length) {
      if (failure !== undefined) throw failure;
      c.agents.check();
      const now = performance.now();
      while (next < specs.length && start + (next * 1000) / JOBS_PER_SEC <= now) {
        const spec = specs[next++];
        if (spec === undefined) break;
        waiting.set(spec.job, { submittedAt: performance.now(), remaining: spec.instances, duringUpdate: updates.active });
        submits.push(c.cell.createJobs([spec]));
      }
      const due = start + (next * 1000) / JOBS_PER_SEC - performance.now();
      await new Promise((r) => setTimeout(r, Math.max(0, due)));
    }
    arriving = false;
    const elu = performance.eventLoopUtilization(elu0);
    await Promise.all(submits);
    const settleBy = performance.now() + SETTLE_MS;
    while (waiting.size > 0 && performance.now() < settleBy) await new Promise((r) => setTimeout(r, 5));
    offNext();
    if (failure !== undefined) throw failure;
    const events = c.cell.log.lastIndex - index0;
    const s0 = performance.now();
    serializeState(c.cell.state);
    const snapshotMs = performance.now() - s0;
    updates.finish();
    updates.close();
    return {
      jobs: specs.length,
      unplaced: waiting.size,
      latencies,
      duringUpdate,
      updatesStarted: updates.started,
      updatesRolledForward: updates.ended,
      transitions: updates.transitions,
      controller: c.meter.get('controller'),
      busyShare: elu.utilization,
      events,
      snapshotMs,
    };
  } finally {
    await c.close();
  }
}

// ---- the benchmark ---------------------------------------------------------------------------

export async function runUpdateBench(): Promise<Record<string, unknown>> {
  const scale = benchScale();
  const agents = Math.max(20, Math.round(AGENTS * scale));
  const instances = Math.max(20, Math.round(INSTANCES * scale));
  const batch = Math.max(1, Math.round(BATCH * scale));
  const durationSec = Math.max(2, DURATION_SEC * scale);

  const alone = await updateAlone(agents, instances, batch);
  const base = await online(agents, instances, batch, durationSec, false);
  const busy = await online(agents, instances, batch, durationSec, true);
  const paced = await online(agents, instances, batch, durationSec, true, START_DELAY_MS);

  const per = (ms: number): number => round((ms * 1000) / Math.max(1, alone.transitions), 2);
  const basP99 = percentile(base.latencies, 99);
  const updP99 = percentile(busy.duringUpdate, 99);
  const figures = {
    scale,
    agents,
    instances,
    batchSize: batch,
    watchSecs: 0,
    updateStatus: alone.status,
    updateWallMs: round(alone.wallMs, 1),
    batches: alone.batches,
    transitions: alone.transitions,
    statusUpdates: alone.statuses,
    eventsAppended: alone.events,
    controllerSubmits: alone.controller.calls,
    controllerEvents: alone.controller.events,
    controllerDecideMs: round(alone.controller.decideMs, 1),
    controllerApplyMs: round(alone.controller.syncMs - alone.controller.decideMs, 1),
    controllerUsPerTransition: per(alone.controller.syncMs),
    controllerDecideUsPerTransition: per(alone.controller.decideMs),
    controllerMsPerSubmit: round(alone.controller.syncMs / Math.max(1, alone.controller.calls), 3),
    passes: alone.passes,
    passMs: round(alone.passMs, 1),
    statusMs: round(alone.statusCost.syncMs, 1),
    masterSyncUsPerTransition: per(alone.controller.syncMs + alone.passMs + alone.statusCost.syncMs),
    busyUsPerTransition: per(alone.busyMs),
    wallUsPerTransition: per(alone.wallMs),
    goalUsPerTransition: GOAL_US_PER_TRANSITION,
    onlineJobsPerSec: JOBS_PER_SEC,
    onlineTasksPerJob: TASKS_PER_JOB,
    onlineSeconds: durationSec,
    baseJobs: base.jobs,
    baseUnplaced: base.unplaced,
    baseLatencyP50Ms: round(percentile(base.latencies, 50), 2),
    baseLatencyP99Ms: round(basP99, 2),
    baseLatencyMaxMs: round(percentile(base.latencies, 100), 2),
    baseBusyShare: round(base.busyShare, 3),
    baseEventsAppended: base.events,
    baseSnapshotSerializeMs: round(base.snapshotMs, 1),
    updateJobs: busy.jobs,
    updateJobsDuringUpdate: busy.duringUpdate.length,
    updateUnplaced: busy.unplaced,
    updateLatencyP50Ms: round(percentile(busy.duringUpdate, 50), 2),
    updateLatencyP99Ms: round(updP99, 2),
    updateLatencyMaxMs: round(percentile(busy.duringUpdate, 100), 2),
    updateBusyShare: round(busy.busyShare, 3),
    updateEventsAppended: busy.events,
    updateSnapshotSerializeMs: round(busy.snapshotMs, 1),
    updatesDuringOnline: busy.updatesStarted,
    updatesRolledForwardDuringOnline: busy.updatesRolledForward,
    transitionsDuringOnline: busy.transitions,
    controllerSubmitsDuringOnline: busy.controller.calls,
    controllerMsDuringOnline: round(busy.controller.syncMs, 1),
    p99Ratio: round(updP99 / basP99, 2),
    pacedStartDelayMs: START_DELAY_MS,
    pacedJobsDuringUpdate: paced.duringUpdate.length,
    pacedUnplaced: paced.unplaced,
    pacedLatencyP50Ms: round(percentile(paced.duringUpdate, 50), 2),
    pacedLatencyP99Ms: round(percentile(paced.duringUpdate, 99), 2),
    pacedLatencyMaxMs: round(percentile(paced.duringUpdate, 100), 2),
    pacedBusyShare: round(paced.busyShare, 3),
    pacedEventsAppended: paced.events,
    pacedTransitions: paced.transitions,
    pacedControllerSubmits: paced.controller.calls,
    pacedControllerMs: round(paced.controller.syncMs, 1),
    pacedP99Ratio: round(percentile(paced.duringUpdate, 99) / basP99, 2),
    p50Ratio: round(percentile(busy.duringUpdate, 50) / percentile(base.latencies, 50), 2),
    goalP99Ratio: GOAL_P99_RATIO,
    seed: C1M_SEED,
  };
  const n = (x: number): string => x.toLocaleString('en-US');
  printTable(
    `update: ${n(instances)} instances on ${n(agents)} hollow agents, batches of ${n(batch)}, watchSecs 0, maxUnavailable ${n(batch)}; ` +
      `the master's controller, scheduler pass and status recording on the hollow cell's log`,
    ['figure', 'value'],
    [
      ['update ended', figures.updateStatus],
      ['update wall ms', figures.updateWallMs],
      ['batches', figures.batches],
      ['instance transitions (UPDATING + UPDATED actions)', figures.transitions],
      ['status updates recorded / events appended', `${figures.statusUpdates} / ${figures.eventsAppended}`],
      ['controller submits (updateSteps runs)', figures.controllerSubmits],
      ['controller updateSteps ms (all runs)', figures.controllerDecideMs],
      ['controller apply of its events ms', figures.controllerApplyMs],
      ['controller ms per run', figures.controllerMsPerSubmit],
      [`controller µs per transition (goal ≤ ${GOAL_US_PER_TRANSITION})`, figures.controllerUsPerTransition],
      ['scheduler passes / their work ms', `${figures.passes} / ${figures.passMs}`],
      ['status updates recorded ms', figures.statusMs],
      ['controller + passes + statuses µs per transition', figures.masterSyncUsPerTransition],
      ['event loop busy µs per transition (fsyncs, snapshots too)', figures.busyUsPerTransition],
      ['wall µs per transition', figures.wallUsPerTransition],
      [`online jobs of ${TASKS_PER_JOB} at ${JOBS_PER_SEC}/s for ${round(durationSec, 1)} s, submit → durable placement:`, ''],
      ['  without an update: jobs / not placed', `${figures.baseJobs} / ${figures.baseUnplaced}`],
      ['  without an update: p50 / p99 / max ms', `${figures.baseLatencyP50Ms} / ${figures.baseLatencyP99Ms} / ${figures.baseLatencyMaxMs}`],
      ['  during updates: jobs / not placed', `${figures.updateJobsDuringUpdate} of ${figures.updateJobs} / ${figures.updateUnplaced}`],
      ['  during updates: p50 / p99 / max ms', `${figures.updateLatencyP50Ms} / ${figures.updateLatencyP99Ms} / ${figures.updateLatencyMaxMs}`],
      [`  p99 ratio (goal ≤ ${GOAL_P99_RATIO}) / p50 ratio`, `${figures.p99Ratio} / ${figures.p50Ratio}`],
      ['  updates started / rolled forward meanwhile', `${figures.updatesDuringOnline} / ${figures.updatesRolledForwardDuringOnline}`],
      ['  instance transitions meanwhile', figures.transitionsDuringOnline],
      ['  controller runs / ms meanwhile', `${figures.controllerSubmitsDuringOnline} / ${figures.controllerMsDuringOnline}`],
      ['  event loop busy without / with', `${figures.baseBusyShare} / ${figures.updateBusyShare}`],
      ['  events appended without / with (a snapshot every 10,000)', `${figures.baseEventsAppended} / ${figures.updateEventsAppended}`],
      ['  snapshot serialize ms at the end, without / with', `${figures.baseSnapshotSerializeMs} / ${figures.updateSnapshotSerializeMs}`],
      [`  paced (new tasks start in ${START_DELAY_MS} ms): jobs / not placed`, `${figures.pacedJobsDuringUpdate} of ${figures.updateJobs} / ${figures.pacedUnplaced}`],
      ['  paced: p50 / p99 / max ms', `${figures.pacedLatencyP50Ms} / ${figures.pacedLatencyP99Ms} / ${figures.pacedLatencyMaxMs}`],
      [`  paced: p99 ratio (goal ≤ ${GOAL_P99_RATIO})`, figures.pacedP99Ratio],
      ['  paced: transitions / controller runs / ms', `${figures.pacedTransitions} / ${figures.pacedControllerSubmits} / ${figures.pacedControllerMs}`],
      ['  paced: event loop busy / events appended', `${figures.pacedBusyShare} / ${figures.pacedEventsAppended}`],
    ],
  );
  return figures;
}
