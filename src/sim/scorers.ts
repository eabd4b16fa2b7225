// Research scorers for the GPU packing experiment (bench/packing.ts, simulateScorer in packing.ts):
// the node-level fit of a pod of Alibaba's openb trace (fitsGpuNode), the target workload that
// fragmentation is measured against (TargetWorkload), and the node scorers the paper compares
// (GpuScorer): the baselines Random, Best-fit and Dot-product, FGD (Weng et al., "Beware of
// Fragmentation", USENIX ATC '23), and a research refinement of FGD that knows the whole pod list
// in advance. They are baselines to measure Muster against, not what Muster runs: the master places
// with scheduler/ (place() and scoring.ts), and simulateMaster measures that. Pure: no clock, no
// I/O; randomness only from a generator the caller passes in.

import { MusterError } from '../core/index.js';
import { chooseDevices, GPU_MILLI, MAX_DEVICES, type GpuRequest } from '../scheduler/index.js';

/** gpuRequestOf turns the trace's (number of GPUs, milli per GPU) into a request; none for 0 GPUs. */
export function gpuRequestOf(numGpu: number, gpuMilli: number): GpuRequest | undefined {
  if (numGpu === 0 && gpuMilli === 0) return undefined;
  if (numGpu === 1 && Number.isInteger(gpuMilli) && gpuMilli > 0 && gpuMilli < GPU_MILLI) return { milli: gpuMilli };
  if (gpuMilli === GPU_MILLI && Number.isInteger(numGpu) && numGpu >= 1 && numGpu <= MAX_DEVICES) return { whole: numGpu };
  throw new MusterError('INVALID_ARGUMENT', `a GPU request is 1..${MAX_DEVICES} whole GPUs (1000 milli each) or a share of one GPU, not ${numGpu} × ${gpuMilli} milli`);
}

// ---- node-level fit --------------------------------------------------------------------------------

/** GpuNodeView is what node-level scoring looks at: one agent's free resources and GPU model. */
export interface GpuNodeView {
  readonly cpuMilli: number;
  readonly memMiB: number;
  /** Free milli per device. */
  readonly gpuFree: ArrayLike<number>;
  readonly model: string;
}

/** GpuPodRequest is one task's request in the trace's terms. */
export interface GpuPodRequest {
  readonly cpuMilli: number;
  readonly memMiB: number;
  /** Devices: 0 (no GPU), 1 (a share or one whole GPU), or more (whole GPUs). */
  readonly numGpu: number;
  /** Milli per device: 1..999 for a share, 1000 for whole GPUs, 0 without GPU. */
  readonly gpuMilli: number;
  /** The GPU models accepted, separated by "|" ("V100M16|V100M32"); empty: any. */
  readonly gpuSpec: string;
}

/** GpuMisfit names the first thing a node lacks for a task. */
export type GpuMisfit = 'gpu_spec' | 'cpu' | 'memory' | 'gpu';

export type GpuFitResult = { readonly ok: true } | { readonly ok: false; readonly reason: GpuMisfit };

const FITS: GpuFitResult = Object.freeze({ ok: true });
const MISFIT: Readonly<Record<GpuMisfit, GpuFitResult>> = Object.freeze({
  gpu_spec: Object.freeze({ ok: false, reason: 'gpu_spec' }),
  cpu: Object.freeze({ ok: false, reason: 'cpu' }),
  memory: Object.freeze({ ok: false, reason: 'memory' }),
  gpu: Object.freeze({ ok: false, reason: 'gpu' }),
});

/**
 * acceptsModel tells whether a gpu_spec ("P100|T4", models separated by "|"; empty: any) accepts
 * a model. It scans in place: it runs once per node per task and must not allocate.
 */
export function acceptsModel(spec: string, model: string): boolean {
  if (spec === '') return true;
  if (model === '') return false;
  let at = spec.indexOf(model);
  while (at >= 0) {
    const end = at + model.length;
    if ((at === 0 || spec.charCodeAt(at - 1) === 124) && (end === spec.length || spec.charCodeAt(end) === 124)) return true;
    at = spec.indexOf(model, at + 1);
  }
  return false;
}

/**
 * gpuFits tells whether the devices hold numGpu × gpuMilli: a share on one device, whole GPUs on
 * wholly free ones. No GPU asked always fits.
 */
export function gpuFits(free: ArrayLike<number>, numGpu: number, gpuMilli: number): boolean {
  if (numGpu === 0) return true;
  let n = 0;
  for (let i = 0; i < free.length; i++) if ((free[i] as number) >= gpuMilli && ++n >= numGpu) return true;
  return false;
}

/**
 * fitsGpuNode checks gpu_spec, cpu, memory and per-device GPU fit, in that order. A gpu_spec
 * restricts the node's model whatever the task asks of its GPUs, as the trace's harness does.
 */
export function fitsGpuNode(node: GpuNodeView, pod: GpuPodRequest): GpuFitResult {
  if (!acceptsModel(pod.gpuSpec, node.model)) return MISFIT.gpu_spec;
  if (pod.cpuMilli > node.cpuMilli) return MISFIT.cpu;
  if (pod.memMiB > node.memMiB) return MISFIT.memory;
  if (!gpuFits(node.gpuFree, pod.numGpu, pod.gpuMilli)) return MISFIT.gpu;
  return FITS;
}


// ---- fragmentation against a target workload ----------------------------------------------------

/**
 * TargetWorkloadOptions say how a target workload weighs its task shapes and what it counts as
 * usable. With none, it is FGD's measure weighted by popularity alone.
 */
export interface TargetWorkloadOptions {
  /**
   * countCpuTasks counts tasks without GPUs in the popularity, as the paper's harness does (for
   * them every free GPU is a fragment). It moves every node's fragmentation by the same share of
   * its free GPU: it matters only where scores are rounded, as FGD's integer scores are.
   */
  readonly countCpuTasks?: boolean;
  /**
   * capacityShare (0..1) is the weight of the capacity-bounded count of usable GPU against FGD's
   * count (0, the default, is FGD's). See TargetWorkload.
   */
  readonly capacityShare?: number;
  /** cell is the cell's nodes with what they have free; scarcity weighting needs it. */
  readonly cell?: readonly GpuNodeView[];
  /** scarcity (0..MAX_SCARCITY) is the exponent of the scarcity weighting; 0, the default, is none. */
  readonly scarcity?: number;
}

/** MAX_CLASSES bounds the distinct task shapes a target workload keeps (the trace has < 500). */
export const MAX_CLASSES = 100_000;
/** MAX_CELL bounds the nodes scarcity weighting looks at. */
export const MAX_CELL = 1_000_000;
export const MAX_SCARCITY = 16;

/** The refined target workload's knobs, chosen on the openb trace; see TargetWorkload.refined. */
export const REFINED_CAPACITY_SHARE = 0.5;
export const REFINED_SCARCITY = 8;

/** WorkloadShape is one task shape of a target workload and its weight (all weights sum to 1). */
export interface WorkloadShape {
  readonly request: GpuPodRequest;
  readonly weight: number;
}

/**
 * ModelTable is the target workload as a node of one GPU model sees it: the shapes whose gpu_spec
 * accepts the model, grouped by GPU request (number, milli) so that the devices are looked at once
 * per group, not once per shape.
 */
interface ModelTable {
  readonly groupNum: Int32Array;
  readonly groupMilli: Int32Array;
  /** Shapes of group g are [groupStart[g], groupStart[g + 1]). */
  readonly groupStart: Int32Array;
  readonly cpu: Float64Array;
  readonly mem: Float64Array;
  readonly weight: Float64Array;
}

interface Shape {
  readonly request: GpuPodRequest;
  weight: number;
}

function checkFraction(name: string, v: number, max: number): number {
  if (!Number.isFinite(v) || v < 0 || v > max) throw new MusterError('INVALID_ARGUMENT', `${name} is 0..${max}, not ${v}`);
  return v;
}

function totalFree(free: ArrayLike<number>): number {
  let t = 0;
  for (let d = 0; d < free.length; d++) t += free[d] as number;
  return t;
}

/**
 * TargetWorkload is the mix of tasks expected to arrive, as shapes with weights, and measures how
 * much of a node's free GPU that mix could not use: FGD's fragmentation (Weng et al., ATC '23).
 *
 * FGD: for one shape m, the fragment of a node is all of its free GPU when m cannot run there at
 * all (too little cpu or memory, a model m does not accept, too few devices with room), and
 * otherwise the free GPU on devices too full for m (free < m's milli per device). The node's
 * fragmentation is the expected fragment, Σ_m w_m · fragment_m, in milli, the weights being the
 * shapes' popularity in the pod list. Written as free − Σ_m w_m · usable_m, a node costs one pass
 * over its devices per GPU request group and a compare per shape.
 *
 * The research refinement changes two things (TargetWorkload.refined):
 * - Capacity. FGD counts a node's GPUs usable by m as soon as ONE task of m fits, so 8 free GPUs
 *   with cpu for one task look wholly usable. The capacity-bounded count scales usable_m by the
 *   share of the node's GPU slots for m that its cpu and memory can actually feed,
 *   min(slots, ⌊cpu / cpu_m⌋, ⌊mem / mem_m⌋) / slots; capacityShare blends it with FGD's count.
 *   This is what keeps cpu from running out on nodes whose GPUs are still free (and what sends
 *   cpu-hungry tasks to cpu-rich models), which FGD only sees once it has happened.
 * - Scarcity. Popularity says how often a shape comes, not how hard it is to place. Spread every
 *   shape's GPU demand evenly over the nodes that could hold it (cell, empty); a node's load is the
 *   demand it receives per GPU, a shape's pressure the mean load over its nodes. Weighting shapes
 *   by popularity × pressure^scarcity makes GPU that only a few shapes can use (a model most
 *   tasks do not accept, whole 8-GPU nodes) count more than GPU everyone can use. With the
 *   gpu_spec constraints of the trace's gpuspec33 list this is the difference between 12% and 5%
 *   of the cell's GPU left unallocated; without constraints pressures are nearly equal and it
 *   changes little.
 *
 * Tasks without GPUs have no GPU shape to be blocked from (they are left out unless
 * countCpuTasks); they still strand GPUs by taking cpu, which shows in the GPU shapes' cpu checks.
 */
export class TargetWorkload {
  private readonly shapes: Shape[] = [];
  private readonly tables = new Map<string, ModelTable>();
  private readonly capacityShare: number;

  /** fgd is the paper's target workload: popularity over all pods, tasks without GPUs included. */
  static fgd(pods: Iterable<GpuPodRequest>): TargetWorkload {
    return new TargetWorkload(pods, { countCpuTasks: true });
  }

  /** refined is the research refinement: capacity-bounded usability, weighted by scarcity in the cell. */
  static refined(pods: Iterable<GpuPodRequest>, cell: readonly GpuNodeView[]): TargetWorkload {
    return new TargetWorkload(pods, { capacityShare: REFINED_CAPACITY_SHARE, cell, scarcity: REFINED_SCARCITY });
  }

  constructor(pods: Iterable<GpuPodRequest>, options: TargetWorkloadOptions = {}) {
    this.capacityShare = checkFraction('capacityShare', options.capacityShare ?? 0, 1);
    const scarcity = checkFraction('scarcity', options.scarcity ?? 0, MAX_SCARCITY);
    const byKey = new Map<string, Shape>();
    let count = 0;
    for (const p of pods) {
      if (!(p.cpuMilli >= 0) || !(p.memMiB >= 0) || !Number.isFinite(p.cpuMilli) || !Number.isFinite(p.memMiB)) {
        throw new MusterError('INVALID_ARGUMENT', `a task asks for ${p.cpuMilli} milli-cpus and ${p.memMiB} MiB; both are finite and ≥ 0`);
      }
      count++;
      if (p.numGpu === 0) continue;
      gpuRequestOf(p.numGpu, p.gpuMilli); // throws on a request that is neither a share nor whole GPUs
      const key = `${p.cpuMilli}/${p.memMiB}/${p.numGpu}/${p.gpuMilli}/${p.gpuSpec}`;
      let shape = byKey.get(key);
      if (shape === undefined) {
        if (byKey.size >= MAX_CLASSES) throw new MusterError('INVALID_ARGUMENT', `a target workload keeps at most ${MAX_CLASSES} task shapes`);
        shape = { request: { cpuMilli: p.cpuMilli, memMiB: p.memMiB, numGpu: p.numGpu, gpuMilli: p.gpuMilli, gpuSpec: p.gpuSpec }, weight: 0 };
        byKey.set(key, shape);
        this.shapes.push(shape);
      }
      shape.weight++;
    }
    let total = 0;
    for (const s of this.shapes) total += s.weight;
    const over = options.countCpuTasks === true ? count : total;
    for (const s of this.shapes) s.weight /= over;
    if (scarcity > 0) {
      if (options.cell === undefined) throw new MusterError('INVALID_ARGUMENT', 'scarcity weighting needs the cell');
      this.weighByScarcity(options.cell, scarcity);
    }
  }

  /**
   * weighByScarcity multiplies each shape's weight by its pressure^scarcity (see the class
   * comment) and scales the GPU shapes back to the share they had. Nodes are taken by type
   * (model, cpu, memory, free GPU), of which a real cell has few.
   */
  private weighByScarcity(cell: readonly GpuNodeView[], scarcity: number): void {
    if (cell.length > MAX_CELL) throw new MusterError('INVALID_ARGUMENT', `scarcity weighting looks at most at ${MAX_CELL} nodes`);
    const types = new Map<string, { node: GpuNodeView; gpu: number }>();
    for (const n of cell) {
      const free = totalFree(n.gpuFree);
      if (free === 0) continue;
      const key = `${n.model}/${n.cpuMilli}/${n.memMiB}/${n.gpuFree.length}/${free}`;
      const t = types.get(key);
      if (t === undefined) types.set(key, { node: n, gpu: free });
      else t.gpu += free;
    }
    const list = [...types.values()];
    const eligible = this.shapes.map((s) => list.map((t) => fitsGpuNode(t.node, s.request).ok));
    const room = this.shapes.map((_, m) => list.reduce((a, t, i) => a + ((eligible[m] as boolean[])[i] ? t.gpu : 0), 0));
    const load = new Float64Array(list.length);
    this.shapes.forEach((s, m) => {
      const r = room[m] as number;
      if (r === 0) return;
      const demand = s.weight * s.request.numGpu * s.request.gpuMilli;
      for (let i = 0; i < list.length; i++) if ((eligible[m] as boolean[])[i]) load[i] = (load[i] as number) + demand / r;
    });
    let before = 0;
    let after = 0;
    const weighted = this.shapes.map((s, m) => {
      const r = room[m] as number;
      let pressure = 0;
      for (let i = 0; i < list.length; i++) if ((eligible[m] as boolean[])[i]) pressure += (load[i] as number) * (list[i] as { gpu: number }).gpu;
      pressure = r === 0 ? 0 : pressure / r;
      before += s.weight;
      const w = s.weight * Math.pow(pressure, scarcity);
      after += w;
      return w;
    });
    if (!(after > 0) || !Number.isFinite(after)) return; // nothing fits anywhere: keep popularity
    this.shapes.forEach((s, m) => (s.weight = ((weighted[m] as number) * before) / after));
  }

  /** size is the number of distinct GPU task shapes in the mix. */
  get size(): number {
    return this.shapes.length;
  }

  /** mix lists the GPU task shapes and their weights, heaviest first. */
  mix(): WorkloadShape[] {
    return this.shapes.map((s) => ({ request: s.request, weight: s.weight })).sort((a, b) => b.weight - a.weight);
  }

  private table(model: string): ModelTable {
    let t = this.tables.get(model);
    if (t !== undefined) return t;
    const accepted = this.shapes
      .filter((s) => acceptsModel(s.request.gpuSpec, model))
      .sort((a, b) => a.request.numGpu - b.request.numGpu || a.request.gpuMilli - b.request.gpuMilli || a.request.cpuMilli - b.request.cpuMilli);
    const num: number[] = [];
    const milli: number[] = [];
    const start: number[] = [];
    accepted.forEach((s, i) => {
      if (i === 0 || num[num.length - 1] !== s.request.numGpu || milli[milli.length - 1] !== s.request.gpuMilli) {
        num.push(s.request.numGpu);
        milli.push(s.request.gpuMilli);
        start.push(i);
      }
    });
    start.push(accepted.length);
    t = {
      groupNum: Int32Array.from(num),
      groupMilli: Int32Array.from(milli),
      groupStart: Int32Array.from(start),
      cpu: Float64Array.from(accepted, (s) => s.request.cpuMilli),
      mem: Float64Array.from(accepted, (s) => s.request.memMiB),
      weight: Float64Array.from(accepted, (s) => s.weight),
    };
    this.tables.set(model, t);
    return t;
  }

  /**
   * fragmentation is the node's free GPU, in milli, that the mix is expected not to be able to
   * use: 0 for a node without free GPU, all of it where no GPU task of the mix fits.
   */
  fragmentation(node: GpuNodeView): number {
    const free = node.gpuFree;
    const total = totalFree(free);
    if (total === 0 || this.shapes.length === 0) return 0;
    const t = this.table(node.model);
    const lambda = this.capacityShare;
    let usableExpected = 0;
    for (let g = 0; g < t.groupNum.length; g++) {
      const milli = t.groupMilli[g] as number;
      const num = t.groupNum[g] as number;
      let count = 0;
      let usable = 0;
      let slots = 0;
      for (let d = 0; d < free.length; d++) {
        const f = free[d] as number;
        if (f >= milli) {
          count++;
          usable += f;
          if (lambda > 0) slots += Math.floor(f / milli);
        }
      }
      if (count < num || usable === 0) continue;
      // Slots: tasks of the group the devices alone could take (shares stack on a device).
      const gpuSlots = num === 1 ? slots : Math.floor(count / num);
      let w = 0;
      const end = t.groupStart[g + 1] as number;
      for (let c = t.groupStart[g] as number; c < end; c++) {
        const cpu = t.cpu[c] as number;
        const mem = t.mem[c] as number;
        if (cpu > node.cpuMilli || mem > node.memMiB) continue;
        let share = 1;
        if (lambda > 0) {
          let k = gpuSlots;
          if (cpu > 0) k = Math.min(k, Math.floor(node.cpuMilli / cpu));
          if (mem > 0) k = Math.min(k, Math.floor(node.memMiB / mem));
          share = 1 - lambda + (lambda * k) / gpuSlots;
        }
        w += (t.weight[c] as number) * share;
      }
      usableExpected += w * usable;
    }
    return total - usableExpected;
  }
}

// ---- node scorers --------------------------------------------------------------------------------

/**
 * PackingPolicy names a node scorer. The paper's baselines score as its harness (a kube-scheduler
 * plugin each) does, integers 0..100, so that near ties fall to the caller's random choice there
 * as they did in the paper:
 * - random: every node that fits scores alike;
 * - best-fit: least cpu and GPU free once placed, half weight each, each over the largest
 *   machine of the trace (128 cores, 8 GPUs);
 * - dot-product: Tetris's alignment of the request with the node's free vector (same scales),
 *   least aligned first, as the paper configures it;
 * - fgd: least growth of fragmentation (TargetWorkload.fgd), scored 100·σ(−Δ/1000);
 * - fgd-refined: least growth of fragmentation against TargetWorkload.refined, exact (no rounding).
 */
export type PackingPolicy = 'random' | 'best-fit' | 'dot-product' | 'fgd' | 'fgd-refined';

export const PACKING_POLICIES: readonly PackingPolicy[] = ['random', 'best-fit', 'dot-product', 'fgd', 'fgd-refined'];

/** The paper's normalisation of cpu and GPU: its largest machine, 128 cores and 8 GPUs. */
const MAX_SPEC_CPU = 128_000;
const MAX_SPEC_GPU = 8_000;

/** levels turns a higher-is-better score in [0, 1] into kube-scheduler's integer, lower-is-better. */
function levels(higherBetter: number): number {
  return -Math.trunc(higherBetter * 100);
}

export interface GpuScorerOptions {
  readonly policy: PackingPolicy;
  /** The mix fragmentation is measured against: fgd and fgd-refined need one. */
  readonly workload?: TargetWorkload;
  /** Draws in [0, 1) for the random policy's choice of a shared device: a seeded generator. */
  readonly random?: () => number;
}

/**
 * GpuScorer scores nodes for a task under one policy: lower is better, Infinity where the task does
 * not fit. score() looks at one node; the caller scans the nodes, keeps the lowest and breaks ties
 * (simulateScorer in packing.ts draws among them with a seeded generator, as kube-scheduler does), then asks
 * devices() which devices of the winner to take. A node's score for a task shape does not change
 * until the node does, so a caller may cache it. One scorer serves one caller at a time: it keeps
 * scratch space to score without allocating.
 */
export class GpuScorer {
  readonly policy: PackingPolicy;
  private readonly workload: TargetWorkload | undefined;
  private readonly random: (() => number) | undefined;
  private readonly scratch = new Int32Array(MAX_DEVICES);
  private readonly views: Int32Array[] = [];
  private readonly after: { cpuMilli: number; memMiB: number; gpuFree: Int32Array; model: string };
  /** The device the last fragmentation score chose for a share; -1 for whole GPUs. */
  private chosen = -1;

  constructor(options: GpuScorerOptions) {
    this.policy = options.policy;
    this.workload = options.workload;
    this.random = options.random;
    if (!PACKING_POLICIES.includes(this.policy)) throw new MusterError('INVALID_ARGUMENT', `no packing policy "${String(this.policy)}"; choose from ${PACKING_POLICIES.join(', ')}`);
    if ((this.policy === 'fgd' || this.policy === 'fgd-refined') && this.workload === undefined) {
      throw new MusterError('INVALID_ARGUMENT', `the ${this.policy} policy needs a target workload`);
    }
    if (this.policy === 'random' && this.random === undefined) {
      throw new MusterError('INVALID_ARGUMENT', 'the random policy needs a seeded random source');
    }
    for (let n = 0; n <= MAX_DEVICES; n++) this.views.push(this.scratch.subarray(0, n));
    this.after = { cpuMilli: 0, memMiB: 0, gpuFree: this.scratch, model: '' };
  }

  /**
   * score is the node's score for the pod, lower better; Infinity when it does not fit.
   * fragmentationNow may pass the node's current fragmentation when the caller caches it.
   */
  score(node: GpuNodeView, pod: GpuPodRequest, fragmentationNow?: number): number {
    if (node.gpuFree.length > MAX_DEVICES) throw new MusterError('INVALID_ARGUMENT', `an agent has at most ${MAX_DEVICES} GPU devices`);
    if (!fitsGpuNode(node, pod).ok) return Infinity;
    switch (this.policy) {
      case 'random':
        return 0;
      case 'best-fit': {
        const cpuLeft = (node.cpuMilli - pod.cpuMilli) / MAX_SPEC_CPU;
        const gpuLeft = (totalFree(node.gpuFree) - pod.numGpu * pod.gpuMilli) / MAX_SPEC_GPU;
        return levels(1 - 0.5 * cpuLeft - 0.5 * gpuLeft);
      }
      case 'dot-product': {
        const cpu = (node.cpuMilli / MAX_SPEC_CPU) * (pod.cpuMilli / MAX_SPEC_CPU);
        const gpu = (totalFree(node.gpuFree) / MAX_SPEC_GPU) * ((pod.numGpu * pod.gpuMilli) / MAX_SPEC_GPU);
        return levels(1 - (cpu + gpu) / 2);
      }
      case 'fgd':
        return this.fragmentationGrowth(node, pod, fragmentationNow, true);
      case 'fgd-refined':
        return this.fragmentationGrowth(node, pod, fragmentationNow, false);
    }
  }

  /**
   * devices are the devices of node the pod takes under this policy, or undefined when it does not
   * fit: for fgd and fgd-refined the device whose use grows fragmentation least (ties to the lower
   * index), for random one drawn at random, otherwise the pack policy of chooseDevices.
   */
  devices(node: GpuNodeView, pod: GpuPodRequest): number[] | undefined {
    if (!fitsGpuNode(node, pod).ok) return undefined;
    const request = gpuRequestOf(pod.numGpu, pod.gpuMilli);
    if (request === undefined) return [];
    if ('whole' in request) return chooseDevices(node.gpuFree, request, 'pack');
    if (this.policy === 'fgd' || this.policy === 'fgd-refined') {
      this.fragmentationGrowth(node, pod, undefined, this.policy === 'fgd');
      return [this.chosen];
    }
    if (this.policy === 'random' && this.random !== undefined) {
      let fitting = 0;
      for (let d = 0; d < node.gpuFree.length; d++) if ((node.gpuFree[d] as number) >= request.milli) fitting++;
      let k = Math.min(fitting - 1, Math.floor(this.random() * fitting));
      for (let d = 0; d < node.gpuFree.length; d++) if ((node.gpuFree[d] as number) >= request.milli && k-- === 0) return [d];
    }
    return chooseDevices(node.gpuFree, request, 'pack');
  }

  /** loadAfter fills the scratch node with what node has left once pod took device d (-1: whole GPUs). */
  private loadAfter(node: GpuNodeView, pod: GpuPodRequest, d: number): void {
    const n = node.gpuFree.length;
    const free = this.views[n] as Int32Array;
    for (let i = 0; i < n; i++) free[i] = node.gpuFree[i] as number;
    if (d >= 0) {
      free[d] = (free[d] as number) - pod.gpuMilli;
    } else {
      // Whole GPUs: wholly free devices are alike, so which ones does not change the score.
      let left = pod.numGpu;
      for (let i = 0; i < n && left > 0; i++) {
        if (free[i] === GPU_MILLI) {
          free[i] = 0;
          left--;
        }
      }
    }
    const after = this.after;
    after.cpuMilli = node.cpuMilli - pod.cpuMilli;
    after.memMiB = node.memMiB - pod.memMiB;
    after.gpuFree = free;
    after.model = node.model;
  }

  /**
   * fragmentationGrowth is how much the node's fragmentation grows if the pod goes there, on the
   * device (for a share) that makes it grow least, which it keeps in chosen; as kube-scheduler's
   * integer when rounded (the paper's FGD), exact otherwise. Devices with equal free give equal
   * results, so each free amount is tried once.
   */
  private fragmentationGrowth(node: GpuNodeView, pod: GpuPodRequest, fragmentationNow: number | undefined, rounded: boolean): number {
    const workload = this.workload as TargetWorkload;
    const before = fragmentationNow ?? workload.fragmentation(node);
    const score = (growth: number): number => (rounded ? levels(1 / (1 + Math.exp(growth / 1000))) : growth);
    this.chosen = -1;
    if (pod.numGpu !== 1 || pod.gpuMilli >= GPU_MILLI) {
      this.loadAfter(node, pod, -1);
      return score(workload.fragmentation(this.after) - before);
    }
    let best = Infinity;
    const free = node.gpuFree;
    for (let d = 0; d < free.length; d++) {
      const f = free[d] as number;
      if (f < pod.gpuMilli) continue;
      let seen = false;
      for (let e = 0; e < d && !seen; e++) seen = free[e] === f;
      if (seen) continue;
      this.loadAfter(node, pod, d);
      const s = score(workload.fragmentation(this.after) - before);
      if (s < best) {
        best = s;
        this.chosen = d;
      }
    }
    return best;
  }
}
