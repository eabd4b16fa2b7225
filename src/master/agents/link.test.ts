// The master's end of the agent link, driven by a fake agent that speaks the wire protocol by hand
// (a real master, a hand-written agent): the edges a real agent rarely reaches on purpose.

import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../log/index.js';
import { RecordIODecoder, type AgentCall, type AgentEvent, type RunningTask } from '../../protocol/index.js';
import { startMaster } from '../master.js';
import type { MasterHandle } from '../options.js';

let dir: string;
let master: MasterHandle;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'muster-link-'));
  master = await startMaster({
    port: 0,
    host: '127.0.0.1',
    store: `sqlite:${join(dir, 'master.db')}`,
    agentTimeoutSecs: 60,
    heartbeatSecs: 1,
    snapshotEvery: 100_000,
    logger: silentLogger,
  });
});

after(async () => {
  await master.close();
  await rm(dir, { recursive: true, force: true });
});

/** FakeAgent subscribes, keeps the events it is sent, and makes calls, all by hand. */
class FakeAgent {
  readonly events: AgentEvent[] = [];
  agentId: string | undefined;
  private res: IncomingMessage | undefined;
  private waiters: (() => void)[] = [];

  constructor(private readonly hostname: string) {}

  async subscribe(tasks: RunningTask[] = []): Promise<string> {
    const body: AgentCall = {
      type: 'SUBSCRIBE',
      subscribe: {
        agent: {
          ...(this.agentId === undefined ? {} : { agentId: this.agentId }),
          hostname: this.hostname,
          address: '127.0.0.1',
          port: 1,
          resources: { cpus: 1, mem: 256, disk: 0, gpus: 0, ports: '[31000-31010]' },
          attributes: { host: this.hostname },
          version: 'test',
        },
        tasks,
      },
    };
    const from = this.events.length;
    this.res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${master.url}/api/v1/agent`, { method: 'POST', headers: { 'Content-Type': 'application/json' } }, resolve);
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
    assert.equal(this.res.statusCode, 200);
    const decoder = new RecordIODecoder();
    this.res.on('data', (chunk: Buffer) => {
      for (const e of decoder.push(chunk)) this.events.push(e as AgentEvent);
      for (const w of this.waiters.splice(0)) w();
    });
    const subscribed = await this.next((e) => e.type === 'SUBSCRIBED', from);
    if (subscribed.type === 'SUBSCRIBED') this.agentId = subscribed.subscribed.agentId;
    return this.agentId as string;
  }

  /** next waits for an event matching pred at or after position from. */
  async next(pred: (e: AgentEvent) => boolean, from = 0): Promise<AgentEvent> {
    for (;;) {
      const found = this.events.slice(from).find(pred);
      if (found !== undefined) return found;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching event; got ${this.events.map((e) => e.type).join(',')}`)), 5000);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  disconnect(): void {
    this.res?.destroy();
  }
}

async function call(body: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${master.url}/api/v1/agent`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

async function createJob(name: string): Promise<void> {
  const res = await fetch(`${master.url}/api/v1/jobs`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/yaml' },
    body: `job: test/prod/${name}\nresources: {cpus: 0.1, mem: 16, ports: [http]}\nprocesses: [{name: main, cmd: sleep 100}]\n`,
  });
  assert.equal(res.status, 201, await res.text());
}

function loggedEvents(): { type: string; data: string }[] {
  const db = new Database(join(dir, 'master.db'), { readonly: true });
  try {
    return (db.prepare('SELECT data FROM events ORDER BY idx').all() as { data: string }[]).map((r) => ({
      type: (JSON.parse(r.data) as { type: string }).type,
      data: r.data,
    }));
  } finally {
    db.close();
  }
}

test('a LAUNCH reaches the agent only once the placement is in the log, and a retried update is recorded once', async () => {
  const agent = new FakeAgent('fake-1');
  const agentId = await agent.subscribe();
  await createJob('once');
  const launch = await agent.next((e) => e.type === 'LAUNCH');
  assert.ok(launch.type === 'LAUNCH');
  const task = launch.launch.task;
  assert.equal(task.job, 'test/prod/once');
  assert.equal(task.ports['http'], 31000);
  assert.ok(
    loggedEvents().some((e) => e.type === 'TasksLaunched' && e.data.includes(task.taskId)),
    'the placement was durable before the LAUNCH was sent',
  );

  const update: AgentCall = {
    type: 'UPDATE',
    agentId,
    update: { status: { taskId: task.taskId, state: 'TASK_RUNNING', uuid: 'u-1', timestamp: Date.now() } },
  };
  assert.equal((await call(update)).status, 202);
  assert.equal((await call(update)).status, 202, 'a retry is accepted');
  const acks = () => agent.events.filter((e) => e.type === 'ACKNOWLEDGED' && e.acknowledged.uuid === 'u-1').length;
  await agent.next((e) => e.type === 'ACKNOWLEDGED');
  while (acks() < 2) await new Promise((r) => setTimeout(r, 20));
  assert.equal(acks(), 2, 'each copy is acknowledged, so the agent stops retrying');
  const recorded = loggedEvents().filter((e) => e.type === 'TaskStatusUpdated' && e.data.includes('"uuid":"u-1"'));
  assert.equal(recorded.length, 1, 'the update is in the log once');
  agent.disconnect();
});

test('an agent that comes back without a task has it marked lost, and the instance is launched again', async () => {
  const agent = new FakeAgent('fake-2');
  await agent.subscribe();
  await createJob('lost');
  const first = await agent.next((e) => e.type === 'LAUNCH' && e.launch.task.job === 'test/prod/lost');
  assert.ok(first.type === 'LAUNCH');
  agent.disconnect();

  const from = agent.events.length;
  await agent.subscribe([]);
  const again = await agent.next((e) => e.type === 'LAUNCH' && e.launch.task.job === 'test/prod/lost', from);
  assert.ok(again.type === 'LAUNCH');
  assert.notEqual(again.launch.task.taskId, first.launch.task.taskId);
  assert.equal(again.launch.task.instance, 0);
  const old = (await (await fetch(`${master.url}/api/v1/tasks/${first.launch.task.taskId}`)).json()) as { state: string; reason: string };
  assert.equal(old.state, 'TASK_LOST');
  assert.equal(old.reason, 'REASON_AGENT_RESTARTED');
  agent.disconnect();
});

test('an agent that reports a task the master does not know is told to kill it', async () => {
  const agent = new FakeAgent('fake-3');
  await agent.subscribe([{ taskId: 'ghost-task-1', state: 'TASK_RUNNING' }]);
  const kill = await agent.next((e) => e.type === 'KILL');
  assert.ok(kill.type === 'KILL');
  assert.equal(kill.kill.taskId, 'ghost-task-1');
  agent.disconnect();
});

test('calls from an agent that is not subscribed get 404, and malformed calls 400 naming the field', async () => {
  const hb = await call({ type: 'HEARTBEAT', agentId: 'nobody' });
  assert.equal(hb.status, 404);
  assert.equal((hb.body as { error: { code: string } }).error.code, 'AGENT_NOT_FOUND');
  const bad = await call({ type: 'UPDATE', agentId: 'x', update: { status: { taskId: 't', state: 'TASK_BOGUS', uuid: 'u', timestamp: 1 } } });
  assert.equal(bad.status, 400);
  assert.match((bad.body as { error: { message: string } }).error.message, /update\.status\.state/);
  const notJson = await fetch(`${master.url}/api/v1/agent`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{nope' });
  assert.equal(notJson.status, 400);
  // fetch sends a string body as text/plain: not a call, whatever it holds.
  const plainText = await fetch(`${master.url}/api/v1/agent`, { method: 'POST', body: '{"type":"HEARTBEAT","agentId":"x"}' });
  assert.equal(plainText.status, 415);
});

test('usage reports give an agent slack that revocable tasks run on, with a safety margin', async () => {
  const agent = new FakeAgent('fake-slack');
  const agentId = await agent.subscribe();
  const create = async (name: string, body: string): Promise<void> => {
    const res = await fetch(`${master.url}/api/v1/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/yaml' }, body: `job: test/prod/${name}\n${body}processes: [{name: main, cmd: sleep 100}]\n` });
    assert.equal(res.status, 201, await res.text());
  };
  await create('reserved', 'resources: {cpus: 0.5, mem: 128}\n');
  const launch = await agent.next((e) => e.type === 'LAUNCH' && e.launch.task.job === 'test/prod/reserved');
  assert.ok(launch.type === 'LAUNCH');
  const taskId = launch.launch.task.taskId;
  // 0.1 cores and 32MiB used of 0.5 cores and 128MiB reserved: slack 0.4 cores and 96MiB, of
  // which 0.8 is lent: 0.32 cores and 76MiB.
  const t0 = Date.now();
  const usage = (cpuSecs: number, timestamp: number): AgentCall => ({
    type: 'USAGE',
    agentId,
    usage: { tasks: [{ taskId, cpuSecs, memBytes: 32 * 1024 * 1024, diskBytes: 0, timestamp }] },
  });
  assert.equal((await call(usage(1, t0))).status, 202);
  assert.equal((await call(usage(1.1, t0 + 1000))).status, 202);
  await create('bigscav', 'tier: revocable\nresources: {cpus: 0.4, mem: 16}\n');
  await create('scav', 'tier: revocable\nresources: {cpus: 0.3, mem: 64}\n');
  const revocable = await agent.next((e) => e.type === 'LAUNCH' && e.launch.task.job === 'test/prod/scav');
  assert.ok(revocable.type === 'LAUNCH');
  assert.ok(
    loggedEvents().every((e) => e.type !== 'TasksLaunched' || !e.data.includes('test/prod/bigscav')),
    'a task larger than the lent slack is not placed',
  );
  agent.disconnect();
});
