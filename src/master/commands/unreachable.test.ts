// An agent that goes silent, and what comes back: the unreachable policy (wait or replace), which of
// two copies survives the return, a batch success counted once, the agent's word over the master's
// guess, and reconciliation. Decisions are checked as the events they write, folded by apply().

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResourceFlag, validateJobSpec, type JobSpecInput, type Resources } from '../../core/index.js';
import type { AgentInfo, TaskStatus } from '../../protocol/index.js';
import { apply, emptyState, type CellState, type Event } from '../state/index.js';
import { markUnreachable, reconcileAgent, recordStatus, registerAgent, replaceUnreachable } from './agents.js';

const JOB = 'batch/prod/work';
const res = (text: string): Resources => ({ cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [], ...parseResourceFlag(text) });
const info = (agentId: string, hostname = agentId): AgentInfo => ({
  agentId,
  hostname,
  address: '10.0.0.1',
  port: 5051,
  resources: { cpus: 4, mem: 4096, disk: 0, gpus: 0, ports: '' },
  attributes: {},
  version: 't',
});
const status = (taskId: string, state: TaskStatus['state'], uuid: string, at = 0): TaskStatus => ({ taskId, state, uuid, timestamp: at });

function fold(s: CellState, events: readonly Event[]): void {
  for (const e of events) apply(s, e);
}

/** A cell with agents a1 and a2; job JOB of `instances` runs as t0.. on a1, all TASK_RUNNING since t=3. */
function cell(overrides: Partial<JobSpecInput> = {}, instances = 1): CellState {
  const s = emptyState();
  fold(s, [
    { type: 'AgentRegistered', at: 0, agent: { agentId: 'a1', hostname: 'h1', address: '10.0.0.1', port: 5051, resources: res('cpus:4;mem:4096'), attributes: {}, version: 't' } },
    { type: 'AgentRegistered', at: 0, agent: { agentId: 'a2', hostname: 'h2', address: '10.0.0.2', port: 5051, resources: res('cpus:4;mem:4096'), attributes: {}, version: 't' } },
    {
      type: 'JobCreated',
      at: 1,
      spec: validateJobSpec({ job: JOB, kind: 'batch', instances, resources: { cpus: 0.1, mem: 16 }, processes: [{ name: 'main', cmd: 'sleep 10' }], ...overrides }),
    },
    {
      type: 'TasksLaunched',
      at: 2,
      tasks: Array.from({ length: instances }, (_, i) => ({ taskId: `t${i}`, job: JOB, instance: i, agentId: 'a1', resources: res('cpus:0.1;mem:16'), ports: {} })),
    },
    ...Array.from({ length: instances }, (_, i): Event => ({ type: 'TaskStatusUpdated', at: 3, status: status(`t${i}`, 'TASK_RUNNING', `r${i}`, 3) })),
  ]);
  return s;
}

/** silence marks a1 unreachable at `at`. */
function silence(s: CellState, at: number): Event {
  const d = markUnreachable(s, at, 'a1', 'silent');
  assert.equal(d.result, true);
  fold(s, d.events);
  return d.events[0] as Event;
}

/** replace launches instance 0 again on a2 as `taskId`. */
function relaunch(s: CellState, at: number, taskId: string): void {
  fold(s, [{ type: 'TasksLaunched', at, tasks: [{ taskId, job: JOB, instance: 0, agentId: 'a2', resources: res('cpus:0.1;mem:16'), ports: {} }] }]);
  fold(s, [{ type: 'TaskStatusUpdated', at, status: status(taskId, 'TASK_RUNNING', `${taskId}-run`, at) }]);
}

/** record folds an agent's update as the link records it; returns its answer. */
function record(s: CellState, agentId: string, st: TaskStatus, at: number): ReturnType<typeof recordStatus>['result'] {
  const d = recordStatus(s, at, agentId, st);
  fold(s, d.events);
  return d.result;
}

void test('a batch instance waits for its silent agent replaceAfterSecs (default 300 s), then is replaced; a service is replaced at once', () => {
  const s = cell();
  const event = silence(s, 10_000);
  assert.ok(event.type === 'AgentUnreachable');
  assert.deepEqual(event.waiting, ['t0']);
  assert.equal(s.tasks.get('t0')?.state, 'TASK_UNREACHABLE');
  assert.equal(s.jobs.get(JOB)?.instances[0]?.state, 'ACTIVE', 'the instance waits for its task');
  assert.deepEqual(replaceUnreachable(s, 10_000 + 299_000).events, [], 'not before 300 s');
  const due = replaceUnreachable(s, 10_000 + 300_000);
  assert.equal(due.result, 1);
  fold(s, due.events);
  assert.equal(s.jobs.get(JOB)?.instances[0]?.state, 'PENDING', 'replaced');
  assert.equal(s.jobs.get(JOB)?.instances[0]?.failures, 0, 'a lost task is not a failure');
  assert.deepEqual(replaceUnreachable(s, 10_000 + 400_000).events, [], 'replaced once');

  const svc = cell({ kind: 'service' });
  const lost = silence(svc, 10_000);
  assert.ok(lost.type === 'AgentUnreachable');
  assert.equal(lost.waiting, undefined);
  assert.equal(svc.jobs.get(JOB)?.instances[0]?.state, 'PENDING', 'a service is placed again at once');
});

void test('an agent heard of again before the replacement gets its task back in the state the master last knew, not a stale report', () => {
  const s = cell();
  silence(s, 10_000);
  // The report was written before the RUNNING update the master had recorded: it says STARTING.
  const back = registerAgent(s, 20_000, info('a1', 'h1'), res('cpus:4;mem:4096'), [{ taskId: 't0', state: 'TASK_STARTING' }]);
  fold(s, back.events);
  assert.equal(s.tasks.get('t0')?.state, 'TASK_RUNNING');
  assert.equal(s.tasks.get('t0')?.reason, 'REASON_RECONCILIATION');
  assert.equal(s.tasks.get('t0')?.unreachableAt, undefined);
  assert.equal(s.jobs.get(JOB)?.instances[0]?.state, 'ACTIVE');
  assert.deepEqual(back.result.kills, []);
  assert.deepEqual(replaceUnreachable(s, 10_000 + 400_000).events, [], 'a task heard of again is not replaced');
});

void test('a task that ended while its agent was away reports its real end: a batch success counts, a failure counts as one', () => {
  const s = cell();
  silence(s, 10_000);
  fold(s, registerAgent(s, 20_000, info('a1', 'h1'), res('cpus:4;mem:4096'), [{ taskId: 't0', state: 'TASK_FINISHED' }]).events);
  assert.equal(s.tasks.get('t0')?.state, 'TASK_UNREACHABLE', 'its end comes as the agent\'s update');
  assert.equal(record(s, 'a1', status('t0', 'TASK_FINISHED', 'f0'), 20_001).outcome, 'recorded');
  assert.equal(s.tasks.get('t0')?.state, 'TASK_FINISHED');
  assert.equal(s.jobs.get(JOB)?.state, 'FINISHED');

  const f = cell({ maxTaskFailures: 2 });
  silence(f, 10_000);
  record(f, 'a1', status('t0', 'TASK_FAILED', 'x0'), 20_001);
  assert.equal(f.jobs.get(JOB)?.instances[0]?.state, 'PENDING');
  assert.equal(f.jobs.get(JOB)?.instances[0]?.failures, 1);
});

void test('a service replaced while away: killOnReturn true kills the returning copy, false keeps it and kills the replacement', () => {
  for (const killOnReturn of [true, false]) {
    const s = cell({ kind: 'service', unreachable: { replaceAfterSecs: 0, killOnReturn } });
    silence(s, 10_000);
    relaunch(s, 11_000, 'r0');
    const back = registerAgent(s, 20_000, info('a1', 'h1'), res('cpus:4;mem:4096'), [{ taskId: 't0', state: 'TASK_RUNNING' }]);
    fold(s, back.events);
    const inst = s.jobs.get(JOB)?.instances[0];
    const survivor = killOnReturn ? 'r0' : 't0';
    const surplus = killOnReturn ? 't0' : 'r0';
    assert.equal(inst?.taskId, survivor, `killOnReturn ${killOnReturn}: the instance's task`);
    assert.equal(inst?.state, 'ACTIVE');
    assert.equal(s.tasks.get(survivor)?.kill, undefined);
    assert.equal(s.tasks.get(surplus)?.kill?.reason, 'REASON_RECONCILIATION', 'the other copy is to be killed, for good');
    assert.equal(s.tasks.get(surplus)?.kill?.restart, false);
    assert.ok(s.killing.has(surplus), 'its KILL is owed until it ends');
    // The surplus copy's end moves the instance nowhere.
    record(s, surplus === 't0' ? 'a1' : 'a2', status(surplus, 'TASK_KILLED', 'k'), 21_000);
    assert.equal(s.jobs.get(JOB)?.instances[0]?.taskId, survivor);
    assert.equal(s.jobs.get(JOB)?.instances[0]?.state, 'ACTIVE');
  }
});

void test('a batch success counts once: the original that succeeded while replaced is counted and the replacement killed; a late one counts for nothing', () => {
  const s = cell({ unreachable: { replaceAfterSecs: 0 } });
  silence(s, 10_000);
  relaunch(s, 11_000, 'r0');
  assert.equal(record(s, 'a1', status('t0', 'TASK_FINISHED', 'f0'), 20_000).outcome, 'recorded');
  const inst = s.jobs.get(JOB)?.instances[0];
  assert.equal(inst?.state, 'FINISHED');
  assert.equal(inst?.taskId, 't0', 'the record says which copy counted');
  assert.equal(s.jobs.get(JOB)?.state, 'FINISHED');
  assert.equal(s.tasks.get('r0')?.kill?.reason, 'REASON_RECONCILIATION');
  // The replacement finishing too changes nothing: no second success.
  record(s, 'a2', status('r0', 'TASK_FINISHED', 'f1'), 21_000);
  assert.equal(s.jobs.get(JOB)?.instances[0]?.taskId, 't0');
  assert.equal(s.jobs.get(JOB)?.instances[0]?.runs, 2);

  // The other order: the replacement succeeds first; the original's success comes after.
  const o = cell({ unreachable: { replaceAfterSecs: 0 } });
  silence(o, 10_000);
  relaunch(o, 11_000, 'r0');
  record(o, 'a2', status('r0', 'TASK_FINISHED', 'f1'), 12_000);
  assert.equal(o.jobs.get(JOB)?.state, 'FINISHED');
  record(o, 'a1', status('t0', 'TASK_FINISHED', 'f0'), 20_000);
  assert.equal(o.tasks.get('t0')?.state, 'TASK_FINISHED', 'its real end is recorded');
  assert.equal(o.jobs.get(JOB)?.instances[0]?.taskId, 'r0', 'the copy that counted is the replacement');
  assert.equal(o.jobs.get(JOB)?.state, 'FINISHED');
});

void test("the master's guess gives way to the agent's word: TASK_LOST for an unreported task becomes the end the agent reports", () => {
  const s = cell();
  // The agent comes back without t0 (the report did not carry it): the master guesses it lost.
  fold(s, registerAgent(s, 5_000, info('a1', 'h1'), res('cpus:4;mem:4096'), []).events);
  assert.equal(s.tasks.get('t0')?.state, 'TASK_LOST');
  assert.equal(s.tasks.get('t0')?.guessed, true);
  assert.equal(s.jobs.get(JOB)?.instances[0]?.state, 'PENDING');
  const answer = record(s, 'a1', status('t0', 'TASK_FINISHED', 'f0'), 6_000);
  assert.equal(answer.outcome, 'recorded');
  assert.equal(s.tasks.get('t0')?.state, 'TASK_FINISHED');
  assert.equal(s.tasks.get('t0')?.guessed, undefined);
  assert.equal(s.jobs.get(JOB)?.state, 'FINISHED', 'its success counts');
  // An agent's own end is never replaced.
  assert.equal(record(s, 'a1', status('t0', 'TASK_FAILED', 'x'), 7_000).outcome, 'duplicate');
  assert.equal(s.tasks.get('t0')?.state, 'TASK_FINISHED');
});

void test('reconciliation heals what the agent settled and the master lacks, loses what the agent does not hold, and kills what no one wants', () => {
  const s = cell({}, 3);
  fold(s, [{ type: 'TaskStatusUpdated', at: 4, status: status('t2', 'TASK_STARTING', 's2', 4) }]);
  // t2's state moved back for the test: the master believes STARTING, the agent settled RUNNING.
  const report = {
    session: 's',
    seen: 10,
    tasks: [
      { taskId: 't0', state: 'TASK_RUNNING' as const, settled: true },
      { taskId: 't2', state: 'TASK_STARTING' as const, settled: true },
      { taskId: 'stray', state: 'TASK_RUNNING' as const, settled: true },
    ],
  };
  // t1 is missing; t2 is in flight (its LAUNCH not read yet) in the first look.
  const first = reconcileAgent(s, 100, 'a1', report, (id) => id === 't1');
  assert.deepEqual(first.result.divergences, { missing: 0, state: 0, unwanted: 1 });
  assert.deepEqual(first.result.kills, [{ taskId: 'stray', grace: 5 }]);
  const second = reconcileAgent(s, 100, 'a1', { ...report, tasks: [{ taskId: 't0', state: 'TASK_FINISHED', settled: false }, { taskId: 't2', state: 'TASK_FINISHED', settled: true }] }, () => false);
  assert.deepEqual(second.result.divergences, { missing: 1, state: 1, unwanted: 0 });
  fold(s, second.events);
  assert.equal(s.tasks.get('t1')?.state, 'TASK_LOST');
  assert.equal(s.tasks.get('t1')?.reason, 'REASON_RECONCILIATION');
  assert.equal(s.tasks.get('t2')?.state, 'TASK_FINISHED', 'the settled end is recorded');
  assert.equal(s.tasks.get('t0')?.state, 'TASK_RUNNING', 'an unsettled state waits for its update');
  assert.equal(s.jobs.get(JOB)?.instances[2]?.state, 'FINISHED');
  // The same report again finds nothing: healed.
  const third = reconcileAgent(s, 200, 'a1', { ...report, tasks: [{ taskId: 't0', state: 'TASK_RUNNING', settled: true }] }, () => false);
  assert.deepEqual(third.result.divergences, { missing: 0, state: 0, unwanted: 0 });
});

void test('a task whose LAUNCH never went out while its agent was away is staging again on its return, or the surplus copy if it was replaced', () => {
  const s = cell({}, 1);
  fold(s, [{ type: 'TasksLaunched', at: 4, tasks: [{ taskId: 'q0', job: JOB, instance: 0, agentId: 'a1', resources: res('cpus:0.1;mem:16'), ports: {} }] }]);
  // (q0 stands in for a task queued in the master: the instance's current task.)
  silence(s, 10_000);
  const back = registerAgent(s, 20_000, info('a1', 'h1'), res('cpus:4;mem:4096'), [], undefined, new Set(['q0']));
  fold(s, back.events);
  assert.equal(s.tasks.get('q0')?.state, 'TASK_STAGING', 'not lost: its LAUNCH goes out now');
  assert.equal(s.tasks.get('q0')?.kill, undefined);
  assert.equal(s.tasks.get('t0')?.state, 'TASK_LOST', 'the agent does not hold the older task');

  const svc = cell({ kind: 'service' });
  fold(svc, [{ type: 'TasksLaunched', at: 4, tasks: [{ taskId: 'q0', job: JOB, instance: 0, agentId: 'a1', resources: res('cpus:0.1;mem:16'), ports: {} }] }]);
  silence(svc, 10_000);
  relaunch(svc, 11_000, 'r0');
  fold(svc, registerAgent(svc, 20_000, info('a1', 'h1'), res('cpus:4;mem:4096'), [], undefined, new Set(['q0'])).events);
  assert.equal(svc.tasks.get('q0')?.kill?.reason, 'REASON_RECONCILIATION', 'replaced meanwhile: it is not sent, and ends');
});

void test('an unsent copy never wins over a launched replacement, whatever killOnReturn says', () => {
  const s = cell({ unreachable: { replaceAfterSecs: 0, killOnReturn: false } });
  fold(s, [{ type: 'TasksLaunched', at: 4, tasks: [{ taskId: 'q0', job: JOB, instance: 0, agentId: 'a1', resources: res('cpus:0.1;mem:16'), ports: {} }] }]);
  silence(s, 10_000);
  relaunch(s, 11_000, 'r0');
  fold(s, registerAgent(s, 20_000, info('a1', 'h1'), res('cpus:4;mem:4096'), [], undefined, new Set(['q0'])).events);
  assert.equal(s.jobs.get(JOB)?.instances[0]?.taskId, 'r0', 'the replacement, which ran, is kept');
  assert.equal(s.tasks.get('q0')?.kill?.reason, 'REASON_RECONCILIATION');
  assert.equal(s.tasks.get('r0')?.kill, undefined);
});

void test("an external framework's task: a correction of the master's guess releases nothing twice; one back after its framework left is killed", () => {
  const s = emptyState();
  const fw = { frameworkId: 'f1', name: 'fw', user: 'root', roles: ['test'], failoverTimeoutSecs: 60, checkpoint: false, capabilities: [] };
  const ftask = (taskId: string) => ({
    taskId,
    job: 'test/framework/f1',
    instance: 0,
    frameworkId: 'f1',
    agentId: 'a1',
    resources: res('cpus:1;mem:64'),
    ports: {},
    launch: { name: taskId, externalId: taskId, cmd: 'true', env: {}, killGraceSecs: 3 },
  });
  fold(s, [
    { type: 'AgentRegistered', at: 0, agent: { agentId: 'a1', hostname: 'h1', address: '10.0.0.1', port: 5051, resources: res('cpus:4;mem:4096'), attributes: {}, version: 't' } },
    { type: 'FrameworkRegistered', at: 1, framework: fw },
    { type: 'TasksLaunched', at: 2, tasks: [ftask('x0'), ftask('x1')] },
  ]);
  assert.equal(s.frameworks.get('f1')?.used?.cpusMilli, 2000);
  // The agent comes back without x0: guessed lost; x1 it still runs.
  fold(s, registerAgent(s, 5_000, info('a1', 'h1'), res('cpus:4;mem:4096'), [{ taskId: 'x1', state: 'TASK_RUNNING' }]).events);
  assert.equal(s.tasks.get('x0')?.state, 'TASK_LOST');
  assert.equal(s.frameworks.get('f1')?.used?.cpusMilli, 1000);
  assert.equal(s.agents.get('a1')?.used.cpusMilli, 1000);
  // Its real end arrives before the framework acknowledged the guess.
  assert.equal(record(s, 'a1', status('x0', 'TASK_FINISHED', 'f'), 6_000).outcome, 'recorded');
  assert.equal(s.tasks.get('x0')?.state, 'TASK_FINISHED');
  assert.equal(s.frameworks.get('f1')?.used?.cpusMilli, 1000, 'released once');
  assert.equal(s.agents.get('a1')?.used.cpusMilli, 1000, 'released once');

  // x1's agent goes silent; its framework is torn down meanwhile; the agent comes back with it.
  silence(s, 10_000);
  fold(s, [{ type: 'FrameworkRemoved', at: 11_000, frameworkId: 'f1', message: 'torn down' }]);
  const back = registerAgent(s, 20_000, info('a1', 'h1'), res('cpus:4;mem:4096'), [{ taskId: 'x1', state: 'TASK_RUNNING' }]);
  fold(s, back.events);
  assert.ok(s.killing.has('x1') || back.result.kills.some((k) => k.taskId === 'x1'), 'the task nobody wants any more is killed');
});
