import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { prepareWorkDir, workDirProblems } from './workdir.js';

test('workDirProblems names the directory other users cannot pass, and nothing else', (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'muster-workdir-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const closed = path.join(base, 'private');
  mkdirSync(path.join(closed, 'agent'), { recursive: true });
  chmodSync(base, 0o755);
  chmodSync(closed, 0o700);
  const problems = workDirProblems(path.join(closed, 'agent'), { otherUsers: true });
  assert.equal(problems.length, 1);
  assert.match(problems[0] ?? '', new RegExp(`^${closed} is not searchable by other users`));

  chmodSync(closed, 0o755);
  assert.deepEqual(workDirProblems(path.join(closed, 'agent'), { otherUsers: true }).filter((p) => p.startsWith(closed)), []);
  // Without user switching the path does not matter, and a work dir under /tmp is fine: the
  // supervisor binds each sandbox back at its own path inside the task's private /tmp.
  assert.deepEqual(workDirProblems(path.join(closed, 'agent'), { otherUsers: false }), []);
  assert.deepEqual(workDirProblems('/tmp/muster/agent', { otherUsers: true }), []);
});

test("prepareWorkDir keeps checkpoints to the agent (0700) and lets tasks pass through sandboxes/ without listing it (0711), in an old work dir too", (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'muster-workdir-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const old = path.join(base, 'agent');
  mkdirSync(path.join(old, 'tasks'), { recursive: true, mode: 0o755 });
  mkdirSync(path.join(old, 'sandboxes'), { recursive: true, mode: 0o755 });
  const dir = prepareWorkDir(old);
  assert.equal(statSync(path.join(dir, 'tasks')).mode & 0o777, 0o700);
  assert.equal(statSync(path.join(dir, 'sandboxes')).mode & 0o777, 0o711);
  const fresh = prepareWorkDir(path.join(base, 'fresh'));
  assert.equal(statSync(path.join(fresh, 'tasks')).mode & 0o777, 0o700);
  assert.equal(statSync(path.join(fresh, 'sandboxes')).mode & 0o777, 0o711);
});
