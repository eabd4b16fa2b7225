// The test infrastructure itself: a wait that times out says what it waited for, a missing system
// part skips or (under CI) fails, and teardown leaves no process behind.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cell, freePort, waitFor } from './harness.js';
import { hasProcfs, isAlive } from './proc.js';
import { requireOrSkip } from './require.js';

test('waitFor returns the first value that holds', async () => {
  let n = 0;
  const value = await waitFor(() => ++n, { what: 'n to reach 3', until: (v) => v >= 3, intervalMs: 1 });
  assert.equal(value, 3);
});

test('waitFor times out naming what it waited for and the last value seen', async () => {
  await assert.rejects(
    waitFor(() => ({ state: 'PENDING' }), { what: 'the job to run', until: (v) => v.state === 'RUNNING', timeoutMs: 50, intervalMs: 5 }),
    (e: Error) => /waiting for the job to run/.test(e.message) && /PENDING/.test(e.message),
  );
  await assert.rejects(
    waitFor(() => Promise.reject(new Error('connection refused')), { what: 'the master', timeoutMs: 30, intervalMs: 5 }),
    /connection refused/,
  );
});

test('requireOrSkip skips with the reason, or fails instead when MUSTER_REQUIRE_ALL=1', () => {
  const saved = process.env['MUSTER_REQUIRE_ALL'];
  const skipped: string[] = [];
  // A stand-in context: a real skip here would show in every run's summary (and fail CI's).
  const t = { skip: (reason: string) => skipped.push(reason) } as unknown as TestContext;
  try {
    delete process.env['MUSTER_REQUIRE_ALL'];
    assert.equal(requireOrSkip(t, false, 'needs a unicorn'), false);
    assert.deepEqual(skipped, ['needs a unicorn']);
    process.env['MUSTER_REQUIRE_ALL'] = '1';
    assert.throws(() => requireOrSkip(t, false, 'needs a unicorn'), /MUSTER_REQUIRE_ALL=1.*needs a unicorn/);
    assert.equal(requireOrSkip(t, true, 'needs nothing'), true);
    assert.equal(skipped.length, 1, 'nothing more was skipped');
  } finally {
    if (saved === undefined) delete process.env['MUSTER_REQUIRE_ALL'];
    else process.env['MUSTER_REQUIRE_ALL'] = saved;
  }
});

test('freePort gives a port nobody listens on', async () => {
  const port = await freePort();
  assert.ok(port > 0 && port < 65536);
});

test('teardown kills the processes a cell left behind and removes its dir', async (t) => {
  if (!requireOrSkip(t, hasProcfs(), 'needs /proc (Linux) to find stray processes')) return;
  const c = new Cell();
  // A stray "task": its own process group, a sandbox variable pointing into the cell, like a task
  // whose agent was killed.
  const stray = spawn('sleep', ['3600'], { detached: true, stdio: 'ignore', env: { ...process.env, MUSTER_SANDBOX: `${c.dir}/agent-1/sandboxes/x` } });
  stray.unref();
  const pid = stray.pid;
  assert.ok(pid !== undefined);
  await sleep(50);
  assert.ok(isAlive(pid));
  await c.teardown();
  await waitFor(() => !isAlive(pid), { what: `stray process ${pid} to die`, timeoutMs: 5000 });
  assert.ok(!existsSync(c.dir), 'the cell dir is removed');
});
