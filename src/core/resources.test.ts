import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  EMPTY,
  add,
  contains,
  countPorts,
  cpusToMilli,
  formatRanges,
  formatResources,
  fromView,
  gpusToMilli,
  isEmpty,
  isGpuAmount,
  parseRanges,
  parseResourceFlag,
  parseSize,
  roundGpus,
  satisfies,
  subtract,
  subtractRanges,
  takePorts,
  type Resources,
} from './resources.js';
import { MusterError } from './errors.js';

const r = (text: string): Resources => ({ ...EMPTY, ...parseResourceFlag(text) });

test('adding a tenth of a cpu ten times gives exactly one cpu', () => {
  let sum = EMPTY;
  for (let i = 0; i < 10; i++) sum = add(sum, r('cpus:0.1'));
  assert.equal(sum.cpusMilli, 1000);
  assert.ok(contains(r('cpus:1'), sum));
  assert.ok(contains(sum, r('cpus:1')));
  let left = r('cpus:1');
  for (let i = 0; i < 10; i++) left = subtract(left, r('cpus:0.1'));
  assert.equal(left.cpusMilli, 0);
});

test('cpusToMilli keeps three decimals without drift', () => {
  assert.equal(cpusToMilli(0.1 + 0.2), 300);
  assert.equal(cpusToMilli(1.005), 1005);
});

test('port ranges merge, subtract and count exactly', () => {
  assert.deepEqual(parseRanges('[31000-31005,31006-31010,100]'), [
    { begin: 100, end: 100 },
    { begin: 31000, end: 31010 },
  ]);
  assert.deepEqual(subtractRanges(parseRanges('[1-10]'), parseRanges('[3-4,8]')), parseRanges('[1-2,5-7,9-10]'));
  assert.equal(countPorts(parseRanges('[31000-31999]')), 1000);
  assert.equal(formatRanges(parseRanges('[5,1-3]')), '[1-3,5]');
});

test('takePorts picks the lowest free ports, or none when too few', () => {
  assert.deepEqual(takePorts(parseRanges('[10-11,20-25]'), 3), [10, 11, 20]);
  assert.equal(takePorts(parseRanges('[10-11]'), 3), undefined);
});

test('satisfies counts ports by number and contains checks each one', () => {
  const free = r('cpus:1;mem:100;ports:[31000-31001]');
  assert.ok(satisfies(free, { cpusMilli: 1000, memMiB: 100, diskMiB: 0, gpus: 0, ports: ['a', 'b'] }));
  assert.ok(!satisfies(free, { cpusMilli: 1000, memMiB: 100, diskMiB: 0, gpus: 0, ports: ['a', 'b', 'c'] }));
  assert.ok(!satisfies(free, { cpusMilli: 1001, memMiB: 1, diskMiB: 0, gpus: 0, ports: [] }));
  assert.ok(!contains(free, r('ports:[31002]')));
});

test('parseSize reads units and rounds up to whole MiB', () => {
  assert.deepEqual(parseSize('64MiB'), { mib: 64 });
  assert.deepEqual(parseSize('1.5GiB'), { mib: 1536 });
  assert.deepEqual(parseSize('512KiB'), { mib: 1 });
  assert.deepEqual(parseSize('1GB'), { mib: 954 });
  assert.deepEqual(parseSize(128), { mib: 128 });
  assert.ok('error' in parseSize('12 parsecs'));
  assert.ok('error' in parseSize('-5MiB'));
});

test('parseResourceFlag reads Mesos syntax and names the bad part', () => {
  assert.deepEqual(parseResourceFlag('cpus:2;mem:1GiB;disk:10;gpus:1;ports:[31000-31999]'), {
    cpusMilli: 2000,
    memMiB: 1024,
    diskMiB: 10,
    gpus: 1,
    ports: [{ begin: 31000, end: 31999 }],
  });
  assert.throws(() => parseResourceFlag('cpu:2'), (e: unknown) => e instanceof MusterError && /unknown resource "cpu"/.test(e.message));
  assert.throws(() => parseResourceFlag('ports:[70000-70001]'), /within 1-65535/);
  assert.throws(() => parseResourceFlag('cpus:-1'), /non-negative/);
});

test('adding a tenth of a GPU ten times gives exactly one GPU, and taking it away leaves none', () => {
  const tenth: Resources = { ...EMPTY, gpus: 0.1 };
  let sum = EMPTY;
  for (let i = 0; i < 10; i++) sum = add(sum, tenth);
  assert.equal(sum.gpus, 1);
  assert.equal(add(add(tenth, { ...EMPTY, gpus: 0.2 }), EMPTY).gpus, 0.3);
  let left: Resources = { ...EMPTY, gpus: 1 };
  for (let i = 0; i < 10; i++) left = subtract(left, tenth);
  assert.equal(left.gpus, 0);
  assert.ok(isEmpty(left));
  assert.equal(subtract({ ...EMPTY, gpus: 0.3 }, { ...EMPTY, gpus: 0.5 }).gpus, -0.2, 'overcommit shows, rounded');
});

test('contains and satisfies compare GPU shares at milli precision', () => {
  // 0.1 + 0.2 is 0.30000000000000004 in floating point: it must still hold a 0.3 share.
  const free: Resources = { ...EMPTY, gpus: 0.1 + 0.2 };
  assert.ok(contains(free, { ...EMPTY, gpus: 0.3 }));
  assert.ok(satisfies(free, { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0.3, ports: [] }));
  assert.ok(!satisfies(free, { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0.301, ports: [] }));
  assert.ok(!contains({ ...EMPTY, gpus: 0.5 }, { ...EMPTY, gpus: 1 }));
  assert.ok(satisfies({ ...EMPTY, gpus: 2 }, { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0.5, ports: [] }));
});

test('gpusToMilli and roundGpus keep three decimals of a device', () => {
  assert.equal(gpusToMilli(0.25), 250);
  assert.equal(gpusToMilli(0.1 + 0.2), 300);
  assert.equal(roundGpus(0.1 + 0.2), 0.3);
  assert.equal(roundGpus(2), 2);
});

test('isGpuAmount accepts whole devices and shares below one device, nothing else', () => {
  for (const ok of [0, 0.001, 0.5, 0.999, 1, 2, 8]) assert.ok(isGpuAmount(ok), String(ok));
  for (const bad of [-1, 1.5, 0.0001, Number.NaN, Infinity]) assert.ok(!isGpuAmount(bad), String(bad));
});

test('formatResources prints a GPU share as a decimal and leaves out no GPUs', () => {
  assert.equal(formatResources({ ...EMPTY, cpusMilli: 250, memMiB: 64, gpus: 0.5 }), '0.25 cpus, 64MiB mem, 0MiB disk, 0.5 gpus');
  assert.equal(formatResources({ ...EMPTY, gpus: 0.1 + 0.2 }), '0 cpus, 0MiB mem, 0MiB disk, 0.3 gpus');
  assert.equal(formatResources({ ...EMPTY, gpus: 2 }), '0 cpus, 0MiB mem, 0MiB disk, 2 gpus');
  assert.equal(formatResources(EMPTY), '0 cpus, 0MiB mem, 0MiB disk');
});

test('fromView rounds a GPU share read from the wire to milli', () => {
  assert.equal(fromView({ cpus: 0, mem: 0, disk: 0, gpus: 0.30000000000000004, ports: '[]' }).gpus, 0.3);
});

test('an agent offers whole GPUs: the --resources flag refuses a share', () => {
  assert.equal(parseResourceFlag('gpus:4').gpus, 4);
  assert.throws(() => parseResourceFlag('gpus:0.5'), (e: unknown) => e instanceof MusterError && /gpus "0.5" must be a whole/.test(e.message));
});
