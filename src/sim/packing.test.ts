import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makePackingCell, simulateMaster, simulateScorer, specOf, GPU_MODEL_ATTRIBUTE } from './packing.js';
import type { OpenbNode, OpenbPod } from './openb.js';

function node(sn: string, gpus: number, model: string, cpuMilli = 16_000): OpenbNode {
  return { sn, cpuMilli, memMiB: 65_536, gpus, model };
}

function pod(name: string, numGpu: number, gpuMilli: number, more: Partial<OpenbPod> = {}): OpenbPod {
  return { name, cpuMilli: 2000, memMiB: 4096, numGpu, gpuMilli, gpuSpec: '', qos: '', podPhase: '', ...more };
}

void test('specOf() makes a pod a job of one instance, its gpu_spec a constraint on the GPU model', () => {
  const share = specOf({ cpuMilli: 2500, memMiB: 0, numGpu: 1, gpuMilli: 250, gpuSpec: 'T4|P100' }, 'openb/prod/p1');
  assert.equal(share.instances, 1);
  assert.equal(share.resources.gpus, 0.25);
  assert.equal(share.resources.cpus, 2.5);
  assert.equal(share.resources.mem, 1, 'a pod of 0 MiB asks for the least a job may');
  assert.deepEqual(share.constraints, { [GPU_MODEL_ATTRIBUTE]: 'T4|P100' });
  const whole = specOf({ cpuMilli: 1000, memMiB: 1024, numGpu: 4, gpuMilli: 1000, gpuSpec: '' }, 'openb/prod/p2');
  assert.equal(whole.resources.gpus, 4);
  assert.deepEqual(whole.constraints, {});
});

void test('simulateMaster() places each pod once through the master\'s pass and counts those no agent fits', () => {
  const cell = makePackingCell([node('a', 2, 'G2')], [pod('p0', 1, 1000), pod('p1', 1, 500), pod('p2', 1, 600)]);
  // 1000 + 500 fill device 0 and half of device 1; the 600 no longer fits on one device.
  const run = simulateMaster(cell, Int32Array.from([0, 1, 2]));
  assert.equal(run.pods, 3);
  assert.equal(run.failedPods, 1);
  assert.equal(run.arrivedPct, 105);
  assert.equal(run.allocatedPct, 75);
  // Read at 90% arrived (after p2: 2100 of 2000), at 100% and at the end.
  assert.deepEqual(run.unallocatedPct, [30, 30, 30]);
});

void test('simulateMaster() keeps a pod to the GPU models its gpu_spec names', () => {
  const nodes = [node('g2', 1, 'G2'), node('t4', 1, 'T4')];
  const cell = makePackingCell(nodes, [pod('t', 1, 1000, { gpuSpec: 'T4' }), pod('u', 1, 1000, { gpuSpec: 'T4' })]);
  const run = simulateMaster(cell, Int32Array.from([0, 1]));
  assert.equal(run.failedPods, 1, 'the second T4 pod finds the T4 taken and may not use the G2');
});

void test('simulateMaster() and simulateScorer() agree on a cell where every choice is the same', () => {
  const cell = makePackingCell([node('a', 4, 'G2', 64_000)], [pod('w', 1, 1000), pod('s', 1, 250)]);
  const arrivals = Int32Array.from([0, 1, 1, 0, 0, 1, 1, 0]);
  const master = simulateMaster(cell, arrivals);
  for (const policy of ['best-fit', 'fgd'] as const) {
    const research = simulateScorer(cell, arrivals, policy, 42);
    assert.deepEqual([research.failedPods, research.allocatedPct], [master.failedPods, master.allocatedPct], policy);
  }
});
