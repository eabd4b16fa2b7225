// The rules of --wait, on job views made up for each case: a service is up only once every
// instance has run (and passed its health check) without a break for the settle time.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InstanceView, JobView, TaskView } from '../protocol/index.js';
import { CRASH_LOOP_FAILURES, failureLines, JobWatch } from './wait.js';

function task(instance: number, run: number, overrides: Partial<TaskView> = {}): TaskView {
  return {
    taskId: `web-prod-hello-${instance}-run${run}`,
    job: 'web/prod/hello',
    instance,
    agentId: 'agent-1',
    hostname: 'box1',
    address: '10.0.0.1',
    state: 'TASK_RUNNING',
    ports: {},
    resources: { cpus: 0.1, mem: 16, disk: 0, gpus: 0, ports: '' },
    launchedAt: 0,
    killRequested: false,
    ...overrides,
  };
}

function running(instance: number, run = 1, overrides: Partial<TaskView> = {}): InstanceView {
  return { instance, state: 'ACTIVE', task: task(instance, run, overrides), failures: 0, runs: run };
}

function job(instances: InstanceView[], overrides: Partial<JobView> = {}): JobView {
  return {
    job: 'web/prod/hello',
    kind: 'service',
    state: 'ACTIVE',
    tier: 'preferred',
    priority: 0,
    instanceCount: instances.length,
    taskStates: {},
    createdAt: 0,
    spec: {} as JobView['spec'],
    instances,
    ...overrides,
  };
}

const FAILED = { state: 'TASK_FAILED', reason: 'REASON_COMMAND_EXITED', message: 'exited with status 3' } as const;

test('a service is up only after every instance has run for the settle time', () => {
  const watch = new JobWatch({ settleMs: 5000 });
  const pending: InstanceView = { instance: 1, state: 'PENDING', failures: 0, runs: 0, pendingReason: 'no agent has 0.1 cpus free' };
  assert.deepEqual(watch.observe(job([running(0), pending]), 0), { line: 'web/prod/hello: 1/2 running, 1 pending (no agent has 0.1 cpus free)', done: false });
  assert.deepEqual(watch.observe(job([running(0), running(1)]), 1000), { line: 'web/prod/hello: 2/2 running; checking that they stay up for 5s', done: false });
  assert.equal(watch.observe(job([running(0), running(1)]), 5999).done, false);
  assert.deepEqual(watch.observe(job([running(0), running(1)]), 6000), { line: 'web/prod/hello: 2/2 running, up for 5s', done: true });
});

test('with a settle time of 0 a service is up as soon as every instance runs', () => {
  const watch = new JobWatch({ settleMs: 0 });
  assert.deepEqual(watch.observe(job([running(0)]), 0), { line: 'web/prod/hello: 1/1 running', done: true });
});

test('a task that fails during the settle time starts it again and is remembered', () => {
  const watch = new JobWatch({ settleMs: 5000 });
  watch.observe(job([running(0), running(1)]), 0);
  const failedNow = job([running(0), { instance: 1, state: 'PENDING', task: task(1, 1, FAILED), failures: 1, runs: 1 }]);
  assert.equal(watch.observe(failedNow, 2000).line, 'web/prod/hello: 1/2 running, 1 pending; failures: instance 1 (1)');
  assert.equal(watch.observe(job([running(0), running(1, 2)]), 3000).done, false);
  assert.equal(watch.observe(job([running(0), running(1, 2)]), 7999).done, false, 'the settle time starts again at 3000');
  assert.equal(watch.observe(job([running(0), running(1, 2)]), 8000).done, true);
  assert.deepEqual(watch.failedInstances, [{ instance: 1, count: 1, last: { taskId: 'web-prod-hello-1-run1', ...FAILED } }]);
});

test('a task replaced between two looks counts as a failure, and its end can be looked up', () => {
  const watch = new JobWatch({ settleMs: 5000 });
  watch.observe(job([running(0)]), 0);
  const verdict = watch.observe(job([running(0, 2)]), 4000);
  assert.equal(verdict.done, false);
  assert.deepEqual(watch.takeUnseen(), [{ instance: 0, taskId: 'web-prod-hello-0-run1' }]);
  assert.deepEqual(watch.takeUnseen(), [], 'each unseen task is handed over once');
  assert.equal(watch.failedInstances[0]?.last.message, 'replaced by a new task');
  watch.ended(0, task(0, 1, FAILED));
  assert.deepEqual(watch.failedInstances[0]?.last, { taskId: 'web-prod-hello-0-run1', ...FAILED });
  assert.equal(watch.observe(job([running(0, 2)]), 8999).done, false, 'the settle time started again at 4000');
  assert.equal(watch.observe(job([running(0, 2)]), 9000).done, true);
});

test(`an instance that fails ${CRASH_LOOP_FAILURES} times ends the wait, listing the instances that failed and why`, () => {
  const watch = new JobWatch({ settleMs: 5000 });
  let verdict;
  for (let run = 1; run <= CRASH_LOOP_FAILURES; run++) {
    watch.observe(job([running(0, run), running(1)]), run * 1000);
    verdict = watch.observe(job([{ instance: 0, state: 'PENDING', task: task(0, run, FAILED), failures: run, runs: run }, running(1)]), run * 1000 + 500);
  }
  assert.equal(verdict?.failed, `web/prod/hello keeps failing: instance 0 failed at least ${CRASH_LOOP_FAILURES} times while --wait watched`);
  assert.deepEqual(failureLines(watch.failedInstances), [
    `  instance 0 failed ${CRASH_LOOP_FAILURES} times, last: TASK_FAILED (REASON_COMMAND_EXITED): exited with status 3 (task web-prod-hello-0-run${CRASH_LOOP_FAILURES})`,
  ]);
});

test('a job with a health check is not up until its checks pass', () => {
  const watch = new JobWatch({ settleMs: 0 });
  const checked = { spec: { health: {} } as JobView['spec'] };
  assert.deepEqual(watch.observe(job([running(0)], checked), 0), { line: 'web/prod/hello: 0/1 running and healthy, 1 not healthy yet', done: false });
  assert.equal(watch.observe(job([running(0, 1, { healthy: false })], checked), 1).done, false);
  assert.deepEqual(watch.observe(job([running(0, 1, { healthy: true })], checked), 2), { line: 'web/prod/hello: 1/1 running and healthy', done: true });
  // Without a check, only a task known to be unhealthy is held back.
  assert.equal(new JobWatch({ settleMs: 0 }).observe(job([running(0, 1, { healthy: false })]), 0).done, false);
});

test('a job killed while watched ends the wait; a task the person killed is not a failure', () => {
  const watch = new JobWatch({ settleMs: 0 });
  const killed = { instance: 0, state: 'KILLED' as const, task: task(0, 1, { state: 'TASK_KILLED', reason: 'REASON_KILLED_BY_USER' }), failures: 0, runs: 1 };
  const verdict = watch.observe(job([killed], { state: 'KILLING' }), 0);
  assert.equal(verdict.failed, 'web/prod/hello is KILLING and will not be running');
  assert.deepEqual(watch.failedInstances, []);
});

test('a batch job is done when it has finished, and failed when it failed, with its failed instances', () => {
  const done = new JobWatch({ settleMs: 5000 });
  const finished: InstanceView = { instance: 0, state: 'FINISHED', task: task(0, 1, { state: 'TASK_FINISHED' }), failures: 0, runs: 1 };
  assert.deepEqual(done.observe(job([finished], { kind: 'batch', state: 'FINISHED' }), 0), { line: 'web/prod/hello: 1/1 finished, 0 running', done: true });
  const failing = new JobWatch({ settleMs: 5000 });
  const failed: InstanceView = { instance: 0, state: 'FAILED', task: task(0, 2, FAILED), failures: 2, runs: 2 };
  const verdict = failing.observe(job([failed, finished], { kind: 'batch', state: 'FAILED' }), 0);
  assert.equal(verdict.failed, 'web/prod/hello failed: 1 instance failed');
  assert.deepEqual(failureLines(failing.failedInstances), [
    '  instance 0 failed 2 times, last: TASK_FAILED (REASON_COMMAND_EXITED): exited with status 3 (task web-prod-hello-0-run2)',
  ]);
});
