// HA masters on a real 3-member etcd: three `muster master` processes share one etcd:// store, one
// leads, the others follow its log and send everything else to it. Killing the leader (kill -9)
// makes a standby lead within seconds, with the agents and the CLI following it and no task started
// again; a leader SIGSTOPped past its lease exits when it wakes, as a deposed master must.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { MasterLink, type Subscribed } from '../src/agent/link.js';
import { MusterClient } from '../src/client/index.js';
import { MusterError } from '../src/core/index.js';
import { silentLogger } from '../src/log/index.js';
import { answerAsStandby, type LeaderView, type Leadership } from '../src/master/http/leader.js';
import type { LeaderInfo } from '../src/master/leader.js';
import { encodeRecord, type CellView, type JobView, type UpdateView } from '../src/protocol/index.js';
import { startEtcd, type EtcdCluster, type EtcdMember } from './etcd.js';
import { cell, cli, freePort, settle, waitFor, type AgentProcess, type Cell, type MusterProcess } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { launch, RawScheduler } from './mesosframework.js';
import { brief, taskIds, waitRunning } from './jobs.js';
import { jobEvidence } from './evidence.js';

const SERVICE = 'web/prod/hello';
const LATER = 'web/prod/later';
/** The leader lease TTL in the tests: short, so that failover takes a few seconds. */
const TTL_SECS = 2;

async function leaderOf(master: MusterProcess): Promise<LeaderView> {
  const res = await fetch(`${master.url}/api/v1/leader`, { signal: AbortSignal.timeout(2000) });
  assert.equal(res.status, 200);
  return (await res.json()) as LeaderView;
}

/**
 * waitLeader waits until every master given that is still running agrees on a leader that says it
 * leads, and returns it. Which masters run is read at each probe: a leader that cannot renew its
 * lease (etcd electing) steps down by exiting, possibly after the wait began, and a dead master must
 * not keep the wait from ending.
 */
async function waitLeader(masters: readonly MusterProcess[], what: string): Promise<MusterProcess> {
  const [alive, views] = await waitFor(
    async () => {
      const live = masters.filter((m) => m.running);
      return [live, await Promise.all(live.map(leaderOf))] as const;
    },
    {
      what,
      until: ([, vs]) => {
        const id = vs[0]?.leader?.masterId;
        return id !== undefined && vs.every((v) => v.leader?.masterId === id) && vs.some((v) => v.self.masterId === id && v.self.leading);
      },
      timeoutMs: 30_000,
    },
  );
  const leader = alive[views.findIndex((v) => v.self.leading)];
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

/** agentTasks asks the agents themselves which tasks of a job run: instance → task ids, every agent together. */
async function agentTasks(agents: readonly AgentProcess[], job: string): Promise<Map<number, string[]>> {
  const byInstance = new Map<number, string[]>();
  for (const a of agents) {
    const res = await fetch(`${a.url}/state`, { signal: AbortSignal.timeout(2000) });
    assert.equal(res.status, 200);
    const { tasks } = (await res.json()) as { tasks: { taskId: string; job: string; instance: number; state: string }[] };
    for (const t of tasks) {
      if (t.job !== job || t.state !== 'TASK_RUNNING') continue;
      byInstance.set(t.instance, [...(byInstance.get(t.instance) ?? []), t.taskId]);
    }
  }
  return byInstance;
}

/** assertOneTaskEach checks on the agents that each instance of the job runs exactly its master-known task. */
async function assertOneTaskEach(agents: readonly AgentProcess[], job: JobView): Promise<void> {
  const running = await agentTasks(agents, job.job);
  const seen = [...running.entries()].sort(([a], [b]) => a - b).map(([i, ids]) => `${i}:${ids.join('+')}`);
  const want = [...job.instances].sort((a, b) => a.instance - b.instance).map((i) => `${i.instance}:${i.task?.taskId ?? '-'}`);
  assert.deepEqual(seen, want, `one TASK_RUNNING task per instance on the agents, the one the master knows: ${brief(job)}`);
}

/** jobOrNothing reads a job, or undefined where the cell does not know it. */
async function jobOrNothing(client: MusterClient, key: string): Promise<JobView | undefined> {
  try {
    return await client.getJob(key);
  } catch (e) {
    if (e instanceof MusterError && e.code === 'JOB_NOT_FOUND') return undefined;
    throw e;
  }
}

/** etcdHealthy waits until the cell view lists every etcd member healthy, one of them the raft leader. */
async function etcdHealthy(client: MusterClient, etcd: EtcdCluster, what: string): Promise<CellView> {
  return waitFor(() => client.cell(), {
    what,
    until: (v) =>
      v.etcd?.length === etcd.members.length && v.etcd.every((e) => e.healthy) && v.etcd.filter((e) => e.leader === true).length === 1,
    timeoutMs: 20_000,
  });
}

/** memberAt finds the etcd member serving an endpoint of the cell view. */
function memberAt(etcd: EtcdCluster, endpoint: string | undefined): EtcdMember {
  const m = etcd.members.find((x) => x.clientUrl === endpoint);
  assert.ok(m !== undefined, `no etcd member at ${endpoint}`);
  return m;
}

/** createAndRun creates a 2-instance service through the CLI, given every master, and waits until `job status` shows it running. */
async function createAndRun(c: Cell, env: Record<string, string>, key: string, options: { duringFailover?: boolean } = {}): Promise<void> {
  const file = join(c.dir, `${key.replaceAll('/', '-')}.yaml`);
  writeFileSync(file, yamlOf(serviceConfig(key, { instances: 2 })));
  if (options.duringFailover === true) {
    // The cell may be changing leaders: a create the dying leader dropped (exit 6) is asked again,
    // and one it had written before it went answers that the job exists (exit 5). Either way the
    // job must end up there once, whole.
    const created = await waitFor(() => cli(['job', 'create', file], { cwd: c.dir, env }), {
      what: `\`muster job create ${key}\` to be accepted by a leader`,
      until: (r) => r.code === 0 || r.code === 5,
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    assert.ok(created.code === 0 || /exists/.test(created.stderr), created.stderr);
  } else {
    const created = await cli(['job', 'create', file], { cwd: c.dir, env });
    assert.equal(created.code, 0, `job create ${key}; stderr:\n${created.stderr}`);
  }
  const status = await waitFor(() => cli(['job', 'status', key], { cwd: c.dir, env }), {
    what: `\`muster job status ${key}\` to show both instances running`,
    until: (r) => r.code === 0 && (r.stdout.match(/TASK_RUNNING/g) ?? []).length >= 2,
  });
  assert.equal(status.code, 0);
}

/** agentsConnected waits until the leader shows n agents, every one connected. */
async function agentsConnected(client: MusterClient, n: number): Promise<void> {
  await waitFor(() => client.cell(), {
    what: `${n} agents CONNECTED to the leader`,
    until: (v) => v.agents.length === n && v.agents.every((a) => a.state === 'CONNECTED'),
  });
}

/** HaCell is a 3-member etcd, three masters on one etcd:// store, and the leader they agreed on. */
interface HaCell {
  c: Cell;
  etcd: EtcdCluster;
  masters: MusterProcess[];
  urls: string[];
  /** MUSTER_MASTER listing every master, for the CLI. */
  env: Record<string, string>;
  leader: MusterProcess;
}

/** startHaCell starts a HaCell under its own store prefix; undefined when the test was skipped for want of etcd. */
async function startHaCell(t: TestContext, prefix: string): Promise<HaCell | undefined> {
  const c = cell(t);
  const etcd = await startEtcd(t, 3);
  if (etcd === undefined) return undefined;
  const masters = await startMasters(c, etcd.storeUrl(prefix), 3);
  const urls = masters.map((m) => m.url);
  const leader = await waitLeader(masters, 'the three masters to agree on a leader');
  return { c, etcd, masters, urls, env: { MUSTER_MASTER: urls.join(',') }, leader };
}

test('kill -9 of the leader: a standby leads, agents and the CLI follow it, no instance is started again', async (t) => {
  const ha = await startHaCell(t, 'muster-ha');
  if (ha === undefined) return;
  const { c, masters, urls, leader } = ha;
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
  await agentsConnected(client, 2);
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

test('kill -9 of the leader while a 10-instance service runs and a job is being created: nothing runs twice, the new job is whole or absent', async (t) => {
  const ha = await startHaCell(t, 'muster-race');
  if (ha === undefined) return;
  const { c, masters, urls, env, leader } = ha;
  const agents = [await c.startAgent(urls.join(',')), await c.startAgent(urls.join(','))];
  const client = new MusterClient({ masters: urls });
  await agentsConnected(client, 2);
  await client.createJob(yamlOf(serviceConfig(SERVICE, { instances: 10 })), YAML);
  const before = await waitRunning(client, SERVICE);
  await assertOneTaskEach(agents, before);

  const RACING = 'web/prod/racing';
  const file = join(c.dir, 'racing.yaml');
  writeFileSync(file, yamlOf(serviceConfig(RACING, { instances: 4 })));
  // The create and the kill race: the CLI may reach the leader before it dies, a standby after,
  // or the dead leader mid-request. Killing it as long after the spawn as the same create takes
  // to fail against no master at all aims at the request in flight, on a fast machine or a slow one.
  const bootStart = Date.now();
  const nowhere = await cli(['job', 'create', file], { cwd: c.dir, env: { MUSTER_MASTER: 'http://127.0.0.1:1' } });
  assert.notEqual(nowhere.code, 0);
  const bootMs = Date.now() - bootStart;
  const creating = cli(['job', 'create', file], { cwd: c.dir, env });
  await sleep(Math.max(0, bootMs - 20));
  await leader.kill('SIGKILL');
  const created = await creating;

  const next = await waitLeader(masters.filter((m) => m !== leader), 'a surviving master to lead');
  await waitFor(() => client.cell(), {
    what: 'both agents to re-subscribe to the new leader',
    until: (v) => v.leader === next.url && v.agents.length === 2 && v.agents.every((a) => a.state === 'CONNECTED'),
  });
  const status = await waitFor(() => cli(['job', 'status', SERVICE], { cwd: c.dir, env }), {
    what: '`muster job status` through the masters list',
    until: (r) => r.code === 0,
  });
  assert.equal((status.stdout.match(/TASK_RUNNING/g) ?? []).length, 10, status.stdout);

  // Past a few heartbeats and scheduling passes: nothing may be placed again.
  await settle(3000);
  const kept = await client.getJob(SERVICE);
  assert.deepEqual(taskIds(kept), taskIds(before), `every instance keeps its task: before ${brief(before)}, after ${brief(kept)}`);
  assert.ok(kept.instances.every((i) => i.task?.state === 'TASK_RUNNING'), brief(kept));
  await assertOneTaskEach(agents, kept);

  // Whole or not at all; and if the CLI said it was created, it was.
  const racing = await jobOrNothing(client, RACING);
  if (created.code === 0) {
    assert.ok(racing !== undefined, `\`muster job create\` exited 0 but the new leader does not know ${RACING}; stdout: ${JSON.stringify(created.stdout)}`);
  }
  if (racing !== undefined) {
    assert.equal(racing.instanceCount, 4, brief(racing));
    assert.deepEqual(
      racing.instances.map((i) => i.instance).sort((a, b) => a - b),
      [0, 1, 2, 3],
      `every instance of ${RACING} exists: ${brief(racing)}`,
    );
    await assertOneTaskEach(agents, await waitRunning(client, RACING));
  } else {
    // Absent: creating it now works, as a user retrying would.
    const again = await cli(['job', 'create', file], { cwd: c.dir, env });
    assert.equal(again.code, 0, `job create after the failover; stderr:\n${again.stderr}`);
    await assertOneTaskEach(agents, await waitRunning(client, RACING));
  }
});

test('an etcd member killed, a follower and then the raft leader: the cell still serves and cell status shows it', async (t) => {
  const ha = await startHaCell(t, 'muster-member');
  if (ha === undefined) return;
  const { c, etcd, masters, urls, env } = ha;
  await c.startAgent(urls.join(','));
  await c.startAgent(urls.join(','));
  const client = new MusterClient({ masters: urls });
  await agentsConnected(client, 2);
  const healthy = await etcdHealthy(client, etcd, 'every etcd member healthy in the cell view');
  assert.deepEqual(healthy.etcd?.map((e) => e.endpoint).sort(), [...etcd.endpoints].sort());
  const shown = await cli(['cell', 'status'], { cwd: c.dir, env });
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal((shown.stdout.match(/^etcd +http:\/\/\S+ +healthy/gm) ?? []).length, 3, shown.stdout);
  assert.equal((shown.stdout.match(/raft leader/g) ?? []).length, 1, shown.stdout);

  // A follower goes: two of three still make a quorum.
  const follower = memberAt(etcd, healthy.etcd?.find((e) => e.leader !== true)?.endpoint);
  await follower.kill();
  const down = await waitFor(() => cli(['cell', 'status'], { cwd: c.dir, env }), {
    what: '`muster cell status` to show the killed etcd member unhealthy',
    until: (r) => r.code === 0 && r.stdout.includes(`${follower.clientUrl}  unhealthy`),
  });
  assert.equal((down.stdout.match(/^etcd +\S+ +healthy/gm) ?? []).length, 2, down.stdout);
  await createAndRun(c, env, 'web/prod/one-member-down');
  const firstBefore = await waitRunning(client, 'web/prod/one-member-down');

  // The follower comes back and the raft leader goes: etcd elects another and the cell goes on.
  follower.start();
  const again = await etcdHealthy(client, etcd, 'the restarted etcd member to be healthy again');
  const raftLeader = memberAt(etcd, again.etcd?.find((e) => e.leader === true)?.endpoint);
  await raftLeader.kill();
  // While etcd elects, the leading master cannot renew its lease: if that takes longer than two
  // thirds of the lease, it steps down (its process exits) and a standby takes over. Either way
  // the cell serves again once a live master leads.
  await waitLeader(masters, 'a live master to lead after the etcd raft leader was killed');
  await waitFor(() => client.cell(), {
    what: 'another etcd member to become the raft leader',
    until: (v) => v.etcd?.some((e) => e.leader === true && e.endpoint !== raftLeader.clientUrl) === true,
    timeoutMs: 20_000,
  });
  await createAndRun(c, env, 'web/prod/raft-leader-down', { duringFailover: true });
  // A master that took over meanwhile knows the first job's tasks once the agents re-subscribe:
  // the same tasks, still running, none started again.
  const first = await waitRunning(client, 'web/prod/one-member-down');
  assert.deepEqual(taskIds(first), taskIds(firstBefore), brief(first));
});

test('restart everything (etcd, masters, agents) on the same dirs and ports: the same jobs, instances and task ids', async (t) => {
  const ha = await startHaCell(t, 'muster-restart');
  if (ha === undefined) return;
  const { c, etcd, masters, urls } = ha;
  const agents = [await c.startAgent(urls.join(',')), await c.startAgent(urls.join(','))];
  const client = new MusterClient({ masters: urls });
  await agentsConnected(client, 2);
  await client.createJob(yamlOf(serviceConfig(SERVICE, { instances: 6 })), YAML);
  await client.createJob(yamlOf(serviceConfig(LATER, { instances: 2 })), YAML);
  const before = [await waitRunning(client, SERVICE), await waitRunning(client, LATER)];
  const jobsBefore = (await client.listJobs()).map((j) => j.job).sort();

  // Agents first (their tasks run on under their supervisors), then the masters, then etcd.
  for (const a of agents) assert.deepEqual(await a.kill('SIGTERM'), { code: 0, signal: null });
  for (const m of masters) await m.kill('SIGTERM');
  await etcd.stop();

  for (const m of etcd.members) m.start();
  for (const m of etcd.members) {
    await waitFor(() => fetch(`${m.clientUrl}/health`).then((r) => r.ok, () => false), { what: `etcd member ${m.name} to be healthy again`, timeoutMs: 20_000 });
  }
  for (const m of masters) await m.start();
  await waitLeader(masters, 'the restarted masters to agree on a leader');
  for (const a of agents) await a.start();
  await waitFor(() => client.cell(), {
    what: 'both restarted agents to re-subscribe',
    until: (v) => v.agents.length === 2 && v.agents.every((a) => a.state === 'CONNECTED'),
  });

  assert.deepEqual((await client.listJobs()).map((j) => j.job).sort(), jobsBefore);
  await settle(3000);
  for (const b of before) {
    const after = await waitRunning(client, b.job);
    assert.equal(after.instanceCount, b.instanceCount);
    assert.deepEqual(taskIds(after), taskIds(b), `the tasks are reattached: before ${brief(b)}, after ${brief(after)}`);
    await assertOneTaskEach(agents, after);
  }
});

test('a leader SIGSTOPped past its lease exits when it wakes, and another leads', async (t) => {
  const ha = await startHaCell(t, 'muster-stop');
  if (ha === undefined) return;
  const { masters, leader } = ha;
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

test('kill -9 of the leader with an external framework connected: it follows the 307 to the new leader, its task and unacknowledged update are intact, nothing launched twice', async (t) => {
  const ha = await startHaCell(t, 'muster-framework');
  if (ha === undefined) return;
  const { c, masters, urls, leader } = ha;
  const agents = [await c.startAgent(urls.join(','))];
  const client = new MusterClient({ masters: urls });
  await agentsConnected(client, 1);
  const standby = masters.find((m) => m !== leader);
  assert.ok(standby !== undefined);
  const info = { user: 'root', name: 'ha-framework', roles: ['test'], failover_timeout: 600 };

  // Subscribing at a standby follows its 307 to the leader.
  const s = new RawScheduler(standby.url);
  t.after(() => s.disconnect());
  await s.subscribe(info);
  assert.equal(s.redirects, 1);
  assert.equal(s.url, leader.url);
  const offer = await s.nextOffer();
  const accept = launch(offer, 'keep-1', 'sleep 3600');
  const ops = (accept['accept'] as { operations: { launch: { task_infos: Record<string, unknown>[] } }[] }).operations;
  const first = ops[0]?.launch.task_infos[0];
  assert.ok(first !== undefined);
  ops[0]?.launch.task_infos.push({ ...first, name: 'brief-1', task_id: { value: 'brief-1' }, command: { value: 'true' } });
  assert.equal((await s.call('ACCEPT', accept)).status, 202);
  await s.waitStatus('keep-1', 'TASK_RUNNING');
  const ended = await s.waitStatus('brief-1', 'TASK_FINISHED', { ack: false });

  await leader.kill('SIGKILL');
  s.disconnect();
  const next = await waitLeader(masters.filter((m) => m !== leader), 'a surviving master to lead');
  // The scheduler knows only the standby it started with; it follows the 307 again.
  const again = new RawScheduler(masters.find((m) => m !== leader && m !== next)?.url ?? next.url);
  t.after(() => again.disconnect());
  await waitFor(() => again.subscribe({ ...info, id: { value: s.frameworkId } }), { what: 'the scheduler to subscribe again through the new leader' });
  assert.equal(again.url, next.url);
  const redelivered = await again.waitStatus('brief-1', 'TASK_FINISHED');
  assert.equal(redelivered.uuid, ended.uuid);
  assert.equal((await again.call('RECONCILE', { reconcile: { tasks: [] } })).status, 202);
  await again.waitStatus('keep-1', 'TASK_RUNNING');
  // One keep-1 on the agent, the one launched before the failover.
  const running = await waitFor(
    async () => {
      const res = await fetch(`${agents[0]?.url}/state`);
      const { tasks } = (await res.json()) as { tasks: { taskId: string; state: string }[] };
      return tasks.filter((x) => x.taskId.startsWith('keep-1.') && x.state === 'TASK_RUNNING');
    },
    { what: 'keep-1 running on the agent', until: (ts) => ts.length > 0 },
  );
  assert.equal(running.length, 1, `one keep-1 runs: ${JSON.stringify(running)}`);
});

test('kill -9 of the leader in the middle of an update: the new leader finishes it, every instance updated once, failures counted across', async (t) => {
  const ha = await startHaCell(t, 'muster-update');
  if (ha === undefined) return;
  const { c, masters, urls, leader } = ha;
  await c.startAgent(urls.join(','));
  await c.startAgent(urls.join(','));
  const client = new MusterClient({ masters: urls });
  await agentsConnected(client, 2);
  const key = 'web/prod/rolling';
  const spec = (cmd: string): Parameters<typeof serviceConfig>[1] => ({
    instances: 4,
    processes: [{ name: 'main', cmd }],
    update: { batchSize: 1, watchSecs: 2, progressDeadlineSecs: 60 },
  });
  await client.createJob(yamlOf(serviceConfig(key, spec('exec sleep 3601'))), YAML);
  await waitRunning(client, key, { until: (j) => j.instances.every((i) => i.task?.state === 'TASK_RUNNING') });
  const started = await client.request<{ update: UpdateView }>('POST', `/api/v1/jobs/${key}/update`, serviceConfig(key, spec('exec sleep 3602')));
  assert.equal(started.update.status, 'ROLLING_FORWARD');
  await waitFor(() => client.request<UpdateView>('GET', `/api/v1/jobs/${key}/update`), { what: 'the second batch', until: (u) => u.batch >= 2, timeoutMs: 60_000 });

  await leader.kill('SIGKILL');
  await waitLeader(masters.filter((m) => m !== leader), 'a surviving master to lead');
  const ended = await waitFor(() => client.request<UpdateView>('GET', `/api/v1/jobs/${key}/update`), {
    what: 'the update to end under the new leader',
    timeoutMs: 90_000,
    until: (u) => u.status === 'ROLLED_FORWARD' || u.status === 'ROLLED_BACK' || u.status === 'FAILED' || u.status === 'ABORTED',
  });
  assert.equal(ended.status, 'ROLLED_FORWARD', JSON.stringify(ended.events));
  assert.deepEqual(Object.values(ended.versions), [2, 2, 2, 2]);
  assert.deepEqual(ended.instanceEvents.filter((e) => e.action === 'UPDATING').map((e) => e.instance).sort(), [0, 1, 2, 3], 'no instance updated twice across the failover');
  assert.deepEqual(ended.batches, 4);
});

test('kill -9 of the leader around a fire time: exactly one run per scheduled time across the failover, counted on the agent', async (t) => {
  const ha = await startHaCell(t, 'muster-cron');
  if (ha === undefined) return;
  const { c, masters, urls, leader } = ha;
  const agent = await c.startAgent(urls.join(','));
  const client = new MusterClient({ masters: urls });
  await agentsConnected(client, 1);
  const key = 'ops/prod/every10';
  await client.createJob(yamlOf(serviceConfig(key, { kind: 'cron', cron: { schedule: '*/10 * * * * *' }, processes: [{ name: 'main', cmd: 'true' }], runHistory: 50 })), YAML);
  // The first run, then the leader dies half a second before the next time.
  await waitFor(() => client.jobRuns(key), { what: 'a first run', until: (v) => v.runs.length >= 1, timeoutMs: 30_000 });
  const next = (await client.jobRuns(key)).next[0] ?? 0;
  await sleep(Math.max(0, next - Date.now() - 500));
  await leader.kill('SIGKILL');
  await waitLeader(masters.filter((m) => m !== leader), 'a surviving master to lead');
  // Two more times under the new leader.
  const view = await waitFor(() => client.jobRuns(key), { what: 'two runs after the failover', timeoutMs: 60_000, until: (v) => v.runs.some((r) => (r.scheduledAt ?? 0) >= next + 20_000) });
  const runs = [...view.runs].reverse();
  const times = runs.map((r) => r.scheduledAt ?? 0);
  assert.ok(times.includes(next), `the time the leader died at ran (${new Date(next).toISOString()}): ${JSON.stringify(view.skips)}`);
  assert.deepEqual(times, [...new Set(times)], 'no time ran twice');
  for (let i = 1; i < times.length; i++) assert.equal((times[i] as number) - (times[i - 1] as number), 10_000, 'no time was skipped');
  await waitFor(() => client.jobRuns(key), { what: 'the runs to end', until: (v) => v.current.length === 0 });
  // The agent's word: each run's task left one sandbox that exited 0, and no run the master does not know of ran.
  for (const r of runs) {
    assert.deepEqual(jobEvidence([agent], r.key).sandboxes.map((s) => s.outcome), ['succeeded'], `run ${r.number} (${new Date(r.scheduledAt ?? 0).toISOString()}) ran once`);
  }
  const last = Math.max(...runs.map((r) => r.number));
  assert.equal(jobEvidence([agent], `${key}--${last + 1}`).sandboxes.length + jobEvidence([agent], `${key}--${last + 2}`).sandboxes.length, 0);
});
