// Access control with real processes: a master with authentication prints a bootstrap token once;
// every route refuses a call without a token (401), a token of another role is refused what its
// policies do not grant (403, naming the permission), and the right token works; a revoked token
// fails at once; a browser page of another origin cannot write; a master running open says so and
// answers only to loopback names and addresses.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { test } from 'node:test';
import { MusterClient } from '../src/client/index.js';
import { MusterError } from '../src/core/index.js';
import { startEtcd } from './etcd.js';
import { cell, cli, waitFor, type MusterProcess } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';

/** bootstrapTokenOf reads the bootstrap token the master printed at its first start. */
async function bootstrapTokenOf(master: MusterProcess): Promise<string> {
  return waitFor(() => /MUSTER_TOKEN=(mst_[A-Za-z0-9_-]+)/.exec(readFileSync(master.logFile, 'utf8'))?.[1], { what: 'the bootstrap token in the master log' });
}

/** call sends one request; headOnly: the answer is a stream, so its status is read and the rest dropped. */
async function call(
  master: MusterProcess,
  method: string,
  path: string,
  options: { token?: string; body?: string; type?: string; headers?: Record<string, string>; headOnly?: boolean } = {},
): Promise<{ status: number; text: string; headers: Headers }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = options.type ?? 'application/json';
  const res = await fetch(`${master.url}${path}`, { method, headers, ...(options.body === undefined ? {} : { body: options.body }), redirect: 'manual', signal: AbortSignal.timeout(10_000) });
  if (options.headOnly === true && res.ok) {
    await res.body?.cancel();
    return { status: res.status, text: '', headers: res.headers };
  }
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** withHost GETs the job list with the Host header given (fetch would put the URL's own). */
function withHost(master: MusterProcess, host: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: master.port, path: '/api/v1/jobs', headers: { host } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** joinTokenFile makes a join token (a policy granting agent:join, a token with it) and writes it to a file for --join-token-file. */
async function joinTokenFile(dir: string, admin: MusterClient): Promise<string> {
  await admin.setPolicy('agents', { grants: [{ actions: ['agent:join'], roles: ['*'] }] });
  const join = (await admin.createToken({ name: 'agents', policies: ['agents'] })).secret;
  const file = `${dir}/join-token`;
  writeFileSync(file, `${join}\n`, { mode: 0o600 });
  return file;
}

/**
 * Every route but the public ones, with a body where it takes one, and the permission it needs of
 * a token (undefined: any valid token; "stream": any, and it answers a stream; "agent": an agent's
 * credential). Each must answer 401 without a token.
 */
interface Route {
  readonly method: string;
  readonly path: string;
  readonly body?: string;
  readonly needs?: string;
}
const r = (method: string, path: string, needs?: string, body?: string): Route => ({ method, path, ...(needs === undefined ? {} : { needs }), ...(body === undefined ? {} : { body }) });
const ROUTES: readonly Route[] = [
  r('GET', '/metrics'),
  r('GET', '/api/v1/cell'),
  r('GET', '/api/v1/jobs'),
  r('POST', '/api/v1/jobs', 'job:write on role web', JSON.stringify(serviceConfig('web/prod/x'))),
  r('POST', '/api/v1/jobs/plan', 'job:read on role web', JSON.stringify(serviceConfig('web/prod/x'))),
  r('GET', '/api/v1/jobs/web/prod/x', 'job:read on role web'),
  r('POST', '/api/v1/jobs/web/prod/x/kill', 'job:write on role web', '{}'),
  r('POST', '/api/v1/jobs/web/prod/x/restart', 'job:write on role web', '{}'),
  r('DELETE', '/api/v1/jobs/web/prod/x', 'job:write on role web'),
  r('GET', '/api/v1/tasks'),
  r('GET', '/api/v1/tasks/t1', 'job:read on every role'),
  r('GET', '/api/v1/tasks/t1/history', 'job:read on every role'),
  r('GET', '/api/v1/agents'),
  r('GET', '/api/v1/agents/a1'),
  r('GET', '/api/v1/tasks/t1/logs', 'task:logs on every role'),
  r('GET', '/api/v1/tasks/t1/files', 'task:logs on every role'),
  r('GET', '/api/v1/tasks/t1/files/read?path=stdout', 'task:logs on every role'),
  r('GET', '/api/v1/tasks/t1/files/download?path=stdout', 'task:logs on every role'),
  r('POST', '/api/v1/tasks/t1/exec', 'task:exec on every role', '{"argv":["true"]}'),
  r('GET', '/api/v1/events', 'job:read on every role stream'),
  r('GET', '/api/v1/quotas'),
  r('GET', '/api/v1/quotas/web'),
  r('PUT', '/api/v1/quotas/web', 'quota:write on role web', '{"cpus":1}'),
  r('DELETE', '/api/v1/quotas/web', 'quota:write on role web'),
  r('GET', '/api/v1/hosts'),
  r('POST', '/api/v1/hosts/drain', 'host:drain', '{"hostnames":["h"]}'),
  r('POST', '/api/v1/hosts/activate', 'host:drain', '{"hostnames":["h"]}'),
  r('GET', '/api/v1/snapshot', 'cell:admin'),
  r('GET', '/api/v1/frameworks'),
  r('POST', '/api/v1/frameworks/f1/teardown', undefined, '{}'),
  r('POST', '/api/v1/scheduler', 'framework:register on every role stream', '{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}'),
  r('POST', '/api/v1', 'job:read on every role', '{"type":"GET_STATE"}'),
  r('GET', '/master/state', 'job:read on every role'),
  r('GET', '/master/state-summary', 'job:read on every role'),
  r('GET', '/master/frameworks', 'job:read on every role'),
  r('GET', '/master/slaves', 'job:read on every role'),
  r('GET', '/metrics/snapshot', 'job:read on every role'),
  r('GET', '/api/v1/acl/whoami'),
  r('GET', '/api/v1/acl/tokens', 'cell:admin'),
  r('POST', '/api/v1/acl/tokens', 'cell:admin', '{"name":"x","management":true}'),
  r('DELETE', '/api/v1/acl/tokens/x', 'cell:admin'),
  r('GET', '/api/v1/acl/policies', 'cell:admin'),
  r('PUT', '/api/v1/acl/policies/x', 'cell:admin', '{"grants":[{"actions":["*"],"roles":["*"]}]}'),
  r('DELETE', '/api/v1/acl/policies/x', 'cell:admin'),
  r('GET', '/api/v1/audit', 'cell:admin'),
  r('POST', '/api/v1/agent', 'agent', '{"type":"HEARTBEAT","agentId":"a1"}'),
  r('POST', '/api/v1/agent', 'agent', '{"type":"SUBSCRIBE","subscribe":{"agent":{"hostname":"h","address":"127.0.0.1","port":1,"resources":{"cpus":1,"mem":1,"disk":0,"gpus":0,"ports":""},"attributes":{},"version":"x"},"tasks":[]}}'),
];

test('a master with authentication: 401 without a token on every route, 403 naming what a token lacks, the right token works, a revoked one fails at once', async (t) => {
  const c = cell(t);
  const master = await c.startMaster({ auth: true });
  const root = await bootstrapTokenOf(master);
  const admin = new MusterClient({ masters: [master.url], token: root });
  assert.equal((await admin.whoAmI()).principal, 'bootstrap');
  await c.startAgent(master, { args: ['--join-token-file', await joinTokenFile(c.dir, admin)] });

  // Without a token, or with one the master never made: 401, with a challenge; nothing changes.
  for (const { method, path, body } of ROUTES) {
    for (const token of [undefined, 'mst_not-a-token']) {
      const a = await call(master, method, path, { ...(token === undefined ? {} : { token }), ...(body === undefined ? {} : { body }) });
      assert.equal(a.status, 401, `${method} ${path} ${token === undefined ? 'without a token' : 'with a made-up token'}: ${a.status} ${a.text.slice(0, 200)}`);
      assert.match(a.headers.get('www-authenticate') ?? '', /^(Bearer|Basic) realm=/);
    }
  }
  // A token whose one grant is elsewhere: 403 naming what each route needs, where it needs more
  // than a token; the management token: never 401 or 403 (404 where nothing of that name exists).
  await admin.setPolicy('elsewhere', { grants: [{ actions: ['job:read'], roles: ['other'] }] });
  const elsewhere = (await admin.createToken({ name: 'elsewhere', policies: ['elsewhere'] })).secret;
  for (const { method, path, body, needs } of ROUTES) {
    const stream = needs?.endsWith(' stream') === true;
    const permission = needs?.replace(/ stream$/, '');
    const weak = await call(master, method, path, { token: elsewhere, ...(body === undefined ? {} : { body }), headOnly: stream });
    if (permission === undefined || permission === '') {
      assert.ok(weak.status !== 401 && weak.status !== 403, `${method} ${path} needs only a token: ${weak.status} ${weak.text.slice(0, 200)}`);
    } else {
      assert.equal(weak.status, 403, `${method} ${path} with a token lacking ${permission}: ${weak.text.slice(0, 200)}`);
      if (permission !== 'agent') assert.ok(weak.text.includes(`needs ${permission}`), `${method} ${path} names ${permission}: ${weak.text.slice(0, 200)}`);
    }
    if (permission === 'agent') continue;
    const strong = await call(master, method, path, { token: root, ...(body === undefined ? {} : { body }), headOnly: stream });
    assert.ok(strong.status !== 401 && strong.status !== 403, `${method} ${path} with the management token: ${strong.status} ${strong.text.slice(0, 200)}`);
  }
  // The web UI's page and files hold no data (the app asks for a token before it reads any): public.
  for (const [method, path] of [['GET', '/health'], ['GET', '/api/v1/leader'], ['GET', '/version'], ['GET', '/'], ['GET', '/jobs/web/prod/x']] as const) {
    assert.equal((await call(master, method, path)).status, 200, `${path} is public`);
  }
  // The Mesos APIs ask for Basic, which Mesos's clients send: the token is the password.
  assert.equal((await call(master, 'POST', '/api/v1', { body: '{"type":"GET_HEALTH"}' })).headers.get('www-authenticate'), 'Basic realm="mesos-master-scheduler"');
  const basic = `Basic ${Buffer.from(`bootstrap:${root}`).toString('base64')}`;
  assert.equal((await call(master, 'POST', '/api/v1', { body: '{"type":"GET_HEALTH"}', headers: { authorization: basic } })).status, 200);

  // Policies: web's deployer may read and write web's jobs and read their logs; batch's reader only reads batch.
  await admin.setPolicy('web-deployer', { grants: [{ actions: ['job:read', 'job:write', 'task:logs'], roles: ['web'] }] });
  await admin.setPolicy('batch-reader', { grants: [{ actions: ['job:read'], roles: ['batch'] }] });
  const web = (await admin.createToken({ name: 'web-ci', policies: ['web-deployer'] })).secret;
  const batch = (await admin.createToken({ name: 'batch-viewer', policies: ['batch-reader'] })).secret;
  const asWeb = new MusterClient({ masters: [master.url], token: web });
  const asBatch = new MusterClient({ masters: [master.url], token: batch });
  await asWeb.createJob(yamlOf(serviceConfig('web/prod/hello', { instances: 1 })), YAML);
  const denied = async (what: string, fn: () => Promise<unknown>, permission: RegExp): Promise<void> => {
    await assert.rejects(fn, (e: unknown) => e instanceof MusterError && e.code === 'FORBIDDEN' && permission.test(e.message), what);
  };
  await denied('batch may not create a web job', () => asBatch.createJob(yamlOf(serviceConfig('web/prod/other')), YAML), /batch-viewer may not do this: it needs job:write on role web/);
  await denied('batch may not read a web job', () => asBatch.getJob('web/prod/hello'), /job:read on role web/);
  await denied('batch may not kill a web job', () => asBatch.request('POST', '/api/v1/jobs/web/prod/hello/kill', {}), /job:write on role web/);
  await denied('web may not set a quota', () => asWeb.setQuota('web', { cpus: 1 }), /quota:write on role web/);
  await denied('web may not drain hosts', () => asWeb.request('POST', '/api/v1/hosts/drain', { hostnames: ['agent-1'] }), /host:drain/);
  await denied('web may not read the event stream (every role)', () => asWeb.request('GET', '/api/v1/events?since=0'), /job:read on every role/);
  await denied('web may not make tokens', () => asWeb.createToken({ name: 'sneaky', management: true }), /cell:admin/);
  await denied('web may not take a snapshot', () => asWeb.request('GET', '/api/v1/snapshot'), /cell:admin/);
  const scheduler = await call(master, 'POST', '/api/v1/scheduler', { token: web, body: JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u', name: 'n', role: 'web' } } }) });
  assert.equal(scheduler.status, 403, scheduler.text);
  assert.match(scheduler.text, /framework:register on role web/);
  // Lists leave out what the caller may not read.
  assert.deepEqual((await asWeb.listJobs()).map((j) => j.job), ['web/prod/hello']);
  assert.deepEqual(await asBatch.listJobs(), []);
  const job = await waitFor(() => asWeb.getJob('web/prod/hello'), { what: 'the web job running', until: (j) => j.instances[0]?.task?.state === 'TASK_RUNNING' });
  const taskId = job.instances[0]?.task?.taskId ?? '';
  assert.equal((await call(master, 'GET', `/api/v1/tasks/${taskId}/logs`, { token: web })).status, 200, "web reads its task's logs");
  assert.equal((await call(master, 'GET', `/api/v1/tasks/${taskId}/logs`, { token: batch })).status, 403);
  assert.equal((await call(master, 'POST', `/api/v1/tasks/${taskId}/exec`, { token: web, body: '{"cmd":["true"]}' })).status, 403, 'exec is task:exec, not granted');

  // The CLI: exit 8 and the master's one line, for no token and for a missing permission.
  const env = { MUSTER_MASTER: master.url };
  const anonymous = await cli(['job', 'list'], { cwd: c.dir, env: { ...env, MUSTER_TOKEN: '' } });
  assert.equal(anonymous.code, 8, anonymous.stderr);
  assert.match(anonymous.stderr, /needs a token/);
  const quota = await cli(['quota', 'set', 'web', 'cpus=1'], { cwd: c.dir, env: { ...env, MUSTER_TOKEN: web } });
  assert.equal(quota.code, 8);
  assert.match(quota.stderr, /web-ci may not do this: it needs quota:write on role web/);
  // Named cells in the config file, as kubectl's contexts: the master and token of the one picked.
  const config = `${c.dir}/config.yaml`;
  writeFileSync(config, `current: other\ncells:\n  other: { master: "http://127.0.0.1:9" }\n  here: { master: "${master.url}", token: ${web} }\n`, { mode: 0o600 });
  const viaConfig = await cli(['--cell', 'here', 'job', 'list'], { cwd: c.dir, env: { MUSTER_CONFIG: config, MUSTER_TOKEN: '', MUSTER_MASTER: '' } });
  assert.equal(viaConfig.code, 0, viaConfig.stderr);
  assert.match(viaConfig.stdout, /web\/prod\/hello/);
  chmodSync(config, 0o644);
  const open = await cli(['--cell', 'here', 'job', 'list'], { cwd: c.dir, env: { MUSTER_CONFIG: config, MUSTER_TOKEN: '', MUSTER_MASTER: '' } });
  assert.equal(open.code, 2);
  assert.match(open.stderr, /may be read by other users, and it holds tokens.*chmod 600/s);
  // A daemon takes flags only: a person's config file never stops one starting.
  const daemon = await cli(['agent'], { cwd: c.dir, env: { MUSTER_CONFIG: config, MUSTER_MASTER: '' } });
  assert.match(daemon.stderr, /the agent needs a master/);

  const listed = await cli(['acl', 'token', 'list'], { cwd: c.dir, env: { ...env, MUSTER_TOKEN: root } });
  assert.match(listed.stdout, /^web-ci +\S+ +web-deployer /m);
  assert.doesNotMatch(listed.stdout + readFileSync(master.logFile, 'utf8').split('MUSTER_TOKEN=')[1]?.slice(60), new RegExp(web), 'a secret is shown once, never listed or logged');

  // The event stream shows the tokens made, but not even the hashes of their secrets.
  let seen = '';
  const stop = new AbortController();
  await admin
    .events(
      (e) => {
        seen += `event: ${e.type}\n${JSON.stringify(e)}\n`;
        if (seen.includes('"name":"batch-viewer"')) stop.abort();
      },
      stop.signal,
      { since: 0 },
    )
    .catch((e: unknown) => {
      if (!stop.signal.aborted) throw e;
    });
  assert.match(seen, /event: TokenCreated/);
  for (const secret of [root, web, batch]) assert.ok(!seen.includes(createHash('sha256').update(secret).digest('hex')), 'no secret hash on the stream');

  // A page of another origin cannot write, whatever it holds.
  const crossSite = await call(master, 'POST', '/api/v1/jobs', { token: web, body: JSON.stringify(serviceConfig('web/prod/csrf')), headers: { origin: 'http://evil.example' } });
  assert.equal(crossSite.status, 403, crossSite.text);

  // The audit names who did what.
  const audit = await admin.audit({ limit: 1000 });
  assert.ok(audit.some((e) => e.by === 'web-ci' && e.action === 'JobCreated' && e.subject === 'web/prod/hello'), JSON.stringify(audit));
  assert.ok(audit.some((e) => e.by === 'bootstrap' && e.action === 'TokenCreated' && e.subject === 'web-ci'));
  const auditCli = await cli(['cell', 'audit', '--principal', 'web-ci'], { cwd: c.dir, env: { ...env, MUSTER_TOKEN: root } });
  assert.match(auditCli.stdout, /web-ci +JobCreated +web\/prod\/hello/);

  // Revoked: refused at the very next call.
  await admin.revokeToken('web-ci');
  await assert.rejects(() => asWeb.listJobs(), (e: unknown) => e instanceof MusterError && e.code === 'UNAUTHENTICATED');
  assert.equal((await call(master, 'GET', '/api/v1/jobs', { token: web })).status, 401);
});

test('a master running open says so, refuses writes from another origin and a Host it does not answer to', async (t) => {
  const c = cell(t);
  const master = await c.startMaster();
  const status = await cli(['cell', 'status'], { cwd: c.dir, env: { MUSTER_MASTER: master.url } });
  assert.match(status.stdout, /^access +OPEN: no authentication/m);
  // The web UI shows it from the cell view (its banner is checked in test/ui.test.ts).
  assert.equal((await new MusterClient({ masters: [master.url] }).cell()).authentication, 'open');
  // A form post from a page elsewhere (text/plain needs no preflight): refused, nothing created.
  const form = await call(master, 'POST', '/api/v1/jobs', { body: yamlOf(serviceConfig('web/prod/csrf')), type: 'text/plain', headers: { origin: 'http://evil.example' } });
  assert.equal(form.status, 403, form.text);
  const fetchSite = await call(master, 'POST', '/api/v1/jobs', { body: JSON.stringify(serviceConfig('web/prod/csrf')), headers: { 'sec-fetch-site': 'cross-site' } });
  assert.equal(fetchSite.status, 403);
  // DNS rebinding: a name of the attacker's resolving to this machine.
  const rebound = await withHost(master, 'evil.example:5050');
  assert.equal(rebound.status, 403, rebound.text);
  assert.match(rebound.text, /answers only to loopback names and IP addresses/);
  assert.equal((await withHost(master, `localhost:${master.port}`)).status, 200);
  assert.deepEqual(await new MusterClient({ masters: [master.url] }).listJobs(), [], 'nothing was created');
});

test('HA masters with authentication: a standby checks tokens against the log it follows, and a revoked token fails there within a second', async (t) => {
  const etcd = await startEtcd(t, 1);
  if (etcd === undefined) return;
  const c = cell(t);
  const store = etcd.storeUrl('muster-acl');
  const first = await c.startMaster({ auth: true, store, args: ['--leader-ttl', '2'] });
  const root = await bootstrapTokenOf(first);
  const second = await c.startMaster({ auth: true, store, args: ['--leader-ttl', '2'] });
  const admin = new MusterClient({ masters: [first.url, second.url], token: root });
  await admin.setPolicy('readers', { grants: [{ actions: ['job:read'], roles: ['*'] }] });
  const secret = (await admin.createToken({ name: 'reader', policies: ['readers'] })).secret;
  // Which one leads is the election's; ask the other (a standby serves whoami and /metrics from its own state).
  const leaderUrl = (await waitFor(() => admin.cell(), { what: 'a leader', until: (v) => v.leader !== undefined })).leader ?? '';
  const standby = [first, second].find((m) => m.url !== leaderUrl);
  assert.ok(standby !== undefined);
  const whoAmI = (m: MusterProcess): Promise<number> => call(m, 'GET', '/api/v1/acl/whoami', { token: secret }).then((r) => r.status);
  await waitFor(() => whoAmI(standby), { what: 'the standby to know the new token', until: (s) => s === 200 });
  assert.equal((await call(standby, 'GET', '/api/v1/acl/whoami')).status, 401, 'a standby refuses a call without a token');
  assert.notEqual(readFileSync(standby.logFile, 'utf8').includes('bootstrap token'), true, 'only the first leader of an empty cell makes a bootstrap token');
  const revokedAt = Date.now();
  await admin.revokeToken('reader');
  await waitFor(() => whoAmI(standby), { what: 'the standby to refuse the revoked token', until: (s) => s === 401, timeoutMs: 3000, intervalMs: 20 });
  const took = Date.now() - revokedAt;
  // The standby follows the log: within moments, not at its next poll or restart.
  assert.ok(took < 3000, `refused on the standby ${took} ms after the revocation`);
  assert.equal(await whoAmI((leaderUrl === first.url ? first : second)), 401);
});

test('agents are trusted, not believed: one joins with a join token and then holds a credential of its own; a made-up agent, a taken id and an UPDATE without the credential are refused', async (t) => {
  const c = cell(t);
  const master = await c.startMaster({ auth: true });
  const root = await bootstrapTokenOf(master);
  const admin = new MusterClient({ masters: [master.url], token: root });
  await admin.setPolicy('web', { grants: [{ actions: ['job:read', 'job:write'], roles: ['web'] }] });
  const notJoin = (await admin.createToken({ name: 'web-ci', policies: ['web'] })).secret;
  const joinFile = await joinTokenFile(c.dir, admin);
  const join = readFileSync(joinFile, 'utf8').trim();

  // Without a join token the agent is refused; with one it joins and runs a job.
  const agent = await c.startAgent(master, { args: ['--join-token-file', joinFile] });
  await admin.createJob(yamlOf(serviceConfig('web/prod/hello', { instances: 1 })), YAML);
  const job = await waitFor(() => admin.getJob('web/prod/hello'), { what: 'the job running on the joined agent', until: (j) => j.instances[0]?.task?.state === 'TASK_RUNNING' });
  const task = job.instances[0]?.task;
  assert.ok(task !== undefined);
  const agentId = task.agentId;
  assert.equal(readFileSync(`${agent.workDir}/credential`, 'utf8').trim().startsWith('mac_'), true, 'the agent keeps the credential it was issued');

  const agentCall = (body: unknown, token?: string): Promise<{ status: number; text: string; headers: Headers }> =>
    call(master, 'POST', '/api/v1/agent', { body: JSON.stringify(body), ...(token === undefined ? {} : { token }) });
  const info = (id?: string): Record<string, unknown> => ({
    ...(id === undefined ? {} : { agentId: id }),
    hostname: 'fake',
    address: '127.0.0.1',
    port: 1,
    resources: { cpus: 64, mem: 65536, disk: 0, gpus: 0, ports: '[1-2]' },
    attributes: {},
    version: 'x',
  });
  const subscribe = (id?: string): unknown => ({ type: 'SUBSCRIBE', subscribe: { agent: info(id), tasks: [] } });
  assert.equal((await agentCall(subscribe())).status, 401, 'a made-up agent without a credential');
  assert.equal((await agentCall(subscribe(), 'mst_made-up')).status, 401, 'a made-up token');
  assert.equal((await agentCall(subscribe(), notJoin)).status, 403, 'a token without agent:join');
  const taken = await agentCall(subscribe(agentId), join);
  assert.equal(taken.status, 403, `the real agent's id with a join token: ${taken.text}`);
  assert.match(taken.text, /belongs to another agent/);
  // An UPDATE for the real agent's task, sent without any stream: refused without its credential.
  const update = { type: 'UPDATE', agentId, update: { status: { taskId: task.taskId, state: 'TASK_FAILED', uuid: '5f0a8e39-2f6b-4b43-9d1e-8c3b0c7f1a22', timestamp: Date.now(), message: 'forged' } } };
  assert.equal((await agentCall(update)).status, 401);
  assert.equal((await agentCall(update, join)).status, 403);
  assert.equal((await agentCall(update, root)).status, 403, 'not even a management token speaks for an agent');
  const after = await admin.getJob('web/prod/hello');
  assert.equal(after.instances[0]?.task?.taskId, task.taskId, 'the task was not replaced');
  assert.equal(after.instances[0]?.task?.state, 'TASK_RUNNING', 'nor marked failed');
  assert.equal((await admin.cell()).agents.length, 1, 'no fake agent registered');

  // Restarted on its work dir (kill -9), the agent comes back with its credential: the join token,
  // revoked meanwhile, is not needed again.
  await admin.revokeToken('agents');
  await agent.restart();
  await waitFor(() => admin.cell(), { what: 'the agent back', until: (v) => v.agents.length === 1 && v.agents.every((a) => a.state === 'CONNECTED') });
  assert.equal((await admin.getJob('web/prod/hello')).instances[0]?.task?.taskId, task.taskId, 'its task is the same one');
});
