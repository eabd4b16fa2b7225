import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ago, describeEvent, diffConfigs, dnsNames, dominantShare, duration, formatBytes, formatMiB, pageWindow, percent, toneOf } from './format.js';

test('formatMiB() and formatBytes() write sizes as job configs do', () => {
  assert.equal(formatMiB(512), '512MiB');
  assert.equal(formatMiB(1536), '1.5GiB');
  assert.equal(formatMiB(2 * 1024 * 1024), '2TiB');
  assert.equal(formatBytes(100), '100B');
  assert.equal(formatBytes(12 * 1024), '12KiB');
  assert.equal(formatBytes(3.5 * 1024 * 1024), '3.5MiB');
});

test('percent() is bounded, and 0 of nothing', () => {
  assert.equal(percent(1, 4), 25);
  assert.equal(percent(5, 4), 100);
  assert.equal(percent(1, 0), 0);
});

test('ago() and duration() read as a person says them', () => {
  assert.equal(duration(850), '850ms');
  assert.equal(duration(200_000), '3m 20s');
  assert.equal(duration(26 * 3600_000), '1d 2h');
  assert.equal(ago(10_000, 5_000), '5s ago');
  assert.equal(ago(5_000, 10_000), 'in 5s');
  assert.equal(ago(5_000, undefined), '');
});

test('pageWindow() pages a list: bounds, neighbours, and an offset past the end brought back', () => {
  assert.deepEqual(pageWindow(250, 0, 100), { from: 1, to: 100, total: 250, page: 1, pages: 3, prevOffset: undefined, nextOffset: 100, lastOffset: 200 });
  assert.deepEqual(pageWindow(250, 200, 100), { from: 201, to: 250, total: 250, page: 3, pages: 3, prevOffset: 100, nextOffset: undefined, lastOffset: 200 });
  assert.equal(pageWindow(250, 900, 100).page, 3, 'an offset beyond the last page shows the last page');
  assert.deepEqual(pageWindow(0, 0, 50), { from: 0, to: 0, total: 0, page: 1, pages: 1, prevOffset: undefined, nextOffset: undefined, lastOffset: 0 });
});

test('toneOf() shows an unhealthy running task as bad, not green', () => {
  assert.equal(toneOf('TASK_RUNNING'), 'good');
  assert.equal(toneOf('TASK_RUNNING', true), 'good');
  assert.equal(toneOf('TASK_RUNNING', false), 'bad');
  assert.equal(toneOf('PENDING'), 'wait');
  assert.equal(toneOf('UNREACHABLE'), 'bad');
  assert.equal(toneOf('something new'), 'idle');
});

test('describeEvent() is one line per event, naming the job or task', () => {
  assert.equal(describeEvent({ index: 1, at: 0, type: 'JobCreated', spec: { job: 'web/prod/a', instances: 2 } }), 'job web/prod/a created, 2 instances');
  assert.equal(describeEvent({ index: 2, at: 0, type: 'TaskStatusUpdated', status: { taskId: 't1', state: 'TASK_RUNNING' } }), 't1 RUNNING');
  assert.equal(describeEvent({ index: 3, at: 0, type: 'SomethingElse', job: 'a/b/c' }), 'SomethingElse a/b/c');
});

test('diffConfigs() lists the leaf fields that changed, by path', () => {
  const a = { job: 'a/b/c', instances: 2, resources: { cpus: 0.5, mem: 64 }, processes: [{ name: 'x', cmd: 'sleep 1' }] };
  const b = { job: 'a/b/c', instances: 3, resources: { cpus: 0.5, mem: 128 }, processes: [{ name: 'x', cmd: 'sleep 2' }], tier: 'preferred' };
  assert.deepEqual(diffConfigs(a, b), [
    { field: 'instances', from: 2, to: 3 },
    { field: 'processes[0].cmd', from: 'sleep 1', to: 'sleep 2' },
    { field: 'resources.mem', from: 64, to: 128 },
    { field: 'tier', from: undefined, to: 'preferred' },
  ]);
  assert.deepEqual(diffConfigs(a, a), []);
});

test('dominantShare() is the largest part of the cell a role holds', () => {
  assert.equal(dominantShare({ cpus: 2, mem: 1024, disk: 0 }, { cpus: 8, mem: 2048, disk: 100 }), 0.5);
  assert.equal(dominantShare({ cpus: 1, mem: 0, disk: 0 }, { cpus: 0, mem: 0, disk: 0 }), 0);
});

test('dnsNames() are the names the DNS server answers for a job', () => {
  assert.deepEqual(dnsNames('web/prod/hello', 'muster', ['http']), ['hello.prod.web.muster.', '0.hello.prod.web.muster.', '_http._tcp.hello.prod.web.muster.']);
});
