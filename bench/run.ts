// `npm run bench [-- NAME…]`: run the benchmarks one after another (all, or those named), print a
// table for each and write its figures to bench/results/<name>.json. Benchmarks report, they do
// not judge: nothing here fails on a slow figure, only on a benchmark that could not run at all.
//
// One at a time on purpose: the `dev` benchmark starts processes and the `log` one fsyncs, and
// either would skew the other's figures on a small machine. MUSTER_BENCH_SCALE=0.1 shrinks the
// hollow-cell benchmarks (c1m, online, memory, ablation, update, cron), the task storms (storm,
// churn) and the docker launches (docker) for a quick run.

import { performance } from 'node:perf_hooks';
import { runAblationBench } from './ablation.js';
import { runAgentBench } from './agent.js';
import { runAuthBench } from './auth.js';
import { runC1mBench } from './c1m.js';
import { runChurnBench } from './churn.js';
import { runCliBench } from './cli.js';
import { runCodecBench } from './codec.js';
import { runCronBench } from './cron.js';
import { runDevBench } from './dev.js';
import { runDnsBench } from './dns.js';
import { runDockerBench } from './docker.js';
import { runEtcdLogBench } from './etcdlog.js';
import { runFailoverBench } from './failover.js';
import { runFrameworksBench } from './frameworks.js';
import { runLogBench } from './log.js';
import { runMemoryBench } from './memory.js';
import { runOnlineBench } from './online.js';
import { runPackingBench } from './packing.js';
import { runPlaceBench } from './place.js';
import { runStormBench } from './storm.js';
import { runUpdateBench } from './update.js';
import { runUiBench } from './ui.js';
import { fmt, machine, writeResults } from './report.js';

interface Benchmark {
  name: string;
  what: string;
  run: () => Promise<Record<string, unknown>>;
}

const BENCHMARKS: readonly Benchmark[] = [
  { name: 'log', what: 'SQLite event log: append in batches, group commit, replay, snapshot', run: runLogBench },
  { name: 'codec', what: 'RecordIO encode and decode of agent stream messages', run: runCodecBench },
  { name: 'place', what: 'scheduler place(): 10,000 tasks onto 1,000 agents', run: runPlaceBench },
  { name: 'dev', what: '`muster dev` end to end: start-up, job create to running, stop', run: runDevBench },
  { name: 'cli', what: 'a `muster` command beside node\'s own start-up: --version, and job list against a local master', run: runCliBench },
  { name: 'agent', what: 'agent: LAUNCH → TASK_RUNNING latency with and without isolation, memory with 100 tasks', run: runAgentBench },
  { name: 'docker', what: 'agent: docker task LAUNCH → TASK_RUNNING latency beside `docker run -d` of the same image, agent memory with 100 docker tasks', run: runDockerBench },
  { name: 'churn', what: 'a real master and agent of 16 one-cpu slots: 1,000 jobs and 1,000 instances of /bin/true, 200 × sleep 1; tasks/s and where a task\'s time goes', run: runChurnBench },
  { name: 'storm', what: 'agent: 2,000 LAUNCHes at once on one agent: time until all run, latency, event-loop block, heartbeats missed', run: runStormBench },
  { name: 'c1m', what: 'scheduling: 1,000 jobs × 1,000 tasks onto 10,000 hollow agents, every placement durably committed', run: runC1mBench },
  { name: 'online', what: 'scheduling latency: jobs of 20 arriving at 83/s on 10,000 agents running 200,000 tasks', run: runOnlineBench },
  { name: 'memory', what: 'master memory with 10,000 agents and 1,000,000 tasks in the cell state', run: runMemoryBench },
  { name: 'ablation', what: 'scheduler speed-ups switched off one at a time: 200 jobs × 1,000 tasks onto 10,000 agents', run: runAblationBench },
  { name: 'etcdlog', what: 'event log on etcd: Store.append in batches on 1- and 3-member etcd beside SQLite', run: runEtcdLogBench },
  { name: 'failover', what: 'HA masters: kill -9 of the leader to the first placement and to the agents re-subscribed, 10 runs', run: runFailoverBench },
  { name: 'auth', what: 'access control: what checking a token and a permission costs a call, and an HTTP request', run: runAuthBench },
  { name: 'frameworks', what: 'external frameworks over the Mesos API beside the built-in one on 10,000 hollow agents: allocation pass, ACCEPT throughput', run: runFrameworksBench },
  { name: 'update', what: 'a rolling update of 10,000 instances on 1,000 hollow agents in batches of 500: master time per instance transition, online placement latency of other jobs while it runs', run: runUpdateBench },
  { name: 'cron', what: '10,000 cron jobs firing together on 1,000 hollow agents: scheduled time → tasks placed (p50/p99), the master\'s CPU per fire, runSteps alone', run: runCronBench },
  { name: 'dns', what: 'DNS server: dnsperf queries/s and latency on one core against 10,000 jobs × 10 running instances, cached, uncached and while placing the online workload; heap per instance', run: runDnsBench },
  { name: 'ui', what: 'web UI in headless Chromium on 10,000 jobs and 1,000,000 tasks (hollow): first render and interactive of the cell, jobs and job pages; bundle size gzipped', run: runUiBench },
  { name: 'packing', what: 'GPU packing on the Alibaba openb trace: unallocated GPU of the master\'s own place() beside Random, Best-fit and FGD (ATC \'23, Fig. 9a)', run: runPackingBench },
];

async function main(): Promise<number> {
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) {
    console.error(`unknown benchmark ${unknown.join(', ')}; choose from ${BENCHMARKS.map((b) => b.name).join(', ')}`);
    return 2;
  }
  const chosen = names.length === 0 ? BENCHMARKS : BENCHMARKS.filter((b) => names.includes(b.name));
  const m = machine();
  console.log(`muster benchmarks on ${m.cpuCount} × ${m.cpuModel}, ${fmt(m.memTotalMiB)} MiB, node ${m.node}, ${m.os}`);

  let failed = 0;
  const started = performance.now();
  for (const b of chosen) {
    console.log(`\n=== ${b.name}: ${b.what}`);
    const t0 = performance.now();
    try {
      const figures = await b.run();
      const file = await writeResults(b.name, { ...figures, benchSeconds: Math.round(performance.now() - t0) / 1000 });
      console.log(`\n${b.name}: ${fmt((performance.now() - t0) / 1000)} s, figures in ${file}`);
    } catch (err) {
      // One broken benchmark should not hide the figures of the others.
      failed++;
      console.error(`\n${b.name} could not run:`, err);
    }
  }
  console.log(`\nall done in ${fmt((performance.now() - started) / 1000)} s${failed > 0 ? `, ${failed} failed` : ''}`);
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
