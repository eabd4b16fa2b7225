// packing: the GPU packing experiment of "Beware of Fragmentation" (Weng et al., USENIX ATC '23,
// Fig. 9a) on Alibaba's openb trace, run two ways:
//
// - simulateMaster: Muster itself. Each arriving pod becomes a job of one instance (JobCreated,
//   folded by the master's own apply()); the pass is the master's: pendingTasks() and the
//   AgentSlotCache build the scheduler input from the cell state, place() decides with the
//   master's default scheduling options (weights, sample size, one seed per pass), and the
//   placement is committed as a TasksLaunched the same apply() folds. A pod no agent fits is
//   killed at once (the experiment places each pod once and never retries it). Only the durable
//   append is left out: it costs time, not placements.
// - simulateScorer: the research scorers of scorers.ts (Random, Best-fit, Dot-product, FGD…) in
//   the paper's harness: every node scored, the lowest kept, ties drawn at random.
//
// Both take the same arrival sequences (openbArrivals) and report the unallocated GPU,
// (arrived − allocated) / capacity, at the moments the arrived GPU reaches the checkpoints.

import { performance } from 'node:perf_hooks';
import { MusterError, validateJobSpec, type JobSpec } from '../core/index.js';
import {
  AgentSlotCache,
  apply,
  DEFAULT_SCHEDULING_OPTIONS,
  emptyState,
  NO_SLACK,
  pendingTasks,
  runningOfJob,
  runningOnAgent,
  type CellState,
  type Event,
  type LoggedEvent,
  type SchedulingOptions,
} from '../master/index.js';
import { GpuDemand, place, type PlacementOptions } from '../scheduler/index.js';
import { mulberry32, type OpenbNode, type OpenbPod } from './openb.js';
import { GpuScorer, PACKING_POLICIES, TargetWorkload, type GpuPodRequest, type PackingPolicy } from './scorers.js';

/** Arrived GPU as % of capacity at which the unallocated GPU is read. */
export const CHECKPOINTS: readonly number[] = [90, 100, 130];
/** GPU_MODEL_ATTRIBUTE is the agent attribute a pod's gpu_spec becomes a constraint on. */
export const GPU_MODEL_ATTRIBUTE = 'gpu_model';
/** MAX_CACHE bounds the per-node, per-shape score cache of simulateScorer (the trace needs 1,213 × 458). */
const MAX_CACHE = 32 * 1024 * 1024;

/** PackingCell is the experiment's input: nodes, a pod list, its task shapes, its workloads. */
export interface PackingCell {
  readonly nodes: readonly OpenbNode[];
  readonly pods: readonly OpenbPod[];
  /** Distinct requests; shapeOf[i] is pod i's. */
  readonly shapes: readonly GpuPodRequest[];
  readonly shapeOf: Int32Array;
  readonly capacityGpuMilli: number;
  /** The research target workloads: FGD's (popularity, as the paper) and FGD refined. */
  readonly fgdWorkload: TargetWorkload;
  readonly refinedWorkload: TargetWorkload;
}

interface NodeState {
  cpuMilli: number;
  memMiB: number;
  gpuFree: Int32Array;
  readonly model: string;
}

function emptyNode(node: OpenbNode): NodeState {
  return { cpuMilli: node.cpuMilli, memMiB: node.memMiB, gpuFree: new Int32Array(node.gpus).fill(1000), model: node.model };
}

export function makePackingCell(nodes: readonly OpenbNode[], pods: readonly OpenbPod[]): PackingCell {
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
    refinedWorkload: TargetWorkload.refined(pods, nodes.map(emptyNode)),
  };
}

/** PackingRun is one simulation: unallocated GPU % at each checkpoint, and the run's totals. */
export interface PackingRun {
  readonly unallocatedPct: readonly number[];
  readonly arrivedPct: number;
  readonly allocatedPct: number;
  readonly pods: number;
  readonly failedPods: number;
  readonly ms: number;
}

/** Checkpoints follows arrived and allocated GPU and reads the unallocated share at each mark. */
class Checkpoints {
  private readonly marks: number[];
  readonly unallocated: number[];
  private next = 0;
  arrived = 0;
  allocated = 0;
  failed = 0;

  constructor(private readonly capacity: number) {
    this.marks = CHECKPOINTS.map((c) => (c / 100) * capacity);
    this.unallocated = CHECKPOINTS.map(() => Number.NaN);
  }

  record(gpu: number, placed: boolean): void {
    this.arrived += gpu;
    if (placed) this.allocated += gpu;
    else this.failed++;
    while (this.next < this.marks.length && this.arrived >= (this.marks[this.next] as number)) {
      this.unallocated[this.next++] = ((this.arrived - this.allocated) / this.capacity) * 100;
    }
  }

  result(pods: number, t0: number): PackingRun {
    // The sequence stops just short of the last mark (the next pod would pass it): read the rest there.
    for (; this.next < this.marks.length; this.next++) this.unallocated[this.next] = ((this.arrived - this.allocated) / this.capacity) * 100;
    return {
      unallocatedPct: this.unallocated,
      arrivedPct: (this.arrived / this.capacity) * 100,
      allocatedPct: (this.allocated / this.capacity) * 100,
      pods,
      failedPods: this.failed,
      ms: performance.now() - t0,
    };
  }
}

/** simulateScorer places the arrivals one by one on a fresh cell under one research policy. */
export function simulateScorer(cell: PackingCell, arrivals: Int32Array, policy: PackingPolicy, seed: number): PackingRun {
  const t0 = performance.now();
  const { nodes, shapes, shapeOf, capacityGpuMilli } = cell;
  const n = nodes.length;
  const s = shapes.length;
  // One generator for the ties and the random policy's draws, seeded per run and policy: the
  // pods of a seed are the same for every policy, the draws each policy's own.
  const random = mulberry32(seed * 7919 + PACKING_POLICIES.indexOf(policy));
  const workload = policy === 'fgd' ? cell.fgdWorkload : cell.refinedWorkload;
  const scorer = new GpuScorer({ policy, workload, random });
  const usesFragmentation = policy === 'fgd' || policy === 'fgd-refined';

  if (n * s > MAX_CACHE) throw new MusterError('INVALID_ARGUMENT', `${n} nodes × ${s} task shapes is more scores than the ${MAX_CACHE} this simulation caches`);
  const state = nodes.map(emptyNode);
  // A node's version counts its placements; a cached score or fragmentation holds while the
  // version it was computed at is the node's.
  const version = new Int32Array(n);
  const cached = new Float64Array(n * s);
  const cachedAt = new Int32Array(n * s).fill(-1);
  const fragmentation = new Float64Array(n);
  const fragmentationAt = new Int32Array(n).fill(-1);
  const marks = new Checkpoints(capacityGpuMilli);
  for (let k = 0; k < arrivals.length; k++) {
    const shape = shapeOf[arrivals[k] as number] as number;
    const pod = shapes[shape] as GpuPodRequest;
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
    if (chosen >= 0) {
      const node = state[chosen] as NodeState;
      const devices = scorer.devices(node, pod);
      if (devices === undefined) throw new MusterError('INTERNAL', `scorer chose node ${chosen} for a pod that does not fit there`);
      node.cpuMilli -= pod.cpuMilli;
      node.memMiB -= pod.memMiB;
      for (const d of devices) node.gpuFree[d] = (node.gpuFree[d] as number) - pod.gpuMilli;
      version[chosen] = (version[chosen] as number) + 1;
    }
    marks.record(pod.numGpu * pod.gpuMilli, chosen >= 0);
  }
  return marks.result(arrivals.length, t0);
}

// ---- Muster: the master's own pass ---------------------------------------------------------------

/** MemoryLog is the part of the master's EventLog a pass needs: apply() and its listeners, in memory. */
class MemoryLog {
  readonly state: CellState = emptyState();
  private index = 0;
  private readonly listeners = new Set<(batch: readonly LoggedEvent[]) => void>();

  onAppended(listener: (batch: readonly LoggedEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get lastIndex(): number {
    return this.index;
  }

  append(events: readonly Event[]): void {
    const batch: LoggedEvent[] = [];
    for (const event of events) {
      apply(this.state, event);
      batch.push({ index: ++this.index, event });
    }
    for (const l of this.listeners) l(batch);
  }
}

/** agentOf is a node of the trace as a registered agent: its GPU model is an attribute. */
function agentOf(node: OpenbNode, i: number): Extract<Event, { type: 'AgentRegistered' }>['agent'] {
  return {
    agentId: `openb-${i}`,
    hostname: `${node.sn}.openb`,
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    port: 5051,
    resources: { cpusMilli: node.cpuMilli, memMiB: node.memMiB, diskMiB: 0, gpus: node.gpus, ports: [] },
    attributes: node.model === '' ? {} : { [GPU_MODEL_ATTRIBUTE]: node.model },
    version: '0.1.0',
  };
}

/**
 * specOf is a pod of the trace as a user's job of one instance: its cpus, mem and gpus (whole
 * devices, or a share of one), its gpu_spec as a constraint on the agents' GPU model. A job asks
 * for at least 1 MiB of mem (the trace has one pod of 0).
 */
export function specOf(pod: GpuPodRequest, job: string): JobSpec {
  return validateJobSpec({
    job,
    instances: 1,
    resources: { cpus: pod.cpuMilli / 1000, mem: `${Math.max(1, pod.memMiB)}MiB`, gpus: pod.numGpu === 0 ? 0 : pod.gpuMilli < 1000 ? pod.gpuMilli / 1000 : pod.numGpu },
    processes: [{ name: 'main', cmd: 'sleep infinity' }],
    constraints: pod.gpuSpec === '' ? {} : { [GPU_MODEL_ATTRIBUTE]: pod.gpuSpec },
  });
}

export interface MasterRunOptions {
  /** The master's scheduling options; DEFAULT_SCHEDULING_OPTIONS (what `muster master` runs with) by default. */
  readonly scheduling?: SchedulingOptions;
  /** Hears each pod as it is placed or not, with the GPU arrived so far (milli), for a closer look. */
  readonly onPod?: (pod: GpuPodRequest, placed: boolean, arrivedGpuMilli: number) => void;
}

/**
 * simulateMaster places the arrivals one pass each, as the master's job scheduler would: the
 * input built by the master's own code from the cell state, place() with the master's options.
 */
export function simulateMaster(cell: PackingCell, arrivals: Int32Array, options: MasterRunOptions = {}): PackingRun {
  const t0 = performance.now();
  const scheduling = options.scheduling ?? DEFAULT_SCHEDULING_OPTIONS;
  const log = new MemoryLog();
  const slots = new AgentSlotCache();
  slots.watch(log);
  log.append(cell.nodes.map((node, i): Event => ({ type: 'AgentRegistered', at: 0, agent: agentOf(node, i) })));
  // A spec is validated once per task shape; a pod's job is that spec under its own name.
  const specs = new Map<number, JobSpec>();
  const marks = new Checkpoints(cell.capacityGpuMilli);
  const state = log.state;
  const demand = new GpuDemand();
  for (let k = 0; k < arrivals.length; k++) {
    const shape = cell.shapeOf[arrivals[k] as number] as number;
    const pod = cell.shapes[shape] as GpuPodRequest;
    let spec = specs.get(shape);
    if (spec === undefined) {
      spec = specOf(pod, 'openb/prod/shape');
      specs.set(shape, spec);
    }
    const job = `openb/prod/pod${k}`;
    const now = k + 1;
    log.append([{ type: 'JobCreated', at: now, spec: { ...spec, job } }]);
    const tasks = pendingTasks(state, now);
    const table = slots.refresh(state, undefined, () => NO_SLACK);
    demand.observe(tasks);
    const placement: PlacementOptions = {
      seed: log.lastIndex >>> 0,
      weights: scheduling.scoreWeights,
      sampleSize: scheduling.sampleSize,
      equivalenceClasses: true,
      cacheScores: true,
      preemptionBudget: 0,
    };
    const result = place({
      tasks,
      agents: table.agents,
      table,
      demand,
      runningOf: (j) => runningOfJob(state, j),
      runningOn: (agentId) => runningOnAgent(state, agentId),
      options: placement,
    });
    const p = result.placements[0];
    if (p !== undefined) {
      const task = { taskId: `${job}/0/t`, job, instance: 0, agentId: p.agentId, resources: p.resources, ports: { ...p.ports }, gpus: [...p.gpus] };
      log.append([{ type: 'TasksLaunched', at: now, tasks: [task] }]);
    } else {
      log.append([{ type: 'KillRequested', at: now, job, instances: [0], restart: false, wholeJob: true, reason: 'REASON_KILLED_BY_USER' }]);
    }
    marks.record(pod.numGpu * pod.gpuMilli, p !== undefined);
    options.onPod?.(pod, p !== undefined, marks.arrived);
  }
  return marks.result(arrivals.length, t0);
}
