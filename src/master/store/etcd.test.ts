import assert from 'node:assert/strict';
import { after, describe, test, type TestContext } from 'node:test';
import { Etcd3 } from 'etcd3';
import { MusterError } from '../../core/index.js';
import { startEtcd, hasEtcd, type EtcdCluster } from '../../../test/etcd.js';
import { requireAll } from '../../../test/require.js';
import { waitFor } from '../../../test/wait.js';
import type { Event, LoggedEvent } from '../state/index.js';
import { EtcdStore } from './etcd.js';
import { openStore, parseEtcdUrl } from './index.js';
import { storeContract } from './store.contract.js';

const ev = (n: number, message = `m${n}`): Event => ({ type: 'AgentUnreachable', at: n, agentId: `a${n}`, message });
/** An event of about 200 bytes of JSON, the size of a typical task transition. */
const small = (n: number): Event => ev(n, `task ${n} `.padEnd(140, 'x'));
const MiB = 1024 * 1024;
/** big is about 3 MiB of JSON with two-byte characters, so that pieces split inside a character. */
const big = (n: number): Event => ev(n, `${'é'.repeat(MiB)}${'y'.repeat(MiB + 7)}`);

const isCode = (code: string) => (e: unknown) => e instanceof MusterError && e.code === code;

const skip = !hasEtcd() && !requireAll();

describe('EtcdStore on a 1-member etcd', { skip: skip && 'needs etcd on PATH (apt-get install etcd-server)' }, () => {
  // One etcd serves every test of this suite, each under its own prefix: starting a member takes
  // a second. startEtcd wants a test's context for its cleanup; a suite's has none, so this
  // stands in for it and the suite's after hook runs the cleanups.
  const cleanups: (() => unknown)[] = [];
  const suiteContext = { after: (fn: () => unknown) => cleanups.push(fn), skip: () => undefined } as unknown as TestContext;
  let started: Promise<EtcdCluster | undefined> | undefined;
  const cluster = async (): Promise<EtcdCluster> => {
    started ??= startEtcd(suiteContext, 1);
    const c = await started;
    assert.ok(c !== undefined, 'etcd did not start');
    return c;
  };
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  let prefixes = 0;
  /** fresh gives a new prefix and a store factory on it; every store it opened is closed at the end. */
  const fresh = async (): Promise<{ prefix: string; open: () => EtcdStore; raw: Etcd3; cleanup: () => Promise<void> }> => {
    const c = await cluster();
    const prefix = `t/${process.pid}/${++prefixes}`;
    const opened: EtcdStore[] = [];
    const raw = new Etcd3({ hosts: [...c.endpoints] });
    return {
      prefix,
      raw,
      open: () => {
        const s = new EtcdStore({ endpoints: c.endpoints, prefix });
        opened.push(s);
        return s;
      },
      cleanup: async () => {
        for (const s of opened) await s.close();
        raw.close();
      },
    };
  };
  const withFresh = async (fn: (f: Awaited<ReturnType<typeof fresh>>) => Promise<void>): Promise<void> => {
    const f = await fresh();
    try {
      await fn(f);
    } finally {
      await f.cleanup();
    }
  };
  const keysUnder = (raw: Etcd3, prefix: string): Promise<string[]> => raw.getAll().prefix(`${prefix}/`).keys();

  storeContract({
    name: 'EtcdStore',
    async fresh() {
      const f = await fresh();
      return { open: () => Promise.resolve(f.open()), cleanup: f.cleanup };
    },
  });

  test('EtcdStore splits a 3 MiB event and a batch of 5,000 events into transactions etcd accepts', () =>
    withFresh(async ({ open }) => {
      const s = open();
      const first = [ev(1), big(2), ev(3)];
      await s.append(1, first);
      const batch = Array.from({ length: 5000 }, (_, i) => small(4 + i));
      await s.append(4, batch);
      await s.append(5004, [big(5004)]);
      const loaded = await open().load();
      assert.equal(loaded.events.length, 5004);
      assert.deepEqual(
        loaded.events.map((e) => e.index),
        Array.from({ length: 5004 }, (_, i) => i + 1),
      );
      assert.deepEqual(
        loaded.events.map((e) => e.event),
        [...first, ...batch, big(5004)],
      );
    }));

  test('EtcdStore ignores keys past head that an interrupted append left, and overwrites them', () =>
    withFresh(async ({ open, raw, prefix }) => {
      const s = open();
      await s.append(1, [ev(1)]);
      // What a master that died between an append's transactions leaves behind.
      await raw.put(`${prefix}/log/${'2'.padStart(20, '0')}`).value(JSON.stringify(ev(99)));
      await raw.put(`${prefix}/log/${'3'.padStart(20, '0')}`).value(JSON.stringify(ev(98)));
      assert.deepEqual(
        (await s.load()).events.map((e) => e.index),
        [1],
      );
      await s.append(2, [ev(2)]);
      const loaded = await open().load();
      assert.deepEqual(
        loaded.events.map((e) => e.event),
        [ev(1), ev(2)],
      );
    }));

  test('EtcdStore round-trips a 3 MiB snapshot, truncates the log and drops the old snapshot', () =>
    withFresh(async ({ open, raw, prefix }) => {
      const s = open();
      await s.append(1, [ev(1), big(2), ev(3), ev(4)]);
      const data = JSON.stringify({ state: 'é'.repeat(MiB), more: 'z'.repeat(MiB + 3) });
      await s.saveSnapshot(3, data);
      await s.append(5, [ev(5)]);
      const loaded = await open().load();
      assert.equal(loaded.snapshot?.index, 3);
      assert.ok(loaded.snapshot?.data === data, 'the snapshot data differs');
      assert.deepEqual(
        loaded.events.map((e) => e.index),
        [4, 5],
      );
      const keys = await keysUnder(raw, prefix);
      assert.deepEqual(
        keys.filter((k) => k.includes('/log')),
        [`${prefix}/log/${'4'.padStart(20, '0')}`, `${prefix}/log/${'5'.padStart(20, '0')}`],
      );
      const partsBefore = keys.filter((k) => k.includes('/snapshots/'));
      assert.equal(partsBefore.length, 4);

      await s.saveSnapshot(5, '{"small":true}');
      const partsAfter = (await keysUnder(raw, prefix)).filter((k) => k.includes('/snapshots/'));
      assert.equal(partsAfter.length, 1);
      assert.deepEqual(await open().load(), { snapshot: { index: 5, data: '{"small":true}' }, events: [] });
    }));

  test('EtcdStore with a fence refuses appends and snapshots once the fence key changes, writing nothing', () =>
    withFresh(async ({ open, raw, prefix }) => {
      const fenceKey = `${prefix}-election/leader`;
      await raw.put(fenceKey).value('master-a');
      const s = open();
      s.setFence({ key: fenceKey, value: 'master-a' });
      await s.append(1, [ev(1), ev(2)]);
      await s.saveSnapshot(1, '{"at":1}');

      await raw.put(fenceKey).value('master-b');
      const before = await raw.getAll().prefix(`${prefix}/`).strings();
      await assert.rejects(s.append(3, [ev(3)]), isCode('NOT_LEADER'));
      await assert.rejects(s.append(3, [big(3), ...Array.from({ length: 300 }, (_, i) => small(4 + i))]), isCode('NOT_LEADER'));
      await assert.rejects(s.saveSnapshot(2, 'x'.repeat(3 * MiB)), isCode('NOT_LEADER'));
      await assert.rejects(s.saveSnapshot(2, '{}'), isCode('NOT_LEADER'));
      assert.deepEqual(await raw.getAll().prefix(`${prefix}/`).strings(), before);

      // A missing leader key holds no leadership either.
      await raw.delete().key(fenceKey);
      await assert.rejects(s.append(3, [ev(3)]), isCode('NOT_LEADER'));
      // A wrong index with the fence holding is a conflict, not lost leadership.
      await raw.put(fenceKey).value('master-a');
      await assert.rejects(s.append(7, [ev(7)]), isCode('CONFLICT'));
      await s.append(3, [ev(3)]);
      assert.deepEqual(
        (await open().load()).events.map((e) => e.index),
        [2, 3],
      );
    }));

  test('EtcdStore.follow delivers another store’s appends in order, big events included', () =>
    withFresh(async ({ open }) => {
      const leader = open();
      await leader.append(1, [ev(1), ev(2)]);
      const standby = open();
      const seen: LoggedEvent[] = [];
      const batches: number[] = [];
      const follower = standby.follow(1, (events) => {
        batches.push(events.length);
        seen.push(...events);
      });
      await leader.append(3, [ev(3)]);
      await leader.append(4, [big(4), ev(5)]);
      await leader.append(6, Array.from({ length: 250 }, (_, i) => small(6 + i)));
      await waitFor(() => seen.length, { what: 'the standby to see events 2..255', until: (n) => n >= 254, timeoutMs: 20_000 });
      follower.close();
      assert.deepEqual(
        seen.map((e) => e.index),
        Array.from({ length: 254 }, (_, i) => i + 2),
      );
      assert.deepEqual(seen[2]?.event, big(4));
      assert.ok(batches.every((n) => n > 0));
    }));

  test('EtcdStore.follow reports a follower that fell behind a snapshot', () =>
    withFresh(async ({ open }) => {
      const leader = open();
      await leader.append(1, [ev(1), ev(2), ev(3)]);
      await leader.saveSnapshot(2, '{}');
      const errors: MusterError[] = [];
      const follower = open().follow(0, () => assert.fail('no events can be delivered after 0'), (e) => errors.push(e));
      await waitFor(() => errors.length, { what: 'the follower to report the gap', until: (n) => n > 0, timeoutMs: 20_000 });
      follower.close();
      assert.equal(errors[0]?.code, 'CONFLICT');
    }));

  test('openStore opens an etcd:// URL on the same log', () =>
    withFresh(async ({ open, prefix }) => {
      const c = await cluster();
      const s = openStore(c.storeUrl(prefix));
      try {
        assert.equal(s.description, c.storeUrl(prefix));
        await s.append(1, [ev(1)]);
        assert.deepEqual(
          (await open().load()).events.map((e) => e.event),
          [ev(1)],
        );
      } finally {
        await s.close();
      }
    }));
});

test('EtcdStore on a 3-member etcd appends and loads with one member killed', async (t) => {
  const cluster = await startEtcd(t, 3);
  if (cluster === undefined) return;
  const s = new EtcdStore({ endpoints: cluster.endpoints, prefix: 'ha' });
  try {
    await s.append(1, [ev(1), ev(2)]);
    await cluster.members[0]?.kill();
    await s.append(3, [ev(3), big(4)]);
    await s.saveSnapshot(2, '{"two":2}');
    await s.append(5, [ev(5)]);
    const again = new EtcdStore({ endpoints: cluster.endpoints, prefix: 'ha' });
    try {
      const loaded = await again.load();
      assert.deepEqual(loaded.snapshot, { index: 2, data: '{"two":2}' });
      assert.deepEqual(
        loaded.events.map((e) => e.event),
        [ev(3), big(4), ev(5)],
      );
    } finally {
      await again.close();
    }
  } finally {
    await s.close();
  }
});

test('parseEtcdUrl reads endpoints and a prefix, and names what is wrong', () => {
  assert.deepEqual(parseEtcdUrl('etcd://127.0.0.1:2379,localhost:22379/muster/cell-1'), {
    endpoints: ['http://127.0.0.1:2379', 'http://localhost:22379'],
    prefix: 'muster/cell-1',
  });
  assert.deepEqual(parseEtcdUrl('etcd://[::1]:2379/m/').prefix, 'm');
  const cases: [string, RegExp][] = [
    ['etcd://127.0.0.1:2379', /no key prefix/],
    ['etcd://127.0.0.1:2379/', /empty key prefix/],
    ['etcd:///muster', /no etcd endpoint/],
    ['etcd://127.0.0.1/muster', /"127.0.0.1" is not HOST:PORT/],
    ['etcd://127.0.0.1:2379,/muster', /"" is not HOST:PORT/],
    ['etcd://127.0.0.1:99999/muster', /"127.0.0.1:99999" is not HOST:PORT/],
    ['etcd://http://127.0.0.1:2379/muster', /is not HOST:PORT/],
    ['etcd://127.0.0.1:2379/mus ter', /prefix "mus ter" may hold only/],
  ];
  for (const [url, message] of cases) {
    assert.throws(
      () => openStore(url),
      (e: unknown) => isCode('INVALID_ARGUMENT')(e) && message.test((e as Error).message),
      url,
    );
  }
});
