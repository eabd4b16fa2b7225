import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptsModel, fitsGpuNode, gpuRequestOf, GpuScorer, PACKING_POLICIES, TargetWorkload } from './scorers.js';
import type { GpuNodeView, GpuPodRequest } from './scorers.js';

function node(gpuFree: number[], more: Partial<GpuNodeView> = {}): GpuNodeView {
  return { cpuMilli: 96_000, memMiB: 393_216, gpuFree, model: 'G2', ...more };
}

function pod(numGpu: number, gpuMilli: number, more: Partial<GpuPodRequest> = {}): GpuPodRequest {
  return { cpuMilli: 4000, memMiB: 16_384, numGpu, gpuMilli, gpuSpec: '', ...more };
}

/** seeded is a fixed stream of draws, enough for the random policy's tests. */
function seeded(): () => number {
  let x = 0.123;
  return () => (x = (x * 9301 + 0.49297) % 1);
}

/** A mix of half shares of 500 milli, half whole GPUs, 4 cores and 16 GiB each. */
const HALF_AND_WHOLE = [pod(1, 500), pod(1, 1000)];

/** best is the index of the lowest-scoring node, the first among equals. */
function best(scorer: GpuScorer, nodes: readonly GpuNodeView[], p: GpuPodRequest): number {
  let at = -1;
  let low = Infinity;
  nodes.forEach((n, i) => {
    const s = scorer.score(n, p);
    if (s < low) {
      low = s;
      at = i;
    }
  });
  return at;
}

void test('gpuRequestOf() reads the trace\'s GPU columns as no GPU, a share or whole GPUs', () => {
  assert.equal(gpuRequestOf(0, 0), undefined);
  assert.deepEqual(gpuRequestOf(1, 460), { milli: 460 });
  assert.deepEqual(gpuRequestOf(1, 1000), { whole: 1 });
  assert.deepEqual(gpuRequestOf(8, 1000), { whole: 8 });
  assert.throws(() => gpuRequestOf(2, 500), /whole GPUs \(1000 milli each\) or a share of one GPU, not 2 × 500 milli/);
  assert.throws(() => gpuRequestOf(0, 1000), /not 0 × 1000 milli/);
  assert.throws(() => gpuRequestOf(65, 1000), /1\.\.64 whole GPUs/);
});

void test('acceptsModel() matches whole model names of a gpu_spec, any model when it is empty', () => {
  assert.equal(acceptsModel('', 'T4'), true);
  assert.equal(acceptsModel('T4', 'T4'), true);
  assert.equal(acceptsModel('P100|T4|V100M16', 'T4'), true);
  assert.equal(acceptsModel('V100M16|V100M32', 'V100M32'), true);
  assert.equal(acceptsModel('V100M16|V100M32', 'V100'), false, 'a prefix is not the model');
  assert.equal(acceptsModel('V100M16|V100M32', 'M16'), false);
  assert.equal(acceptsModel('A10|G2', 'G3'), false);
  assert.equal(acceptsModel('T4', ''), false, 'a node without GPUs has no model');
});

void test('fitsGpuNode() enforces gpu_spec, cpu, memory and per-device fit, and names what is missing', () => {
  assert.deepEqual(fitsGpuNode(node([1000, 1000]), pod(2, 1000)), { ok: true });
  assert.deepEqual(fitsGpuNode(node([1000, 1000]), pod(1, 500, { gpuSpec: 'T4|P100' })), { ok: false, reason: 'gpu_spec' });
  assert.deepEqual(fitsGpuNode(node([1000, 1000], { model: 'T4' }), pod(1, 500, { gpuSpec: 'T4|P100' })), { ok: true });
  assert.deepEqual(fitsGpuNode(node([1000], { cpuMilli: 3999 }), pod(1, 500)), { ok: false, reason: 'cpu' });
  assert.deepEqual(fitsGpuNode(node([1000], { memMiB: 100 }), pod(1, 500)), { ok: false, reason: 'memory' });
  assert.deepEqual(fitsGpuNode(node([600, 600]), pod(1, 700)), { ok: false, reason: 'gpu' });
  assert.deepEqual(fitsGpuNode(node([1000, 999]), pod(2, 1000)), { ok: false, reason: 'gpu' });
  assert.deepEqual(fitsGpuNode(node([0, 0]), pod(0, 0)), { ok: true }, 'a task without GPUs needs no free device');
});

void test('TargetWorkload.fragmentation() is the free GPU the mix could not use, as FGD defines it', () => {
  const mix = new TargetWorkload(HALF_AND_WHOLE);
  assert.equal(mix.size, 2);
  // Device 1's 300 is too little for a 500 share and for a whole GPU: all of it is a fragment.
  assert.equal(mix.fragmentation(node([1000, 300])), 300);
  // 600 holds a share, not a whole GPU: a fragment for half of the mix.
  assert.equal(mix.fragmentation(node([1000, 600])), 300);
  assert.equal(mix.fragmentation(node([0, 0])), 0, 'no free GPU, nothing to fragment');
  assert.equal(mix.fragmentation(node([1000, 1000], { cpuMilli: 3000 })), 2000, 'no task of the mix gets the cpu it needs');
  assert.equal(mix.fragmentation(node([1000, 1000], { memMiB: 1024 })), 2000);
  const t4Only = new TargetWorkload([pod(1, 1000, { gpuSpec: 'T4' })]);
  assert.equal(t4Only.fragmentation(node([1000, 1000])), 2000, 'a model the mix does not accept is all fragment');
  assert.equal(t4Only.fragmentation(node([1000, 1000], { model: 'T4' })), 0);
  assert.equal(new TargetWorkload([pod(0, 0)]).fragmentation(node([1000])), 0, 'tasks without GPUs make no mix');
});

void test('TargetWorkload counts tasks without GPUs in the popularity only when asked, as the paper did', () => {
  const pods = [pod(1, 1000), pod(0, 0)];
  assert.deepEqual(new TargetWorkload(pods).mix().map((s) => s.weight), [1]);
  assert.deepEqual(TargetWorkload.fgd(pods).mix().map((s) => s.weight), [0.5]);
  assert.equal(TargetWorkload.fgd(pods).fragmentation(node([1000, 1000])), 1000, 'for a task without GPUs every free GPU is a fragment');
});

void test('TargetWorkload with capacityShare counts GPUs the node has no cpu to feed', () => {
  const eightGpusCpuForOne = node(new Array<number>(8).fill(1000), { cpuMilli: 4000 });
  const oneTask = [pod(1, 1000)];
  assert.equal(new TargetWorkload(oneTask).fragmentation(eightGpusCpuForOne), 0, 'FGD: one task fits, so all 8 GPUs look usable');
  assert.equal(new TargetWorkload(oneTask, { capacityShare: 1 }).fragmentation(eightGpusCpuForOne), 7000, 'only one of 8 GPUs can ever be fed');
  assert.equal(new TargetWorkload(oneTask, { capacityShare: 0.5 }).fragmentation(eightGpusCpuForOne), 3500);
  assert.equal(new TargetWorkload(oneTask, { capacityShare: 1 }).fragmentation(node(new Array<number>(8).fill(1000))), 0, 'cpu for all eight');
  assert.throws(() => new TargetWorkload(oneTask, { capacityShare: 2 }), /capacityShare is 0\.\.1, not 2/);
});

void test('TargetWorkload with scarcity weighs most the shapes whose GPUs are oversubscribed', () => {
  // Two T4 GPUs against four T4-only tasks; eight G2 GPUs for four tasks that take any model.
  const cell = [node([1000, 1000], { model: 'T4' }), node(new Array<number>(8).fill(1000))];
  const pods = [...new Array<GpuPodRequest>(4).fill(pod(1, 1000, { gpuSpec: 'T4' })), ...new Array<GpuPodRequest>(4).fill(pod(1, 1000, { cpuMilli: 2000 }))];
  const weightOf = (w: TargetWorkload, spec: string): number => w.mix().find((s) => s.request.gpuSpec === spec)?.weight ?? Number.NaN;
  const popularity = new TargetWorkload(pods);
  assert.equal(weightOf(popularity, 'T4'), 0.5);
  const scarce = new TargetWorkload(pods, { cell, scarcity: 2 });
  assert.ok(weightOf(scarce, 'T4') > 0.8, `T4-only tasks weigh ${weightOf(scarce, 'T4')}`);
  assert.ok(Math.abs(weightOf(scarce, 'T4') + weightOf(scarce, '') - 1) < 1e-12, 'weights still sum to 1');
  // So a task that takes any model is kept off the scarce T4 node.
  const scorer = new GpuScorer({ policy: 'fgd-refined', workload: scarce });
  assert.equal(best(scorer, [cell[0] as GpuNodeView, cell[1] as GpuNodeView], pod(1, 1000, { cpuMilli: 2000 })), 1);
  assert.throws(() => new TargetWorkload(pods, { scarcity: 2 }), /scarcity weighting needs the cell/);
});

void test('GpuScorer under fgd-refined packs a share onto a partially used GPU and keeps whole GPUs free', () => {
  const scorer = new GpuScorer({ policy: 'fgd-refined', workload: TargetWorkload.refined(HALF_AND_WHOLE, [node([1000, 1000])]) });
  const fresh = node([1000, 1000]);
  const used = node([1000, 600]);
  assert.equal(best(scorer, [fresh, used], pod(1, 500)), 1, 'the node whose whole GPU stays whole');
  assert.deepEqual(scorer.devices(used, pod(1, 500)), [1]);
  assert.deepEqual(scorer.devices(node([600, 1000, 1000]), pod(1, 500)), [0]);
  assert.deepEqual(scorer.devices(fresh, pod(2, 1000)), [0, 1]);
  assert.deepEqual(scorer.devices(fresh, pod(0, 0)), []);
  assert.equal(scorer.devices(node([400, 400]), pod(1, 500)), undefined, 'a share fits within one device or not at all');
});

void test('GpuScorer gives Infinity where the task does not fit, gpu_spec included, under every policy', () => {
  const workload = TargetWorkload.fgd(HALF_AND_WHOLE);
  for (const policy of PACKING_POLICIES) {
    const scorer = new GpuScorer({ policy, workload, random: seeded() });
    assert.equal(scorer.score(node([1000]), pod(1, 500, { gpuSpec: 'T4' })), Infinity, policy);
    assert.equal(scorer.score(node([400, 400]), pod(1, 500)), Infinity, policy);
    assert.equal(scorer.score(node([1000], { cpuMilli: 1000 }), pod(1, 500)), Infinity, policy);
    assert.ok(Number.isFinite(scorer.score(node([1000], { model: 'T4' }), pod(1, 500, { gpuSpec: 'P100|T4' }))), policy);
    assert.equal(scorer.devices(node([1000]), pod(1, 500, { gpuSpec: 'T4' })), undefined, policy);
  }
});

void test('GpuScorer scores as the paper\'s harness: best-fit the fuller node, fgd in integer levels', () => {
  const bestFit = new GpuScorer({ policy: 'best-fit' });
  assert.equal(best(bestFit, [node([1000, 1000, 1000, 1000]), node([1000, 1000])], pod(1, 1000)), 1);
  const fgd = new GpuScorer({ policy: 'fgd', workload: TargetWorkload.fgd(HALF_AND_WHOLE) });
  const s = fgd.score(node([1000, 600]), pod(1, 500));
  assert.ok(Number.isInteger(s) && s >= -100 && s <= 0, `fgd scores ${s}`);
  assert.equal(best(fgd, [node([1000, 1000]), node([1000, 600])], pod(1, 500)), 1);
});

void test('GpuScorer is deterministic: the same node and task give the same score and devices', () => {
  const workload = TargetWorkload.refined([pod(1, 300), pod(1, 700), pod(2, 1000)], [node(new Array<number>(8).fill(1000))]);
  const a = new GpuScorer({ policy: 'fgd-refined', workload });
  const b = new GpuScorer({ policy: 'fgd-refined', workload });
  const n = node([1000, 700, 300, 1000, 0, 650, 1000, 1000], { cpuMilli: 30_000 });
  for (const p of [pod(1, 300), pod(1, 250), pod(2, 1000), pod(0, 0)]) {
    assert.equal(a.score(n, p), b.score(n, p));
    assert.deepEqual(a.devices(n, p), b.devices(n, p));
    assert.equal(a.score(n, p, workload.fragmentation(n)), a.score(n, p), 'a cached fragmentation gives the same score');
  }
  // Random draws only from the generator it is given.
  const r1 = new GpuScorer({ policy: 'random', random: seeded() });
  const r2 = new GpuScorer({ policy: 'random', random: seeded() });
  const many = node(new Array<number>(8).fill(1000));
  assert.deepEqual(
    Array.from({ length: 20 }, () => r1.devices(many, pod(1, 100))),
    Array.from({ length: 20 }, () => r2.devices(many, pod(1, 100))),
  );
});

void test('GpuScorer refuses policies without what they need', () => {
  assert.throws(() => new GpuScorer({ policy: 'fgd' }), /the fgd policy needs a target workload/);
  assert.throws(() => new GpuScorer({ policy: 'fgd-refined' }), /the fgd-refined policy needs a target workload/);
  assert.throws(() => new GpuScorer({ policy: 'random' }), /needs a seeded random source/);
  assert.throws(() => new GpuScorer({ policy: 'worst' as never }), /no packing policy "worst"/);
  assert.throws(() => new TargetWorkload([pod(2, 500)]), /not 2 × 500 milli/);
});
