import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../log/index.js';
import type { TaskStatus } from '../protocol/index.js';
import { makeStatus, StatusUpdates } from './statusupdates.js';

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
