// The examples a new user copies first must be valid and must do what their comments say.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseJobText, validateJobSpec } from '../src/core/index.js';
import { cell, REPO_ROOT, waitFor } from './harness.js';
import { taskOf, waitRunning } from './jobs.js';
import { hasBinary, requireOrSkip } from './require.js';

const EXAMPLES = join(REPO_ROOT, 'examples');

function example(name: string): string {
  return readFileSync(join(EXAMPLES, name), 'utf8');
}

test('every example job config is valid', () => {
  const files = readdirSync(EXAMPLES).filter((f) => /\.(ya?ml|json)$/.test(f));
  assert.ok(files.includes('hello-service.yaml') && files.includes('batch-job.yaml'), `examples: ${files.join(', ')}`);
  for (const file of files) {
    assert.doesNotThrow(() => validateJobSpec(parseJobText(example(file))), `examples/${file} is a valid job`);
  }
});

test('the hello-service example serves HTTP on each instance port and passes its health checks, from a cell under /tmp', async (t) => {
  if (!requireOrSkip(t, hasBinary('python3'), 'needs python3 on PATH (the example runs python3 -m http.server)')) return;
  const c = cell(t);
  // Under /tmp each task's private /tmp covers its sandbox's path; the server serves its working
  // directory, the sandbox, and must still find it (the Quick start failed its checks there once).
  assert.ok(c.dir.startsWith(`${realpathSync(tmpdir())}/`), `the cell ${c.dir} is under the system's temp dir`);
  const master = await c.startMaster();
  await c.startAgent(master);
  await c.startAgent(master);
  await c.waitForAgents(2);
  const client = c.client();
  await client.createJob(example('hello-service.yaml'), { contentType: 'application/yaml' });
  const job = await waitRunning(client, 'web/prod/hello');
  for (const i of [0, 1, 2]) {
    const task = taskOf(job, i);
    const port = task.ports['http'];
    assert.ok(port !== undefined, `instance ${i} has an http port`);
    const status = await waitFor(
      async () => (await fetch(`http://${task.address}:${port}/`, { signal: AbortSignal.timeout(2000) })).status,
      { what: `instance ${i} to answer HTTP on ${task.address}:${port}`, until: (s) => s === 200 },
    );
    assert.equal(status, 200);
  }
  // The agent's checks (every 10 s, after a 10 s grace) find every instance healthy, and none was
  // restarted for failing them.
  const healthy = await waitFor(() => client.listTasks({ job: 'web/prod/hello', all: true }), {
    what: 'every instance of the example to be reported healthy',
    until: (tasks) => tasks.filter((task) => task.state === 'TASK_RUNNING' && task.healthy === true).length === 3,
    timeoutMs: 45_000,
  });
  assert.equal(healthy.length, 3, `no instance was replaced: ${healthy.map((task) => `${task.taskId} ${task.state} ${task.reason ?? ''}`).join(', ')}`);
});

test('the batch-job example finishes with each instance result in its output', async (t) => {
  const c = cell(t);
  const master = await c.startMaster();
  await c.startAgent(master);
  await c.waitForAgents(1);
  const client = c.client();
  await client.createJob(example('batch-job.yaml'), { contentType: 'application/yaml' });
  const job = await waitFor(() => client.getJob('data/prod/squares'), {
    what: 'the batch example to end',
    until: (j) => j.state === 'FINISHED' || j.state === 'FAILED',
  });
  assert.equal(job.state, 'FINISHED');
  const expected = ['1..100 = 338350', '1..200 = 2686700'];
  for (const i of [0, 1]) {
    const chunk = await client.taskLogs(taskOf(job, i).taskId, { file: 'stdout' });
    assert.ok(chunk.data.includes(expected[i] ?? '?'), `instance ${i} printed "${expected[i]}": ${chunk.data}`);
  }
});
