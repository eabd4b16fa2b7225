import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MusterError } from '../core/index.js';
import { chooseDevices } from './index.js';

void test('chooseDevices() gives whole GPUs only from wholly free devices', () => {
  assert.deepEqual(chooseDevices([1000, 500, 1000, 1000], { whole: 2 }), [0, 2]);
  assert.deepEqual(chooseDevices([1000, 999, 1000], { whole: 2 }), [0, 2]);
  assert.equal(chooseDevices([1000, 999, 999], { whole: 2 }), undefined, 'two shares of free are not a whole GPU');
  assert.deepEqual(chooseDevices([0, 1000], { whole: 1 }), [1]);
  assert.equal(chooseDevices([], { whole: 1 }), undefined);
});

void test('chooseDevices() puts a fraction within one device, never across two', () => {
  assert.equal(chooseDevices([400, 400, 400], { milli: 500 }), undefined, '1200 free in all, but no device holds 500');
  assert.deepEqual(chooseDevices([400, 500, 400], { milli: 500 }), [1]);
});

void test('chooseDevices() packs fractions onto partially used devices first, keeping whole GPUs free', () => {
  // Best fit: the partially used device that is left with the least; wholly free ones last.
  assert.deepEqual(chooseDevices([1000, 600, 300, 1000, 450], { milli: 250 }, 'pack'), [2]);
  assert.deepEqual(chooseDevices([1000, 600, 1000], { milli: 500 }, 'pack'), [1]);
  assert.deepEqual(chooseDevices([1000, 400, 1000], { milli: 500 }, 'pack'), [0], 'only whole devices have room');
  // Ties go to the lower index, so the choice is the same on every run.
  assert.deepEqual(chooseDevices([1000, 700, 700], { milli: 100 }, 'pack'), [1]);
  assert.deepEqual(chooseDevices([300, 1000, 700], { milli: 200 }, 'spread'), [1]);
  assert.deepEqual(chooseDevices([300, 1000, 700], { milli: 200 }, 'first'), [0]);
});

void test('chooseDevices() refuses requests that are neither whole GPUs nor a share, and bad device lists', () => {
  const invalid = (f: () => unknown, message: RegExp): void => {
    assert.throws(f, (err: unknown) => err instanceof MusterError && err.code === 'INVALID_ARGUMENT' && message.test(err.message));
  };
  invalid(() => chooseDevices([1000], { milli: 1000 }), /a GPU share is 1\.\.999 milli/);
  invalid(() => chooseDevices([1000], { milli: 0 }), /a GPU share/);
  invalid(() => chooseDevices([1000], { milli: 2.5 }), /a GPU share/);
  invalid(() => chooseDevices([1000], { whole: 0 }), /a whole-GPU request is 1\.\.64 devices/);
  invalid(() => chooseDevices([1000], { whole: 1.5 }), /whole-GPU/);
  invalid(() => chooseDevices([1200], { whole: 1 }), /device 0 has 1200 milli free/);
  invalid(() => chooseDevices(new Array<number>(65).fill(1000), { whole: 1 }), /at most 64 GPU devices/);
});
