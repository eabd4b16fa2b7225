// place: the scheduler's placement pass on a cell of 1,000 agents, each offering 16 cpus, 64 GiB
// and ports 31000-32000, with the default placement options. Three passes a master makes:
//   - one job of 10,000 identical tasks (one equivalence class);
//   - 1,000 jobs of 10 tasks with `host: limit:1` (a shape per job, limit counts per agent);
//   - 10,000 identical tasks on a cell with room for 8,000: the unplaced ones are explained.
// Each task asks 1 cpu, 2 GiB and one port, so a full pass touches 625 or more of the offers.

import { performance } from 'node:perf_hooks';
import type { Resources } from '../src/core/index.js';
import { DEFAULT_PLACEMENT_OPTIONS, place, type AgentSlot, type PendingTask, type PlacementInput } from '../src/scheduler/index.js';
import { printTable } from './report.js';
import { median, round } from './stats.js';

const AGENTS = 1000;
const RUNS = 5;
const AGENT_FREE: Resources = { cpusMilli: 16_000, memMiB: 65_536, diskMiB: 500_000, gpus: 0, ports: [{ begin: 31000, end: 32000 }] };

function cell(): AgentSlot[] {
  const agents: AgentSlot[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const agentId = `agent-${i}`;
    agents.push({
      agentId,
      hostname: `node-${i}.bench`,
      attributes: { rack: `r${i % 20}`, os: 'linux' },
      total: AGENT_FREE,
      free: AGENT_FREE,
      gpuFree: [],
      revocable: { cpusMilli: 0, memMiB: 0 },
      draining: false,
      offerId: `offer-${i}`,
    });
  }
  return agents;
}

function tasks(opts: { jobs: number; perJob: number; cpusMilli: number; constraints: Record<string, string> }): PendingTask[] {
  const out: PendingTask[] = [];
  for (let j = 0; j < opts.jobs; j++) {
    const job = `bench/prod/job${j}`;
    for (let i = 0; i < opts.perJob; i++) {
      out.push({
        key: `${job}/${i}`,
        job,
        instance: i,
        role: 'bench',
        request: { cpusMilli: opts.cpusMilli, memMiB: 2048, diskMiB: 100, gpus: 0, ports: ['http'] },
        constraints: opts.constraints,
        tier: 'preferred',
        priority: 0,
        spreadBy: 'host',
        mayPreempt: false,
      });
    }
  }
  return out;
}

/** input: nothing runs yet, so every job's and agent's running tasks are none. */
function input(agents: readonly AgentSlot[], pending: PendingTask[]): PlacementInput {
  return { tasks: pending, agents, runningOf: () => [], runningOn: () => [], options: DEFAULT_PLACEMENT_OPTIONS };
}

interface Scenario {
  name: string;
  input: PlacementInput;
}

interface Row {
  scenario: string;
  tasks: number;
  agents: number;
  placed: number;
  unplaced: number;
  p50Ms: number;
  minMs: number;
  placementsPerSec: number;
}

export function runPlaceBench(): Promise<Record<string, unknown>> {
  const agents = cell();
  const scenarios: Scenario[] = [
    {
      name: '10,000 identical tasks',
      input: input(agents, tasks({ jobs: 1, perJob: 10_000, cpusMilli: 1000, constraints: {} })),
    },
    {
      name: '1,000 jobs x 10, host: limit:1',
      input: input(agents, tasks({ jobs: 1000, perJob: 10, cpusMilli: 1000, constraints: { host: 'limit:1' } })),
    },
    {
      name: '10,000 tasks, room for 8,000',
      input: input(agents, tasks({ jobs: 1, perJob: 10_000, cpusMilli: 2000, constraints: {} })),
    },
  ];
  const rows: Row[] = [];
  for (const s of scenarios) {
    // place() is pure and copies what it changes, so the same input serves every run; one
    // warm-up run first, so that the JIT's work is not in the figure.
    let result = place(s.input);
    const times: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      result = place(s.input);
      times.push(performance.now() - t0);
    }
    const p50 = median(times);
    rows.push({
      scenario: s.name,
      tasks: s.input.tasks.length,
      agents: s.input.agents.length,
      placed: result.placements.length,
      unplaced: result.unplaced.length,
      p50Ms: round(p50, 2),
      minMs: round(Math.min(...times), 2),
      // Per placement made: a pass that places nothing is fast for no one's benefit.
      placementsPerSec: Math.round(result.placements.length / (p50 / 1000)),
    });
  }
  printTable(
    `place(), ${AGENTS.toLocaleString('en-US')} agents offering 16 cpus / 64 GiB; each task 1 cpu (2 in the last), 2 GiB, 1 port; median of ${RUNS} runs`,
    ['scenario', 'tasks', 'placed', 'unplaced', 'p50 ms', 'min ms', 'placements/s'],
    rows.map((r) => [r.scenario, r.tasks, r.placed, r.unplaced, r.p50Ms, r.minMs, r.placementsPerSec]),
  );
  return Promise.resolve({ runs: RUNS, results: rows });
}
