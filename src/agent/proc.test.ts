import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { killGroup, parseStartTime, processStartTime, sessionsUsage, sessionUsage } from './proc.js';

test('parseStartTime counts fields after the last parenthesis, so odd command names do not shift them', () => {
  const rest = 'S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 20 21';
  assert.equal(parseStartTime(`123 (sleep) ${rest}`), '424242');
  assert.equal(parseStartTime(`123 (a) (b c) ${rest}`), '424242');
  assert.equal(parseStartTime('garbage'), undefined);
});

test('processStartTime knows the current process and nothing of a pid that does not exist', () => {
  assert.match(processStartTime(process.pid) ?? '', /^\d+$/);
  assert.equal(processStartTime(0), undefined);
  assert.equal(processStartTime(2 ** 22 + 1), undefined);
});

test('killGroup refuses pgids that would signal everything and ignores groups that are gone', () => {
  assert.equal(killGroup(0, 'SIGKILL'), false);
  assert.equal(killGroup(1, 'SIGKILL'), false);
  assert.equal(killGroup(2 ** 22 + 1, 'SIGKILL'), false);
});

test('sessionUsage sums the cpu time and memory of every process in a session, and only of those', async (t) => {
  // A shell in a session of its own (detached: setsid), with a child that burns some cpu first.
  const child = spawn('sh', ['-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 30 & echo ready; wait'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  t.after(() => killGroup(child.pid ?? 0, 'SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', () => reject(new Error('sh ended early')));
  });
  const sid = child.pid as number;
  const usage = sessionUsage(sid);
  assert.equal(usage.pids.length, 2, `pids ${usage.pids.join(',')}`);
  assert.ok(usage.pids.includes(sid));
  assert.ok(usage.cpuSecs > 0, `cpu ${usage.cpuSecs}`);
  assert.ok(usage.memBytes > 0, `memory ${usage.memBytes}`);
  // The test runner is in another session: none of its pids are counted.
  assert.ok(!usage.pids.includes(process.pid));
  assert.deepEqual(sessionsUsage([sid]).get(sid)?.pids, usage.pids);
});

test('sessionUsage of a session that does not exist, or of the kernel and init sessions, is empty', () => {
  assert.deepEqual(sessionUsage(2 ** 22 + 1), { cpuSecs: 0, memBytes: 0, pids: [] });
  assert.deepEqual(sessionUsage(0), { cpuSecs: 0, memBytes: 0, pids: [] });
  assert.deepEqual(sessionUsage(1), { cpuSecs: 0, memBytes: 0, pids: [] });
  assert.equal(sessionsUsage([0, 1, -5, 1.5]).size, 0);
});
