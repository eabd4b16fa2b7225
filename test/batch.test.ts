// A batch job runs each instance to completion: a success is final, a failure is retried until the
// job's maxTaskFailures is spent, and then the job fails with the reason a person can read.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cell, settle, waitFor } from './harness.js';
import { batchConfig, YAML, yamlOf } from './jobconfig.js';
import { brief, taskOf } from './jobs.js';

const KEY = 'data/prod/crunch';

test('a batch instance that always fails runs exactly maxTaskFailures times and the job fails', async (t) => {
  const c = cell(t);
  const { client } = await c.startCell(1);
  await client.createJob(
    yamlOf(batchConfig(KEY, {
      processes: [{ name: 'main', cmd: 'echo trying; exit 3' }],
      maxTaskFailures: 3,
      restartBackoff: { initialSecs: 0.2, maxSecs: 0.2, stableSecs: 60 },
    })),
    YAML,
  );

  const failed = await waitFor(() => client.getJob(KEY), {
    what: `${KEY} to end FAILED`,
    until: (job) => job.state === 'FAILED',
  });
  const instance = failed.instances[0];
  assert.ok(instance !== undefined);
  assert.equal(instance.state, 'FAILED', brief(failed));
  assert.equal(instance.runs, 3, `instance 0 ran 3 times: ${brief(failed)}`);
  assert.equal(instance.failures, 3);
  const last = taskOf(failed, 0);
  assert.equal(last.state, 'TASK_FAILED');
  assert.match(last.message ?? '', /\b3\b/, `the task's message says it exited with status 3: "${last.message ?? ''}"`);
  assert.match(last.message ?? '', /exit/i, `the task's message says it exited: "${last.message ?? ''}"`);

  const tasks = await client.listTasks({ job: KEY, all: true });
  assert.equal(tasks.length, 3, `three tasks ran: ${tasks.map((x) => `${x.taskId}:${x.state}`).join(', ')}`);
  assert.ok(tasks.every((x) => x.state === 'TASK_FAILED'), 'each of them failed');

  // A failed job stays failed: nothing is retried once the budget is spent.
  await settle(1500);
  const later = await client.getJob(KEY);
  assert.equal(later.state, 'FAILED');
  assert.equal(later.instances[0]?.runs, 3, `no fourth run: ${brief(later)}`);
  assert.equal((await client.listTasks({ job: KEY, all: true })).length, 3);
});

test('a batch job whose instances succeed ends FINISHED with every instance FINISHED', async (t) => {
  const c = cell(t);
  const { client } = await c.startCell(1);
  await client.createJob(
    yamlOf(batchConfig(KEY, {
      instances: 2,
      processes: [{ name: 'main', cmd: 'echo "sum=$((MUSTER_INSTANCE + 40))"' }],
    })),
    YAML,
  );

  const finished = await waitFor(() => client.getJob(KEY), {
    what: `${KEY} to end FINISHED`,
    until: (job) => job.state === 'FINISHED' || job.state === 'FAILED',
  });
  assert.equal(finished.state, 'FINISHED', brief(finished));
  assert.equal(finished.instances.length, 2);
  for (const instance of finished.instances) {
    assert.equal(instance.state, 'FINISHED', brief(finished));
    assert.equal(instance.runs, 1, `instance ${instance.instance} ran once`);
    const task = taskOf(finished, instance.instance);
    assert.equal(task.state, 'TASK_FINISHED');
    // The sandbox outlives the task: its output can still be read.
    const chunk = await client.taskLogs(task.taskId, { file: 'stdout' });
    assert.match(chunk.data, new RegExp(`sum=${40 + instance.instance}\\b`));
  }
});
