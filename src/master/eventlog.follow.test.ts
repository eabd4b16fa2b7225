// EventLog on a shared etcd store (issue #5): a standby follows the leader's log, reloads when it
// falls behind a snapshot, and takes over with promote() once the fence has moved to it. Every
// test runs against a real etcd.

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Etcd3 } from 'etcd3';
import { startEtcd } from '../../test/etcd.js';
import { waitFor } from '../../test/wait.js';
import { MusterError, validateJobSpec } from '../core/index.js';
import { silentLogger } from '../log/index.js';
import { EventLog, replaceState } from './eventlog.js';
import { emptyState, apply, serializeState, type Event, type LoggedEvent } from './state/index.js';
import { EtcdStore, type FollowableStore } from './store/index.js';

const spec = (name: string) =>
  validateJobSpec({ job: `web/prod/${name}`, resources: { cpus: 0.1, mem: 16 }, processes: [{ name: 'p', cmd: 'true' }] });

const create = (log: EventLog, name: string): Promise<string> =>
  log.submit((_s, now) => ({ events: [{ type: 'JobCreated', at: now, spec: spec(name) } satisfies Event], result: name }));

const notLeader = (e: unknown): boolean => e instanceof MusterError && e.code === 'NOT_LEADER';

interface Cell {
  /** A fenced store for the leader: the fence key holds "a". */
  leaderStore: EtcdStore;
  open: () => EtcdStore;
  raw: Etcd3;
  fenceKey: string;
}

/** cell starts etcd and opens stores on one prefix; everything is closed when the test ends. */
async function cell(t: TestContext): Promise<Cell | undefined> {
  const cluster = await startEtcd(t, 1);
  if (cluster === undefined) return undefined;
  const prefix = `cell/${process.pid}`;
  const fenceKey = `${prefix}-leader`;
  const raw = new Etcd3({ hosts: [...cluster.endpoints] });
  const stores: EtcdStore[] = [];
  t.after(async () => {
    for (const s of stores) await s.close();
    raw.close();
  });
  const open = (): EtcdStore => {
    const s = new EtcdStore({ endpoints: cluster.endpoints, prefix });
    stores.push(s);
    return s;
  };
  await raw.put(fenceKey).value('a');
  const leaderStore = open();
  leaderStore.setFence({ key: fenceKey, value: 'a' });
  return { leaderStore, open, raw, fenceKey };
}

/** gated wraps a store so that its follow() starts only at release(): the standby lags meanwhile. */
function gated(store: EtcdStore): { store: FollowableStore; release: () => void; follows: () => number } {
  let released = false;
  let follows = 0;
  const pending: (() => void)[] = [];
  const wrapped: FollowableStore = {
    description: store.description,
    load: () => store.load(),
    append: (first, events) => store.append(first, events),
    saveSnapshot: (index, data) => store.saveSnapshot(index, data),
    restore: (index, data) => store.restore(index, data),
    close: () => store.close(),
    follow(afterIndex, onEvents, onError) {
      follows++;
      if (released) return store.follow(afterIndex, onEvents, onError);
      let inner: { close(): void } | undefined;
      let closed = false;
      pending.push(() => {
        if (!closed) inner = store.follow(afterIndex, onEvents, onError);
      });
      return {
        close: () => {
          closed = true;
          inner?.close();
        },
      };
    },
  };
  return {
    store: wrapped,
    release: () => {
      released = true;
      for (const start of pending.splice(0)) start();
    },
    follows: () => follows,
  };
}

/** assertGapless checks that a fresh load holds the events 1..last, each once, in order. */
async function assertGapless(store: EtcdStore, last: number): Promise<void> {
  const loaded = await store.load();
  const first = (loaded.snapshot?.index ?? 0) + 1;
  assert.deepEqual(
    loaded.events.map((e) => e.index),
    Array.from({ length: last - first + 1 }, (_, i) => first + i),
  );
}

test('a standby EventLog follows the leader, hears each batch in order, and refuses commands', async (t) => {
  const c = await cell(t);
  if (c === undefined) return;
  const leader = await EventLog.open(c.leaderStore, { snapshotEvery: 1000, logger: silentLogger });
  const standby = await EventLog.openStandby(c.open(), {
    snapshotEvery: 1000,
    logger: silentLogger,
    leaderHint: () => 'http://m1:5050',
  });
  assert.equal(standby.isLeader, false);
  assert.equal(leader.isLeader, true);
  const heard: number[] = [];
  standby.onAppended((batch) => heard.push(...batch.map((e) => e.index)));

  for (let burst = 0; burst < 4; burst++) {
    await Promise.all(Array.from({ length: 10 }, (_, i) => create(leader, `j${burst}-${i}`)));
  }
  assert.equal(leader.lastIndex, 40);
  await waitFor(() => standby.lastIndex, { what: 'the standby to reach index 40', until: (i) => i === 40 });
  assert.equal(serializeState(standby.state), serializeState(leader.state));
  assert.deepEqual(heard, Array.from({ length: 40 }, (_, i) => i + 1));

  let decided = false;
  await assert.rejects(
    standby.submit((_s, now) => {
      decided = true;
      return { events: [{ type: 'JobCreated', at: now, spec: spec('x') }], result: undefined };
    }),
    (e: unknown) => notLeader(e) && /standby; the leader is http:\/\/m1:5050/.test((e as Error).message),
  );
  assert.equal(decided, false, 'a standby does not even decide');
  assert.equal(standby.lastIndex, 40);
  await assertGapless(c.open(), 40);
});

test('a standby keeps up across the leader snapshots and never writes one itself', async (t) => {
  const c = await cell(t);
  if (c === undefined) return;
  const leader = await EventLog.open(c.leaderStore, { snapshotEvery: 5, logger: silentLogger });
  const standby = await EventLog.openStandby(c.open(), { snapshotEvery: 1, logger: silentLogger });
  for (let i = 0; i < 23; i++) await create(leader, `j${i}`);
  await waitFor(() => standby.lastIndex, { what: 'the standby to reach index 23', until: (i) => i === 23 });
  assert.equal(serializeState(standby.state), serializeState(leader.state));
  const loaded = await c.open().load();
  // The leader snapshots at every fifth index; a standby with snapshotEvery 1 would have saved 23.
  // (Whether the standby read every event or, overtaken by a snapshot, reloaded is a race; the
  // reload is tested on its own below.)
  assert.equal(loaded.snapshot?.index, 20);
});

test('a standby that fell behind a snapshot reloads its state in place and follows again', async (t) => {
  const c = await cell(t);
  if (c === undefined) return;
  const leader = await EventLog.open(c.leaderStore, { snapshotEvery: 10, logger: silentLogger });
  for (let i = 0; i < 3; i++) await create(leader, `early${i}`);
  const gate = gated(c.open());
  const standby = await EventLog.openStandby(gate.store, { snapshotEvery: 10, logger: silentLogger });
  assert.equal(standby.lastIndex, 3);
  const state = standby.state;
  const jobs = standby.state.jobs;
  let reloads = 0;
  standby.onReloaded(() => reloads++);

  // The standby's follow has not started: the leader appends and snapshots past it.
  for (let i = 0; i < 22; i++) await create(leader, `j${i}`);
  assert.equal((await c.open().load()).snapshot?.index, 20);
  gate.release();

  await waitFor(() => reloads, { what: 'the standby to reload', until: (n) => n === 1 });
  await waitFor(() => standby.lastIndex, { what: 'the standby to reach index 25', until: (i) => i === 25 });
  assert.equal(standby.state, state, 'the same CellState object');
  assert.equal(standby.state.jobs, jobs, 'the same Maps, refilled');
  assert.equal(serializeState(standby.state), serializeState(leader.state));
  assert.equal(gate.follows(), 2, 'followed again after the reload');

  const heard: number[] = [];
  standby.onAppended((batch) => heard.push(...batch.map((e) => e.index)));
  await create(leader, 'late');
  await waitFor(() => standby.lastIndex, { what: 'the standby to reach index 26', until: (i) => i === 26 });
  assert.deepEqual(heard, [26]);
  assert.equal(serializeState(standby.state), serializeState(leader.state));
});

test('replaceState refills the target Maps and Sets in place', () => {
  const target = emptyState();
  apply(target, { type: 'JobCreated', at: 1, spec: spec('old') });
  target.pendingJobs.add('stale');
  const jobs = target.jobs;
  const source = emptyState();
  apply(source, { type: 'JobCreated', at: 2, spec: spec('new') });
  replaceState(target, source);
  assert.equal(target.jobs, jobs);
  assert.deepEqual([...target.jobs.keys()], ['web/prod/new']);
  assert.equal(target.pendingJobs.has('stale'), false);
  assert.equal(serializeState(target), serializeState(source));
});

test('promote makes a following standby the leader once the fence moves; the old leader is refused', async (t) => {
  const c = await cell(t);
  if (c === undefined) return;
  const leader = await EventLog.open(c.leaderStore, { snapshotEvery: 7, logger: silentLogger });
  const standbyStore = c.open();
  const standby = await EventLog.openStandby(standbyStore, { snapshotEvery: 7, logger: silentLogger });
  for (let i = 0; i < 12; i++) await create(leader, `j${i}`);
  await waitFor(() => standby.lastIndex, { what: 'the standby to reach index 12', until: (i) => i === 12 });

  // The election moves the leader key to the standby; the master fences its store, then promotes.
  await c.raw.put(c.fenceKey).value('b');
  standbyStore.setFence({ key: c.fenceKey, value: 'b' });
  await standby.promote();
  await standby.promote();
  assert.equal(standby.isLeader, true);
  assert.equal(standby.lastIndex, 12);

  await assert.rejects(create(leader, 'stale'), notLeader);
  await assert.rejects(create(leader, 'stale2'), notLeader);

  for (let i = 0; i < 5; i++) await create(standby, `after${i}`);
  assert.equal(standby.lastIndex, 17);
  await assertGapless(c.open(), 17);
  const reopened = await EventLog.open(c.open(), { snapshotEvery: 1000, logger: silentLogger });
  assert.equal(reopened.lastIndex, 17);
  assert.equal(serializeState(reopened.state), serializeState(standby.state));
  assert.equal(standby.state.jobs.has('web/prod/stale'), false);

  // promote() on a log opened with open() does nothing.
  await reopened.promote();
  assert.equal(reopened.isLeader, true);
});

test('promote reads what was committed after the standby last heard, before its first append', async (t) => {
  const c = await cell(t);
  if (c === undefined) return;
  const leader = await EventLog.open(c.leaderStore, { snapshotEvery: 1000, logger: silentLogger });
  for (let i = 0; i < 2; i++) await create(leader, `early${i}`);
  const standbyStore = c.open();
  // The gate is never released: the standby hears nothing until promote() reads the rest.
  const gate = gated(standbyStore);
  const standby = await EventLog.openStandby(gate.store, { snapshotEvery: 1000, logger: silentLogger });
  const heard: LoggedEvent[] = [];
  standby.onAppended((batch) => heard.push(...batch));
  await Promise.all(Array.from({ length: 8 }, (_, i) => create(leader, `j${i}`)));
  assert.equal(standby.lastIndex, 2);
  await assert.rejects(create(standby, 'too-early'), notLeader);

  await c.raw.put(c.fenceKey).value('b');
  standbyStore.setFence({ key: c.fenceKey, value: 'b' });
  await standby.promote();
  assert.equal(standby.lastIndex, 10);
  assert.deepEqual(
    heard.map((e) => e.index),
    [3, 4, 5, 6, 7, 8, 9, 10],
  );
  assert.equal(serializeState(standby.state), serializeState(leader.state));
  await create(standby, 'first');
  assert.equal(standby.lastIndex, 11);
  await assertGapless(c.open(), 11);
});
