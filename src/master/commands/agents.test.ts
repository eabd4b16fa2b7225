import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MusterError, parseResourceFlag, validateJobSpec, type Resources } from '../../core/index.js';
import type { AgentInfo } from '../../protocol/index.js';
import { apply, emptyState, type CellState, type Event } from '../state/index.js';
import { checkAgentCredential, markUnreachable, recordStatus, registerAgent } from './agents.js';

function res(text: string): Resources {
  return { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [], ...parseResourceFlag(text) };
}

const info = (agentId?: string): AgentInfo => ({
  ...(agentId === undefined ? {} : { agentId }),
  hostname: 'h1',
  address: '10.0.0.1',
  port: 5051,
  resources: { cpus: 4, mem: 4096, disk: 0, gpus: 0, ports: '' },
  attributes: {},
  version: 't',
});

/** A cell with agent a1 running web/prod/hello's instances 0 and 1 as t0 and t1. */
function cell(): CellState {
  const s = emptyState();
  const events: Event[] = [
    { type: 'AgentRegistered', at: 0, agent: { agentId: 'a1', hostname: 'h1', address: '10.0.0.1', port: 5051, resources: res('cpus:4;mem:4096'), attributes: {}, version: 't' } },
    { type: 'JobCreated', at: 1, spec: validateJobSpec({ job: 'web/prod/hello', instances: 2, resources: { cpus: 1, mem: 64 }, processes: [{ name: 'main', cmd: 'sleep 100' }] }) },
    {
      type: 'TasksLaunched',
      at: 2,
      tasks: [0, 1].map((i) => ({ taskId: `t${i}`, job: 'web/prod/hello', instance: i, agentId: 'a1', resources: res('cpus:1;mem:64'), ports: {} })),
    },
    { type: 'TaskStatusUpdated', at: 3, status: { taskId: 't0', state: 'TASK_RUNNING', uuid: 'u0', timestamp: 3 } },
    { type: 'TaskStatusUpdated', at: 3, status: { taskId: 't1', state: 'TASK_RUNNING', uuid: 'u1', timestamp: 3 } },
  ];
  for (const e of events) apply(s, e);
  return s;
}

void test('registerAgent: a new agent gets an id; one back without a task loses it; a task no one wants is to be killed', () => {
  const s = cell();
  const fresh = registerAgent(s, 10, info(), res('cpus:4;mem:4096'), []);
  assert.match(fresh.result.agentId, /^[0-9a-f-]{36}$/);
  assert.deepEqual(fresh.events.map((e) => e.type), ['AgentRegistered']);
  const back = registerAgent(s, 10, info('a1'), res('cpus:4;mem:4096'), [
    { taskId: 't0', state: 'TASK_RUNNING' },
    { taskId: 'stray', state: 'TASK_RUNNING' },
    { taskId: 'done', state: 'TASK_FINISHED' },
  ]);
  const lost = back.events.find((e) => e.type === 'TaskStatusUpdated');
  assert.ok(lost?.type === 'TaskStatusUpdated');
  assert.equal(lost.status.taskId, 't1');
  assert.equal(lost.status.state, 'TASK_LOST');
  assert.equal(lost.status.reason, 'REASON_AGENT_RESTARTED');
  assert.deepEqual(back.result.kills, [{ taskId: 'stray', grace: 5 }], 'only the unknown live task is killed; an ended one needs nothing');
});

void test('registerAgent takes back a task of an unreachable spell that its agent still runs', () => {
  const s = cell();
  apply(s, markUnreachable(s, 20, 'a1', 'silent').events[0] as Event);
  assert.equal(s.tasks.get('t0')?.state, 'TASK_UNREACHABLE');
  assert.deepEqual(markUnreachable(s, 21, 'a1', 'silent').events, [], 'marked once');
  const back = registerAgent(s, 22, info('a1'), res('cpus:4;mem:4096'), [{ taskId: 't0', state: 'TASK_RUNNING' }]);
  const statuses = back.events.flatMap((e) => (e.type === 'TaskStatusUpdated' ? [[e.status.taskId, e.status.state, e.status.reason]] : []));
  assert.deepEqual(statuses.find((x) => x[0] === 't0'), ['t0', 'TASK_RUNNING', 'REASON_RECONCILIATION']);
});

void test('recordStatus records an update once, ignores a retry and a backward move, and has an unknown live task killed', () => {
  const s = cell();
  const finished = { taskId: 't0', state: 'TASK_FINISHED' as const, uuid: 'u9', timestamp: 9 };
  const first = recordStatus(s, 9, 'a1', finished);
  assert.deepEqual(first.result, { outcome: 'recorded', kill: false });
  assert.equal(first.events.length, 1);
  assert.deepEqual(recordStatus(s, 9, 'a1', { taskId: 't0', state: 'TASK_RUNNING', uuid: 'u0', timestamp: 9 }).result, { outcome: 'duplicate', kill: false }, 'the uuid already recorded');
  assert.deepEqual(recordStatus(s, 9, 'a1', { taskId: 't1', state: 'TASK_STARTING', uuid: 'u8', timestamp: 9 }).result, { outcome: 'backwards', kill: false });
  assert.deepEqual(recordStatus(s, 9, 'a2', finished).result, { outcome: 'unknown', kill: false }, 'not this agent’s task, and ended');
  assert.deepEqual(recordStatus(s, 9, 'a1', { taskId: 'nope', state: 'TASK_RUNNING', uuid: 'u7', timestamp: 9 }).result, { outcome: 'unknown', kill: true });
  apply(s, first.events[0] as Event);
  assert.deepEqual(recordStatus(s, 10, 'a1', { ...finished, uuid: 'u10' }).result, { outcome: 'duplicate', kill: false }, 'an ended task records nothing more');
});

void test('registerAgent on a cell with authentication: a join token gets a credential issued; an id with a credential takes only that credential', () => {
  const s = cell();
  apply(s, { type: 'PolicySet', at: 1, policy: { name: 'agents', grants: [{ actions: ['agent:join'], roles: ['*'] }], setAt: 1 } });
  apply(s, { type: 'PolicySet', at: 1, policy: { name: 'readers', grants: [{ actions: ['job:read'], roles: ['*'] }], setAt: 1 } });
  apply(s, { type: 'TokenCreated', at: 1, token: { accessorId: 'j', name: 'join', secretHash: 'hash-join', policies: ['agents'], management: false, createdAt: 1 } });
  apply(s, { type: 'TokenCreated', at: 1, token: { accessorId: 'r', name: 'reader', secretHash: 'hash-reader', policies: ['readers'], management: false, createdAt: 1 } });
  const fresh = { secret: 'mac_secret', hash: 'hash-cred' };
  const r = res('cpus:4;mem:4096');
  assert.throws(() => registerAgent(s, 2, info(), r, [], { bearerHash: undefined, fresh }), (e: unknown) => e instanceof MusterError && e.code === 'UNAUTHENTICATED');
  assert.throws(() => registerAgent(s, 2, info(), r, [], { bearerHash: 'hash-nobody', fresh }), (e: unknown) => e instanceof MusterError && e.code === 'UNAUTHENTICATED');
  assert.throws(() => registerAgent(s, 2, info(), r, [], { bearerHash: 'hash-reader', fresh }), (e: unknown) => e instanceof MusterError && e.code === 'FORBIDDEN' && /agent:join/.test(e.message));
  // a1 of cell() registered before authentication: it joins with the join token and gets a credential.
  const joined = registerAgent(s, 2, info('a1'), r, [], { bearerHash: 'hash-join', fresh });
  assert.equal(joined.result.credential, 'mac_secret');
  const ev = joined.events[0];
  assert.ok(ev?.type === 'AgentRegistered' && ev.agent.credentialHash === 'hash-cred');
  for (const e of joined.events) apply(s, e);
  // From now on a1's id needs a1's credential: the join token no longer does, whoever holds it.
  assert.throws(() => registerAgent(s, 3, info('a1'), r, [], { bearerHash: 'hash-join', fresh: { secret: 'mac_2', hash: 'h2' } }), (e: unknown) => e instanceof MusterError && e.code === 'FORBIDDEN' && /belongs to another agent/.test(e.message));
  const again = registerAgent(s, 3, info('a1'), r, [], { bearerHash: 'hash-cred', fresh: { secret: 'mac_2', hash: 'h2' } });
  assert.equal(again.result.credential, undefined, 'no new credential for an agent that has one');
  // Its other calls need it too.
  assert.doesNotThrow(() => checkAgentCredential(s, 'a1', 'hash-cred'));
  assert.throws(() => checkAgentCredential(s, 'a1', 'hash-join'), (e: unknown) => e instanceof MusterError && e.code === 'FORBIDDEN');
  assert.throws(() => checkAgentCredential(s, 'a1', undefined), (e: unknown) => e instanceof MusterError && e.code === 'UNAUTHENTICATED');
  assert.throws(() => checkAgentCredential(s, 'nope', 'hash-cred'), (e: unknown) => e instanceof MusterError && e.code === 'UNAUTHENTICATED');
});

void test('recordStatus keeps a status message whatever it holds, its control characters escaped', () => {
  const s = cell();
  const r = recordStatus(s, 9, 'a1', { taskId: 't0', state: 'TASK_FAILED', uuid: 'u9', timestamp: 9, message: 'boom \u001b[2J\u0000 done\n' });
  const ev = r.events[0];
  assert.ok(ev?.type === 'TaskStatusUpdated');
  assert.equal(ev.status.message, 'boom \\u001b[2J\\u0000 done\n');
});
