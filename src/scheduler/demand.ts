// GpuDemand remembers the GPU tasks a cell has been asked to run, so that GPU scoring measures
// fragmentation against what arrives, not only against what happened to fit.
//
// The running tasks alone are a biased sample of demand: a shape that fails to fit (an 8-GPU task
// once no machine has 8 whole GPUs free) stops showing among them just when the cell should be
// keeping room for it, and a rare shape (a handful of 8-GPU tasks that only a few machines can
// hold) seldom shows in a sample of a few agents at all. FGD (Weng et al., ATC '23) measures
// against the workload's distribution of task shapes; a scheduler cannot be told that in advance,
// but it sees every task asked of it. GpuDemand counts each GPU task once when it first shows as
// pending (a task pending over many passes is one arrival), with an exponential decay over
// arrivals so that the mix follows a workload that changes: a shape's weight halves every
// HALF_LIFE arrivals after it was last asked for.
//
// The master keeps one across passes beside its agent table and calls observe() with each pass's
// pending tasks before place(); place() only reads it. It is not in the event log: it is a
// scoring hint, rebuilt from the pending tasks after a restart, and placements do not depend on it
// for correctness.

import type { GpuMix } from './scoring.js';
import { gpuRequestOfTask } from './filters.js';
import { GPU_MILLI } from './gpus.js';
import type { PendingTask } from './types.js';

/** HALF_LIFE is the number of GPU task arrivals over which a shape's weight halves. */
export const HALF_LIFE = 20_000;
/** MAX_SHAPES bounds the shapes remembered; past it the lightest are let go. */
export const MAX_SHAPES = 512;
/** MAX_KEYS bounds the pending task keys remembered to count each task once. */
export const MAX_KEYS = 1_000_000;

const GROWTH = Math.pow(2, 1 / HALF_LIFE);
/** Weights are stored scaled by GROWTH^arrivals; rescaled before they overflow. */
const RESCALE_AT = 1e200;

interface Shape {
  readonly cpusMilli: number;
  readonly memMiB: number;
  readonly gpus: number;
  weight: number;
}

export class GpuDemand {
  private readonly shapes = new Map<string, Shape>();
  /** The weight a new arrival adds, growing so that older arrivals weigh relatively less. */
  private unit = 1;
  private total = 0;
  /** GPU tasks pending at the last observe(): one that is still pending is not a new arrival. */
  private pending = new Set<string>();
  /** Arrivals counted, for tests and metrics. */
  arrivals = 0;

  get size(): number {
    return this.shapes.size;
  }

  /** observe counts the GPU tasks among a pass's pending tasks that were not pending at the last call. */
  observe(tasks: readonly PendingTask[]): void {
    const now = new Set<string>();
    for (const t of tasks) {
      if (!(t.request.gpus > 0)) continue;
      if (now.size < MAX_KEYS) now.add(t.key);
      if (this.pending.has(t.key)) continue;
      this.arrive(t.request.cpusMilli, t.request.memMiB, t.request.gpus);
    }
    this.pending = now;
  }

  /** arrive counts one arrival of a task shape. */
  arrive(cpusMilli: number, memMiB: number, gpus: number): void {
    if (!(gpus > 0)) return;
    this.arrivals++;
    this.unit *= GROWTH;
    if (this.unit > RESCALE_AT) this.rescale();
    const key = `${cpusMilli}/${memMiB}/${gpus}`;
    let s = this.shapes.get(key);
    if (s === undefined) {
      if (this.shapes.size >= MAX_SHAPES) this.evictLightest();
      s = { cpusMilli, memMiB, gpus, weight: 0 };
      this.shapes.set(key, s);
    }
    s.weight += this.unit;
    this.total += this.unit;
  }

  /** addTo adds the remembered shapes to a mix, by their share of the decayed arrivals; nothing when empty. */
  addTo(mix: GpuMix): void {
    if (this.total <= 0) return;
    for (const s of this.shapes.values()) {
      const gpu = gpuRequestOfTask(s.gpus);
      if (gpu === undefined || ('milli' in gpu && gpu.milli >= GPU_MILLI)) continue;
      mix.add(s.cpusMilli, s.memMiB, gpu, s.weight / this.total);
    }
  }

  private rescale(): void {
    const f = 1 / this.unit;
    for (const s of this.shapes.values()) s.weight *= f;
    this.total *= f;
    this.unit = 1;
  }

  private evictLightest(): void {
    let lightest: string | undefined;
    let w = Infinity;
    for (const [k, s] of this.shapes) {
      if (s.weight < w) {
        w = s.weight;
        lightest = k;
      }
    }
    if (lightest === undefined) return;
    this.total -= w;
    this.shapes.delete(lightest);
  }
}
