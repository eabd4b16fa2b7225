// dev: `muster dev` end to end, as a person meets it. The real command runs as a child process on
// free ports in a temp dir, and the benchmark speaks to it only through MusterClient, as the CLI
// does. It measures:
//   - start-up: from spawn until GET /api/v1/cell shows the local agent CONNECTED;
//   - examples/hello-service.yaml (3 python http servers): from job create until all three
//     instances are TASK_RUNNING, then from kill until the job is gone; 5 times;
//   - 20 instances of `sleep 3600` (0.01 cpus, 1 MiB each): create until all RUNNING, 3 times;
//   - stop: SIGINT until the process has exited, and its exit code.
// Polls every 10 ms, so each figure is up to 10 ms (plus one request) late.
//
// Tasks run detached from the agent (they are meant to outlive it), so a dev process killed hard
// would leave them behind: cleanup stops dev with SIGINT first, and last of all kills any process
// still working inside the temp dir.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { MusterClient } from '../src/client/index.js';
import { MusterError } from '../src/core/index.js';
import type { JobView } from '../src/protocol/index.js';
import { printTable, repoRoot } from './report.js';
import { round, summarize, type Summary } from './stats.js';

const POLL_MS = 10;
const HELLO_RUNS = 5;
const SLEEPER_RUNS = 3;
const SLEEPERS = 20;
const START_TIMEOUT_MS = 30_000;
const JOB_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const OUTPUT_KEPT = 16 * 1024;

/** freePorts asks the kernel for n distinct free ports, holding all open until each is known. */
async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (s) =>
          new Promise<number>((resolve, reject) => {
            s.once('error', reject);
            s.listen(0, '127.0.0.1', () => {
              const addr = s.address();
              if (addr === null || typeof addr === 'string') reject(new Error('listen(0) gave no port'));
              else resolve(addr.port);
            });
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r()))));
  }
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** DevCell is one `muster dev` child process and the last of its output, for error messages. */
class DevCell {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;
  private output = '';
  /** Kills the child if this process ends some way that skips the benchmark's finally blocks. */
  private readonly onProcessExit = (): void => {
    if (this.exit === undefined) this.child.kill('SIGKILL');
  };

  constructor(command: readonly string[], args: readonly string[]) {
    const [file, ...pre] = command as [string, ...string[]];
    // Its own process group, so that a Ctrl-C at the terminal reaches it once, forwarded by
    // runDevBench, and not twice (a second SIGINT makes `muster dev` exit without killing tasks).
    this.child = spawn(file, [...pre, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-OUTPUT_KEPT);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise<Exit>((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        process.off('exit', this.onProcessExit);
        resolve(this.exit);
      });
      // A spawn that fails (no such file) emits 'error' and never 'exit'.
      this.child.once('error', (err) => {
        this.output += `\nspawn failed: ${err.message}`;
        this.exit ??= { code: null, signal: null };
        resolve(this.exit);
      });
    });
    process.on('exit', this.onProcessExit);
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  tail(lines = 15): string {
    return this.output.trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** stop sends SIGINT (dev then kills its tasks) and waits; SIGKILL if it does not exit in time. */
  async stop(timeoutMs: number): Promise<{ exit: Exit; ms: number; forced: boolean }> {
    const t0 = performance.now();
    if (this.running) this.child.kill('SIGINT');
    // The timer is cancelled once the child has exited: a pending one would hold this process
    // open for the whole timeout after the benchmarks are done.
    const cancel = new AbortController();
    const timer = sleep(timeoutMs, undefined, { signal: cancel.signal }).catch(() => undefined);
    let exit = await Promise.race([this.exited, timer]);
    cancel.abort();
    const forced = exit === undefined;
    if (exit === undefined) {
      this.child.kill('SIGKILL');
      exit = await this.exited;
    }
    return { exit, ms: performance.now() - t0, forced };
  }
}

/**
 * killStrays kills any process whose working directory is inside dir: task processes of a dev
 * that could not stop them. Only processes of this benchmark work there (the dir is ours, fresh).
 */
function killStrays(dir: string): number {
  let killed = 0;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return 0; // not Linux: nothing more we can find
  }
  for (const pid of pids) {
    let cwd: string;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      continue; // gone, or not ours to look at
    }
    if (cwd !== dir && !cwd.startsWith(`${dir}/`)) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
      killed++;
    } catch {
      // ended meanwhile
    }
  }
  return killed;
}

/** until polls probe every POLL_MS until it returns a value, the dev process dies, or time runs out. */
async function until<T>(dev: DevCell, what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (!dev.running) throw new Error(`muster dev exited while waiting for ${what}:\n${dev.tail()}`);
    if (performance.now() > deadline) throw new Error(`no ${what} after ${timeoutMs} ms; muster dev said:\n${dev.tail()}`);
    await sleep(POLL_MS);
  }
}

function allRunning(job: JobView, n: number): boolean {
  return job.instances.length === n && job.instances.every((i) => i.state === 'ACTIVE' && i.task?.state === 'TASK_RUNNING');
}

interface JobRuns {
  job: string;
  instances: number;
  runs: number;
  createToRunning: Summary;
  killToGone: Summary;
  createToRunningSamplesMs: number[];
}

/** jobRuns creates the job, waits for all instances RUNNING, kills it and waits until it is gone; runs times. */
async function jobRuns(dev: DevCell, client: MusterClient, spec: { text: string; contentType: 'application/yaml' | 'application/json'; job: string; instances: number }, runs: number): Promise<JobRuns> {
  const up: number[] = [];
  const down: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await client.createJob(spec.text, { contentType: spec.contentType });
    await until(dev, `${spec.instances} running instances of ${spec.job}`, JOB_TIMEOUT_MS, async () =>
      allRunning(await client.getJob(spec.job), spec.instances) ? true : undefined,
    );
    up.push(performance.now() - t0);

    const t1 = performance.now();
    await client.killJob(spec.job);
    await until(dev, `the end of ${spec.job}`, JOB_TIMEOUT_MS, async () => {
      try {
        await client.getJob(spec.job);
        return undefined;
      } catch (err) {
        if (err instanceof MusterError && err.status === 404) return true;
        throw err;
      }
    });
    down.push(performance.now() - t1);
  }
  const r3 = (s: Summary): Summary => ({ minMs: round(s.minMs, 1), p50Ms: round(s.p50Ms, 1), maxMs: round(s.maxMs, 1) });
  return {
    job: spec.job,
    instances: spec.instances,
    runs,
    createToRunning: r3(summarize(up)),
    killToGone: r3(summarize(down)),
    createToRunningSamplesMs: up.map((v) => round(v, 1)),
  };
}

/** devCommand runs the built CLI, or its source under tsx when the benchmarks themselves run from source. */
function devCommand(root: string): { command: string[]; cli: string } {
  if (import.meta.url.endsWith('.ts')) {
    const cli = join(root, 'src', 'cli', 'main.ts');
    return { command: [process.execPath, ...process.execArgv, cli], cli: relative(root, cli) };
  }
  const cli = join(root, 'dist', 'src', 'cli', 'main.js');
  return { command: [process.execPath, cli], cli: relative(root, cli) };
}

export async function runDevBench(): Promise<Record<string, unknown>> {
  const root = repoRoot();
  const { command, cli } = devCommand(root);
  const helloText = await readFile(join(root, 'examples', 'hello-service.yaml'), 'utf8');
  const python = spawnSync('python3', ['--version']).status === 0;
  const dir = await mkdtemp(join(tmpdir(), 'muster-bench-dev-'));
  const [port, agentPort] = (await freePorts(2)) as [number, number];
  const client = new MusterClient({ masters: [`http://127.0.0.1:${port}`], timeoutMs: 10_000 });
  const figures: Record<string, unknown> = { cli, pollMs: POLL_MS };
  let dev: DevCell | undefined;
  // Ctrl-C or a kill of the benchmark: stop dev the proper way (it then kills its tasks), clean
  // up, then end with the same signal, as if this process had not caught it.
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted ??= signal;
    if (dev?.running === true) dev.child.kill('SIGINT');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const t0 = performance.now();
    dev = new DevCell(command, ['dev', '--dir', dir, '--port', String(port), '--agent-port', String(agentPort)]);
    let apiUpMs: number | undefined;
    const cell = await until(dev, 'connected agent', START_TIMEOUT_MS, async () => {
      try {
        const c = await client.cell();
        apiUpMs ??= performance.now() - t0;
        return c.agents.some((a) => a.state === 'CONNECTED') ? c : undefined;
      } catch (err) {
        // Refused while the master is still starting; anything else is a real failure.
        if (err instanceof MusterError && err.code === 'UNAVAILABLE') return undefined;
        throw err;
      }
    });
    const startup = { apiUpMs: round(apiUpMs ?? Number.NaN, 1), agentConnectedMs: round(performance.now() - t0, 1) };
    figures['startup'] = startup;
    const agent = cell.agents[0];
    figures['agentResources'] = agent?.total;

    const rows: (string | number)[][] = [
      ['spawn to API answering', 1, startup.apiUpMs, startup.apiUpMs, startup.apiUpMs],
      ['spawn to agent CONNECTED (start-up)', 1, startup.agentConnectedMs, startup.agentConnectedMs, startup.agentConnectedMs],
    ];

    if (python) {
      const hello = await jobRuns(dev, client, { text: helloText, contentType: 'application/yaml', job: 'web/prod/hello', instances: 3 }, HELLO_RUNS);
      figures['helloService'] = hello;
      rows.push(['hello-service: create to 3 RUNNING', hello.runs, hello.createToRunning.minMs, hello.createToRunning.p50Ms, hello.createToRunning.maxMs]);
      rows.push(['hello-service: kill to gone', hello.runs, hello.killToGone.minMs, hello.killToGone.p50Ms, hello.killToGone.maxMs]);
    } else {
      figures['helloService'] = { skipped: 'python3 is not on PATH; examples/hello-service.yaml needs it' };
      console.log('hello-service skipped: python3 is not on PATH');
    }

    // 20 × 0.01 cpus and 1 MiB fit any agent `muster dev` detects, so no --resources (which
    // `muster dev` does not take) is needed.
    const sleepersJob = 'bench/dev/sleepers';
    const sleepersText = JSON.stringify({
      job: sleepersJob,
      kind: 'service',
      instances: SLEEPERS,
      resources: { cpus: 0.01, mem: '1MiB' },
      processes: [{ name: 'sleep', cmd: 'sleep 3600' }],
    });
    const sleepers = await jobRuns(dev, client, { text: sleepersText, contentType: 'application/json', job: sleepersJob, instances: SLEEPERS }, SLEEPER_RUNS);
    figures['sleepers'] = sleepers;
    rows.push([`${SLEEPERS} x sleep 3600: create to all RUNNING`, sleepers.runs, sleepers.createToRunning.minMs, sleepers.createToRunning.p50Ms, sleepers.createToRunning.maxMs]);
    rows.push([`${SLEEPERS} x sleep 3600: kill to gone`, sleepers.runs, sleepers.killToGone.minMs, sleepers.killToGone.p50Ms, sleepers.killToGone.maxMs]);

    const stopped = await dev.stop(STOP_TIMEOUT_MS);
    const stop = {
      signal: 'SIGINT',
      exitMs: round(stopped.ms, 1),
      exitCode: stopped.exit.code,
      exitSignal: stopped.exit.signal,
      exitedCleanly: !stopped.forced && stopped.exit.code === 0,
    };
    figures['stop'] = stop;
    rows.push(['SIGINT to exit', 1, stop.exitMs, stop.exitMs, stop.exitMs]);

    printTable(
      `muster dev (${cli}), agent ${agent === undefined ? '?' : `${agent.total.cpus} cpus, ${agent.total.mem} MiB`}; polled every ${POLL_MS} ms`,
      ['step', 'runs', 'min ms', 'p50 ms', 'max ms'],
      rows,
    );
    console.log(`muster dev exit on SIGINT: ${stop.exitedCleanly ? 'clean (code 0)' : `NOT clean (code ${String(stop.exitCode)}, signal ${String(stop.exitSignal)}${stopped.forced ? ', killed after ' + STOP_TIMEOUT_MS + ' ms' : ''})`}`);
    return figures;
  } finally {
    if (dev?.running === true) await dev.stop(STOP_TIMEOUT_MS);
    const strays = killStrays(dir);
    if (strays > 0) console.log(`killed ${strays} task process(es) that muster dev left in ${dir}`);
    await rm(dir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (interrupted !== undefined) process.kill(process.pid, interrupted);
  }
}
