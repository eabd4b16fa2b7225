import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MusterError, validateJobSpec } from '../core/index.js';
import { silentLogger } from '../log/index.js';
import { EventLog } from './eventlog.js';
import { serializeState, type Event } from './state/index.js';
import { SqliteStore } from './store/index.js';

const spec = (name: string) =>
  validateJobSpec({ job: `web/prod/${name}`, resources: { cpus: 0.1, mem: 16 }, processes: [{ name: 'p', cmd: 'true' }] });

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'muster-log-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('EventLog writes concurrent commands in one batch and a reopened log has the same state', () =>
  withDir(async (dir) => {
    const store = new SqliteStore(join(dir, 'db'));
    const log = await EventLog.open(store, { snapshotEvery: 1000, logger: silentLogger });
    const names = Array.from({ length: 50 }, (_, i) => `job${i}`);
    await Promise.all(
      names.map((n) => log.submit((_s, now) => ({ events: [{ type: 'JobCreated', at: now, spec: spec(n) } satisfies Event], result: n }))),
    );
    assert.equal(log.lastIndex, 50);
    assert.equal(log.stats.batches, 1, 'one transaction for the whole burst');
    const before = serializeState(log.state);
    await store.close();

    const store2 = new SqliteStore(join(dir, 'db'));
    const log2 = await EventLog.open(store2, { snapshotEvery: 1000, logger: silentLogger });
    assert.equal(serializeState(log2.state), before);
    await store2.close();
  }));

test('EventLog sees earlier commands of the same batch when deciding, and a refused command writes nothing', () =>
  withDir(async (dir) => {
    const store = new SqliteStore(join(dir, 'db'));
    const log = await EventLog.open(store, { snapshotEvery: 1000, logger: silentLogger });
    const create = () =>
      log.submit((s, now) => {
        if (s.jobs.has('web/prod/a')) throw new MusterError('JOB_EXISTS', 'exists');
        return { events: [{ type: 'JobCreated', at: now, spec: spec('a') }], result: 'ok' };
      });
    const [first, second] = await Promise.allSettled([create(), create()]);
    assert.equal(first.status, 'fulfilled');
    assert.equal(second.status, 'rejected');
    assert.equal(log.lastIndex, 1);
    await store.close();
  }));

test('EventLog snapshots every N events and reloads from the snapshot plus the tail', () =>
  withDir(async (dir) => {
    const store = new SqliteStore(join(dir, 'db'));
    const log = await EventLog.open(store, { snapshotEvery: 10, logger: silentLogger });
    for (let i = 0; i < 25; i++) {
      await log.submit((_s, now) => ({ events: [{ type: 'JobCreated', at: now, spec: spec(`j${i}`) }], result: undefined }));
    }
    const before = serializeState(log.state);
    await store.close();
    const store2 = new SqliteStore(join(dir, 'db'));
    const loaded = await store2.load();
    assert.equal(loaded.snapshot?.index, 20);
    assert.equal(loaded.events.length, 5);
    const log2 = await EventLog.open(store2, { snapshotEvery: 10, logger: silentLogger });
    assert.equal(serializeState(log2.state), before);
    assert.equal(log2.lastIndex, 25);
    await store2.close();
  }));

test('EventLog turns fatal when the store fails and refuses further commands', () =>
  withDir(async (dir) => {
    const store = new SqliteStore(join(dir, 'db'));
    const log = await EventLog.open(store, { snapshotEvery: 1000, logger: silentLogger });
    let fatal: Error | undefined;
    log.onFatal((e) => (fatal = e));
    await store.close();
    await assert.rejects(
      log.submit((_s, now) => ({ events: [{ type: 'JobCreated', at: now, spec: spec('x') }], result: undefined })),
      (e: unknown) => e instanceof MusterError && e.code === 'UNAVAILABLE',
    );
    assert.ok(fatal);
    await assert.rejects(log.submit(() => ({ events: [], result: undefined })), /cannot write its log/);
  }));
