import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MasterMetrics } from './metrics.js';
import { eventLoopDelay } from './eventloop.js';

/** value reads one sample of the Prometheus text. */
function value(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line !== undefined, `${name} is shown`);
  return Number(line.split(' ')[1]);
}

test("a block of the event loop shows in the master's event-loop delay metrics", async () => {
  const metrics = new MasterMetrics();
  eventLoopDelay();
  await sleep(1100);
  const block = (): void => {
    const until = performance.now() + 120;
    while (performance.now() < until);
  };
  block();
  await sleep(1100);
  assert.ok(eventLoopDelay().maxSeconds() >= 0.11, `max ${eventLoopDelay().maxSeconds()}`);
  // The gauge is collected only once a source is attached; the histogram needs none.
  const text = await metrics.render();
  const count = value(text, 'muster_master_event_loop_delay_seconds_count');
  const under = value(text, 'muster_master_event_loop_delay_seconds_bucket{le="0.05"}');
  assert.ok(count >= 2, `${count} seconds observed`);
  assert.ok(count - under >= 1, 'the second with the block is over the 50 ms budget');
});
