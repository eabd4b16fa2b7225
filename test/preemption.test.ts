// Preemption end to end, on a real master and agent (2 cpus): a preemptible job fills the agent,
// then a preferred job that does not fit preempts the cheapest victims. Each victim is killed on
// the agent with REASON_PREEMPTED, its instance goes back to pending and says why, and the
// preferred task runs in its place. The victims never preempt anything in turn.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TaskView } from '../src/protocol/index.js';
import { cell, waitFor, type Cell } from './harness.js';
import { serviceConfig, yamlOf } from './jobconfig.js';

function jobFile(c: Cell, key: string, overrides: Record<string, unknown>): string {
  const file = join(c.dir, `${key.replaceAll('/', '-')}.yaml`);
  writeFileSync(file, yamlOf(serviceConfig(key, overrides)));
  return file;
}

test('a preferred job preempts preemptible tasks that hold its room, and they wait with their reason', async (t) => {
  const c = cell(t);
  const { client } = await c.startCell(1);

  // Four preemptible tasks of 0.5 cpus fill the 2-cpu agent; priorities 1..4 make the cheapest victims those of priority 1 and 2.
  for (const [i, priority] of [1, 2, 3, 4].entries()) {
    const create = await c.cli(['job', 'create', jobFile(c, `batch/prod/filler${i}`, { tier: 'preemptible', priority, resources: { cpus: 0.5, mem: '32MiB', disk: '16MiB', ports: [] } })]);
    assert.equal(create.code, 0, create.stderr);
  }
  await waitFor(() => client.listTasks(), {
    what: 'the four preemptible tasks to run',
    until: (tasks) => tasks.filter((task) => task.state === 'TASK_RUNNING').length === 4,
  });

  const create = await c.cli(['job', 'create', jobFile(c, 'web/prod/api', { resources: { cpus: 1, mem: '32MiB', disk: '16MiB', ports: [] } })]);
  assert.equal(create.code, 0, create.stderr);

  const tasks = await waitFor(() => client.listTasks({ all: true }), {
    what: 'the preferred task to run after two preemptible ones were preempted',
    timeoutMs: 60_000,
    until: (list) => list.some((task) => task.job === 'web/prod/api' && task.state === 'TASK_RUNNING'),
  });
  const killed = tasks.filter((task: TaskView) => task.reason === 'REASON_PREEMPTED');
  assert.deepEqual(killed.map((task) => task.job).sort(), ['batch/prod/filler0', 'batch/prod/filler1'], 'the two of lowest priority are the victims');
  assert.ok(killed.every((task) => task.state === 'TASK_KILLED'), JSON.stringify(killed));
  const survivors = tasks.filter((task) => task.job.startsWith('batch/prod/filler') && task.state === 'TASK_RUNNING').map((task) => task.job);
  assert.deepEqual(survivors.sort(), ['batch/prod/filler2', 'batch/prod/filler3']);

  // The victims are pending again, with a reason a person can act on; they preempt nothing.
  const status = await c.cli(['job', 'status', 'batch/prod/filler0']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /pending: no agent fits: insufficient cpus on 1 agent/, status.stdout);
  const job = await client.getJob('batch/prod/filler0');
  assert.equal(job.instances[0]?.state, 'PENDING');
  const still = await client.listTasks();
  assert.equal(still.filter((task) => task.state === 'TASK_RUNNING').length, 3, 'nothing else was preempted');
});
