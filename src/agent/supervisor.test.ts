import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, before, beforeEach, describe, test, type TestContext } from 'node:test';
import { MusterError } from '../core/index.js';
import {
  createMetaDir,
  enterArgs,
  readExitFile,
  signalName,
  startSupervisor,
  supervisorArgs,
  supervisorBinary,
  SupervisorError,
  SupervisorLauncher,
  type LaunchedSupervisor,
  type StartedSupervisor,
  type SupervisorProcess,
  type SupervisorExit,
  type SupervisorSpec,
} from './supervisor.js';
import { isAlive, killQuietly, listProcesses, mentions, taskProcesses } from '../../test/proc.js';
import { isRoot, requireOrSkip } from '../../test/require.js';
import { waitFor } from '../../test/wait.js';

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

let built = false;
let buildOutput = '';

before(() => {
  const r = spawnSync(process.execPath, [path.join(repoRoot(), 'scripts', 'build-native.mjs')], { encoding: 'utf8' });
  built = r.status === 0;
  buildOutput = `${r.stdout}${r.stderr}`.trim();
});

function requireBinary(t: TestContext): boolean {
  return requireOrSkip(t, built, `needs a C compiler to build muster-supervisor (${buildOutput || 'build failed'})`);
}

/** baseEnv is what the agent would pass: our PATH and friends, plus a task id to find processes by. */
function baseEnv(taskId: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('MUSTER_')) env[k] = v;
  env['MUSTER_TASK_ID'] = taskId;
  return env;
}

describe('muster-supervisor', () => {
  // Made on first use: node runs no afterEach for a test that skipped itself, so a dir made in
  // beforeEach would be left behind by every skipped test.
  let created: string | undefined;
  let supervisors: ChildProcess[];
  let loosePids: number[];
  let seq = 0;

  function tempDir(): string {
    created ??= mkdtempSync(path.join(os.tmpdir(), 'muster-supervisor-'));
    return created;
  }

  beforeEach(() => {
    created = undefined;
    supervisors = [];
    loosePids = [];
  });

  afterEach(async () => {
    // Ask every supervisor to kill its task, then make sure: SIGKILL whatever still mentions our dir.
    const live = supervisors.filter((c) => c.exitCode === null && c.signalCode === null);
    for (const c of live) killQuietly(c.pid as number, 'SIGUSR1');
    for (const pid of loosePids) killQuietly(pid, 'SIGUSR1');
    await Promise.all(live.map((c) => exited(c, 5000).catch(() => undefined)));
    for (const c of live) if (c.pid !== undefined) killQuietly(c.pid, 'SIGKILL');
    for (const pid of loosePids) killQuietly(pid, 'SIGKILL');
    if (created === undefined) return;
    const dir = created;
    for (const p of listProcesses()) if (mentions(p, dir)) killQuietly(p.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  function newSandbox(): string {
    const sandbox = path.join(tempDir(), `sandbox-${++seq}`);
    mkdirSync(path.join(sandbox, 'tmp'), { recursive: true });
    chmodSync(sandbox, 0o755);
    return sandbox;
  }

  interface Task extends StartedSupervisor {
    sandbox: string;
    taskId: string;
  }

  async function start(processes: SupervisorSpec['processes'], extra: Partial<SupervisorSpec> = {}): Promise<Task> {
    const sandbox = newSandbox();
    const taskId = `supervisor-test-${process.pid}-${seq}-${randomBytes(4).toString('hex')}`;
    const started = await startSupervisor({ sandbox, processes, graceSecs: 1, ...extra }, baseEnv(taskId));
    supervisors.push(started.child);
    return { ...started, sandbox, taskId };
  }

  /** finish waits for the supervisor to exit and returns its exit file. */
  async function finish(task: Task): Promise<SupervisorExit> {
    const code = await exited(task.child, 20_000);
    assert.equal(code, 0, 'the supervisor exits 0 once it wrote the exit file');
    const exit = readExitFile(task.sandbox);
    assert.ok(exit !== undefined, 'exit.json is written');
    assert.equal(exit.initPid, task.initPid);
    assert.ok(exit.startedAt <= exit.endedAt);
    return exit;
  }

  function output(sandbox: string, name = 'stdout'): string {
    return readFileSync(path.join(sandbox, name), 'utf8');
  }

  test('run records an exit code of 0, an exit code of 3 and a signal in exit.json', async (t) => {
    if (!requireBinary(t)) return;
    const [ok, three, killed] = await Promise.all([
      start([{ name: 'ok', cmd: 'exit 0' }]),
      start([{ name: 'three', cmd: 'exit 3' }]),
      start([{ name: 'killed', cmd: 'kill -KILL $$' }]),
    ]);
    const [okExit, threeExit, killedExit] = await Promise.all([finish(ok), finish(three), finish(killed)]);
    assert.deepEqual(okExit.exits.map(({ name, exitCode, signal }) => ({ name, exitCode, signal })), [{ name: 'ok', exitCode: 0, signal: undefined }]);
    assert.deepEqual(threeExit.exits.map((e) => [e.name, e.exitCode]), [['three', 3]]);
    assert.deepEqual(killedExit.exits.map((e) => [e.name, e.signal]), [['killed', 9]]);
    for (const exit of [okExit, threeExit, killedExit]) {
      assert.equal(exit.killed, undefined);
      assert.equal(exit.error, undefined);
      assert.ok((exit.exits[0]?.pid ?? 0) > 1);
    }
  });

  test('when one process fails, the others get SIGTERM', async (t) => {
    if (!requireBinary(t)) return;
    const task = await start([
      { name: 'worker', cmd: 'touch worker-ready; exec sleep 100' },
      { name: 'failing', cmd: 'while [ ! -e worker-ready ]; do sleep 0.01; done; exit 1' },
    ]);
    const exit = await finish(task);
    assert.deepEqual(
      exit.exits.map(({ name, exitCode, signal }) => ({ name, exitCode, signal })),
      [
        { name: 'failing', exitCode: 1, signal: undefined },
        { name: 'worker', exitCode: undefined, signal: 15 },
      ],
    );
    assert.equal(exit.killed, undefined);
  });

  test('when one process fails, one that ignores SIGTERM gets SIGKILL after the grace period', async (t) => {
    if (!requireBinary(t)) return;
    const task = await start([
      { name: 'stubborn', cmd: "trap '' TERM; touch stubborn-ready; sleep 100" },
      { name: 'failing', cmd: 'while [ ! -e stubborn-ready ]; do sleep 0.01; done; exit 2' },
    ]);
    const exit = await finish(task);
    assert.deepEqual(exit.exits.map((e) => [e.name, e.exitCode ?? `signal ${e.signal}`]), [['failing', 2], ['stubborn', 'signal 9']]);
    assert.deepEqual(taskProcesses({ taskId: task.taskId }), [], 'nothing of the task is left');
  });

  test('SIGTERM to the supervisor stops every process and is recorded as killed: SIGTERM', async (t) => {
    if (!requireBinary(t)) return;
    const task = await start([
      { name: 'a', cmd: 'sleep 100' },
      { name: 'b', cmd: 'exec sleep 100' },
    ]);
    task.child.kill('SIGTERM');
    const exit = await finish(task);
    assert.equal(exit.killed, 'SIGTERM');
    assert.deepEqual(exit.exits.map((e) => e.signal).sort(), [15, 15]);
    for (const e of exit.exits) assert.equal(isAlive(e.pid), false, `process ${e.name} is gone`);
    assert.deepEqual(taskProcesses({ taskId: task.taskId }), []);
  });

  test('SIGUSR1 after an ignored SIGTERM kills everything and is recorded as killed: SIGKILL', async (t) => {
    if (!requireBinary(t)) return;
    const task = await start([{ name: 'stubborn', cmd: "trap '' TERM; touch ready; sleep 100" }]);
    await waitFor(() => existsSync(path.join(task.sandbox, 'ready')), { what: 'the trap to be set' });
    task.child.kill('SIGTERM');
    task.child.kill('SIGUSR1');
    const exit = await finish(task);
    assert.equal(exit.killed, 'SIGKILL');
    assert.deepEqual(exit.exits.map((e) => [e.name, e.signal]), [['stubborn', 9]]);
    assert.deepEqual(taskProcesses({ taskId: task.taskId }), []);
  });

  test('stdout and stderr of every process land in the sandbox files', async (t) => {
    if (!requireBinary(t)) return;
    const task = await start([
      { name: 'one', cmd: 'echo out-one; echo err-one >&2' },
      { name: 'two', cmd: 'echo out-two; echo err-two >&2' },
    ]);
    await finish(task);
    assert.deepEqual(output(task.sandbox).split('\n').filter(Boolean).sort(), ['out-one', 'out-two']);
    assert.deepEqual(output(task.sandbox, 'stderr').split('\n').filter(Boolean).sort(), ['err-one', 'err-two']);
  });

  test('rotation by size keeps at most logMaxFiles rotated files and loses nothing in the newest', async (t) => {
    if (!requireBinary(t)) return;
    // Each line waits until it is in the file, so every write is its own chunk and rotation is
    // exercised deterministically: 38-byte lines, 100-byte files, 20 lines, 3 rotated files kept.
    const cmd =
      'i=1; while [ $i -le 20 ]; do echo "line-$i-$(printf "%030d" 0)"; ' +
      'while ! grep -q "^line-$i-" stdout; do sleep 0.01; done; i=$((i+1)); done';
    const task = await start([{ name: 'writer', cmd }], { logMaxBytes: 100, logMaxFiles: 3 });
    await finish(task);
    assert.equal(existsSync(path.join(task.sandbox, 'stdout.4')), false, 'the oldest files are dropped');
    const files = ['stdout.3', 'stdout.2', 'stdout.1', 'stdout'];
    for (const f of files) {
      const text = output(task.sandbox, f);
      assert.ok(text.length > 0 && text.length <= 100, `${f} holds ${text.length} bytes`);
    }
    const lines = files.map((f) => output(task.sandbox, f)).join('').split('\n').filter(Boolean);
    const numbers = lines.map((l) => Number(/^line-(\d+)-0{30}$/.exec(l)?.[1]));
    const first = numbers[0] ?? 0;
    assert.deepEqual(numbers, Array.from({ length: 21 - first }, (_, i) => first + i), 'the newest lines are all there, in order');
    assert.ok(first > 1, 'older lines were rotated away');
  });

  test('the supervisor outlives the process that started it and writes exit.json later', async (t) => {
    if (!requireBinary(t)) return;
    const sandbox = newSandbox();
    createMetaDir(sandbox);
    const args = supervisorArgs({ sandbox, processes: [{ name: 'main', cmd: 'while [ ! -e go ]; do sleep 0.05; done; echo done' }], graceSecs: 1 });
    args.splice(args.indexOf('--ready-fd'), 2); // --ready-fd is optional
    // A short-lived shell starts it in the background and exits at once, as a dying agent would.
    const sh = spawnSync('sh', ['-c', '"$@" </dev/null >/dev/null 2>&1 & echo $!', 'sh', supervisorBinary(), ...args], { encoding: 'utf8' });
    assert.equal(sh.status, 0);
    const pid = Number(sh.stdout.trim());
    loosePids.push(pid);
    assert.ok(isAlive(pid), 'the supervisor runs on after its parent exited');
    writeFileSync(path.join(sandbox, 'go'), '');
    const exit = await waitFor(() => readExitFile(sandbox), { what: 'exit.json', timeoutMs: 20_000, intervalMs: 50 });
    assert.deepEqual(exit.exits.map((e) => [e.name, e.exitCode]), [['main', 0]]);
    assert.equal(output(sandbox), 'done\n');
    await waitFor(() => !isAlive(pid), { what: 'the supervisor to exit', intervalMs: 50 });
  });

  test('a setup error reaches the ready fd, startSupervisor rejects with SupervisorError, and exit.json says why', async (t) => {
    if (!requireBinary(t)) return;
    const sandbox = newSandbox();
    const missing = path.join(tempDir(), 'no-such-cgroup');
    await assert.rejects(
      startSupervisor({ sandbox, processes: [{ name: 'main', cmd: 'true' }], graceSecs: 1, cgroups: [missing] }, baseEnv('setup-error')),
      (err: unknown) => err instanceof SupervisorError && err.message === `cannot join cgroup ${missing}: No such file or directory`,
    );
    const exit = await waitFor(() => readExitFile(sandbox), { what: 'exit.json', intervalMs: 50 });
    assert.equal(exit.error, `cannot join cgroup ${missing}: No such file or directory`);
    assert.deepEqual(exit.exits, []);
  });

  describe('through a launcher', () => {
    let launcher: SupervisorLauncher | undefined;

    afterEach(() => {
      launcher?.close();
      launcher = undefined;
    });

    /** launch starts a task through the test's launcher and keeps its pid for the clean-up. */
    async function launch(processes: SupervisorSpec['processes'], extra: Partial<SupervisorSpec> = {}): Promise<LaunchedSupervisor & { sandbox: string }> {
      launcher ??= new SupervisorLauncher();
      const sandbox = newSandbox();
      const started = await launcher.start({ sandbox, processes, graceSecs: 1, ...extra }, baseEnv(`launched-${seq}`));
      loosePids.push(started.pid);
      return { ...started, sandbox };
    }

    function ended(child: SupervisorProcess): Promise<[number | null, NodeJS.Signals | null]> {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve([child.exitCode, child.signalCode]);
      return new Promise((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
    }

    test('a launcher starts tasks as startSupervisor does: the ready line, the exit, the output and exit.json', async (t) => {
      if (!requireBinary(t)) return;
      const tasks = await Promise.all([
        launch([{ name: 'ok', cmd: 'echo hello' }]),
        launch([{ name: 'three', cmd: 'exit 3' }]),
        launch([{ name: 'env', cmd: 'echo "$MUSTER_TASK_ID"' }]),
      ]);
      for (const task of tasks) {
        assert.ok(task.initPid > 1 && task.pid > 1 && task.initPid !== task.pid);
        assert.deepEqual(await ended(task.child), [0, null], 'the supervisor exits 0 once it wrote exit.json');
      }
      const [ok, three, env] = tasks;
      assert.equal(output(ok.sandbox), 'hello\n');
      assert.deepEqual(readExitFile(three.sandbox)?.exits.map((e) => [e.name, e.exitCode]), [['three', 3]]);
      assert.match(output(env.sandbox), /^launched-\d+\n$/);
      // Reaped by the launcher once its exit was heard: no zombie is left.
      await waitFor(() => tasks.every((task) => !existsSync(`/proc/${task.pid}`)), { what: 'the supervisors to be reaped', intervalMs: 20 });
    });

    test('through a launcher, a setup error rejects with SupervisorError and a refused environment throws before anything starts', async (t) => {
      if (!requireBinary(t)) return;
      launcher = new SupervisorLauncher();
      const missing = path.join(tempDir(), 'no-such-cgroup');
      const sandbox = newSandbox();
      await assert.rejects(
        launcher.start({ sandbox, processes: [{ name: 'main', cmd: 'true' }], graceSecs: 1, cgroups: [missing] }, baseEnv('setup-error')),
        (err: unknown) => err instanceof SupervisorError && err.message === `cannot join cgroup ${missing}: No such file or directory`,
      );
      await assert.rejects(
        launcher.start({ sandbox: newSandbox(), processes: [{ name: 'main', cmd: 'true' }], graceSecs: 1 }, { BAD: 'a\0b' }),
        (err: unknown) => err instanceof MusterError && err.code === 'INVALID_ARGUMENT',
      );
    });

    test('a launcher starts a few supervisors at a time and queues the rest', async (t) => {
      if (!requireBinary(t)) return;
      const one = new SupervisorLauncher(supervisorBinary(), { maxStarting: 1 });
      launcher = one;
      const sandboxes = Array.from({ length: 4 }, () => newSandbox());
      const tasks = await Promise.all(
        sandboxes.map((sandbox, i) => one.start({ sandbox, processes: [{ name: 'main', cmd: `echo ${i}` }], graceSecs: 1 }, baseEnv('queued'))),
      );
      for (const [i, task] of tasks.entries()) {
        loosePids.push(task.pid);
        assert.deepEqual(await ended(task.child), [0, null]);
        assert.equal(output(sandboxes[i] as string), `${i}\n`);
      }
    });

    test('supervisors outlive their launcher, and their end is still heard', async (t) => {
      if (!requireBinary(t)) return;
      const task = await launch([{ name: 'main', cmd: 'while [ ! -e go ]; do sleep 0.05; done' }]);
      launcher?.close(); // the launcher exits: the supervisor is reparented and runs on
      await sleep(200);
      assert.ok(isAlive(task.pid), 'the supervisor runs on');
      writeFileSync(path.join(task.sandbox, 'go'), '');
      await ended(task.child);
      assert.deepEqual(readExitFile(task.sandbox)?.exits.map((e) => [e.name, e.exitCode]), [['main', 0]]);
    });

    test('where the launcher cannot run, tasks start without it', async (t) => {
      if (!requireBinary(t)) return;
      // A launcher that says what one on a kernel without pidfds says.
      const fake = path.join(tempDir(), 'fake-supervisor');
      writeFileSync(fake, `#!/bin/sh\nif [ "$1" = launcher ]; then echo "N pidfd_open: Function not implemented"; exit 1; fi\nexec ${supervisorBinary()} "$@"\n`, { mode: 0o755 });
      launcher = new SupervisorLauncher(fake);
      const first = await launcher.start({ sandbox: newSandbox(), processes: [{ name: 'main', cmd: 'echo one' }], graceSecs: 1 }, baseEnv('fallback-1'));
      const second = await launcher.start({ sandbox: newSandbox(), processes: [{ name: 'main', cmd: 'echo two' }], graceSecs: 1 }, baseEnv('fallback-2'));
      for (const s of [first, second]) {
        loosePids.push(s.pid);
        assert.deepEqual(await ended(s.child), [0, null]);
      }
    });
  });

  test('startSupervisor rejects a spec the supervisor would refuse, before starting anything', async () => {
    await assert.rejects(
      startSupervisor({ sandbox: 'relative/dir', processes: [{ name: 'main', cmd: 'true' }], graceSecs: 1 }, {}),
      (err: unknown) => err instanceof MusterError && err.code === 'INVALID_ARGUMENT',
    );
  });

  test('enter runs a command beside a task and passes its exit code back', async (t) => {
    if (!requireBinary(t)) return;
    const task = await start([{ name: 'main', cmd: 'exec sleep 100' }]);
    const enter = (argv: string[], cwd = task.sandbox) =>
      spawnSync(supervisorBinary(), enterArgs({ target: task.initPid, pidNamespace: false, mountNamespace: false, cgroups: [], cwd, argv }), {
        encoding: 'utf8',
      });
    const seven = enter(['sh', '-c', 'pwd; exit 7']);
    assert.equal(seven.status, 7);
    assert.equal(seven.stdout, `${task.sandbox}\n`);
    assert.equal(enter(['sh', '-c', 'kill -KILL $$']).status, 128 + 9);
    const missing = enter(['/no/such/command']);
    assert.equal(missing.status, 127);
    assert.match(missing.stderr, /cannot run \/no\/such\/command: No such file or directory/);
    const badCwd = enter(['true'], path.join(tempDir(), 'no-such-dir'));
    assert.equal(badCwd.status, 125);
    assert.match(badCwd.stderr, /cannot open .*no-such-dir/);
  });

  describe('as root', () => {
    test('--pid-ns gives the task its own pids: a low $$, and /proc shows only the task', async (t) => {
      if (!requireBinary(t) || !requireOrSkip(t, isRoot(), 'needs root for a pid namespace')) return;
      const task = await start([{ name: 'main', cmd: 'echo $$; ls /proc | grep -E "^[0-9]+$"' }], { pidNamespace: true, mountNamespace: true });
      const exit = await finish(task);
      const [self, ...visible] = output(task.sandbox).trim().split('\n').map(Number);
      assert.ok(self !== undefined && self <= 3, `$$ is ${self}`);
      assert.ok(visible.includes(1), 'init is pid 1');
      assert.ok(visible.every((pid) => pid <= 10), `only the task's processes are visible: ${visible.join(' ')}`);
      assert.notEqual(exit.exits[0]?.pid, self, 'exit.json records the host pid');
      assert.deepEqual(exit.exits.map((e) => [e.name, e.exitCode]), [['main', 0]]);
    });

    test("--mount-ns makes /tmp the sandbox's tmp/", async (t) => {
      if (!requireBinary(t) || !requireOrSkip(t, isRoot(), 'needs root for a mount namespace')) return;
      const marker = `muster-marker-${randomBytes(6).toString('hex')}`;
      const task = await start([{ name: 'main', cmd: `echo inside > /tmp/${marker}` }], { mountNamespace: true });
      const exit = await finish(task);
      assert.deepEqual(exit.exits.map((e) => [e.name, e.exitCode]), [['main', 0]]);
      assert.equal(readFileSync(path.join(task.sandbox, 'tmp', marker), 'utf8'), 'inside\n');
      assert.equal(existsSync(path.join('/tmp', marker)), false, "the host's /tmp is untouched");
    });

    test('--user runs the processes as that uid and gid, with only the groups given', async (t) => {
      if (!requireBinary(t) || !requireOrSkip(t, isRoot(), 'needs root to change user')) return;
      const task = await start([{ name: 'main', cmd: 'id -u; id -g; id -G' }], { user: { uid: 65534, gid: 65534, groups: [] } });
      const exit = await finish(task);
      assert.deepEqual(exit.exits.map((e) => [e.name, e.exitCode]), [['main', 0]]);
      assert.equal(output(task.sandbox), '65534\n65534\n65534\n');
    });

    test("--cgroup puts init and the task's processes in the cgroup", async (t) => {
      const base = ['/sys/fs/cgroup/pids', '/sys/fs/cgroup/unified'].find((b) => existsSync(path.join(b, 'cgroup.procs')));
      if (!requireBinary(t) || !requireOrSkip(t, isRoot() && base !== undefined, 'needs root and a writable cgroup hierarchy')) return;
      const cgroup = path.join(base as string, `muster-test-${process.pid}-${randomBytes(4).toString('hex')}`);
      mkdirSync(cgroup);
      try {
        const task = await start([{ name: 'main', cmd: 'echo $$; exec sleep 100' }], { cgroups: [cgroup] });
        const pid = await waitFor(() => Number(output(task.sandbox).trim()) || undefined, { what: 'the task to print its pid', intervalMs: 20 });
        const members = readFileSync(path.join(cgroup, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number);
        assert.ok(members.includes(task.initPid), `init ${task.initPid} is in ${members.join(' ')}`);
        assert.ok(members.includes(pid), `process ${pid} is in ${members.join(' ')}`);
        assert.ok(!members.includes(task.pid), 'the supervisor itself stays outside');
        task.child.kill('SIGUSR1');
        await finish(task);
      } finally {
        for (const c of supervisors) if (c.pid !== undefined) killQuietly(c.pid, 'SIGKILL');
        await removeCgroup(cgroup);
      }
    });

    test('on cgroup v2 init is born in the cgroup (clone3), not moved there after a fork', async (t) => {
      const base = cgroup2Mounts().find((m) => existsSync(path.join(m, 'cgroup.procs')));
      if (!requireBinary(t) || !requireOrSkip(t, isRoot() && base !== undefined, 'needs root and a writable cgroup2 mount')) return;
      const name = `muster-test-${process.pid}-${randomBytes(4).toString('hex')}`;
      const cgroup = path.join(base as string, name);
      mkdirSync(cgroup);
      try {
        const task = await start([{ name: 'main', cmd: 'exec sleep 100' }], { cgroups: [cgroup], pidNamespace: true });
        const own = readFileSync(`/proc/${task.initPid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
        assert.equal(own, `0::/${name}`);
        const log = readFileSync(path.join(task.sandbox, '.muster', 'supervisor.log'), 'utf8');
        assert.doesNotMatch(log, /clone3/, 'no fallback to a fork');
        task.child.kill('SIGUSR1');
        await finish(task);
      } finally {
        for (const c of supervisors) if (c.pid !== undefined) killQuietly(c.pid, 'SIGKILL');
        await removeCgroup(cgroup);
      }
    });

    test('a task with a tiny cpu quota starts without waiting on it, and the quota holds again by the ready line', async (t) => {
      const base = ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct'].find((b) => existsSync(path.join(b, 'cpu.cfs_quota_us')));
      if (!requireBinary(t) || !requireOrSkip(t, isRoot() && base !== undefined, 'needs root and a cgroup v1 cpu hierarchy')) return;
      const cgroup = path.join(base as string, `muster-test-${process.pid}-${randomBytes(4).toString('hex')}`);
      mkdirSync(cgroup);
      try {
        // 1 ms of CPU per second: the namespaces, fork and exec of a start need more, and each
        // time the quota ran out the start would wait for the next second.
        writeFileSync(path.join(cgroup, 'cpu.cfs_period_us'), '1000000');
        writeFileSync(path.join(cgroup, 'cpu.cfs_quota_us'), '1000');
        const t0 = performance.now();
        const task = await start([{ name: 'main', cmd: 'exec sleep 100' }], {
          cgroups: [cgroup],
          pidNamespace: true,
          mountNamespace: true,
          user: { uid: 65534, gid: 65534, groups: [] },
        });
        const ms = performance.now() - t0;
        assert.equal(readFileSync(path.join(cgroup, 'cpu.cfs_quota_us'), 'utf8').trim(), '1000', 'the quota is back');
        assert.ok(ms < 1000, `the start took ${Math.round(ms)} ms, not a period of the quota or more`);
        // Init tears the task down inside the cgroup: without the quota that takes no seconds.
        writeFileSync(path.join(cgroup, 'cpu.cfs_quota_us'), '-1');
        task.child.kill('SIGUSR1');
        await finish(task);
      } finally {
        for (const c of supervisors) if (c.pid !== undefined) killQuietly(c.pid, 'SIGKILL');
        await removeCgroup(cgroup);
      }
    });

    test("enter runs a command inside a task's pid and mount namespaces", async (t) => {
      if (!requireBinary(t) || !requireOrSkip(t, isRoot(), 'needs root to enter namespaces')) return;
      const task = await start([{ name: 'main', cmd: 'echo marker-inside > /tmp/marker; exec sleep 100' }], { pidNamespace: true, mountNamespace: true });
      await waitFor(() => existsSync(path.join(task.sandbox, 'tmp', 'marker')), { what: 'the marker', intervalMs: 20 });
      const enter = (argv: string[]) =>
        spawnSync(supervisorBinary(), enterArgs({ target: task.initPid, pidNamespace: true, mountNamespace: true, cgroups: [], cwd: '/tmp', argv }), {
          encoding: 'utf8',
        });
      const inside = enter(['sh', '-c', 'echo $$; cat /tmp/marker']);
      assert.equal(inside.status, 0, inside.stderr);
      const [pid, marker] = inside.stdout.trim().split('\n');
      assert.ok(Number(pid) <= 10, `the command's pid in the task's namespace is ${pid}`);
      assert.equal(marker, 'marker-inside');
      assert.equal(enter(['sh', '-c', 'exit 5']).status, 5);
      assert.equal(enter(['sh', '-c', 'kill -TERM $$']).status, 128 + 15);
    });
  });
});

describe('the supervisor files and arguments', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'muster-supervisor-files-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function exitJson(sandbox: string, value: unknown): void {
    createMetaDir(sandbox);
    writeFileSync(path.join(sandbox, '.muster', 'exit.json'), typeof value === 'string' ? value : JSON.stringify(value));
  }

  const valid = {
    version: 1,
    initPid: 100,
    startedAt: 1,
    endedAt: 2,
    exits: [
      { name: 'server', pid: 101, exitCode: 0 },
      { name: 'worker', pid: 102, signal: 15 },
    ],
    killed: 'SIGTERM',
    error: 'a "quoted" message',
  };

  test('readExitFile returns undefined before the task ended and the record after', () => {
    assert.equal(readExitFile(dir), undefined);
    createMetaDir(dir);
    assert.equal(readExitFile(dir), undefined);
    exitJson(dir, valid);
    const { version: _version, ...record } = valid;
    assert.deepEqual(readExitFile(dir), record);
  });

  test('readExitFile refuses malformed, oversized and linked files', () => {
    exitJson(dir, { ...valid, exits: [{ name: 'x', pid: 1 }] });
    assert.throws(() => readExitFile(dir), /exactly one of exitCode and signal/);
    exitJson(dir, { ...valid, killed: 'SIGINT' });
    assert.throws(() => readExitFile(dir), /killed/);
    exitJson(dir, '{"version":1,');
    assert.throws(() => readExitFile(dir), /not JSON/);
    exitJson(dir, ' '.repeat(64 * 1024 + 1));
    assert.throws(() => readExitFile(dir), /larger than/);
    const linked = path.join(dir, 'linked');
    mkdirSync(linked);
    symlinkSync(path.join(dir, '.muster'), path.join(linked, '.muster'));
    assert.throws(() => readExitFile(linked), /ELOOP|ENOTDIR/);
  });

  test('createMetaDir makes .muster and refuses one that is a link', () => {
    const meta = createMetaDir(dir);
    assert.equal(meta, path.join(dir, '.muster'));
    assert.equal(createMetaDir(dir), meta, 'an existing one is reused');
    const other = path.join(dir, 'other');
    mkdirSync(other);
    symlinkSync(meta, path.join(other, '.muster'));
    assert.throws(() => createMetaDir(other), /not a directory owned by/);
  });

  test('supervisorArgs lays out every option and validates names and paths', () => {
    assert.deepEqual(
      supervisorArgs({
        sandbox: '/work/sandboxes/t1',
        processes: [
          { name: 'server', cmd: 'python3 -m http.server' },
          { name: 'side-car_2', cmd: 'sleep 1' },
        ],
        cgroups: ['/sys/fs/cgroup/memory/muster/t1', '/sys/fs/cgroup/pids/muster/t1'],
        user: { uid: 1000, gid: 1000, groups: [27, 100] },
        pidNamespace: true,
        mountNamespace: true,
        graceSecs: 2.5,
        logMaxBytes: 1024,
        logMaxFiles: 3,
      }),
      [
        'run', '--sandbox', '/work/sandboxes/t1',
        '--cgroup', '/sys/fs/cgroup/memory/muster/t1', '--cgroup', '/sys/fs/cgroup/pids/muster/t1',
        '--user', '1000:1000:27,100', '--pid-ns', '--mount-ns', '--grace-secs', '2.5',
        '--log-max-bytes', '1024', '--log-max-files', '3', '--ready-fd', '3',
        '--proc', 'server', 'python3 -m http.server', '--proc', 'side-car_2', 'sleep 1',
      ],
    );
    const spec = { sandbox: '/s', processes: [{ name: 'a', cmd: 'true' }], graceSecs: 0 };
    assert.deepEqual(supervisorArgs(spec), ['run', '--sandbox', '/s', '--grace-secs', '0', '--ready-fd', '3', '--proc', 'a', 'true']);
    assert.throws(() => supervisorArgs({ ...spec, processes: [{ name: 'A B', cmd: 'true' }] }), /process name/);
    assert.throws(() => supervisorArgs({ ...spec, processes: [{ name: 'a', cmd: '' }] }), /command of process a/);
    assert.throws(() => supervisorArgs({ ...spec, cgroups: ['relative'] }), /absolute/);
    assert.throws(() => supervisorArgs({ ...spec, user: { uid: -1, gid: 0, groups: [] } }), /uid and gid/);
    assert.throws(() => supervisorArgs({ ...spec, graceSecs: Number.NaN }), /graceSecs/);
  });

  test('enterArgs puts the command after -- and refuses a pid that would mean everyone', () => {
    assert.deepEqual(
      enterArgs({ target: 4242, pidNamespace: true, mountNamespace: false, cgroups: ['/cg'], user: { uid: 5, gid: 6, groups: [] }, cwd: '/s', argv: ['ls', '-l'] }),
      ['enter', '--target', '4242', '--pid-ns', '--cgroup', '/cg', '--user', '5:6', '--cwd', '/s', '--', 'ls', '-l'],
    );
    assert.throws(() => enterArgs({ target: 1, pidNamespace: false, mountNamespace: false, cgroups: [], cwd: '/', argv: ['ls'] }), /pid above 1/);
    assert.throws(() => enterArgs({ target: 9, pidNamespace: false, mountNamespace: false, cgroups: [], cwd: '/', argv: [] }), /argv/);
  });

  test('supervisorBinary honours MUSTER_SUPERVISOR and says how to build a missing binary', () => {
    const saved = process.env['MUSTER_SUPERVISOR'];
    try {
      process.env['MUSTER_SUPERVISOR'] = '/bin/true';
      assert.equal(supervisorBinary(), '/bin/true');
      process.env['MUSTER_SUPERVISOR'] = path.join(dir, 'missing');
      assert.throws(supervisorBinary, (err: unknown) => err instanceof MusterError && err.code === 'INTERNAL' && /npm run build/.test(err.message));
    } finally {
      if (saved === undefined) delete process.env['MUSTER_SUPERVISOR'];
      else process.env['MUSTER_SUPERVISOR'] = saved;
    }
  });

  test('startSupervisor rejects with SupervisorError when the supervisor ends without a ready line', async () => {
    const saved = process.env['MUSTER_SUPERVISOR'];
    try {
      process.env['MUSTER_SUPERVISOR'] = '/bin/false';
      await assert.rejects(
        startSupervisor({ sandbox: dir, processes: [{ name: 'main', cmd: 'true' }], graceSecs: 1 }, {}),
        (err: unknown) => err instanceof SupervisorError && err.message === 'the supervisor exited with status 1 before the task started',
      );
    } finally {
      if (saved === undefined) delete process.env['MUSTER_SUPERVISOR'];
      else process.env['MUSTER_SUPERVISOR'] = saved;
    }
  });

  test('signalName names signals as node does', () => {
    assert.equal(signalName(9), 'SIGKILL');
    assert.equal(signalName(15), 'SIGTERM');
    assert.equal(signalName(200), 'signal 200');
  });
});

/** exited resolves with the exit code once the child has exited, and fails after timeoutMs. */
async function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`supervisor ${child.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** removeCgroup removes a test's cgroup; it is busy until the kernel has finished with its last process. */
async function removeCgroup(cgroup: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      rmdirSync(cgroup);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || i >= 100) throw err;
      await sleep(20);
    }
  }
}

/** cgroup2Mounts lists where cgroup2 is mounted read-write (a hybrid system's /sys/fs/cgroup/unified too). */
function cgroup2Mounts(): string[] {
  let mounts: string;
  try {
    mounts = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return [];
  }
  return mounts
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup2' && (f[3] ?? '').split(',').includes('rw'))
    .map((f) => f[1] as string);
}
