// `muster dev` is the embedded cell (a master and one agent in one process). Ctrl-C stops it cleanly
// with no task left behind, and starting it again on the same dir brings the jobs back.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cell, waitFor } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { taskIds, waitRunning } from './jobs.js';
import { hasProcfs, liveTaskIds, taskProcesses } from './proc.js';
import { requireOrSkip } from './require.js';

const KEY = 'web/dev/hello';

test('muster dev stops on Ctrl-C leaving no task behind, and brings its jobs back when started again', async (t) => {
  if (!requireOrSkip(t, hasProcfs(), 'needs /proc (Linux) to see that no task process is left')) return;
  const c = cell(t);
  const dir = join(c.dir, 'dot-muster');
  const dev = await c.startDev({ dir });
  const client = c.client(dev);
  await c.waitForAgents(1, dev);

  await client.createJob(yamlOf(serviceConfig(KEY, { instances: 2 })), YAML);
  const first = await waitRunning(client, KEY);
  await waitFor(() => liveTaskIds({ job: KEY, under: dir }), {
    what: `the processes of ${taskIds(first).join(', ')}`,
    until: (live) => live.size === 2,
  });

  dev.child.kill('SIGINT');
  const status = await dev.waitExit({ timeoutMs: 30_000 });
  assert.deepEqual(status, { code: 0, signal: null }, `muster dev exits 0 on SIGINT; log:\n${dev.logs().slice(-3000)}`);
  // Quiet: the agent told the master it was stopping, so the instances its stop ended were not
  // launched on it again (each would be refused: a storm of TASK_DROPPED), and every update it sent
  // was acknowledged before it went.
  const log = dev.logs();
  assert.equal(log.match(/refusing a task/g)?.length ?? 0, 0, `no launch reached the stopping agent; log:\n${log.slice(-3000)}`);
  assert.doesNotMatch(log, /has not acknowledged/);
  assert.match(log, /agent stopping: offering it nothing more/);
  const left = taskProcesses({ job: KEY, under: dir });
  assert.deepEqual(
    left.map((p) => `${p.pid} ${p.argv.join(' ')}`),
    [],
    'no task process is left after muster dev exits',
  );

  await dev.start();
  await c.waitForAgents(1, dev);
  const again = await waitRunning(client, KEY, { what: `${KEY} to be back and running after muster dev restarted` });
  assert.equal(again.instanceCount, 2);
  const wanted = taskIds(again);
  await waitFor(() => [0, 1].map((i) => [...liveTaskIds({ job: KEY, instance: i, under: dir })]), {
    what: `each instance to run as exactly its one task ${wanted.join(', ')}`,
    until: (live) => live.every((ids, i) => ids.length === 1 && ids[0] === wanted[i]),
  });
  // Each instance ran twice in all, once before and once after the restart: nothing was dropped.
  const tasks = await client.listTasks({ job: KEY, all: true });
  assert.deepEqual(
    tasks.map((task) => task.state).sort(),
    ['TASK_KILLED', 'TASK_KILLED', 'TASK_RUNNING', 'TASK_RUNNING'],
    tasks.map((task) => `${task.taskId} ${task.state} ${task.reason ?? ''} ${task.message ?? ''}`).join('\n'),
  );
});
