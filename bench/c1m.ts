// c1m: a million tasks onto ten thousand agents, every placement durably committed (after Nomad's
// "C1M" challenge). 1,000 jobs of 1,000 tasks (0.25 cpu, 256 MiB, a port on a third of them, one
// constraint each: a zone choice, a rack exclusion, host limit:1…) are created at once on a cell
// of 10,000 hollow agents (32 cpus, 128 GiB; 4% with 8 GPUs). The driver then does what the
// master's job scheduler does, with its code: build the input from the cell state, place() up to
// 10,000 tasks, commit them as one TasksLaunched through the EventLog on SQLite (WAL,
// synchronous=FULL), and again until every task is placed. The clock runs from the jobs' submit
// to the last durable commit. Goal: ≥ 16,700 placements a second (a million in a minute).
//
// MUSTER_BENCH_SCALE=0.1 shrinks the cell and the jobs alike for a quick run.

import { performance } from 'node:perf_hooks';
import { DEFAULT_PLACEMENT_OPTIONS } from '../src/scheduler/index.js';
import type { PlacementInput, PlacementOptions, PlacementResult } from '../src/scheduler/index.js';
import { HollowCell, hollowAgents, hollowJobs } from '../src/sim/index.js';
import type { PassStats } from '../src/sim/index.js';
import { printTable } from './report.js';
import { percentile, round } from './stats.js';

/** C1M_SEED: the fixed seed of every hollow benchmark (placement order and job shapes). */
export const C1M_SEED = 42;
const GOAL_PER_SEC = 16_700;

/** benchScale reads MUSTER_BENCH_SCALE: a factor in (0, 1] applied to agents and jobs; 1 if unset. */
export function benchScale(): number {
  const text = process.env['MUSTER_BENCH_SCALE'];
  if (text === undefined || text === '') return 1;
  const s = Number(text);
  if (!(s > 0 && s <= 1)) throw new Error(`MUSTER_BENCH_SCALE must be a number in (0, 1], not "${text}"`);
  return s;
}

/** HollowLoad is a c1m-shaped load: jobs × perJob tasks onto agents. */
export interface HollowLoad {
  readonly agents: number;
  readonly jobs: number;
  readonly perJob: number;
}

/** scaledLoad shrinks a load by scale, keeping at least as many agents as a job has tasks (host limit:1). */
export function scaledLoad(full: HollowLoad, scale: number): HollowLoad {
  const agents = Math.max(10, Math.round(full.agents * scale));
  return { agents, jobs: Math.max(1, Math.round(full.jobs * scale)), perJob: Math.min(full.perJob, agents) };
}

export interface LoadRunOptions {
  readonly placement?: Partial<PlacementOptions>;
  /** Another placement function to measure instead of the scheduler's place(). */
  readonly place?: (input: PlacementInput) => PlacementResult;
  /** Leave the cell open and hand it back (the memory benchmark measures it); the caller closes it. */
  readonly keepCell?: boolean;
}

/** LoadFigures: one run of a load, from the jobs' submit to the last commit. */
export interface LoadFigures {
  readonly tasks: number;
  readonly placed: number;
  readonly passes: number;
  readonly totalSec: number;
  readonly placementsPerSec: number;
  readonly passP50Ms: number;
  readonly passP99Ms: number;
  readonly submitSec: number;
  readonly inputSec: number;
  readonly placeSec: number;
  readonly commitSec: number;
  readonly applySec: number;
  readonly cell?: HollowCell;
}

/** runLoad registers the agents (untimed), then creates the jobs and drains them (timed). */
export async function runLoad(load: HollowLoad, options: LoadRunOptions = {}): Promise<LoadFigures> {
  const cell = await HollowCell.open({
    placement: { ...DEFAULT_PLACEMENT_OPTIONS, seed: C1M_SEED, ...options.placement },
    ...(options.place === undefined ? {} : { place: options.place }),
  });
  try {
    await cell.registerAgents(hollowAgents(load.agents));
    // Built before the clock starts: a user's job config arrives already written.
    const specs = hollowJobs(load.jobs, load.perJob, { seed: C1M_SEED });
    const t0 = performance.now();
    await cell.createJobs(specs);
    const submitSec = (performance.now() - t0) / 1000;
    const passes: PassStats[] = await cell.drain();
    const totalSec = (performance.now() - t0) / 1000;
    const placed = passes.reduce((n, p) => n + p.placed, 0);
    const times = passes.map((p) => p.totalMs);
    const sum = (f: (p: PassStats) => number): number => round(passes.reduce((n, p) => n + f(p), 0) / 1000, 3);
    const figures: LoadFigures = {
      tasks: load.jobs * load.perJob,
      placed,
      passes: passes.length,
      totalSec: round(totalSec, 3),
      placementsPerSec: Math.round(placed / totalSec),
      passP50Ms: round(percentile(times, 50), 2),
      passP99Ms: round(percentile(times, 99), 2),
      submitSec: round(submitSec, 3),
      inputSec: sum((p) => p.inputMs),
      placeSec: sum((p) => p.placeMs),
      commitSec: sum((p) => p.commitMs),
      applySec: sum((p) => p.applyMs),
    };
    if (options.keepCell === true) return { ...figures, cell };
    await cell.close();
    return figures;
  } catch (e) {
    await cell.close();
    throw e;
  }
}

export async function runC1mBench(): Promise<Record<string, unknown>> {
  const scale = benchScale();
  const load = scaledLoad({ agents: 10_000, jobs: 1000, perJob: 1000 }, scale);
  const f = await runLoad(load);
  printTable(
    `c1m: ${load.jobs.toLocaleString('en-US')} jobs × ${load.perJob.toLocaleString('en-US')} tasks onto ${load.agents.toLocaleString('en-US')} hollow agents, ` +
      `every placement durably committed (SQLite WAL, synchronous=FULL), seed ${C1M_SEED}${scale < 1 ? `, scale ${scale}` : ''}`,
    ['figure', 'value'],
    [
      ['tasks', f.tasks],
      ['placed', f.placed],
      ['left pending (no agent fits)', f.tasks - f.placed],
      ['total s', f.totalSec],
      [`placements/s (goal ≥ ${GOAL_PER_SEC.toLocaleString('en-US')})`, f.placementsPerSec],
      ['passes', f.passes],
      ['pass p50 ms', f.passP50Ms],
      ['pass p99 ms', f.passP99Ms],
      ['JobCreated submit s', f.submitSec],
      ['input (pendingTasks, agentSlots) s', f.inputSec],
      ['place() s', f.placeSec],
      ['commit s (event and apply, then append and fsync)', f.commitSec],
      ['  of which event and apply s', f.applySec],
    ],
  );
  return { scale, ...load, ...f, goalPlacementsPerSec: GOAL_PER_SEC, seed: C1M_SEED };
}
