// The master's DNS server, asked by a real DNS client (Debian's dig) as a user would: a master and
// three agents, each on a loopback address of its own (127.0.0.2-4) so that they answer as distinct
// machines would. Names follow the cell as it changes, within one TTL (1 s here).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import type { MusterClient } from '../src/client/index.js';
import { startEtcd } from './etcd.js';
import { cell, freePort, waitFor, type Cell, type MusterProcess } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { taskOf, waitRunning } from './jobs.js';
import { hasBinary, requireOrSkip } from './require.js';

const run = promisify(execFile);

interface DigAnswer {
  status: string;
  flags: string[];
  answers: { name: string; type: string; data: string }[];
  additional: { name: string; type: string; data: string }[];
  authority: { name: string; type: string; data: string }[];
}

/** dig asks the master's DNS server and parses dig's full output. */
async function dig(port: number, name: string, type = 'A', more: string[] = []): Promise<DigAnswer> {
  const question = name === '' ? [] : [name, type];
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), ...question, '+time=2', '+tries=1', ...more]);
  const status = /status: (\w+)/.exec(stdout)?.[1] ?? '?';
  const flags = (/flags: ([a-z ]+);/.exec(stdout)?.[1] ?? '').trim().split(/\s+/);
  const section = (title: string): DigAnswer['answers'] => {
    const m = new RegExp(`;; ${title} SECTION:\\n([\\s\\S]*?)(?:\\n\\n|$)`).exec(stdout);
    if (m === null) return [];
    return (m[1] ?? '')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith(';'))
      .map((l) => {
        const [rname = '', , , rtype = '', ...data] = l.split(/\s+/);
        return { name: rname, type: rtype, data: data.join(' ') };
      });
  };
  return { status, flags, answers: section('ANSWER'), additional: section('ADDITIONAL'), authority: section('AUTHORITY') };
}

const KEY = 'web/prod/hello';
const NAME = 'hello.prod.web.muster.';

/** threeAgents starts a master (TTL 1 s) and three agents on 127.0.0.2-4, and the master's DNS port. */
async function threeAgents(t: TestContext): Promise<{ c: Cell; master: MusterProcess; client: MusterClient; port: number }> {
  const c = cell(t);
  const master = await c.startMaster({ args: ['--dns-ttl', '1'] });
  for (const n of [2, 3, 4]) await c.startAgent(master, { address: `127.0.0.${n}`, hostname: `host-${n}` });
  await c.waitForAgents(3, master);
  const client = c.client(master);
  const port = (await client.cell()).dns?.port;
  assert.ok(port !== undefined && port > 0, 'the master runs a DNS server and says where');
  return { c, master, client, port };
}

/** service is three instances, one per agent, each with a command health check that fails once `sick` exists in its sandbox. */
function service(instances = 3): string {
  return yamlOf(
    serviceConfig(KEY, {
      instances,
      resources: { cpus: 0.05, mem: '16MiB', ports: ['http'] },
      processes: [{ name: 'main', cmd: 'exec sleep 3600' }],
      constraints: instances <= 3 ? { host: 'limit:1' } : {},
      health: { command: { cmd: 'test ! -e sick' }, intervalSecs: 0.3, gracePeriodSecs: 0, timeoutSecs: 5, consecutiveFailures: 1000 },
    }),
  );
}

test('A and SRV for a 3-instance service, every order over 50 queries, one instance by number, NXDOMAIN and NODATA, SOA and NS, PTR, case', async (t) => {
  if (!requireOrSkip(t, hasBinary('dig'), 'needs dig on PATH (apt-get install dnsutils)')) return;
  const { client, port } = await threeAgents(t);
  await client.createJob(service(), YAML);
  const job = await waitRunning(client, KEY, { until: (j) => j.instances.every((i) => i.task?.healthy === true), what: 'three healthy instances' });

  const a = await dig(port, NAME);
  assert.equal(a.status, 'NOERROR');
  assert.ok(a.flags.includes('aa'), `authoritative: ${a.flags.join(' ')}`);
  assert.deepEqual(a.answers.map((r) => r.data).sort(), ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  assert.ok(a.answers.every((r) => r.type === 'A'));

  // Shuffled per answer: each of the 6 orders of 3 appears over 50 queries (a miss has odds of about 1e-4).
  const orders = new Set<string>();
  for (let i = 0; i < 50; i++) orders.add((await dig(port, NAME)).answers.map((r) => r.data).join(','));
  assert.equal(orders.size, 6, `orders seen: ${[...orders].join(' | ')}`);

  const srv = await dig(port, `_http._tcp.${NAME}`, 'SRV');
  assert.equal(srv.answers.length, 3);
  const ports = job.instances.map((i) => i.task?.ports?.['http']).sort();
  assert.deepEqual(srv.answers.map((r) => Number(r.data.split(' ')[2])).sort(), ports, 'each instance\'s own port');
  const targets = srv.answers.map((r) => r.data.split(' ')[3]).sort();
  assert.deepEqual(targets, [`0.${NAME}`, `1.${NAME}`, `2.${NAME}`]);
  assert.deepEqual(srv.additional.filter((r) => r.type === 'A').map((r) => r.name).sort(), targets, 'each target\'s A record is in the additional section');

  const one = await dig(port, `0.${NAME}`);
  assert.deepEqual(one.answers.map((r) => r.data), [await agentAddress(client, taskOf(job, 0).agentId)]);

  const nx = await dig(port, 'nosuch.prod.web.muster.');
  assert.equal(nx.status, 'NXDOMAIN');
  assert.ok(nx.authority.some((r) => r.type === 'SOA'), 'NXDOMAIN carries the SOA');
  const nodata = await dig(port, NAME, 'AAAA');
  assert.equal(nodata.status, 'NOERROR');
  assert.equal(nodata.answers.length, 0, 'the name exists, with no AAAA: NODATA');
  assert.equal((await dig(port, 'muster.', 'SOA')).answers[0]?.type, 'SOA');
  assert.equal((await dig(port, 'muster.', 'NS')).answers[0]?.type, 'NS');
  assert.equal((await dig(port, 'example.com.')).status, 'REFUSED', 'outside the domain, without --dns-forward');

  // Mesos-DNS's HTTP API on the master's port, in its shapes (a port is a string there).
  const hosts = await client.request<{ host: string; ip: string }[]>('GET', '/v1/hosts/hello.prod.web.muster');
  assert.deepEqual(hosts.map((h) => h.ip).sort(), ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  assert.ok(hosts.every((h) => h.host === NAME));
  const services = await client.request<{ service: string; host: string; ip: string; port: string }[]>('GET', '/v1/services/_http._tcp.hello.prod.web.muster');
  assert.deepEqual(services.map((x) => x.port).sort(), ports.map(String));
  assert.deepEqual(await client.request('GET', '/v1/hosts/nosuch.prod.web.muster'), [{ host: '', ip: '' }]);
  assert.equal((await client.request<{ Service: string }>('GET', '/v1/version')).Service, 'Mesos-DNS');

  const upper = await dig(port, NAME.toUpperCase());
  assert.equal(upper.answers.length, 3, 'names are case-insensitive');

  const ptr = await dig(port, '', '', ['-x', '127.0.0.3']);
  assert.deepEqual(ptr.answers.map((r) => r.data), ['host-3.agent.muster.']);
  assert.deepEqual((await dig(port, 'host-3.agent.muster.')).answers.map((r) => r.data), ['127.0.0.3']);
  assert.deepEqual((await dig(port, 'agent.muster.')).answers.map((r) => r.data).sort(), ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  assert.deepEqual((await dig(port, 'leader.muster.')).answers.map((r) => r.data), ['127.0.0.1']);
});

async function agentAddress(client: MusterClient, agentId: string): Promise<string> {
  const agent = (await client.cell()).agents.find((a) => a.agentId === agentId);
  return agent?.address ?? '?';
}

test('answers follow the cell: an unhealthy instance leaves them, a killed one is gone within a TTL and a second', async (t) => {
  if (!requireOrSkip(t, hasBinary('dig'), 'needs dig on PATH (apt-get install dnsutils)')) return;
  const { client, port } = await threeAgents(t);
  await client.createJob(service(), YAML);
  const job = await waitRunning(client, KEY, { until: (j) => j.instances.every((i) => i.task?.healthy === true), what: 'three healthy instances' });
  const addressOf = async (instance: number): Promise<string> => agentAddress(client, taskOf(job, instance).agentId);

  // Instance 1 turns unhealthy (its check fails; 1,000 failures before it is killed): it leaves the answers.
  const sick = await addressOf(1);
  await client.execTask(taskOf(job, 1).taskId, { argv: ['touch', 'sick'], timeoutSecs: 10 }, () => undefined);
  const unhealthy = await waitFor(() => dig(port, NAME), { what: 'the unhealthy instance to leave the answers', until: (d) => d.answers.length === 2, timeoutMs: 10_000, intervalMs: 100 });
  assert.ok(!unhealthy.answers.some((r) => r.data === sick), `${sick} is not answered while unhealthy`);
  assert.equal((await dig(port, `1.${NAME}`)).answers.length, 0, 'nor by its number');

  // Instance 2 is killed: gone within one TTL (1 s) and a second.
  const killed = await addressOf(2);
  await client.killJob(KEY, [2]);
  const start = Date.now();
  await waitFor(() => dig(port, NAME), { what: 'the killed instance to be gone', until: (d) => !d.answers.some((r) => r.data === killed), timeoutMs: 10_000, intervalMs: 100 });
  const gone = Date.now() - start;
  // The server answers from the log at once; the TTL is what a caching resolver adds, and dig caches nothing.
  assert.ok(gone < 2000, `gone from the answers ${gone} ms after the kill`);
});

test('a large answer is truncated over UDP and whole over TCP', async (t) => {
  if (!requireOrSkip(t, hasBinary('dig'), 'needs dig on PATH (apt-get install dnsutils)')) return;
  const c = cell(t);
  const master = await c.startMaster();
  await c.startAgent(master, { resources: 'cpus:4;mem:4096;disk:1024' });
  await c.waitForAgents(1, master);
  const client = c.client(master);
  const port = (await client.cell()).dns?.port ?? 0;
  await client.createJob(
    yamlOf(serviceConfig('web/prod/many', { instances: 40, resources: { cpus: 0.01, mem: '4MiB', ports: ['http'] }, processes: [{ name: 'main', cmd: 'exec sleep 3600' }] })),
    YAML,
  );
  await waitRunning(client, 'web/prod/many', { timeoutMs: 60_000 });
  const name = '_http._tcp.many.prod.web.muster.';
  const udp = await dig(port, name, 'SRV', ['+noedns', '+ignore']);
  assert.ok(udp.flags.includes('tc'), `TC over UDP: ${udp.flags.join(' ')}`);
  const tcp = await dig(port, name, 'SRV', ['+tcp']);
  assert.equal(tcp.answers.length, 40, 'every SRV record over TCP');
  assert.ok(!tcp.flags.includes('tc'));
  const fallback = await dig(port, name, 'SRV', ['+noedns']);
  assert.equal(fallback.answers.length, 40, 'dig retries over TCP on its own when it sees TC');
});

test('a standby answers from the state it follows, the same as the leader', async (t) => {
  if (!requireOrSkip(t, hasBinary('dig'), 'needs dig on PATH (apt-get install dnsutils)')) return;
  const etcd = await startEtcd(t, 1);
  if (etcd === undefined) return;
  const c = cell(t);
  const store = etcd.storeUrl('/dns-test');
  const ports = [await freePort(), await freePort()];
  const masters: MusterProcess[] = [];
  for (const dnsPort of ports) masters.push(await c.startMaster({ store, port: await freePort(), dnsPort, args: ['--dns-ttl', '1'] }));
  const client = c.client();
  await waitFor(() => client.cell(), { what: 'a leader', until: (cv) => cv.leader !== undefined });
  for (const n of [2, 3]) await c.startAgent(masters[0] as MusterProcess, { address: `127.0.0.${n}`, hostname: `host-${n}` });
  await c.waitForAgents(2);
  await client.createJob(service(2), YAML);
  await waitRunning(client, KEY, { until: (j) => j.instances.every((i) => i.task?.healthy === true) });
  const answers = async (port: number): Promise<string[]> => (await dig(port, NAME)).answers.map((r) => r.data).sort();
  for (const port of ports) {
    await waitFor(() => answers(port), { what: `the master on DNS port ${port} to answer both instances`, until: (a) => a.join(',') === '127.0.0.2,127.0.0.3' });
  }
  const leaders = await Promise.all(ports.map(async (port) => (await dig(port, 'leader.muster.')).answers.map((r) => r.data)));
  assert.deepEqual(leaders[0], leaders[1], 'both name the same leader');
  assert.deepEqual((await dig(ports[1] as number, 'master.muster.')).answers.length, 1, 'both masters listen on 127.0.0.1: one address');
});
