import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LoggedEvent } from '../state/index.js';
import { RecentEvents } from './events.js';

function events(from: number, to: number): LoggedEvent[] {
  const out: LoggedEvent[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, event: { type: 'HostMaintenance', at: i, hostnames: [`h${i}`], mode: 'ACTIVE' } });
  return out;
}

const indexes = (es: LoggedEvent[] | undefined): number[] | undefined => es?.map((e) => e.index);

test('RecentEvents gives the events after an index it still holds, and undefined for one it does not', () => {
  const recent = new RecentEvents(4);
  assert.equal(recent.after(0), undefined, 'nothing held yet');
  recent.add(events(1, 3));
  assert.deepEqual(indexes(recent.after(0)), [1, 2, 3]);
  assert.deepEqual(indexes(recent.after(2)), [3]);
  assert.deepEqual(indexes(recent.after(3)), [], 'at the head: nothing missed');
  assert.equal(recent.after(4), undefined, 'beyond the head');
  recent.add(events(4, 6));
  // Capacity 4: 3..6 held, so a client that saw 2 resumes from memory and one that saw 1 does not.
  assert.deepEqual(indexes(recent.after(2)), [3, 4, 5, 6]);
  assert.equal(recent.after(1), undefined);
});

test('RecentEvents starts over when a batch does not follow the last one (a standby reloaded from a snapshot)', () => {
  const recent = new RecentEvents(8);
  recent.add(events(1, 3));
  recent.add(events(10, 11));
  assert.equal(recent.after(3), undefined, 'the events 4..9 were never seen');
  assert.deepEqual(indexes(recent.after(9)), [10, 11]);
});
