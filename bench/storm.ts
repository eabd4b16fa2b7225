// storm: 2,000 LAUNCHes at once on one real agent. A `muster agent` process (isolation on as root:
// cgroups, pid and mount namespaces, the role's user) subscribes to the minimal master of
// bench/agent.ts, which writes 2,000 LAUNCH events of `sleep 1` to the stream in one burst, as a
// master does after a large placement, and acknowledges every update at once. It measures:
//   - time until all run: from the burst until the master has every task's TASK_RUNNING (and, by
//     the updates' own timestamps, until the agent had created the last one);
//   - LAUNCH → TASK_RUNNING per task, p50 and p99 (the update's timestamp, as bench/agent.ts);
//   - the agent's longest event-loop block and gap in that time (bench/loopwatch.ts, the master's
//     measure: a block is time the loop worked without turning, a gap includes time off the CPU);
//   - heartbeats missed: the master tells the agent a 1 s interval, and every gap between the
//     agent's HEARTBEAT calls longer than 1.5 intervals counts round(gap / interval) - 1 missed;
//     and whether the agent dropped its stream (it does after three silent intervals);
//   - time until all ended (their TASK_FINISHED in), and the CPU time of the agent and of the tasks'
//     processes (supervisors included) over the storm.
// A figure that misses its goal is reported, never failed on. MUSTER_BENCH_SCALE=0.1 launches 200.

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentEvent } from '../src/protocol/index.js';
import { BenchMaster, cpuSecs, descendantsCpuSecs, loopSeconds, startBenchAgent, stopBenchAgent, taskInfo, type BenchAgent } from './agent.js';
import { benchScale } from './c1m.js';
import { printTable } from './report.js';
import { percentile, round } from './stats.js';

const TASKS = 2000;
const HEARTBEAT_SECS = 1;
const COMMAND = 'exec sleep 1';
/** How long the storm may take before the benchmark gives up on it (and reports what it has). */
const STORM_TIMEOUT_MS = 10 * 60_000;

export async function runStormBench(): Promise<Record<string, unknown>> {
  const scale = benchScale();
  const tasks = Math.max(1, Math.round(TASKS * scale));
  const isolation = process.getuid?.() === 0 ? 'auto' : 'none';
  const master = new BenchMaster({ heartbeatIntervalSecs: HEARTBEAT_SECS });
  await master.start();
  let agent: BenchAgent | undefined;
  try {
    agent = await startBenchAgent(master, {
      isolation,
      // 2,000 × 0.01 cpus and 8 MiB fit with room to spare: the agent takes whatever its master sends.
      resources: 'cpus:64;mem:65536;disk:65536;ports:[31000-31999]',
      name: 'muster-bench-storm',
      watchLoop: true,
    });
    await sleep(1500); // a heartbeat or two before the storm, so the first gap is a real one

    const infos = Array.from({ length: tasks }, (_, n) => taskInfo(n, { cmd: COMMAND }));
    const cpu0 = cpuSecs(agent.pid);
    const tasksCpu0 = descendantsCpuSecs(agent.pid);
    const wall0 = Date.now();
    const t0 = performance.now();
    master.sendAll(infos.map((task): AgentEvent => ({ type: 'LAUNCH', launch: { task } })));
    let timedOut = false;
    await master.until(`TASK_RUNNING of all ${tasks} tasks`, () => master.runningCount === tasks, STORM_TIMEOUT_MS).catch(() => (timedOut = true));
    const allRunning = performance.now();
    if (!timedOut) {
      await master.until(`the end of all ${tasks} tasks`, () => master.endedCount === tasks, STORM_TIMEOUT_MS).catch(() => (timedOut = true));
    }
    const allEnded = performance.now();
    const cpu = cpuSecs(agent.pid) - cpu0;
    const wall1 = Date.now();
    await sleep(1100); // loopwatch writes each second at its end: wait for the last one (and the last supervisors are reaped)
    const tasksCpu = descendantsCpuSecs(agent.pid) - tasksCpu0;

    const latencies: number[] = [];
    const failed = new Map<string, number>();
    let lastCreated = wall0;
    for (const t of infos) {
      const r = master.running(t.taskId);
      if (r === undefined) continue;
      if (r.status.state !== 'TASK_RUNNING') {
        const why = `${r.status.state}: ${(r.status.message ?? '').slice(0, 120)}`;
        failed.set(why, (failed.get(why) ?? 0) + 1);
        continue;
      }
      latencies.push(r.status.timestamp - wall0);
      lastCreated = Math.max(lastCreated, r.status.timestamp);
    }
    const loop = loopSeconds(agent, wall0, wall1);
    const heartbeats = master.heartbeatGaps(t0, allEnded);
    const figures = {
      tasks,
      command: COMMAND,
      isolation: isolation === 'auto' ? 'cgroups + namespaces + user' : 'none',
      timedOut,
      running: master.runningCount,
      failedToRun: Object.fromEntries(failed),
      allRunningSecs: round((allRunning - t0) / 1000, 2),
      allRunningByTimestampSecs: round((lastCreated - wall0) / 1000, 2),
      launchToRunningP50Ms: percentile(latencies, 50),
      launchToRunningP99Ms: percentile(latencies, 99),
      launchToRunningMaxMs: percentile(latencies, 100),
      allEndedSecs: round((allEnded - t0) / 1000, 2),
      agentCpuSecs: round(cpu, 2),
      agentCpuMsPerTask: round((cpu * 1000) / tasks, 2),
      tasksCpuMsPerTask: round((tasksCpu * 1000) / tasks, 2),
      loopBlockMaxMs: round(Math.max(0, ...loop.map((s) => s.blockMs)), 1),
      loopGapMaxMs: round(Math.max(0, ...loop.map((s) => s.gapMs)), 1),
      secondsWithBlockOver50Ms: loop.filter((s) => s.blockMs > 50).length,
      heartbeatIntervalSecs: HEARTBEAT_SECS,
      heartbeatCalls: heartbeats.calls,
      heartbeatLongestGapMs: round(heartbeats.longestGapMs, 1),
      heartbeatsMissed: heartbeats.missed,
      agentResubscribed: master.subscribes - 1,
    };
    printTable(
      `storm: ${tasks} LAUNCHes of \`${COMMAND}\` at once on one agent (${figures.isolation})`,
      ['figure', 'value', 'goal'],
      [
        ['all TASK_RUNNING in at the master, s', figures.allRunningSecs, ''],
        ['last TASK_RUNNING created by the agent, s', figures.allRunningByTimestampSecs, ''],
        ['LAUNCH → TASK_RUNNING p50, ms', figures.launchToRunningP50Ms, ''],
        ['LAUNCH → TASK_RUNNING p99, ms', figures.launchToRunningP99Ms, ''],
        ['tasks that did not run', tasks - latencies.length, 0],
        ['all ended (TASK_FINISHED in), s', figures.allEndedSecs, ''],
        ['agent CPU, ms per task', figures.agentCpuMsPerTask, ''],
        ["tasks' processes CPU (supervisors included), ms per task", figures.tasksCpuMsPerTask, ''],
        ['agent event loop: longest block, ms', figures.loopBlockMaxMs, '≤ 50'],
        ['agent event loop: longest gap, ms', figures.loopGapMaxMs, ''],
        ['agent event loop: seconds with a block over 50 ms', figures.secondsWithBlockOver50Ms, 0],
        [`heartbeats missed (interval ${HEARTBEAT_SECS} s)`, figures.heartbeatsMissed, 0],
        ['longest gap between heartbeats, ms', figures.heartbeatLongestGapMs, `≤ ${1.5 * HEARTBEAT_SECS * 1000}`],
        ['agent dropped its stream and subscribed again', figures.agentResubscribed, 0],
      ],
    );
    if (failed.size > 0) console.log('tasks that did not run:', Object.fromEntries(failed));
    if (timedOut) console.log(`the storm did not finish within ${STORM_TIMEOUT_MS / 1000} s: the figures are of what had happened by then`);
    return figures;
  } finally {
    if (agent !== undefined) await stopBenchAgent(agent, 120_000);
    await master.close();
  }
}
