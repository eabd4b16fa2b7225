// Looking inside a task: `muster task exec` runs a command in the task's namespaces, cgroups and
// user; `muster task status` shows what it uses. A master and an agent run as real processes.

import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cell, waitFor } from './harness.js';
import { batchConfig, serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { taskOf, waitRunning } from './jobs.js';
import { isRoot } from './require.js';

test('task exec runs a command inside the running task and passes its exit status on', async (t) => {
  const c = cell(t);
  const { client } = await c.startCell(1);
  const key = 'web/prod/inside';
  await client.createJob(yamlOf(serviceConfig(key, { processes: [{ name: 'main', cmd: 'echo secret-$MUSTER_INSTANCE > /tmp/marker; exec sleep 3600' }] })), YAML);
  const task = taskOf(await waitRunning(client, key), 0);
  await waitFor(() => c.cli(['task', 'exec', `${key}/0`, '--', 'cat', '/tmp/marker']), {
    what: 'the marker to be written',
    until: (r) => r.code === 0,
  });

  const inside = await c.cli(['task', 'exec', `${key}/0`, '--', 'sh', '-c', 'echo "pid=$$ uid=$(id -u) task=$MUSTER_TASK_ID"; cat /tmp/marker; echo err >&2; exit 3']);
  assert.equal(inside.code, 3, inside.stderr);
  assert.match(inside.stdout, new RegExp(`task=${task.taskId}\\n`));
  assert.match(inside.stdout, /secret-0\n/, "exec sees the task's own /tmp");
  assert.equal(inside.stderr, 'err\n');
  const pid = Number(/pid=(\d+)/.exec(inside.stdout)?.[1]);
  if (isRoot()) {
    // In the task's pid namespace, with the task's user: for a role not in --role-users, the uid
    // the agent gave that role, which owns the task's sandbox.
    assert.ok(pid > 0 && pid < 100, `exec runs in the task's pid namespace (pid ${pid})`);
    const owner = statSync(join(c.agents[0]?.workDir ?? '', 'sandboxes', task.taskId)).uid;
    assert.ok(owner >= 60_000 && owner <= 60_999, `the sandbox's owner ${owner} is of the default --role-uid-range`);
    assert.match(inside.stdout, new RegExp(`uid=${owner} `));
  }

  // The processes of the task, seen from inside: the task's own and the exec's, nothing else.
  const ps = await c.cli(['task', 'exec', task.taskId, '--', 'sh', '-c', 'ls /proc | grep -c "^[0-9]"']);
  assert.equal(ps.code, 0, ps.stderr);
  if (isRoot()) assert.ok(Number(ps.stdout.trim()) <= 6, `exec sees only the task's processes: ${ps.stdout}`);

  const status = await c.cli(['task', 'status', `${key}/0`]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`task\\s+${task.taskId}`));
  await waitFor(() => client.getTask(task.taskId), { what: 'usage to be reported', until: (v) => v.usage !== undefined });
  const withUsage = await c.cli(['task', 'status', `${key}/0`]);
  assert.match(withUsage.stdout, /cpu\s+\d+\.\d\ds of cpu time \(reserved 0\.1 cpus\)/);
  assert.match(withUsage.stdout, /memory\s+\S+ of 16MiB/);

  // A task that has ended cannot be entered: a clear one-line error and the CONFLICT exit code.
  const done = 'batch/prod/done';
  await client.createJob(yamlOf(batchConfig(done)), YAML);
  const finished = await waitFor(() => client.getJob(done), { what: `${done} to finish`, until: (j) => j.state === 'FINISHED' });
  const ended = taskOf(finished, 0);
  const late = await c.cli(['task', 'exec', ended.taskId, '--', 'true']);
  assert.equal(late.code, 5, late.stderr);
  assert.match(late.stderr, /^muster: task \S+ is TASK_FINISHED: exec needs a running task\n/);
  assert.equal(late.stderr.split('\n').filter((l) => l !== '').length, 1);
});
