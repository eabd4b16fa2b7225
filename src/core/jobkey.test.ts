import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MusterError } from './errors.js';
import { MAX_INSTANCES, parseInstanceList, parseInstanceRef, parseJobKey } from './jobkey.js';

const refused = (f: () => unknown, message: RegExp): void => {
  assert.throws(f, (e: unknown) => e instanceof MusterError && e.code === 'INVALID_ARGUMENT' && message.test(e.message));
};

test('parseInstanceList refuses an instance number no job can have, at once', () => {
  const start = performance.now();
  refused(() => parseInstanceList('99999999999999999999'), /instance 99999999999999999999 is beyond the last instance a job can have \(9999\)/);
  refused(() => parseInstanceRef('web/prod/hello/99999999999999999999'), /beyond the last instance/);
  refused(() => parseInstanceList('0-99999999999999999999'), /beyond the last instance/);
  refused(() => parseInstanceList(`${MAX_INSTANCES}`), /beyond the last instance/);
  refused(() => parseInstanceList(`1${'0'.repeat(400)}`), /beyond the last instance/);
  // A bound on a blow-up (iterating towards 10^20), not a timing goal: generous under load.
  assert.ok(performance.now() - start < 2000, 'nothing iterates towards a huge number');
  assert.deepEqual(parseInstanceList(`${MAX_INSTANCES - 1}`), [MAX_INSTANCES - 1]);
  assert.equal(parseInstanceList(`0-${MAX_INSTANCES - 1}`).length, MAX_INSTANCES);
  assert.deepEqual(parseInstanceList('0,2-4, 3'), [0, 2, 3, 4]);
  refused(() => parseInstanceList('4-2'), /ends before it starts/);
  refused(() => parseInstanceList('1e3'), /numbers or ranges/);
});

test('parseJobKey shows a refused key escaped and cut, never raw', () => {
  refused(() => parseJobKey('web/pr\x1bod/x'), /job key "web\/pr\\u001bod\/x": env "pr\\u001bod" must be/);
  refused(() => parseJobKey('web/prod/a\0'), /\\u0000/);
  try {
    parseJobKey(`web/prod/${'x'.repeat(100_000)}`);
    assert.fail('a 100,000-character name is refused');
  } catch (e) {
    assert.ok(e instanceof MusterError && e.message.length < 400, 'the message repeats at most a little of it');
  }
});
