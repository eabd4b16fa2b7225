// TLS end to end with real processes and certificates made by `muster cell init-tls`: a master
// with authentication serving HTTPS (and asking for client certificates), an agent serving HTTPS
// on its own port and trusting the cell CA for the master, the CLI with --ca, the master reading a
// task's logs from the agent over TLS, and a Mesos framework subscribing over TLS. A client without
// the CA fails with one line that names the cause and the fix, exit code 6.

import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { MusterClient } from '../src/client/index.js';
import { cell, cli, fetchTrusting, ok, waitFor, type MusterProcess, type TlsFiles } from './harness.js';
import { serviceConfig, yamlOf } from './jobconfig.js';
import { launch, RawScheduler } from './mesosframework.js';

/** initTls runs `muster cell init-tls DIR` and returns the master's and the agents' files. */
async function initTls(dir: string): Promise<{ master: TlsFiles; agent: TlsFiles }> {
  ok(await cli(['cell', 'init-tls', dir, '--host', 'muster-test.invalid,10.9.8.7'], { cwd: dir.replace(/\/[^/]+$/, '') }), 'muster cell init-tls');
  const f = (name: string): string => join(dir, name);
  return {
    master: { cert: f('master.pem'), key: f('master-key.pem'), ca: f('ca.pem') },
    agent: { cert: f('agent.pem'), key: f('agent-key.pem'), ca: f('ca.pem') },
  };
}

/** bootstrapTokenOf reads the bootstrap token the master printed at its first start. */
async function bootstrapTokenOf(master: MusterProcess): Promise<string> {
  return waitFor(() => /MUSTER_TOKEN=(mst_[A-Za-z0-9_-]+)/.exec(readFileSync(master.logFile, 'utf8'))?.[1], { what: 'the bootstrap token in the master log' });
}

/** getWithClientCert GETs a path of the master over TLS presenting a client certificate. */
function getWithClientCert(master: MusterProcess, path: string, client: { cert: string; key: string }, token: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${master.url}${path}`,
      { ca: master.ca, cert: readFileSync(client.cert), key: readFileSync(client.key), headers: { authorization: `Bearer ${token}` } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('a cell over TLS: agents, the CLI with --ca, task logs through the master and a Mesos framework; without the CA the CLI says why and exits 6', async (t) => {
  const c = cell(t);
  const tls = await initTls(join(c.dir, 'tls'));
  for (const key of [tls.master.key, tls.agent.key, join(c.dir, 'tls', 'ca-key.pem')]) assert.equal(statSync(key).mode & 0o777, 0o600, `${key} is 0600`);
  const master = await c.startMaster({ auth: true, tls: tls.master, args: ['--tls-client-ca', tls.master.ca] });
  assert.match(master.url, /^https:\/\//);
  assert.match(master.logs(), /muster master listening on https:\/\/127\.0\.0\.1:\d+/);
  const root = await bootstrapTokenOf(master);
  const admin = new MusterClient({ masters: [master.url], token: root, ...(master.ca === undefined ? {} : { ca: master.ca }) });

  // An agent joins over TLS and serves its own port over TLS.
  await admin.setPolicy('agents', { grants: [{ actions: ['agent:join'], roles: ['*'] }] });
  const joinFile = join(c.dir, 'join-token');
  writeFileSync(joinFile, `${(await admin.createToken({ name: 'agents', policies: ['agents'] })).secret}\n`, { mode: 0o600 });
  const agent = await c.startAgent(master, { tls: tls.agent, args: ['--join-token-file', joinFile] });
  assert.match(agent.url, /^https:\/\//);
  await waitFor(() => admin.cell(), { what: 'the agent CONNECTED over TLS', until: (v) => v.agents.some((a) => a.state === 'CONNECTED') });
  await assert.rejects(fetch(`${agent.url.replace('https:', 'http:')}/health`, { signal: AbortSignal.timeout(5000) }), 'the agent port speaks TLS only');
  assert.equal((await fetchTrusting(`${agent.url}/health`, {}, agent.ca)).status, 200);

  // The CLI: --ca works (MUSTER_CA, which the harness sets for a TLS cell, is emptied to prove it).
  const env = { MUSTER_TOKEN: root, MUSTER_CA: '' };
  const config = join(c.dir, 'hello.yaml');
  writeFileSync(config, yamlOf(serviceConfig('web/prod/hello', { processes: [{ name: 'main', cmd: 'echo hello over tls; sleep 3600' }] })));
  ok(await c.cli(['--ca', tls.master.ca, 'job', 'create', config], { env }), 'muster --ca job create');
  assert.match(ok(await c.cli(['--ca', tls.master.ca, 'job', 'list'], { env }), 'muster --ca job list'), /web\/prod\/hello/);

  // Without the CA: one line naming the cause and the fix, exit 6, no stack.
  const refused = await c.cli(['job', 'list'], { env });
  assert.equal(refused.code, 6, `exit 6 without the CA; stderr:\n${refused.stderr}`);
  assert.match(refused.stderr, /^muster: cannot trust the master at https:\/\/127\.0\.0\.1:\d+: its certificate is not signed by a CA this client trusts \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\) \(give the cell's CA with --ca FILE, MUSTER_CA or ca: in the config file\)\n$/);
  const refusedJson = await c.cli(['job', 'list', '--json'], { env });
  assert.equal(refusedJson.code, 6);
  assert.equal((JSON.parse(refusedJson.stdout) as { error: { code: string } }).error.code, 'UNAVAILABLE');
  // MUSTER_CA names the file as well as --ca does.
  ok(await c.cli(['job', 'list'], { env: { ...env, MUSTER_CA: tls.master.ca } }), 'muster job list with MUSTER_CA');

  // task logs: the master reads the sandbox from the agent over TLS, trusting its --tls-ca.
  const logs = await waitFor(() => c.cli(['--ca', tls.master.ca, 'task', 'logs', 'web/prod/hello/0'], { env }), {
    what: 'muster task logs to print the greeting, read from the agent over TLS',
    until: (r) => r.code === 0 && r.stdout.includes('hello over tls'),
    timeoutMs: 30_000,
  });
  assert.match(logs.stdout, /hello over tls/);

  // Client certificates (--tls-client-ca): one of the cell's CA is accepted, one of another CA refused, none is fine.
  assert.equal((await getWithClientCert(master, '/api/v1/jobs', tls.agent, root)).status, 200);
  const other = await initTls(join(c.dir, 'other-tls'));
  const foreign = await getWithClientCert(master, '/api/v1/jobs', other.agent, root);
  assert.equal(foreign.status, 401, foreign.text);
  assert.match(foreign.text, /client certificate was refused/);

  // A Mesos framework over TLS subscribes and gets an offer, and its task runs on the TLS agent.
  const framework = new RawScheduler(master.url, { ...(master.ca === undefined ? {} : { ca: master.ca }), token: root });
  const subscribed = await framework.subscribe({ user: 'root', name: 'tls-framework', roles: ['test'], capabilities: [{ type: 'MULTI_ROLE' }] });
  assert.equal(subscribed.type, 'SUBSCRIBED', JSON.stringify(subscribed));
  const offer = await framework.nextOffer();
  assert.equal(offer.hostname, 'agent-1');
  const accepted = await framework.call('ACCEPT', launch(offer, 'tls-task', 'sleep 3600'));
  assert.equal(accepted.status, 202, accepted.body);
  await framework.waitStatus('tls-task', 'TASK_RUNNING');
  framework.disconnect();
});
