// The master's state is a fold over its log: a master killed with SIGKILL and started again on the
// same store comes back with the same jobs, instances and tasks, and its agents' tasks keep running
// through it, none started twice.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobView } from '../src/protocol/index.js';
import { cell, settle, waitFor } from './harness.js';
import { batchConfig, serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { brief, taskIds, waitRunning } from './jobs.js';
import { hasProcfs, liveTaskIds, taskProcesses } from './proc.js';
import { requireOrSkip } from './require.js';

const SERVICE = 'web/prod/hello';
const BATCH = 'data/prod/crunch';
const SLEEP = ['sleep', '3600'] as const;

/** sameJob asserts that a job came back as it was: kind, instances, task ids, all running. */
function assertSameJob(after: JobView, before: JobView): void {
  assert.equal(after.kind, before.kind);
  assert.equal(after.instanceCount, before.instanceCount);
  assert.deepEqual(taskIds(after), taskIds(before), `${after.job} has the same task ids: ${brief(after)}`);
  for (const i of after.instances) {
    assert.equal(i.task?.state, 'TASK_RUNNING', `${after.job} instance ${i.instance} is still running: ${brief(after)}`);
  }
}

test('a master killed and started again on the same store has the same jobs and tasks, none duplicated', async (t) => {
  if (!requireOrSkip(t, hasProcfs(), 'needs /proc (Linux) to count the live processes of each task')) return;
  const c = cell(t);
  const master = await c.startMaster({ agentTimeoutSecs: 10 });
  await c.startAgent(master);
  await c.startAgent(master);
  await c.waitForAgents(2);
  const client = c.client();

  await client.createJob(yamlOf(serviceConfig(SERVICE, { instances: 2 })), YAML);
  await client.createJob(yamlOf(batchConfig(BATCH, { instances: 2, processes: [{ name: 'main', cmd: 'sleep 3600' }] })), YAML);
  const service = await waitRunning(client, SERVICE);
  const batch = await waitRunning(client, BATCH);
  const jobsBefore = (await client.listJobs()).map((j) => j.job).sort();
  const tasksBefore = (await client.listTasks()).map((task) => task.taskId).sort();

  /** assertOneRunEach: every instance has the processes of exactly its task, and one sleep. */
  const assertOneRunEach = (when: string): void => {
    for (const job of [service, batch]) {
      for (const i of job.instances) {
        const live = [...liveTaskIds({ job: job.job, instance: i.instance, under: c.dir })];
        assert.deepEqual(live, [i.task?.taskId], `${when}: ${job.job} instance ${i.instance} has the processes of its one task only`);
        const sleeps = taskProcesses({ job: job.job, instance: i.instance, argv: SLEEP, under: c.dir });
        assert.equal(sleeps.length, 1, `${when}: ${job.job} instance ${i.instance} runs exactly once`);
      }
    }
  };
  // TASK_RUNNING means each task's shell runs; on a loaded machine a shell may not have started sleep yet.
  await waitFor(() => [service, batch].every((j) => j.instances.every((i) => taskProcesses({ job: j.job, instance: i.instance, argv: SLEEP, under: c.dir }).length === 1)), {
    what: 'every task to run its sleep',
  });
  assertOneRunEach('before the restart');

  await master.kill('SIGKILL');
  const restartedAt = Date.now();
  await master.restart();

  // At once, from the store alone, before any agent has re-subscribed.
  assert.deepEqual((await client.listJobs()).map((j) => j.job).sort(), jobsBefore, 'the same jobs are back');
  assertSameJob(await client.getJob(SERVICE), service);
  assertSameJob(await client.getJob(BATCH), batch);
  assert.deepEqual((await client.listTasks()).map((task) => task.taskId).sort(), tasksBefore, 'the same tasks are back');
  assertOneRunEach('right after the restart');

  // Then once both agents have re-subscribed and had time to act on what the master told them.
  await waitFor(() => client.cell(), {
    what: 'both agents to re-subscribe to the restarted master',
    until: (cellView) =>
      cellView.agents.length === 2 &&
      cellView.agents.every((a) => a.state === 'CONNECTED' && (a.lastSeenAt ?? a.registeredAt) >= restartedAt),
  });
  await settle(3000);
  assertSameJob(await client.getJob(SERVICE), service);
  assertSameJob(await client.getJob(BATCH), batch);
  assert.deepEqual((await client.listTasks()).map((task) => task.taskId).sort(), tasksBefore, 'no task was added or lost');
  assertOneRunEach('after the agents re-subscribed');
});
