import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { TASK_REASONS, TASK_STATES } from '../../core/index.js';
import { RecordIODecoder } from '../recordio.js';
import {
  encodeEvent,
  encodeStatusUuid,
  error,
  failure,
  heartbeat,
  masterInfo,
  mesosReason,
  message,
  offer,
  offers,
  rescind,
  subscribed,
  update,
  updateOperationStatus,
} from './events.js';
import { MESOS_TASK_REASONS, MESOS_TASK_STATES } from './types.js';

test('subscribed is the SUBSCRIBED event of the Mesos docs, with master_info when given', () => {
  assert.deepEqual(subscribed('12220-3440-12532-2345', 15), {
    type: 'SUBSCRIBED',
    subscribed: { framework_id: { value: '12220-3440-12532-2345' }, heartbeat_interval_seconds: 15 },
  });
  const info = masterInfo({ id: 'm1', hostname: 'master.example', ip: '127.0.0.1', port: 5050, version: '0.1.0' });
  assert.deepEqual(info, {
    id: 'm1',
    ip: 16777343,
    port: 5050,
    pid: 'master@127.0.0.1:5050',
    hostname: 'master.example',
    version: '0.1.0',
    address: { hostname: 'master.example', ip: '127.0.0.1', port: 5050 },
  });
  assert.equal(masterInfo({ id: 'm', hostname: 'h', ip: '10.0.0.255', port: 1 }).ip, 0xff00000a);
  assert.equal(masterInfo({ id: 'm', hostname: 'h', ip: '::1', port: 1 }).ip, 0);
  const event = subscribed('F', 15, info);
  assert.ok(event.type === 'SUBSCRIBED');
  assert.equal(event.subscribed.master_info, info);
});

test('offer and offers make the OFFERS event, resources unreserved and allocated to the role', () => {
  const o = offer({
    id: 'O1',
    frameworkId: 'F',
    agentId: 'S1',
    hostname: 'agent1',
    role: 'web',
    resources: { cpusMilli: 2000, memMiB: 1024, diskMiB: 0, gpus: 0, ports: [{ begin: 31000, end: 31999 }] },
    attributes: { rack: 'r1' },
  });
  assert.deepEqual(offers([o]), {
    type: 'OFFERS',
    offers: {
      offers: [
        {
          id: { value: 'O1' },
          framework_id: { value: 'F' },
          agent_id: { value: 'S1' },
          hostname: 'agent1',
          resources: [
            { name: 'cpus', type: 'SCALAR', scalar: { value: 2 }, role: '*', allocation_info: { role: 'web' } },
            { name: 'mem', type: 'SCALAR', scalar: { value: 1024 }, role: '*', allocation_info: { role: 'web' } },
            { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31999 }] }, role: '*', allocation_info: { role: 'web' } },
          ],
          attributes: [{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }],
          executor_ids: [],
          allocation_info: { role: 'web' },
        },
      ],
    },
  });
});

test('rescind, error, heartbeat, failure and message have Mesos shapes', () => {
  assert.deepEqual(rescind('O1'), { type: 'RESCIND', rescind: { offer_id: { value: 'O1' } } });
  assert.deepEqual(error('Framework failed over'), { type: 'ERROR', error: { message: 'Framework failed over' } });
  assert.deepEqual(heartbeat(), { type: 'HEARTBEAT' });
  assert.deepEqual(failure({ agentId: 'S1' }), { type: 'FAILURE', failure: { agent_id: { value: 'S1' } } });
  assert.deepEqual(failure({ agentId: 'S1', executorId: 'E1', status: 137 }), {
    type: 'FAILURE',
    failure: { agent_id: { value: 'S1' }, executor_id: { value: 'E1' }, status: 137 },
  });
  assert.deepEqual(message({ agentId: 'S1', executorId: 'E1', data: new TextEncoder().encode('hello') }), {
    type: 'MESSAGE',
    message: { agent_id: { value: 'S1' }, executor_id: { value: 'E1' }, data: 'aGVsbG8=' },
  });
  assert.deepEqual(updateOperationStatus({ operationId: 'op-1', state: 'OPERATION_ERROR', message: 'Muster does not reserve resources' }), {
    type: 'UPDATE_OPERATION_STATUS',
    update_operation_status: { status: { operation_id: { value: 'op-1' }, state: 'OPERATION_ERROR', message: 'Muster does not reserve resources' } },
  });
});

test('update carries a TaskStatus: uuid as base64 bytes, timestamp in fractional seconds', () => {
  const uuid = '8f14e45f-ceea-467f-a0e6-7a1b2c3d4e5f';
  assert.deepEqual(
    update({
      taskId: 'web.1',
      state: 'TASK_RUNNING',
      uuid,
      timestampMs: 1_700_000_000_123,
      source: 'SOURCE_EXECUTOR',
      agentId: 'S1',
      executorId: 'E1',
      message: 'started',
      healthy: true,
      labels: [{ key: 'k', value: 'v' }],
      containerStatus: { network_infos: [{ ip_addresses: [{ ip_address: '10.0.0.5' }], groups: [], port_mappings: [] }] },
    }),
    {
      type: 'UPDATE',
      update: {
        status: {
          task_id: { value: 'web.1' },
          state: 'TASK_RUNNING',
          message: 'started',
          source: 'SOURCE_EXECUTOR',
          agent_id: { value: 'S1' },
          executor_id: { value: 'E1' },
          timestamp: 1_700_000_000.123,
          uuid: Buffer.from('8f14e45fceea467fa0e67a1b2c3d4e5f', 'hex').toString('base64'),
          healthy: true,
          labels: { labels: [{ key: 'k', value: 'v' }] },
          container_status: { network_infos: [{ ip_addresses: [{ ip_address: '10.0.0.5' }], groups: [], port_mappings: [] }] },
        },
      },
    },
  );
  // A reconciliation answer: from the master, no uuid (not to be acknowledged).
  assert.deepEqual(update({ taskId: 't', state: 'TASK_LOST', source: 'SOURCE_MASTER', reason: 'REASON_RECONCILIATION', message: 'Reconciliation: Latest task state' }), {
    type: 'UPDATE',
    update: { status: { task_id: { value: 't' }, state: 'TASK_LOST', message: 'Reconciliation: Latest task state', source: 'SOURCE_MASTER', reason: 'REASON_RECONCILIATION' } },
  });
});

test('encodeStatusUuid sends a UUID as its 16 bytes and any other uuid string as its UTF-8 bytes', () => {
  const u = randomUUID();
  assert.equal(Buffer.from(encodeStatusUuid(u), 'base64').toString('hex'), u.replaceAll('-', ''));
  assert.equal(encodeStatusUuid(u.toUpperCase()), encodeStatusUuid(u));
  assert.equal(Buffer.from(encodeStatusUuid('retry-7'), 'base64').toString('utf8'), 'retry-7');
});

test('encodeEvent frames an event as one RecordIO record', () => {
  assert.equal(encodeEvent(heartbeat()).toString('utf8'), '20\n{"type":"HEARTBEAT"}');
  const events = [subscribed('F', 15), update({ taskId: 'tâche', state: 'TASK_STARTING', uuid: randomUUID() }), heartbeat()];
  const wire = Buffer.concat(events.map(encodeEvent));
  assert.deepEqual(new RecordIODecoder().push(wire), events);
});

test('every core task state is a Mesos state, and every core reason maps to a Mesos reason or none', () => {
  for (const s of TASK_STATES) assert.ok((MESOS_TASK_STATES as readonly string[]).includes(s), s);
  for (const r of TASK_REASONS) {
    const m = mesosReason(r);
    if (m !== undefined) assert.ok((MESOS_TASK_REASONS as readonly string[]).includes(m), `${r} → ${m}`);
  }
  assert.equal(mesosReason('REASON_RECONCILIATION'), 'REASON_RECONCILIATION');
  assert.equal(mesosReason('REASON_CONTAINER_LIMITATION_MEMORY'), 'REASON_CONTAINER_LIMITATION_MEMORY');
  assert.equal(mesosReason('REASON_AGENT_UNREACHABLE'), 'REASON_AGENT_REMOVED');
  assert.equal(mesosReason('REASON_COMMAND_EXITED'), undefined);
  assert.equal(mesosReason('REASON_KILLED_BY_USER'), undefined);
});
