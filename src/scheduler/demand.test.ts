import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GpuDemand, HALF_LIFE, MAX_SHAPES } from './demand.js';
import { GpuMix } from './scoring.js';
import type { PendingTask } from './types.js';

function pending(key: string, gpus: number, cpusMilli = 4000, memMiB = 16384): PendingTask {
  return {
    key,
    job: key.split('/').slice(0, 3).join('/'),
    instance: 0,
    role: 'ml',
    request: { cpusMilli, memMiB, diskMiB: 0, gpus, ports: [] },
    constraints: {},
    tier: 'preferred',
    priority: 0,
    spreadBy: 'host',
    mayPreempt: false,
  };
}

/** usableFor is how much of an agent's free GPU (8 whole devices, ample cpu and mem) the demand's mix counts usable. */
function usableOfEight(d: GpuDemand): number {
  const mix = new GpuMix();
  d.addTo(mix);
  const eight = new Int32Array(8).fill(1000);
  return 8000 - mix.fragmentation(64_000, 512 * 1024, eight);
}

void test('GpuDemand counts a GPU task once however many passes it stays pending, and ignores tasks without GPUs', () => {
  const d = new GpuDemand();
  const a = pending('ml/prod/a/0', 1);
  const b = pending('ml/prod/b/0', 8);
  const cpuOnly = pending('web/prod/c/0', 0);
  d.observe([a, cpuOnly]);
  d.observe([a, b, cpuOnly]);
  d.observe([a, b]);
  assert.equal(d.arrivals, 2);
  assert.equal(d.size, 2);
  // a left (placed) and came back pending (its task failed): a new arrival.
  d.observe([b]);
  d.observe([a, b]);
  assert.equal(d.arrivals, 3);
});

void test('GpuDemand weighs shapes by how often they arrived: an 8-GPU shape seen once in two keeps half an 8-GPU machine usable', () => {
  const d = new GpuDemand();
  const mix = new GpuMix();
  d.addTo(mix);
  assert.ok(mix.empty, 'no arrival, no mix');
  d.arrive(4000, 16384, 8);
  d.arrive(4000, 16384, 0.5);
  // A 4-GPU machine's worth used: 8-GPU tasks can use none of what is left; shares can use all.
  const m = new GpuMix();
  d.addTo(m);
  assert.equal(m.size, 2);
  const half = new Int32Array([1000, 1000, 1000, 1000, 0, 0, 0, 0]);
  assert.equal(Math.round(m.fragmentation(64_000, 512 * 1024, half)), 2000);
  assert.equal(Math.round(usableOfEight(d)), 8000);
});

void test('GpuDemand forgets old arrivals: a shape last asked HALF_LIFE arrivals ago weighs half of what it did', () => {
  const d = new GpuDemand();
  d.arrive(4000, 16384, 8);
  d.arrive(4000, 16384, 1);
  const mix = new GpuMix();
  d.addTo(mix);
  // 8-GPU and 1-GPU shapes, half each: on a machine with 4 whole GPUs left, the 1-GPU half uses them.
  const four = new Int32Array([1000, 1000, 1000, 1000, 0, 0, 0, 0]);
  assert.equal(Math.round(mix.fragmentation(64_000, 512 * 1024, four)), 2000);
  for (let i = 0; i < HALF_LIFE; i++) d.arrive(4000, 16384, 1);
  const later = new GpuMix();
  d.addTo(later);
  // The 8-GPU shape now weighs 0.5 against 1 + HALF_LIFE arrivals of 1 GPU, halved over the run on average.
  const unusable = later.fragmentation(64_000, 512 * 1024, four);
  assert.ok(unusable > 0 && unusable < 4000 * 0.001, `unusable ${unusable}`);
});

void test('GpuDemand keeps at most MAX_SHAPES shapes, letting the lightest go', () => {
  const d = new GpuDemand();
  for (let i = 0; i < MAX_SHAPES + 50; i++) d.arrive(1000 + i, 1024, 1);
  assert.equal(d.size, MAX_SHAPES);
  // The newest shape is kept; weights stay finite after many arrivals (rescaled, not overflowing).
  for (let i = 0; i < 200_000; i++) d.arrive(2000, 2048, 0.25);
  const mix = new GpuMix();
  d.addTo(mix);
  assert.ok(Number.isFinite(mix.fragmentation(8000, 8192, new Int32Array([1000]))));
});
