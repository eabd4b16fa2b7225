import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MusterError, parseResourceFlag, type Resources } from '../../core/index.js';
import { mesos } from '../../protocol/index.js';
import { apply, emptyState, type CellState, type Event, type FrameworkRegistration, type LaunchedTask } from '../state/index.js';
import { MASTER } from '../auth/index.js';
import { acknowledgeStatus, killFrameworkTask, launchFrameworkTasks, MAX_FRAMEWORKS, registerFramework, removeFramework } from './frameworks.js';

function res(text: string): Resources {
  return { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [], ...parseResourceFlag(text) };
}

const reg = (frameworkId: string, roles = ['test']): FrameworkRegistration => ({ frameworkId, name: 'fw', user: 'root', roles, failoverTimeoutSecs: 60, checkpoint: false, capabilities: [] });

const task = (taskId: string, externalId: string, agentId = 'a1'): LaunchedTask => ({
  taskId,
  job: 'test/framework/f1',
  instance: 0,
  frameworkId: 'f1',
  agentId,
  resources: res('cpus:1;mem:64'),
  ports: {},
  launch: { name: externalId, externalId, cmd: 'true', env: {}, killGraceSecs: 3 },
});

function cell(...events: Event[]): CellState {
  const s = emptyState();
  apply(s, { type: 'AgentRegistered', at: 0, agent: { agentId: 'a1', hostname: 'h1', address: '10.0.0.1', port: 5051, resources: res('cpus:4;mem:4096'), attributes: {}, version: '0' } });
  for (const e of events) apply(s, e);
  return s;
}

void test('registerFramework records a new framework or one the master knows, and refuses a removed one, a bad role and one too many', () => {
  const s = cell();
  assert.deepEqual(registerFramework(s, 1, MASTER, reg('f1'), true), { events: [{ type: 'FrameworkRegistered', at: 1, framework: reg('f1') }], result: 'registered' });
  assert.deepEqual(registerFramework(s, 1, MASTER, reg('gone'), false), { events: [], result: 'unknown' }, 'an id the master does not know cannot come back');
  apply(s, { type: 'FrameworkRegistered', at: 1, framework: reg('f1') });
  assert.equal(registerFramework(s, 2, MASTER, reg('f1'), false).result, 'registered');
  assert.throws(() => registerFramework(s, 2, MASTER, reg('f2', ['Bad_Role']), true), (e: unknown) => e instanceof MusterError && /Bad_Role.*roles/.test(e.message));
  for (let i = 0; s.frameworks.size < MAX_FRAMEWORKS; i++) apply(s, { type: 'FrameworkRegistered', at: 1, framework: reg(`x${i}`) });
  assert.throws(() => registerFramework(s, 3, MASTER, reg('one-more'), true), (e: unknown) => e instanceof MusterError && e.code === 'UNAVAILABLE');
  assert.equal(registerFramework(s, 3, MASTER, reg('f1'), false).result, 'registered', 'a known one still subscribes again');
});

void test('removeFramework removes a framework once; launchFrameworkTasks keeps only launchable tasks', () => {
  const s = cell({ type: 'FrameworkRegistered', at: 1, framework: reg('f1') });
  const launched = launchFrameworkTasks(s, 2, [task('t1', 'e1'), task('t2', 'e2', 'nowhere')]);
  assert.deepEqual(launched.result.map((t) => t.taskId), ['t1'], 'an unknown agent is no place to launch');
  for (const e of launched.events) apply(s, e);
  assert.deepEqual(launchFrameworkTasks(s, 3, [task('t3', 'e1')]).result, [], "the framework's task id e1 is in use");
  assert.deepEqual(launchFrameworkTasks(s, 3, [task('t1', 'e9')]).result, [], "the master's task id t1 is in use");
  assert.equal(removeFramework(s, 4, MASTER, 'f1', 'bye').result, true);
  apply(s, removeFramework(s, 4, MASTER, 'f1', 'bye').events[0] as Event);
  assert.deepEqual(removeFramework(s, 5, MASTER, 'f1', 'bye'), { events: [], result: false });
  assert.deepEqual(launchFrameworkTasks(s, 5, [task('t4', 'e4')]).result, [], 'a removed framework launches nothing');
});

void test('killFrameworkTask and acknowledgeStatus name tasks by the framework’s own id, and ignore what is not there', () => {
  const s = cell({ type: 'FrameworkRegistered', at: 1, framework: reg('f1') }, { type: 'TasksLaunched', at: 2, tasks: [task('t1', 'e1')] });
  const uuid = '0f3c6a52-4a7e-4c3e-9f7a-1b2c3d4e5f60';
  apply(s, { type: 'TaskStatusUpdated', at: 3, status: { taskId: 't1', state: 'TASK_RUNNING', uuid, timestamp: 3 } });
  assert.deepEqual(acknowledgeStatus(s, 4, 'f1', 'e1', 'not-it'), { events: [], result: false });
  assert.deepEqual(acknowledgeStatus(s, 4, 'f2', 'e1', mesos.encodeStatusUuid(uuid)).result, false, "another framework's ack");
  const ack = acknowledgeStatus(s, 4, 'f1', 'e1', mesos.encodeStatusUuid(uuid));
  assert.deepEqual(ack.events, [{ type: 'StatusAcknowledged', at: 4, frameworkId: 'f1', taskId: 't1', uuid }]);
  assert.deepEqual(killFrameworkTask(s, 5, 'f1', 'nope').result, 'unknown');
  assert.deepEqual(killFrameworkTask(s, 5, 'f1', 'e1').events, [{ type: 'FrameworkTasksKilled', at: 5, frameworkId: 'f1', taskIds: ['t1'] }]);
  apply(s, { type: 'TaskStatusUpdated', at: 6, status: { taskId: 't1', state: 'TASK_FINISHED', uuid: '1f3c6a52-4a7e-4c3e-9f7a-1b2c3d4e5f60', timestamp: 6 } });
  assert.deepEqual(killFrameworkTask(s, 7, 'f1', 'e1'), { events: [], result: 'ended' });
});
