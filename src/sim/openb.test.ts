import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MusterError } from '../core/index.js';
import {
  loadOpenbNodes,
  loadOpenbPods,
  mulberry32,
  openbArrivals,
  openbDir,
  parseOpenbNodes,
  parseOpenbPods,
  podGpuMilli,
  shuffle,
  tracesDir,
} from './index.js';

const dir = openbDir();

void test('loadOpenbNodes() reads the 1,213 GPU nodes and their 6,212 GPUs', () => {
  const nodes = loadOpenbNodes('gpu_node', dir);
  assert.equal(nodes.length, 1213);
  assert.equal(nodes.reduce((a, n) => a + n.gpus, 0), 6212);
  assert.deepEqual(nodes[0], { sn: 'openb-node-0000', cpuMilli: 64000, memMiB: 262144, gpus: 2, model: 'P100' });
  assert.deepEqual([...new Set(nodes.map((n) => n.model))].sort(), ['A10', 'G2', 'G3', 'P100', 'T4', 'V100M16', 'V100M32']);
});

void test('loadOpenbNodes() reads the whole cell too, machines without GPUs having no model', () => {
  const nodes = loadOpenbNodes('all_node', dir);
  assert.equal(nodes.length, 1523);
  assert.equal(nodes.filter((n) => n.gpus === 0 && n.model === '').length, 1523 - 1213);
});

void test('loadOpenbPods() reads every pod list, the short multigpu50 one included', () => {
  const rows = { default: 8152, cpu050: 7439, gpuspec33: 8152, multigpu50: 9061 };
  for (const [list, count] of Object.entries(rows)) assert.equal(loadOpenbPods(list, dir).length, count, list);
  const pods = loadOpenbPods('default', dir);
  assert.deepEqual(pods[1], {
    name: 'openb-pod-0001',
    cpuMilli: 6000,
    memMiB: 12288,
    numGpu: 1,
    gpuMilli: 460,
    gpuSpec: '',
    qos: 'LS',
    podPhase: 'Running',
    creationTime: 427061,
    deletionTime: 12902960,
    scheduledTime: 427061,
  });
  assert.equal(pods.filter((p) => p.scheduledTime === undefined).length, 897, 'pending pods have no scheduled_time');
  const multi = loadOpenbPods('multigpu50', dir);
  assert.deepEqual(multi[0], { name: 'openb-pod-0000', cpuMilli: 12000, memMiB: 16384, numGpu: 1, gpuMilli: 1000, gpuSpec: '', qos: '', podPhase: '' });
  const spec = loadOpenbPods('gpuspec33', dir).filter((p) => p.gpuSpec !== '');
  assert.equal(spec.length, 8152 - 5764);
  assert.ok(spec.some((p) => p.gpuSpec === 'V100M16|V100M32'));
});

void test('parseOpenbPods() names the file, line and field of a malformed row', () => {
  const header = 'name,cpu_milli,memory_mib,num_gpu,gpu_milli\n';
  const bad = (body: string, message: RegExp): void => {
    assert.throws(() => parseOpenbPods(header + body, 'pods.csv'), (err: unknown) => err instanceof MusterError && err.code === 'INVALID_ARGUMENT' && message.test(err.message));
  };
  bad('p0,1000,64,1,500\np1,abc,64,1,500\n', /^pods\.csv:3: field cpu_milli is "abc", not a whole number$/);
  bad('p0,1000,64,1\n', /^pods\.csv:2: 4 fields, the header has 5$/);
  bad('p0,1000,64,1,1500\n', /gpu_milli is "1500", outside 0\.\.1000/);
  bad('p0,1000,64,2,500\n', /pods\.csv:2: field gpu_milli is "500", but a pod of 2 GPUs takes them whole/);
  bad('p0,1000,64,0,500\n', /but num_gpu is 0/);
  bad('p0,-5,64,1,500\n', /field cpu_milli is "-5", not a whole number/);
  bad('"p0",1000,64,1,500\n', /quoted fields are not supported/);
  assert.throws(() => parseOpenbPods('name,cpu_milli\np0,1\n', 'x.csv'), /x\.csv:1: the header lacks column memory_mib/);
  assert.throws(() => parseOpenbPods(header.replace('\n', ',color\n') + 'p0,1,1,0,0,red\n', 'x.csv'), /unknown column "color"/);
  assert.throws(() => parseOpenbPods('name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\np0,1,1,1,1000,T4||G2\n'), /field gpu_spec is "T4\|\|G2", not GPU models/);
});

void test('parseOpenbNodes() wants a model exactly for nodes with GPUs', () => {
  const header = 'sn,cpu_milli,memory_mib,gpu,model\n';
  assert.deepEqual(parseOpenbNodes(`${header}n0,8000,1024,2,T4\r\nn1,8000,1024,0,\r\n`), [
    { sn: 'n0', cpuMilli: 8000, memMiB: 1024, gpus: 2, model: 'T4' },
    { sn: 'n1', cpuMilli: 8000, memMiB: 1024, gpus: 0, model: '' },
  ]);
  assert.throws(() => parseOpenbNodes(`${header}n0,8000,1024,2,\n`, 'n.csv'), /n\.csv:2: field model is "", but the node has 2 GPUs of no model/);
  assert.throws(() => parseOpenbNodes(`${header}n0,8000,1024,65,T4\n`), /field gpu is "65", outside 0\.\.64/);
});

void test('loadOpenbPods() takes list names only, never a path, and says where it looked', () => {
  const empty = mkdtempSync(join(tmpdir(), 'muster-openb-'));
  try {
    assert.throws(() => loadOpenbPods('../../etc/passwd', empty), /is not a list name/);
    assert.throws(() => loadOpenbPods('default', empty), (err: unknown) => err instanceof MusterError && err.code === 'NOT_FOUND' && err.message.includes(empty));
    writeFileSync(join(empty, 'openb_pod_list_tiny.csv'), 'name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,64,1,250\n');
    assert.deepEqual(loadOpenbPods('tiny', empty), [{ name: 'p0', cpuMilli: 1000, memMiB: 64, numGpu: 1, gpuMilli: 250, gpuSpec: '', qos: '', podPhase: '' }]);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

void test('tracesDir() prefers MUSTER_TRACES and otherwise reads the repository\'s own traces/', () => {
  assert.equal(tracesDir({ MUSTER_TRACES: '/data/traces' }), '/data/traces');
  assert.equal(tracesDir({}, '/src/muster'), '/src/muster/traces');
  assert.equal(openbDir({}, '/src/muster'), '/src/muster/traces/alibaba-openb');
});

void test('mulberry32() gives the same sequence for the same seed and another for another seed', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const c = mulberry32(43);
  const xs = Array.from({ length: 100 }, () => a());
  assert.deepEqual(Array.from({ length: 100 }, () => b()), xs);
  assert.notDeepEqual(Array.from({ length: 100 }, () => c()), xs);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.deepEqual(shuffle([1, 2, 3, 4, 5, 6, 7, 8], mulberry32(7)), shuffle([1, 2, 3, 4, 5, 6, 7, 8], mulberry32(7)));
});

void test('openbArrivals() shuffles the list, then clones pods until the next would pass 1.3 × capacity', () => {
  const pods = loadOpenbPods('default', dir);
  const capacityGpuMilli = 6212 * 1000;
  const options = { seed: 42, capacityGpuMilli, ratio: 1.3 };
  const order = openbArrivals(pods, options);
  assert.deepEqual(openbArrivals(pods, options), order, 'same seed, same sequence');
  assert.notDeepEqual(openbArrivals(pods, { ...options, seed: 43 }), order);
  // The whole list first, each pod once, in a shuffled order.
  const head = Array.from(order.subarray(0, pods.length));
  assert.equal(new Set(head).size, pods.length);
  assert.notDeepEqual(head.slice(0, 50), Array.from({ length: 50 }, (_, i) => i));
  let arrived = 0;
  for (const i of order) arrived += podGpuMilli(pods[i] as (typeof pods)[number]);
  assert.ok(arrived <= 1.3 * capacityGpuMilli);
  assert.ok(arrived > 1.3 * capacityGpuMilli - 8000, 'stops only when the next pod would pass the limit');

  // A list larger than the limit is cut short instead.
  const multi = loadOpenbPods('multigpu50', dir);
  const cut = openbArrivals(multi, options);
  assert.ok(cut.length < multi.length);
  assert.equal(new Set(cut).size, cut.length);
});

void test('openbArrivals() refuses an empty list and nonsense limits', () => {
  const pod = { name: 'p', cpuMilli: 1, memMiB: 1, numGpu: 1, gpuMilli: 500, gpuSpec: '', qos: '', podPhase: '' };
  assert.throws(() => openbArrivals([], { seed: 1, capacityGpuMilli: 1000, ratio: 1 }), /empty/);
  assert.throws(() => openbArrivals([pod], { seed: 1, capacityGpuMilli: 0, ratio: 1 }), /must be positive/);
  assert.throws(() => openbArrivals([{ ...pod, numGpu: 0, gpuMilli: 0 }], { seed: 1, capacityGpuMilli: 1000, ratio: 1 }), /no pod of the list asks for a GPU/);
  assert.deepEqual(Array.from(openbArrivals([pod], { seed: 1, capacityGpuMilli: 1000, ratio: 1.3 })), [0, 0]);
});
