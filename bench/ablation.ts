// ablation: what each of the scheduler's speed-ups is worth. A smaller c1m-shaped load (200 jobs
// of 1,000 tasks onto 10,000 hollow agents, every placement committed) is run with all of them
// on, then with one switched off at a time (equivalence classes, relaxed randomization, cached
// scores), then with all off. Reported: seconds in place() alone and in all, and the slowdown of
// each against all on. The same seed throughout, so every run answers the same questions.

import { DEFAULT_PLACEMENT_OPTIONS } from '../src/scheduler/index.js';
import type { PlacementOptions } from '../src/scheduler/index.js';
import { benchScale, C1M_SEED, runLoad, scaledLoad, type LoadFigures } from './c1m.js';
import { printTable } from './report.js';
import { round } from './stats.js';

interface Variant {
  readonly name: string;
  readonly options: Partial<PlacementOptions>;
  /**
   * Share of the load's jobs it places. With everything off each task scores every agent
   * (tasks × agents: 2·10⁹ scores for the whole load, most of an hour here), so that variant places
   * a twentieth of the jobs, onto the same cell, and is compared per placement.
   */
  readonly share: number;
}

const VARIANTS: readonly Variant[] = [
  { name: 'all on', options: {}, share: 1 },
  { name: 'equivalenceClasses off', options: { equivalenceClasses: false }, share: 1 },
  { name: 'sampleSize 0 (no sampling)', options: { sampleSize: 0 }, share: 1 },
  { name: 'cacheScores off', options: { cacheScores: false }, share: 1 },
  { name: 'all off', options: { equivalenceClasses: false, sampleSize: 0, cacheScores: false }, share: 0.05 },
];

interface Row {
  variant: string;
  placed: number;
  passes: number;
  placeSec: number;
  totalSec: number;
  placeUsPerTask: number;
  placeSlowdown: number;
  totalSlowdown: number;
}

export async function runAblationBench(): Promise<Record<string, unknown>> {
  const scale = benchScale();
  const load = scaledLoad({ agents: 10_000, jobs: 200, perJob: 1000 }, scale);
  // An untimed tenth of the load first, so that the JIT's warm-up is not charged to the first variant.
  await runLoad(scaledLoad(load, 0.1), { placement: { ...DEFAULT_PLACEMENT_OPTIONS, seed: C1M_SEED } });
  const runs: { name: string; f: LoadFigures }[] = [];
  for (const v of VARIANTS) {
    const f = await runLoad({ ...load, jobs: Math.max(1, Math.round(load.jobs * v.share)) }, { placement: { ...DEFAULT_PLACEMENT_OPTIONS, seed: C1M_SEED, ...v.options } });
    runs.push({ name: v.name, f });
  }
  const base = runs[0]?.f;
  if (base === undefined) throw new Error('no ablation variant ran');
  const rows: Row[] = runs.map(({ name, f }) => ({
    variant: name,
    placed: f.placed,
    passes: f.passes,
    placeSec: f.placeSec,
    totalSec: f.totalSec,
    // Per placement, so that a variant run on a share of the load compares fairly.
    placeUsPerTask: round((f.placeSec / Math.max(1, f.placed)) * 1e6, 2),
    placeSlowdown: round(f.placeSec / Math.max(1, f.placed) / (base.placeSec / Math.max(1, base.placed)), 2),
    totalSlowdown: round(f.totalSec / Math.max(1, f.placed) / (base.totalSec / Math.max(1, base.placed)), 2),
  }));
  printTable(
    `ablation: ${load.jobs} jobs × ${load.perJob.toLocaleString('en-US')} tasks onto ${load.agents.toLocaleString('en-US')} hollow agents, seed ${C1M_SEED}${scale < 1 ? `, scale ${scale}` : ''}; slowdown per placement against all on`,
    ['variant', 'placed', 'passes', 'place() s', 'total s', 'place() µs/task', 'place() ×', 'total ×'],
    rows.map((r) => [r.variant, r.placed, r.passes, r.placeSec, r.totalSec, r.placeUsPerTask, r.placeSlowdown, r.totalSlowdown]),
  );
  return { scale, ...load, seed: C1M_SEED, results: rows };
}
