import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { silentLogger, type Logger } from '../log/index.js';
import type { TaskStatus } from '../protocol/index.js';
import { requireOrSkip } from '../../test/require.js';
import { makeStatus, MAX_STATUS_MESSAGE_CHARS, StatusUpdates } from './statusupdates.js';
import { MAX_UPDATE_RECORDS, readUpdateLog, updateLogFile } from './updatelog.js';

function harness(options: { initialRetryMs?: number; maxRetryMs?: number } = {}): {
  updates: StatusUpdates;
  sent: TaskStatus[];
  acked: TaskStatus[];
} {
  const sent: TaskStatus[] = [];
  const acked: TaskStatus[] = [];
  const updates = new StatusUpdates({
    send: (status) => {
      sent.push(status);
      return Promise.resolve();
    },
    onAcknowledged: (status) => acked.push(status),
    logger: silentLogger,
    initialRetryMs: options.initialRetryMs ?? 10_000,
    maxRetryMs: options.maxRetryMs ?? 10_000,
  });
  return { updates, sent, acked };
}

test('makeStatus gives every update a fresh uuid and a timestamp', () => {
  const a = makeStatus('t1', 'TASK_RUNNING');
  const b = makeStatus('t1', 'TASK_RUNNING', { reason: 'REASON_COMMAND_EXITED', message: 'm' });
  assert.notEqual(a.uuid, b.uuid);
  assert.ok(Math.abs(a.timestamp - Date.now()) < 1000);
  assert.equal('reason' in a, false);
  assert.equal(b.reason, 'REASON_COMMAND_EXITED');
});

test('only the head of a task queue is in flight, and its acknowledgement sends the next', () => {
  const { updates, sent, acked } = harness();
  const starting = makeStatus('t1', 'TASK_STARTING');
  const running = makeStatus('t1', 'TASK_RUNNING');
  updates.enqueue(starting);
  updates.enqueue(running);
  assert.deepEqual(sent, [starting]);
  assert.equal(updates.acknowledge('t1', running.uuid), false, 'an ack of a non-head update must not match');
  assert.equal(updates.acknowledge('t1', starting.uuid), true);
  assert.deepEqual(sent, [starting, running]);
  assert.deepEqual(acked, [starting]);
  assert.equal(updates.acknowledge('t1', running.uuid), true);
  assert.deepEqual(updates.pending(), []);
  updates.close();
});

test('queues of different tasks do not wait for each other', () => {
  const { updates, sent } = harness();
  const a = makeStatus('a', 'TASK_STARTING');
  const b = makeStatus('b', 'TASK_STARTING');
  updates.enqueue(a);
  updates.enqueue(b);
  assert.deepEqual(sent, [a, b]);
  updates.close();
});

test('the head is retried with a doubling delay until it is acknowledged', async () => {
  const { updates, sent } = harness({ initialRetryMs: 20, maxRetryMs: 40 });
  const s = makeStatus('t1', 'TASK_RUNNING');
  updates.enqueue(s);
  await new Promise((r) => setTimeout(r, 200));
  // Sent at 0, 20, 60, 100, 140, 180 ms: a handful, all the same update.
  assert.ok(sent.length >= 4 && sent.length <= 7, `sent ${sent.length} times`);
  assert.ok(sent.every((x) => x.uuid === s.uuid));
  updates.acknowledge('t1', s.uuid);
  const count = sent.length;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(sent.length, count, 'an acknowledged update is not sent again');
  updates.close();
});

test('a failed send is retried like an unacknowledged one', async () => {
  let attempts = 0;
  const updates = new StatusUpdates({
    send: () => {
      attempts++;
      return Promise.reject(new Error('connection refused'));
    },
    onAcknowledged: () => undefined,
    logger: silentLogger,
    initialRetryMs: 10,
    maxRetryMs: 10,
  });
  updates.enqueue(makeStatus('t1', 'TASK_RUNNING'));
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(attempts >= 3);
  updates.close();
});

test('resendAll sends every head at once', () => {
  const { updates, sent } = harness();
  const a = makeStatus('a', 'TASK_STARTING');
  const b = makeStatus('b', 'TASK_STARTING');
  updates.enqueue(a);
  updates.enqueue(b);
  updates.resendAll();
  assert.deepEqual(sent, [a, b, a, b]);
  updates.close();
});

test('drained resolves when all is acknowledged, or false when time runs out', async () => {
  const { updates } = harness();
  assert.equal(await updates.drained(10), true);
  const s = makeStatus('t1', 'TASK_FINISHED');
  updates.enqueue(s);
  assert.equal(await updates.drained(20), false);
  const drained = updates.drained(1000);
  updates.acknowledge('t1', s.uuid);
  assert.equal(await drained, true);
  updates.close();
});

// ---- checkpointed updates ------------------------------------------------------------------

/** CheckpointedHarness is a StatusUpdates over task dirs under root, with what it sent and logged. */
interface CheckpointedHarness {
  updates: StatusUpdates;
  sent: TaskStatus[];
  acked: TaskStatus[];
  errors: string[];
}

function tempRoot(t: TestContext): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'muster-updates-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

/** until waits for a condition that an update log's flush (in the thread pool) brings about. */
async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function taskDirIn(root: string): (taskId: string) => string {
  return (taskId) => path.join(root, 'tasks', taskId);
}

function logOf(root: string, taskId: string): string {
  return updateLogFile(taskDirIn(root)(taskId));
}

/** recordingLogger keeps the messages of errors and warnings. */
function recordingLogger(errors: string[]): Logger {
  const keep = (m: string, f?: Record<string, unknown>): void => {
    errors.push(`${m} ${f?.['error'] instanceof Error ? f['error'].message : ''}`);
  };
  return { ...silentLogger, warn: keep, error: keep, child: () => recordingLogger(errors) };
}

function checkpointed(
  t: TestContext,
  root: string,
  options: { send?: (s: TaskStatus) => void; onAcknowledged?: (s: TaskStatus) => void; taskDir?: (taskId: string) => string } = {},
): CheckpointedHarness {
  const h: CheckpointedHarness = { updates: undefined as unknown as StatusUpdates, sent: [], acked: [], errors: [] };
  h.updates = new StatusUpdates({
    send: (status) => {
      options.send?.(status);
      h.sent.push(status);
      return Promise.resolve();
    },
    onAcknowledged: (status) => {
      h.acked.push(status);
      options.onAcknowledged?.(status);
    },
    logger: recordingLogger(h.errors),
    initialRetryMs: 60_000,
    maxRetryMs: 60_000,
    taskDir: options.taskDir ?? taskDirIn(root),
  });
  t.after(() => h.updates.close());
  return h;
}

/** openFdsTo lists this process's file descriptors open on file (deleted or not). */
function openFdsTo(file: string): string[] {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(file);
    } catch {
      return false;
    }
  });
}

test('every update is in its task log before it is sent, and each acknowledgement before the next goes', async (t) => {
  const root = tempRoot(t);
  const checks: string[] = [];
  const h = checkpointed(t, root, {
    send: (s) => {
      const log = readUpdateLog(logOf(root, s.taskId));
      if (!log.updates.some((u) => u.uuid === s.uuid)) checks.push(`${s.state} was sent before it was written`);
      const ahead = log.updates.slice(0, log.updates.findIndex((u) => u.uuid === s.uuid));
      if (!ahead.every((u) => log.acked.has(u.uuid))) checks.push(`${s.state} was sent before the updates ahead of it were acknowledged`);
    },
    onAcknowledged: (s) => {
      if (!readUpdateLog(logOf(root, s.taskId)).acked.has(s.uuid)) checks.push(`the ack of ${s.state} was not written first`);
    },
  });
  const starting = makeStatus('t1', 'TASK_STARTING');
  const running = makeStatus('t1', 'TASK_RUNNING');
  h.updates.enqueue(starting);
  h.updates.enqueue(running);
  assert.deepEqual(h.sent, [], 'nothing goes before its flush');
  await until('the first update to go', () => h.sent.length === 1);
  assert.equal(h.updates.acknowledge('t1', starting.uuid), true);
  await until('the second update to go', () => h.sent.length === 2);
  assert.deepEqual(h.sent, [starting, running]);
  assert.deepEqual(checks, []);
  const log = readUpdateLog(logOf(root, 't1'));
  assert.deepEqual(log.updates, [starting, running]);
  assert.deepEqual(log.acked, new Set([starting.uuid]));
});

test('a new StatusUpdates over the same dirs resends exactly the unacknowledged updates, in order, with their uuids', async (t) => {
  const root = tempRoot(t);
  const first = checkpointed(t, root);
  const [a1, a2, a3] = [makeStatus('a', 'TASK_STARTING'), makeStatus('a', 'TASK_RUNNING'), makeStatus('a', 'TASK_FINISHED')];
  const b1 = makeStatus('b', 'TASK_STARTING');
  for (const s of [a1, a2, a3, b1]) first.updates.enqueue(s);
  first.updates.acknowledge('a', a1.uuid);
  first.updates.acknowledge('b', b1.uuid);
  const before = readFileSync(logOf(root, 'a'), 'utf8');
  first.updates.close();

  const second = checkpointed(t, root);
  const a = second.updates.recover('a');
  assert.deepEqual(a, { pending: [a2, a3], last: a3, terminal: a3, allAcknowledged: false });
  assert.deepEqual(second.updates.recover('b'), { pending: [], last: b1, allAcknowledged: true });
  assert.deepEqual(second.sent, [], 'recover sends nothing');
  second.updates.resume('a');
  second.updates.resume('b');
  assert.deepEqual(second.sent, [a2], 'only the head is in flight');
  assert.deepEqual(second.updates.pending('a'), [a2, a3]);
  second.updates.acknowledge('a', a2.uuid);
  await until('the next update to go once the acknowledgement is durable', () => second.sent.length === 2);
  second.updates.acknowledge('a', a3.uuid);
  assert.deepEqual(second.sent, [a2, a3]);
  assert.deepEqual(second.acked, [a2, a3]);
  const after = readUpdateLog(logOf(root, 'a'));
  assert.equal(readFileSync(logOf(root, 'a'), 'utf8').slice(0, before.length), before, 'nothing is written again');
  assert.equal(after.updates.length, 3);
  assert.deepEqual(after.acked, new Set([a1.uuid, a2.uuid, a3.uuid]));
});

test('an agent killed with SIGKILL leaves every unacknowledged update for the next one', async (t) => {
  const root = tempRoot(t);
  // Import whichever form this test is: compiled (npm test runs dist/) or TypeScript under tsx.
  const ext = import.meta.url.endsWith('.js') ? 'js' : 'ts';
  const code = `
    const { StatusUpdates, makeStatus } = await import(${JSON.stringify(new URL(`./statusupdates.${ext}`, import.meta.url).href)});
    const { silentLogger } = await import(${JSON.stringify(new URL(`../log/index.${ext}`, import.meta.url).href)});
    const path = await import('node:path');
    const updates = new StatusUpdates({ send: () => Promise.resolve(), onAcknowledged: () => undefined, logger: silentLogger,
      taskDir: (id) => path.join(${JSON.stringify(root)}, 'tasks', id) });
    const all = ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FAILED'].map((state) => makeStatus('t1', state));
    for (const s of all) updates.enqueue(s);
    updates.acknowledge('t1', all[0].uuid);
    process.stdout.write(JSON.stringify(all) + '\\n');
    setInterval(() => undefined, 1000);`;
  const child = spawn(process.execPath, [...(ext === 'ts' ? ['--import', 'tsx'] : []), '--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  // A child that dies before it reports fails the test instead of hanging it; one that hangs is killed.
  const guard = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const exited = once(child, 'exit');
  const [out] = (await Promise.race([
    once(createInterface({ input: child.stdout }), 'line'),
    exited.then(() => assert.fail(`the child exited before it wrote its updates: ${stderr}`)),
  ])) as [string];
  clearTimeout(guard);
  child.kill('SIGKILL');
  await exited;
  const written = JSON.parse(out) as TaskStatus[];
  assert.equal(written.length, 3, stderr);

  const next = checkpointed(t, root);
  assert.deepEqual(next.updates.recover('t1').pending, written.slice(1));
  next.updates.resume('t1');
  assert.deepEqual(next.sent, written.slice(1, 2));
});

test('updates enqueued before resume go behind the ones recovered from the log', (t) => {
  const root = tempRoot(t);
  const first = checkpointed(t, root);
  const old = makeStatus('t1', 'TASK_RUNNING');
  first.updates.enqueue(old);
  first.updates.close();
  const second = checkpointed(t, root);
  const fresh = makeStatus('t1', 'TASK_FAILED');
  second.updates.enqueue(fresh);
  assert.deepEqual(second.sent, [old]);
  assert.deepEqual(second.updates.pending('t1'), [old, fresh]);
  second.updates.resume('t1');
  assert.deepEqual(second.sent, [old], 'resume does not send the head in flight again');
});

test('a torn last line is ignored by recovery and cut off the log', (t) => {
  const root = tempRoot(t);
  const first = checkpointed(t, root);
  const running = makeStatus('t1', 'TASK_RUNNING');
  first.updates.enqueue(running);
  first.updates.close();
  const file = logOf(root, 't1');
  const whole = readFileSync(file, 'utf8');
  appendFileSync(file, JSON.stringify({ update: makeStatus('t1', 'TASK_FINISHED') }).slice(0, 40));
  const second = checkpointed(t, root);
  assert.deepEqual(second.updates.recover('t1'), { pending: [running], last: running, allAcknowledged: false });
  assert.equal(readFileSync(file, 'utf8'), whole);
});

test('an acknowledged terminal update closes the log before onAcknowledged, and recovery reports it all acknowledged', async (t) => {
  if (!requireOrSkip(t, existsSync('/proc/self/fd'), 'needs /proc/self/fd to see open files')) return;
  const root = tempRoot(t);
  const file = logOf(root, 't1');
  let openAtAck: string[] = [];
  const h = checkpointed(t, root, { onAcknowledged: () => (openAtAck = openFdsTo(file)) });
  const running = makeStatus('t1', 'TASK_RUNNING');
  const finished = makeStatus('t1', 'TASK_FINISHED', { reason: 'REASON_COMMAND_EXITED' });
  h.updates.enqueue(running);
  h.updates.enqueue(finished);
  await until('the first update to go', () => h.sent.length === 1);
  h.updates.acknowledge('t1', running.uuid);
  assert.equal(openAtAck.length, 1, 'a task that has not ended keeps its log open for its next update');
  await until('the terminal update to go', () => h.sent.length === 2);
  h.updates.acknowledge('t1', finished.uuid);
  assert.deepEqual(openAtAck, []);
  const next = checkpointed(t, root);
  assert.deepEqual(next.updates.recover('t1'), { pending: [], last: finished, terminal: finished, allAcknowledged: true });
  next.updates.resume('t1');
  assert.deepEqual(next.sent, []);
  assert.deepEqual(openFdsTo(file), [], 'resuming a task with nothing pending holds no file open');
});

test('recovering a task without a log finds nothing and creates nothing', (t) => {
  const root = tempRoot(t);
  const h = checkpointed(t, root);
  assert.deepEqual(h.updates.recover('t1'), { pending: [], allAcknowledged: true });
  assert.equal(existsSync(path.join(root, 'tasks')), false);
});

test('a log that cannot be written is logged, and the updates still go out', (t) => {
  const root = tempRoot(t);
  writeFileSync(path.join(root, 'a-file'), '');
  const h = checkpointed(t, root, { taskDir: (id) => path.join(root, 'a-file', id) });
  const s = makeStatus('t1', 'TASK_RUNNING');
  h.updates.enqueue(s);
  assert.deepEqual(h.sent, [s]);
  assert.match(h.errors.join('\n'), /cannot open the update log.*ENOTDIR/);
  assert.equal(h.updates.acknowledge('t1', s.uuid), true);
  assert.deepEqual(h.updates.pending(), []);
});

test('a task dir removed under an open log does not stop its updates', async (t) => {
  const root = tempRoot(t);
  const h = checkpointed(t, root);
  const running = makeStatus('t1', 'TASK_RUNNING');
  const finished = makeStatus('t1', 'TASK_FINISHED');
  h.updates.enqueue(running);
  rmSync(path.join(root, 'tasks'), { recursive: true });
  writeFileSync(path.join(root, 'tasks'), 'not a directory any more');
  h.updates.enqueue(finished);
  await until('the first update to go', () => h.sent.length === 1);
  h.updates.acknowledge('t1', running.uuid);
  await until('the second update to go', () => h.sent.length === 2);
  h.updates.acknowledge('t1', finished.uuid);
  assert.deepEqual(h.sent, [running, finished]);
  assert.deepEqual(h.acked, [running, finished]);
  // A second task cannot even open its log: logged, sent all the same.
  const other = makeStatus('t2', 'TASK_RUNNING');
  h.updates.enqueue(other);
  assert.deepEqual(h.sent, [running, finished, other]);
  assert.match(h.errors.join('\n'), /cannot open the update log/);
});

test('an unreadable log is set aside, and the task carries on with a fresh one', async (t) => {
  const root = tempRoot(t);
  const file = logOf(root, 't1');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '{"kill":"x"}\n');
  const h = checkpointed(t, root);
  assert.deepEqual(h.updates.recover('t1'), { pending: [], allAcknowledged: true });
  assert.match(h.errors.join('\n'), /line 1/);
  const s = makeStatus('t1', 'TASK_RUNNING');
  h.updates.enqueue(s);
  await until('the update to go', () => h.sent.length === 1);
  assert.deepEqual(h.sent, [s]);
  assert.equal(readFileSync(`${file}.corrupt`, 'utf8'), '{"kill":"x"}\n');
  assert.deepEqual(readUpdateLog(file).updates, [s]);
});

test('a log holding another task\'s updates is not resent under this task', (t) => {
  const root = tempRoot(t);
  const first = checkpointed(t, root);
  first.updates.enqueue(makeStatus('t1', 'TASK_RUNNING'));
  first.updates.close();
  renameSync(path.join(root, 'tasks', 't1'), path.join(root, 'tasks', 't2'));
  const second = checkpointed(t, root);
  assert.deepEqual(second.updates.recover('t2').pending, []);
  second.updates.resume('t2');
  assert.deepEqual(second.sent, []);
});

test('a task id that cannot name a directory is not checkpointed, and its updates go out from memory', (t) => {
  const root = tempRoot(t);
  const h = checkpointed(t, root);
  const s = makeStatus('../escape', 'TASK_LOST');
  h.updates.enqueue(s);
  assert.deepEqual(h.sent, [s]);
  assert.equal(existsSync(path.join(root, 'tasks')), false);
  assert.equal(existsSync(path.join(root, 'escape')), false);
  assert.equal(h.updates.acknowledge('../escape', s.uuid), true);
});

test('a long-lived task\'s log is compacted within its bound and still recovers its last update', (t) => {
  const root = tempRoot(t);
  const h = checkpointed(t, root);
  let last = makeStatus('t1', 'TASK_RUNNING');
  for (let i = 0; i < MAX_UPDATE_RECORDS * 2; i++) {
    last = { ...makeStatus('t1', 'TASK_RUNNING'), healthy: i % 2 === 0 };
    h.updates.enqueue(last);
    if (i % 3 !== 0) {
      // Let a few pile up unacknowledged now and then, as when the master is away.
      for (const p of h.updates.pending('t1')) h.updates.acknowledge('t1', p.uuid);
    }
    assert.ok(readUpdateLog(logOf(root, 't1')).records <= MAX_UPDATE_RECORDS);
  }
  const pending = h.updates.pending('t1');
  h.updates.close();
  const next = checkpointed(t, root);
  const recovered = next.updates.recover('t1');
  assert.deepEqual(recovered.pending, pending);
  assert.deepEqual(recovered.last, last);
  assert.deepEqual(h.errors, []);
});

test('the queue bound drops updates beyond it, with an error, and does not write them', (t) => {
  const root = tempRoot(t);
  const h = checkpointed(t, root);
  for (let i = 0; i < 70; i++) h.updates.enqueue(makeStatus('t1', 'TASK_RUNNING'));
  assert.equal(h.updates.pending('t1').length, 64);
  assert.equal(readUpdateLog(logOf(root, 't1')).updates.length, 64);
  assert.match(h.errors.join('\n'), /too many unacknowledged updates/);
});

test('makeStatus cuts a message to what the master accepts', () => {
  assert.equal(makeStatus('t1', 'TASK_FAILED', { message: 'x'.repeat(10_000) }).message?.length, MAX_STATUS_MESSAGE_CHARS);
});
