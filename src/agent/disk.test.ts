import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { hasBinary } from '../../test/require.js';
import { diskUsage } from './disk.js';

const MiB = 1024 * 1024;

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'muster-disk-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function blocks(p: string): number {
  return lstatSync(p).blocks * 512;
}

/** sandboxTree: files, a subdirectory, a hard link, and a link to a big file outside the tree. */
function sandboxTree(t: TestContext): { root: string; sandbox: string; expected: number; big: string } {
  const root = tempDir(t);
  const big = path.join(root, 'big-outside');
  writeFileSync(big, Buffer.alloc(8 * MiB, 1));
  const sandbox = path.join(root, 'sandbox');
  mkdirSync(path.join(sandbox, 'tmp', 'deep'), { recursive: true });
  writeFileSync(path.join(sandbox, 'stdout'), Buffer.alloc(100_000, 2));
  writeFileSync(path.join(sandbox, 'tmp', 'deep', 'data'), Buffer.alloc(300_000, 3));
  linkSync(path.join(sandbox, 'stdout'), path.join(sandbox, 'tmp', 'stdout-again'));
  symlinkSync(big, path.join(sandbox, 'link-to-big'));
  symlinkSync('/', path.join(sandbox, 'tmp', 'link-to-root'));
  const expected = [
    sandbox,
    path.join(sandbox, 'tmp'),
    path.join(sandbox, 'tmp', 'deep'),
    path.join(sandbox, 'stdout'),
    path.join(sandbox, 'tmp', 'deep', 'data'),
    path.join(sandbox, 'link-to-big'),
    path.join(sandbox, 'tmp', 'link-to-root'),
  ].reduce((sum, p) => sum + blocks(p), 0);
  return { root, sandbox, expected, big };
}

test('diskUsage counts blocks like du -s: links are not followed and a hard-linked file counts once', async (t) => {
  const { sandbox, expected, big } = sandboxTree(t);
  const used = await diskUsage(sandbox);
  assert.equal(used, expected);
  assert.ok(used >= 400_000, `used ${used}`);
  assert.ok(used < blocks(big), 'the 8 MiB file behind the link is not counted');
  if (hasBinary('du')) {
    const du = spawnSync('du', ['-s', '-B1', sandbox], { encoding: 'utf8' });
    assert.equal(used, Number(du.stdout.split('\t')[0]));
  }
});

test('diskUsage stops at maxEntries and returns what it counted so far', async (t) => {
  const { sandbox, expected } = sandboxTree(t);
  const partial = await diskUsage(sandbox, { maxEntries: 2 });
  assert.ok(partial > 0 && partial < expected, `partial ${partial} of ${expected}`);
  await assert.rejects(diskUsage(sandbox, { maxEntries: 0 }), /maxEntries/);
});

test('diskUsage of a sandbox that is gone is 0, and of a file is the file', async (t) => {
  const root = tempDir(t);
  assert.equal(await diskUsage(path.join(root, 'no-such-sandbox')), 0);
  const file = path.join(root, 'f');
  writeFileSync(file, Buffer.alloc(10_000, 1));
  assert.equal(await diskUsage(file), blocks(file));
  await assert.rejects(diskUsage(''), /needs a directory/);
});

test('diskUsage resolves while the files under it are being removed', async (t) => {
  const root = tempDir(t);
  for (let d = 0; d < 20; d++) {
    mkdirSync(path.join(root, `d${d}`));
    for (let f = 0; f < 50; f++) writeFileSync(path.join(root, `d${d}`, `f${f}`), 'x');
  }
  // Half of the tree goes away while the walk runs: entries vanish between readdir and lstat.
  const removals = [];
  for (let d = 0; d < 20; d += 2) removals.push(rm(path.join(root, `d${d}`), { recursive: true }));
  const [used] = await Promise.all([diskUsage(root), ...removals]);
  assert.ok(used >= blocks(root), `used ${used}`);
});
