import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResourceFlag, validateJobSpec, type Resources } from '../../core/index.js';
import { apply, emptyState, type CellState, type Event, type LaunchedTask, type LoggedEvent } from '../state/index.js';
import { AgentSlotCache, NO_SLACK, pendingTasks } from './input.js';

function res(text: string): Resources {
  return { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [], ...parseResourceFlag(text) };
}

const agent = (id: string): Event => ({
  type: 'AgentRegistered',
  at: 0,
  agent: { agentId: id, hostname: `h-${id}`, address: '10.0.0.1', port: 5051, resources: res('cpus:4;mem:4096'), attributes: {}, version: 'test' },
});

const job = (key: string, instances: number): Event => ({
  type: 'JobCreated',
  at: 1,
  spec: validateJobSpec({ job: key, instances, resources: { cpus: 1, mem: 256 }, processes: [{ name: 'main', cmd: 'sleep 1000' }] }),
});

const launched = (taskId: string, jobKey: string, instance: number, agentId: string): Event => {
  const t: LaunchedTask = { taskId, job: jobKey, instance, agentId, resources: res('cpus:1;mem:256'), ports: {} };
  return { type: 'TasksLaunched', at: 2, tasks: [t] };
};

/** FakeLog applies events and tells its listeners, as the EventLog does once a batch is durable. */
class FakeLog {
  readonly state: CellState = emptyState();
  private readonly listeners = new Set<(batch: readonly LoggedEvent[]) => void>();
  private index = 0;

  onAppended(listener: (batch: readonly LoggedEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  append(...events: Event[]): void {
    const batch = events.map((event) => ({ index: ++this.index, event }));
    for (const { event } of batch) apply(this.state, event);
    for (const l of this.listeners) l(batch);
  }
}

test('pendingTasks scans only jobs with pending instances, and a job comes back when an instance is pending again', () => {
  const log = new FakeLog();
  log.append(agent('a1'), job('web/prod/a', 2), job('web/prod/b', 1));
  assert.deepEqual(
    pendingTasks(log.state, 10).map((t) => t.key),
    ['web/prod/a/0', 'web/prod/a/1', 'web/prod/b/0'],
  );
  log.append(launched('ta0', 'web/prod/a', 0, 'a1'), launched('ta1', 'web/prod/a', 1, 'a1'));
  assert.deepEqual(
    pendingTasks(log.state, 10).map((t) => t.key),
    ['web/prod/b/0'],
  );
  assert.deepEqual([...log.state.pendingJobs], ['web/prod/b'], 'the scan forgets the job with nothing pending');

  // The task ends: the service instance is pending again (after its backoff) and its job is back.
  log.append({ type: 'TaskStatusUpdated', at: 3, status: { taskId: 'ta1', state: 'TASK_FAILED', uuid: 'u1', timestamp: 3 } });
  assert.ok(log.state.pendingJobs.has('web/prod/a'));
  assert.deepEqual(
    pendingTasks(log.state, 60_000).map((t) => t.key),
    ['web/prod/a/1', 'web/prod/b/0'],
  );
});

test('a watching slot cache rebuilds only the agents an event touched', () => {
  const log = new FakeLog();
  log.append(agent('a1'), agent('a2'), agent('a3'), job('web/prod/a', 1));
  const cache = new AgentSlotCache();
  cache.watch(log);
  const table = cache.refresh(log.state, undefined, () => NO_SLACK);
  assert.equal(cache.rebuilt, 3, 'the first refresh builds every slot');

  assert.equal(cache.refresh(log.state, undefined, () => NO_SLACK), table);
  assert.equal(cache.rebuilt, 0, 'nothing happened: nothing is rebuilt');

  log.append(launched('t0', 'web/prod/a', 0, 'a2'));
  cache.refresh(log.state, undefined, () => NO_SLACK);
  assert.equal(cache.rebuilt, 1);
  const a2 = table.index.get('a2') ?? -1;
  assert.equal(table.freeCpu[a2], 3000, 'the launch took one of four cpus');
  assert.equal(table.agents[a2]?.free.cpusMilli, 3000);

  // A slack change is not in the log: the caller marks the agent.
  cache.markDirty('a3');
  cache.refresh(log.state, undefined, (id) => (id === 'a3' ? { cpusMilli: 500, memMiB: 100 } : NO_SLACK));
  assert.equal(cache.rebuilt, 1);
  assert.equal(table.revCpu[table.index.get('a3') ?? -1], 500);

  // A new agent changes the set: the table is built again with all of them.
  log.append(agent('a4'));
  const next = cache.refresh(log.state, undefined, () => NO_SLACK);
  assert.notEqual(next, table);
  assert.equal(next.length, 4);
  assert.equal(next.freeCpu[next.index.get('a2') ?? -1], 3000);
});

test('a cache that does not watch checks every agent and still finds what changed', () => {
  const log = new FakeLog();
  log.append(agent('a1'), agent('a2'), job('web/prod/a', 1));
  const cache = new AgentSlotCache();
  const table = cache.refresh(log.state, undefined, () => NO_SLACK);
  log.append(launched('t0', 'web/prod/a', 0, 'a1'));
  assert.equal(cache.refresh(log.state, undefined, () => NO_SLACK), table);
  assert.equal(cache.rebuilt, 1);
  assert.equal(table.freeCpu[table.index.get('a1') ?? -1], 3000);
});
