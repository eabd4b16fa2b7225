// The event stream resumes: a client whose connection drops mid-stream reconnects with the id of the
// last event it saw and gets every event after it, from the store and then live, with no gap and no
// duplicate; a client whose point was truncated away by a snapshot, or lies beyond the head, is told
// to read the state again (a `reset`); a bad resume point is refused with 400 naming it.

import assert from 'node:assert/strict';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { MusterClient, SseParser, type SseMessage } from '../src/client/index.js';
import { silentLogger } from '../src/log/index.js';
import { startMaster, type MasterHandle } from '../src/master/index.js';
import type { EventResetView, EventView } from '../src/protocol/index.js';
import { cell, waitFor } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { waitRunning } from './jobs.js';

/**
 * CuttableProxy forwards TCP to a master and can cut every open connection, then hold new ones
 * (accepted, but not forwarded) until resumed: a network that fails under a client, as etcd3's
 * tests do it.
 */
class CuttableProxy {
  private readonly server: Server;
  private readonly open = new Set<Socket>();
  private readonly waiting: Socket[] = [];
  private holding = false;
  connections = 0;

  private constructor(private readonly target: number) {
    this.server = createServer((client) => {
      this.connections++;
      this.open.add(client);
      client.on('close', () => this.open.delete(client));
      client.on('error', () => undefined);
      if (this.holding) {
        client.pause();
        this.waiting.push(client);
      } else {
        this.forward(client);
      }
    });
  }

  static async start(target: number): Promise<CuttableProxy> {
    const proxy = new CuttableProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    const address = this.server.address();
    assert.ok(address !== null && typeof address === 'object');
    return `http://127.0.0.1:${address.port}`;
  }

  /** cut drops every open connection and holds new ones until resume(). */
  cut(): void {
    this.holding = true;
    for (const s of this.open) s.destroy();
  }

  resume(): void {
    this.holding = false;
    for (const s of this.waiting.splice(0)) if (!s.destroyed) this.forward(s);
  }

  async close(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private forward(client: Socket): void {
    const upstream = createConnection(this.target, '127.0.0.1');
    this.open.add(upstream);
    upstream.on('close', () => {
      this.open.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }
}

/** runningOf counts the TASK_RUNNING updates of a job's tasks among the events seen. */
function runningOf(seen: readonly EventView[], job: string): number {
  const tasks = new Set<string>();
  for (const e of seen) {
    if (e.type !== 'TasksLaunched') continue;
    for (const l of e['tasks'] as { taskId: string; job: string }[]) if (l.job === job) tasks.add(l.taskId);
  }
  return seen.filter((e) => {
    const status = e['status'] as { state: string; taskId: string } | undefined;
    return e.type === 'TaskStatusUpdated' && status?.state === 'TASK_RUNNING' && tasks.has(status.taskId);
  }).length;
}

test('a client whose stream drops mid-stream reconnects with Last-Event-ID and misses no event, nor sees one twice', async (t) => {
  const c = cell(t);
  const { master, client } = await c.startCell(1);
  const proxy = await CuttableProxy.start(master.port);
  t.after(() => proxy.close());

  const seen: EventView[] = [];
  const stop = new AbortController();
  t.after(() => stop.abort());
  const watcher = new MusterClient({ masters: [proxy.url], timeoutMs: 60_000 });
  const resets: EventResetView[] = [];
  const reading = watcher.events((e) => seen.push(e), stop.signal, { since: 0, reconnect: true, onReset: (r) => resets.push(r) });
  const failed = reading.then(
    () => undefined,
    (e: unknown) => e,
  );

  await client.createJob(yamlOf(serviceConfig('web/prod/before', { instances: 2 })), YAML);
  await waitFor(() => runningOf(seen, 'web/prod/before'), { what: 'two TASK_RUNNING of web/prod/before on the stream', until: (n) => n >= 2 });

  // The network fails: the stream is cut, and reconnections hang until it is back. Meanwhile a
  // job is created and starts: the watcher must get all of it after the fact.
  const cutAt = seen.length;
  proxy.cut();
  await client.createJob(yamlOf(serviceConfig('web/prod/during', { instances: 2 })), YAML);
  await waitRunning(client, 'web/prod/during');
  assert.equal(seen.length, cutAt, 'nothing arrives while the network is down');
  proxy.resume();

  await waitFor(() => runningOf(seen, 'web/prod/during'), { what: 'two TASK_RUNNING of web/prod/during on the stream', until: (n) => n >= 2 });
  // Live again: an event after the reconnection arrives too.
  await client.setQuota('web', { cpus: 8 });
  await waitFor(() => seen.some((e) => e.type === 'QuotaSet'), { what: 'the QuotaSet on the stream' });
  stop.abort();
  assert.equal(await failed, undefined, 'the stream ends without an error when stopped');

  assert.ok(proxy.connections >= 2, `the client reconnected (${proxy.connections} connections)`);
  assert.deepEqual(resets, []);
  const indexes = seen.map((e) => e.index);
  const last = indexes[indexes.length - 1] ?? 0;
  assert.deepEqual(indexes, Array.from({ length: last }, (_, i) => i + 1), 'every event from 1 on, once each, in order');
  assert.ok(seen.slice(cutAt).some((e) => e.type === 'JobCreated'), 'the JobCreated written while cut off was delivered after the reconnection');

  // What the watcher got is what the log holds: read it again from 0 and compare.
  const again: EventView[] = [];
  const stopAgain = new AbortController();
  t.after(() => stopAgain.abort());
  const rereading = client.events(
    (e) => {
      again.push(e);
      if (e.index >= last) stopAgain.abort();
    },
    stopAgain.signal,
    { since: 0 },
  );
  await rereading;
  assert.deepEqual(again.slice(0, seen.length), seen);
});

/** inProcessMaster runs a master in this process with the given snapshot interval, closed at the test's end. */
async function inProcessMaster(t: TestContext, snapshotEvery: number, recentEvents?: number): Promise<{ master: MasterHandle; client: MusterClient }> {
  const c = cell(t);
  const master = await startMaster({
    port: 0,
    host: '127.0.0.1',
    store: `sqlite:${join(c.dir, 'master.db')}`,
    agentTimeoutSecs: 60,
    heartbeatSecs: 1,
    snapshotEvery,
    ...(recentEvents === undefined ? {} : { recentEvents }),
    logger: silentLogger,
  });
  t.after(() => master.close());
  return { master, client: new MusterClient({ masters: [master.url] }) };
}

/** openStream reads GET /api/v1/events with the given headers and query, gathering its messages. */
async function openStream(
  t: TestContext,
  url: string,
  options: { lastEventId?: string; query?: string } = {},
): Promise<{ status: number; body: string; messages: SseMessage[] }> {
  const controller = new AbortController();
  t.after(() => controller.abort());
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
  const res = await fetch(`${url}/api/v1/events${options.query ?? ''}`, { headers, signal: controller.signal });
  const out = { status: res.status, body: '', messages: [] as SseMessage[] };
  if (res.status !== 200) {
    out.body = await res.text();
    return out;
  }
  const parser = new SseParser();
  const decoder = new TextDecoder();
  void (async () => {
    try {
      for await (const chunk of res.body ?? []) out.messages.push(...parser.push(decoder.decode(chunk as Uint8Array, { stream: true })));
    } catch {
      // aborted at the test's end
    }
  })();
  return out;
}

/** quotas appends n QuotaSet events, one batch each. */
async function quotas(client: MusterClient, n: number, from = 1): Promise<void> {
  for (let i = 0; i < n; i++) await client.setQuota(`role${from + i}`, { cpus: 1 });
}

test('a client that resumes from an index the master still holds in memory gets the events, even past a snapshot', async (t) => {
  const { master, client } = await inProcessMaster(t, 5);
  await quotas(client, 12);
  const resumed = await openStream(t, master.url, { lastEventId: '3' });
  await waitFor(() => resumed.messages.length, { what: 'events 4 to 12', until: (n) => n >= 9 });
  assert.deepEqual(resumed.messages.map((m) => m.id), ['4', '5', '6', '7', '8', '9', '10', '11', '12']);
  await quotas(client, 1, 100);
  await waitFor(() => resumed.messages.at(-1)?.id, { what: 'event 13, live', until: (id) => id === '13' });
  assert.equal(resumed.messages.length, 10, 'no event twice');
});

test('a client that resumes past a snapshot, from an index no longer in memory, gets a reset, then the live events', async (t) => {
  // A snapshot every 5 events: after 12 events the store holds a snapshot at 10 and events 11 and 12.
  // The master keeps only the last 2 in memory, so resuming before 10 needs the store, which lacks them.
  const { master, client } = await inProcessMaster(t, 5, 2);
  await quotas(client, 12);

  const truncated = await openStream(t, master.url, { lastEventId: '3' });
  assert.equal(truncated.status, 200);
  await waitFor(() => truncated.messages.length, { what: 'the reset message', until: (n) => n >= 1 });
  const first = truncated.messages[0];
  assert.equal(first?.event, 'reset');
  assert.equal(first.id, '12', 'the reset carries the head as its id: a client that reconnects after it resumes there');
  const reset = JSON.parse(first.data) as EventResetView;
  assert.deepEqual({ ...reset, message: '' }, { index: 12, since: 3, firstIndex: 11, reason: 'TRUNCATED', message: '' });
  assert.match(reset.message, /read the state again/);

  // Resuming at the snapshot's own index, or after it, needs no reset: the events after it are there.
  const resumed = await openStream(t, master.url, { query: '?since=10' });
  await waitFor(() => resumed.messages.length, { what: 'events 11 and 12', until: (n) => n >= 2 });
  assert.deepEqual(resumed.messages.map((m) => [m.id, m.event]), [['11', 'QuotaSet'], ['12', 'QuotaSet']]);

  // Beyond the head: this log never reached that index.
  const ahead = await openStream(t, master.url, { query: '?since=500' });
  await waitFor(() => ahead.messages.length, { what: 'the reset message', until: (n) => n >= 1 });
  assert.equal(ahead.messages[0]?.event, 'reset');
  assert.equal((JSON.parse(ahead.messages[0]?.data ?? '{}') as EventResetView).reason, 'AHEAD');

  // Each stream goes on live after its reset or its history.
  await quotas(client, 1, 100);
  for (const [name, stream] of [['truncated', truncated], ['resumed', resumed], ['ahead', ahead]] as const) {
    await waitFor(() => stream.messages.at(-1)?.id, { what: `event 13 on the ${name} stream`, until: (id) => id === '13' });
    assert.equal(new Set(stream.messages.map((m) => m.id)).size, stream.messages.length, `no event twice on the ${name} stream`);
  }

  // Memory now holds 12 and 13 only: resuming at 10 reads 11 from the store, then the rest.
  const fromStore = await openStream(t, master.url, { query: '?since=10' });
  await waitFor(() => fromStore.messages.length, { what: 'events 11 to 13', until: (n) => n >= 3 });
  assert.deepEqual(fromStore.messages.map((m) => m.id), ['11', '12', '13']);

  // The typed client surfaces the reset and goes on after it.
  const resets: EventResetView[] = [];
  const got: number[] = [];
  const stop = new AbortController();
  t.after(() => stop.abort());
  const reading = client.events((e) => got.push(e.index), stop.signal, { since: 2, reconnect: true, onReset: (r) => resets.push(r) });
  await waitFor(() => resets.length, { what: 'onReset', until: (n) => n === 1 });
  await quotas(client, 1, 200);
  await waitFor(() => got, { what: 'event 14 after the reset', until: (g) => g.includes(14) });
  stop.abort();
  await reading;
  assert.equal(resets[0]?.reason, 'TRUNCATED');
  assert.deepEqual(got, [14]);
});

test('events after a resume point are all sent once while appends race the reconnection', async (t) => {
  const { master, client } = await inProcessMaster(t, 100_000);
  await quotas(client, 5);
  // Appends in flight while the stream reads its history and subscribes.
  const burst = Array.from({ length: 60 }, (_, i) => client.setQuota(`burst${i}`, { cpus: 1 }));
  const stream = await openStream(t, master.url, { lastEventId: '2' });
  await Promise.all(burst);
  await waitFor(() => stream.messages.at(-1)?.id, { what: 'event 65 on the stream', until: (id) => id === '65' });
  assert.deepEqual(
    stream.messages.map((m) => Number(m.id)),
    Array.from({ length: 63 }, (_, i) => i + 3),
  );
});

test('a resume point that is not a log index is refused with 400 naming it', async (t) => {
  const { master } = await inProcessMaster(t, 100_000);
  const cases: [{ lastEventId?: string; query?: string }, string][] = [
    [{ query: '?since=abc' }, 'since'],
    [{ query: '?since=-1' }, 'since'],
    [{ query: '?since=' }, 'since'],
    [{ query: '?since=1&since=2' }, 'since'],
    [{ lastEventId: '1.5' }, 'Last-Event-ID'],
    [{ lastEventId: '99999999999999999999' }, 'Last-Event-ID'],
  ];
  for (const [options, field] of cases) {
    const res = await openStream(t, master.url, options);
    assert.equal(res.status, 400, JSON.stringify(options));
    const body = JSON.parse(res.body) as { error: { code: string; message: string; details?: { field?: string } } };
    assert.equal(body.error.code, 'INVALID_ARGUMENT');
    assert.equal(body.error.details?.field, field, JSON.stringify(options));
    assert.ok(body.error.message.includes(field), body.error.message);
  }
});
