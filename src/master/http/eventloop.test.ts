import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MasterMetrics } from './metrics.js';
import { eventLoopDelay } from '../../metrics/eventloop.js';

/** value reads one sample of the Prometheus text. */
function value(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line !== undefined, `${name} is shown`);
  return Number(line.split(' ')[1]);
}

test("a block of the event loop shows in the master's event-loop delay and block metrics", async () => {
  const metrics = new MasterMetrics();
  eventLoopDelay();
  await sleep(1100);
  // 120 ms of work, however long the host takes to give it to us.
  const block = (): void => {
    const start = process.cpuUsage();
    for (;;) {
      const used = process.cpuUsage(start);
      if (used.user + used.system >= 120_000) return;
    }
  };
  block();
  await sleep(1100);
  const max = eventLoopDelay().max();
  assert.ok(max.gap >= 0.11 && max.block >= 0.1, `max ${JSON.stringify(max)}`);
  // The gauge is collected only once a source is attached; the histogram needs none.
  const text = await metrics.render();
  for (const name of ['muster_master_event_loop_delay_seconds', 'muster_master_event_loop_block_seconds']) {
    const count = value(text, `${name}_count`);
    const under = value(text, `${name}_bucket{le="0.05"}`);
    assert.ok(count >= 2, `${name}: ${count} seconds observed`);
    assert.ok(count - under >= 1, `${name}: the second with the block is over the 50 ms budget`);
  }
});

test('time the host does not run the master shows as delay, not as a block', async () => {
  const metrics = new MasterMetrics();
  eventLoopDelay();
  await sleep(1100);
  // Sleeping in a system call holds the loop as a descheduled process would: no CPU is used.
  const shared = new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(shared, 0, 0, 150);
  await sleep(1100);
  const max = eventLoopDelay().max();
  assert.ok(max.gap >= 0.14, `gap ${max.gap}`);
  const text = await metrics.render();
  const seconds = value(text, 'muster_master_event_loop_block_seconds_count');
  assert.ok(seconds >= 2);
  assert.equal(value(text, 'muster_master_event_loop_block_seconds_bucket{le="0.05"}'), seconds, 'no second of blocking work');
});
