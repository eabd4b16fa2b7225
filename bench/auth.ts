// auth: what authentication and authorization cost a call. Two figures:
//
// - per call: the master's own RouterAuth (auth/http.ts) on a cell of 1,000 tokens and 200
//   policies: checkOrigin, authenticate (hash the secret, look the token up) and authorize (walk
//   the token's policies' grants), as the router runs them for every request; p50 and p99 in µs.
// - per request, end to end: the master's Router on an HTTP server, GET /api/v1/acl/whoami over
//   keep-alive connections, with authentication on and off; the difference of the p50s is what a
//   client sees it cost.
//
// Against `online`'s submit → placement p50 (bench/results/online.json when it has been run), the
// per-call figure is the share of a job's latency that access control takes.

import { existsSync, readFileSync } from 'node:fs';
import { Agent, createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { silentLogger } from '../src/log/index.js';
import { hashSecret, masterAuth, newSecret } from '../src/master/auth/index.js';
import { addAclRoutes } from '../src/master/http/acl.js';
import { Router } from '../src/master/http/router.js';
import { apply, emptyState, type CellState, type EventLog } from '../src/master/index.js';
import { printTable, repoRoot } from './report.js';
import { median, percentile, round } from './stats.js';

const TOKENS = 1000;
const POLICIES = 200;
const CALLS = 200_000;
const REQUESTS = 20_000;

function cell(): { state: CellState; secret: string } {
  const state = emptyState();
  for (let p = 0; p < POLICIES; p++) {
    apply(state, {
      type: 'PolicySet',
      at: 1,
      policy: { name: `p${p}`, setAt: 1, grants: Array.from({ length: 10 }, (_, g) => ({ actions: ['job:read', 'task:logs'], roles: [`role${p}-${g}`, `other${g}`] })) },
    });
  }
  let secret = '';
  for (let i = 0; i < TOKENS; i++) {
    const s = newSecret();
    if (i === TOKENS - 1) secret = s;
    // The measured token has five policies; the grant it needs is in the last one's last grant.
    const policies = Array.from({ length: 5 }, (_, k) => `p${(i + k * 37) % POLICIES}`);
    apply(state, { type: 'TokenCreated', at: 1, token: { accessorId: `id-${i}`, name: `t${i}`, secretHash: hashSecret(s), policies, management: false, createdAt: 1 } });
  }
  return { state, secret };
}

function perCall(state: CellState, secret: string): { p50: number; p99: number } {
  const auth = masterAuth({ state: () => state, now: () => 2, enabled: true, allowedHosts: [] });
  const token = state.tokens.get(`id-${TOKENS - 1}`);
  const last = state.policies.get(token?.policies[4] ?? '');
  const role = last?.grants[9]?.roles[0] ?? '';
  const req = { method: 'GET', headers: { authorization: `Bearer ${secret}`, host: '127.0.0.1:5050' } } as unknown as IncomingMessage;
  const times: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    auth.checkOrigin(req);
    const caller = auth.authenticate(req);
    auth.authorize(caller, 'task:logs', role);
    times.push(performance.now() - t0);
  }
  const warm = times.slice(CALLS / 10);
  return { p50: round(median(warm) * 1000, 2), p99: round(percentile(warm, 99) * 1000, 2) };
}

async function perRequest(state: CellState, secret: string, enabled: boolean): Promise<number> {
  const log = { state, now: () => 2 } as unknown as EventLog;
  const router = new Router(silentLogger).useAuth(masterAuth({ state: () => state, now: () => 2, enabled, allowedHosts: [] }));
  addAclRoutes(router, { log, open: () => !enabled });
  const server = createServer((req, res) => void router.handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/v1/acl/whoami', agent, headers: { authorization: `Bearer ${secret}` } }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end();
    });
    times.push(performance.now() - t0);
  }
  agent.destroy();
  server.close();
  return median(times.slice(REQUESTS / 10)) * 1000;
}

function onlineP50Ms(): number | undefined {
  const path = join(repoRoot(), 'bench', 'results', 'online.json');
  if (!existsSync(path)) return undefined;
  try {
    const doc = JSON.parse(readFileSync(path, 'utf8')) as { latencyP50Ms?: number };
    return doc.latencyP50Ms;
  } catch {
    return undefined;
  }
}

export async function runAuthBench(): Promise<Record<string, unknown>> {
  const { state, secret } = cell();
  const call = perCall(state, secret);
  const on = await perRequest(state, secret, true);
  const off = await perRequest(state, secret, false);
  const online = onlineP50Ms();
  const figures = {
    tokens: TOKENS,
    policies: POLICIES,
    perCallP50Us: call.p50,
    perCallP99Us: call.p99,
    requestP50UsAuthOn: round(on, 1),
    requestP50UsAuthOff: round(off, 1),
    requestP50CostUs: round(on - off, 1),
    ...(online === undefined ? {} : { onlineLatencyP50Ms: online, shareOfOnlineP50Pct: round((call.p50 / 1000 / online) * 100, 4) }),
  };
  printTable(
    `auth: access control on ${TOKENS.toLocaleString('en')} tokens and ${POLICIES} policies`,
    ['figure', 'value'],
    [
      ['per call p50 µs (origin, token, permission)', figures.perCallP50Us],
      ['per call p99 µs (goal ≤ 20)', figures.perCallP99Us],
      ['GET whoami p50 µs, authentication on', figures.requestP50UsAuthOn],
      ['GET whoami p50 µs, open', figures.requestP50UsAuthOff],
      ['difference µs', figures.requestP50CostUs],
      ['share of online submit → placement p50 % (goal ≤ 5)', online === undefined ? 'run bench online first' : figures.shareOfOnlineP50Pct ?? ''],
    ],
  );
  return figures;
}
