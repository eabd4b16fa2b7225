// packing: how much GPU a cell leaves unallocated under each node scorer, on Alibaba's openb trace,
// the experiment of "Beware of Fragmentation" (Weng et al., USENIX ATC '23, Fig. 9a), as issue #4
// states it:
//
//   the 1,213 GPU nodes of openb_node_list_gpu_node.csv; for seeds 42–51, the pods of a pod list
//   shuffled, then clones sampled with replacement until the next would exceed 1.3 × the cell's
//   GPU capacity; each pod placed once, in order (no departures, no retries; cpu, memory, per-GPU
//   fit and gpu_spec enforced). After each pod, record the arrived GPU (failed pods included) and
//   the allocated GPU, in milli; report the unallocated GPU, (arrived − allocated) / capacity, at
//   the moment the arrived GPU reaches 90%, 100% and 130% of capacity (the last: the end of the
//   sequence, which stops just short of it), mean and median over the seeds.
//
// Published at 100% arrived on the default list: Random 13.70, Dot-product 9.38, Clustering 8.35,
// Packing 8.22, Best-fit 7.14, FGD 4.77 (% of capacity).
//
// Our FGD scores as the paper's harness does (kube-scheduler integers, ties drawn at random) and
// lands at 4.8; scored exactly it does worse (5.4). Muster's is FGD measured against a refined
// target workload (capacity-bounded usability, scarcity weighting: see TargetWorkload in
// src/scheduler/gpus.ts).
//
// The simulation is the hot loop: 1,213 nodes scanned per pod, ~10,000 pods per run, 200 runs. A
// node's score for a task shape is cached until that node changes, and so is its fragmentation,
// so a placement costs one node's recomputation per shape asked for.

import { performance } from 'node:perf_hooks';
import { GpuScorer, MUSTER_CAPACITY_SHARE, MUSTER_SCARCITY, PACKING_POLICIES, TargetWorkload } from '../src/scheduler/index.js';
import type { GpuPodRequest, PackingPolicy } from '../src/scheduler/index.js';
import { loadOpenbNodes, loadOpenbPods, mulberry32, openbArrivals, openbDir } from '../src/sim/index.js';
import type { OpenbNode, OpenbPod } from '../src/sim/index.js';
import { printTable, repoRoot } from './report.js';
import { median, round } from './stats.js';

export const PACKING_TRACES = ['default', 'cpu050', 'gpuspec33', 'multigpu50'] as const;
export const PACKING_SEEDS: readonly number[] = [42, 43, 44, 45, 46, 47, 48, 49, 50, 51];
/** Arrived GPU as % of capacity at which the unallocated GPU is read. */
export const CHECKPOINTS: readonly number[] = [90, 100, 130];
export const INFLATION = 1.3;
/** MAX_CACHE bounds the per-node, per-shape score cache (the trace needs 1,213 × 458). */
const MAX_CACHE = 32 * 1024 * 1024;

interface PolicyRow {
  readonly label: string;
  readonly policy: PackingPolicy;
  /** The paper's figure at 100% arrived on the default list. */
  readonly published?: number;
}

const POLICIES: readonly PolicyRow[] = [
  { label: 'Random', policy: 'random', published: 13.7 },
  { label: 'Dot-product', policy: 'dot-product', published: 9.38 },
  { label: 'Best-fit', policy: 'best-fit', published: 7.14 },
  { label: 'FGD', policy: 'fgd', published: 4.77 },
  { label: "Muster's", policy: 'muster' },
];

/** Cell is the packing experiment's input: nodes, a pod list, its task shapes, its workloads. */
export interface Cell {
  readonly nodes: readonly OpenbNode[];
  readonly pods: readonly OpenbPod[];
  /** Distinct requests; shapeOf[i] is pod i's. */
  readonly shapes: readonly GpuPodRequest[];
  readonly shapeOf: Int32Array;
  readonly capacityGpuMilli: number;
  /** The target workloads: FGD's (popularity, as the paper) and Muster's. */
  readonly fgdWorkload: TargetWorkload;
  readonly musterWorkload: TargetWorkload;
}

export function makeCell(nodes: readonly OpenbNode[], pods: readonly OpenbPod[]): Cell {
  const shapes: GpuPodRequest[] = [];
  const byKey = new Map<string, number>();
  const shapeOf = new Int32Array(pods.length);
  pods.forEach((p, i) => {
    const key = `${p.cpuMilli}/${p.memMiB}/${p.numGpu}/${p.gpuMilli}/${p.gpuSpec}`;
    let s = byKey.get(key);
    if (s === undefined) {
      s = shapes.length;
      byKey.set(key, s);
      shapes.push({ cpuMilli: p.cpuMilli, memMiB: p.memMiB, numGpu: p.numGpu, gpuMilli: p.gpuMilli, gpuSpec: p.gpuSpec });
    }
    shapeOf[i] = s;
  });
  let capacityGpuMilli = 0;
  for (const n of nodes) capacityGpuMilli += n.gpus * 1000;
  return {
    nodes,
    pods,
    shapes,
    shapeOf,
    capacityGpuMilli,
    fgdWorkload: TargetWorkload.fgd(pods),
    musterWorkload: TargetWorkload.muster(pods, nodes.map(emptyNode)),
  };
}

/** RunResult is one simulation: unallocated GPU % at each checkpoint, and the run's totals. */
export interface RunResult {
  readonly unallocatedPct: readonly number[];
  readonly arrivedPct: number;
  readonly allocatedPct: number;
  readonly pods: number;
  readonly failedPods: number;
  readonly ms: number;
}

function emptyNode(node: OpenbNode): NodeState {
  return { cpuMilli: node.cpuMilli, memMiB: node.memMiB, gpuFree: new Int32Array(node.gpus).fill(1000), model: node.model };
}

interface NodeState {
  cpuMilli: number;
  memMiB: number;
  gpuFree: Int32Array;
  readonly model: string;
}

/** simulate places the arrivals one by one on a fresh cell under one policy. */
export function simulate(cell: Cell, arrivals: Int32Array, policy: PackingPolicy, seed: number): RunResult {
  const t0 = performance.now();
  const { nodes, shapes, shapeOf, capacityGpuMilli } = cell;
  const n = nodes.length;
  const s = shapes.length;
  // One generator for the ties and the random policy's draws, seeded per run and policy: the
  // pods of a seed are the same for every policy, the draws each policy's own.
  const random = mulberry32(seed * 7919 + PACKING_POLICIES.indexOf(policy));
  const workload = policy === 'fgd' ? cell.fgdWorkload : cell.musterWorkload;
  const scorer = new GpuScorer({ policy, workload, random });
  const usesFragmentation = policy === 'fgd' || policy === 'muster';

  if (n * s > MAX_CACHE) throw new Error(`${n} nodes × ${s} task shapes is more scores than the ${MAX_CACHE} this benchmark caches`);
  const state = nodes.map(emptyNode);
  // A node's version counts its placements; a cached score or fragmentation holds while the
  // version it was computed at is the node's.
  const version = new Int32Array(n);
  const cached = new Float64Array(n * s);
  const cachedAt = new Int32Array(n * s).fill(-1);
  const fragmentation = new Float64Array(n);
  const fragmentationAt = new Int32Array(n).fill(-1);

  const marks = CHECKPOINTS.map((c) => (c / 100) * capacityGpuMilli);
  const unallocated = CHECKPOINTS.map(() => Number.NaN);
  let next = 0;
  let arrived = 0;
  let allocated = 0;
  let failed = 0;
  for (let k = 0; k < arrivals.length; k++) {
    const shape = shapeOf[arrivals[k] as number] as number;
    const pod = shapes[shape] as GpuPodRequest;
    const gpu = pod.numGpu * pod.gpuMilli;
    let best = Infinity;
    let chosen = -1;
    let ties = 0;
    for (let i = 0; i < n; i++) {
      const slot = i * s + shape;
      let score: number;
      if (cachedAt[slot] === version[i]) {
        score = cached[slot] as number;
      } else {
        const node = state[i] as NodeState;
        let now: number | undefined;
        if (usesFragmentation) {
          if (fragmentationAt[i] !== version[i]) {
            fragmentation[i] = workload.fragmentation(node);
            fragmentationAt[i] = version[i] as number;
          }
          now = fragmentation[i];
        }
        score = scorer.score(node, pod, now);
        cached[slot] = score;
        cachedAt[slot] = version[i] as number;
      }
      if (score < best) {
        best = score;
        chosen = i;
        ties = 1;
      } else if (score === best && score !== Infinity && random() * ++ties < 1) {
        chosen = i;
      }
    }
    arrived += gpu;
    if (chosen >= 0) {
      const node = state[chosen] as NodeState;
      const devices = scorer.devices(node, pod);
      if (devices === undefined) throw new Error(`scorer chose node ${chosen} for a pod that does not fit there`);
      node.cpuMilli -= pod.cpuMilli;
      node.memMiB -= pod.memMiB;
      for (const d of devices) node.gpuFree[d] = (node.gpuFree[d] as number) - pod.gpuMilli;
      version[chosen] = (version[chosen] as number) + 1;
      allocated += gpu;
    } else {
      failed++;
    }
    while (next < marks.length && arrived >= (marks[next] as number)) {
      unallocated[next] = ((arrived - allocated) / capacityGpuMilli) * 100;
      next++;
    }
  }
  // The sequence stops just short of the last mark (the next pod would pass it): read the rest there.
  for (; next < marks.length; next++) unallocated[next] = ((arrived - allocated) / capacityGpuMilli) * 100;
  return {
    unallocatedPct: unallocated,
    arrivedPct: (arrived / capacityGpuMilli) * 100,
    allocatedPct: (allocated / capacityGpuMilli) * 100,
    pods: arrivals.length,
    failedPods: failed,
    ms: performance.now() - t0,
  };
}

function mean(xs: readonly number[]): number {
  let t = 0;
  for (const x of xs) t += x;
  return xs.length === 0 ? Number.NaN : t / xs.length;
}

interface TraceFigures {
  trace: string;
  pods: number;
  shapes: number;
  policies: {
    policy: string;
    label: string;
    unallocatedPct: Record<string, { mean: number; median: number; perSeed: number[] }>;
    failedPodsMean: number;
    msPerRunMean: number;
    usPerPodMean: number;
    publishedAt100Pct?: number;
  }[];
}

export function runPackingBench(): Promise<Record<string, unknown>> {
  const dir = openbDir(process.env, repoRoot());
  const nodes = loadOpenbNodes('gpu_node', dir);
  const figures: TraceFigures[] = [];
  for (const trace of PACKING_TRACES) {
    const cell = makeCell(nodes, loadOpenbPods(trace, dir));
    const arrivals = PACKING_SEEDS.map((seed) => openbArrivals(cell.pods, { seed, capacityGpuMilli: cell.capacityGpuMilli, ratio: INFLATION }));
    const rows: TraceFigures['policies'] = [];
    for (const p of POLICIES) {
      const runs = PACKING_SEEDS.map((seed, i) => simulate(cell, arrivals[i] as Int32Array, p.policy, seed));
      const unallocatedPct: TraceFigures['policies'][number]['unallocatedPct'] = {};
      CHECKPOINTS.forEach((c, j) => {
        const perSeed = runs.map((r) => r.unallocatedPct[j] as number);
        unallocatedPct[`${c}`] = { mean: round(mean(perSeed), 2), median: round(median(perSeed), 2), perSeed: perSeed.map((v) => round(v, 3)) };
      });
      const row: TraceFigures['policies'][number] = {
        policy: p.policy,
        label: p.label,
        unallocatedPct,
        failedPodsMean: round(mean(runs.map((r) => r.failedPods)), 1),
        msPerRunMean: round(mean(runs.map((r) => r.ms)), 1),
        usPerPodMean: round(mean(runs.map((r) => (r.ms * 1000) / r.pods)), 1),
      };
      if (trace === 'default' && p.published !== undefined) row.publishedAt100Pct = p.published;
      rows.push(row);
    }
    const podsPerRun = round(mean(arrivals.map((a) => a.length)), 0);
    printTable(
      `openb_pod_list_${trace}: unallocated GPU, % of capacity (${fmtGpus(cell.capacityGpuMilli)} GPUs on ${nodes.length} nodes), ` +
        `at 90/100/130% arrived; mean and median over seeds ${PACKING_SEEDS[0]}-${PACKING_SEEDS[PACKING_SEEDS.length - 1]}; ~${podsPerRun} pods a run`,
      ['policy', '90% mean', '90% med', '100% mean', '100% med', '130% mean', '130% med', 'paper @100%', 'failed pods/run', 'µs/pod'],
      rows.map((r) => [
        r.label,
        fixed(r.unallocatedPct['90']?.mean),
        fixed(r.unallocatedPct['90']?.median),
        fixed(r.unallocatedPct['100']?.mean),
        fixed(r.unallocatedPct['100']?.median),
        fixed(r.unallocatedPct['130']?.mean),
        fixed(r.unallocatedPct['130']?.median),
        r.publishedAt100Pct === undefined ? '-' : fixed(r.publishedAt100Pct),
        r.failedPodsMean,
        r.usPerPodMean,
      ]),
    );
    figures.push({ trace, pods: cell.pods.length, shapes: cell.shapes.length, policies: rows });
  }
  return Promise.resolve({
    nodes: nodes.length,
    capacityGpus: nodes.reduce((a, n) => a + n.gpus, 0),
    seeds: PACKING_SEEDS,
    inflation: INFLATION,
    checkpointsPct: CHECKPOINTS,
    muster: { capacityShare: MUSTER_CAPACITY_SHARE, scarcity: MUSTER_SCARCITY },
    traces: figures,
  });
}

function fmtGpus(milli: number): string {
  return (milli / 1000).toLocaleString('en-US');
}

/** fixed shows a percentage with two decimals, as the paper does. */
function fixed(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? '-' : v.toFixed(2);
}


