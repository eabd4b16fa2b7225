import assert from 'node:assert/strict';
import { test } from 'node:test';
import { killGroup, parseStartTime, processStartTime } from './proc.js';

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
