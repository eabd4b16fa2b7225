import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { parseCall } from './call.js';
import { encodeStatusUuid, error, heartbeat, masterInfo, offer, offers, rescind, subscribed, update } from './events.js';
import { MAX_PROTOBUF_CALL_BYTES, decodeCall, decodeEvent, encodeEvent, mesosTypes } from './proto.js';
import type { Event } from './types.js';

const FID = { value: '12220-3440-12532-2345' };

/** callBytes is a Call as a protobuf client sends it, built from its JSON form with the same types. */
function callBytes(json: Record<string, unknown>): Uint8Array {
  const { call } = mesosTypes();
  return call.encode(call.fromObject(json)).finish();
}

/** sameCall checks that a call reads the same through protobuf as through JSON, and returns it. */
function sameCall(json: Record<string, unknown>): unknown {
  const decoded = decodeCall(callBytes(json));
  if (!decoded.ok) assert.fail(`expected the protobuf call to decode, got: ${decoded.message}`);
  const viaJson = parseCall(json);
  const viaProtobuf = parseCall(decoded.value);
  assert.ok(viaJson.ok, viaJson.ok ? '' : viaJson.message);
  assert.deepEqual(viaProtobuf, viaJson);
  return decoded.value;
}

test('decodeCall reads a MULTI_ROLE SUBSCRIBE as parseCall reads its JSON', () => {
  const value = sameCall({
    type: 'SUBSCRIBE',
    subscribe: {
      framework_info: {
        user: 'root',
        name: 'aurora',
        roles: ['web', 'batch'],
        capabilities: [{ type: 'MULTI_ROLE' }, { type: 'PARTITION_AWARE' }],
        failover_timeout: 604_800,
        checkpoint: true,
        principal: 'aurora',
        labels: { labels: [{ key: 'team', value: 'infra' }] },
      },
      suppressed_roles: ['batch'],
    },
  });
  // Only what the client set comes out: no proto defaults, no empty lists, enums by name.
  assert.deepEqual(value, {
    type: 'SUBSCRIBE',
    subscribe: {
      framework_info: {
        user: 'root',
        name: 'aurora',
        roles: ['web', 'batch'],
        capabilities: [{ type: 'MULTI_ROLE' }, { type: 'PARTITION_AWARE' }],
        failover_timeout: 604_800,
        checkpoint: true,
        principal: 'aurora',
        labels: { labels: [{ key: 'team', value: 'infra' }] },
      },
      suppressed_roles: ['batch'],
    },
  });
});

test('decodeCall reads an ACCEPT that launches a command task with scalars, port ranges and filters', () => {
  sameCall({
    framework_id: FID,
    type: 'ACCEPT',
    accept: {
      offer_ids: [{ value: 'O1' }, { value: 'O2' }],
      operations: [
        {
          type: 'LAUNCH',
          launch: {
            task_infos: [
              {
                name: 'web-1',
                task_id: { value: 'web-1' },
                agent_id: { value: 'S1' },
                resources: [
                  { name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 }, role: '*', allocation_info: { role: 'web' } },
                  { name: 'mem', type: 'SCALAR', scalar: { value: 128 } },
                  { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31001 }, { begin: 31005, end: 31005 }] } },
                ],
                command: {
                  value: 'python3 -m http.server $PORT0',
                  uris: [{ value: 'https://example.com/app.tgz', extract: false }],
                  environment: { variables: [{ name: 'MODE', value: 'prod' }] },
                },
                kill_policy: { grace_period: { nanoseconds: 5_000_000_000 } },
                health_check: { type: 'HTTP', http: { port: 31000, path: '/health', statuses: [200, 204] } },
                labels: { labels: [{ key: 'tier', value: 'frontend' }] },
                data: Buffer.from('opaque').toString('base64'),
              },
            ],
          },
        },
        { type: 'RESERVE', id: { value: 'op-1' } },
      ],
      filters: { refuse_seconds: 30 },
    },
  });
});

test('decodeCall reads a LAUNCH_GROUP and an UPDATE_FRAMEWORK as parseCall reads their JSON', () => {
  const task = { name: 't', task_id: { value: 't1' }, agent_id: { value: 'S1' }, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 } }] };
  sameCall({
    framework_id: FID,
    type: 'ACCEPT',
    accept: {
      offer_ids: [{ value: 'O1' }],
      operations: [
        {
          type: 'LAUNCH_GROUP',
          launch_group: {
            executor: { type: 'DEFAULT', executor_id: { value: 'E1' }, resources: [{ name: 'mem', type: 'SCALAR', scalar: { value: 32 } }] },
            task_group: { tasks: [task, { ...task, task_id: { value: 't2' } }] },
          },
        },
      ],
    },
  });
  sameCall({
    framework_id: FID,
    type: 'UPDATE_FRAMEWORK',
    update_framework: { framework_info: { user: 'u', name: 'n', id: FID, roles: ['a'], capabilities: [{ type: 'MULTI_ROLE' }] } },
  });
});

test('decodeCall reads ACKNOWLEDGE, its uuid bytes as the base64 JSON carries', () => {
  const uuid = encodeStatusUuid(randomUUID());
  const value = sameCall({
    framework_id: FID,
    type: 'ACKNOWLEDGE',
    acknowledge: { agent_id: { value: 'S1' }, task_id: { value: 'web-1' }, uuid },
  });
  assert.deepEqual(value, { framework_id: FID, type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: 'S1' }, task_id: { value: 'web-1' }, uuid } });
});

test('decodeCall reads KILL, RECONCILE and DECLINE as parseCall reads their JSON', () => {
  sameCall({ framework_id: FID, type: 'KILL', kill: { task_id: { value: 'web-1' }, agent_id: { value: 'S1' }, kill_policy: { grace_period: { nanoseconds: 1e9 } } } });
  sameCall({ framework_id: FID, type: 'KILL', kill: { task_id: { value: 'web-1' } } });
  sameCall({ framework_id: FID, type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'web-1' }, agent_id: { value: 'S1' } }, { task_id: { value: 'web-2' } }] } });
  // Implicit reconciliation: an empty list is no field at all on the wire.
  sameCall({ framework_id: FID, type: 'RECONCILE', reconcile: { tasks: [] } });
  sameCall({ framework_id: FID, type: 'DECLINE', decline: { offer_ids: [{ value: 'O1' }], filters: { refuse_seconds: 3600 } } });
  sameCall({ framework_id: FID, type: 'DECLINE', decline: { offer_ids: [{ value: 'O1' }] } });
  sameCall({ framework_id: FID, type: 'REVIVE', revive: { roles: ['web'] } });
  sameCall({ framework_id: FID, type: 'TEARDOWN' });
});

test('decodeCall reads the field numbers of scheduler.proto', () => {
  // TEARDOWN of framework "f", by hand: field 1 (framework_id) {field 1 "f"}, field 2 (type) = 2.
  const decoded = decodeCall(Uint8Array.from([0x0a, 0x03, 0x0a, 0x01, 0x66, 0x10, 0x02]));
  assert.deepEqual(decoded, { ok: true, value: { framework_id: { value: 'f' }, type: 'TEARDOWN' } });
});

test('decodeCall drops an enum value the proto does not name, as Mesos does', () => {
  const decoded = decodeCall(
    callBytes({
      type: 'SUBSCRIBE',
      subscribe: { framework_info: { user: 'u', name: 'n', capabilities: [{ type: 99 }, { type: 'MULTI_ROLE' }], roles: ['r'] } },
    }),
  );
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.value, {
    type: 'SUBSCRIBE',
    subscribe: { framework_info: { user: 'u', name: 'n', capabilities: [{}, { type: 'MULTI_ROLE' }], roles: ['r'] } },
  });
  // The same as a JSON client naming a capability this version does not know.
  const json = { type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u', name: 'n', capabilities: [{ type: 'NEW_IN_MESOS_2' }, { type: 'MULTI_ROLE' }], roles: ['r'] } } };
  assert.deepEqual(parseCall(decoded.value), parseCall(json));
  // On a required enum the value is missing, which parseCall refuses as it refuses a JSON call without a type.
  const noType = decodeCall(callBytes({ framework_id: FID, type: 99 }));
  assert.ok(noType.ok);
  assert.deepEqual(noType.value, { framework_id: FID });
  assert.deepEqual(parseCall(noType.value), parseCall({ framework_id: FID }));
});

test('decodeCall refuses garbage, truncated input and a missing required field without throwing', () => {
  for (const bytes of [
    Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    Buffer.from('{"type":"SUBSCRIBE"}'),
    callBytes({ framework_id: FID, type: 'TEARDOWN' }).subarray(0, 4),
    // Nested start-group tags deep enough to exhaust the stack.
    new Uint8Array(1_000_000).fill(0x0b),
  ]) {
    const decoded = decodeCall(bytes);
    assert.equal(decoded.ok, false);
    assert.ok(!decoded.ok && decoded.message.startsWith('Failed to parse the body into a Call protobuf'), !decoded.ok ? decoded.message : '');
  }
  // Acknowledge.uuid is required, and Mesos cannot parse a call without it either. By hand, as the
  // encoder always writes a required field: framework_id "f", type 8, acknowledge {agent_id "S1",
  // task_id "t"}.
  const noUuid = decodeCall(Buffer.from('0a030a01661008420b0a040a02533112030a0174', 'hex'));
  assert.deepEqual(noUuid, { ok: false, message: "Failed to parse the body into a Call protobuf: missing required 'uuid'" });
});

test('decodeCall refuses a body over MAX_PROTOBUF_CALL_BYTES before reading it', () => {
  const decoded = decodeCall(new Uint8Array(MAX_PROTOBUF_CALL_BYTES + 1));
  assert.ok(!decoded.ok);
  assert.match(decoded.message, /more than the 16777216/);
});

// ---- events ---------------------------------------------------------------------------------

/**
 * withoutEmptyLists is an event as it reads back from protobuf, which cannot tell an empty
 * repeated field from an absent one.
 */
function withoutEmptyLists(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutEmptyLists);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (!(Array.isArray(v) && v.length === 0)) out[k] = withoutEmptyLists(v);
  return out;
}

function roundTrip(event: Event): void {
  const decoded = decodeEvent(encodeEvent(event));
  if (!decoded.ok) assert.fail(decoded.message);
  assert.deepEqual(decoded.value, withoutEmptyLists(event));
}

test('encodeEvent writes SUBSCRIBED, OFFERS, UPDATE, RESCIND, ERROR and HEARTBEAT that decode back the same', () => {
  const master = masterInfo({ id: 'm1', hostname: 'master.example', ip: '10.0.0.1', port: 5050, version: '0.1.0' });
  roundTrip(subscribed('F1', 15, master));
  roundTrip(subscribed('F1', 15));
  roundTrip(
    offers([
      offer({
        id: 'O1',
        frameworkId: 'F1',
        agentId: 'S1',
        hostname: 'agent1',
        role: 'web',
        resources: { cpusMilli: 2000, memMiB: 1024, diskMiB: 4096, gpus: 0, ports: [{ begin: 31000, end: 31999 }] },
        attributes: { rack: 'r1', zone: 'z2' },
        agentAddress: { ip: '10.0.0.7', port: 5051 },
      }),
    ]),
  );
  roundTrip(
    update({
      taskId: 'web-1',
      state: 'TASK_FAILED',
      uuid: randomUUID(),
      timestampMs: 1_700_000_000_123,
      source: 'SOURCE_EXECUTOR',
      reason: 'REASON_CONTAINER_LIMITATION_MEMORY',
      message: 'out of memory',
      agentId: 'S1',
      executorId: 'web-1',
      healthy: false,
      labels: [{ key: 'k', value: 'v' }],
      data: Buffer.from([0, 1, 2, 255]),
    }),
  );
  roundTrip(update({ taskId: 'web-2', state: 'TASK_LOST', source: 'SOURCE_MASTER', reason: 'REASON_RECONCILIATION' }));
  roundTrip(rescind('O1'));
  roundTrip(error('Framework failed over'));
  roundTrip(heartbeat());
});

test('encodeEvent writes the field numbers and types of scheduler.proto and mesos.proto', () => {
  // HEARTBEAT: field 1 (type), varint 8.
  assert.deepEqual([...encodeEvent(heartbeat())], [0x08, 0x08]);
  // UPDATE: the uuid goes out as its 16 bytes, the state by number, the timestamp as a double.
  const uuid = randomUUID();
  const { event } = mesosTypes();
  const raw = event.decode(encodeEvent(update({ taskId: 't', state: 'TASK_RUNNING', uuid, timestampMs: 1500 }))) as unknown as {
    type: number;
    update: { status: { state: number; uuid: Uint8Array; timestamp: number } };
  };
  assert.equal(raw.type, 4);
  assert.equal(raw.update.status.state, 1);
  assert.equal(Buffer.from(raw.update.status.uuid).toString('hex'), uuid.replaceAll('-', ''));
  assert.equal(raw.update.status.timestamp, 1.5);
});
