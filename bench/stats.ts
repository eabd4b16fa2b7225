// stats: the few summaries the benchmarks report. Medians, not means: one run slowed by a GC
// pause or a neighbour's fsync should not move the figure.

export interface Summary {
  minMs: number;
  p50Ms: number;
  maxMs: number;
}

/** percentile by nearest rank over a copy of the samples (p in 0..100); NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

export function summarize(samplesMs: readonly number[]): Summary {
  return { minMs: percentile(samplesMs, 0), p50Ms: median(samplesMs), maxMs: percentile(samplesMs, 100) };
}

/** round keeps JSON figures readable: 3 significant decimals are far below the noise. */
export function round(value: number, decimals = 3): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}
