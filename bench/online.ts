// online: how long a new job waits for its tasks on a busy cell. 10,000 hollow agents already run
// 200,000 tasks (10,000 jobs of 20, placed by the driver at setup, untimed); then jobs of 20 tasks
// arrive evenly spaced at 83 jobs (1,667 tasks) a second for 20 s. As in the master, a pass starts
// on the turn after a JobCreated is durable, and jobs that arrive while a pass runs join the next.
// Per job: from its JobCreated submit to the durable TasksLaunched that placed its last task.
// Goal: p50 ≤ 5 ms, p99 ≤ 50 ms.
//
// MUSTER_BENCH_SCALE shrinks the cell, the running tasks and the duration (not the arrival rate).

import { performance } from 'node:perf_hooks';
import { DEFAULT_PLACEMENT_OPTIONS } from '../src/scheduler/index.js';
import type { JobSpec } from '../src/core/index.js';
import { attachMasterLoop, HollowCell, hollowAgents, hollowJobs } from '../src/sim/index.js';
import { benchScale, C1M_SEED } from './c1m.js';
import { printTable } from './report.js';
import { percentile, round } from './stats.js';

const AGENTS = 10_000;
const RUNNING_JOBS = 10_000;
const TASKS_PER_JOB = 20;
const JOBS_PER_SEC = 83;
const DURATION_SEC = 20;
/** After the last arrival, wait at most this long for the stragglers before reporting them unplaced. */
const SETTLE_MS = 30_000;
const GOAL_P50_MS = 5;
const GOAL_P99_MS = 50;

interface Waiting {
  submittedAt: number;
  remaining: number;
}

export async function runOnlineBench(): Promise<Record<string, unknown>> {
  const scale = benchScale();
  const agents = Math.max(10, Math.round(AGENTS * scale));
  const runningJobs = Math.max(1, Math.round(RUNNING_JOBS * scale));
  const durationSec = Math.max(2, DURATION_SEC * scale);
  const arrivals = Math.round(JOBS_PER_SEC * durationSec);

  const cell = await HollowCell.open({ placement: { ...DEFAULT_PLACEMENT_OPTIONS, seed: C1M_SEED } });
  try {
    await cell.registerAgents(hollowAgents(agents));
    await cell.createJobs(hollowJobs(runningJobs, TASKS_PER_JOB, { prefix: 'running', seed: C1M_SEED }));
    const setup = await cell.drain();
    const running = setup.reduce((n, p) => n + p.placed, 0);

    const specs = hollowJobs(arrivals, TASKS_PER_JOB, { prefix: 'online', seed: C1M_SEED + 1 });
    const waiting = new Map<string, Waiting>();
    const latencies: number[] = [];
    const passTimes: number[] = [];
    const inputTimes: number[] = [];
    const placeTimes: number[] = [];
    const commitTimes: number[] = [];
    let placed = 0;
    let lastCommit = 0;
    cell.onPass((s) => {
      if (s.placed === 0) return;
      const at = performance.now();
      passTimes.push(s.totalMs);
      inputTimes.push(s.inputMs);
      placeTimes.push(s.placeMs);
      commitTimes.push(s.commitMs);
      placed += s.placed;
      lastCommit = at;
      for (const [job, n] of s.launched) {
        const w = waiting.get(job);
        if (w === undefined) continue;
        w.remaining -= n;
        if (w.remaining <= 0) {
          latencies.push(at - w.submittedAt);
          waiting.delete(job);
        }
      }
    });
    cell.autoSchedule(true);

    const start = performance.now();
    const arrivalSec = await arrive(cell, specs, waiting);
    cell.autoSchedule(false);
    await cell.idle();

    const spanSec = (lastCommit - start) / 1000;
    const viaMaster = await masterPhase(cell, hollowJobs(arrivals, TASKS_PER_JOB, { prefix: 'online-master', seed: C1M_SEED + 2 }));
    const figures = {
      scale,
      agents,
      runningTasks: running,
      jobsPerSecTarget: JOBS_PER_SEC,
      tasksPerJob: TASKS_PER_JOB,
      jobs: arrivals,
      jobsPerSecAchieved: round(arrivals / arrivalSec, 1),
      jobsUnplaced: waiting.size,
      latencyP50Ms: round(percentile(latencies, 50), 2),
      latencyP99Ms: round(percentile(latencies, 99), 2),
      latencyMaxMs: round(percentile(latencies, 100), 2),
      placementsPerSec: Math.round(placed / spanSec),
      passes: passTimes.length,
      passP50Ms: round(percentile(passTimes, 50), 2),
      passP99Ms: round(percentile(passTimes, 99), 2),
      passInputP50Ms: round(percentile(inputTimes, 50), 2),
      passPlaceP50Ms: round(percentile(placeTimes, 50), 2),
      passCommitP50Ms: round(percentile(commitTimes, 50), 2),
      masterLatencyP50Ms: round(percentile(viaMaster.latencies, 50), 2),
      masterLatencyP99Ms: round(percentile(viaMaster.latencies, 99), 2),
      masterLatencyMaxMs: round(percentile(viaMaster.latencies, 100), 2),
      masterJobsUnplaced: viaMaster.unplaced,
      goalP50Ms: GOAL_P50_MS,
      goalP99Ms: GOAL_P99_MS,
      seed: C1M_SEED,
    };
    printTable(
      `online: jobs of ${TASKS_PER_JOB} arriving at ${JOBS_PER_SEC}/s for ${round(durationSec, 1)} s on ${agents.toLocaleString('en-US')} hollow agents ` +
        `running ${running.toLocaleString('en-US')} tasks; latency from JobCreated submit to its durable TasksLaunched`,
      ['figure', 'value'],
      [
        ['jobs (achieved jobs/s)', `${figures.jobs} (${figures.jobsPerSecAchieved})`],
        ['jobs not placed', figures.jobsUnplaced],
        [`latency p50 ms (goal ≤ ${GOAL_P50_MS})`, figures.latencyP50Ms],
        [`latency p99 ms (goal ≤ ${GOAL_P99_MS})`, figures.latencyP99Ms],
        ['latency max ms', figures.latencyMaxMs],
        ['placements/s', figures.placementsPerSec],
        ['passes', figures.passes],
        ['pass p50 ms', figures.passP50Ms],
        ['pass p99 ms', figures.passP99Ms],
        ['pass input (pendingTasks, agentSlots) p50 ms', figures.passInputP50Ms],
        ['pass place() p50 ms', figures.passPlaceP50Ms],
        ['pass commit (apply, append, fsync) p50 ms', figures.passCommitP50Ms],
        ["through the master's framework and offer cycle:", ''],
        [`  latency p50 ms (goal ≤ ${GOAL_P50_MS})`, figures.masterLatencyP50Ms],
        [`  latency p99 ms (goal ≤ ${GOAL_P99_MS})`, figures.masterLatencyP99Ms],
        ['  latency max ms', figures.masterLatencyMaxMs],
        ['  jobs not placed', figures.masterJobsUnplaced],
      ],
    );
    return figures;
  } finally {
    await cell.close();
  }
}

/**
 * arrive submits the jobs evenly spaced, job k due at start + k / rate, and waits until each is
 * placed (or SETTLE_MS pass). A timer that fires late (a pass holds the event loop during its fsync)
 * submits every job that has come due, as a burst of clients would. Returns the arrival span in s.
 */
async function arrive(cell: HollowCell, specs: readonly JobSpec[], waiting: Map<string, Waiting>): Promise<number> {
  const submits: Promise<void>[] = [];
  const start = performance.now();
  let next = 0;
  while (next < specs.length) {
    const now = performance.now();
    while (next < specs.length && start + (next * 1000) / JOBS_PER_SEC <= now) {
      const spec = specs[next++];
      if (spec === undefined) break;
      waiting.set(spec.job, { submittedAt: performance.now(), remaining: spec.instances });
      submits.push(cell.createJobs([spec]));
    }
    const due = start + (next * 1000) / JOBS_PER_SEC - performance.now();
    await new Promise((r) => setTimeout(r, Math.max(0, due)));
  }
  const arrivalSec = (performance.now() - start) / 1000;
  await Promise.all(submits);
  const settleBy = performance.now() + SETTLE_MS;
  while (waiting.size > 0 && performance.now() < settleBy) {
    await cell.idle();
    if (waiting.size > 0) await new Promise((r) => setTimeout(r, 10));
  }
  return arrivalSec;
}

/**
 * masterPhase runs the same arrivals through the master's own job scheduler (MusterFramework and
 * the allocator's OfferCycle, kicked by each append) instead of the hollow driver: the latency a
 * real master gives, DRF ordering and offers included.
 */
async function masterPhase(cell: HollowCell, specs: readonly JobSpec[]): Promise<{ latencies: number[]; unplaced: number }> {
  const loop = attachMasterLoop(cell.log);
  const waiting = new Map<string, Waiting>();
  const latencies: number[] = [];
  const off = cell.log.onAppended((batch) => {
    const at = performance.now();
    for (const { event } of batch) {
      if (event.type !== 'TasksLaunched') continue;
      for (const t of event.tasks) {
        const w = waiting.get(t.job);
        if (w === undefined) continue;
        if (--w.remaining <= 0) {
          latencies.push(at - w.submittedAt);
          waiting.delete(t.job);
        }
      }
    }
  });
  try {
    await arrive(cell, specs, waiting);
    return { latencies, unplaced: waiting.size };
  } finally {
    off();
    loop.close();
  }
}
