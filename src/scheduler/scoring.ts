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
// - spread: with c the number of the job's tasks already in the agent's failure domain (the value
//   of its spreadBy attribute; "host" is the agent itself),
//     spread = 1 / (1 + c)
//   and 0 on an agent without the attribute: a spread cannot be promised over an unknown domain.
// - gpu (keep whole GPUs free, keep GPU agents for GPU tasks):
//   - a share of m milli: the device chooseDevices(…, 'pack') picks, with f milli free,
//       gpu = 1 − (f − m) / 1000
//     so a share that fills a partly used device scores 1 and one that breaks a whole GPU less;
//   - n whole GPUs on an agent with w wholly free devices: gpu = n / w (1 when it uses them up);
//   - no GPU: gpu = 1 − (free GPU milli / (devices · 1000)), 1 on an agent without GPUs.
//
// A weight of 0 switches its part off; the part is then not even computed.

import { chooseDevices, GPU_MILLI, type GpuRequest } from './gpus.js';
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

/** gpuScore prefers the agents whose GPUs the task leaves in the most usable shape (see above). */
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
  if (weights.fit > 0) score += weights.fit * fitScore(view.fit);
  if (weights.spread > 0) score += weights.spread * spreadScore(view.spreadCount);
  if (weights.gpu > 0) score += weights.gpu * gpuScore(view.gpuFree, view.gpu);
  return score;
}
