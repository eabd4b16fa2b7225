// dns: how many queries a second the master's DNS server answers on one core, and how fast, against
// a cell of 10,000 jobs × 10 instances (100,000 running tasks) on 10,000 hollow agents. The cell is
// built by the hollow driver (placements durably committed through the real event log), then every
// task is marked TASK_RUNNING with one more batch of events, so each job's name has 10 ready
// instances. The server runs in this process, answering from cell.log.state exactly as a master's
// does; Debian's dnsperf (a separate process, on the other core) sends a query file of random job
// names, A and SRV mixed, with EDNS0 (an SRV answer of 10 targets is ~800 bytes).
//
// Runs, 10 s each: cached (answers kept per name until an event touches the name's job: the
// master's case), uncached (every query reads the state: the cost of a miss), and cached while the
// master places the online workload (jobs of 20 arriving at 83/s: new jobs, so the running jobs'
// answers stay cached, but each placement pass holds the event loop the DNS server shares). Throughput runs are unthrottled; p50/p99 latency is read from a run at a
// fixed 20,000 queries/s with dnsperf -v (its per-query latencies), since at saturation latency is
// just dnsperf's queue depth over the rate. Memory: heap added by the server and its cache, after
// the cached run (every job's A and SRV answer cached), per instance. Goal: ≥ 50,000 queries/s.
//
// MUSTER_BENCH_SCALE shrinks the cell and the run lengths.

import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { validateJobSpec, type JobSpec } from '../src/core/index.js';
import { silentLogger } from '../src/log/index.js';
import { Responder, startDnsServer, type DnsOptions } from '../src/master/dns/index.js';
import type { Event } from '../src/master/index.js';
import { DEFAULT_PLACEMENT_OPTIONS } from '../src/scheduler/index.js';
import { HollowCell, hollowAgents, hollowJobs } from '../src/sim/index.js';
import { benchScale, C1M_SEED } from './c1m.js';
import { collector } from './memory.js';
import { printTable } from './report.js';
import { percentile, round } from './stats.js';

const AGENTS = 10_000;
const JOBS = 10_000;
const INSTANCES = 10;
const RUN_SEC = 10;
const LATENCY_QPS = 20_000;
const GOAL_QPS = 50_000;
const ONLINE_JOBS_PER_SEC = 83;
const ONLINE_TASKS_PER_JOB = 20;
const MIB = 1024 * 1024;

interface PerfRun {
  qps: number;
  sent: number;
  completed: number;
  lost: number;
  avgMs: number;
  maxMs: number;
  /** From -v runs only. */
  p50Ms?: number;
  p99Ms?: number;
  noerror: number;
  /** CPU time this process spent per answered query (user + system, µs): the server's cost, whatever else loads the machine. */
  cpuUsPerQuery: number;
}

export async function runDnsBench(): Promise<Record<string, unknown>> {
  const scale = benchScale();
  const agents = Math.max(10, Math.round(AGENTS * scale));
  const jobs = Math.max(10, Math.round(JOBS * scale));
  const runSec = Math.max(2, Math.round(RUN_SEC * scale));
  await checkDnsperf();

  const cell = await HollowCell.open({ placement: { ...DEFAULT_PLACEMENT_OPTIONS, seed: C1M_SEED } });
  const dir = await mkdtemp(join(tmpdir(), 'muster-dns-bench-'));
  try {
    await cell.registerAgents(hollowAgents(agents));
    await cell.createJobs(serviceJobs(jobs));
    await cell.drain();
    await markRunning(cell);
    // The log snapshots the state after so many events, in the background: not during a run.
    await settle();
    const instances = [...cell.state.tasks.values()].filter((t) => t.state === 'TASK_RUNNING').length;

    const file = join(dir, 'queries.txt');
    await writeFile(file, queryLines(jobs, 100_000));

    const gc = collector();
    gc?.();
    gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const base: DnsOptions = {
      host: '127.0.0.1',
      port: 0,
      domain: 'muster',
      ttlSecs: 5,
      forward: [],
      state: () => cell.log.state,
      masters: () => ({ leader: 'http://127.0.0.1:5050', all: ['http://127.0.0.1:5050'] }),
      self: '127.0.0.1',
      logger: silentLogger,
      stateIndex: () => cell.log.appliedIndex,
      onAppended: (listener) => cell.log.onAppended(listener),
    };
    const answerOnlyUs = answerCost(base, jobs);
    const echo = await echoFloor(file, Math.max(2, Math.round(runSec / 2)));
    const cached = await startDnsServer(base);
    let cachedRun: PerfRun;
    let cachedLatency: PerfRun;
    let heapPerInstance = 0;
    let heapAddedMiB = 0;
    try {
      cachedRun = await dnsperf(cached.port, file, { seconds: runSec });
      cachedLatency = await dnsperf(cached.port, file, { seconds: Math.max(2, Math.round(runSec / 2)), qps: LATENCY_QPS, verbose: true });
      gc?.();
      gc?.();
      const added = process.memoryUsage().heapUsed - heapBefore;
      heapAddedMiB = round(added / MIB, 1);
      heapPerInstance = Math.round(added / Math.max(1, instances));
    } finally {
      await cached.close();
    }

    const { stateIndex: _index, onAppended: _appended, ...withoutIndex } = base;
    const uncached = await startDnsServer(withoutIndex);
    let uncachedRun: PerfRun;
    let uncachedLatency: PerfRun;
    try {
      uncachedRun = await dnsperf(uncached.port, file, { seconds: runSec });
      uncachedLatency = await dnsperf(uncached.port, file, { seconds: Math.max(2, Math.round(runSec / 2)), qps: LATENCY_QPS, verbose: true });
    } finally {
      await uncached.close();
    }

    const online = await startDnsServer(base);
    let onlineRun: PerfRun;
    let onlineLatency: PerfRun;
    let onlinePlaced = 0;
    let onlineJobs = 0;
    let onlineEvents = 0;
    try {
      const first = cell.log.appliedIndex;
      const arrivals = hollowJobs(Math.round(ONLINE_JOBS_PER_SEC * runSec * 2.2), ONLINE_TASKS_PER_JOB, { prefix: 'online', seed: C1M_SEED + 1 });
      const stopPlaced = cell.onPass((s) => (onlinePlaced += s.placed));
      cell.autoSchedule(true);
      const arriving = arrive(cell, arrivals);
      onlineRun = await dnsperf(online.port, file, { seconds: runSec });
      onlineLatency = await dnsperf(online.port, file, { seconds: runSec, qps: LATENCY_QPS, verbose: true });
      onlineJobs = await arriving.stop();
      cell.autoSchedule(false);
      await cell.idle();
      stopPlaced();
      onlineEvents = cell.log.appliedIndex - first;
    } finally {
      await online.close();
    }

    const figures = {
      scale,
      agents,
      jobs,
      instancesRunning: instances,
      runSec,
      echoQps: echo.qps,
      echoCpuUsPerQuery: echo.cpuUsPerQuery,
      answerOnlyCachedUs: answerOnlyUs.cached,
      answerOnlyUncachedUs: answerOnlyUs.uncached,
      cachedQps: cachedRun.qps,
      cachedCpuUsPerQuery: cachedRun.cpuUsPerQuery,
      cachedAvgMs: cachedRun.avgMs,
      cachedMaxMs: cachedRun.maxMs,
      cachedLost: cachedRun.lost,
      cachedNoerrorShare: share(cachedRun),
      cachedP50MsAt20k: cachedLatency.p50Ms,
      cachedP99MsAt20k: cachedLatency.p99Ms,
      cachedQpsAt20k: cachedLatency.qps,
      uncachedQps: uncachedRun.qps,
      uncachedCpuUsPerQuery: uncachedRun.cpuUsPerQuery,
      uncachedAvgMs: uncachedRun.avgMs,
      uncachedMaxMs: uncachedRun.maxMs,
      uncachedLost: uncachedRun.lost,
      uncachedP50MsAt20k: uncachedLatency.p50Ms,
      uncachedP99MsAt20k: uncachedLatency.p99Ms,
      uncachedQpsAt20k: uncachedLatency.qps,
      onlineQps: onlineRun.qps,
      onlineCpuUsPerQuery: onlineRun.cpuUsPerQuery,
      onlineAvgMs: onlineRun.avgMs,
      onlineMaxMs: onlineRun.maxMs,
      onlineLost: onlineRun.lost,
      onlineP50MsAt20k: onlineLatency.p50Ms,
      onlineP99MsAt20k: onlineLatency.p99Ms,
      onlineQpsAt20k: onlineLatency.qps,
      onlineJobsSubmitted: onlineJobs,
      onlineTasksPlaced: onlinePlaced,
      onlineStateChanges: onlineEvents,
      heapAddedMiB,
      heapBytesPerInstance: heapPerInstance,
      gcExposed: gc !== undefined,
      goalQps: GOAL_QPS,
    };
    printTable(
      `dns: ${jobs.toLocaleString('en-US')} jobs × ${INSTANCES} running instances on ${agents.toLocaleString('en-US')} hollow agents; ` +
        `dnsperf -c 4 -e, random job names, A and SRV mixed, ${runSec} s per run; the server in this process (one core)`,
      ['run', 'queries/s', 'server CPU µs/query', 'avg ms', 'max ms', `p50 / p99 ms at ${LATENCY_QPS / 1000}k q/s`, 'lost'],
      [
        ['cached (state unchanged)', cachedRun.qps, cachedRun.cpuUsPerQuery, cachedRun.avgMs, cachedRun.maxMs, `${cachedLatency.p50Ms} / ${cachedLatency.p99Ms}`, cachedRun.lost],
        ['uncached (every query reads the state)', uncachedRun.qps, uncachedRun.cpuUsPerQuery, uncachedRun.avgMs, uncachedRun.maxMs, `${uncachedLatency.p50Ms} / ${uncachedLatency.p99Ms}`, uncachedRun.lost],
        [
          `cached, while placing ${ONLINE_JOBS_PER_SEC} jobs of ${ONLINE_TASKS_PER_JOB}/s (${onlinePlaced.toLocaleString('en-US')} tasks placed, ${onlineEvents.toLocaleString('en-US')} state changes)`,
          onlineRun.qps,
          onlineRun.cpuUsPerQuery,
          onlineRun.avgMs,
          onlineRun.maxMs,
          `${onlineLatency.p50Ms} / ${onlineLatency.p99Ms}`,
          onlineRun.lost,
        ],
        ['floor: a bare node UDP echo server (no DNS work), same dnsperf', echo.qps, echo.cpuUsPerQuery, echo.avgMs, echo.maxMs, '', echo.lost],
        [`answering alone, no sockets: ${answerOnlyUs.cached} µs/query cached, ${answerOnlyUs.uncached} µs/query uncached`, '', '', '', '', '', ''],
        [`goal: ≥ ${GOAL_QPS.toLocaleString('en-US')} queries/s`, '', '', '', '', '', ''],
        [`heap the server and its cache add: ${heapAddedMiB} MiB, ${heapPerInstance} bytes per instance`, '', '', '', '', '', ''],
      ],
    );
    return figures;
  } finally {
    await cell.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function share(r: PerfRun): number {
  return r.completed > 0 ? round(r.noerror / r.completed, 3) : 0;
}

/** serviceJobs: jobs bench/prod/svcN of INSTANCES instances, each with a port named http. */
function serviceJobs(count: number): JobSpec[] {
  const out: JobSpec[] = [];
  for (let j = 0; j < count; j++) {
    out.push(
      validateJobSpec({
        job: `bench/prod/svc${j}`,
        instances: INSTANCES,
        resources: { cpus: 0.25, mem: '256MiB', disk: '64MiB', ports: ['http'] },
        processes: [{ name: 'main', cmd: 'sleep infinity' }],
      }),
    );
  }
  return out;
}

/** markRunning records TASK_RUNNING for every task, 10,000 events a batch, as agents would report them. */
async function markRunning(cell: HollowCell): Promise<void> {
  const ids = [...cell.state.tasks.keys()];
  for (let i = 0; i < ids.length; i += 10_000) {
    const batch = ids.slice(i, i + 10_000);
    await cell.log.submit((_state, now) => ({
      events: batch.map((taskId): Event => ({ type: 'TaskStatusUpdated', at: now, status: { taskId, state: 'TASK_RUNNING', uuid: `${taskId}-running`, timestamp: now } })),
      result: undefined,
    }));
  }
}

/**
 * settle waits until the event loop has been free for a second (every 50 ms timer on time within
 * 10 ms), so that work the setup left behind (the log's snapshot) does not land in a run.
 */
async function settle(): Promise<void> {
  const deadline = performance.now() + 60_000;
  let quietSince = performance.now();
  while (performance.now() < deadline) {
    const before = performance.now();
    await new Promise((r) => setTimeout(r, 50));
    const now = performance.now();
    if (now - before > 60) quietSince = now;
    else if (now - quietSince >= 1000) return;
  }
}

/** queryLines: n lines of dnsperf input, random jobs (seeded), A and SRV alternating at random. */
function queryLines(jobs: number, n: number): string {
  let s = C1M_SEED >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const j = Math.floor(next() * jobs);
    lines.push(next() < 0.5 ? `svc${j}.prod.bench.muster A` : `_http._tcp.svc${j}.prod.bench.muster SRV`);
  }
  return `${lines.join('\n')}\n`;
}

/** arrive submits the online jobs evenly spaced until stopped; stop() resolves with how many went in. */
function arrive(cell: HollowCell, specs: readonly JobSpec[]): { stop: () => Promise<number> } {
  let next = 0;
  const submits: Promise<void>[] = [];
  const start = performance.now();
  const timer = setInterval(() => {
    const due = Math.min(specs.length, Math.floor(((performance.now() - start) / 1000) * ONLINE_JOBS_PER_SEC));
    while (next < due) {
      const spec = specs[next++];
      if (spec !== undefined) submits.push(cell.createJobs([spec]));
    }
  }, 1000 / ONLINE_JOBS_PER_SEC);
  return {
    stop: async () => {
      clearInterval(timer);
      await Promise.all(submits);
      return next;
    },
  };
}

async function checkDnsperf(): Promise<void> {
  const ok = await new Promise<boolean>((resolve) => {
    const p = spawn('dnsperf', ['-h'], { stdio: 'ignore' });
    p.on('error', () => resolve(false));
    p.on('exit', () => resolve(true));
  });
  if (!ok) throw new Error('the dns benchmark needs dnsperf on the PATH (Debian: apt-get install dnsperf)');
}

/**
 * dnsperf runs Debian's dnsperf against the server and reads its summary; verbose: also each
 * query's latency (dnsperf -v prints one line per answer, latency last), for p50 and p99.
 */
function dnsperf(port: number, file: string, o: { seconds: number; qps?: number; verbose?: boolean }): Promise<PerfRun> {
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(o.seconds), '-c', '4', '-e', '-q', '500', '-Q', String(o.qps ?? 1_000_000)];
  if (o.verbose === true) args.push('-v');
  const cpu = process.cpuUsage();
  return new Promise((resolve, reject) => {
    const p = spawn('dnsperf', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const latencies: number[] = [];
    const summary: string[] = [];
    let noerror = 0;
    const lines = createInterface({ input: p.stdout });
    lines.on('line', (line) => {
      // -v: "> NOERROR svc1.prod.bench.muster A 0.000123"
      if (line.startsWith('> ')) {
        const parts = line.split(' ');
        const seconds = Number(parts[parts.length - 1]);
        if (Number.isFinite(seconds)) latencies.push(seconds * 1000);
        if (parts[1] === 'NOERROR') noerror++;
        return;
      }
      summary.push(line);
    });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      const text = summary.join('\n');
      const num = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
      if (code !== 0 || !/Queries per second/.test(text)) {
        reject(new Error(`dnsperf failed (exit ${code}): ${stderr.trim() || text.trim()}`));
        return;
      }
      const completed = num(/Queries completed:\s+(\d+)/);
      const run: PerfRun = {
        qps: Math.round(num(/Queries per second:\s+([\d.]+)/)),
        sent: num(/Queries sent:\s+(\d+)/),
        completed,
        lost: num(/Queries lost:\s+(\d+)/),
        avgMs: round(num(/Average Latency \(s\):\s+([\d.]+)/) * 1000, 3),
        maxMs: round(num(/Average Latency \(s\):.*max ([\d.]+)/) * 1000, 3),
        noerror: o.verbose === true ? noerror : num(/NOERROR (\d+)/),
        cpuUsPerQuery: 0,
      };
      const used = process.cpuUsage(cpu);
      run.cpuUsPerQuery = completed > 0 ? round((used.user + used.system) / completed, 2) : 0;
      if (latencies.length > 0) {
        run.p50Ms = round(percentile(latencies, 50), 3);
        run.p99Ms = round(percentile(latencies, 99), 3);
      }
      resolve(run);
    });
  });
}

/**
 * answerCost times the DNS work alone (Responder.respond on encoded queries, no sockets): µs per
 * query with the cache (after one pass fills it) and without.
 */
function answerCost(base: DnsOptions, jobs: number): { cached: number; uncached: number } {
  const queries: Buffer[] = [];
  for (const line of queryLines(jobs, 20_000).trim().split('\n')) {
    const [name, type] = line.split(' ') as [string, string];
    queries.push(encodeQuery(name, type === 'A' ? 1 : 33));
  }
  const time = (o: DnsOptions, rounds: number): number => {
    const r = new Responder(o, undefined);
    let n = 0;
    const count = (): void => void n++;
    for (const q of queries) r.respond(q, false, count);
    const t0 = performance.now();
    for (let k = 0; k < rounds; k++) for (const q of queries) r.respond(q, false, count);
    return round(((performance.now() - t0) * 1000) / (rounds * queries.length), 2);
  };
  const { stateIndex: _index, onAppended: _appended, ...uncached } = base;
  return { cached: time(base, 10), uncached: time(uncached, 1) };
}

/** encodeQuery: a query with EDNS0 (4096), as dnsperf -e sends. */
function encodeQuery(name: string, type: number): Buffer {
  const labels = name.split('.');
  const parts = [Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1])];
  for (const l of labels) parts.push(Buffer.from([l.length]), Buffer.from(l, 'latin1'));
  parts.push(Buffer.from([0, 0, type, 0, 1]), Buffer.from([0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0]));
  return Buffer.concat(parts);
}

/** echoFloor: the same dnsperf load against a bare UDP echo server in this process: what node's sockets alone allow here. */
async function echoFloor(file: string, seconds: number): Promise<PerfRun> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => {
    m[2] = (m[2] as number) | 0x80;
    s.send(m, r.port, r.address);
  });
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  try {
    return await dnsperf(s.address().port, file, { seconds });
  } finally {
    s.close();
  }
}
