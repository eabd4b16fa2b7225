// Placement puts pending tasks on offered agents, fast enough for a cell of 10,000 agents and a
// million pending tasks, by Borg's recipe (Verma et al., EuroSys 2015, §3.4):
//
// - Compact vectors. Each agent's free cpus, mem, disk, revocable cpus and mem, port ranges and GPU
//   devices live in typed arrays (table.ts), kept by the caller across passes; a call copies the
//   arrays it changes, and the hot loop reads no Resources object.
// - Equivalence classes. Tasks with the same classKey are one question: constraints are parsed,
//   static filters (draining, dedicated, value constraints) answered and agents scored once for
//   all of them. Tasks of one job that differ only by instance number are one class.
// - Relaxed randomization. Agents are visited in a seeded random permutation. A class walks it from
//   its own seeded starting point, collecting the agents it fits on until it has sampleSize of them
//   (its pool), and takes the best scored of the pool, ties going to the one visited first.
// - Cached scores. The pool is a heap of scores kept across the class's tasks. Within one pass free
//   resources only shrink and limit counts only grow, so an agent that turned a class away turns it
//   away for the rest of the pass and the walk never goes back. Popping the best checks it still
//   fits (else it is dropped and the pool is refilled from the walk) and re-scores it if a task
//   landed on it or in its spread domain since it was scored. A score is then stale only in the
//   direction of a spread count that grew (a lower score), or of another class filling the agent,
//   which relaxed randomization tolerates. A class of 1000 tasks over 10,000 agents costs about
//   sampleSize scores to start and O(log sampleSize) per task, not 10,000 per task.
//
// - GPU fragmentation. On agents with GPU devices the gpu part of the score is how little the task
//   fragments the cell's free GPU (scoring.ts), measured against the mix of GPU tasks the cell
//   is asked to run. The first score on such an agent in a pass builds that context once: one
//   walk over the agents for the pools' GPU use, and, only if some GPU is in use or asked for, the
//   mix: the caller's GpuDemand (the GPU tasks that arrived, decayed; demand.ts), or without one
//   the running tasks of at most MIX_AGENTS GPU agents (a seeded sample, asked through runningOn)
//   plus the pass's pending GPU tasks. An agent's fragmentation is cached until a task lands on
//   it. A cell without GPUs never builds it.
//
// Once the pass is over, each class left with unplaced tasks is explained once (explain.ts), and
// preferred tasks that may preempt look for victims (preemption.ts).

import { allocate, MusterError, portsToRanges, subtractRanges, takePorts } from '../core/index.js';
import type { PortRange, Resources } from '../core/index.js';
import { LimitCounts, limitValueOf } from './constraints.js';
import { explain } from './explain.js';
import { classKey, classOf, gpuFitsDevices, limitReject, staticReject } from './filters.js';
import type { AgentFree, TaskClass } from './filters.js';
import { chooseDevices, GPU_MILLI, MAX_DEVICES } from './gpus.js';
import { preempt } from './preemption.js';
import { mulberry32, randomBelow } from './random.js';
import type { GpuDemand } from './demand.js';
import { AgentTable } from './table.js';
import { fragmentationGrowth, GpuMix, POOL_PRESSURE, scoreAgent } from './scoring.js';
import type { FitView, GrowthResult, ScoreView } from './scoring.js';
import type {
  AgentSlot,
  GpuShare,
  PendingTask,
  Placement,
  PlacementOptions,
  PlacementResult,
  RunningTask,
  ScoreWeights,
  Unplaced,
  WhyPending,
} from './types.js';

export interface PlacementInput {
  /** In the order to place them: the caller orders by tier, priority and fairness (drfOrder). */
  readonly tasks: readonly PendingTask[];
  readonly agents: readonly AgentSlot[];
  /**
   * The running tasks of a job: limits and spread count them. Asked once per job with pending
   * tasks, so a cell of 200,000 running tasks is not copied into every pass.
   */
  readonly runningOf: (job: string) => readonly RunningTask[];
  /** The running tasks on an agent: preemption looks for victims there. */
  readonly runningOn: (agentId: string) => readonly RunningTask[];
  readonly options: PlacementOptions;
  /**
   * The agents as compact vectors kept across passes (agents must then be table.agents). Without
   * it each call builds its own from agents, visiting them in an order seeded by options.seed.
   */
  readonly table?: AgentTable;
  /**
   * The GPU tasks the cell has been asked to run, kept across passes by the caller (demand.ts):
   * GPU scoring measures fragmentation against them. Without it, against a sample of the running
   * tasks and the pass's pending ones.
   */
  readonly demand?: GpuDemand;
}


export { MAX_AGENTS } from './table.js';
/** MAX_TASKS bounds the pending tasks of one call. */
export const MAX_TASKS = 5_000_000;
/** MAX_SAMPLE bounds options.sampleSize. */
export const MAX_SAMPLE = 1_000_000;
/** Static-filter caches stop growing past this many bytes; past it the filters simply run again. */
const STATIC_CACHE_BYTES = 64 * 1024 * 1024;
/** The GPU mix is sampled from the running tasks of at most this many GPU agents per pass… */
export const MIX_AGENTS = 64;
/** …and stops sampling once it has seen this many running tasks. */
export const MIX_TASKS = 128;

const STATIC_UNKNOWN = 0;
const STATIC_OK = 1;
const STATIC_REJECTED = 2;

/** Entry is one agent in a class's pool, with the score it was given and what that score assumed. */
interface Entry {
  readonly agent: number;
  /** Position in the class's walk: ties go to the lower. */
  readonly rank: number;
  score: number;
  /** The agent's version (tasks placed on it) when scored. */
  version: number;
  /** The spread count it was scored with (-1: spread not scored). */
  spread: number;
}

/** ClassState is one equivalence class during a pass. */
interface ClassState {
  readonly cls: TaskClass;
  /** Static filter answers by agent index, shared by classes of the same role and constraints. */
  readonly statics: Uint8Array | undefined;
  /** Where in the permutation this class's walk begins. */
  readonly start: number;
  /** Steps taken from start; the walk is over at the number of placeable agents. */
  walked: number;
  /** The pool: a max-heap on (score, −rank) when scores are cached, a plain list otherwise. */
  readonly pool: Entry[];
  /** No agent fits any more: the class's remaining tasks are unplaced without a search. */
  done: boolean;
  /** Tasks of the class not yet placed or given up on: at 0 the pool is let go. */
  remaining: number;
}

/**
 * GpuContext is what GPU scoring needs in one pass (see the top of this file): the mix, each
 * agent's pool and the pools' GPU use, and each agent's fragmentation once computed.
 */
interface GpuContext {
  readonly mix: GpuMix;
  /** Pool of each agent index, -1 for an agent without GPU devices; empty when there is no mix. */
  readonly pool: Int32Array;
  readonly poolTotal: number[];
  readonly poolUsed: number[];
  cellTotal: number;
  cellUsed: number;
  /** Fragmentation of each agent, valid while beforeAt holds its version + 1. */
  readonly before: Float64Array;
  readonly beforeAt: Int32Array;
  readonly scratch: Int32Array;
  readonly growth: GrowthResult;
}

function invalid(message: string): MusterError {
  return new MusterError('INVALID_ARGUMENT', message);
}

function checkWeights(w: ScoreWeights): void {
  for (const [name, v] of [['fit', w.fit], ['spread', w.spread], ['gpu', w.gpu]] as const) {
    if (!Number.isFinite(v) || v < 0 || v > 1e6) throw invalid(`placement weight ${name} must be a number in 0..1000000, not ${v}`);
  }
}

/** checkInput validates what a caller could get wrong; a bad input throws before anything is placed. */
function checkInput(input: PlacementInput): void {
  const { tasks, options } = input;
  if (tasks.length > MAX_TASKS) throw invalid(`placement takes at most ${MAX_TASKS} tasks, not ${tasks.length}`);
  if (!Number.isInteger(options.sampleSize) || options.sampleSize < 0 || options.sampleSize > MAX_SAMPLE) {
    throw invalid(`sampleSize must be an integer in 0..${MAX_SAMPLE}, not ${options.sampleSize}`);
  }
  if (!Number.isInteger(options.preemptionBudget) || options.preemptionBudget < 0) {
    throw invalid(`preemptionBudget must be a non-negative integer, not ${options.preemptionBudget}`);
  }
  if (!Number.isFinite(options.seed)) throw invalid(`seed must be a finite number, not ${options.seed}`);
  checkWeights(options.weights);
  if (input.table !== undefined && input.table.agents !== input.agents) throw invalid("agents must be the table's own agents");
  const keys = new Set<string>();
  for (const t of tasks) {
    if (keys.has(t.key)) throw invalid(`task ${t.key} is given twice`);
    keys.add(t.key);
    const r = t.request;
    if (!(r.cpusMilli >= 0 && r.memMiB >= 0 && r.diskMiB >= 0 && r.gpus >= 0 && r.gpus <= MAX_DEVICES)) {
      throw invalid(`task ${t.key} asks for a negative or impossible amount`);
    }
    if (r.gpus >= 1 ? !Number.isInteger(r.gpus) : r.gpus > 0 && Math.round(r.gpus * GPU_MILLI) < 1) {
      throw invalid(`task ${t.key} asks for ${r.gpus} gpus: whole devices or a share of one device`);
    }
  }
}

/**
 * Vectors are the agents' free resources during one call, one slot per agent index: copies of the
 * table's arrays, updated as tasks are placed. GPU device arrays are copied only for the agents a
 * task lands on.
 */
class Vectors {
  readonly freeCpu: Float64Array;
  readonly freeMem: Float64Array;
  readonly freeDisk: Float64Array;
  readonly freeGpus: Float64Array;
  readonly revCpu: Float64Array;
  readonly revMem: Float64Array;
  readonly totalCpu: Float64Array;
  readonly totalMem: Float64Array;
  readonly totalDisk: Float64Array;
  readonly portCount: Float64Array;
  readonly ports: (readonly PortRange[])[];
  readonly gpuFree: Int32Array[];
  /** Tasks placed on the agent in this call: a cached score older than this is re-scored. */
  readonly version: Int32Array;
  /** 1 once gpuFree[a] is this call's own copy. */
  readonly gpuCopied: Uint8Array;

  constructor(t: AgentTable) {
    this.freeCpu = t.freeCpu.slice();
    this.freeMem = t.freeMem.slice();
    this.freeDisk = t.freeDisk.slice();
    this.freeGpus = t.freeGpus.slice();
    this.revCpu = t.revCpu.slice();
    this.revMem = t.revMem.slice();
    this.portCount = t.portCount.slice();
    // Read only in a pass: shared with the table.
    this.totalCpu = t.totalCpu;
    this.totalMem = t.totalMem;
    this.totalDisk = t.totalDisk;
    this.ports = t.ports.slice();
    this.gpuFree = t.gpuFree.slice();
    this.version = new Int32Array(t.length);
    this.gpuCopied = new Uint8Array(t.length);
  }

  /** fits is fitsResources (filters.ts) on the vectors. */
  fits(cls: TaskClass, a: number): boolean {
    const req = cls.request;
    if (cls.tier === 'revocable') {
      if ((this.revCpu[a] as number) < req.cpusMilli || (this.revMem[a] as number) < req.memMiB) return false;
    } else if ((this.freeCpu[a] as number) < req.cpusMilli || (this.freeMem[a] as number) < req.memMiB) return false;
    if ((this.freeDisk[a] as number) < req.diskMiB) return false;
    if (req.ports.length > 0 && (this.portCount[a] as number) < req.ports.length) return false;
    return cls.gpu === undefined || gpuFitsDevices(this.gpuFree[a] as Int32Array, cls.gpu);
  }

  /** agentFree is what agent a has left, as the filters, explanation and preemption see it. */
  agentFree(a: number): AgentFree {
    const free: Resources = {
      cpusMilli: this.freeCpu[a] as number,
      memMiB: this.freeMem[a] as number,
      diskMiB: this.freeDisk[a] as number,
      gpus: this.freeGpus[a] as number,
      ports: this.ports[a] as readonly PortRange[],
    };
    return { free, gpuFree: Array.from(this.gpuFree[a] as Int32Array), revocable: { cpusMilli: this.revCpu[a] as number, memMiB: this.revMem[a] as number } };
  }
}

// ---- the pool heap: max on score, then min on rank ------------------------------------------------

function better(x: Entry, y: Entry): boolean {
  return x.score > y.score || (x.score === y.score && x.rank < y.rank);
}

function siftUp(h: Entry[], i: number): void {
  const e = h[i] as Entry;
  while (i > 0) {
    const p = (i - 1) >> 1;
    const pe = h[p] as Entry;
    if (!better(e, pe)) break;
    h[i] = pe;
    i = p;
  }
  h[i] = e;
}

function siftDown(h: Entry[], i: number): void {
  const n = h.length;
  const e = h[i] as Entry;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    const c = r < n && better(h[r] as Entry, h[l] as Entry) ? r : l;
    const ce = h[c] as Entry;
    if (!better(ce, e)) break;
    h[i] = ce;
    i = c;
  }
  h[i] = e;
}

function popTop(h: Entry[]): void {
  const last = h.pop();
  if (last !== undefined && h.length > 0) {
    h[0] = last;
    siftDown(h, 0);
  }
}

/** Pass is one call of place(): the vectors, the classes and the counters. */
class Pass {
  readonly input: PlacementInput;
  readonly table: AgentTable;
  readonly agents: readonly AgentSlot[];
  readonly v: Vectors;
  /** Placeable agent indexes (those offered) in the seeded random order. */
  readonly order: Int32Array;
  /** Every agent index in the seeded random order: preemption breaks its ties by it. */
  readonly orderAll: Int32Array;
  readonly random: () => number;
  readonly counts = new LimitCounts();
  /** The attributes counted for each job: its limit attributes and its spreadBy. */
  readonly countedAttributes = new Map<string, string[]>();
  readonly staticCaches = new Map<string, Uint8Array>();
  staticBytes = 0;
  readonly weights: ScoreWeights;
  readonly sampleSize: number;
  readonly cacheScores: boolean;
  agentsVisited = 0;
  scoresComputed = 0;
  readonly fitView: FitView = { cpus: 0, mem: 0, disk: -1, gpus: -1 };
  readonly scoreView: ScoreView;
  /** The pass's classes, for the GPU mix: set by place() once they are known. */
  classes: readonly ClassState[] = [];
  private gpu: GpuContext | undefined;

  constructor(input: PlacementInput) {
    this.input = input;
    const table = input.table ?? new AgentTable(input.agents, input.options.seed);
    this.table = table;
    this.agents = table.agents;
    this.v = new Vectors(table);
    // With a table kept across passes the visiting order is the table's; each pass's seed still
    // moves where every class starts walking it.
    this.random = mulberry32(input.options.seed);
    this.orderAll = table.order;
    this.order = table.placeableOrder();
    this.weights = input.options.weights;
    this.sampleSize = input.options.sampleSize;
    this.cacheScores = input.options.cacheScores;
    this.scoreView = { fit: this.fitView, spreadCount: undefined, gpuFree: [], gpu: undefined, gpuCost: undefined };
  }

  /** gpuContext builds the pass's GPU context on first use (see the top of this file). */
  gpuContext(): GpuContext {
    if (this.gpu !== undefined) return this.gpu;
    const v = this.v;
    const n = this.agents.length;
    let pendingGpu = false;
    for (const cs of this.classes) if (cs.cls.gpu !== undefined) pendingGpu = true;
    let cellTotal = 0;
    let cellUsed = 0;
    let gpuAgents = 0;
    for (let a = 0; a < n; a++) {
      const g = v.gpuFree[a] as Int32Array;
      if (g.length === 0) continue;
      gpuAgents++;
      cellTotal += g.length * GPU_MILLI;
      for (let d = 0; d < g.length; d++) cellUsed += GPU_MILLI - (g[d] as number);
    }
    const mix = new GpuMix();
    const pool = new Int32Array(cellUsed > 0 || pendingGpu ? n : 0).fill(-1);
    const poolTotal: number[] = [];
    const poolUsed: number[] = [];
    // Without a GPU in use or asked for there is no mix: GPU scoring keeps its simple rule, and
    // the pass (a cell of services and batch jobs beside idle GPU machines) pays one walk.
    if (cellUsed > 0 || pendingGpu) {
      // Pools keyed by cpus, then by mem and devices in one number (mem ≤ 2^46 MiB keeps it exact).
      const poolOf = new Map<number, Map<number, number>>();
      for (let a = 0; a < n; a++) {
        const g = v.gpuFree[a] as Int32Array;
        if (g.length === 0) continue;
        const cpu = v.totalCpu[a] as number;
        const memAndDevices = (v.totalMem[a] as number) * (MAX_DEVICES + 1) + g.length;
        let byMem = poolOf.get(cpu);
        if (byMem === undefined) {
          byMem = new Map();
          poolOf.set(cpu, byMem);
        }
        let p = byMem.get(memAndDevices);
        if (p === undefined) {
          p = poolTotal.length;
          byMem.set(memAndDevices, p);
          poolTotal.push(0);
          poolUsed.push(0);
        }
        pool[a] = p;
        let used = g.length * GPU_MILLI;
        for (let d = 0; d < g.length; d++) used -= g[d] as number;
        poolTotal[p] = (poolTotal[p] as number) + g.length * GPU_MILLI;
        poolUsed[p] = (poolUsed[p] as number) + used;
      }
      // What the cell has been asked to run (GpuDemand, kept across passes by the caller) is the
      // mix. Without it (a plan, a master that has seen no GPU task arrive yet) the running tasks
      // of a seeded sample of GPU agents, consecutive in the visiting order from a seeded start,
      // stand for the cell's, and the pending ones count as the sample's share of them.
      const demand = this.input.demand;
      if (demand !== undefined && demand.size > 0) {
        demand.addTo(mix);
      } else {
        const random = mulberry32((this.input.options.seed ^ 0x5bd1e995) >>> 0);
        const gpuOrder: number[] = [];
        for (const a of this.orderAll) if ((v.gpuFree[a] as Int32Array).length > 0) gpuOrder.push(a);
        let sampled = 0;
        let seen = 0;
        if (cellUsed > 0 && gpuOrder.length > 0) {
          const start = randomBelow(gpuOrder.length, random);
          for (let k = 0; k < gpuOrder.length && sampled < MIX_AGENTS && seen < MIX_TASKS; k++) {
            const a = gpuOrder[(start + k) % gpuOrder.length] as number;
            sampled++;
            for (const r of this.input.runningOn((this.agents[a] as AgentSlot).agentId)) {
              seen++;
              const first = r.gpus[0];
              if (first === undefined) continue;
              mix.add(r.resources.cpusMilli, r.resources.memMiB, first.milli >= GPU_MILLI ? { whole: r.gpus.length } : { milli: first.milli });
            }
          }
        }
        const share = sampled === 0 ? 1 : sampled / gpuAgents;
        for (const cs of this.classes) mix.add(cs.cls.request.cpusMilli, cs.cls.request.memMiB, cs.cls.gpu, cs.remaining * share);
      }
    }
    this.gpu = {
      mix,
      pool,
      poolTotal,
      poolUsed,
      cellTotal,
      cellUsed,
      // Only a pass that measures fragmentation needs a slot per agent for it.
      before: new Float64Array(mix.empty ? 0 : n),
      beforeAt: new Int32Array(mix.empty ? 0 : n),
      scratch: new Int32Array(MAX_DEVICES),
      growth: { growth: 0, device: -1 },
    };
    return this.gpu;
  }

  /**
   * gpuGrowth is how much the class grows agent a's fragmentation, with the device a share would
   * take in ctx.growth; undefined when the mix is empty.
   */
  gpuGrowth(cls: TaskClass, a: number): GrowthResult | undefined {
    const ctx = this.gpuContext();
    if (ctx.mix.empty) return undefined;
    const v = this.v;
    const g = v.gpuFree[a] as Int32Array;
    const cpu = v.freeCpu[a] as number;
    const mem = v.freeMem[a] as number;
    const version = (v.version[a] as number) + 1;
    if (ctx.beforeAt[a] !== version) {
      ctx.before[a] = ctx.mix.fragmentation(cpu, mem, g);
      ctx.beforeAt[a] = version;
    }
    // A revocable task takes its cpus and mem from slack: the regular free amounts stay.
    const revocable = cls.tier === 'revocable';
    return fragmentationGrowth(
      ctx.mix,
      { cpusMilli: cpu, memMiB: mem, gpuFree: g, before: ctx.before[a] as number },
      { cpusMilli: revocable ? 0 : cls.request.cpusMilli, memMiB: revocable ? 0 : cls.request.memMiB, gpu: cls.gpu },
      ctx.scratch,
      ctx.growth,
    );
  }

  /** gpuCost is the gpu part's cost of the class on agent a (scoring.ts); undefined: the simple rule. */
  gpuCost(cls: TaskClass, a: number): number | undefined {
    const r = this.gpuGrowth(cls, a);
    if (r === undefined) return undefined;
    const ctx = this.gpu as GpuContext;
    const gpu = cls.gpu;
    if (gpu === undefined || ctx.cellTotal === 0) return r.growth;
    const p = ctx.pool[a] as number;
    const asked = 'whole' in gpu ? gpu.whole * GPU_MILLI : gpu.milli;
    const ahead = (ctx.poolUsed[p] as number) / (ctx.poolTotal[p] as number) - ctx.cellUsed / ctx.cellTotal;
    return r.growth + POOL_PRESSURE * asked * ahead;
  }

  newClass(cls: TaskClass, t: PendingTask): ClassState {
    const staticKey = `${t.role}\u0000${JSON.stringify(t.constraints)}`;
    let statics = this.staticCaches.get(staticKey);
    if (statics === undefined && this.staticBytes + this.agents.length <= STATIC_CACHE_BYTES) {
      statics = new Uint8Array(this.agents.length);
      this.staticBytes += this.agents.length;
      this.staticCaches.set(staticKey, statics);
    }
    const m = this.order.length;
    return { cls, statics, start: m === 0 ? 0 : randomBelow(m, this.random), walked: 0, pool: [], done: false, remaining: 0 };
  }

  staticOk(cs: ClassState, a: number): boolean {
    const cache = cs.statics;
    if (cache === undefined) return staticReject(cs.cls, this.agents[a] as AgentSlot) === undefined;
    let s = cache[a] as number;
    if (s === STATIC_UNKNOWN) {
      s = staticReject(cs.cls, this.agents[a] as AgentSlot) === undefined ? STATIC_OK : STATIC_REJECTED;
      cache[a] = s;
    }
    return s === STATIC_OK;
  }

  limitOk(cls: TaskClass, a: number): boolean {
    return cls.limits.length === 0 || limitReject(cls, this.agents[a] as AgentSlot, this.counts) === undefined;
  }

  /** spreadCount is the job's tasks in agent a's spread domain; undefined outside every domain. */
  spreadCount(cls: TaskClass, a: number): number | undefined {
    const agent = this.agents[a] as AgentSlot;
    const value = limitValueOf(agent, cls.spreadBy);
    return value === undefined ? undefined : this.counts.get(cls.job, cls.spreadBy, value);
  }

  /** score scores agent a for the class and records what the score assumed in e. */
  score(cls: TaskClass, a: number, e: Entry): void {
    const v = this.v;
    const req = cls.request;
    const w = this.weights;
    this.scoresComputed++;
    if (w.fit > 0) {
      const f = this.fitView;
      const tc = v.totalCpu[a] as number;
      const tm = v.totalMem[a] as number;
      const revocable = cls.tier === 'revocable';
      f.cpus = tc > 0 ? (((revocable ? v.revCpu[a] : v.freeCpu[a]) as number) - req.cpusMilli) / tc : 0;
      f.mem = tm > 0 ? (((revocable ? v.revMem[a] : v.freeMem[a]) as number) - req.memMiB) / tm : 0;
      const td = v.totalDisk[a] as number;
      f.disk = req.diskMiB > 0 ? (td > 0 ? ((v.freeDisk[a] as number) - req.diskMiB) / td : 0) : -1;
      if (cls.gpu !== undefined) {
        const g = v.gpuFree[a] as Int32Array;
        let free = 0;
        for (let d = 0; d < g.length; d++) free += g[d] as number;
        const asked = 'whole' in cls.gpu ? cls.gpu.whole * GPU_MILLI : cls.gpu.milli;
        f.gpus = g.length > 0 ? (free - asked) / (g.length * GPU_MILLI) : 0;
      } else f.gpus = -1;
    }
    const spread = w.spread > 0 ? this.spreadCount(cls, a) : undefined;
    const view = this.scoreView;
    view.spreadCount = spread;
    view.gpuFree = v.gpuFree[a] as Int32Array;
    view.gpu = cls.gpu;
    view.gpuCost = w.gpu > 0 && view.gpuFree.length > 0 ? this.gpuCost(cls, a) : undefined;
    e.score = scoreAgent(view, w);
    e.version = v.version[a] as number;
    e.spread = w.spread > 0 ? (spread ?? -2) : -1;
  }

  /** feasible: static filters, limits and resources all admit agent a for the class now. */
  feasible(cs: ClassState, a: number): boolean {
    return this.staticOk(cs, a) && this.limitOk(cs.cls, a) && this.v.fits(cs.cls, a);
  }

  /** refill walks on until the pool holds sampleSize feasible agents (0: all) or the walk is over. */
  refill(cs: ClassState): void {
    const m = this.order.length;
    const want = this.sampleSize === 0 ? Infinity : this.sampleSize;
    while (cs.pool.length < want && cs.walked < m) {
      const rank = cs.walked++;
      let at = cs.start + rank;
      if (at >= m) at -= m;
      const a = this.order[at] as number;
      this.agentsVisited++;
      if (!this.feasible(cs, a)) continue;
      const e: Entry = { agent: a, rank, score: 0, version: 0, spread: -1 };
      this.score(cs.cls, a, e);
      cs.pool.push(e);
      if (this.cacheScores) siftUp(cs.pool, cs.pool.length - 1);
    }
  }

  /** stale: a task landed on the agent or in its spread domain since the entry was scored. */
  stale(cls: TaskClass, e: Entry): boolean {
    if (e.version !== this.v.version[e.agent]) return true;
    return e.spread !== -1 && e.spread !== (this.spreadCount(cls, e.agent) ?? -2);
  }

  /** pick is the agent the class's next task goes on, or -1 when none is left. */
  pick(cs: ClassState): number {
    if (cs.done) return -1;
    const pool = cs.pool;
    if (this.cacheScores) {
      for (;;) {
        if (pool.length === 0) this.refill(cs);
        const top = pool[0];
        if (top === undefined) break;
        const a = top.agent;
        // Limits and resources are checked again: other tasks may have taken the room since.
        if (!this.limitOk(cs.cls, a) || !this.v.fits(cs.cls, a)) {
          popTop(pool);
          this.refill(cs);
          continue;
        }
        if (this.stale(cs.cls, top)) {
          this.score(cs.cls, a, top);
          siftDown(pool, 0);
          continue;
        }
        return a;
      }
    } else {
      // Ablation: every candidate is checked and scored again for every task.
      let kept = 0;
      for (const e of pool) if (this.limitOk(cs.cls, e.agent) && this.v.fits(cs.cls, e.agent)) pool[kept++] = e;
      pool.length = kept;
      this.refill(cs);
      let best: Entry | undefined;
      for (const e of pool) {
        this.score(cs.cls, e.agent, e);
        if (best === undefined || better(e, best)) best = e;
      }
      if (best !== undefined) return best.agent;
    }
    cs.done = true;
    return -1;
  }

  /** commit puts the task on agent a: takes ports and devices, updates the vectors and the counts. */
  commit(t: PendingTask, cls: TaskClass, a: number): Placement {
    const v = this.v;
    const agent = this.agents[a] as AgentSlot;
    const req = cls.request;
    const revocable = cls.tier === 'revocable';
    // A share goes to the device its score assumed, chosen on the agent as it is before the task:
    // the one that fragments least, or, without a mix (or without GPU scoring), the fullest that
    // fits (chooseDevices below). Whole GPUs take the lowest wholly free devices.
    let shareDevice = -1;
    if (cls.gpu !== undefined && 'milli' in cls.gpu && this.weights.gpu > 0) shareDevice = this.gpuGrowth(cls, a)?.device ?? -1;
    if (revocable) {
      v.revCpu[a] = (v.revCpu[a] as number) - req.cpusMilli;
      v.revMem[a] = (v.revMem[a] as number) - req.memMiB;
    } else {
      v.freeCpu[a] = (v.freeCpu[a] as number) - req.cpusMilli;
      v.freeMem[a] = (v.freeMem[a] as number) - req.memMiB;
    }
    v.freeDisk[a] = (v.freeDisk[a] as number) - req.diskMiB;
    v.freeGpus[a] = (v.freeGpus[a] as number) - req.gpus;
    let numbers: number[] = [];
    if (req.ports.length > 0) {
      // fits() counted the ports, so takePorts finds them.
      numbers = takePorts(v.ports[a] as readonly PortRange[], req.ports.length) ?? [];
      v.ports[a] = subtractRanges(v.ports[a] as readonly PortRange[], portsToRanges(numbers));
      v.portCount[a] = (v.portCount[a] as number) - numbers.length;
    }
    let gpus: GpuShare[] = [];
    if (cls.gpu !== undefined) {
      // The first task on an agent in this call copies its devices: the table's stay as they were.
      let g = v.gpuFree[a] as Int32Array;
      if (v.gpuCopied[a] === 0) {
        g = g.slice();
        v.gpuFree[a] = g;
        v.gpuCopied[a] = 1;
      }
      const milli = 'whole' in cls.gpu ? GPU_MILLI : cls.gpu.milli;
      const devices = shareDevice >= 0 ? [shareDevice] : (chooseDevices(g, cls.gpu, 'pack') ?? []);
      gpus = devices.map((device) => {
        g[device] = (g[device] as number) - milli;
        return { device, milli };
      });
      if (this.gpu !== undefined) {
        const p = this.gpu.pool[a] ?? -1;
        if (p >= 0) this.gpu.poolUsed[p] = (this.gpu.poolUsed[p] as number) + milli * gpus.length;
        this.gpu.cellUsed += milli * gpus.length;
      }
    }
    v.version[a] = (v.version[a] as number) + 1;
    for (const attr of this.countedAttributes.get(t.job) ?? []) {
      const value = limitValueOf(agent, attr);
      if (value !== undefined) this.counts.add(t.job, attr, value);
    }
    return {
      key: t.key,
      offerId: agent.offerId as string,
      agentId: agent.agentId,
      // fromEntries defines own properties: a port named "__proto__" stays a port.
      ports: Object.fromEntries(req.ports.map((name, i) => [name, numbers[i] as number])),
      resources: allocate(req, numbers),
      gpus,
      revocable,
    };
  }

  /**
   * reserve holds on agentId what a task waiting for its victims there needs, so that no task after
   * it in this pass takes the room the victims free as they end. Only what is free now is held, up
   * to its request: the rest is still in its victims, which are already its own (they are being
   * killed, and neither a placement nor another preemption counts them).
   */
  reserve(agentId: string, cls: TaskClass): void {
    const a = this.table.index.get(agentId);
    if (a === undefined) return;
    const v = this.v;
    const req = cls.request;
    const hold = (free: number, need: number): number => free - Math.min(Math.max(free, 0), need);
    v.freeCpu[a] = hold(v.freeCpu[a] as number, req.cpusMilli);
    v.freeMem[a] = hold(v.freeMem[a] as number, req.memMiB);
    v.freeDisk[a] = hold(v.freeDisk[a] as number, req.diskMiB);
    v.portCount[a] = hold(v.portCount[a] as number, req.ports.length);
    v.version[a] = (v.version[a] as number) + 1;
  }

  /** countRunning counts the running tasks of every job with pending tasks, once per job. */
  countRunning(): void {
    const index = this.table.index;
    for (const [job, attrs] of this.countedAttributes) {
      for (const r of this.input.runningOf(job)) {
        if (r.killing) continue;
        const i = index.get(r.agentId);
        const agent = i === undefined ? undefined : this.agents[i];
        for (const attr of attrs) {
          const value = agent !== undefined ? limitValueOf(agent, attr) : attr === 'host' ? r.agentId : undefined;
          if (value !== undefined) this.counts.add(job, attr, value);
        }
      }
    }
  }
}

/** waitingWhy is the answer for a task waiting for its victims to end. */
function waitingWhy(victims: number, hostname: string, why: WhyPending): WhyPending {
  return {
    summary: `waiting for ${victims} preempted ${victims === 1 ? 'task' : 'tasks'} on ${hostname} to end`,
    filters: why.filters,
    changes: [],
  };
}

/**
 * place assigns pending tasks to offered agents (see the top of this file), picks preemption
 * victims for preferred tasks that found no room, and says why each other task stays pending.
 * The same input, seed included, always gives the same result.
 */
export function place(input: PlacementInput): PlacementResult {
  checkInput(input);
  const pass = new Pass(input);
  const { tasks, options } = input;

  // Classes first, in the order tasks come, so that every class's seeded start is drawn in order.
  const classes = new Map<string, ClassState>();
  const classOfTask: ClassState[] = new Array<ClassState>(tasks.length);
  for (let ti = 0; ti < tasks.length; ti++) {
    const t = tasks[ti] as PendingTask;
    const key = options.equivalenceClasses ? classKey(t) : `${t.key}\u0000${classKey(t)}`;
    let cs = classes.get(key);
    if (cs === undefined) {
      cs = pass.newClass(classOf(t, key), t);
      classes.set(key, cs);
      let attrs = pass.countedAttributes.get(t.job);
      if (attrs === undefined) {
        attrs = [];
        pass.countedAttributes.set(t.job, attrs);
      }
      for (const a of [...cs.cls.limits.map((c) => c.attribute), cs.cls.spreadBy]) if (!attrs.includes(a)) attrs.push(a);
    }
    cs.remaining++;
    classOfTask[ti] = cs;
  }
  pass.classes = [...classes.values()];
  pass.countRunning();

  const placements: Placement[] = [];
  const unplacedAt: number[] = [];
  for (let ti = 0; ti < tasks.length; ti++) {
    const t = tasks[ti] as PendingTask;
    const cs = classOfTask[ti] as ClassState;
    const a = pass.pick(cs);
    if (a >= 0) placements.push(pass.commit(t, cs.cls, a));
    else {
      unplacedAt.push(ti);
      if (t.waitingOn !== undefined) pass.reserve(t.waitingOn, cs.cls);
    }
    // A class's pool is only for its own tasks: without equivalence classes (a class per task) or
    // without sampling (a pool of every agent) keeping them all would hold tasks × agents entries.
    if (--cs.remaining === 0) cs.pool.length = 0;
  }

  const stats = { classes: classes.size, agentsVisited: pass.agentsVisited, scoresComputed: pass.scoresComputed };
  if (unplacedAt.length === 0) return { placements, preemptions: [], unplaced: [], stats };

  // Explained once per class, from the state the pass ended in: what a person looking at the
  // pending task will find. Every agent counts, offered or not.
  const free: AgentFree[] = input.agents.map((_, i) => pass.v.agentFree(i));
  const whyOf = new Map<ClassState, WhyPending>();
  for (const ti of unplacedAt) {
    const cs = classOfTask[ti] as ClassState;
    if (!whyOf.has(cs)) whyOf.set(cs, explain({ cls: cs.cls, agents: input.agents, free, counts: pass.counts }));
  }

  const pending = unplacedAt.map((ti) => ({ task: tasks[ti] as PendingTask, cls: (classOfTask[ti] as ClassState).cls }));
  const preemptions = preempt({
    pending,
    agents: input.agents,
    free: [...free],
    order: pass.orderAll,
    counts: pass.counts,
    runningOn: input.runningOn,
    budget: options.preemptionBudget,
  });
  const waiting = new Map<string, { victims: number; hostname: string }>();
  const hostOf = new Map(input.agents.map((a) => [a.agentId, a.hostname]));
  for (const p of preemptions) waiting.set(p.key, { victims: p.victims.length, hostname: hostOf.get(p.agentId) ?? p.agentId });

  const unplaced: Unplaced[] = [];
  for (const ti of unplacedAt) {
    const t = tasks[ti] as PendingTask;
    let why = whyOf.get(classOfTask[ti] as ClassState) as WhyPending;
    const w = waiting.get(t.key);
    if (w !== undefined) why = waitingWhy(w.victims, w.hostname, why);
    unplaced.push({ key: t.key, reason: why.summary, why });
  }
  return { placements, preemptions, unplaced, stats };
}
