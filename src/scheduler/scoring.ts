// Scoring ranks the agents a task fits on. Each part is a number in [0, 1], higher is better, and
// the score is their weighted sum:
//
//   score = weights.fit · fit + weights.spread · spread + weights.gpu · gpu
//
// - fit (multi-resource best fit, stranding least): with r_k the fraction of resource k the agent
//   has left once the task is on it (cpus and mem always; disk and GPUs when the task asks for them),
//     fit = 1 − (3 · mean_k r_k + |r_cpus − r_mem|) / 4
//   The mean prefers the agent the task leaves fullest (best fit keeps large holes for large tasks);
//   the imbalance term prefers agents left as much cpu-free as mem-free, since an agent with all its
//   mem taken and its cpus free strands those cpus for every task. The mean weighs three times the
//   imbalance: with equal weights, tasks whose cpu:mem ratio differs from the agents' would score an
//   empty agent above a partly used one (its imbalance is smaller) and spread instead of packing.
//   On an agent with GPUs whose GPU cost is known (below), fit is the gpu part instead: there cpus
//   and mem are worth the GPUs they can feed, which the cost measures, and best fit beside it
//   would pull tasks to the fullest agent whatever that does to its GPUs.
// - spread: with c the number of the job's tasks already in the agent's failure domain (the value
//   of its spreadBy attribute; "host" is the agent itself),
//     spread = 1 / (1 + c)
//   and 0 on an agent without the attribute: a spread cannot be promised over an unknown domain.
// - gpu: on an agent with GPU devices, how little the task fragments the cell's free GPU (see
//   "GPU fragmentation" below); placement passes it in as view.gpuCost. Without it (no GPU task
//   runs or waits in the cell, so there is no mix to measure against), the simple rule:
//   - a share of m milli: the device chooseDevices(…, 'pack') picks, with f milli free,
//       gpu = 1 − (f − m) / 1000
//     so a share that fills a partly used device scores 1 and one that breaks a whole GPU less;
//   - n whole GPUs on an agent with w wholly free devices: gpu = n / w (1 when it uses them up);
//   - no GPU: gpu = 1 − (free GPU milli / (devices · 1000)), 1 on an agent without GPUs.
//
// A weight of 0 switches its part off; the part is then not even computed.
//
// GPU fragmentation. GPUs fragment: a cell can have many GPUs' worth free in slivers of devices,
// or on machines whose cpus or memory are gone, that no arriving task can use. Following FGD
// (Weng et al., "Beware of Fragmentation", USENIX ATC '23), an agent's fragmentation is the free
// GPU (milli) that the tasks expected to arrive could not use, and a task goes where it makes the
// fragmentation grow least. What is expected to arrive is the mix of GPU tasks the cell has been
// asked to run (GpuMix, filled from the master's GpuDemand of decayed arrivals, demand.ts; without
// one, from a sample of the running tasks and the pending ones), not a forecast given from outside. For each task shape m of the mix (weight w_m, by count), the
// GPU of an agent m can use is the free GPU on devices with room for m (a share of m's milli, or
// wholly free devices for whole GPUs), if the agent has the cpu and mem for one m and enough such
// devices; and, as the agent's cpu and mem run out before its GPUs do, only the share of it they
// can feed: with k the tasks of m the devices could hold and k' ≤ k those the cpus and mem left
// could,
//     usable_m = free GPU on fitting devices · (1 − λ + λ · k' / k)      (λ = CAPACITY_SHARE)
//     fragmentation = free GPU − Σ_m w_m · usable_m
// FGD counts a device usable as soon as one task fits; the capacity share also counts GPUs that
// no cpu is left to feed, which is what keeps cpu-hungry tasks off machines whose GPUs would be
// stranded and sends them to cpu-rich ones.
//
// Pools. Machines of one shape (cpus, mem, GPU devices) are one pool. Tasks constrained to a GPU
// model that only some pools have fill those pools faster than the cell fills; a task that could
// go anywhere should leave them their pools. The scheduler cannot see the constraints of the tasks
// to come, but it sees the pools fill: a GPU task pays for the pool it lands in by how far that
// pool's GPU use runs ahead of the cell's:
//     gpuCost = growth + POOL_PRESSURE · asked GPU milli · (pool use − cell use)
//     gpu = 1 / (1 + exp(gpuCost / COST_SCALE))
// which is ½ for a placement that fragments nothing in a pool as used as the cell.

import { chooseDevices, GPU_MILLI, MAX_DEVICES, type GpuRequest } from './gpus.js';
import type { ScoreWeights } from './types.js';

/**
 * FitView holds the fractions (0..1) of each resource an agent has left once the task is on it.
 * disk and gpus are negative when the task does not ask for them: they then do not count.
 */
export interface FitView {
  cpus: number;
  mem: number;
  disk: number;
  gpus: number;
}

/** ScoreView is everything scoreAgent looks at for one task on one agent. */
export interface ScoreView {
  readonly fit: FitView;
  /** The job's tasks in the agent's failure domain; undefined: the agent has no such domain. */
  spreadCount: number | undefined;
  /** Free milli per GPU device of the agent, before the task. */
  gpuFree: ArrayLike<number>;
  gpu: GpuRequest | undefined;
  /**
   * How much the task grows the cell's GPU fragmentation on this agent, pool pressure included
   * (milli; see the top of this file); undefined: no mix to measure against, the simple rule scores.
   */
  gpuCost: number | undefined;
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** fitScore is 1 − (3 · mean remaining fraction + |cpus − mem remaining fraction|) / 4. */
export function fitScore(left: FitView): number {
  const c = clamp01(left.cpus);
  const m = clamp01(left.mem);
  let sum = c + m;
  let n = 2;
  if (left.disk >= 0) {
    sum += clamp01(left.disk);
    n++;
  }
  if (left.gpus >= 0) {
    sum += clamp01(left.gpus);
    n++;
  }
  return clamp01(1 - ((3 * sum) / n + Math.abs(c - m)) / 4);
}

/** spreadScore is 1 / (1 + count); 0 for an agent outside every domain (count undefined). */
export function spreadScore(count: number | undefined): number {
  if (count === undefined) return 0;
  return 1 / (1 + (count > 0 ? count : 0));
}

/** gpuScore prefers the agents whose GPUs the task leaves in the most usable shape: the simple rule. */
export function gpuScore(gpuFree: ArrayLike<number>, gpu: GpuRequest | undefined): number {
  const n = gpuFree.length;
  if (gpu === undefined) {
    if (n === 0) return 1;
    let free = 0;
    for (let d = 0; d < n; d++) free += gpuFree[d] as number;
    return clamp01(1 - free / (n * GPU_MILLI));
  }
  if ('whole' in gpu) {
    let whole = 0;
    for (let d = 0; d < n; d++) if ((gpuFree[d] as number) >= GPU_MILLI) whole++;
    return whole < gpu.whole ? 0 : gpu.whole / whole;
  }
  const chosen = chooseDevices(gpuFree, gpu, 'pack');
  const d = chosen?.[0];
  if (d === undefined) return 0;
  return clamp01(1 - ((gpuFree[d] as number) - gpu.milli) / GPU_MILLI);
}

/** scoreAgent is the weighted sum of the parts; a part whose weight is 0 is skipped. */
export function scoreAgent(view: ScoreView, weights: ScoreWeights): number {
  let score = 0;
  // Where the GPU cost is known, it is the fit too: on an agent with GPUs, cpus and mem are worth
  // the GPUs they feed, and the cost counts exactly that. Best fit of cpus and mem beside it would
  // pull tasks toward the fullest agent whatever that does to the GPUs.
  const gpu = weights.gpu > 0 ? (view.gpuCost === undefined ? gpuScore(view.gpuFree, view.gpu) : gpuCostScore(view.gpuCost)) : 0;
  if (weights.fit > 0) score += weights.fit * (view.gpuCost === undefined ? fitScore(view.fit) : gpu);
  if (weights.spread > 0) score += weights.spread * spreadScore(view.spreadCount);
  if (weights.gpu > 0) score += weights.gpu * gpu;
  return score;
}

/** CAPACITY_SHARE is λ above: how much a GPU that no cpu or mem is left to feed counts as a fragment. */
export const CAPACITY_SHARE = 0.1;
/** POOL_PRESSURE weighs a pool's use ahead of the cell's against fragmentation, per milli asked. */
export const POOL_PRESSURE = 3;
/** COST_SCALE (milli) turns a GPU cost into the gpu part: a cost of COST_SCALE scores 0.27. */
export const COST_SCALE = 1000;

/** gpuCostScore is the gpu part for a GPU cost in milli: 1 / (1 + exp(cost / COST_SCALE)). */
export function gpuCostScore(cost: number): number {
  return 1 / (1 + Math.exp(cost / COST_SCALE));
}

// ---- the GPU mix and fragmentation -----------------------------------------------------------------

/** MAX_MIX_SHAPES bounds the distinct task shapes a mix keeps; past it, further shapes are left out. */
export const MAX_MIX_SHAPES = 1024;

/**
 * GpuMix is the mix of GPU tasks a cell expects (see the top of this file): task shapes (cpus, mem,
 * GPU request) with weights. add() counts tasks; fragmentation() measures an agent against the
 * shapes counted so far, grouped by GPU request so that the devices are looked at once per group.
 * Tasks without GPUs are not shapes of it: they strand GPUs by taking cpus and mem, which shows in
 * the GPU shapes' cpu and mem checks.
 */
export class GpuMix {
  private readonly index = new Map<string, number>();
  private readonly cpu: number[] = [];
  private readonly mem: number[] = [];
  private readonly num: number[] = [];
  private readonly milli: number[] = [];
  private readonly count: number[] = [];
  private total = 0;
  private compiled: CompiledMix | undefined;

  /** empty: no GPU task counted; there is nothing to measure against. */
  get empty(): boolean {
    return this.total === 0;
  }

  /** size is the number of distinct shapes. */
  get size(): number {
    return this.cpu.length;
  }

  /** add counts n tasks of a shape; a task without GPUs is not counted. */
  add(cpusMilli: number, memMiB: number, gpu: GpuRequest | undefined, n = 1): void {
    if (gpu === undefined || !(n > 0)) return;
    const num = 'whole' in gpu ? gpu.whole : 1;
    const milli = 'whole' in gpu ? GPU_MILLI : gpu.milli;
    if (!(num >= 1 && num <= MAX_DEVICES && milli >= 1 && milli <= GPU_MILLI)) return;
    const key = `${cpusMilli}/${memMiB}/${num}/${milli}`;
    let i = this.index.get(key);
    if (i === undefined) {
      if (this.cpu.length >= MAX_MIX_SHAPES) return;
      i = this.cpu.length;
      this.index.set(key, i);
      this.cpu.push(Math.max(0, cpusMilli));
      this.mem.push(Math.max(0, memMiB));
      this.num.push(num);
      this.milli.push(milli);
      this.count.push(0);
    }
    this.count[i] = (this.count[i] as number) + n;
    this.total += n;
    this.compiled = undefined;
  }

  private compile(): CompiledMix {
    if (this.compiled !== undefined) return this.compiled;
    const order = this.cpu.map((_, i) => i);
    order.sort((a, b) => (this.num[a] as number) - (this.num[b] as number) || (this.milli[a] as number) - (this.milli[b] as number));
    const groupNum: number[] = [];
    const groupMilli: number[] = [];
    const groupStart: number[] = [];
    order.forEach((s, k) => {
      if (k === 0 || groupNum[groupNum.length - 1] !== this.num[s] || groupMilli[groupMilli.length - 1] !== this.milli[s]) {
        groupNum.push(this.num[s] as number);
        groupMilli.push(this.milli[s] as number);
        groupStart.push(k);
      }
    });
    groupStart.push(order.length);
    this.compiled = {
      groupNum: Int32Array.from(groupNum),
      groupMilli: Int32Array.from(groupMilli),
      groupStart: Int32Array.from(groupStart),
      cpu: Float64Array.from(order, (s) => this.cpu[s] as number),
      mem: Float64Array.from(order, (s) => this.mem[s] as number),
      weight: Float64Array.from(order, (s) => (this.count[s] as number) / this.total),
    };
    return this.compiled;
  }

  /**
   * fragmentation is the free GPU (milli) of an agent with cpus, mem and the devices' free milli
   * left that the mix could not use: 0 without free GPU, all of it where no shape fits.
   */
  fragmentation(cpusMilli: number, memMiB: number, gpuFree: ArrayLike<number>): number {
    let free = 0;
    for (let d = 0; d < gpuFree.length; d++) free += gpuFree[d] as number;
    if (free <= 0 || this.total === 0) return Math.max(0, free);
    const t = this.compile();
    let usableExpected = 0;
    for (let g = 0; g < t.groupNum.length; g++) {
      const milli = t.groupMilli[g] as number;
      const num = t.groupNum[g] as number;
      let count = 0;
      let usable = 0;
      let slots = 0;
      for (let d = 0; d < gpuFree.length; d++) {
        const f = gpuFree[d] as number;
        if (f >= milli) {
          count++;
          usable += f;
          slots += Math.floor(f / milli);
        }
      }
      if (count < num || usable === 0) continue;
      // The tasks of the group the devices alone could take (shares stack on a device).
      const gpuSlots = num === 1 ? slots : Math.floor(count / num);
      let w = 0;
      const end = t.groupStart[g + 1] as number;
      for (let c = t.groupStart[g] as number; c < end; c++) {
        const cpu = t.cpu[c] as number;
        const mem = t.mem[c] as number;
        if (cpu > cpusMilli || mem > memMiB) continue;
        let k = gpuSlots;
        if (cpu > 0) k = Math.min(k, Math.floor(cpusMilli / cpu));
        if (mem > 0) k = Math.min(k, Math.floor(memMiB / mem));
        // 1 − λ + λ·k/k' written so that a machine whose cpus and mem feed every slot counts exactly 1.
        w += k >= gpuSlots ? (t.weight[c] as number) : (t.weight[c] as number) * (1 - (CAPACITY_SHARE * (gpuSlots - k)) / gpuSlots);
      }
      usableExpected += w * usable;
    }
    return free - usableExpected;
  }
}

interface CompiledMix {
  readonly groupNum: Int32Array;
  readonly groupMilli: Int32Array;
  /** Shapes of group g are [groupStart[g], groupStart[g + 1]). */
  readonly groupStart: Int32Array;
  readonly cpu: Float64Array;
  readonly mem: Float64Array;
  readonly weight: Float64Array;
}

/** GrowthResult is fragmentationGrowth's answer: the growth (milli) and, for a share, its device. */
export interface GrowthResult {
  growth: number;
  /** The device a share goes to; -1 for whole GPUs or none. */
  device: number;
}

/**
 * fragmentationGrowth is how much the agent's fragmentation grows if a task of cpusMilli, memMiB
 * and gpu goes on it (before is its fragmentation now). A share goes to the device that makes it
 * grow least, ties to the lower index (devices with equal free are alike, so each free amount is
 * tried once); whole GPUs take the lowest wholly free devices, as chooseDevices does. scratch holds
 * at least as many devices as gpuFree. The task must fit.
 */
export function fragmentationGrowth(
  mix: GpuMix,
  agent: { readonly cpusMilli: number; readonly memMiB: number; readonly gpuFree: ArrayLike<number>; readonly before: number },
  task: { readonly cpusMilli: number; readonly memMiB: number; readonly gpu: GpuRequest | undefined },
  scratch: Int32Array,
  out: GrowthResult,
): GrowthResult {
  const { gpuFree, before } = agent;
  const n = gpuFree.length;
  const cpu = agent.cpusMilli - task.cpusMilli;
  const mem = agent.memMiB - task.memMiB;
  const after = scratch.subarray(0, n);
  for (let d = 0; d < n; d++) after[d] = gpuFree[d] as number;
  out.device = -1;
  const gpu = task.gpu;
  if (gpu === undefined || 'whole' in gpu) {
    let left = gpu === undefined ? 0 : gpu.whole;
    for (let d = 0; d < n && left > 0; d++) {
      if (after[d] === GPU_MILLI) {
        after[d] = 0;
        left--;
      }
    }
    out.growth = mix.fragmentation(cpu, mem, after) - before;
    return out;
  }
  let best = Infinity;
  for (let d = 0; d < n; d++) {
    const f = gpuFree[d] as number;
    if (f < gpu.milli) continue;
    let seen = false;
    for (let e = 0; e < d && !seen; e++) seen = gpuFree[e] === f;
    if (seen) continue;
    after[d] = f - gpu.milli;
    const growth = mix.fragmentation(cpu, mem, after) - before;
    after[d] = f;
    if (growth < best) {
      best = growth;
      out.device = d;
    }
  }
  out.growth = best;
  return out;
}
