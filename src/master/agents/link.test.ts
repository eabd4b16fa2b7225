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

/** seenSince counts the events an agent read after the latest SUBSCRIBED: its report's stream position. */
function streamPosition(agent: FakeAgent): { session: string; seen: number } {
  const at = agent.events.map((e) => e.type).lastIndexOf('SUBSCRIBED');
  const sub = agent.events[at];
  assert.ok(sub?.type === 'SUBSCRIBED' && sub.subscribed.session !== undefined, 'SUBSCRIBED names the stream');
  return { session: sub.subscribed.session, seen: agent.events.length - at - 1 };
}

async function metric(line: string): Promise<number> {
  const text = await (await fetch(`${master.url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  assert.ok(found !== undefined, `${line} is shown`);
  return Number(found.split(' ')[1]);
}

async function taskState(taskId: string): Promise<{ state: string; reason?: string }> {
  return (await (await fetch(`${master.url}/api/v1/tasks/${taskId}`)).json()) as { state: string; reason?: string };
}

test('a RECONCILE report heals what the master and the agent disagree on, and counts it; a report of another stream is ignored', async () => {
  const agent = new FakeAgent('fake-reconcile');
  const agentId = await agent.subscribe();
  const sub = agent.events.find((e) => e.type === 'SUBSCRIBED');
  assert.ok(sub?.type === 'SUBSCRIBED');
  assert.equal(sub.subscribed.reconcileIntervalSecs, 30, 'the agent is told how often to report');
  await createJob('reconciled');
  const launch = await agent.next((e) => e.type === 'LAUNCH' && e.launch.task.job === 'test/prod/reconciled');
  assert.ok(launch.type === 'LAUNCH');
  const taskId = launch.launch.task.taskId;
  const before = { state: await metric('muster_master_reconcile_divergences_total{kind="state"}'), unwanted: await metric('muster_master_reconcile_divergences_total{kind="unwanted"}') };

  // The agent settled TASK_RUNNING (its update acknowledged, in its view) but the master never
  // recorded it, and it runs a task nobody gave it.
  const report = (tasks: { taskId: string; state: 'TASK_RUNNING' | 'TASK_STARTING'; settled: boolean }[], position = streamPosition(agent)): AgentCall => ({
    type: 'RECONCILE',
    agentId,
    reconcile: { ...position, tasks },
  });
  assert.equal((await call(report([{ taskId, state: 'TASK_RUNNING', settled: true }, { taskId: 'ghost-task-2', state: 'TASK_RUNNING', settled: true }]))).status, 202);
  assert.deepEqual(await taskState(taskId), { ...(await taskState(taskId)), state: 'TASK_RUNNING', reason: 'REASON_RECONCILIATION' });
  const kill = await agent.next((e) => e.type === 'KILL' && e.kill.taskId === 'ghost-task-2');
  assert.ok(kill.type === 'KILL');
  assert.equal(await metric('muster_master_reconcile_divergences_total{kind="state"}'), before.state + 1);
  assert.equal(await metric('muster_master_reconcile_divergences_total{kind="unwanted"}'), before.unwanted + 1);

  // A report from an older stream counts events the master cannot match: nothing is done on it.
  assert.equal((await call(report([], { session: 'not-this-stream', seen: 1_000 }))).status, 202);
  assert.equal((await taskState(taskId)).state, 'TASK_RUNNING');

  // The agent no longer holds the task (and its LAUNCH was read long ago): lost, and placed again.
  const from = agent.events.length;
  assert.equal((await call(report([]))).status, 202);
  assert.deepEqual([(await taskState(taskId)).state, (await taskState(taskId)).reason], ['TASK_LOST', 'REASON_RECONCILIATION']);
  const again = await agent.next((e) => e.type === 'LAUNCH' && e.launch.task.job === 'test/prod/reconciled', from);
  assert.ok(again.type === 'LAUNCH' && again.launch.task.taskId !== taskId);
  // A LAUNCH the report had not seen yet is in flight, not missing.
  assert.equal((await call(report([], { ...streamPosition(agent), seen: streamPosition(agent).seen - 1 }))).status, 202);
  assert.equal((await taskState(again.launch.task.taskId)).state, 'TASK_STAGING');
  agent.disconnect();
});

test('LAUNCHes are paced per agent: a window goes out, and one more for each task the agent reports running; the rest wait, even across a reconnect', async () => {
  const agent = new FakeAgent('fake-storm');
  const agentId = await agent.subscribe();
  const res = await fetch(`${master.url}/api/v1/jobs`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/yaml' },
    body: 'job: test/prod/storm\nkind: batch\ninstances: 100\nresources: {cpus: 0.005, mem: 1}\nconstraints: {host: fake-storm}\nprocesses: [{name: main, cmd: "true"}]\n',
  });
  assert.equal(res.status, 201, await res.text());
  const launches = (): AgentEvent[] => agent.events.filter((e) => e.type === 'LAUNCH' && e.launch.task.job === 'test/prod/storm');
  await agent.next((e) => e.type === 'LAUNCH' && e.launch.task.job === 'test/prod/storm');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(launches().length, 32, 'the first window');
  assert.equal(await metric('muster_master_launches_queued'), 68);
  const first = launches()[0];
  assert.ok(first?.type === 'LAUNCH');
  const running: AgentCall = { type: 'UPDATE', agentId, update: { status: { taskId: first.launch.task.taskId, state: 'TASK_RUNNING', uuid: 'storm-r0', timestamp: Date.now() } } };
  assert.equal((await call(running)).status, 202);
  while (launches().length < 34) await agent.next(() => launches().length >= 34, 0);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(launches().length, 34, 'one confirmation frees one place and widens the window by one');

  // The stream drops; the agent comes back holding what it was sent. What was never sent is not
  // lost: it goes out on the new stream.
  agent.disconnect();
  const held = launches().map((e) => ({ taskId: (e as Extract<AgentEvent, { type: 'LAUNCH' }>).launch.task.taskId, state: 'TASK_STARTING' as const }));
  const from = agent.events.length;
  await agent.subscribe(held);
  await agent.next((e) => e.type === 'LAUNCH', from);
  const tasks = (await (await fetch(`${master.url}/api/v1/tasks?job=test/prod/storm&all=true`)).json()) as { tasks?: { state: string }[] } | { state: string }[];
  const list = Array.isArray(tasks) ? tasks : (tasks.tasks ?? []);
  assert.equal(list.filter((t) => t.state === 'TASK_LOST').length, 0, 'no task waiting for its LAUNCH was called lost');
  agent.disconnect();
});
