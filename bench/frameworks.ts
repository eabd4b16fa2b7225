// frameworks: the offer path with external frameworks. Two figures:
//
// - allocation pass: the pure allocator (hierarchical DRF, decline filters) over 10,000 agents and
//   5 frameworks in 2 roles, as the master's offer cycle calls it when it re-offers every agent.
// - ACCEPT throughput: the master's own offer cycle, built-in framework, external-framework code
//   (frameworks/external.ts) and scheduler route on an HTTP server, over a SQLite event log (every
//   launch durably committed before LAUNCH goes out), with 10,000 hollow agents (registered in the
//   log; their links a stub that counts LAUNCHes). Four external frameworks subscribe over HTTP in
//   JSON and answer each offer with an ACCEPT of TASKS_PER_ACCEPT tasks while the built-in one
//   places a job of its own. Launches/s = tasks committed and sent to agents over the run's time.
//
// The frameworks run in this process beside the master: on a 2-core machine the figure is the
// master's and its clients' together, a floor for what a master with remote clients does.

import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { validateJobSpec, type Resources } from '../src/core/index.js';
import { silentLogger } from '../src/log/index.js';
import { addSchedulerRoutes, DEFAULT_SCHEDULING_OPTIONS, EventLog, ExternalFrameworks, MusterFramework, OfferBook, OfferCycle, Router, SqliteStore, type Event } from '../src/master/index.js';
import { RecordIODecoder } from '../src/protocol/index.js';
import { allocate, type AllocatorAgent, type AllocatorFramework } from '../src/scheduler/index.js';
import { printTable } from './report.js';
import { median, percentile, round } from './stats.js';

const AGENTS = Math.round(10_000 * Number(process.env['MUSTER_BENCH_SCALE'] ?? 1));
const EXTERNAL = 4;
const TASKS_PER_ACCEPT = 40;
const RUN_MS = 10_000;

function resources(cpusMilli: number, memMiB: number): Resources {
  return { cpusMilli, memMiB, diskMiB: 0, gpus: 0, ports: [] };
}

function allocationPass(): { p50: number; p99: number } {
  const agents: AllocatorAgent[] = Array.from({ length: AGENTS }, (_, i) => ({
    agentId: `a${i}`,
    hostname: `h${i}`,
    attributes: {},
    total: resources(32_000, 131_072),
    free: resources(16_000 + (i % 7) * 1000, 65_536),
  }));
  const frameworks: AllocatorFramework[] = Array.from({ length: 5 }, (_, f) => ({
    frameworkId: `f${f}`,
    role: f < 3 ? 'web' : 'batch',
    allocated: resources(f * 100_000, f * 400_000),
    suppressed: false,
    declined: new Map(Array.from({ length: 500 }, (_, k) => [`a${(k * 13 + f) % AGENTS}`, Number.MAX_SAFE_INTEGER])),
  }));
  const times: number[] = [];
  let seq = 0;
  for (let run = 0; run < 30; run++) {
    const t0 = performance.now();
    allocate({ agents, frameworks, roleWeights: new Map([['web', 2]]), now: 1, nextOfferId: () => `o${++seq}` });
    times.push(performance.now() - t0);
  }
  return { p50: round(median(times.slice(5)), 2), p99: round(percentile(times.slice(5), 99), 2) };
}

interface Client {
  frameworkId: string;
  streamId: string;
  res: IncomingMessage;
  accepts: number;
}

async function subscribe(port: number, name: string, onOffers: (c: Client, offers: { id: { value: string }; agent_id: { value: string } }[]) => void): Promise<Client> {
  const body = JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'root', name, roles: ['bench'], failover_timeout: 60 } } });
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/v1/scheduler', method: 'POST', headers: { 'Content-Type': 'application/json' } }, resolve);
    req.on('error', reject);
    req.end(body);
  });
  const client: Client = { frameworkId: '', streamId: String(res.headers['mesos-stream-id']), res, accepts: 0 };
  const decoder = new RecordIODecoder();
  await new Promise<void>((resolve) => {
    res.on('data', (chunk: Buffer) => {
      for (const e of decoder.push(chunk) as { type: string; subscribed?: { framework_id: { value: string } }; offers?: { offers: { id: { value: string }; agent_id: { value: string } }[] } }[]) {
        if (e.type === 'SUBSCRIBED' && e.subscribed !== undefined) {
          client.frameworkId = e.subscribed.framework_id.value;
          resolve();
        } else if (e.type === 'OFFERS' && e.offers !== undefined) {
          onOffers(client, e.offers.offers);
        }
      }
    });
  });
  return client;
}

export async function runFrameworksBench(): Promise<Record<string, unknown>> {
  const pass = allocationPass();

  const dir = mkdtempSync(join(tmpdir(), 'muster-bench-frameworks-'));
  const store = new SqliteStore(join(dir, 'master.db'));
  const log = await EventLog.open(store, { snapshotEvery: 1_000_000, logger: silentLogger });
  let launches = 0;
  const links = {
    send: () => {
      launches++;
      return true;
    },
    launch: () => {
      launches++;
    },
    isOfferable: () => true,
    busyPortsOf: () => undefined,
    slackOf: () => ({ cpusMilli: 0, memMiB: 0 }),
    hasUsage: () => false,
  };
  const agents: Event[] = Array.from({ length: AGENTS }, (_, i) => ({
    type: 'AgentRegistered',
    at: 0,
    agent: { agentId: `a${i}`, hostname: `h${i}`, address: `10.0.${i >> 8}.${i & 255}`, port: 5051, resources: resources(32_000, 131_072), attributes: {}, version: 'bench' },
  }));
  const framework = new MusterFramework(log, links, { logger: silentLogger, scheduling: DEFAULT_SCHEDULING_OPTIONS });
  const ref: { cycle?: OfferCycle } = {};
  const book = new OfferBook();
  const externals = new ExternalFrameworks(log, links, { masterId: 'bench', logger: silentLogger, book, masterInfo: () => undefined, kick: () => ref.cycle?.kick(), release: (id) => ref.cycle?.release(id) });
  const cycle = new OfferCycle(log, links, [framework], { masterId: 'bench', logger: silentLogger, book, external: externals });
  ref.cycle = cycle;
  const offAppended = log.onAppended(() => cycle.kick());
  const router = new Router(silentLogger);
  addSchedulerRoutes(router, () => externals);
  const server = createServer((req, res) => void router.handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;

  // Calls go over a few kept-alive connections per process, as a framework's HTTP client does.
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 16 });
  let running = true;
  let accepted = 0;
  let seq = 0;
  const acceptMs: number[] = [];
  const onOffers = (c: Client, offers: { id: { value: string }; agent_id: { value: string } }[]): void => {
    for (const o of offers) {
      if (!running) return;
      const taskInfos = Array.from({ length: TASKS_PER_ACCEPT }, () => {
        const id = `t${++seq}`;
        return { name: id, task_id: { value: id }, agent_id: o.agent_id, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.01 } }, { name: 'mem', type: 'SCALAR', scalar: { value: 1 } }], command: { value: 'true' } };
      });
      const body = JSON.stringify({ type: 'ACCEPT', framework_id: { value: c.frameworkId }, accept: { offer_ids: [o.id], operations: [{ type: 'LAUNCH', launch: { task_infos: taskInfos } }], filters: { refuse_seconds: 0 } } });
      const t0 = performance.now();
      const req = request({ host: '127.0.0.1', port, path: '/api/v1/scheduler', method: 'POST', agent: keepAlive, headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': c.streamId } }, (res) => {
        res.resume();
        res.on('end', () => {
          acceptMs.push(performance.now() - t0);
          if (res.statusCode === 202) accepted += TASKS_PER_ACCEPT;
        });
      });
      req.on('error', () => undefined);
      req.end(body);
      c.accepts++;
    }
  };
  // The four subscribe before the agents register, so that the first is not offered the whole cell
  // before the others arrive (a lone framework is offered everything, as in Mesos); the built-in
  // framework has a job of its own to place meanwhile.
  const clients = await Promise.all(Array.from({ length: EXTERNAL }, (_, i) => subscribe(port, `bench-${i}`, onOffers)));
  const job: Event = { type: 'JobCreated', at: 1, spec: validateJobSpec({ job: 'web/prod/builtin', kind: 'batch', instances: 10_000, resources: { cpus: 0.01, mem: 1 }, processes: [{ name: 'main', cmd: 'true' }] }) };
  await log.submit(() => ({ events: [...agents, job], result: undefined }));
  const startLaunches = launches;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, RUN_MS));
  running = false;
  const seconds = (performance.now() - t0) / 1000;
  const externalTasks = [...log.state.frameworks.values()].reduce((n, f) => n + f.taskIds.size, 0);
  const builtIn = log.state.tasks.size - externalTasks;
  const sent = launches - startLaunches;
  for (const c of clients) c.res.destroy();
  keepAlive.destroy();
  offAppended();
  cycle.close();
  externals.close();
  server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });

  const figures = {
    agents: AGENTS,
    allocationPassP50Ms: pass.p50,
    allocationPassP99Ms: pass.p99,
    externalFrameworks: EXTERNAL,
    tasksPerAccept: TASKS_PER_ACCEPT,
    seconds: round(seconds, 1),
    externalTasksCommitted: externalTasks,
    externalLaunchesPerSec: Math.round(externalTasks / seconds),
    builtInTasksCommitted: builtIn,
    launchesSentPerSec: Math.round(sent / seconds),
    acceptP50Ms: round(median(acceptMs), 1),
    acceptP99Ms: round(percentile(acceptMs, 99), 1),
    tasksAcceptedAnswered202: accepted,
  };
  printTable(
    `frameworks: ${EXTERNAL} external frameworks over HTTP (JSON) and the built-in one on ${AGENTS.toLocaleString('en')} hollow agents, every launch durably committed`,
    ['figure', 'value'],
    [
      ['allocation pass p50 ms, 5 frameworks (goal ≤ 50)', figures.allocationPassP50Ms],
      ['allocation pass p99 ms', figures.allocationPassP99Ms],
      ['external launches/s through ACCEPT (goal ≥ 20,000)', figures.externalLaunchesPerSec],
      ['external tasks committed', figures.externalTasksCommitted],
      ['built-in tasks committed meanwhile', figures.builtInTasksCommitted],
      ['LAUNCH sent/s, all frameworks', figures.launchesSentPerSec],
      [`ACCEPT of ${TASKS_PER_ACCEPT} tasks p50 ms`, figures.acceptP50Ms],
      ['ACCEPT p99 ms', figures.acceptP99Ms],
    ],
  );
  return figures;
}
