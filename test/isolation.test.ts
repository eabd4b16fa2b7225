// A task gets what it asked for and no more: as root the agent puts each task in its own cgroups
// (cpu shares and quota, memory, pids), its own pid and mount namespaces with a private /tmp, and
// runs it as its role's user; a task over its memory or disk is failed with the limitation's
// reason. A master and an agent run as real processes; the cgroups and namespaces are the
// kernel's own. Without root these tests are skipped (and fail under MUSTER_REQUIRE_ALL=1).

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
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

/**
 * cellOutsideTmp is a cell whose dir lies outside /tmp, /var/tmp and /dev/shm: there a task sees
 * the other tasks' sandboxes at their real paths (under /tmp its private /tmp would hide them), so
 * what keeps it out is their owner and mode.
 */
function cellOutsideTmp(t: TestContext): Cell {
  const parent = mkdtempSync('/var/lib/muster-test-');
  chmodSync(parent, 0o755);
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const saved = process.env['MUSTER_TEST_TMPDIR'];
  process.env['MUSTER_TEST_TMPDIR'] = parent;
  try {
    return cell(t);
  } finally {
    if (saved === undefined) delete process.env['MUSTER_TEST_TMPDIR'];
    else process.env['MUSTER_TEST_TMPDIR'] = saved;
  }
}

/** attempt is a line of shell that runs cmd and prints "NAME=<its exit status> <its first line of output>". */
function attempt(name: string, cmd: string): string {
  return `out=$( { ${cmd}; } 2>&1 ); status=$?; echo "${name}=$status $(printf '%s\\n' "$out" | head -n 1)"`;
}

// The agent's HTTP API as a task can call it: python3's urllib, without the agent's token (it has
// none: not in its environment, and the token file is root's 0600).
const CALL_AGENT = `python3 - <<'PY'
import json, os, urllib.error, urllib.request
base = "http://127.0.0.1:" + os.environ["AGENT_PORT"]
other = os.environ["OTHER_TASK"]
def call(path, body=None, headers=None):
    req = urllib.request.Request(base + path, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as res:
            return res.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception as e:
        return "error " + str(e)
print("api-exec=%s" % call("/exec", json.dumps({"taskId": other, "argv": ["cat", "secret"]}).encode(), {"content-type": "application/json"}))
print("api-read=%s" % call("/files/read?task=" + other + "&path=secret"))
print("api-browse=%s" % call("/files/browse?task=" + other))
print("api-forged=%s" % call("/files/read?task=" + other + "&path=secret", headers={"authorization": "Bearer " + "A" * 43}))
print("api-health=%s" % call("/health"))
PY`;

test("Two roles' tasks on one agent cannot read each other's sandbox nor call the agent's exec", async (t) => {
  if (!requireOrSkip(t, isRoot(), NEEDS_ROOT)) return;
  if (!requireOrSkip(t, hasBinary('python3'), 'needs python3 on PATH')) return;
  const c = cellOutsideTmp(t);
  // No --role-users: each role gets a uid of its own from the agent's default range.
  const { client, agent } = await startCell(c);
  const resources = { cpus: 0.1, mem: '64MiB', disk: '16MiB', ports: [] };

  // B keeps a secret in its sandbox and marks its private temp dirs.
  const keyB = 'beta/prod/keeper';
  const scriptB = [
    'echo "uid=$(id -u)"',
    'echo s3cret > secret',
    'for d in /tmp /var/tmp /dev/shm; do echo b > "$d/mark-$MUSTER_TASK_ID"; done',
    'echo ready',
    'exec sleep 3600',
  ].join('; ');
  await client.createJob(yamlOf(serviceConfig(keyB, { resources, processes: [{ name: 'main', cmd: scriptB }] })), YAML);
  const taskB = taskOf(await waitRunning(client, keyB), 0);
  const outB = await waitFor(() => client.taskLogs(taskB.taskId, { file: 'stdout' }), { what: 'task B to be ready', until: (ch) => ch.data.includes('ready') });
  const sandboxB = realpathSync(join(agent.workDir, 'sandboxes', taskB.taskId));
  const workDir = realpathSync(agent.workDir);

  // A, of another role, goes after B by path and through the agent's port.
  const keyA = 'alpha/prod/prowler';
  const scriptA = [
    'echo "uid=$(id -u)"',
    attempt('read', 'cat "$OTHER_SANDBOX/secret"'),
    attempt('list', 'ls "$OTHER_SANDBOX"'),
    attempt('write', 'echo evil > "$OTHER_SANDBOX/evil"'),
    attempt('delete', 'rm -rf "$OTHER_SANDBOX"'),
    attempt('list-sandboxes', 'ls "$WORK_DIR/sandboxes"'),
    attempt('checkpoint', 'cat "$WORK_DIR/tasks/$OTHER_TASK/task.json"'),
    attempt('token', 'cat "$WORK_DIR/api-token"'),
    attempt('other-tmp', 'cat "/tmp/mark-$OTHER_TASK"'),
    attempt('other-var-tmp', 'cat "/var/tmp/mark-$OTHER_TASK"'),
    attempt('other-shm', 'cat "/dev/shm/mark-$OTHER_TASK"'),
    'for d in /tmp /var/tmp /dev/shm; do echo a > "$d/mark-$MUSTER_TASK_ID"; done',
    'echo "env-token=$(env | grep -ci token)"',
    CALL_AGENT,
    'echo done',
    'exec sleep 3600',
  ].join('\n');
  const env = { OTHER_SANDBOX: sandboxB, OTHER_TASK: taskB.taskId, WORK_DIR: workDir, AGENT_PORT: String(agent.port) };
  await client.createJob(yamlOf(serviceConfig(keyA, { resources, env, processes: [{ name: 'main', cmd: scriptA }] })), YAML);
  const taskA = taskOf(await waitRunning(client, keyA), 0);
  const outA = (await waitFor(() => client.taskLogs(taskA.taskId, { file: 'stdout' }), { what: 'task A to finish its attempts', until: (ch) => ch.data.includes('done'), timeoutMs: 30_000 })).data;

  // Each role runs as a uid of its own, from the agent's range: neither nobody nor the other's.
  const uidA = Number(/uid=(\d+)/.exec(outA)?.[1]);
  const uidB = Number(/uid=(\d+)/.exec(outB.data)?.[1]);
  for (const uid of [uidA, uidB]) assert.ok(uid >= 60_000 && uid <= 60_999, `uid ${uid} is of the default --role-uid-range: ${outA}`);
  assert.notEqual(uidA, uidB, 'two roles, two uids');
  const st = statSync(sandboxB);
  assert.equal(st.uid, uidB, "B's sandbox is B's user's");
  assert.equal(st.mode & 0o777, 0o700);

  // By path: every attempt on B's sandbox and on the agent's own files is refused.
  for (const name of ['read', 'list', 'write', 'delete', 'list-sandboxes', 'checkpoint', 'token']) {
    assert.match(outA, new RegExp(`^${name}=[1-9]\\d* .*Permission denied`, 'm'), `${name} is refused:\n${outA}`);
  }
  assert.equal(readFileSync(join(sandboxB, 'secret'), 'utf8'), 's3cret\n', "B's secret is still there");
  assert.equal(existsSync(join(sandboxB, 'evil')), false);
  assert.doesNotMatch(outA, /s3cret/);

  // Private temp dirs: A does not see B's marks, and neither task's reached the host.
  for (const name of ['other-tmp', 'other-var-tmp', 'other-shm']) {
    assert.match(outA, new RegExp(`^${name}=[1-9]\\d* .*No such file`, 'm'), `${name}:\n${outA}`);
  }
  for (const task of [taskA, taskB]) {
    for (const dir of ['/tmp', '/var/tmp', '/dev/shm']) {
      assert.equal(existsSync(join(dir, `mark-${task.taskId}`)), false, `${dir}/mark-${task.taskId} is not on the host`);
    }
  }

  // The agent's port: exec and files need the agent's token, which the task does not have.
  assert.match(outA, /^api-exec=401$/m, outA);
  assert.match(outA, /^api-read=401$/m, outA);
  assert.match(outA, /^api-browse=401$/m, outA);
  assert.match(outA, /^api-forged=401$/m, outA);
  assert.match(outA, /^api-health=200$/m, 'health stays open');
  assert.match(outA, /^env-token=0$/m, "no token in the task's environment");

  // Through the master, which holds the token, exec and files still work, each as its task's user.
  const inB = await c.cli(['task', 'exec', taskB.taskId, '--', 'sh', '-c', 'id -u; cat secret']);
  assert.equal(inB.code, 0, inB.stderr);
  assert.equal(inB.stdout, `${uidB}\ns3cret\n`);
  const read = await client.readTaskFile(taskB.taskId, { path: 'secret' });
  assert.equal(read.data, 's3cret\n');
});
