// cron: 10,000 cron jobs on one schedule, fired together, on 1,000 hollow agents, run by the
// master's own parts on a hollow cell's log (the real EventLog on SQLite, the real apply()):
//   - the run controller, startRunController: runSteps decided inside log.submit at the fire time
//     (its timer, its wake-ups after appends, its FireMemo), as the master starts it;
//   - the job scheduler: MusterFramework and the allocator's OfferCycle, kicked by every append
//     (src/sim/masterloop.ts), which place each run's pending instance and commit TasksLaunched;
//   - the agents' status updates, recorded as the agent link records them (recordStatus, one
//     submit each). The hollow agents report TASK_RUNNING on the turn after a launch is durable and
//     TASK_FINISHED RUN_MS later, so every run has ended long before the next fire (under the
//     default concurrency, forbid, a run still going would skip the next time).
//
// Time is real, not faked: the "every minute" is a 6-field schedule every 20 s
// (`*/20 * * * * *`; every 10 s, the master's default --cron-min-interval, when MUSTER_BENCH_SCALE
// < 1). A fire's work does not depend on the gap between fires, and three fires a minute apart
// would take three minutes. The jobs are created at least LEAD_MS before a fire time.
//
// Per fire, per run: fire latency = the `at` of the TasksLaunched that placed the run's task − the
// run's scheduledAt (goal p99 < 1 s); also the time that TasksLaunched was durable (the master may
// send LAUNCH from then on) and the RunStarted's `at` (the controller's own lateness). The master's
// CPU per fire: process.cpuUsage from 300 ms before the fire time to the last placement, and to the
// last run's TASK_FINISHED recorded (the whole cycle), over the runs. The controller's decide
// (runSteps), apply and append of the fire's RunStarted events are read from its submit.
//
// Where the event loop went until the last placement is read by wrapping the bench's own store
// and framework instances: the store's appends, the log's snapshots (the master's default
// --snapshot-every, 10,000 events: a fire of 10,000 runs writes 10,000 RunStarted in one append,
// so every fire triggers a snapshot of the whole state right after it, before the pass that places
// them), the framework's passes and the accept of their placements.
//
// Then, on the final state (10,000 templates, their runs ended), runSteps alone for a time at which
// all 10,000 are due: with a fresh FireMemo (a controller's first look), with a warm one, on a copy
// of the state without and with a quota on the role; and the apply() of its events on a copy.
// Last, a second cell the same but whose log takes no snapshot (not the master's default), two
// fires: what a fire costs without the snapshot it triggers.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FireMemo, nextFireAfter, validateJobSpec, type JobSpec } from '../src/core/index.js';
import { silentLogger } from '../src/log/index.js';
import { recordStatus } from '../src/master/commands/agents.js';
import type { Decision } from '../src/master/eventlog.js';
import { apply, DEFAULT_MASTER_OPTIONS, deserializeState, EventLog, openStore, serializeState, type CellState, type Event, type Store } from '../src/master/index.js';
import { runSteps, startRunController } from '../src/master/jobs/cron.js';
import type { TaskStatus } from '../src/protocol/index.js';
import { attachMasterLoop, hollowAgents, type MasterLoop } from '../src/sim/index.js';
import { benchScale } from './c1m.js';
import { printTable } from './report.js';
import { percentile, round } from './stats.js';

const AGENTS = 1_000;
const JOBS = 10_000;
const FIRES = 3;
/** Fires of the second cell, whose log takes no snapshot. */
const NO_SNAPSHOT_FIRES = 2;
const ROLE = 'cron';
/** How long a run's task runs on a hollow agent before it reports TASK_FINISHED. */
const RUN_MS = 2_000;
/** The jobs are created at least this long before the first fire time, so that setup never overlaps it. */
const LEAD_MS = 4_000;
/** The CPU and event-loop figures of a fire start this long before its time (a quiet cell: the last fire's runs ended long ago). */
const BEFORE_MS = 300;
/** The most one fire's cycle (to the last TASK_FINISHED) may take before the benchmark gives up on it. */
const FIRE_LIMIT_MS = 60_000;
const GOAL_P99_MS = 1000;
/** runSteps alone is timed this many times (the median is reported). */
const DECIDE_REPEATS = 5;

function scheduleOf(intervalSec: number): string {
  return `*/${intervalSec} * * * * *`;
}

/** cronSpecs: jobs cron/prod/tick<n>, one instance of 0.1 cpu and 64 MiB each, all on one schedule. */
function cronSpecs(count: number, schedule: string): JobSpec[] {
  const out: JobSpec[] = [];
  for (let i = 0; i < count; i++) {
    out.push(
      validateJobSpec({
        job: `${ROLE}/prod/tick${i}`,
        kind: 'cron',
        cron: { schedule, timezone: 'UTC' },
        resources: { cpus: 0.1, mem: '64MiB', disk: '16MiB' },
        processes: [{ name: 'main', cmd: `sleep ${RUN_MS / 1000}` }],
      }),
    );
  }
  return out;
}

// ---- what a fire did -------------------------------------------------------------------------

interface Sample {
  perf: number;
  cpu: NodeJS.CpuUsage;
  elu: ReturnType<typeof performance.eventLoopUtilization>;
}

function sample(): Sample {
  return { perf: performance.now(), cpu: process.cpuUsage(), elu: performance.eventLoopUtilization() };
}

/** cpuMs: user + system CPU between two samples. */
function cpuMs(from: Sample, to: Sample): number {
  return (to.cpu.user - from.cpu.user + to.cpu.system - from.cpu.system) / 1000;
}

interface ControllerSubmit {
  events: number;
  decideMs: number;
  applyMs: number;
  /** From the submit to its events being durable (the append's listeners called): the wait for the batch, the append. */
  durableMs: number;
}

/** Where the event loop went from a fire's start to its last placement, ms. */
interface Spans {
  /** store.append calls (one per group commit): JSON of every event, the SQLite transaction, its fsync. */
  appends: number;
  appendEvents: number;
  appendMs: number;
  /** Snapshots (every 10,000 events, as the master's default --snapshot-every): serializeState and its write, from the append before it. */
  snapshots: number;
  snapshotMs: number;
  /** The framework's answers to offers: pendingTasks, place() and the launches (MusterFramework.resourceOffers). */
  passes: number;
  passMs: number;
  /** The submits of placements: the master's accept checks, apply() of TasksLaunched. */
  acceptMs: number;
}

function newSpans(): Spans {
  return { appends: 0, appendEvents: 0, appendMs: 0, snapshots: 0, snapshotMs: 0, passes: 0, passMs: 0, acceptMs: 0 };
}

interface Fire {
  scheduledAt: number;
  started: number;
  skipped: number;
  /** RunStarted's at − scheduledAt, per run. */
  startMs: number[];
  /** TasksLaunched's at − scheduledAt, per run. */
  launchMs: number[];
  /** When that TasksLaunched was durable (the log's clock in the append's listener) − scheduledAt. */
  durableMs: number[];
  /** TasksLaunched events that placed runs of this fire. */
  passes: number;
  finished: number;
  controller?: ControllerSubmit;
  /** Looks of the controller that wrote nothing, from this fire's start to the next one's. */
  emptyLooks: number;
  emptyLookMs: number;
  statusSubmits: number;
  statusMs: number;
  /** Spans until the last placement. */
  spans: Spans;
  before?: Sample;
  placed?: Sample;
  ended?: Sample;
}

function newFire(scheduledAt: number): Fire {
  return { scheduledAt, started: 0, skipped: 0, startMs: [], launchMs: [], durableMs: [], passes: 0, finished: 0, emptyLooks: 0, emptyLookMs: 0, statusSubmits: 0, statusMs: 0, spans: newSpans() };
}

/**
 * Watch follows the log: which run belongs to which fire, when its task was placed and when it
 * finished; and, by wrapping the log's submit (the master's code is not touched), what the run
 * controller's submits cost. The controller's submits are told apart by their decide function,
 * the one startRunController hands its loop (it calls runSteps).
 */
class Watch {
  readonly fires = new Map<number, Fire>();
  private readonly runOf = new Map<string, Fire>();
  private readonly taskFire = new Map<string, Fire>();
  private current: Fire | undefined;
  private statusMarked = false;
  private controllerDecide: unknown;
  /** The controller's submit of a fire's RunStarted events, until they are durable. */
  private pendingStart: { c: ControllerSubmit; t0: number } | undefined;
  private lastAppendEnd = 0;
  private readonly restores: (() => void)[] = [];

  constructor(
    private readonly log: EventLog,
    store: Store,
    loop: MasterLoop,
  ) {
    const off = log.onAppended((batch) => {
      const now = log.now();
      for (const { event } of batch) {
        if (event.type === 'RunStarted') {
          const at = event.run.scheduledAt;
          if (at === undefined) continue;
          const fire = this.fire(at);
          fire.started++;
          fire.startMs.push(event.at - at);
          this.runOf.set(event.run.key, fire);
          if (this.pendingStart !== undefined) {
            this.pendingStart.c.durableMs = performance.now() - this.pendingStart.t0;
            this.pendingStart = undefined;
          }
        } else if (event.type === 'RunSkipped') {
          if (event.times !== undefined) this.fire(event.times.last).skipped++;
        } else if (event.type === 'TasksLaunched') {
          const seen = new Set<Fire>();
          for (const t of event.tasks) {
            const fire = this.runOf.get(t.job);
            if (fire === undefined) continue;
            this.taskFire.set(t.taskId, fire);
            fire.launchMs.push(event.at - fire.scheduledAt);
            fire.durableMs.push(now - fire.scheduledAt);
            seen.add(fire);
            if (fire.durableMs.length === fire.started) fire.placed = sample();
          }
          for (const f of seen) f.passes++;
        } else if (event.type === 'TaskStatusUpdated' && event.status.state === 'TASK_FINISHED') {
          const fire = this.taskFire.get(event.status.taskId);
          if (fire === undefined) continue;
          this.taskFire.delete(event.status.taskId);
          if (++fire.finished === fire.started) fire.ended = sample();
        }
      }
    });
    this.restores.push(off);

    // The master's code is not touched: the bench's own instances get timing wrappers.
    const spans = (): Spans | undefined => (this.current !== undefined && this.current.placed === undefined ? this.current.spans : undefined);
    const append = store.append.bind(store);
    store.append = async (firstIndex, events) => {
      const t0 = performance.now();
      try {
        await append(firstIndex, events);
      } finally {
        this.lastAppendEnd = performance.now();
        const s = spans();
        if (s !== undefined) {
          s.appends++;
          s.appendEvents += events.length;
          s.appendMs += this.lastAppendEnd - t0;
        }
      }
    };
    const saveSnapshot = store.saveSnapshot.bind(store);
    store.saveSnapshot = async (index, data) => {
      try {
        await saveSnapshot(index, data);
      } finally {
        const s = spans();
        if (s !== undefined) {
          s.snapshots++;
          s.snapshotMs += performance.now() - this.lastAppendEnd;
        }
      }
    };
    const framework = loop.framework;
    const resourceOffers = framework.resourceOffers.bind(framework);
    framework.resourceOffers = (offers, now) => {
      const t0 = performance.now();
      try {
        return resourceOffers(offers, now);
      } finally {
        const s = spans();
        if (s !== undefined) {
          s.passes++;
          s.passMs += performance.now() - t0;
        }
      }
    };
    this.restores.push(() => {
      Reflect.deleteProperty(store, 'append');
      Reflect.deleteProperty(store, 'saveSnapshot');
      Reflect.deleteProperty(framework, 'resourceOffers');
    });

    const real = log.submit.bind(log);
    const self = log as { submit: EventLog['submit'] };
    self.submit = <T>(decide: (state: CellState, now: number) => Decision<T>, by?: string): Promise<T> => {
      const isController = this.isController(decide);
      const isStatus = this.statusMarked;
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
      const fire = this.current;
      if (isStatus) {
        if (fire !== undefined) {
          fire.statusSubmits++;
          fire.statusMs += syncMs;
        }
      } else if (isController) {
        const start = events.find((e) => e.type === 'RunStarted');
        const at = start?.type === 'RunStarted' ? start.run.scheduledAt : undefined;
        if (at !== undefined) {
          const c: ControllerSubmit = { events: events.length, decideMs, applyMs: syncMs - decideMs, durableMs: Number.NaN };
          this.fire(at).controller = c;
          this.pendingStart = { c, t0 };
        } else if (fire !== undefined) {
          fire.emptyLooks++;
          fire.emptyLookMs += syncMs;
        }
      } else if (events.some((e) => e.type === 'TasksLaunched')) {
        const s = spans();
        if (s !== undefined) s.acceptMs += syncMs;
      }
      return done;
    };
    this.restores.push(() => Reflect.deleteProperty(log, 'submit'));
  }

  /** begin takes a fire's first sample and counts what follows towards it. */
  begin(scheduledAt: number): void {
    const fire = this.fire(scheduledAt);
    fire.before = sample();
    this.current = fire;
  }

  /** asStatus runs f with every submit it makes counted as a status update. */
  asStatus(f: () => void): void {
    this.statusMarked = true;
    try {
      f();
    } finally {
      this.statusMarked = false;
    }
  }

  fire(scheduledAt: number): Fire {
    let f = this.fires.get(scheduledAt);
    if (f === undefined) this.fires.set(scheduledAt, (f = newFire(scheduledAt)));
    return f;
  }

  close(): void {
    for (const r of this.restores.splice(0).reverse()) r();
  }

  private isController(decide: unknown): boolean {
    if (this.controllerDecide !== undefined) return decide === this.controllerDecide;
    if (typeof decide === 'function' && decide.toString().includes('runSteps(')) this.controllerDecide = decide;
    return decide === this.controllerDecide;
  }
}

// ---- the hollow agents -----------------------------------------------------------------------

/**
 * Runners answer for the hollow agents: a task whose launch is durable reports TASK_RUNNING on the
 * next turn and TASK_FINISHED RUN_MS later, each recorded as the agent link records one status
 * update (its own submit, recordStatus).
 */
class Runners {
  private readonly queue: { agentId: string; taskId: string; state: TaskStatus['state'] }[] = [];
  private scheduled = false;
  private seq = 0;
  private failure: Error | undefined;
  private readonly off: () => void;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly log: EventLog,
    private readonly watch: Watch,
  ) {
    this.off = log.onAppended((batch) => {
      const ending: { agentId: string; taskId: string }[] = [];
      for (const { event } of batch) {
        if (event.type !== 'TasksLaunched') continue;
        for (const t of event.tasks) {
          this.queue.push({ agentId: t.agentId, taskId: t.taskId, state: 'TASK_RUNNING' });
          ending.push({ agentId: t.agentId, taskId: t.taskId });
        }
      }
      if (ending.length > 0) {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          for (const e of ending) this.queue.push({ ...e, state: 'TASK_FINISHED' });
          this.schedule();
        }, RUN_MS);
        this.timers.add(timer);
      }
      this.schedule();
    });
  }

  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  close(): void {
    this.off();
    for (const t of this.timers) clearTimeout(t);
  }

  private schedule(): void {
    if (this.queue.length === 0 || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.report());
  }

  private report(): void {
    this.scheduled = false;
    const queue = this.queue.splice(0);
    this.watch.asStatus(() => {
      for (const q of queue) {
        const status: TaskStatus = { taskId: q.taskId, state: q.state, uuid: `c${(++this.seq).toString(36)}`, timestamp: this.log.now() };
        this.log.submit((state, now) => recordStatus(state, now, q.agentId, status)).catch((e: unknown) => {
          this.failure ??= e instanceof Error ? e : new Error(String(e));
        });
      }
    });
  }
}

async function until(done: () => boolean, limitMs: number, what: string, check: () => void): Promise<void> {
  const by = performance.now() + limitMs;
  while (!done()) {
    check();
    if (performance.now() > by) throw new Error(`gave up waiting for ${what} after ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

// ---- runSteps alone --------------------------------------------------------------------------

interface DecideFigures {
  due: number;
  events: number;
  freshMemoMs: number;
  warmMemoMs: number;
  /** On a copy of the state, without and with a quota on the role. */
  copyMs: number;
  withQuotaMs: number;
  applyMs: number;
}

function median(xs: number[]): number {
  return percentile(xs, 50);
}

/** decideAlone times runSteps on the cell's state at a time when every template is due, and the apply() of its events on a copy. */
function decideAlone(state: CellState, schedule: string): DecideFigures {
  let cursor = 0;
  for (const key of state.templates) cursor = Math.max(cursor, state.jobs.get(key)?.runs?.lastScheduledAt ?? 0);
  const at = (nextFireAfter(schedule, 'UTC', cursor) as number) + 50;
  const fresh: number[] = [];
  const warm: number[] = [];
  const memo = new FireMemo();
  let steps = runSteps(state, at, memo);
  for (let i = 0; i < DECIDE_REPEATS; i++) {
    const t0 = performance.now();
    runSteps(state, at, new FireMemo());
    fresh.push(performance.now() - t0);
    const t1 = performance.now();
    steps = runSteps(state, at, memo);
    warm.push(performance.now() - t1);
  }
  const due = steps.events.filter((e) => e.type === 'RunStarted').length;

  // A copy of the state with a quota on the role, ample for every run: each run's checkQuota adds up the role's usage.
  // Timed beside the same copy without the quota: a copy's objects are laid out afresh.
  const copy = deserializeState(serializeState(state));
  const timeOn = (s: CellState): number => {
    const xs: number[] = [];
    for (let i = 0; i < DECIDE_REPEATS; i++) {
      const t0 = performance.now();
      runSteps(s, at, memo);
      xs.push(performance.now() - t0);
    }
    return median(xs);
  };
  const copyMs = timeOn(copy);
  apply(copy, { type: 'QuotaSet', at, role: ROLE, quota: { cpusMilli: 1_000_000_000, memMiB: 1_000_000_000 } });
  const quotaMs = timeOn(copy);

  const plain = deserializeState(serializeState(state));
  const t0 = performance.now();
  for (const e of steps.events) apply(plain, e);
  const applyMs = performance.now() - t0;
  return { due, events: steps.events.length, freshMemoMs: median(fresh), warmMemoMs: median(warm), copyMs, withQuotaMs: quotaMs, applyMs };
}

// ---- the benchmark ---------------------------------------------------------------------------

interface Phase {
  fires: Fire[];
  createMs: number;
  launches: number;
  events: number;
  decide?: DecideFigures;
}

/**
 * phase builds a cell (agents, then the cron jobs, at least LEAD_MS before a fire time), starts the
 * master's parts and lets `fires` fire times pass, each until its last run has finished.
 */
async function phase(o: { agents: number; specs: JobSpec[]; schedule: string; fires: number; snapshotEvery: number; decide: boolean }): Promise<Phase> {
  // The master's log as `muster master` opens it: SQLite (WAL, synchronous=FULL).
  const dir = await mkdtemp(join(tmpdir(), 'muster-cron-bench-'));
  const store = openStore(`sqlite:${join(dir, 'master.db')}`);
  let controller: { close(): void } | undefined;
  let loop: MasterLoop | undefined;
  let watch: Watch | undefined;
  let runners: Runners | undefined;
  try {
    const log = await EventLog.open(store, { snapshotEvery: o.snapshotEvery, logger: silentLogger });
    loop = attachMasterLoop(log);
    const w = (watch = new Watch(log, store, loop));
    const r = (runners = new Runners(log, w));
    const hollow = hollowAgents(o.agents);
    await log.submit((_s, now) => ({ events: hollow.map((agent): Event => ({ type: 'AgentRegistered', at: now, agent })), result: undefined }));
    const next = nextFireAfter(o.schedule, 'UTC', Date.now()) as number;
    if (next - Date.now() < LEAD_MS) await sleep(next - Date.now() + 50);
    const c0 = performance.now();
    const createdAt = await log.submit((_s, now) => ({ events: o.specs.map((spec): Event => ({ type: 'JobCreated', at: now, spec })), result: now }));
    const createMs = performance.now() - c0;
    controller = startRunController(log, silentLogger);

    const times: number[] = [];
    let t = createdAt;
    for (let i = 0; i < o.fires; i++) times.push((t = nextFireAfter(o.schedule, 'UTC', t) as number));
    for (const at of times) {
      await sleep(at - BEFORE_MS - Date.now());
      w.begin(at);
      const fire = w.fire(at);
      await until(() => fire.ended !== undefined || (fire.started === 0 && fire.skipped > 0), FIRE_LIMIT_MS, `the fire at ${new Date(at).toISOString()} to end`, () => r.check());
      await log.flushed();
    }
    controller.close();
    controller = undefined;
    return {
      fires: times.map((at) => w.fire(at)),
      createMs,
      launches: loop.launchesSent(),
      events: log.lastIndex,
      ...(o.decide ? { decide: decideAlone(log.state, o.schedule) } : {}),
    };
  } finally {
    controller?.close();
    loop?.close();
    runners?.close();
    watch?.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runCronBench(): Promise<Record<string, unknown>> {
  const scale = benchScale();
  const agents = Math.max(10, Math.round(AGENTS * scale));
  const jobs = Math.max(10, Math.round(JOBS * scale));
  const intervalSec = scale < 1 ? 10 : 20;
  const schedule = scheduleOf(intervalSec);
  const specs = cronSpecs(jobs, schedule);
  const main = await phase({ agents, specs, schedule, fires: FIRES, snapshotEvery: DEFAULT_MASTER_OPTIONS.snapshotEvery, decide: true });
  // The same with the log's snapshots out of the way (not the master's default): what a fire costs without the one it triggers.
  const noSnapshot = await phase({ agents, specs, schedule, fires: NO_SNAPSHOT_FIRES, snapshotEvery: Number.MAX_SAFE_INTEGER, decide: false });
  return report({ scale, agents, jobs, schedule, intervalSec, createMs: main.createMs, fires: main.fires, decide: main.decide as DecideFigures, launches: main.launches, events: main.events, noSnapshot: noSnapshot.fires });
}

interface Outcome {
  scale: number;
  agents: number;
  jobs: number;
  schedule: string;
  intervalSec: number;
  createMs: number;
  fires: Fire[];
  decide: DecideFigures;
  launches: number;
  events: number;
  noSnapshot: Fire[];
}

/** fireFigures: one fire's figures, as the JSON holds them. */
function fireFigures(f: Fire, i: number) {
  const before = f.before as Sample;
  const placed = f.placed;
  const ended = f.ended;
  const placeCpu = placed === undefined ? Number.NaN : cpuMs(before, placed);
  const cycleCpu = ended === undefined ? Number.NaN : cpuMs(before, ended);
  const busy = placed === undefined ? Number.NaN : performance.eventLoopUtilization(placed.elu, before.elu).active;
  return {
    fire: i + 1,
    scheduledAt: new Date(f.scheduledAt).toISOString(),
    runsStarted: f.started,
    runsSkipped: f.skipped,
    placed: f.launchMs.length,
    placementPasses: f.passes,
    startLatencyP50Ms: round(percentile(f.startMs, 50), 1),
    startLatencyMaxMs: round(percentile(f.startMs, 100), 1),
    fireLatencyP50Ms: round(percentile(f.launchMs, 50), 1),
    fireLatencyP99Ms: round(percentile(f.launchMs, 99), 1),
    fireLatencyMaxMs: round(percentile(f.launchMs, 100), 1),
    durableLatencyP50Ms: round(percentile(f.durableMs, 50), 1),
    durableLatencyP99Ms: round(percentile(f.durableMs, 99), 1),
    durableLatencyMaxMs: round(percentile(f.durableMs, 100), 1),
    fireToLastPlacedMs: round(percentile(f.durableMs, 100), 1),
    controllerEvents: f.controller?.events ?? 0,
    controllerDecideMs: round(f.controller?.decideMs ?? Number.NaN, 1),
    controllerApplyMs: round(f.controller?.applyMs ?? Number.NaN, 1),
    controllerDurableMs: round(f.controller?.durableMs ?? Number.NaN, 1),
    controllerEmptyLooks: f.emptyLooks,
    controllerEmptyLookMs: round(f.emptyLookMs, 1),
    statusSubmits: f.statusSubmits,
    statusMs: round(f.statusMs, 1),
    appends: f.spans.appends,
    appendEvents: f.spans.appendEvents,
    appendMs: round(f.spans.appendMs, 1),
    snapshots: f.spans.snapshots,
    snapshotMs: round(f.spans.snapshotMs, 1),
    frameworkPasses: f.spans.passes,
    frameworkPassMs: round(f.spans.passMs, 1),
    acceptMs: round(f.spans.acceptMs, 1),
    cpuToPlacedMs: round(placeCpu, 1),
    cpuToPlacedUsPerRun: round((placeCpu * 1000) / Math.max(1, f.started), 1),
    eventLoopBusyToPlacedMs: round(busy, 1),
    cpuCycleMs: round(cycleCpu, 1),
    cpuCycleUsPerRun: round((cycleCpu * 1000) / Math.max(1, f.started), 1),
  };
}

function report(o: Outcome): Record<string, unknown> {
  const perFire = o.fires.map(fireFigures);
  const all = (pick: (f: Fire) => number[]): number[] => o.fires.flatMap(pick);
  const figures = {
    scale: o.scale,
    agents: o.agents,
    cronJobs: o.jobs,
    schedule: o.schedule,
    intervalSec: o.intervalSec,
    clock: 'real (Date.now); a 6-field schedule stands in for every minute',
    runTaskMs: RUN_MS,
    fires: FIRES,
    createJobsMs: round(o.createMs, 1),
    fireLatencyP50Ms: round(percentile(all((f) => f.launchMs), 50), 1),
    fireLatencyP99Ms: round(percentile(all((f) => f.launchMs), 99), 1),
    fireLatencyMaxMs: round(percentile(all((f) => f.launchMs), 100), 1),
    durableLatencyP50Ms: round(percentile(all((f) => f.durableMs), 50), 1),
    durableLatencyP99Ms: round(percentile(all((f) => f.durableMs), 99), 1),
    durableLatencyMaxMs: round(percentile(all((f) => f.durableMs), 100), 1),
    goalP99Ms: GOAL_P99_MS,
    noSnapshotFires: o.noSnapshot.length,
    noSnapshotFireLatencyP50Ms: round(percentile(o.noSnapshot.flatMap((f) => f.launchMs), 50), 1),
    noSnapshotFireLatencyP99Ms: round(percentile(o.noSnapshot.flatMap((f) => f.launchMs), 99), 1),
    noSnapshotFireLatencyMaxMs: round(percentile(o.noSnapshot.flatMap((f) => f.launchMs), 100), 1),
    noSnapshotCpuToPlacedUsPerRun: round(median(o.noSnapshot.map((f) => (f.before !== undefined && f.placed !== undefined ? (cpuMs(f.before, f.placed) * 1000) / Math.max(1, f.started) : Number.NaN))), 1),
    snapshotMsPerFire: o.fires.map((f) => round(f.spans.snapshotMs, 1)),
    decideDueJobs: o.decide.due,
    decideEvents: o.decide.events,
    decideFreshMemoMs: round(o.decide.freshMemoMs, 1),
    decideWarmMemoMs: round(o.decide.warmMemoMs, 1),
    decideOnCopyMs: round(o.decide.copyMs, 1),
    decideWithQuotaMs: round(o.decide.withQuotaMs, 1),
    decideApplyMs: round(o.decide.applyMs, 1),
    launchesSent: o.launches,
    eventsAppended: o.events,
    perFire,
    noSnapshotPerFire: o.noSnapshot.map(fireFigures),
  };

  const n = (x: number): string => x.toLocaleString('en-US');
  const rows: (string | number)[][] = [];
  const row = (label: string, pick: (f: (typeof perFire)[number]) => string | number): void => {
    rows.push([label, ...perFire.map(pick)]);
  };
  row('scheduled at', (f) => f.scheduledAt.slice(11, 19));
  row('runs started / skipped', (f) => `${f.runsStarted} / ${f.runsSkipped}`);
  row('placed / in TasksLaunched events', (f) => `${f.placed} / ${f.placementPasses}`);
  row('scheduled → RunStarted p50 / max ms', (f) => `${f.startLatencyP50Ms} / ${f.startLatencyMaxMs}`);
  row(`fire latency: scheduled → TasksLaunched p50 / p99 / max ms (goal p99 < ${GOAL_P99_MS})`, (f) => `${f.fireLatencyP50Ms} / ${f.fireLatencyP99Ms} / ${f.fireLatencyMaxMs}`);
  row('scheduled → TasksLaunched durable p50 / p99 / max ms', (f) => `${f.durableLatencyP50Ms} / ${f.durableLatencyP99Ms} / ${f.durableLatencyMaxMs}`);
  row('controller: events / runSteps ms / apply ms / durable ms', (f) => `${f.controllerEvents} / ${f.controllerDecideMs} / ${f.controllerApplyMs} / ${f.controllerDurableMs}`);
  row('controller looks that wrote nothing / their ms', (f) => `${f.controllerEmptyLooks} / ${f.controllerEmptyLookMs}`);
  row('  store appends: calls / events / ms', (f) => `${f.appends} / ${f.appendEvents} / ${f.appendMs}`);
  row('  snapshots (serialize + write): count / ms', (f) => `${f.snapshots} / ${f.snapshotMs}`);
  row('  framework passes (pending, place(), launches): count / ms', (f) => `${f.frameworkPasses} / ${f.frameworkPassMs}`);
  row('  accept checks + apply of TasksLaunched ms', (f) => f.acceptMs);
  row('master CPU, fire → last placed: ms / µs per run', (f) => `${f.cpuToPlacedMs} / ${f.cpuToPlacedUsPerRun}`);
  row('event loop busy, fire → last placed ms', (f) => f.eventLoopBusyToPlacedMs);
  row('status updates recorded / their ms', (f) => `${f.statusSubmits} / ${f.statusMs}`);
  row('master CPU, fire → last TASK_FINISHED: ms / µs per run', (f) => `${f.cpuCycleMs} / ${f.cpuCycleUsPerRun}`);
  printTable(
    `cron: ${n(o.jobs)} cron jobs on \`${o.schedule}\` (every ${o.intervalSec} s, standing in for every minute; real clock) on ${n(o.agents)} hollow agents; ` +
      `the master's run controller, scheduler (framework + offer cycle) and status recording on a SQLite log; runs take ${RUN_MS / 1000} s`,
    ['figure', ...perFire.map((f) => `fire ${f.fire}`)],
    rows,
  );
  printTable(
    `cron: all fires, and runSteps alone on the final state with every one of ${n(o.decide.due)} templates due`,
    ['figure', 'value'],
    [
      [`fire latency p50 / p99 / max ms (goal p99 < ${GOAL_P99_MS})`, `${figures.fireLatencyP50Ms} / ${figures.fireLatencyP99Ms} / ${figures.fireLatencyMaxMs}`],
      ['to a durable TasksLaunched p50 / p99 / max ms', `${figures.durableLatencyP50Ms} / ${figures.durableLatencyP99Ms} / ${figures.durableLatencyMaxMs}`],
      [`with no snapshot in the way (a second cell, ${NO_SNAPSHOT_FIRES} fires): p50 / p99 / max ms`, `${figures.noSnapshotFireLatencyP50Ms} / ${figures.noSnapshotFireLatencyP99Ms} / ${figures.noSnapshotFireLatencyMaxMs}`],
      ['  master CPU fire → last placed µs per run (median of its fires)', figures.noSnapshotCpuToPlacedUsPerRun],
      ['runSteps, fresh FireMemo ms', figures.decideFreshMemoMs],
      ['runSteps, warm FireMemo ms', figures.decideWarmMemoMs],
      ['runSteps on a copy of the state, without / with a quota on the role ms', `${figures.decideOnCopyMs} / ${figures.decideWithQuotaMs}`],
      [`apply() of its ${n(o.decide.events)} events ms`, figures.decideApplyMs],
    ],
  );
  return figures;
}
