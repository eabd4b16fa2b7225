import assert from 'node:assert/strict';
import { test } from 'node:test';
import { editDistance, nearestWord } from './nearest.js';

test('editDistance counts insertions, deletions, substitutions and swaps of neighbours', () => {
  assert.equal(editDistance('', ''), 0);
  assert.equal(editDistance('cpus', 'cpus'), 0);
  assert.equal(editDistance('cpu', 'cpus'), 1);
  assert.equal(editDistance('gpus', 'cpus'), 1);
  assert.equal(editDistance('lenght', 'length'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('', 'abc'), 3);
});

test('nearestWord finds typos, other spellings and abbreviations', () => {
  assert.equal(nearestWord('instancez', ['job', 'kind', 'instances']), 'instances');
  assert.equal(nearestWord('batch_size', ['batchSize']), 'batchSize');
  assert.equal(nearestWord('Priority', ['tier', 'priority']), 'priority');
  assert.equal(nearestWord('command', ['name', 'cmd']), 'cmd');
  assert.equal(nearestWord('memory', ['cpus', 'mem', 'disk']), 'mem');
  assert.equal(nearestWord('environment', ['env', 'health']), 'env');
  assert.equal(nearestWord('gpu', ['cpus', 'gpus']), 'gpus', 'fewest edits win');
});

test('nearestWord stays silent when nothing is close enough', () => {
  assert.equal(nearestWord('frobnicate', ['job', 'kind', 'instances', 'resources', 'processes']), undefined);
  assert.equal(nearestWord('timeout', ['tier', 'priority', 'health']), undefined);
  assert.equal(nearestWord('xy', ['ab', 'cd']), undefined);
  assert.equal(nearestWord('anything', []), undefined);
});
