// churn: how fast a real cell turns short batch tasks over. A `muster master` and one `muster agent`
// with 16 one-cpu slots (--resources cpus:16, isolation on as root) run as processes of their own,
// and the benchmark drives them through the REST API as the CLI would (32 requests in flight), for
// three workloads, each on a fresh cell:
//   - 1,000 one-instance batch jobs of /bin/true;
//   - one batch job of 1,000 instances of /bin/true;
//   - one batch job of 200 instances of `sleep 1`: 200 one-cpu seconds on 16 slots take 12.5 s at
//     best, and the figure is the ratio to that.
// Each is timed from the first submit to the moment the master has logged the last TASK_FINISHED
// (read from its event stream). From the same events it breaks a task's life down, per task, as
// the master logged it (`at`) and the agent stamped its updates (`timestamp`, same clock): queued
// (job created → placed), placed → running on the agent, running → finished, finished on the agent →
// logged by the master; and how much of the 16 slots' time was held by no task (placement gaps).
// It reports the CPU per task of each daemon and of the tasks' processes (supervisors included), and
// how many tasks a second the machine's CPUs would allow at that cost. MUSTER_BENCH_CPU_PROF=DIR
// writes V8 CPU profiles of the master and the agent of each workload into DIR.
// MUSTER_BENCH_SCALE=0.1 runs a tenth of each.
// Goals (reported, never failed on): at least 120 tasks/s, sleep 1 within 5 % of the ideal.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { MusterClient } from '../src/client/index.js';
import type { EventView } from '../src/protocol/index.js';
import { cpuSecs, descendantsCpuSecs, killStraySupervisors } from './agent.js';
import { benchScale } from './c1m.js';
import { printTable, repoRoot } from './report.js';
import { median, percentile, round } from './stats.js';

const SLOTS = 16;
const IN_FLIGHT = 32;
const START_TIMEOUT_MS = 60_000;
const WORKLOAD_TIMEOUT_MS = 10 * 60_000;
const GOAL_TASKS_PER_SEC = 120;

interface Workload {
  name: string;
  /** Job specs (JSON), submitted in this order. */
  jobs: object[];
  tasks: number;
  /** Seconds the workload takes at best on SLOTS slots, where that is the point of it. */
  idealSecs?: number;
}

function batchJob(name: string, instances: number, cmd: string): object {
  return {
    job: `bench/churn/${name}`,
    kind: 'batch',
    instances,
    resources: { cpus: 1, mem: '32MiB' },
    processes: [{ name: 'main', cmd }],
  };
}

function workloads(scale: number): Workload[] {
  const many = Math.max(1, Math.round(1000 * scale));
  // Scaled down, a whole number of rounds on the slots, so that the ideal can be reached.
  const sleepers = scale === 1 ? 200 : SLOTS * Math.max(1, Math.round((200 * scale) / SLOTS));
  return [
    {
      name: `${many} one-instance jobs of /bin/true`,
      jobs: Array.from({ length: many }, (_, n) => batchJob(`true-${n}`, 1, '/bin/true')),
      tasks: many,
    },
    { name: `one job of ${many} instances of /bin/true`, jobs: [batchJob('true-many', many, '/bin/true')], tasks: many },
    {
      name: `${sleepers} × sleep 1 on ${SLOTS} one-cpu slots`,
      jobs: [batchJob('sleep-1', sleepers, 'sleep 1')],
      tasks: sleepers,
      idealSecs: sleepers / SLOTS,
    },
  ];
}

/** freePort asks the kernel for a free port. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise((r) => server.close(r));
  if (address === null || typeof address === 'string') throw new Error('listen(0) gave no port');
  return address.port;
}

/** Daemon is a master or agent process of the benchmark, with the end of its output for error messages. */
class Daemon {
  readonly child: ChildProcess;
  private output = '';

  constructor(label: string, args: string[]) {
    const profileDir = process.env['MUSTER_BENCH_CPU_PROF'];
    const prof = profileDir === undefined || profileDir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${label}.cpuprofile`];
    this.child = spawn(process.execPath, [...prof, join(repoRoot(), 'dist', 'src', 'cli', 'main.js'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, MUSTER_LOG_LEVEL: 'warn' },
    });
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-8192);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  tail(): string {
    return this.output.trimEnd().split('\n').slice(-10).join('\n');
  }

  /** stop sends signal, waits up to timeoutMs for the exit, then kills the process group. */
  async stop(signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    if (this.running) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill(signal);
      const cancel = new AbortController();
      await Promise.race([exited, sleep(timeoutMs, undefined, { signal: cancel.signal }).catch(() => undefined)]);
      cancel.abort();
    }
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** TaskLife is what the event stream told of one task, times in ms since the epoch. */
interface TaskLife {
  job: string;
  instance: number;
  launchedAt: number;
  runningAt?: number;
  finishedAt?: number;
  loggedAt?: number;
}

interface Outcome {
  workload: string;
  tasks: number;
  finished: number;
  failedRuns: number;
  timedOut: boolean;
  submitSecs: number;
  secs: number;
  tasksPerSec: number;
  idealSecs?: number;
  ratioToIdeal?: number;
  masterCpuMsPerTask: number;
  agentCpuMsPerTask: number;
  /** The supervisors and what they ran. */
  tasksCpuMsPerTask: number;
  /** cores × 1000 / (master + agent + tasks CPU ms per task): the most this machine's CPUs allow. */
  cpuBoundTasksPerSec: number;
  /** Medians per task, ms. */
  queuedMs: number;
  placedToRunningMs: number;
  runningToFinishedMs: number;
  finishedToLoggedMs: number;
  /** Placement to the master logging the end: how long a task held its slot, median and p99. */
  slotHeldMs: number;
  slotHeldP99Ms: number;
  /** The share of the 16 slots' time over the workload that no task held. */
  slotsIdleShare: number;
}

async function runWorkload(w: Workload, label: string): Promise<Outcome> {
  const isRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(isRoot ? '/var/tmp' : (process.env['TMPDIR'] ?? '/tmp'), 'muster-bench-churn-'));
  chmodSync(dir, 0o711); // tasks run as their role's user and must reach their sandbox by its path
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const master = new Daemon(`master-${label}`, ['master', '--port', String(port), '--store', `sqlite:${join(dir, 'master.db')}`, '--insecure-no-auth', '--dns-port', '0']);
  const agent = new Daemon(`agent-${label}`, [
    'agent',
    '--master', url,
    '--port', '0',
    '--work-dir', join(dir, 'agent'),
    '--resources', `cpus:${SLOTS};mem:16384;disk:65536;ports:[31000-31999]`,
    '--cgroup-root', `muster-bench-${dir.split('/').pop() ?? 'x'}`,
    '--usage-interval', '60',
    '--disk-watch-interval', '600',
  ]);
  const client = new MusterClient({ masters: [url], timeoutMs: 30_000 });
  const events = new AbortController();
  let stream: Promise<void> | undefined;
  try {
    const deadline = performance.now() + START_TIMEOUT_MS;
    for (;;) {
      if (!master.running || !agent.running) throw new Error(`a daemon exited at start:\n${master.tail()}\n${agent.tail()}`);
      if (performance.now() > deadline) throw new Error(`no connected agent after ${START_TIMEOUT_MS / 1000} s:\n${master.tail()}\n${agent.tail()}`);
      const cell = await client.cell().catch(() => undefined);
      if (cell?.agents.some((a) => a.state === 'CONNECTED') === true) break;
      await sleep(50);
    }

    // The event stream: every task's placement, updates and end, as the master logged them.
    const created = new Map<string, number>();
    const lives = new Map<string, TaskLife>();
    const done = new Set<string>();
    let failedRuns = 0;
    let lastLoggedAt = 0;
    let wake: (() => void) | undefined;
    const onEvent = (e: EventView): void => {
      if (e.type === 'JobCreated') {
        created.set((e['spec'] as { job: string }).job, e.at);
      } else if (e.type === 'TasksLaunched') {
        for (const t of e['tasks'] as { taskId: string; job: string; instance: number }[]) {
          lives.set(t.taskId, { job: t.job, instance: t.instance, launchedAt: e.at });
        }
      } else if (e.type === 'TaskStatusUpdated') {
        const status = e['status'] as { taskId: string; state: string; timestamp: number };
        const life = lives.get(status.taskId);
        if (life === undefined) return;
        if (status.state === 'TASK_RUNNING') life.runningAt ??= status.timestamp;
        if (status.state === 'TASK_FINISHED') {
          life.finishedAt = status.timestamp;
          life.loggedAt = e.at;
          done.add(`${life.job}/${life.instance}`);
          lastLoggedAt = Math.max(lastLoggedAt, e.at);
          wake?.();
        } else if (['TASK_FAILED', 'TASK_LOST', 'TASK_ERROR', 'TASK_KILLED', 'TASK_DROPPED'].includes(status.state)) {
          failedRuns++;
          life.loggedAt = e.at;
        }
      }
    };
    stream = client.events(onEvent, events.signal).catch((err: unknown) => {
      if (!events.signal.aborted) console.error('the event stream failed:', err);
    });
    await sleep(200); // the stream is open before the first submit

    const masterCpu0 = cpuSecs(master.pid);
    const agentCpu0 = cpuSecs(agent.pid);
    const tasksCpu0 = descendantsCpuSecs(agent.pid);
    const wall0 = Date.now();
    const t0 = performance.now();
    let next = 0;
    const submitOne = async (): Promise<void> => {
      while (next < w.jobs.length) {
        const spec = w.jobs[next++];
        await client.createJob(JSON.stringify(spec), { contentType: 'application/json' });
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, w.jobs.length) }, submitOne));
    const submitSecs = (performance.now() - t0) / 1000;
    const timeout = performance.now() + WORKLOAD_TIMEOUT_MS;
    while (done.size < w.tasks && performance.now() < timeout && master.running && agent.running) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 1000);
      });
    }
    const timedOut = done.size < w.tasks;
    const masterCpu = cpuSecs(master.pid) - masterCpu0;
    const agentCpu = cpuSecs(agent.pid) - agentCpu0;
    await sleep(300); // the last supervisors reaped
    const tasksCpu = descendantsCpuSecs(agent.pid) - tasksCpu0;
    const cpuMsPerTask = ((masterCpu + agentCpu + tasksCpu) * 1000) / w.tasks;
    // From the first submit to the master logging the last TASK_FINISHED, on the master's clock.
    const secs = ((timedOut ? Date.now() : lastLoggedAt) - wall0) / 1000;

    const finished = [...lives.values()].filter((l) => l.finishedAt !== undefined && l.loggedAt !== undefined);
    const per = (f: (l: TaskLife) => number | undefined): number[] =>
      finished.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v));
    const held = per((l) => (l.loggedAt as number) - l.launchedAt);
    const heldTotal = held.reduce((a, b) => a + b, 0);
    return {
      workload: w.name,
      tasks: w.tasks,
      finished: done.size,
      failedRuns,
      timedOut,
      submitSecs: round(submitSecs, 2),
      secs: round(secs, 2),
      tasksPerSec: round(done.size / secs, 1),
      ...(w.idealSecs === undefined ? {} : { idealSecs: w.idealSecs, ratioToIdeal: round(secs / w.idealSecs, 3) }),
      masterCpuMsPerTask: round((masterCpu * 1000) / w.tasks, 2),
      agentCpuMsPerTask: round((agentCpu * 1000) / w.tasks, 2),
      tasksCpuMsPerTask: round((tasksCpu * 1000) / w.tasks, 2),
      cpuBoundTasksPerSec: round((cpus().length * 1000) / cpuMsPerTask, 1),
      queuedMs: median(per((l) => l.launchedAt - (created.get(l.job) ?? Number.NaN))),
      placedToRunningMs: median(per((l) => (l.runningAt === undefined ? undefined : l.runningAt - l.launchedAt))),
      runningToFinishedMs: median(per((l) => (l.runningAt === undefined ? undefined : (l.finishedAt as number) - l.runningAt))),
      finishedToLoggedMs: median(per((l) => (l.loggedAt as number) - (l.finishedAt as number))),
      slotHeldMs: median(held),
      slotHeldP99Ms: percentile(held, 99),
      slotsIdleShare: round(1 - heldTotal / (SLOTS * secs * 1000), 3),
    };
  } finally {
    events.abort();
    await stream;
    // The agent kills what is left through its supervisors; the master keeps nothing running.
    await agent.stop('SIGUSR1', 60_000);
    await master.stop('SIGTERM', 30_000);
    await killStraySupervisors(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runChurnBench(): Promise<Record<string, unknown>> {
  const scale = benchScale();
  const outcomes: Outcome[] = [];
  for (const [i, w] of workloads(scale).entries()) {
    const outcome = await runWorkload(w, `churn-${i + 1}`);
    outcomes.push(outcome);
    console.log(`${w.name}: ${outcome.secs} s, ${outcome.tasksPerSec} tasks/s${outcome.timedOut ? ' (timed out)' : ''}`);
  }
  printTable(
    `churn: batch tasks through a real master and one agent of ${SLOTS} one-cpu slots (${process.getuid?.() === 0 ? 'isolation on' : 'not root: no isolation'}); goal ≥ ${GOAL_TASKS_PER_SEC} tasks/s, sleep 1 within 5 % of ideal`,
    ['workload', 'tasks', 'submit s', 'total s', 'tasks/s', 'ratio to ideal', 'failed runs', 'CPU ms/task: master', 'agent', 'tasks', `tasks/s ${cpus().length} CPUs allow`],
    outcomes.map((o) => [o.workload, o.finished, o.submitSecs, o.secs, o.tasksPerSec, o.ratioToIdeal, o.failedRuns, o.masterCpuMsPerTask, o.agentCpuMsPerTask, o.tasksCpuMsPerTask, o.cpuBoundTasksPerSec]),
  );
  printTable(
    'a task\'s life, medians in ms: queued (job created → placed), placed → TASK_RUNNING on the agent, running → finished, finished → logged by the master; slot held (placed → logged), and the share of slot time no task held',
    ['workload', 'queued', 'placed → running', 'running → finished', 'finished → logged', 'slot held p50', 'slot held p99', 'slots idle'],
    outcomes.map((o) => [o.workload, o.queuedMs, o.placedToRunningMs, o.runningToFinishedMs, o.finishedToLoggedMs, o.slotHeldMs, o.slotHeldP99Ms, `${round(o.slotsIdleShare * 100, 1)} %`]),
  );
  return { scale, slots: SLOTS, goalTasksPerSec: GOAL_TASKS_PER_SEC, workloads: outcomes };
}
