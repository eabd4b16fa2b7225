// `muster cell snapshot save|restore` against a real cell: a snapshot saved from a running master
// and restored into a new SQLite store brings a master up with the same jobs and quotas, at the
// same log index; a store in use, a damaged file and a file of an unknown state version are each
// refused with one line, and nothing is written.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeSnapshotBody } from '../src/master/http/snapshot.js';
import { deserializeState } from '../src/master/state/index.js';
import { cell, cli, ok, type CliResult } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { waitRunning } from './jobs.js';

/** refused asserts a command failed with the exit code and one line on stderr, and returns that line. */
function refused(result: CliResult, code: number, what: string): string {
  assert.equal(result.code, code, `${what} exits ${code}; stderr:\n${result.stderr}\nstdout:\n${result.stdout}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what} prints one line, no stack:\n${result.stderr}`);
  return lines[0] ?? '';
}

test('a snapshot saved from a running master and restored into a new store starts a master with the same jobs', async (t) => {
  const c = cell(t);
  const { client } = await c.startCell(1);
  await client.createJob(yamlOf(serviceConfig('web/prod/hello', { instances: 2 })), YAML);
  await client.setQuota('web', { cpus: 4, mem: 1024 });
  const before = await waitRunning(client, 'web/prod/hello');
  const file = join(c.dir, 'backup.json');

  const saved = ok(await c.cli(['cell', 'snapshot', 'save', file]), 'muster cell snapshot save');
  const m = /^saved snapshot at log index (\d+) to (\S+) \((\d+\.\d) MiB\)$/m.exec(saved);
  assert.ok(m !== null, saved);
  const index = Number(m[1]);
  assert.ok(index > 0, saved);
  assert.equal(m[2], file);
  assert.equal((statSync(file).mode & 0o777).toString(8), '600', 'the snapshot is readable by its owner only');
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { index: number; data: string };
  assert.equal(doc.index, index);
  const state = deserializeState(doc.data);
  assert.deepEqual([...state.jobs.keys()], ['web/prod/hello']);

  // The API itself: the index is in a header before the body, and the same in the body.
  const download = await client.downloadSnapshot();
  const body = JSON.parse(await new Response(download.body).text()) as { index: number; data: string };
  assert.equal(body.index, download.index);
  assert.ok(download.index >= index);

  const db = join(c.dir, 'restored', 'master.db');
  const store = `sqlite:${db}`;
  const restored = ok(await cli(['cell', 'snapshot', 'restore', file, '--store', store]), 'muster cell snapshot restore');
  assert.match(restored, new RegExp(`^restored the snapshot at log index ${index} into sqlite:${db}: 1 jobs, 2 tasks, 1 agents, 1 quotas$`, 'm'));

  await t.test('a store that is not empty is refused and left as it was', async () => {
    const line = refused(await cli(['cell', 'snapshot', 'restore', file, '--store', store]), 5, 'a second restore');
    assert.match(line, /is not empty/);
    const used = refused(await cli(['cell', 'snapshot', 'restore', file, '--store', `sqlite:${join(c.dir, 'master.db')}`]), 5, 'a restore into the running master\'s store');
    assert.match(used, /is not empty/);
  });

  await t.test('a damaged file or an unknown state version is refused before the store is touched', async () => {
    const damaged = join(c.dir, 'damaged.json');
    writeFileSync(damaged, readFileSync(file, 'utf8').slice(0, 1000));
    const other = join(c.dir, 'other.db');
    assert.match(refused(await cli(['cell', 'snapshot', 'restore', damaged, '--store', `sqlite:${other}`]), 3, 'a cut file'), /is not a snapshot: it is not JSON/);
    const future = join(c.dir, 'future.json');
    writeFileSync(future, JSON.stringify({ index: 3, data: JSON.stringify({ version: 99, agents: [], jobs: [], tasks: [] }) }));
    assert.match(refused(await cli(['cell', 'snapshot', 'restore', future, '--store', `sqlite:${other}`]), 3, 'a future version'), /version 99 is not supported/);
    assert.equal(existsSync(other), false, 'no store was created');
    const noStore = await cli(['cell', 'snapshot', 'restore', file]);
    assert.equal(noStore.code, 2, noStore.stderr);
    assert.match(noStore.stderr, /required option '--store <url>'/);
  });

  await t.test('a master started on the restored store has the same jobs, quotas and log index', async () => {
    const second = await c.startMaster({ store });
    const again = c.client(second);
    assert.deepEqual(
      (await again.listJobs()).map((j) => j.job),
      ['web/prod/hello'],
    );
    const job = await again.getJob('web/prod/hello');
    assert.equal(job.instanceCount, before.instanceCount);
    assert.deepEqual(
      job.instances.map((i) => i.task?.taskId),
      before.instances.map((i) => i.task?.taskId),
      'the same tasks',
    );
    assert.deepEqual((await again.getQuota('web')).quota, { cpus: 4, mem: 1024 });
    assert.ok((await again.cell()).logIndex >= index, 'the log continues after the snapshot');
  });
});

test('the snapshot body escapes the state a piece at a time and still parses back whole', async (t) => {
  // Pieces are 1 MiB of characters: surrogate pairs and escapes straddle the first boundaries.
  const piece = 1024 * 1024;
  const data = `${'a'.repeat(piece - 1)}😀"\\\n${'é'.repeat(piece)}${'"'.repeat(piece + 3)}😀`;
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    void writeSnapshotBody(res, 42, data);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const res = await fetch(`http://127.0.0.1:${port}/`);
  const doc = JSON.parse(await res.text()) as { index: number; data: string };
  assert.equal(doc.index, 42);
  assert.ok(doc.data === data, 'the data comes back exactly');
});
