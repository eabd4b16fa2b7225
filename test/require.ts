// The policy for system parts a test needs (root, a binary, /proc): without them the test is skipped
// with the reason printed; under CI (MUSTER_REQUIRE_ALL=1, set by .ci/run after it installs those
// parts) a missing part fails the test instead, so that nothing is skipped there by accident.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

/** requireAll is true when skips are failures (CI). */
export function requireAll(): boolean {
  return process.env['MUSTER_REQUIRE_ALL'] === '1';
}

/**
 * requireOrSkip returns true when the condition holds. Otherwise it skips the test with the reason
 * (and returns false: the caller returns at once), or fails it under MUSTER_REQUIRE_ALL=1.
 *
 *   if (!requireOrSkip(t, hasBinary('python3'), 'needs python3 on PATH')) return;
 */
export function requireOrSkip(t: TestContext, condition: boolean, reason: string): boolean {
  if (condition) return true;
  if (requireAll()) assert.fail(`MUSTER_REQUIRE_ALL=1 and this test ${reason}`);
  t.skip(reason);
  return false;
}

/** hasBinary tells whether a command is on PATH. */
export function hasBinary(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v '${name.replace(/'/g, '')}'`], { stdio: 'ignore' }).status === 0;
}

/** isRoot tells whether the tests run as root (cgroups, namespaces, other users). */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}
