// A task gets what it asked for and no more: as root the agent puts each task in its own cgroups
// (cpu shares and quota, memory, pids), its own pid and mount namespaces with a private /tmp, and
// runs it as its role's user; a task over its memory or disk is failed with the limitation's
// reason. A master and an agent run as real processes; the cgroups and namespaces are the
// kernel's own. Without root these tests are skipped (and fail under MUSTER_REQUIRE_ALL=1).

import assert from 'node:assert/strict';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MusterClient } from '../src/client/index.js';
import type { TaskView } from '../src/protocol/index.js';
import { cell, waitFor, type AgentProcess, type Cell } from './harness.js';
import { batchConfig, serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { taskOf, waitRunning } from './jobs.js';
import { hasBinary, isRoot, requireOrSkip } from './require.js';

const NEEDS_ROOT = 'needs root (cgroups, namespaces and other users)';

/** endedTask waits for the instance's first task to end and returns it. */
async function endedTask(client: MusterClient, key: string): Promise<TaskView> {
  return waitFor(
    async () => (await client.listTasks({ job: key, all: true })).find((t) => ['TASK_FAILED', 'TASK_FINISHED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR'].includes(t.state)),
    { what: `a task of ${key} to end`, until: (t) => t !== undefined, timeoutMs: 30_000 },
  ) as Promise<TaskView>;
}

/** cpuCgroup finds a task's cpu cgroup: v1 (the cpu hierarchy) or v2 (the one tree, with cpu.max). */
function cpuCgroup(c: Cell, agent: AgentProcess, taskId: string): string | undefined {
  for (const base of ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
    const dir = join(base, c.cgroupRoot, agent.name, taskId);
    if (existsSync(join(dir, 'cpu.cfs_quota_us')) || existsSync(join(dir, 'cpu.max'))) return dir;
  }
  return undefined;
}

async function startCell(c: Cell, agentArgs: readonly string[] = []): Promise<{ client: MusterClient; agent: AgentProcess }> {
  const master = await c.startMaster();
  const agent = await c.startAgent(master, { args: agentArgs });
  await c.waitForAgents(1);
  return { client: c.client(), agent };
}

test('a task over its memory is killed by the kernel and reported with REASON_CONTAINER_LIMITATION_MEMORY', async (t) => {
  if (!requireOrSkip(t, isRoot(), NEEDS_ROOT)) return;
  if (!requireOrSkip(t, hasBinary('python3'), 'needs python3 on PATH')) return;
  const c = cell(t);
  const { client } = await startCell(c);
  const key = 'batch/prod/hog';
  await client.createJob(
    yamlOf(
      batchConfig(key, {
        resources: { cpus: 0.1, mem: '32MiB', disk: '16MiB', ports: [] },
        processes: [{ name: 'main', cmd: 'python3 -c "b = bytearray(512 * 1024 * 1024); print(len(b))"' }],
      }),
    ),
    YAML,
  );
  const task = await endedTask(client, key);
  assert.equal(task.state, 'TASK_FAILED');
  assert.equal(task.reason, 'REASON_CONTAINER_LIMITATION_MEMORY', task.message);
  assert.match(task.message ?? '', /Memory limit exceeded: the task may use 32 MiB/);
});

test("the cpu quota and shares of a task's cpus are set in its own cgroup, which holds its processes", async (t) => {
  if (!requireOrSkip(t, isRoot(), NEEDS_ROOT)) return;
  const c = cell(t);
  const { client, agent } = await startCell(c);
  const key = 'web/prod/quota';
  await client.createJob(yamlOf(serviceConfig(key, { resources: { cpus: 0.5, mem: '32MiB', disk: '16MiB', ports: [] } })), YAML);
  const task = taskOf(await waitRunning(client, key), 0);
  const dir = cpuCgroup(c, agent, task.taskId);
  assert.ok(dir !== undefined, `task ${task.taskId} has a cpu cgroup under ${c.cgroupRoot}`);
  if (existsSync(join(dir, 'cpu.cfs_quota_us'))) {
    assert.equal(readFileSync(join(dir, 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
    assert.equal(readFileSync(join(dir, 'cpu.cfs_period_us'), 'utf8').trim(), '100000');
    assert.equal(readFileSync(join(dir, 'cpu.shares'), 'utf8').trim(), '512');
  } else {
    assert.equal(readFileSync(join(dir, 'cpu.max'), 'utf8').trim(), '50000 100000');
  }
  const procs = readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim().split('\n').filter((l) => l !== '');
  assert.ok(procs.length >= 2, `the task's init and its sleep are in the cgroup: ${procs.join(',')}`);

  // The cgroup goes with the task.
  await client.killJob(key);
  await waitFor(() => existsSync(dir), { what: `the cgroup ${dir} to be removed`, until: (exists) => !exists });
});

test('a task sees itself as a low pid, has its own /tmp, /var/tmp and /dev/shm, finds its sandbox at its path under /tmp, and runs as its role user', async (t) => {
  if (!requireOrSkip(t, isRoot(), NEEDS_ROOT)) return;
  const c = cell(t);
  // The cell lives under /tmp, the place people try things: the task's private /tmp covers its
  // sandbox's path, which must still lead to the sandbox.
  assert.ok(c.dir.startsWith(`${realpathSync(tmpdir())}/`), `the cell ${c.dir} is under the system's temp dir`);
  const { client, agent } = await startCell(c, ['--role-users', 'web=www-data']);
  const key = 'web/prod/whoami';
  const script = [
    'echo "pid=$$ uid=$(id -u) user=$(id -un)"',
    'echo hi > /tmp/mine',
    'echo var > "/var/tmp/mine-$MUSTER_TASK_ID"',
    'echo shm > "/dev/shm/mine-$MUSTER_TASK_ID"',
    'echo "shm=$(cat "/dev/shm/mine-$MUSTER_TASK_ID")"',
    'echo "sandbox=$(cd "$MUSTER_SANDBOX" && pwd -P) has=$(cat "$MUSTER_SANDBOX/tmp/mine")"',
    'ls /proc | grep -c "^[0-9]" > /tmp/count',
    'exec sleep 3600',
  ].join('; ');
  await client.createJob(yamlOf(serviceConfig(key, { processes: [{ name: 'main', cmd: script }] })), YAML);
  const task = taskOf(await waitRunning(client, key), 0);
  const chunk = await waitFor(() => client.taskLogs(task.taskId, { file: 'stdout' }), { what: 'the task to print who it is', until: (ch) => ch.data.includes('sandbox=') });
  const match = /pid=(\d+) uid=(\d+) user=(\S+)/.exec(chunk.data);
  assert.ok(match !== null, chunk.data);
  assert.ok(Number(match[1]) <= 3, `the task's shell is pid ${match[1]} in its own pid namespace`);
  assert.equal(match[3], 'www-data');
  const sandbox = join(agent.workDir, 'sandboxes', task.taskId);
  assert.match(chunk.data, new RegExp(`sandbox=${sandbox} has=hi\n`), 'the task reaches its sandbox by its path');
  assert.match(chunk.data, /shm=shm\n/);
  await waitFor(() => existsSync(join(sandbox, 'tmp', 'count')), { what: "the task's /tmp files to appear in its sandbox's tmp/", until: Boolean });
  assert.equal(readFileSync(join(sandbox, 'tmp', 'mine'), 'utf8'), 'hi\n');
  // /var/tmp is the sandbox's tmp/ too, and /dev/shm a tmpfs of the task's own: the host's are untouched.
  assert.equal(readFileSync(join(sandbox, 'tmp', `mine-${task.taskId}`), 'utf8'), 'var\n');
  assert.equal(existsSync(`/var/tmp/mine-${task.taskId}`), false, "the host's /var/tmp is not the task's");
  assert.equal(existsSync(`/dev/shm/mine-${task.taskId}`), false, "the host's /dev/shm is not the task's");
  const visible = Number(readFileSync(join(sandbox, 'tmp', 'count'), 'utf8').trim());
  assert.ok(visible <= 6, `the task sees only its own processes in /proc (${visible})`);
});

test('the agent refuses to run a role as root unless it was started with --allow-root-tasks', async (t) => {
  if (!requireOrSkip(t, isRoot(), NEEDS_ROOT)) return;
  const c = cell(t);
  const { client } = await startCell(c, ['--role-users', 'ops=root']);
  const key = 'ops/prod/root';
  await client.createJob(yamlOf(batchConfig(key)), YAML);
  const task = await endedTask(client, key);
  assert.equal(task.state, 'TASK_FAILED');
  assert.equal(task.reason, 'REASON_LAUNCH_FAILED');
  assert.match(task.message ?? '', /root.*--allow-root-tasks/);
});

test('a task that writes more than its disk into its sandbox is failed with REASON_CONTAINER_LIMITATION_DISK', async (t) => {
  const c = cell(t);
  const { client } = await startCell(c);
  const key = 'batch/prod/filler';
  await client.createJob(
    yamlOf(
      batchConfig(key, {
        resources: { cpus: 0.1, mem: '32MiB', disk: '4MiB', ports: [] },
        processes: [{ name: 'main', cmd: 'head -c 12000000 /dev/zero > big; exec sleep 3600' }],
      }),
    ),
    YAML,
  );
  const task = await endedTask(client, key);
  assert.equal(task.state, 'TASK_FAILED');
  assert.equal(task.reason, 'REASON_CONTAINER_LIMITATION_DISK', task.message);
  assert.match(task.message ?? '', /Disk limit exceeded: the sandbox holds 1\d\.\d MiB and the task may use 4 MiB/);
});
