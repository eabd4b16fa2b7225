import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { workDirProblems } from './workdir.js';

test('workDirProblems names the directory other users cannot pass, and a work dir under /tmp', (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'muster-workdir-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const closed = path.join(base, 'private');
  mkdirSync(path.join(closed, 'agent'), { recursive: true });
  chmodSync(base, 0o755);
  chmodSync(closed, 0o700);
  const problems = workDirProblems(path.join(closed, 'agent'), { otherUsers: true, privateTmp: false });
  assert.equal(problems.length, 1);
  assert.match(problems[0] ?? '', new RegExp(`^${closed} is not searchable by other users`));

  chmodSync(closed, 0o755);
  assert.deepEqual(workDirProblems(path.join(closed, 'agent'), { otherUsers: true, privateTmp: false }).filter((p) => p.startsWith(closed)), []);
  // Without user switching the path does not matter; a private /tmp hides any work dir below /tmp.
  assert.deepEqual(workDirProblems('/var/lib/muster', { otherUsers: false, privateTmp: true }), []);
  assert.match(workDirProblems('/tmp/muster/agent', { otherUsers: false, privateTmp: true })[0] ?? '', /under \/tmp/);
});
