import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { silentLogger } from '../log/index.js';
import type { TaskInfo } from '../protocol/index.js';
import { readCheckpoints, writeCheckpoint } from './checkpoint.js';
import { LaunchError, ProcessContainerizer } from './containerizer.js';
import { taskEnvironment } from './environment.js';
import { processStartTime } from './proc.js';
import { createSandbox } from './sandbox.js';
import { taskInfo as fixtureTaskInfo } from '../../test/fixtures.js';
import { isAlive } from '../../test/proc.js';
import { prepareWorkDir } from './workdir.js';

function taskInfo(taskId: string, processes: { name: string; cmd: string }[], overrides: Partial<TaskInfo> = {}): TaskInfo {
  return fixtureTaskInfo({
    taskId,
    instance: 2,
    resources: { cpus: 0.1, mem: 16, disk: 0, gpus: 0, ports: '[31000-31001]' },
    ports: { http: 31000, admin: 31001 },
    processes,
    env: { FOO: 'bar' },
    killGraceSecs: 1,
    ...overrides,
  });
}

async function eventually(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('ProcessContainerizer', () => {
  let workDir: string;
  let containerizer: ProcessContainerizer;

  beforeEach(() => {
    workDir = prepareWorkDir(mkdtempSync(path.join(os.tmpdir(), 'muster-containerizer-')));
    containerizer = new ProcessContainerizer({ workDir, logger: silentLogger });
  });

  afterEach(() => {
    rmSync(workDir, { recursive: true, force: true });
  });

  async function launch(task: TaskInfo): Promise<{ sandbox: string; pids: number[] }> {
    const sandbox = createSandbox(workDir, task.taskId);
    const pids = await containerizer.launch({ task, sandbox, env: taskEnvironment(task, { sandbox, host: 'agent.example' }) });
    return { sandbox, pids };
  }

  test('launch runs the command in its sandbox with the task environment and output in files', async () => {
    const task = taskInfo('env-task', [
      {
        name: 'main',
        cmd: 'pwd; echo "$MUSTER_TASK_ID $MUSTER_JOB $MUSTER_ROLE $MUSTER_INSTANCE $HOST"; echo "$PORT_HTTP $PORT_ADMIN $PORT0 $PORT1 $PORT"; echo "$HOME|$TMPDIR|$MUSTER_SANDBOX|$FOO"; echo oops >&2',
      },
    ]);
    const { sandbox } = await launch(task);
    assert.deepEqual(await containerizer.wait(task.taskId), {});
    const lines = readFileSync(path.join(sandbox, 'stdout'), 'utf8').trim().split('\n');
    assert.deepEqual(lines, [
      sandbox,
      'env-task web/prod/hello web 2 agent.example',
      '31000 31001 31000 31001 31000',
      `${sandbox}|${sandbox}/tmp|${sandbox}|bar`,
    ]);
    assert.equal(readFileSync(path.join(sandbox, 'stderr'), 'utf8'), 'oops\n');
  });

  test('launch checkpoints each pid with its start time, and destroy removes the checkpoint', async () => {
    const task = taskInfo('cp-task', [{ name: 'main', cmd: 'sleep 30' }]);
    const { pids } = await launch(task);
    const [cp] = readCheckpoints(workDir, silentLogger);
    assert.equal(cp?.task.taskId, 'cp-task');
    assert.equal(cp?.processes[0]?.pid, pids[0]);
    assert.equal(cp?.processes[0]?.startTime, processStartTime(pids[0] as number));
    assert.throws(() => containerizer.destroy(task.taskId), /still running/);
    await containerizer.kill(task.taskId, 0);
    await containerizer.wait(task.taskId);
    containerizer.destroy(task.taskId);
    assert.deepEqual(readCheckpoints(workDir, silentLogger), []);
  });

  test('wait reports the exit status of a failed command', async () => {
    const task = taskInfo('exit-task', [{ name: 'main', cmd: 'exit 3' }]);
    await launch(task);
    assert.deepEqual(await containerizer.wait(task.taskId), { failure: { process: 'main', exitCode: 3, signal: null } });
  });

  test('wait reports the signal of a command that was killed', async () => {
    const task = taskInfo('signal-task', [{ name: 'main', cmd: 'kill -9 $$' }]);
    await launch(task);
    assert.deepEqual(await containerizer.wait(task.taskId), { failure: { process: 'main', exitCode: null, signal: 'SIGKILL' } });
  });

  test('the first failing process of several ends the task and the others are killed', async () => {
    const task = taskInfo('multi-task', [
      { name: 'server', cmd: 'sleep 30' },
      { name: 'sidecar', cmd: 'sleep 0.2; exit 4' },
    ]);
    const { pids } = await launch(task);
    assert.equal(pids.length, 2);
    const termination = await containerizer.wait(task.taskId);
    assert.deepEqual(termination.failure, { process: 'sidecar', exitCode: 4, signal: null });
    assert.equal(isAlive(pids[0] as number), false);
  });

  test('a task finishes only when all of its processes exited 0', async () => {
    const task = taskInfo('all-ok', [
      { name: 'a', cmd: 'exit 0' },
      { name: 'b', cmd: 'sleep 0.3' },
    ]);
    const started = Date.now();
    await launch(task);
    assert.deepEqual(await containerizer.wait(task.taskId), {});
    assert.ok(Date.now() - started >= 250);
  });

  test('kill sends SIGTERM first, and SIGKILL once the grace period is over', async () => {
    const polite = taskInfo('polite', [{ name: 'main', cmd: 'sleep 30' }]);
    await launch(polite);
    await containerizer.kill(polite.taskId, 5);
    assert.equal((await containerizer.wait(polite.taskId)).failure?.signal, 'SIGTERM');

    // The shell ignores SIGTERM and so does sleep, which inherits the ignored disposition.
    const stubborn = taskInfo('stubborn', [{ name: 'main', cmd: "trap '' TERM; touch ready; sleep 30" }]);
    const { sandbox } = await launch(stubborn);
    // Signal only once the trap is set: a SIGTERM before it would end the shell at once.
    await eventually(() => existsSync(path.join(sandbox, 'ready')));
    const started = Date.now();
    await containerizer.kill(stubborn.taskId, 0.3);
    assert.equal((await containerizer.wait(stubborn.taskId)).failure?.signal, 'SIGKILL');
    assert.ok(Date.now() - started >= 250, 'SIGKILL came before the grace period was over');
  });

  test('processes left in the group by an exited leader are killed with it', async () => {
    const task = taskInfo('straggler', [{ name: 'main', cmd: 'sleep 30 & echo $! > straggler.pid; exit 0' }]);
    const { sandbox } = await launch(task);
    await containerizer.wait(task.taskId);
    const straggler = Number(readFileSync(path.join(sandbox, 'straggler.pid'), 'utf8'));
    await eventually(() => !isAlive(straggler));
  });

  test('launch fails with REASON_SANDBOX_FAILED when the sandbox is missing', async () => {
    const task = taskInfo('no-sandbox', [{ name: 'main', cmd: 'true' }]);
    await assert.rejects(
      containerizer.launch({ task, sandbox: path.join(workDir, 'missing'), env: {} }),
      (e: unknown) => e instanceof LaunchError && e.reason === 'REASON_SANDBOX_FAILED',
    );
    assert.deepEqual(containerizer.pids(task.taskId), []);
  });

  test('recover kills a live process whose start time matches its checkpoint, and removes the checkpoint', async () => {
    const child = spawn('/bin/sh', ['-c', 'sleep 30'], { detached: true, stdio: 'ignore' });
    const pid = child.pid as number;
    const exited = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    const startTime = processStartTime(pid);
    assert.ok(startTime !== undefined);
    writeCheckpoint(workDir, { task: taskInfo('left-over', []), processes: [{ name: 'main', pid, startTime }] });

    assert.equal(await containerizer.recover(), 1);
    assert.equal(await exited, 'SIGKILL');
    assert.equal(existsSync(path.join(workDir, 'tasks', 'left-over.json')), false);
  });

  test('recover spares a process whose pid was recycled (its start time differs)', async () => {
    const child = spawn('/bin/sh', ['-c', 'sleep 30'], { detached: true, stdio: 'ignore' });
    const pid = child.pid as number;
    try {
      writeCheckpoint(workDir, { task: taskInfo('recycled', []), processes: [{ name: 'main', pid, startTime: '1' }] });
      await containerizer.recover();
      assert.equal(isAlive(pid), true);
      assert.deepEqual(readCheckpoints(workDir, silentLogger), []);
    } finally {
      process.kill(-pid, 'SIGKILL');
    }
  });
});
