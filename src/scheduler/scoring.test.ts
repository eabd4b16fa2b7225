import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GpuRequest } from './gpus.js';
import { CAPACITY_SHARE, fitScore, fragmentationGrowth, GpuMix, gpuCostScore, gpuScore, scoreAgent, spreadScore } from './scoring.js';
import type { GrowthResult, ScoreView } from './scoring.js';

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
  const view: ScoreView = { fit: { cpus: 0.5, mem: 0.5, disk: -1, gpus: -1 }, spreadCount: 1, gpuFree: [1000], gpu: undefined, gpuCost: undefined };
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

// ---- GPU fragmentation -------------------------------------------------------------------------

/** mixOf counts tasks of 4 cpus and 16 GiB with the given GPU requests, once each. */
function mixOf(...gpus: GpuRequest[]): GpuMix {
  const mix = new GpuMix();
  for (const g of gpus) mix.add(4000, 16_384, g);
  return mix;
}

const CPU = 96_000;
const MEM = 393_216;

void test('GpuMix.fragmentation() is the free GPU the mix could not use, as FGD counts it', () => {
  const mix = mixOf({ milli: 500 }, { whole: 1 });
  assert.equal(mix.size, 2);
  // Device 1's 300 is too little for a 500 share and for a whole GPU: all of it is a fragment.
  assert.equal(mix.fragmentation(CPU, MEM, [1000, 300]), 300);
  // 600 holds a share, not a whole GPU: a fragment for half of the mix.
  assert.equal(mix.fragmentation(CPU, MEM, [1000, 600]), 300);
  assert.equal(mix.fragmentation(CPU, MEM, [0, 0]), 0, 'no free GPU, nothing to fragment');
  assert.equal(mix.fragmentation(3000, MEM, [1000, 1000]), 2000, 'no task of the mix gets the cpus it needs');
  assert.equal(mix.fragmentation(CPU, 1024, [1000, 1000]), 2000, 'nor the mem');
});

void test('GpuMix.fragmentation() also counts, in part, GPUs the cpus left cannot feed', () => {
  const mix = mixOf({ whole: 1 });
  const eight = new Array<number>(8).fill(1000);
  assert.equal(mix.fragmentation(CPU, MEM, eight), 0, 'cpus for all eight');
  // cpus for one task of 4: seven of the eight GPUs can never be fed, counted at CAPACITY_SHARE.
  assert.equal(mix.fragmentation(4000, MEM, eight), 7000 * CAPACITY_SHARE);
});

void test('GpuMix counts no task without GPUs and is empty until a GPU task is added', () => {
  const mix = new GpuMix();
  mix.add(4000, 1024, undefined, 10);
  assert.equal(mix.empty, true);
  assert.equal(mix.fragmentation(CPU, MEM, [1000, 300]), 1300, 'with nothing to measure against, all free GPU counts');
  mix.add(4000, 1024, { whole: 2 }, 0.5);
  assert.equal(mix.empty, false);
  assert.equal(mix.fragmentation(CPU, MEM, [1000, 1000]), 0);
  assert.equal(mix.fragmentation(CPU, MEM, [1000, 999]), 1999, 'two whole GPUs need two wholly free devices');
});

void test('fragmentationGrowth() puts a share on the device that fragments least', () => {
  const mix = mixOf({ milli: 500 }, { whole: 1 });
  const out: GrowthResult = { growth: 0, device: -1 };
  const scratch = new Int32Array(8);
  const gpuFree = [1000, 600, 500];
  const agent = { cpusMilli: CPU, memMiB: MEM, gpuFree, before: mix.fragmentation(CPU, MEM, gpuFree) };
  // 500 on device 2 leaves nothing behind; on device 1 a 100 no one can use; on device 0 it breaks a whole GPU.
  const r = fragmentationGrowth(mix, agent, { cpusMilli: 4000, memMiB: 16_384, gpu: { milli: 500 } }, scratch, out);
  assert.equal(r.device, 2);
  assert.equal(r.growth, -250, 'the 500 that was a fragment for whole GPUs is used up');
  assert.deepEqual(gpuFree, [1000, 600, 500], 'the agent is left as it was');
  const whole = fragmentationGrowth(mix, agent, { cpusMilli: 4000, memMiB: 16_384, gpu: { whole: 1 } }, scratch, out);
  assert.equal(whole.device, -1);
  assert.equal(whole.growth, 0, 'a whole GPU taken from a whole one fragments nothing');
});

void test('fragmentationGrowth() charges a GPU-less task for the GPUs its cpus would strand', () => {
  const mix = mixOf({ whole: 1 });
  const out: GrowthResult = { growth: 0, device: -1 };
  const gpuFree = [1000, 1000];
  const roomy = { cpusMilli: 64_000, memMiB: MEM, gpuFree, before: 0 };
  const tight = { cpusMilli: 12_000, memMiB: MEM, gpuFree, before: 0 };
  const cpuTask = { cpusMilli: 8000, memMiB: 1024, gpu: undefined };
  assert.equal(fragmentationGrowth(mix, roomy, cpuTask, new Int32Array(2), out).growth, 0);
  // 4 cpus left feed one of the two GPUs.
  assert.equal(fragmentationGrowth(mix, tight, cpuTask, new Int32Array(2), out).growth, 1000 * CAPACITY_SHARE);
});

void test('gpuCostScore() is one half for no cost, higher for a gain and lower for a loss', () => {
  assert.equal(gpuCostScore(0), 0.5);
  assert.ok(gpuCostScore(-100) > 0.5 && gpuCostScore(-100) < 1);
  assert.ok(gpuCostScore(100) < 0.5 && gpuCostScore(100) > 0);
  assert.ok(gpuCostScore(1000) < gpuCostScore(100));
});

void test('scoreAgent() judges fit by the GPU cost where it is known', () => {
  const view: ScoreView = { fit: { cpus: 0.9, mem: 0.9, disk: -1, gpus: -1 }, spreadCount: 0, gpuFree: [1000], gpu: { whole: 1 }, gpuCost: 0 };
  assert.equal(scoreAgent(view, { fit: 1, spread: 0, gpu: 1 }), 1, 'fit and gpu both ½');
  assert.equal(scoreAgent(view, { fit: 1, spread: 2, gpu: 1 }), 3);
  // With the gpu part off there is no GPU cost: fit is best fit again.
  assert.equal(scoreAgent({ ...view, gpuCost: undefined }, { fit: 1, spread: 0, gpu: 0 }), fitScore(view.fit));
});
