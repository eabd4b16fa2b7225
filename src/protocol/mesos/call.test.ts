import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { DEFAULT_REFUSE_SECONDS, MAX_REFUSE_SECONDS, frameworkRoles, parseCall } from './call.js';
import { encodeStatusUuid } from './events.js';
import { LIMITS } from './limits.js';
import { CALL_TYPES } from './types.js';
import type { Call, TaskInfo } from './types.js';

const FID = { value: '12220-3440-12532-2345' };

/** ok parses a body that must be accepted, and narrows the call to the type expected. */
function ok<T extends Call['type']>(body: unknown, type: T): Extract<Call, { type: T }> {
  const r = parseCall(body);
  if (!r.ok) assert.fail(`expected the call to parse, got ${r.field}: ${r.message}`);
  assert.equal(r.call.type, type);
  return r.call as Extract<Call, { type: T }>;
}

/** fails parses a body that must be refused, naming field (and matching message when given). */
function fails(body: unknown, field: string, message?: RegExp): void {
  const r = parseCall(body);
  if (r.ok) assert.fail(`expected ${field} to be refused, the call parsed`);
  assert.equal(r.field, field, r.message);
  if (message !== undefined) assert.match(r.message, message);
}

function commandTask(i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: `task ${i}`,
    task_id: { value: `task-${i}` },
    agent_id: { value: 'S1' },
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 } },
      { name: 'mem', type: 'SCALAR', scalar: { value: 128 } },
    ],
    command: { value: 'sleep 1000' },
    ...extra,
  };
}

function launch(tasks: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { framework_id: FID, type: 'ACCEPT', accept: { offer_ids: [{ value: 'O1' }], operations: [{ type: 'LAUNCH', launch: { task_infos: tasks } }], ...extra } };
}

function firstTask(call: Extract<Call, { type: 'ACCEPT' }>): TaskInfo {
  const op = call.accept.operations[0];
  assert.ok(op !== undefined && op.type === 'LAUNCH');
  const task = op.launch.task_infos[0];
  assert.ok(task !== undefined);
  return task;
}

// ---- each call's happy path, in the shapes of Mesos's docs/scheduler-http-api.md -------------

test('parseCall reads the SUBSCRIBE of the Mesos docs, filling FrameworkInfo defaults and ignoring offer_constraints', () => {
  const call = ok(
    {
      type: 'SUBSCRIBE',
      subscribe: {
        framework_info: { user: 'foo', name: 'Example HTTP Framework', roles: ['test1', 'test2'], capabilities: [{ type: 'MULTI_ROLE' }] },
        suppressed_roles: ['test2'],
        offer_constraints: { role_constraints: { test1: { groups: [{ attribute_constraints: [{ selector: { attribute_name: 'foo' }, predicate: { exists: {} } }] }] } } },
      },
    },
    'SUBSCRIBE',
  );
  assert.deepEqual(call, {
    type: 'SUBSCRIBE',
    subscribe: {
      framework_info: {
        user: 'foo',
        name: 'Example HTTP Framework',
        failover_timeout: 0,
        checkpoint: false,
        roles: ['test1', 'test2'],
        capabilities: [{ type: 'MULTI_ROLE' }],
      },
      suppressed_roles: ['test2'],
    },
  });
  assert.deepEqual(frameworkRoles(call.subscribe.framework_info), ['test1', 'test2']);
});

test('parseCall reads every FrameworkInfo field, and frameworkRoles defaults a single role to "*"', () => {
  const info = {
    user: 'root',
    name: 'marathon',
    id: FID,
    failover_timeout: 604800,
    checkpoint: true,
    role: 'web',
    hostname: 'm1.example',
    principal: 'marathon',
    webui_url: 'http://m1.example:8080',
    capabilities: [{ type: 'PARTITION_AWARE' }, { type: 'GPU_RESOURCES' }],
    labels: { labels: [{ key: 'team', value: 'infra' }, { key: 'bare' }] },
  };
  const call = ok({ type: 'SUBSCRIBE', framework_id: FID, subscribe: { framework_info: info } }, 'SUBSCRIBE');
  assert.deepEqual(call.framework_id, FID);
  assert.deepEqual(call.subscribe.framework_info, { ...info, roles: [] });
  assert.deepEqual(frameworkRoles(call.subscribe.framework_info), ['web']);
  const plain = ok({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u', name: 'n' } } }, 'SUBSCRIBE');
  assert.deepEqual(frameworkRoles(plain.subscribe.framework_info), ['*']);
});

test('parseCall refuses a SUBSCRIBE without user or name, or whose framework ids disagree', () => {
  fails({ type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'n' } } }, 'subscribe.framework_info.user', /is required/);
  fails({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u' } } }, 'subscribe.framework_info.name', /is required/);
  fails({ type: 'SUBSCRIBE' }, 'subscribe', /is required/);
  fails({ type: 'SUBSCRIBE', subscribe: {} }, 'subscribe.framework_info');
  const info = { user: 'u', name: 'n', id: { value: 'a' } };
  fails({ type: 'SUBSCRIBE', framework_id: { value: 'b' }, subscribe: { framework_info: info } }, 'framework_id', /differs/);
  fails({ type: 'SUBSCRIBE', subscribe: { framework_info: info } }, 'framework_id', /differs/);
  fails({ type: 'SUBSCRIBE', framework_id: { value: 'a' }, subscribe: { framework_info: { user: 'u', name: 'n' } } }, 'framework_id');
});

test('parseCall reads TEARDOWN', () => {
  assert.deepEqual(ok({ framework_id: FID, type: 'TEARDOWN' }, 'TEARDOWN'), { type: 'TEARDOWN', framework_id: FID });
});

test('parseCall reads the ACCEPT of the Mesos docs (a task with a custom executor; limits ignored)', () => {
  const call = ok(
    {
      framework_id: FID,
      type: 'ACCEPT',
      accept: {
        offer_ids: [{ value: '12220-3440-12532-O12' }],
        operations: [
          {
            type: 'LAUNCH',
            launch: {
              task_infos: [
                {
                  name: 'My Task',
                  task_id: { value: '12220-3440-12532-my-task' },
                  agent_id: { value: '12220-3440-12532-S1233' },
                  executor: { command: { shell: true, value: 'sleep 1000' }, executor_id: { value: '12214-23523-my-executor' } },
                  resources: [
                    { allocation_info: { role: 'engineering' }, name: 'cpus', role: '*', type: 'SCALAR', scalar: { value: 1.0 } },
                    { allocation_info: { role: 'engineering' }, name: 'mem', role: '*', type: 'SCALAR', scalar: { value: 128.0 } },
                  ],
                  limits: { cpus: 'Infinity', mem: 512.0 },
                },
              ],
            },
          },
        ],
        filters: { refuse_seconds: 5.0 },
      },
    },
    'ACCEPT',
  );
  assert.deepEqual(call.accept.offer_ids, [{ value: '12220-3440-12532-O12' }]);
  assert.deepEqual(call.accept.filters, { refuse_seconds: 5 });
  const task = firstTask(call);
  assert.deepEqual(task.executor, {
    executor_id: { value: '12214-23523-my-executor' },
    command: { uris: [], shell: true, value: 'sleep 1000', arguments: [] },
    resources: [],
  });
  assert.deepEqual(task.resources[0], { name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, role: '*', allocation_info: { role: 'engineering' } });
  assert.equal('limits' in task, false);
});

test('parseCall reads an ACCEPT launching a command task with environment, uris, container, health check, discovery', () => {
  const task = commandTask(0, {
    command: {
      shell: false,
      value: '/usr/bin/python3',
      arguments: ['python3', '-m', 'http.server', '8080'],
      environment: { variables: [{ name: 'PORT', value: '8080' }, { name: 'TOKEN', type: 'SECRET', secret: { type: 'REFERENCE' } }] },
      uris: [{ value: 'https://example.com/app.tgz', extract: false, cache: true }],
      user: 'nobody',
    },
    container: {
      type: 'DOCKER',
      docker: { image: 'python:3', network: 'BRIDGE', port_mappings: [{ host_port: 31000, container_port: 8080, protocol: 'tcp' }], parameters: [{ key: 'init', value: 'true' }] },
      volumes: [{ container_path: '/data', host_path: '/srv/data', mode: 'RW' }],
    },
    health_check: { type: 'HTTP', http: { port: 8080, path: '/health', statuses: [200] }, interval_seconds: 5 },
    discovery: { visibility: 'FRAMEWORK', name: 'web', ports: { ports: [{ number: 31000, name: 'http', protocol: 'tcp' }] } },
    labels: { labels: [{ key: 'tier', value: 'frontend' }] },
    kill_policy: { grace_period: { nanoseconds: 3_000_000_000 } },
    data: 'aGVsbG8=',
  });
  const got = firstTask(ok(launch([task]), 'ACCEPT'));
  assert.deepEqual(got.command, {
    shell: false,
    value: '/usr/bin/python3',
    arguments: ['python3', '-m', 'http.server', '8080'],
    environment: { variables: [{ name: 'PORT', type: 'VALUE', value: '8080' }, { name: 'TOKEN', type: 'SECRET' }] },
    uris: [{ value: 'https://example.com/app.tgz', extract: false, cache: true }],
    user: 'nobody',
  });
  assert.deepEqual(got.container, {
    type: 'DOCKER',
    docker: {
      image: 'python:3',
      network: 'BRIDGE',
      port_mappings: [{ host_port: 31000, container_port: 8080, protocol: 'tcp' }],
      privileged: false,
      parameters: [{ key: 'init', value: 'true' }],
    },
    volumes: [{ container_path: '/data', host_path: '/srv/data', mode: 'RW' }],
    network_infos: [],
  });
  assert.deepEqual(got.health_check, {
    type: 'HTTP',
    http: { port: 8080, path: '/health', statuses: [200] },
    delay_seconds: 15,
    interval_seconds: 5,
    timeout_seconds: 20,
    consecutive_failures: 3,
    grace_period_seconds: 10,
  });
  assert.deepEqual(got.discovery, { visibility: 'FRAMEWORK', name: 'web', ports: { ports: [{ number: 31000, name: 'http', protocol: 'tcp' }] } });
  assert.deepEqual(got.labels, { labels: [{ key: 'tier', value: 'frontend' }] });
  assert.deepEqual(got.kill_policy, { grace_period: { nanoseconds: 3_000_000_000 } });
  assert.equal(got.data, 'aGVsbG8=');
});

test('parseCall reads an ACCEPT with LAUNCH_GROUP, and recognises the operations Muster does not carry out', () => {
  const call = ok(
    {
      framework_id: FID,
      type: 'ACCEPT',
      accept: {
        offer_ids: [{ value: 'O1' }, { value: 'O2' }],
        operations: [
          {
            type: 'LAUNCH_GROUP',
            id: { value: 'op-1' },
            launch_group: {
              executor: { type: 'DEFAULT', executor_id: { value: 'E1' }, framework_id: FID, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } }] },
              task_group: { tasks: [commandTask(1), commandTask(2)] },
            },
          },
          { type: 'RESERVE', id: { value: 'op-2' }, reserve: { resources: [] } },
          { type: 'CREATE_DISK' },
          { type: 'SOMETHING_NEWER' },
          {},
        ],
      },
    },
    'ACCEPT',
  );
  const [group, reserve, disk, unknown, untyped] = call.accept.operations;
  assert.ok(group?.type === 'LAUNCH_GROUP');
  assert.deepEqual(group.id, { value: 'op-1' });
  assert.equal(group.launch_group.executor.type, 'DEFAULT');
  assert.deepEqual(
    group.launch_group.task_group.tasks.map((t) => t.task_id.value),
    ['task-1', 'task-2'],
  );
  assert.deepEqual(reserve, { type: 'RESERVE', id: { value: 'op-2' } });
  assert.deepEqual(disk, { type: 'CREATE_DISK' });
  assert.deepEqual(unknown, { type: 'UNKNOWN' });
  assert.deepEqual(untyped, { type: 'UNKNOWN' });
  assert.deepEqual(call.accept.filters, { refuse_seconds: DEFAULT_REFUSE_SECONDS });
});

test('parseCall refuses a LAUNCH without launch and a LAUNCH_GROUP without executor or task group', () => {
  const accept = (op: unknown): unknown => ({ framework_id: FID, type: 'ACCEPT', accept: { offer_ids: [{ value: 'O1' }], operations: [op] } });
  fails(accept({ type: 'LAUNCH' }), 'accept.operations[0].launch', /is required/);
  fails(accept({ type: 'LAUNCH_GROUP', launch_group: { task_group: { tasks: [] } } }), 'accept.operations[0].launch_group.executor');
  fails(accept({ type: 'LAUNCH_GROUP', launch_group: { executor: { executor_id: { value: 'E' } } } }), 'accept.operations[0].launch_group.task_group');
  fails({ framework_id: FID, type: 'ACCEPT' }, 'accept', /is required/);
});

test('parseCall reads the DECLINE of the Mesos docs', () => {
  const call = ok(
    {
      framework_id: FID,
      type: 'DECLINE',
      decline: { offer_ids: [{ value: '12220-3440-12532-O12' }, { value: '12220-3440-12532-O13' }], filters: { refuse_seconds: 5.0 } },
    },
    'DECLINE',
  );
  assert.deepEqual(call.decline, { offer_ids: [{ value: '12220-3440-12532-O12' }, { value: '12220-3440-12532-O13' }], filters: { refuse_seconds: 5 } });
});

test('Filters.refuse_seconds defaults to 5 when absent or negative and is capped at a year', () => {
  const refuse = (filters: unknown): number => {
    const call = ok({ framework_id: FID, type: 'DECLINE', decline: { offer_ids: [{ value: 'O' }], filters } }, 'DECLINE');
    return call.decline.filters.refuse_seconds;
  };
  assert.equal(refuse(undefined), 5);
  assert.equal(refuse(null), 5);
  assert.equal(refuse({}), 5);
  assert.equal(refuse({ refuse_seconds: null }), 5);
  assert.equal(refuse({ refuse_seconds: -1 }), 5);
  assert.equal(refuse({ refuse_seconds: 0 }), 0);
  assert.equal(refuse({ refuse_seconds: 0.5 }), 0.5);
  assert.equal(refuse({ refuse_seconds: '30' }), 30);
  assert.equal(refuse({ refuse_seconds: 1e12 }), MAX_REFUSE_SECONDS);
  fails({ framework_id: FID, type: 'DECLINE', decline: { filters: { refuse_seconds: 'Infinity' } } }, 'decline.filters.refuse_seconds', /number/);
  fails({ framework_id: FID, type: 'DECLINE', decline: { filters: { refuse_seconds: true } } }, 'decline.filters.refuse_seconds', /must be a number/);
});

test('parseCall reads REVIVE and SUPPRESS with roles, without roles, and without a body', () => {
  // The docs' example names a singular "role", which is no proto field: ignored, so all roles.
  assert.deepEqual(ok({ framework_id: FID, type: 'REVIVE', revive: { role: 'test1' } }, 'REVIVE').revive, { roles: [] });
  assert.deepEqual(ok({ framework_id: FID, type: 'REVIVE' }, 'REVIVE').revive, { roles: [] });
  assert.deepEqual(ok({ framework_id: FID, type: 'REVIVE', revive: { roles: ['a', 'b'] } }, 'REVIVE').revive, { roles: ['a', 'b'] });
  assert.deepEqual(ok({ framework_id: FID, type: 'SUPPRESS', suppress: { roles: ['a'] } }, 'SUPPRESS').suppress, { roles: ['a'] });
  assert.deepEqual(ok({ framework_id: FID, type: 'SUPPRESS' }, 'SUPPRESS').suppress, { roles: [] });
});

test('parseCall reads KILL (with a kill policy) and SHUTDOWN as in the Mesos docs', () => {
  const kill = ok(
    { framework_id: FID, type: 'KILL', kill: { task_id: { value: '12220-3440-12532-my-task' }, agent_id: { value: '12220-3440-12532-S1233' } } },
    'KILL',
  );
  assert.deepEqual(kill.kill, { task_id: { value: '12220-3440-12532-my-task' }, agent_id: { value: '12220-3440-12532-S1233' } });
  const withPolicy = ok({ framework_id: FID, type: 'KILL', kill: { task_id: { value: 't' }, kill_policy: { grace_period: { nanoseconds: '5000000000' } } } }, 'KILL');
  assert.deepEqual(withPolicy.kill, { task_id: { value: 't' }, kill_policy: { grace_period: { nanoseconds: 5_000_000_000 } } });
  fails({ framework_id: FID, type: 'KILL', kill: { agent_id: { value: 'S' } } }, 'kill.task_id', /is required/);

  const shutdown = ok(
    { framework_id: FID, type: 'SHUTDOWN', shutdown: { executor_id: { value: '123450-2340-1232-my-executor' }, agent_id: { value: '12220-3440-12532-S1233' } } },
    'SHUTDOWN',
  );
  assert.deepEqual(shutdown.shutdown, { executor_id: { value: '123450-2340-1232-my-executor' }, agent_id: { value: '12220-3440-12532-S1233' } });
  fails({ framework_id: FID, type: 'SHUTDOWN', shutdown: { executor_id: { value: 'E' } } }, 'shutdown.agent_id');
});

test('parseCall reads the ACKNOWLEDGE of the Mesos docs and returns its uuid in canonical base64', () => {
  const call = ok(
    {
      framework_id: FID,
      type: 'ACKNOWLEDGE',
      acknowledge: { agent_id: { value: '12220-3440-12532-S1233' }, task_id: { value: '12220-3440-12532-my-task' }, uuid: 'jhadf73jhakdlfha723adf' },
    },
    'ACKNOWLEDGE',
  );
  assert.equal(Buffer.from(call.acknowledge.uuid, 'base64').length, 16);
  assert.equal(call.acknowledge.uuid, Buffer.from('jhadf73jhakdlfha723adf', 'base64').toString('base64'));

  // What the master sent in an UPDATE comes back equal to encodeStatusUuid of the same uuid.
  for (const uuid of [randomUUID(), 'agent-chosen-uuid-0001']) {
    const ack = ok({ framework_id: FID, type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: 'S' }, task_id: { value: 't' }, uuid: encodeStatusUuid(uuid) } }, 'ACKNOWLEDGE');
    assert.equal(ack.acknowledge.uuid, encodeStatusUuid(uuid));
  }
});

test('ACKNOWLEDGE refuses a uuid that is missing, empty, not base64 or over 64 bytes', () => {
  const ack = (uuid: unknown): unknown => ({ framework_id: FID, type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: 'S' }, task_id: { value: 't' }, uuid } });
  fails(ack(undefined), 'acknowledge.uuid', /is required/);
  fails(ack(''), 'acknowledge.uuid', /0 bytes/);
  fails(ack('not base64!'), 'acknowledge.uuid', /base64/);
  fails(ack('YW Jj'), 'acknowledge.uuid', /base64/);
  fails(ack(Buffer.alloc(65).toString('base64')), 'acknowledge.uuid', /more than 64 bytes|65 bytes/);
  fails(ack(12), 'acknowledge.uuid', /base64 string/);
  assert.equal(parseCall(ack(Buffer.alloc(64, 1).toString('base64'))).ok, true);
});

test('parseCall reads ACKNOWLEDGE_OPERATION_STATUS, which needs agent_id and an operation_id object', () => {
  const body = {
    framework_id: FID,
    type: 'ACKNOWLEDGE_OPERATION_STATUS',
    acknowledge_operation_status: {
      agent_id: { value: '12220-3440-12532-S1233' },
      resource_provider_id: { value: '12220-3440-12532-rp' },
      uuid: 'jhadf73jhakdlfha723adf',
      operation_id: { value: '73jhakdlfha723adf' },
    },
  };
  const call = ok(body, 'ACKNOWLEDGE_OPERATION_STATUS');
  assert.deepEqual(call.acknowledge_operation_status.operation_id, { value: '73jhakdlfha723adf' });
  // The docs show operation_id as a bare string, which Mesos's parser refuses too.
  fails({ ...body, acknowledge_operation_status: { ...body.acknowledge_operation_status, operation_id: '73jhakdlfha723adf' } }, 'acknowledge_operation_status.operation_id', /JSON object/);
  const { agent_id: _agent, ...noAgent } = body.acknowledge_operation_status;
  fails({ ...body, acknowledge_operation_status: noAgent }, 'acknowledge_operation_status.agent_id');
});

test('parseCall reads RECONCILE (explicit and implicit) and RECONCILE_OPERATIONS', () => {
  const explicit = ok(
    { framework_id: FID, type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: '312325' }, agent_id: { value: '123535' } }, { task_id: { value: 'x' } }] } },
    'RECONCILE',
  );
  assert.deepEqual(explicit.reconcile.tasks, [{ task_id: { value: '312325' }, agent_id: { value: '123535' } }, { task_id: { value: 'x' } }]);
  assert.deepEqual(ok({ framework_id: FID, type: 'RECONCILE', reconcile: {} }, 'RECONCILE').reconcile.tasks, []);
  fails({ framework_id: FID, type: 'RECONCILE' }, 'reconcile', /is required/);
  fails({ framework_id: FID, type: 'RECONCILE', reconcile: { tasks: [{ agent_id: { value: 'S' } }] } }, 'reconcile.tasks[0].task_id');

  const ops = ok(
    {
      framework_id: FID,
      type: 'RECONCILE_OPERATIONS',
      reconcile_operations: { operations: [{ operation_id: { value: '312325' }, agent_id: { value: '123535' }, resource_provider_id: { value: '927695' } }] },
    },
    'RECONCILE_OPERATIONS',
  );
  assert.deepEqual(ops.reconcile_operations.operations, [{ operation_id: { value: '312325' }, agent_id: { value: '123535' }, resource_provider_id: { value: '927695' } }]);
});

test('parseCall reads the MESSAGE of the Mesos docs and refuses data that is not base64', () => {
  const call = ok(
    {
      framework_id: FID,
      type: 'MESSAGE',
      message: { agent_id: { value: '12220-3440-12532-S1233' }, executor_id: { value: 'my-framework-executor' }, data: 'adaf838jahd748jnaldf' },
    },
    'MESSAGE',
  );
  assert.equal(call.message.data, 'adaf838jahd748jnaldf');
  fails({ framework_id: FID, type: 'MESSAGE', message: { agent_id: { value: 'S' }, executor_id: { value: 'E' }, data: '%%%' } }, 'message.data', /base64/);
  fails({ framework_id: FID, type: 'MESSAGE', message: { agent_id: { value: 'S' }, executor_id: { value: 'E' } } }, 'message.data', /is required/);
  const big = Buffer.alloc(LIMITS.dataBytes + 1).toString('base64');
  fails({ framework_id: FID, type: 'MESSAGE', message: { agent_id: { value: 'S' }, executor_id: { value: 'E' }, data: big } }, 'message.data', /bytes/);
});

test('parseCall reads REQUEST from its proto field, not the top-level "requests" of the docs', () => {
  const call = ok(
    {
      framework_id: FID,
      type: 'REQUEST',
      request: { requests: [{ agent_id: { value: 'S1' }, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 2 } }] }] },
    },
    'REQUEST',
  );
  assert.deepEqual(call.request.requests, [{ agent_id: { value: 'S1' }, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 2 } }] }]);
  fails({ framework_id: FID, type: 'REQUEST', requests: [{ agent_id: { value: 'S1' }, resources: {} }] }, 'request', /is required/);
});

test('parseCall reads ACCEPT_INVERSE_OFFERS and DECLINE_INVERSE_OFFERS', () => {
  const accept = ok({ framework_id: FID, type: 'ACCEPT_INVERSE_OFFERS', accept_inverse_offers: { inverse_offer_ids: [{ value: 'I1' }] } }, 'ACCEPT_INVERSE_OFFERS');
  assert.deepEqual(accept.accept_inverse_offers, { inverse_offer_ids: [{ value: 'I1' }], filters: { refuse_seconds: 5 } });
  const decline = ok(
    { framework_id: FID, type: 'DECLINE_INVERSE_OFFERS', decline_inverse_offers: { inverse_offer_ids: [{ value: 'I1' }], filters: { refuse_seconds: 60 } } },
    'DECLINE_INVERSE_OFFERS',
  );
  assert.deepEqual(decline.decline_inverse_offers, { inverse_offer_ids: [{ value: 'I1' }], filters: { refuse_seconds: 60 } });
  fails({ framework_id: FID, type: 'DECLINE_INVERSE_OFFERS' }, 'decline_inverse_offers', /is required/);
});

test('parseCall reads UPDATE_FRAMEWORK, whose framework_info.id must be the call framework_id', () => {
  const info = { user: 'foo', name: 'Example HTTP Framework', id: FID, roles: ['test1', 'test2'], capabilities: [{ type: 'MULTI_ROLE' }] };
  const call = ok({ framework_id: FID, type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: info, suppressed_roles: ['test2'] } }, 'UPDATE_FRAMEWORK');
  assert.deepEqual(call.update_framework.suppressed_roles, ['test2']);
  assert.deepEqual(call.update_framework.framework_info.roles, ['test1', 'test2']);
  // The docs' example carries no framework id at all, which Mesos refuses.
  fails({ type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: { ...info, id: undefined } } }, 'framework_id', /required/);
  fails({ framework_id: FID, type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: { ...info, id: { value: 'other' } } } }, 'framework_id', /differs/);
  fails({ framework_id: FID, type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: { ...info, id: undefined } } }, 'framework_id', /differs/);
});

// ---- the envelope ---------------------------------------------------------------------------

test('every call but SUBSCRIBE needs framework_id', () => {
  for (const type of CALL_TYPES) {
    if (type === 'SUBSCRIBE') continue;
    fails({ type }, 'framework_id', new RegExp(`required for a ${type} call`));
    fails({ type, framework_id: null }, 'framework_id');
  }
  fails({ type: 'TEARDOWN', framework_id: { value: '' } }, 'framework_id.value', /must not be empty/);
  fails({ type: 'TEARDOWN', framework_id: 'abc' }, 'framework_id', /JSON object/);
});

test('parseCall refuses a body that is not an object and a type that is missing, unknown or not a string', () => {
  for (const body of [null, [], 'SUBSCRIBE', 42, undefined]) fails(body, '', /body must be a JSON object/);
  fails({ framework_id: FID }, 'type', /type is required/);
  fails({ framework_id: FID, type: 'LAUNCH_ROCKETS' }, 'type', /must be one of SUBSCRIBE/);
  fails({ framework_id: FID, type: 'UNKNOWN' }, 'type', /must be one of/);
  fails({ framework_id: FID, type: 3 }, 'type', /must be one of .*, not a number/);
  fails({ framework_id: FID, type: 'LAUNCH_ROCKETS' }, 'type', /not "LAUNCH_ROCKETS"/);
});

// ---- bounds -----------------------------------------------------------------------------------

test('ids must be non-empty, at most 256 characters, with no control characters', () => {
  fails(launch([commandTask(0, { task_id: { value: 'x'.repeat(257) } })]), 'accept.operations[0].launch.task_infos[0].task_id.value', /257 characters/);
  assert.equal(parseCall(launch([commandTask(0, { task_id: { value: 'x'.repeat(256) } })])).ok, true);
  fails(launch([commandTask(0, { agent_id: { value: '' } })]), 'accept.operations[0].launch.task_infos[0].agent_id.value', /empty/);
  fails(launch([commandTask(0, { task_id: { value: 'a\nb' } })]), 'accept.operations[0].launch.task_infos[0].task_id.value', /control/);
  fails(launch([commandTask(0, { task_id: {} })]), 'accept.operations[0].launch.task_infos[0].task_id.value', /is required/);
  fails({ framework_id: FID, type: 'DECLINE', decline: { offer_ids: [{ value: 'O1' }, { value: 7 }] } }, 'decline.offer_ids[1].value', /must be a string/);
});

test('the error names the exact field, deep in the call', () => {
  const tasks = [commandTask(0), commandTask(1), commandTask(2, { task_id: { value: 1234 } })];
  fails(launch(tasks), 'accept.operations[0].launch.task_infos[2].task_id.value', /must be a string, not a number/);
  const bad = commandTask(0, { resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 'lots' } }] });
  const ops = {
    framework_id: FID,
    type: 'ACCEPT',
    accept: { operations: [{ type: 'LAUNCH', launch: { task_infos: [] } }, { type: 'LAUNCH', launch: { task_infos: [bad] } }] },
  };
  fails(ops, 'accept.operations[1].launch.task_infos[0].resources[0].scalar.value', /"lots" is not one/);
});

test('names are at most 1024 characters and command values at most 64 KiB, with no NUL in what reaches exec', () => {
  const at = 'accept.operations[0].launch.task_infos[0]';
  fails(launch([commandTask(0, { name: 'n'.repeat(1025) })]), `${at}.name`, /1025 characters/);
  assert.equal(parseCall(launch([commandTask(0, { name: 'n'.repeat(1024) })])).ok, true);
  fails(launch([commandTask(0, { command: { value: 'x'.repeat(64 * 1024 + 1) } })]), `${at}.command.value`, /65537 characters/);
  assert.equal(parseCall(launch([commandTask(0, { command: { value: 'x'.repeat(64 * 1024) } })])).ok, true);
  fails(launch([commandTask(0, { command: { value: 'echo a\u0000b' } })]), `${at}.command.value`, /NUL/);
  fails(launch([commandTask(0, { command: { shell: false, value: '/bin/echo', arguments: ['echo', 'a\u0000'] } })]), `${at}.command.arguments[1]`, /NUL/);
  fails(launch([commandTask(0, { command: { value: 'env', environment: { variables: [{ name: 'A', value: 'x\u0000' }] } } })]), `${at}.command.environment.variables[0].value`, /NUL/);
  fails(launch([commandTask(0, { command: { value: 'env', environment: { variables: [{ name: 'A\u0000B', value: 'x' }] } } })]), `${at}.command.environment.variables[0].name`, /NUL/);
  fails(launch([commandTask(0, { command: { value: 'env', environment: { variables: [{ value: 'x' }] } } })]), `${at}.command.environment.variables[0].name`, /is required/);
  fails({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'ro\u0000ot', name: 'n' } } }, 'subscribe.framework_info.user', /NUL/);
});

test('lists are bounded: offer_ids 1000, operations 1000, tasks 10000 per call, resources 256', () => {
  const ids = (n: number): { value: string }[] => Array.from({ length: n }, (_, i) => ({ value: `O${i}` }));
  fails({ framework_id: FID, type: 'DECLINE', decline: { offer_ids: ids(1001) } }, 'decline.offer_ids', /1001 entries; at most 1000/);
  assert.equal(parseCall({ framework_id: FID, type: 'DECLINE', decline: { offer_ids: ids(1000) } }).ok, true);
  fails({ framework_id: FID, type: 'ACCEPT', accept: { offer_ids: ids(1001) } }, 'accept.offer_ids', /at most 1000/);

  const noop = { type: 'LAUNCH', launch: { task_infos: [] } };
  fails({ framework_id: FID, type: 'ACCEPT', accept: { operations: Array.from({ length: 1001 }, () => noop) } }, 'accept.operations', /at most 1000/);

  const tasks = (n: number, from = 0): unknown[] => Array.from({ length: n }, (_, i) => commandTask(from + i));
  fails(launch(tasks(10_001)), 'accept.operations[0].launch.task_infos', /10001 entries; at most 10000/);
  assert.equal(parseCall(launch(tasks(10_000))).ok, true);
  // The bound is on the call: two operations of 6000 tasks each are over it.
  const two = { framework_id: FID, type: 'ACCEPT', accept: { operations: [{ type: 'LAUNCH', launch: { task_infos: tasks(6000) } }, { type: 'LAUNCH', launch: { task_infos: tasks(6000, 6000) } }] } };
  fails(two, 'accept.operations[1].launch.task_infos[4000]', /at most 10000 tasks/);

  const resources = Array.from({ length: 257 }, () => ({ name: 'cpus', type: 'SCALAR', scalar: { value: 0.001 } }));
  fails(launch([commandTask(0, { resources })]), 'accept.operations[0].launch.task_infos[0].resources', /257 entries; at most 256/);
  assert.equal(parseCall(launch([commandTask(0, { resources: resources.slice(0, 256) })])).ok, true);
  fails(
    { framework_id: FID, type: 'RECONCILE', reconcile: { tasks: Array.from({ length: 10_001 }, (_, i) => ({ task_id: { value: `t${i}` } })) } },
    'reconcile.tasks',
    /at most 10000/,
  );
});

test('numbers must be finite; integer fields whole and within their type', () => {
  const at = 'accept.operations[0].launch.task_infos[0]';
  const scalar = (value: unknown): unknown => launch([commandTask(0, { resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value } }] })]);
  fails(scalar(Infinity), `${at}.resources[0].scalar.value`, /finite/);
  fails(scalar(NaN), `${at}.resources[0].scalar.value`, /finite/);
  fails(scalar('Infinity'), `${at}.resources[0].scalar.value`);
  fails(scalar('1e999'), `${at}.resources[0].scalar.value`, /finite/);
  fails(scalar(''), `${at}.resources[0].scalar.value`);
  fails(scalar(' 1'), `${at}.resources[0].scalar.value`);
  const ports = (range: unknown): unknown => launch([commandTask(0, { resources: [{ name: 'ports', type: 'RANGES', ranges: { range: [range] } }] })]);
  fails(ports({ begin: 1.5, end: 2 }), `${at}.resources[0].ranges.range[0].begin`, /whole number/);
  fails(ports({ begin: -1, end: 2 }), `${at}.resources[0].ranges.range[0].begin`, /within/);
  fails(ports({ begin: 1 }), `${at}.resources[0].ranges.range[0].end`, /is required/);
  fails(
    launch([commandTask(0, { discovery: { visibility: 'CLUSTER', ports: { ports: [{ number: 2 ** 32 }] } } })]),
    `${at}.discovery.ports.ports[0].number`,
    /within 0…4294967295/,
  );
});

// ---- Mesos's JSON rules --------------------------------------------------------------------

test('a numeric field may be given as a string holding a number, a bool as "true" or "false"', () => {
  const call = ok(
    {
      type: 'SUBSCRIBE',
      subscribe: { framework_info: { user: 'u', name: 'n', failover_timeout: '3600.5', checkpoint: 'true' } },
    },
    'SUBSCRIBE',
  );
  assert.equal(call.subscribe.framework_info.failover_timeout, 3600.5);
  assert.equal(call.subscribe.framework_info.checkpoint, true);
  const task = firstTask(
    ok(
      launch([
        commandTask(0, {
          resources: [
            { name: 'cpus', type: 'SCALAR', scalar: { value: '1.5' } },
            { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: '31000', end: '31001' }] } },
          ],
          command: { value: 'x', shell: 'false' },
        }),
      ]),
      'ACCEPT',
    ),
  );
  assert.deepEqual(task.resources, [
    { name: 'cpus', type: 'SCALAR', scalar: { value: 1.5 } },
    { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31001 }] } },
  ]);
  assert.equal(task.command?.shell, false);
  fails({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u', name: 'n', failover_timeout: '12abc' } } }, 'subscribe.framework_info.failover_timeout', /"12abc" is not one/);
  fails({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u', name: 'n', checkpoint: 'yes' } } }, 'subscribe.framework_info.checkpoint', /true or false/);
  fails({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u', name: 7 } } }, 'subscribe.framework_info.name', /must be a string, not a number/);
});

test('null is an unset field: defaults apply, a required field is missing, null list entries are skipped', () => {
  const call = ok(
    {
      type: 'SUBSCRIBE',
      framework_id: null,
      subscribe: { framework_info: { user: 'u', name: 'n', id: null, failover_timeout: null, role: null, roles: null, labels: null }, suppressed_roles: null },
    },
    'SUBSCRIBE',
  );
  assert.deepEqual(call, { type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u', name: 'n', failover_timeout: 0, checkpoint: false, roles: [], capabilities: [] }, suppressed_roles: [] } });
  fails({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: null, name: 'n' } } }, 'subscribe.framework_info.user', /is required/);
  const decline = ok({ framework_id: FID, type: 'DECLINE', decline: { offer_ids: [null, { value: 'O1' }, null], filters: null } }, 'DECLINE');
  assert.deepEqual(decline.decline, { offer_ids: [{ value: 'O1' }], filters: { refuse_seconds: 5 } });
});

test('unknown fields are ignored at every level', () => {
  const call = ok(
    {
      type: 'KILL',
      framework_id: { value: 'F', extra: 1 },
      kill: { task_id: { value: 't', nested: { deep: [1, 2] } }, future_field: 'x' },
      another: [null],
      __proto__: { polluted: true },
    },
    'KILL',
  );
  assert.deepEqual(call, { type: 'KILL', framework_id: { value: 'F' }, kill: { task_id: { value: 't' } } });
  const fromText = parseCall(JSON.parse('{"type":"TEARDOWN","framework_id":{"value":"F"},"__proto__":{"type":"SUBSCRIBE"}}'));
  assert.ok(fromText.ok && fromText.call.type === 'TEARDOWN');
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});

test('an unknown enum value is dropped from an optional field and refused in a required one', () => {
  const call = ok({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u', name: 'n', capabilities: [{ type: 'TELEPATHY' }, { type: 'MULTI_ROLE' }, {}] } } }, 'SUBSCRIBE');
  assert.deepEqual(call.subscribe.framework_info.capabilities, [{ type: 'MULTI_ROLE' }]);

  const at = 'accept.operations[0].launch.task_infos[0]';
  const task = firstTask(
    ok(
      launch([
        commandTask(0, {
          container: { type: 'DOCKER', docker: { image: 'busybox', network: 'QUANTUM' } },
          health_check: { type: 'CARRIER_PIGEON', tcp: { port: 80, protocol: 'IPv9' } },
          command: { value: 'env', environment: { variables: [{ name: 'A', type: 'FUTURE', value: '1' }] } },
        }),
      ]),
      'ACCEPT',
    ),
  );
  assert.equal(task.container?.docker?.network, 'HOST');
  assert.equal(task.health_check?.type, undefined);
  assert.deepEqual(task.health_check?.tcp, { port: 80 });
  assert.equal(task.command?.environment?.variables[0]?.type, 'VALUE');

  fails(launch([commandTask(0, { resources: [{ name: 'cpus', type: 'SCALARISH', scalar: { value: 1 } }] })]), `${at}.resources[0].type`, /one of SCALAR, RANGES, SET, not "SCALARISH"/);
  fails(launch([commandTask(0, { resources: [{ name: 'cpus', type: 'TEXT', text: { value: '1' } }] })]), `${at}.resources[0].type`);
  fails(launch([commandTask(0, { container: { type: 'RKT' } })]), `${at}.container.type`, /DOCKER, MESOS/);
  fails(launch([commandTask(0, { discovery: { visibility: 'EVERYWHERE' } })]), `${at}.discovery.visibility`);
  fails(launch([commandTask(0, { container: { type: 'MESOS', volumes: [{ container_path: '/x', mode: 'RWX' }] } })]), `${at}.container.volumes[0].mode`);
  fails(launch([commandTask(0, { resources: [{ name: 'cpus', type: 0, scalar: { value: 1 } }] })]), `${at}.resources[0].type`, /a number/);
  fails(launch([commandTask(0, { container: { type: 'DOCKER', docker: { image: 'x', network: 2 } } })]), `${at}.container.docker.network`, /must be a string/);
});

test('a repeated field given a single value reads as a one-element list, as Mesos reads it', () => {
  assert.deepEqual(ok({ framework_id: FID, type: 'SUPPRESS', suppress: { roles: 'web' } }, 'SUPPRESS').suppress, { roles: ['web'] });
  assert.deepEqual(ok({ framework_id: FID, type: 'DECLINE', decline: { offer_ids: { value: 'O1' } } }, 'DECLINE').decline.offer_ids, [{ value: 'O1' }]);
});

test('a resource must carry the value its type names, and a value of the right JSON type', () => {
  const at = 'accept.operations[0].launch.task_infos[0].resources[0]';
  fails(launch([commandTask(0, { resources: [{ name: 'cpus', type: 'SCALAR' }] })]), `${at}.scalar`, /required for a SCALAR resource/);
  fails(launch([commandTask(0, { resources: [{ name: 'ports', type: 'RANGES', scalar: { value: 1 } }] })]), `${at}.ranges`, /RANGES/);
  fails(launch([commandTask(0, { resources: [{ type: 'SCALAR', scalar: { value: 1 } }] })]), `${at}.name`, /is required/);
  fails(launch([commandTask(0, { resources: [{ name: 'cpus', type: 'SCALAR', scalar: 1 }] })]), `${at}.scalar`, /JSON object, not a number/);
  fails(launch([commandTask(0, { resources: { name: 'cpus', type: 'SCALAR', scalar: { value: [1] } } })]), `${at}.scalar.value`, /not an array/);
  const set = firstTask(ok(launch([commandTask(0, { resources: [{ name: 'zones', type: 'SET', set: { item: ['a', 'b'] }, revocable: {} }] })]), 'ACCEPT'));
  assert.deepEqual(set.resources, [{ name: 'zones', type: 'SET', set: { item: ['a', 'b'] }, revocable: {} }]);
});
