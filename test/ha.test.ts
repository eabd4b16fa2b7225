// HA masters on a real 3-member etcd: three `muster master` processes share one etcd:// store, one
// leads, the others follow its log and send everything else to it. Killing the leader (kill -9)
// makes a standby lead within seconds, with the agents and the CLI following it and no task started
// again; a leader SIGSTOPped past its lease exits when it wakes, as a deposed master must.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MasterLink, type Subscribed } from '../src/agent/link.js';
import { MusterClient } from '../src/client/index.js';
import { silentLogger } from '../src/log/index.js';
import { answerAsStandby, type LeaderView, type Leadership } from '../src/master/http/leader.js';
import type { LeaderInfo } from '../src/master/leader.js';
import { encodeRecord } from '../src/protocol/index.js';
import { startEtcd } from './etcd.js';
import { cell, cli, freePort, settle, waitFor, type Cell, type MusterProcess } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { brief, taskIds, waitRunning } from './jobs.js';

const SERVICE = 'web/prod/hello';
const LATER = 'web/prod/later';
/** The leader lease TTL in the tests: short, so that failover takes a few seconds. */
const TTL_SECS = 2;

async function leaderOf(master: MusterProcess): Promise<LeaderView> {
  const res = await fetch(`${master.url}/api/v1/leader`, { signal: AbortSignal.timeout(2000) });
  assert.equal(res.status, 200);
  return (await res.json()) as LeaderView;
}

/** waitLeader waits until every master given agrees on a leader that says it leads, and returns it. */
async function waitLeader(masters: readonly MusterProcess[], what: string): Promise<MusterProcess> {
  const views = await waitFor(() => Promise.all(masters.map(leaderOf)), {
    what,
    until: (vs) => {
      const id = vs[0]?.leader?.masterId;
      return id !== undefined && vs.every((v) => v.leader?.masterId === id) && vs.some((v) => v.self.masterId === id && v.self.leading);
    },
    timeoutMs: 30_000,
  });
  const i = views.findIndex((v) => v.self.leading);
  const leader = masters[i];
  assert.ok(leader !== undefined);
  return leader;
}

async function startMasters(c: Cell, store: string, n: number): Promise<MusterProcess[]> {
  const masters: MusterProcess[] = [];
  for (let i = 0; i < n; i++) {
    masters.push(await c.startMaster({ store, port: await freePort(), agentTimeoutSecs: 10, args: ['--leader-ttl', String(TTL_SECS)] }));
  }
  return masters;
}

test('kill -9 of the leader: a standby leads, agents and the CLI follow it, no instance is started again', async (t) => {
  const c = cell(t);
  const etcd = await startEtcd(t, 3);
  if (etcd === undefined) return;
  const masters = await startMasters(c, etcd.storeUrl('muster-ha'), 3);
  const urls = masters.map((m) => m.url);
  const leader = await waitLeader(masters, 'the three masters to agree on a leader');
  assert.match(leader.logs(), /elected leader, epoch \d+/);

  // A standby sends clients to the leader, keeping the path and query, in Mesos's form.
  const standby = masters.find((m) => m !== leader);
  assert.ok(standby !== undefined);
  const redirected = await fetch(`${standby.url}/api/v1/jobs?role=web`, { redirect: 'manual' });
  assert.equal(redirected.status, 307);
  assert.equal(redirected.headers.get('location'), `//127.0.0.1:${leader.port}/api/v1/jobs?role=web`);
  const toRoot = await fetch(`${standby.url}/master/redirect`, { redirect: 'manual' });
  assert.equal(toRoot.status, 307);
  assert.equal(toRoot.headers.get('location'), `//127.0.0.1:${leader.port}/`);
  const health = await fetch(`${standby.url}/health`);
  assert.equal(health.status, 200, 'a standby answers /health itself');

  await c.startAgent(urls.join(','));
  await c.startAgent(urls.join(','));
  const client = new MusterClient({ masters: urls });
  await waitFor(() => client.cell(), {
    what: '2 agents CONNECTED to the leader',
    until: (v) => v.agents.length === 2 && v.agents.every((a) => a.state === 'CONNECTED'),
  });
  await client.createJob(yamlOf(serviceConfig(SERVICE, { instances: 3 })), YAML);
  const before = await waitRunning(client, SERVICE);
  const cellBefore = await client.cell();
  assert.equal(cellBefore.leader, leader.url);
  assert.equal(cellBefore.masters?.filter((m) => m.leading).length, 1);

  await leader.kill('SIGKILL');
  const survivors = masters.filter((m) => m !== leader);
  const next = await waitLeader(survivors, 'a surviving master to lead');
  const after = await leaderOf(next);
  assert.ok((after.leader?.epoch ?? 0) > (cellBefore.epoch ?? 0), `the new epoch ${after.leader?.epoch} is above the old ${cellBefore.epoch}`);

  // The CLI, given all three masters (the dead one first), finds the new leader.
  const env = { MUSTER_MASTER: urls.join(',') };
  const status = await waitFor(() => cli(['job', 'status', SERVICE], { cwd: c.dir, env }), {
    what: '`muster job status` through the masters list',
    until: (r) => r.code === 0,
  });
  assert.match(status.stdout, /TASK_RUNNING/);

  await waitFor(() => client.cell(), {
    what: 'both agents to re-subscribe to the new leader',
    until: (v) => v.leader === next.url && v.agents.length === 2 && v.agents.every((a) => a.state === 'CONNECTED'),
  });
  // Wait past a few agent heartbeats and scheduling passes: nothing may be placed again.
  await settle(3000);
  const kept = await client.getJob(SERVICE);
  assert.deepEqual(taskIds(kept), taskIds(before), `every instance keeps its task: before ${brief(before)}, after ${brief(kept)}`);
  assert.ok(kept.instances.every((i) => i.task?.state === 'TASK_RUNNING'), brief(kept));

  // The new leader places work.
  const file = join(c.dir, 'later.yaml');
  writeFileSync(file, yamlOf(serviceConfig(LATER, { instances: 1 })));
  const created = await cli(['job', 'create', file], { cwd: c.dir, env });
  assert.equal(created.code, 0, `job create through the masters list; stderr:\n${created.stderr}`);
  await waitRunning(client, LATER);
});

test('a leader SIGSTOPped past its lease exits when it wakes, and another leads', async (t) => {
  const c = cell(t);
  const etcd = await startEtcd(t, 3);
  if (etcd === undefined) return;
  const masters = await startMasters(c, etcd.storeUrl('muster-stop'), 3);
  const leader = await waitLeader(masters, 'the three masters to agree on a leader');
  const survivors = masters.filter((m) => m !== leader);

  process.kill(leader.pid, 'SIGSTOP');
  try {
    await settle(3 * TTL_SECS * 1000);
  } finally {
    process.kill(leader.pid, 'SIGCONT');
  }
  const exit = await leader.waitExit({ timeoutMs: 15_000 });
  assert.equal(exit.code, 1, 'the deposed leader exits with status 1');
  assert.match(leader.logs(), /deposed|another master leads/);
  const next = await waitLeader(survivors, 'a surviving master to lead');
  assert.notEqual(next, leader);
});

test('a standby with no leader known answers 503 NOT_LEADER, and 307 once one is known', async (t) => {
  let known: LeaderInfo | undefined;
  const leadership: Leadership = { self: { masterId: 'me', url: 'http://127.0.0.1:1' }, leading: () => false, leader: () => known };
  const server = createServer((req, res) => {
    if (answerAsStandby(leadership, req, res)) return;
    res.writeHead(200).end('served');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const refused = await fetch(`${base}/api/v1/jobs`);
  assert.equal(refused.status, 503);
  assert.deepEqual(await refused.json(), { error: { code: 'NOT_LEADER', message: 'no leader is known yet; retry' } });
  const subscribe = await fetch(`${base}/api/v1/agent`, { method: 'POST', body: '{}' });
  assert.equal(subscribe.status, 503);
  await subscribe.body?.cancel();
  for (const path of ['/health', '/metrics', '/api/v1/leader', '/master/redirect']) {
    const res = await fetch(`${base}${path}`);
    assert.equal(await res.text(), 'served', `${path} is served by a standby`);
  }

  known = { masterId: 'other', url: 'http://10.0.0.9:5050', epoch: 7 };
  const moved = await fetch(`${base}/api/v1/agent?x=1`, { method: 'POST', body: '{}', redirect: 'manual' });
  assert.equal(moved.status, 307);
  assert.equal(moved.headers.get('location'), '//10.0.0.9:5050/api/v1/agent?x=1');
  // Elected but not yet serving: this master is the leader it would send clients to, so it refuses.
  known = { masterId: 'me', url: 'http://127.0.0.1:1', epoch: 8 };
  assert.equal((await fetch(`${base}/api/v1/jobs`)).status, 503);
});

test('an agent refuses a master whose SUBSCRIBED epoch is older than one it subscribed under', async (t) => {
  // One fake master answering each SUBSCRIBE under the next epoch of this list, then ending the stream.
  const epochs = [5, 3, 6];
  let subscribes = 0;
  const server = createServer((req, res) => {
    req.resume();
    const epoch = epochs[Math.min(subscribes++, epochs.length - 1)] as number;
    res.writeHead(200, { 'Content-Type': 'application/recordio' });
    res.write(encodeRecord({ type: 'SUBSCRIBED', subscribed: { agentId: 'a1', heartbeatIntervalSecs: 1, masterId: `m${epoch}`, epoch } }));
    if (epoch !== 6) setTimeout(() => res.end(), 50);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const seen: Subscribed[] = [];
  const link = new MasterLink({
    masters: [`http://127.0.0.1:${(server.address() as AddressInfo).port}`],
    agentId: undefined,
    subscription: () => ({
      agent: { hostname: 'h', address: '127.0.0.1', port: 1, resources: { cpus: 1, mem: 64, disk: 0, gpus: 0, ports: '' }, attributes: {}, version: 'test' },
      tasks: [],
    }),
    onSubscribed: (sub) => seen.push(sub),
    onEvent: () => undefined,
    logger: silentLogger,
    initialBackoffMs: 10,
    maxBackoffMs: 50,
  });
  t.after(async () => {
    await link.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  link.start();
  await waitFor(() => seen.length, { what: 'the agent to subscribe under epochs 5 and then 6', until: (n) => n >= 2 });
  assert.deepEqual(
    seen.map((s) => s.epoch),
    [5, 6],
    'the stream under epoch 3 was refused',
  );
  assert.ok(subscribes >= 3);
});
