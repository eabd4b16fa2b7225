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
}

const VARIANTS: readonly Variant[] = [
  { name: 'all on', options: {} },
  { name: 'equivalenceClasses off', options: { equivalenceClasses: false } },
  { name: 'sampleSize 0 (no sampling)', options: { sampleSize: 0 } },
  { name: 'cacheScores off', options: { cacheScores: false } },
  { name: 'all off', options: { equivalenceClasses: false, sampleSize: 0, cacheScores: false } },
];

interface Row {
  variant: string;
  placed: number;
  passes: number;
  placeSec: number;
  totalSec: number;
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
    const f = await runLoad(load, { placement: { ...DEFAULT_PLACEMENT_OPTIONS, seed: C1M_SEED, ...v.options } });
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
    placeSlowdown: round(f.placeSec / base.placeSec, 2),
    totalSlowdown: round(f.totalSec / base.totalSec, 2),
  }));
  printTable(
    `ablation: ${load.jobs} jobs × ${load.perJob.toLocaleString('en-US')} tasks onto ${load.agents.toLocaleString('en-US')} hollow agents, seed ${C1M_SEED}${scale < 1 ? `, scale ${scale}` : ''}; slowdown against all on`,
    ['variant', 'placed', 'passes', 'place() s', 'total s', 'place() ×', 'total ×'],
    rows.map((r) => [r.variant, r.placed, r.passes, r.placeSec, r.totalSec, r.placeSlowdown, r.totalSlowdown]),
  );
  return { scale, ...load, seed: C1M_SEED, results: rows };
}
