// memory: what a cell of 10,000 agents and 1,000,000 tasks costs the master in memory. The cell is
// the c1m end state (built by the same driver: every task placed and durably committed), then the
// heap is collected and the process's RSS read. RSS holds everything: the cell state, the
// scheduler's leftovers, V8's own heap overhead, SQLite's page cache and the code. Goal: ≤ 2 GiB.

import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { benchScale, runLoad, scaledLoad } from './c1m.js';
import { printTable } from './report.js';
import { round } from './stats.js';

const GOAL_RSS_MIB = 2048;
const MIB = 1024 * 1024;

/**
 * collector returns a full GC: global.gc when node ran with --expose-gc, else one fetched by
 * turning the flag on now (V8 reads it when a context is made), else undefined.
 */
export function collector(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

export async function runMemoryBench(): Promise<Record<string, unknown>> {
  const scale = benchScale();
  const load = scaledLoad({ agents: 10_000, jobs: 1000, perJob: 1000 }, scale);
  const gc = collector();
  gc?.();
  const baseline = process.memoryUsage();
  const run = await runLoad(load, { keepCell: true });
  const cell = run.cell;
  if (cell === undefined) throw new Error('runLoad kept no cell');
  try {
    // Twice: the first pass may only queue finalizers whose memory the second frees.
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    const state = cell.state;
    const figures = {
      scale,
      agents: state.agents.size,
      jobs: state.jobs.size,
      tasks: state.tasks.size,
      gcExposed: gc !== undefined,
      rssMiB: round(m.rss / MIB, 1),
      heapUsedMiB: round(m.heapUsed / MIB, 1),
      heapTotalMiB: round(m.heapTotal / MIB, 1),
      externalMiB: round(m.external / MIB, 1),
      baselineRssMiB: round(baseline.rss / MIB, 1),
      baselineHeapUsedMiB: round(baseline.heapUsed / MIB, 1),
      heapBytesPerTask: state.tasks.size > 0 ? Math.round((m.heapUsed - baseline.heapUsed) / state.tasks.size) : 0,
      goalRssMiB: GOAL_RSS_MIB,
    };
    printTable(
      `memory: ${figures.agents.toLocaleString('en-US')} agents and ${figures.tasks.toLocaleString('en-US')} tasks resident in the cell state ` +
        `(the c1m end state), ${gc === undefined ? 'no GC available: figures as found' : 'after a full GC'}`,
      ['figure', 'value'],
      [
        [`RSS MiB (goal ≤ ${GOAL_RSS_MIB})`, figures.rssMiB],
        ['heap used MiB', figures.heapUsedMiB],
        ['heap total MiB', figures.heapTotalMiB],
        ['external MiB', figures.externalMiB],
        ['RSS before the cell MiB', figures.baselineRssMiB],
        ['heap bytes per task', figures.heapBytesPerTask],
      ],
    );
    return figures;
  } finally {
    await cell.close();
  }
}
