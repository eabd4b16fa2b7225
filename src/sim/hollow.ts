// hollow: a cell of hollow agents driven by the master's real write path, for the scheduling
// benchmarks. Agents are AgentRegistered events with nothing behind them (no process, no stream);
// jobs are JobCreated events with validated specs. A pass does what the master's job scheduler
// does, with the same code: build the scheduler input from the cell state (master/jobs/input.ts),
// call place(), and commit the placements as one TasksLaunched event through the real EventLog
// over the real SQLite store (WAL, synchronous=FULL), so that every placement a benchmark counts
// was durable before it was counted.
//
// It does not use the master's framework (offers, agent links): every reachable agent counts as
// offered its free resources, as in `muster job plan`. No task ever reports back, so a placed task
// stays TASK_STAGING and holds its resources for good, which is what a packing benchmark wants.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeTaskId, MusterError, parseJobKey, validateJobSpec, type JobSpec } from '../core/index.js';
import { silentLogger } from '../log/index.js';
import { AgentSlotCache, EventLog, NO_SLACK, openStore, pendingTasks, runningOfJob, runningOnAgent, type CellState, type Event, type Store } from '../master/index.js';
import { DEFAULT_PLACEMENT_OPTIONS, place } from '../scheduler/index.js';
import type { PendingTask, PlacementInput, PlacementOptions, PlacementResult } from '../scheduler/index.js';
import { mulberry32 } from './openb.js';

export type HollowAgent = Extract<Event, { type: 'AgentRegistered' }>['agent'];
type LaunchedTask = Extract<Event, { type: 'TasksLaunched' }>['tasks'][number];

/** MAX_TASKS_PER_PASS: the most tasks one pass places, so that one TasksLaunched stays a sane size. */
export const MAX_TASKS_PER_PASS = 10_000;
/** MAX_HOLLOW_AGENTS bounds a hollow cell (10× the largest benchmark). */
export const MAX_HOLLOW_AGENTS = 100_000;
/** MAX_HOLLOW_JOBS bounds the jobs made at once by hollowJobs. */
export const MAX_HOLLOW_JOBS = 100_000;
/** Events per submit when registering agents or creating jobs: one decision, one transaction. */
const EVENTS_PER_SUBMIT = 10_000;

/** HollowAgentOptions shape a fleet of hollow agents; every field has a benchmark default. */
export interface HollowAgentOptions {
  readonly cpus?: number;
  readonly memMiB?: number;
  readonly diskMiB?: number;
  /** Racks r0..r(racks-1), agents dealt round-robin. */
  readonly racks?: number;
  /** Zones a, b, c, d…, at most 26. */
  readonly zones?: number;
  /** Every gpuEvery-th agent has 8 GPUs; 0: none do. */
  readonly gpuEvery?: number;
}

/**
 * hollowAgents makes count agent registrations: 32 cpus, 128 GiB, 1 TiB, ports 31000-32000,
 * attributes rack, zone and os, and 8 GPUs on every 25th (4%). Ids are deterministic so that two
 * runs build the same cell.
 */
export function hollowAgents(count: number, options: HollowAgentOptions = {}): HollowAgent[] {
  checkCount('agents', count, MAX_HOLLOW_AGENTS);
  const cpus = options.cpus ?? 32;
  const racks = options.racks ?? 100;
  const zones = options.zones ?? 4;
  const gpuEvery = options.gpuEvery ?? 25;
  checkCount('racks', racks, 100_000, 1);
  checkCount('zones', zones, 26, 1);
  checkCount('gpuEvery', gpuEvery, MAX_HOLLOW_AGENTS);
  const resources = {
    cpusMilli: Math.round(cpus * 1000),
    memMiB: options.memMiB ?? 128 * 1024,
    diskMiB: options.diskMiB ?? 1024 * 1024,
    gpus: 0,
    ports: [{ begin: 31000, end: 32000 }],
  };
  if (!(resources.cpusMilli > 0 && resources.memMiB > 0 && resources.diskMiB >= 0)) {
    throw new MusterError('INVALID_ARGUMENT', 'hollow agents need positive cpus and mem');
  }
  const withGpus = { ...resources, gpus: 8 };
  const out: HollowAgent[] = [];
  for (let i = 0; i < count; i++) {
    const hostname = `hollow-${i}.sim`;
    out.push({
      agentId: `hollow-${i}`,
      hostname,
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      port: 5051,
      resources: gpuEvery > 0 && i % gpuEvery === gpuEvery - 1 ? withGpus : resources,
      attributes: { rack: `r${i % racks}`, zone: String.fromCharCode(97 + (i % zones)), os: 'linux' },
      version: '0.1.0',
    });
  }
  return out;
}

/**
 * HOLLOW_CONSTRAINTS are the constraints hollow jobs take, one per job in turn: a zone choice, a
 * rack exclusion, a limit per host, an os match and none, so that passes exercise every filter.
 */
export const HOLLOW_CONSTRAINTS: readonly Readonly<Record<string, string>>[] = Object.freeze([
  { zone: 'a|b' },
  { rack: '!r7' },
  { host: 'limit:1' },
  { os: 'linux' },
  { zone: 'c|d' },
  {},
]);

export interface HollowJobOptions {
  /** Job names are <role>/prod/<prefix><n>; distinct prefixes keep sets of jobs apart. */
  readonly role?: string;
  readonly prefix?: string;
  /** Number of the first job (so that later waves do not replace earlier jobs). */
  readonly first?: number;
  /** Seeds which jobs ask for a port and which constraint each gets. */
  readonly seed?: number;
}

/**
 * hollowJobs makes count job specs of perJob instances each, validated as a user's would be:
 * 0.25 cpu, 256 MiB, 64 MiB disk, a port for about a third of the jobs, one constraint each from
 * HOLLOW_CONSTRAINTS (seeded).
 */
export function hollowJobs(count: number, perJob: number, options: HollowJobOptions = {}): JobSpec[] {
  checkCount('jobs', count, MAX_HOLLOW_JOBS);
  checkCount('instances per job', perJob, 10_000, 1);
  const random = mulberry32(options.seed ?? 1);
  const role = options.role ?? 'bench';
  const prefix = options.prefix ?? 'job';
  const first = options.first ?? 0;
  const out: JobSpec[] = [];
  for (let j = 0; j < count; j++) {
    const constraints = HOLLOW_CONSTRAINTS[Math.floor(random() * HOLLOW_CONSTRAINTS.length)] ?? {};
    const ports = random() < 1 / 3 ? ['http'] : [];
    out.push(
      validateJobSpec({
        job: `${role}/prod/${prefix}${first + j}`,
        instances: perJob,
        resources: { cpus: 0.25, mem: '256MiB', disk: '64MiB', ports },
        processes: [{ name: 'main', cmd: 'sleep infinity' }],
        constraints,
      }),
    );
  }
  return out;
}

/** PassStats: what one pass did and where its time went (ms). */
export interface PassStats {
  readonly pass: number;
  /** Pending tasks handed to place() (at most maxTasksPerPass). */
  readonly tasks: number;
  readonly placed: number;
  readonly unplaced: number;
  /** Building the input: pendingTasks and agentSlots. */
  readonly inputMs: number;
  readonly placeMs: number;
  /** Making the event, apply() and the durable append. */
  readonly commitMs: number;
  /** The part of commitMs before the append: making the event and apply(). */
  readonly applyMs: number;
  readonly totalMs: number;
  /** The jobs that got tasks, with how many each. */
  readonly launched: ReadonlyMap<string, number>;
}

export interface HollowCellOptions {
  /** Folder for the store; a temp dir by default, removed by close(). A given one is kept. */
  readonly dir?: string;
  /** Snapshot every this many events, as `muster master --snapshot-every` (default 10,000). */
  readonly snapshotEvery?: number;
  /** Placement options; DEFAULT_PLACEMENT_OPTIONS by default. The seed is offset by the pass number. */
  readonly placement?: Partial<PlacementOptions>;
  /** At most this many tasks per pass, ≤ MAX_TASKS_PER_PASS (the default). */
  readonly maxTasksPerPass?: number;
  /** The clock events carry (ms); Date.now by default. */
  readonly now?: () => number;
  /** The placement function; the scheduler's place() by default (another one to compare with it). */
  readonly place?: (input: PlacementInput) => PlacementResult;
}

/**
 * HollowCell is a master's state and log without the master: register agents, create jobs, run
 * passes by hand (pass, drain) or let every committed JobCreated start one (autoSchedule), as the
 * master's offer cycle does.
 */
export class HollowCell {
  private passes = 0;
  private taskSeq = 0;
  private auto = false;
  private kicked = false;
  private running = false;
  private failure: Error | undefined;
  private readonly passListeners = new Set<(stats: PassStats) => void>();
  private readonly options: PlacementOptions;
  private readonly maxTasks: number;
  private readonly placeFn: (input: PlacementInput) => PlacementResult;
  private readonly slots = new AgentSlotCache();

  private constructor(
    readonly log: EventLog,
    private readonly store: Store,
    /** dir holds the store (master.db). */
    readonly dir: string,
    private readonly ownDir: boolean,
    options: HollowCellOptions,
  ) {
    this.options = { ...DEFAULT_PLACEMENT_OPTIONS, ...options.placement };
    this.maxTasks = options.maxTasksPerPass ?? MAX_TASKS_PER_PASS;
    this.placeFn = options.place ?? place;
    this.slots.watch(log);
    // A pass starts as soon as a job is durable, never before: the master answers the user first.
    log.onAppended((batch) => {
      if (this.auto && batch.some((e) => e.event.type === 'JobCreated')) this.kick();
    });
  }

  /** open makes a cell with an empty store (in a temp dir unless dir is given). */
  static async open(options: HollowCellOptions = {}): Promise<HollowCell> {
    const max = options.maxTasksPerPass ?? MAX_TASKS_PER_PASS;
    checkCount('maxTasksPerPass', max, MAX_TASKS_PER_PASS, 1);
    const snapshotEvery = options.snapshotEvery ?? 10_000;
    checkCount('snapshotEvery', snapshotEvery, Number.MAX_SAFE_INTEGER, 1);
    const ownDir = options.dir === undefined;
    const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'muster-hollow-')));
    let store: Store | undefined;
    try {
      store = openStore(`sqlite:${join(dir, 'master.db')}`);
      const logOptions = { snapshotEvery, logger: silentLogger, ...(options.now === undefined ? {} : { now: options.now }) };
      const log = await EventLog.open(store, logOptions);
      return new HollowCell(log, store, dir, ownDir, options);
    } catch (e) {
      await store?.close();
      if (ownDir) await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  get state(): CellState {
    return this.log.state;
  }

  /** passCount: passes run so far. */
  get passCount(): number {
    return this.passes;
  }

  /** registerAgents commits the registrations, up to 10,000 per event batch. */
  async registerAgents(agents: readonly HollowAgent[]): Promise<void> {
    for (let i = 0; i < agents.length; i += EVENTS_PER_SUBMIT) {
      const chunk = agents.slice(i, i + EVENTS_PER_SUBMIT);
      await this.log.submit((_state, now) => ({
        events: chunk.map((agent): Event => ({ type: 'AgentRegistered', at: now, agent })),
        result: undefined,
      }));
    }
  }

  /** createJobs commits the jobs, up to 10,000 per event batch; with autoSchedule on, a pass follows. */
  async createJobs(specs: readonly JobSpec[]): Promise<void> {
    for (let i = 0; i < specs.length; i += EVENTS_PER_SUBMIT) {
      const chunk = specs.slice(i, i + EVENTS_PER_SUBMIT);
      await this.log.submit((_state, now) => ({
        events: chunk.map((spec): Event => ({ type: 'JobCreated', at: now, spec })),
        result: undefined,
      }));
    }
  }

  /**
   * pass places up to maxTasksPerPass pending tasks, most important first, and commits what
   * place() chose as one TasksLaunched event, resolving once it is durable.
   */
  async pass(): Promise<PassStats> {
    if (this.failure !== undefined) throw this.failure;
    const pass = ++this.passes;
    const t0 = performance.now();
    const state = this.log.state;
    const now = this.log.now();
    const tasks = pendingTasks(state, now, undefined, this.maxTasks);
    const table = this.slots.refresh(state, undefined, () => NO_SLACK);
    const t1 = performance.now();
    const result = this.placeFn({
      tasks,
      agents: table.agents,
      table,
      runningOf: (job) => runningOfJob(state, job),
      runningOn: (agentId) => runningOnAgent(state, agentId),
      // Seeded from the pass number, as the master does: reproducible, yet not the same order each pass.
      options: { ...this.options, seed: (this.options.seed + pass) >>> 0 },
    });
    const t2 = performance.now();

    const byKey = new Map<string, PendingTask>();
    for (const t of tasks) byKey.set(t.key, t);
    const launched = new Map<string, number>();
    const events: Event[] = [];
    if (result.placements.length > 0) {
      const out: LaunchedTask[] = [];
      for (const p of result.placements) {
        const t = byKey.get(p.key);
        if (t === undefined) throw new MusterError('INTERNAL', `place() returned a placement for ${p.key}, which it was not asked to place`);
        const task: LaunchedTask = {
          // Deterministic and unique within the cell: the same run writes the same log.
          taskId: makeTaskId(parseJobKey(t.job), t.instance, `h${(++this.taskSeq).toString(36)}`),
          job: t.job,
          instance: t.instance,
          agentId: p.agentId,
          resources: p.resources,
          ports: { ...p.ports },
        };
        if (p.gpus.length > 0) task.gpus = [...p.gpus];
        if (p.revocable) task.revocable = true;
        out.push(task);
        launched.set(t.job, (launched.get(t.job) ?? 0) + 1);
      }
      events.push({ type: 'TasksLaunched', at: now, tasks: out });
    }
    if (result.preemptions.length > 0) {
      const preemptions = result.preemptions.map((p) => {
        const t = byKey.get(p.key);
        if (t === undefined) throw new MusterError('INTERNAL', `place() preempted for ${p.key}, which it was not asked to place`);
        return { job: t.job, instance: t.instance, agentId: p.agentId, victims: [...p.victims] };
      });
      events.push({ type: 'TasksPreempted', at: now, preemptions, reclaimed: [] });
    }
    // submit applies the events before it returns; the promise settles once they are durable.
    const durable = events.length > 0 ? this.log.submit(() => ({ events, result: undefined })) : undefined;
    const tApplied = performance.now();
    await durable;
    const t3 = performance.now();
    const stats: PassStats = {
      pass,
      tasks: tasks.length,
      placed: result.placements.length,
      unplaced: result.unplaced.length,
      inputMs: t1 - t0,
      placeMs: t2 - t1,
      commitMs: t3 - t2,
      applyMs: tApplied - t2,
      totalMs: t3 - t0,
      launched,
    };
    for (const l of this.passListeners) l(stats);
    return stats;
  }

  /**
   * drain runs passes until one places nothing or fewer than it was handed with nothing left
   * over, at most maxPasses; it returns every pass's stats.
   */
  async drain(maxPasses = 100_000): Promise<PassStats[]> {
    checkCount('maxPasses', maxPasses, 1_000_000, 1);
    const out: PassStats[] = [];
    for (let i = 0; i < maxPasses; i++) {
      const s = await this.pass();
      out.push(s);
      // A full pass may have left tasks behind; a partial one saw every pending task.
      if (s.placed === 0 || s.tasks < this.maxTasks) break;
    }
    return out;
  }

  /** onPass: called after each pass commits, with its stats. Returns a function that stops it. */
  onPass(listener: (stats: PassStats) => void): () => void {
    this.passListeners.add(listener);
    return () => this.passListeners.delete(listener);
  }

  /**
   * autoSchedule: with on, every committed JobCreated starts a pass on the next turn of the event
   * loop, and jobs created while a pass runs get the pass after it (the master's OfferCycle.kick).
   */
  autoSchedule(on: boolean): void {
    this.auto = on;
  }

  /** kick asks for a pass soon; many kicks in one turn make one pass. */
  kick(): void {
    if (this.kicked) return;
    this.kicked = true;
    if (!this.running) setImmediate(() => void this.loop());
  }

  /** idle resolves once no pass is running or asked for. */
  async idle(): Promise<void> {
    while (this.running || this.kicked) await new Promise((r) => setImmediate(r));
    if (this.failure !== undefined) throw this.failure;
  }

  /** close waits for the log, closes the store and removes the temp dir it made. */
  async close(): Promise<void> {
    this.auto = false;
    try {
      await this.idle();
    } catch {
      // The failure was reported to whoever awaited idle(); close still cleans up.
    }
    await this.log.flushed();
    await this.store.close();
    if (this.ownDir) await rm(this.dir, { recursive: true, force: true });
  }

  private async loop(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.kicked && this.failure === undefined) {
        this.kicked = false;
        const s = await this.pass();
        // A full pass may have left pending tasks: go again without waiting for a new job.
        if (s.tasks >= this.maxTasks && s.placed > 0) this.kicked = true;
      }
    } catch (e) {
      this.failure = e instanceof Error ? e : new Error(String(e));
      this.kicked = false;
    } finally {
      this.running = false;
    }
  }
}

function checkCount(what: string, n: number, max: number, min = 0): void {
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new MusterError('INVALID_ARGUMENT', `${what} must be a whole number from ${min} to ${max}, not ${n}`);
  }
}
