// ExternalFrameworks on a real event log (SQLite in a temp dir), its stream a stand-in response
// that is never read: past the bound of unread bytes the master closes the stream instead of
// buffering for a framework that does not read, and the framework counts as disconnected.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../log/index.js';
import { mesos } from '../../protocol/index.js';
import { EventLog } from '../eventlog.js';
import { SqliteStore } from '../store/index.js';
import { OPEN } from '../auth/index.js';
import { OfferBook } from './book.js';
import { ExternalFrameworks } from './external.js';

/** A response whose reader never reads: every byte written stays buffered. */
class UnreadResponse extends EventEmitter {
  writableLength = 0;
  writableEnded = false;
  destroyed = false;
  writeHead(): this {
    return this;
  }
  flushHeaders(): void {}
  write(chunk: Buffer): boolean {
    this.writableLength += chunk.length;
    return false;
  }
  end(chunk?: Buffer): void {
    if (chunk !== undefined) this.write(chunk);
    this.writableEnded = true;
    this.emit('close');
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

void test('a framework that does not read its stream has it closed once the unread bytes pass the bound, and counts as disconnected', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'muster-external-'));
  const store = new SqliteStore(join(dir, 'db'));
  const log = await EventLog.open(store, { snapshotEvery: 100_000, logger: silentLogger });
  const externals = new ExternalFrameworks(log, { send: () => true, launch: () => undefined }, {
    masterId: 'm',
    logger: silentLogger,
    book: new OfferBook(),
    heartbeatSecs: 0.01,
    maxStreamBufferBytes: 300,
    masterInfo: () => undefined,
    kick: () => undefined,
    release: () => undefined,
  });
  try {
    const parsed = mesos.parseCall({ type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'slow', user: 'root', failover_timeout: 60 } } });
    assert.ok(parsed.ok && parsed.call.type === 'SUBSCRIBE');
    const res = new UnreadResponse();
    await externals.subscribe(parsed.call, res as unknown as ServerResponse, 'json', OPEN);
    const [frameworkId] = [...log.state.frameworks.keys()];
    assert.ok(frameworkId !== undefined && externals.isConnected(frameworkId));
    for (let i = 0; i < 200 && !res.destroyed; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(res.destroyed, 'the stream is closed');
    assert.ok(res.writableLength <= 300 + 100, `it stopped writing near the bound (${res.writableLength} bytes)`);
    assert.equal(externals.isConnected(frameworkId), false, 'the framework is disconnected');
    assert.ok(log.state.frameworks.has(frameworkId), 'and stays registered, to subscribe again within its failover timeout');
  } finally {
    externals.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
