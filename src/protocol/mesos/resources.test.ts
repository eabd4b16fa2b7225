import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resources } from '../../core/index.js';
import { parseCall } from './call.js';
import { fromMesosResources, mesosResourcesObject, toMesosResources } from './resources.js';
import type { Resource } from './types.js';

const R: Resources = { cpusMilli: 1500, memMiB: 2048, diskMiB: 10240, gpus: 1, ports: [{ begin: 31000, end: 31001 }, { begin: 31005, end: 31005 }] };

function scalar(name: string, value: number): Resource {
  return { name, type: 'SCALAR', scalar: { value } };
}

function from(list: Resource[]): Resources {
  const r = fromMesosResources(list);
  if (!r.ok) assert.fail(`${r.field}: ${r.message}`);
  return r.resources;
}

function refused(list: Resource[], field: string, message: RegExp): void {
  const r = fromMesosResources(list);
  if (r.ok) assert.fail(`expected ${field} to be refused`);
  assert.equal(r.field, field, r.message);
  assert.match(r.message, message);
}

test('toMesosResources lists cpus in cores, mem and disk in MiB, gpus and ports as RANGES, unreserved', () => {
  assert.deepEqual(toMesosResources(R), [
    { name: 'cpus', type: 'SCALAR', scalar: { value: 1.5 }, role: '*' },
    { name: 'mem', type: 'SCALAR', scalar: { value: 2048 }, role: '*' },
    { name: 'disk', type: 'SCALAR', scalar: { value: 10240 }, role: '*' },
    { name: 'gpus', type: 'SCALAR', scalar: { value: 1 }, role: '*' },
    { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31001 }, { begin: 31005, end: 31005 }] }, role: '*' },
  ]);
});

test('toMesosResources sets allocation_info for the role an offer is made to, and leaves out zero and negative amounts', () => {
  const r: Resources = { cpusMilli: 250, memMiB: 0, diskMiB: -5, gpus: 0, ports: [] };
  assert.deepEqual(toMesosResources(r, 'web', 'web/team'), [
    { name: 'cpus', type: 'SCALAR', scalar: { value: 0.25 }, role: 'web', allocation_info: { role: 'web/team' } },
  ]);
  assert.deepEqual(toMesosResources({ cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [] }), []);
});

test('fromMesosResources round-trips what toMesosResources makes', () => {
  const cases: Resources[] = [
    R,
    { cpusMilli: 1, memMiB: 1, diskMiB: 0, gpus: 0.5, ports: [] },
    { cpusMilli: 64_000, memMiB: 1_048_576, diskMiB: 4_194_304, gpus: 8, ports: [{ begin: 1, end: 65535 }] },
    { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [] },
  ];
  for (const r of cases) assert.deepEqual(from(toMesosResources(r, '*', 'any')), r);
});

test('fromMesosResources sums entries of one name whatever their role, and merges ports', () => {
  const got = from([
    scalar('cpus', 0.5),
    { ...scalar('cpus', 0.25), role: 'web', allocation_info: { role: 'web' } },
    scalar('mem', 64),
    scalar('mem', 64),
    { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31002, end: 31005 }, { begin: 31000, end: 31001 }] } },
    { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31004, end: 31010 }, { begin: 32000, end: 32000 }] } },
  ]);
  assert.deepEqual(got, { cpusMilli: 750, memMiB: 128, diskMiB: 0, gpus: 0, ports: [{ begin: 31000, end: 31010 }, { begin: 32000, end: 32000 }] });
});

test('fromMesosResources rounds cpus up to the milli-core and mem and disk up to the MiB, without float drift', () => {
  assert.equal(from([scalar('cpus', 0.0001)]).cpusMilli, 1);
  assert.equal(from([scalar('cpus', 0.1), scalar('cpus', 0.2)]).cpusMilli, 300);
  assert.equal(from([scalar('cpus', 1.0005)]).cpusMilli, 1001);
  assert.equal(from([scalar('mem', 127.2)]).memMiB, 128);
  assert.equal(from([scalar('disk', 0.5)]).diskMiB, 1);
  assert.equal(from([scalar('gpus', 0.1), scalar('gpus', 0.2)]).gpus, 0.3);
});

test('fromMesosResources refuses negative, non-finite and too-large amounts, naming the entry', () => {
  refused([scalar('mem', 1), scalar('cpus', -1)], 'resources[1].scalar.value', /at least 0/);
  refused([scalar('cpus', NaN)], 'resources[0].scalar.value', /finite/);
  refused([scalar('disk', Infinity)], 'resources[0].scalar.value', /finite/);
  refused([scalar('cpus', 1e300)], 'resources', /cpus 1e\+300 is too large/);
  refused([scalar('gpus', 1.5)], 'resources', /gpus 1.5 must be whole devices/);
  refused([scalar('gpus', 0.0005)], 'resources', /at most 3 decimals/);
});

test('fromMesosResources refuses resources Muster does not have, naming them all', () => {
  refused(
    [scalar('cpus', 1), { name: 'network_bandwidth', type: 'SCALAR', scalar: { value: 10 } }, { name: 'zones', type: 'SET', set: { item: ['a'] } }, scalar('network_bandwidth', 1)],
    'resources[1].name',
    /no resource "network_bandwidth", "zones"; it offers cpus, mem, disk, gpus and ports/,
  );
});

test('fromMesosResources refuses a resource of the wrong type and ports outside 1-65535 or reversed', () => {
  refused([{ name: 'cpus', type: 'RANGES', ranges: { range: [] } }], 'resources[0].type', /SCALAR/);
  refused([{ name: 'ports', type: 'SCALAR', scalar: { value: 31000 } }], 'resources[0].type', /RANGES/);
  const ports = (begin: number, end: number): Resource[] => [{ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31000 }, { begin, end }] } }];
  refused(ports(0, 10), 'resources[0].ranges.range[1]', /1-65535/);
  refused(ports(65000, 65536), 'resources[0].ranges.range[1]', /1-65535/);
  refused(ports(32000, 31999), 'resources[0].ranges.range[1]', /low to high/);
  assert.deepEqual(from(ports(65535, 65535)).ports, [{ begin: 31000, end: 31000 }, { begin: 65535, end: 65535 }]);
});

test('fromMesosResources names the path it is given, so a call error points into the TaskInfo', () => {
  const parsed = parseCall({
    framework_id: { value: 'F' },
    type: 'ACCEPT',
    accept: {
      operations: [
        {
          type: 'LAUNCH',
          launch: { task_infos: [{ name: 't', task_id: { value: 't' }, agent_id: { value: 'S' }, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: '-0.5' } }] }] },
        },
      ],
    },
  });
  assert.ok(parsed.ok && parsed.call.type === 'ACCEPT');
  const op = parsed.call.accept.operations[0];
  assert.ok(op?.type === 'LAUNCH' && op.launch.task_infos[0] !== undefined);
  const r = fromMesosResources(op.launch.task_infos[0].resources, 'accept.operations[0].launch.task_infos[0].resources');
  assert.deepEqual(r.ok ? undefined : r.field, 'accept.operations[0].launch.task_infos[0].resources[0].scalar.value');
});

test('mesosResourcesObject is the /master/state form, ports as "[a-b, c-d]"', () => {
  assert.deepEqual(mesosResourcesObject(R), { cpus: 1.5, mem: 2048, disk: 10240, gpus: 1, ports: '[31000-31001, 31005-31005]' });
  assert.deepEqual(mesosResourcesObject({ cpusMilli: 100, memMiB: 32, diskMiB: 0, gpus: 0, ports: [] }), { cpus: 0.1, mem: 32, disk: 0, gpus: 0 });
});
