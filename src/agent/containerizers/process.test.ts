import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { silentLogger } from '../../log/index.js';
import type { TaskInfo } from '../../protocol/index.js';
import { taskInfo as fixtureTaskInfo } from '../../../test/fixtures.js';
import { readCheckpoint, writeCheckpoint } from '../checkpoint.js';
import { ProcessContainerizer } from './process.js';
import { taskEnvironment } from '../environment.js';
import { runInTask } from '../exec.js';
import { Isolator } from '../isolation/index.js';
import { processStartTime } from '../proc.js';
import { createSandbox } from '../sandbox.js';
import { createMetaDir, startSupervisor } from '../supervisor.js';
import { prepareWorkDir } from '../workdir.js';

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

async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function alive(pid: number | undefined): boolean {
  return pid !== undefined && processStartTime(pid) !== undefined;
}

// These tests run the containerizer without isolation (as a non-root agent would), so that they
// say the same on any machine; the isolated paths are covered by test/isolation.test.ts.
describe('ProcessContainerizer', () => {
  let isolator: Isolator;
  let workDir: string;
  let containerizer: ProcessContainerizer;
  const started: ProcessContainerizer[] = [];

  before(async () => {
    isolator = await Isolator.create({ isRoot: false, logger: silentLogger });
  });

  function newContainerizer(): ProcessContainerizer {
    const c = new ProcessContainerizer({ workDir, isolator, logger: silentLogger });
    started.push(c);
    return c;
  }

  beforeEach(() => {
    workDir = prepareWorkDir(mkdtempSync(path.join(os.tmpdir(), 'muster-containerizer-')));
    containerizer = newContainerizer();
  });

  afterEach(async () => {
    // Kill whatever a test left running, through whichever containerizer knows it.
    for (const c of started.splice(0)) {
      for (const id of ['env-task', 'exit-task', 'sig-task', 'stubborn', 'reattach', 'ended', 'exec-task']) {
        const pid = c.pid(id);
        if (pid !== undefined) {
          c.kill(id, 0);
          await eventually(() => !alive(pid), `task ${id} gone`).catch(() => undefined);
        }
      }
      c.detach();
    }
    rmSync(workDir, { recursive: true, force: true });
  });

  after(() => undefined);

  async function launch(c: ProcessContainerizer, task: TaskInfo): Promise<string> {
    const sandbox = createSandbox(workDir, task.taskId);
    await c.launch({ task, sandbox, env: taskEnvironment(task, { sandbox, host: 'agent.example' }) });
    return sandbox;
  }

  test('launch runs the command in its sandbox with the task environment, its output in files', async () => {
    const task = taskInfo('env-task', [{ name: 'main', cmd: 'pwd; echo "FOO=$FOO PORT_HTTP=$PORT_HTTP"; echo oops >&2' }]);
    const sandbox = await launch(containerizer, task);
    const termination = await containerizer.wait('env-task');
    assert.deepEqual(termination, {});
    assert.equal(readFileSync(path.join(sandbox, 'stdout'), 'utf8'), `${sandbox}\nFOO=bar PORT_HTTP=31000\n`);
    assert.equal(readFileSync(path.join(sandbox, 'stderr'), 'utf8'), 'oops\n');
    assert.ok(existsSync(path.join(sandbox, '.muster', 'exit.json')), 'the supervisor recorded the exit status in the sandbox');
  });

  test('a process that exits non-zero or is killed by a signal is the task failure', async () => {
    await launch(containerizer, taskInfo('exit-task', [{ name: 'main', cmd: 'exit 3' }]));
    assert.deepEqual((await containerizer.wait('exit-task')).failure, { process: 'main', exitCode: 3, signal: null });
    await launch(containerizer, taskInfo('sig-task', [{ name: 'main', cmd: 'kill -9 $$' }]));
    assert.deepEqual((await containerizer.wait('sig-task')).failure, { process: 'main', exitCode: null, signal: 'SIGKILL' });
  });

  test('kill sends SIGTERM, then forces a process that ignores it after the grace period', async () => {
    await launch(containerizer, taskInfo('stubborn', [{ name: 'main', cmd: "trap '' TERM; echo ready; while :; do sleep 0.1; done" }]));
    const sandbox = path.join(workDir, 'sandboxes', 'stubborn');
    await eventually(() => readFileSync(path.join(sandbox, 'stdout'), 'utf8').includes('ready'), 'the task to trap TERM');
    containerizer.kill('stubborn', 0.3);
    const termination = await containerizer.wait('stubborn');
    assert.equal(termination.killed, true);
    assert.equal(termination.failure?.signal, 'SIGKILL', 'the process ignored SIGTERM, so SIGKILL ended it');
  });

  test('a new containerizer reattaches to a task that runs on, and can kill it', async () => {
    await launch(containerizer, taskInfo('reattach', [{ name: 'main', cmd: 'sleep 60' }]));
    const supervisor = readCheckpoint(workDir, 'reattach', silentLogger)?.supervisor;
    assert.ok(supervisor !== undefined && alive(supervisor.pid));
    containerizer.detach(); // as if the agent had died

    const next = newContainerizer();
    const recovered = await next.recover();
    assert.deepEqual(
      recovered.map((r) => ({ taskId: r.taskId, running: r.running })),
      [{ taskId: 'reattach', running: true }],
    );
    assert.equal(next.pid('reattach'), supervisor.pid);
    next.kill('reattach', 1);
    const termination = await next.wait('reattach');
    assert.equal(termination.killed, true);
    assert.equal(termination.failure?.signal, 'SIGTERM');
    await eventually(() => !alive(supervisor.pid), 'the supervisor to exit');
  });

  test('a task that ended while no agent watched is recovered with its real exit status', async () => {
    await launch(containerizer, taskInfo('ended', [{ name: 'main', cmd: 'sleep 0.3; exit 4' }]));
    const supervisor = readCheckpoint(workDir, 'ended', silentLogger)?.supervisor;
    containerizer.detach();
    await eventually(() => !alive(supervisor?.pid), 'the task to end on its own');

    const next = newContainerizer();
    const recovered = await next.recover();
    assert.deepEqual(
      recovered.map((r) => ({ taskId: r.taskId, running: r.running })),
      [{ taskId: 'ended', running: false }],
    );
    assert.deepEqual((await next.wait('ended')).failure, { process: 'main', exitCode: 4, signal: null });
  });

  test('a launch the previous agent did not finish checkpointing is adopted: the task runs on and is watched again', async () => {
    const task = taskInfo('half', [{ name: 'main', cmd: 'sleep 60' }]);
    const sandbox = createSandbox(workDir, task.taskId);
    createMetaDir(sandbox);
    writeCheckpoint(workDir, { task, sandbox, isolation: { cgroups: [], pidNamespace: false, mountNamespace: false }, launchedAt: Date.now() });
    // The agent spawned the supervisor and died before it wrote the pid down.
    const stray = await startSupervisor({ sandbox, processes: task.processes, graceSecs: 1 }, taskEnvironment(task, { sandbox, host: 'h' }));
    stray.child.unref();

    const next = newContainerizer();
    const recovered = await next.recover();
    assert.deepEqual(
      recovered.map((r) => ({ taskId: r.taskId, running: r.running })),
      [{ taskId: 'half', running: true }],
    );
    assert.equal(next.pid('half'), stray.pid);
    assert.equal(readCheckpoint(workDir, 'half', silentLogger)?.supervisor?.pid, stray.pid, 'recorded now, for the next agent');
    assert.equal(alive(stray.pid), true, 'not killed');
    next.kill('half', 1);
    assert.equal((await next.wait('half')).killed, true);
    await eventually(() => !alive(stray.pid), 'the adopted supervisor to obey a kill');
  });

  test('a half-recorded launch that ended on its own is reported with its real exit status, not lost', async () => {
    const task = taskInfo('quick', [{ name: 'main', cmd: 'exit 0' }]);
    const sandbox = createSandbox(workDir, task.taskId);
    createMetaDir(sandbox);
    writeCheckpoint(workDir, { task, sandbox, isolation: { cgroups: [], pidNamespace: false, mountNamespace: false }, launchedAt: Date.now() });
    const stray = await startSupervisor({ sandbox, processes: task.processes, graceSecs: 1 }, taskEnvironment(task, { sandbox, host: 'h' }));
    stray.child.unref();
    await eventually(() => !alive(stray.pid), 'the task to end before any agent recorded it');

    const next = newContainerizer();
    assert.deepEqual((await next.recover()).map((r) => ({ taskId: r.taskId, running: r.running })), [{ taskId: 'quick', running: false }]);
    const ended = await next.wait('quick');
    assert.equal(ended.lost, undefined, 'its exit file says how it ended');
    assert.equal(ended.failure, undefined, 'it exited 0');
  });

  test('a launch that never started its supervisor is reported lost', async () => {
    const task = taskInfo('never', [{ name: 'main', cmd: 'true' }]);
    const sandbox = createSandbox(workDir, task.taskId);
    createMetaDir(sandbox);
    writeCheckpoint(workDir, { task, sandbox, isolation: { cgroups: [], pidNamespace: false, mountNamespace: false }, launchedAt: Date.now() });
    const next = newContainerizer();
    await next.recover();
    assert.match((await next.wait('never')).lost ?? '', /restarted while it was launching/);
  });

  test('exec runs a command beside a running task, and is refused once the task ended', async () => {
    const task = taskInfo('exec-task', [{ name: 'main', cmd: 'sleep 60' }]);
    const sandbox = await launch(containerizer, task);
    const env = taskEnvironment(task, { sandbox, host: 'h' });
    const result = await runInTask(containerizer, 'exec-task', ['sh', '-c', 'pwd; echo $MUSTER_TASK_ID'], { timeoutMs: 10_000, env });
    assert.deepEqual(result, { exitCode: 0, output: `${sandbox}\nexec-task\n` });
    assert.ok(containerizer.usage('exec-task') !== undefined, 'a running task has usage');
    containerizer.kill('exec-task', 0);
    await containerizer.wait('exec-task');
    assert.throws(() => containerizer.exec('exec-task', ['true'], {}), /not running/);
  });
});
