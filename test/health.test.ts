// Health checks run on the agent: their verdict travels on the task's status updates as `healthy`,
// and a service instance that fails its check past the threshold is killed and restarted with
// REASON_HEALTH_CHECK_FAILED. A master and an agent run as real processes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cell, waitFor } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { taskOf, waitRunning } from './jobs.js';
import { hasBinary, requireOrSkip } from './require.js';

test('a healthy http check marks the task healthy; a failing one restarts the instance with REASON_HEALTH_CHECK_FAILED', async (t) => {
  if (!requireOrSkip(t, hasBinary('python3'), 'needs python3 on PATH (the task serves HTTP with python3 -m http.server)')) return;
  const c = cell(t);
  const { client } = await c.startCell(1);
  const server = 'python3 -m http.server $PORT_HTTP --bind 127.0.0.1';
  const check = { intervalSecs: 0.5, timeoutSecs: 2, gracePeriodSecs: 5, consecutiveFailures: 2 };

  const good = 'web/prod/good';
  await client.createJob(
    yamlOf(
      serviceConfig(good, {
        resources: { cpus: 0.1, mem: '64MiB', disk: '16MiB', ports: ['http'] },
        processes: [{ name: 'main', cmd: server }],
        health: { http: { port: 'http', path: '/' }, ...check },
      }),
    ),
    YAML,
  );
  const healthy = await waitRunning(client, good, { what: `${good} to be healthy`, until: (j) => j.instances[0]?.task?.healthy === true });
  assert.equal(taskOf(healthy, 0).healthy, true);

  const bad = 'web/prod/bad';
  await client.createJob(
    yamlOf(
      serviceConfig(bad, {
        resources: { cpus: 0.1, mem: '64MiB', disk: '16MiB', ports: ['http'] },
        processes: [{ name: 'main', cmd: server }],
        // The server answers 404 for this path: the check fails once the server is up.
        health: { http: { port: 'http', path: '/missing' }, ...check },
      }),
    ),
    YAML,
  );
  const failed = await waitFor(async () => (await client.listTasks({ job: bad, all: true })).find((task) => task.state === 'TASK_FAILED'), {
    what: `a task of ${bad} to fail its health check`,
    until: (task) => task !== undefined,
    timeoutMs: 30_000,
  });
  assert.equal(failed?.reason, 'REASON_HEALTH_CHECK_FAILED');
  assert.match(failed?.message ?? '', /Health check failed 2 times in a row: GET http:\/\/127\.0\.0\.1:\d+\/missing answered 404/);
  assert.equal(failed?.healthy, false);
  // The service controller restarts the instance as a new task.
  const restarted = await waitRunning(client, bad, { what: `${bad} to run again`, until: (j) => j.instances[0]?.task?.taskId !== failed?.taskId });
  assert.ok((restarted.instances[0]?.runs ?? 0) >= 2);
});

test('a command health check runs inside the task', async (t) => {
  const c = cell(t);
  const { client } = await c.startCell(1);
  const key = 'web/prod/marker';
  // The check passes only where the task's own /tmp (and its environment) are visible.
  await client.createJob(
    yamlOf(
      serviceConfig(key, {
        processes: [{ name: 'main', cmd: 'echo $MUSTER_TASK_ID > /tmp/marker; exec sleep 3600' }],
        health: { command: { cmd: 'test "$(cat /tmp/marker)" = "$MUSTER_TASK_ID"' }, intervalSecs: 0.5, gracePeriodSecs: 10 },
      }),
    ),
    YAML,
  );
  const job = await waitRunning(client, key, { what: `${key} to be healthy`, until: (j) => j.instances[0]?.task?.healthy === true });
  assert.equal(taskOf(job, 0).healthy, true);
});
