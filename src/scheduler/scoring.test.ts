import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitScore, gpuScore, scoreAgent, spreadScore } from './scoring.js';
import type { ScoreView } from './scoring.js';

void test('fitScore() prefers the agent a task leaves fuller, and balanced over lopsided', () => {
  const full = fitScore({ cpus: 0.1, mem: 0.1, disk: -1, gpus: -1 });
  const empty = fitScore({ cpus: 0.9, mem: 0.9, disk: -1, gpus: -1 });
  const lopsided = fitScore({ cpus: 0.9, mem: 0.1, disk: -1, gpus: -1 });
  assert.ok(full > empty);
  assert.ok(fitScore({ cpus: 0.5, mem: 0.5, disk: -1, gpus: -1 }) > lopsided);
  assert.equal(fitScore({ cpus: 0, mem: 0, disk: -1, gpus: -1 }), 1);
  assert.equal(fitScore({ cpus: 1, mem: 1, disk: 1, gpus: 1 }), 0.25);
});

void test('fitScore() stays within 0 and 1 on overcommitted or odd fractions', () => {
  for (const [c, m] of [[-1, 2], [5, -3], [0, 1], [1, 0]] as const) {
    const s = fitScore({ cpus: c, mem: m, disk: 0.5, gpus: -1 });
    assert.ok(s >= 0 && s <= 1, `${c} ${m}: ${s}`);
  }
});

void test('spreadScore() falls as a domain holds more of the job, and is 0 outside every domain', () => {
  assert.equal(spreadScore(0), 1);
  assert.equal(spreadScore(1), 0.5);
  assert.equal(spreadScore(3), 0.25);
  assert.equal(spreadScore(undefined), 0);
});

void test('gpuScore() packs shares onto partly used devices and keeps GPU agents for GPU tasks', () => {
  assert.equal(gpuScore([1000, 500], { milli: 500 }), 1);
  assert.equal(gpuScore([1000], { milli: 500 }), 0.5);
  assert.equal(gpuScore([1000, 1000], { whole: 2 }), 1);
  assert.equal(gpuScore([1000, 1000, 1000, 1000], { whole: 1 }), 0.25);
  assert.equal(gpuScore([500], { whole: 1 }), 0);
  assert.equal(gpuScore([], undefined), 1);
  assert.equal(gpuScore([0, 0], undefined), 1);
  assert.equal(gpuScore([1000, 1000], undefined), 0);
});

void test('scoreAgent() adds the weighted parts and skips a part whose weight is 0', () => {
  const view: ScoreView = { fit: { cpus: 0.5, mem: 0.5, disk: -1, gpus: -1 }, spreadCount: 1, gpuFree: [1000], gpu: undefined };
  assert.equal(scoreAgent(view, { fit: 1, spread: 0, gpu: 0 }), 0.625);
  assert.equal(scoreAgent(view, { fit: 0, spread: 2, gpu: 0 }), 1);
  assert.equal(scoreAgent(view, { fit: 0, spread: 0, gpu: 3 }), 0);
  assert.equal(scoreAgent(view, { fit: 1, spread: 2, gpu: 3 }), 1.625);
  assert.equal(scoreAgent(view, { fit: 0, spread: 0, gpu: 0 }), 0);
});

void test('fitScore() packs tasks lopsided against the agents rather than spreading them', () => {
  // A task of 1% of the cpus and 10% of the mem: the agent holding five already must beat an empty one.
  const onEmpty = fitScore({ cpus: 0.99, mem: 0.9, disk: -1, gpus: -1 });
  const onUsed = fitScore({ cpus: 0.94, mem: 0.4, disk: -1, gpus: -1 });
  assert.ok(onUsed > onEmpty);
});
