// The master's calls to an agent's /files/* and /exec carry the agent's API token, which the agent
// sent in its SUBSCRIBE; the token stays in the master's memory: not in its log, its answers or its
// log lines. A real master, and a hand-made agent: its link by hand, its HTTP server a recorder.

import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Logger } from '../../log/index.js';
import { encodeRecord, RecordIODecoder, type AgentCall, type AgentEvent } from '../../protocol/index.js';
import { MusterError } from '../../core/index.js';
import type { FetchDispatcher } from '../../tls/index.js';
import type { EventLog } from '../eventlog.js';
import { startMaster } from '../master.js';
import type { TaskRecord } from '../state/index.js';
import { agentBase } from './files.js';
import type { MasterHandle } from '../options.js';

const TOKEN = 'tok3n_' + 'x'.repeat(37);

/** capturingLogger keeps every line the master logs, fields included, as text. */
function capturingLogger(lines: string[]): Logger {
  const log = (message: string, fields?: Record<string, unknown>): void => {
    lines.push(`${message} ${JSON.stringify(fields ?? {})}`);
  };
  const logger: Logger = { debug: log, info: log, warn: log, error: log, child: () => logger };
  return logger;
}

let dir: string;
let master: MasterHandle;
const logLines: string[] = [];
/** What the agent's HTTP server was asked: path and Authorization header. */
const seen: { path: string; authorization: string | undefined }[] = [];
let refuse = false;
let agentServer: Server;
let stream: IncomingMessage | undefined;
const events: AgentEvent[] = [];
let taskId: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'muster-master-files-'));
  master = await startMaster({
    port: 0,
    host: '127.0.0.1',
    store: `sqlite:${join(dir, 'master.db')}`,
    agentTimeoutSecs: 60,
    heartbeatSecs: 1,
    snapshotEvery: 100_000,
    logger: capturingLogger(logLines),
  });
  agentServer = createServer((req, res) => {
    seen.push({ path: (req.url ?? '').split('?')[0] ?? '', authorization: req.headers.authorization });
    req.resume();
    if (refuse) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'UNAUTHENTICATED', message: 'no' } }));
    } else if (req.url?.startsWith('/files/read') === true) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: 'stdout', offset: 0, size: 3, data: 'hi\n', eof: false }));
    } else if (req.url === '/exec') {
      res.writeHead(200, { 'content-type': 'application/recordio' }).end(encodeRecord({ type: 'EXIT', exitCode: 0, signal: null }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => agentServer.listen(0, '127.0.0.1', resolve));

  // The agent subscribes with its port and token, and runs the one task the master launches.
  const subscribe: AgentCall = {
    type: 'SUBSCRIBE',
    subscribe: {
      agent: {
        hostname: 'fake',
        address: '127.0.0.1',
        port: (agentServer.address() as AddressInfo).port,
        resources: { cpus: 1, mem: 256, disk: 0, gpus: 0, ports: '[31000-31010]' },
        attributes: { host: 'fake' },
        version: 'test',
        isolation: 'test',
        apiToken: TOKEN,
      },
      tasks: [],
    },
  };
  stream = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(`${master.url}/api/v1/agent`, { method: 'POST', headers: { 'content-type': 'application/json' } }, resolve);
    req.on('error', reject);
    req.end(JSON.stringify(subscribe));
  });
  const decoder = new RecordIODecoder();
  stream.on('data', (chunk: Buffer) => {
    for (const e of decoder.push(chunk)) events.push(e as AgentEvent);
  });
  const job = await fetch(`${master.url}/api/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/yaml' },
    body: 'job: test/prod/files\nresources: {cpus: 0.1, mem: 16}\nprocesses: [{name: main, cmd: sleep 100}]\n',
  });
  assert.equal(job.status, 201, await job.text());
  const launch = await until(() => events.find((e) => e.type === 'LAUNCH'));
  assert.ok(launch.type === 'LAUNCH');
  taskId = launch.launch.task.taskId;
  const subscribed = events.find((e) => e.type === 'SUBSCRIBED');
  assert.ok(subscribed?.type === 'SUBSCRIBED');
  const update: AgentCall = {
    type: 'UPDATE',
    agentId: subscribed.subscribed.agentId,
    update: { status: { taskId, state: 'TASK_RUNNING', uuid: 'u-running', timestamp: Date.now() } },
  };
  const res = await fetch(`${master.url}/api/v1/agent`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(update) });
  assert.equal(res.status, 202);
  await until(() => events.find((e) => e.type === 'ACKNOWLEDGED'));
});

after(async () => {
  stream?.destroy();
  await master.close();
  await new Promise<void>((resolve) => agentServer.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

async function until<T>(get: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("the master reads a task's logs and runs exec with the agent's token as a bearer credential", async () => {
  seen.length = 0;
  const logs = await fetch(`${master.url}/api/v1/tasks/${taskId}/logs?file=stdout`);
  assert.equal(logs.status, 200);
  assert.equal(((await logs.json()) as { data: string }).data, 'hi\n');
  const exec = await fetch(`${master.url}/api/v1/tasks/${taskId}/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ argv: ['true'] }) });
  assert.equal(exec.status, 200);
  await exec.arrayBuffer();
  assert.deepEqual(seen, [
    { path: '/files/read', authorization: `Bearer ${TOKEN}` },
    { path: '/exec', authorization: `Bearer ${TOKEN}` },
  ]);
});

test("an agent that refuses the master's credential is the master's trouble: 502 AGENT_UNREACHABLE, not a 401 to the client", async () => {
  refuse = true;
  try {
    for (const res of [
      await fetch(`${master.url}/api/v1/tasks/${taskId}/logs?file=stdout`),
      await fetch(`${master.url}/api/v1/tasks/${taskId}/files/download?path=stdout`),
      await fetch(`${master.url}/api/v1/tasks/${taskId}/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ argv: ['true'] }) }),
    ]) {
      assert.equal(res.status, 502);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'AGENT_UNREACHABLE');
      assert.match(body.error.message, /refused the master's credential/);
    }
  } finally {
    refuse = false;
  }
});

test("the agent's token is in no event of the log, no answer of the master and no line it logs", async () => {
  const db = new Database(join(dir, 'master.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT data FROM events').all() as { data: string }[];
    assert.ok(rows.some((r) => r.data.includes('"hostname":"fake"')), 'the agent is in the log');
    for (const r of rows) assert.ok(!r.data.includes(TOKEN), r.data.slice(0, 200));
  } finally {
    db.close();
  }
  for (const path of ['/api/v1/cell', '/master/state', '/master/slaves', `/api/v1/tasks/${taskId}`]) {
    const text = await (await fetch(`${master.url}${path}`)).text();
    assert.ok(text.includes('fake') || text.includes(taskId), `${path} answers about the agent`);
    assert.ok(!text.includes(TOKEN), path);
  }
  assert.ok(logLines.length > 0);
  for (const line of logLines) assert.ok(!line.includes(TOKEN), line);
});

test('a master that trusts a CA for agents (--tls-ca) calls them over TLS only: an agent serving plain HTTP is refused, not sent its token in the clear', () => {
  const state = { agents: new Map([['a1', { agentId: 'a1', hostname: 'plain', address: '10.0.0.1', port: 5051 }]]) };
  const log = { state } as unknown as EventLog;
  const task = { taskId: 't1', agentId: 'a1' } as unknown as TaskRecord;
  const dispatcher = {} as FetchDispatcher;
  assert.throws(
    () => agentBase(log, task, { tlsOf: () => false, agentDispatcher: dispatcher }),
    (e: unknown) => e instanceof MusterError && e.code === 'AGENT_UNREACHABLE' && /does not serve TLS.*--tls-cert/.test(e.message),
  );
  assert.equal(agentBase(log, task, { tlsOf: () => true, agentDispatcher: dispatcher }).base, 'https://10.0.0.1:5051');
  assert.equal(agentBase(log, task, { tlsOf: () => false }).base, 'http://10.0.0.1:5051', 'a cell without TLS calls plain HTTP');
});
