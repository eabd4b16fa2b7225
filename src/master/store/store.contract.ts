// storeContract is the one test suite every Store implementation must pass (SQLite now, etcd
// later): appends are gapless and durable, a snapshot truncates the log, and a reopened store
// returns exactly what was written.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MusterError } from '../../core/index.js';
import type { Event } from '../state/index.js';
import type { Store } from './store.js';

export interface StoreFactory {
  name: string;
  /** open returns a store on the same location each time it is called within one test. */
  fresh(): Promise<{ open: () => Promise<Store>; cleanup: () => Promise<void> }>;
}

const ev = (n: number): Event => ({ type: 'AgentUnreachable', at: n, agentId: `a${n}`, message: `m${n}` });

/** restoreInto calls the store's restore. */
const restoreInto = (s: Store, index: number, data: string): Promise<void> => s.restore(index, data);

const isConflict = (e: unknown): boolean => e instanceof MusterError && e.code === 'CONFLICT' && /not empty/.test(e.message);

export function storeContract(factory: StoreFactory): void {
  const withStore = async (fn: (open: () => Promise<Store>) => Promise<void>): Promise<void> => {
    const { open, cleanup } = await factory.fresh();
    try {
      await fn(open);
    } finally {
      await cleanup();
    }
  };

  test(`${factory.name}: a new store loads an empty log`, () =>
    withStore(async (open) => {
      const s = await open();
      assert.deepEqual(await s.load(), { events: [] });
      await s.close();
    }));

  test(`${factory.name}: appended events survive a reopen, in order`, () =>
    withStore(async (open) => {
      const s = await open();
      await s.append(1, [ev(1), ev(2)]);
      await s.append(3, [ev(3)]);
      await s.close();
      const again = await open();
      const loaded = await again.load();
      assert.deepEqual(
        loaded.events.map((e) => e.index),
        [1, 2, 3],
      );
      assert.deepEqual(loaded.events[2]?.event, ev(3));
      await again.close();
    }));

  test(`${factory.name}: an append at the wrong index is refused and writes nothing`, () =>
    withStore(async (open) => {
      const s = await open();
      await s.append(1, [ev(1)]);
      await assert.rejects(s.append(3, [ev(3)]));
      await assert.rejects(s.append(1, [ev(1)]));
      assert.equal((await s.load()).events.length, 1);
      await s.close();
    }));

  test(`${factory.name}: a snapshot replaces the events up to its index`, () =>
    withStore(async (open) => {
      const s = await open();
      await s.append(1, [ev(1), ev(2), ev(3)]);
      await s.saveSnapshot(2, '{"state":2}');
      await s.append(4, [ev(4)]);
      await s.close();
      const again = await open();
      const loaded = await again.load();
      assert.deepEqual(loaded.snapshot, { index: 2, data: '{"state":2}' });
      assert.deepEqual(
        loaded.events.map((e) => e.index),
        [3, 4],
      );
      await again.close();
    }));

  test(`${factory.name}: appends continue after a snapshot of the whole log`, () =>
    withStore(async (open) => {
      const s = await open();
      await s.append(1, [ev(1), ev(2)]);
      await s.saveSnapshot(2, '{}');
      await s.append(3, [ev(3)]);
      assert.deepEqual(
        (await s.load()).events.map((e) => e.index),
        [3],
      );
      await s.close();
    }));

  test(`${factory.name}: a restored snapshot loads after a reopen and appends continue after it`, () =>
    withStore(async (open) => {
      // Over 2 MiB of two-byte characters: an etcd store cuts it into pieces, some inside a character.
      const data = JSON.stringify({ version: 1, pad: 'é'.repeat(1_300_000) });
      const s = await open();
      await restoreInto(s, 41, data);
      await assert.rejects(s.append(41, [ev(41)]), 'an append at the restored index itself is refused');
      await s.append(42, [ev(42), ev(43)]);
      await s.close();
      const again = await open();
      const loaded = await again.load();
      assert.equal(loaded.snapshot?.index, 41);
      assert.ok(loaded.snapshot.data === data, 'the snapshot comes back byte for byte');
      assert.deepEqual(
        loaded.events.map((e) => e.index),
        [42, 43],
      );
      await again.close();
    }));

  test(`${factory.name}: a restore at index 0 leaves the log to start at 1`, () =>
    withStore(async (open) => {
      const s = await open();
      await restoreInto(s, 0, '{}');
      await s.append(1, [ev(1)]);
      const loaded = await s.load();
      assert.deepEqual(loaded.snapshot, { index: 0, data: '{}' });
      assert.deepEqual(
        loaded.events.map((e) => e.index),
        [1],
      );
      await s.close();
    }));

  test(`${factory.name}: a restore into a store with a log or a snapshot is refused and changes nothing`, () =>
    withStore(async (open) => {
      const s = await open();
      await s.append(1, [ev(1), ev(2)]);
      await assert.rejects(restoreInto(s, 10, '{"other":1}'), isConflict);
      assert.deepEqual(await s.load(), { events: [1, 2].map((n) => ({ index: n, event: ev(n) })) });
      await s.saveSnapshot(2, '{"state":2}');
      await assert.rejects(restoreInto(s, 10, '{"other":1}'), isConflict);
      assert.deepEqual(await s.load(), { snapshot: { index: 2, data: '{"state":2}' }, events: [] });
      await s.append(3, [ev(3)]);
      await s.close();
    }));

  test(`${factory.name}: a second restore is refused`, () =>
    withStore(async (open) => {
      const s = await open();
      await restoreInto(s, 5, '{"first":1}');
      await assert.rejects(restoreInto(s, 9, '{"second":1}'), isConflict);
      assert.deepEqual(await s.load(), { snapshot: { index: 5, data: '{"first":1}' }, events: [] });
      await s.close();
    }));
}
