// agent: what a task costs the agent. A real `muster agent` process subscribes to a minimal master
// written here (it answers SUBSCRIBE with a stream and acknowledges every update at once), which
// sends LAUNCH one task at a time and waits for its TASK_RUNNING. It measures:
//   - launch latency, LAUNCH sent → the moment the agent created the TASK_RUNNING update (the
//     update's own timestamp, so the time the update takes to come back is not counted), over
//     200 launches of `sleep 3600`, with isolation (cgroups, pid and mount namespaces, the role's
//     user: the default as root) and with --isolation none;
//   - the agent's resident memory (VmRSS) with 0 and 100 tasks running, and what the 100 tasks'
//     supervisors add up to (each is a small C process outside the agent, two with its init),
//     as PSS so that the C library's shared pages are not counted a hundred times.
// Both configurations run as root when the benchmark does; without root only "none" runs.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { encodeRecord, type AgentCall, type AgentEvent, type TaskInfo, type TaskStatus } from '../src/protocol/index.js';
import { printTable, repoRoot } from './report.js';
import { percentile, round } from './stats.js';

const LAUNCHES = 200;
const MEMORY_TASKS = 100;
const TIMEOUT_MS = 60_000;

/** BenchMasterOptions: the heartbeat interval the master tells the agent (and keeps its stream alive at). */
export interface BenchMasterOptions {
  heartbeatIntervalSecs?: number;
}

/** Seen is what the master has heard of one task: its first TASK_RUNNING (or end) and its end, with when they came in. */
interface Seen {
  running?: { status: TaskStatus; receivedAt: number };
  ended?: { status: TaskStatus; receivedAt: number };
}

/**
 * BenchMaster is just enough of a master: one agent stream, LAUNCH and KILL out, updates in and
 * acknowledged at once, a HEARTBEAT event on the stream every interval (the agent drops a stream
 * silent for three), and the time of every HEARTBEAT call the agent makes, to find those it missed.
 */
export class BenchMaster {
  private readonly server = http.createServer((req, res) => this.onRequest(req, res));
  private stream: http.ServerResponse | undefined;
  private streamHeartbeat: NodeJS.Timeout | undefined;
  private readonly seen = new Map<string, Seen>();
  private readonly listeners = new Set<() => void>();
  readonly heartbeatIntervalSecs: number;
  readonly updates: TaskStatus[] = [];
  /** performance.now() of each HEARTBEAT call from the agent. */
  readonly heartbeats: number[] = [];
  /** SUBSCRIBE calls: more than one means the agent dropped its stream and subscribed again. */
  subscribes = 0;
  /** Tasks whose first TASK_RUNNING (or end before it) came in, and tasks whose end came in. */
  runningCount = 0;
  endedCount = 0;
  url = '';

  constructor(options: BenchMasterOptions = {}) {
    this.heartbeatIntervalSecs = options.heartbeatIntervalSecs ?? 5;
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get subscribed(): boolean {
    return this.stream !== undefined;
  }

  send(event: AgentEvent): void {
    this.stream?.write(encodeRecord(event));
  }

  /** sendAll writes the events to the stream in one write: the agent reads them as one burst. */
  sendAll(events: readonly AgentEvent[]): void {
    this.stream?.write(Buffer.concat(events.map((e) => encodeRecord(e))));
  }

  /** launch sends a LAUNCH and resolves with the time it was sent and the TASK_RUNNING update. */
  async launch(task: TaskInfo): Promise<{ sentAt: number; running: TaskStatus }> {
    const sentAt = Date.now();
    this.send({ type: 'LAUNCH', launch: { task } });
    await this.until(`TASK_RUNNING of ${task.taskId}`, () => this.seen.get(task.taskId)?.running !== undefined, TIMEOUT_MS);
    return { sentAt, running: (this.seen.get(task.taskId)?.running as { status: TaskStatus }).status };
  }

  /** running: the first TASK_RUNNING of a task (or the update that ended it before it ran), and when it came in. */
  running(taskId: string): { status: TaskStatus; receivedAt: number } | undefined {
    return this.seen.get(taskId)?.running;
  }

  /** ended: the terminal update of a task, and when it came in. */
  ended(taskId: string): { status: TaskStatus; receivedAt: number } | undefined {
    return this.seen.get(taskId)?.ended;
  }

  /** until resolves once check() holds, asked again at every update; it rejects after timeoutMs. */
  until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const listener = (): void => {
        if (!check()) return;
        this.listeners.delete(listener);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`no ${what} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.listeners.add(listener);
    });
  }

  /**
   * heartbeatGaps: the gaps between the agent's HEARTBEAT calls over [from, to] (performance.now()),
   * the edges of the window included, so an agent that fell silent at the end counts too. A gap of
   * more than 1.5 intervals missed round(gap / interval) - 1 heartbeats.
   */
  heartbeatGaps(from: number, to: number): { calls: number; longestGapMs: number; missed: number } {
    const interval = this.heartbeatIntervalSecs * 1000;
    const before = this.heartbeats.filter((t) => t < from).at(-1) ?? from;
    const times = [before, ...this.heartbeats.filter((t) => t >= from && t <= to), to];
    let longest = 0;
    let missed = 0;
    for (let i = 1; i < times.length; i++) {
      const gap = (times[i] as number) - (times[i - 1] as number);
      longest = Math.max(longest, gap);
      if (gap > 1.5 * interval) missed += Math.round(gap / interval) - 1;
    }
    return { calls: times.length - 2, longestGapMs: longest, missed };
  }

  async close(): Promise<void> {
    clearInterval(this.streamHeartbeat);
    this.stream?.end();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const call = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AgentCall;
      if (call.type === 'SUBSCRIBE') {
        this.subscribes++;
        this.stream = res;
        res.writeHead(200, { 'content-type': 'application/recordio' });
        this.send({ type: 'SUBSCRIBED', subscribed: { agentId: 'bench-agent', heartbeatIntervalSecs: this.heartbeatIntervalSecs, masterId: 'bench' } });
        clearInterval(this.streamHeartbeat);
        this.streamHeartbeat = setInterval(() => this.send({ type: 'HEARTBEAT' }), this.heartbeatIntervalSecs * 1000);
        return;
      }
      res.writeHead(202).end();
      if (call.type === 'HEARTBEAT') this.heartbeats.push(performance.now());
      if (call.type !== 'UPDATE') return;
      const status = call.update.status;
      this.updates.push(status);
      this.send({ type: 'ACKNOWLEDGED', acknowledged: { taskId: status.taskId, uuid: status.uuid } });
      let seen = this.seen.get(status.taskId);
      if (seen === undefined) this.seen.set(status.taskId, (seen = {}));
      const receivedAt = performance.now();
      const ends = status.state !== 'TASK_STARTING' && status.state !== 'TASK_KILLING' && status.state !== 'TASK_RUNNING';
      // A failed launch ends the wait for TASK_RUNNING too, and is reported.
      if (seen.running === undefined && (status.state === 'TASK_RUNNING' || ends)) {
        seen.running = { status, receivedAt };
        this.runningCount++;
      }
      if (seen.ended === undefined && ends) {
        seen.ended = { status, receivedAt };
        this.endedCount++;
      }
      for (const listener of [...this.listeners]) listener();
    });
  }
}

/** taskInfo is task n of the benchmark: 0.01 cpus and 8 MiB, one process running cmd, with a port of its own if asked. */
export function taskInfo(n: number, options: { port?: boolean; cmd?: string } = {}): TaskInfo {
  return {
    taskId: `bench-${n}`,
    job: 'bench/prod/sleep',
    instance: n,
    kind: 'service',
    role: 'bench',
    resources: { cpus: 0.01, mem: 8, disk: 0, gpus: 0, ports: '' },
    ports: options.port === true ? { http: 31000 + n } : {},
    processes: [{ name: 'main', cmd: options.cmd ?? 'exec sleep 3600' }],
    env: {},
    killGraceSecs: 1,
  };
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? Number.NaN : Number(m[1]);
}

/** pssKiB is a process's proportional share of memory: shared pages (libc) counted once across processes. */
function pssKiB(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return m === null ? Number.NaN : Number(m[1]);
}

/**
 * supervisorsPssKiB adds up the memory of the supervisors (and their inits) under dir, as PSS:
 * RSS would count the C library's shared pages once per process, two hundred times over.
 */
function supervisorsPssKiB(dir: string): number {
  let total = 0;
  for (const pid of supervisorsOf(dir)) {
    try {
      total += pssKiB(pid);
    } catch {
      // gone
    }
  }
  return total;
}

/** supervisorsOf lists the supervisors (and their inits) of tasks whose sandboxes lie under dir. */
function supervisorsOf(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSafe('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0');
      if (argv[0]?.endsWith('muster-supervisor') === true && argv[1] === 'run' && argv.some((a) => a.startsWith(dir))) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

interface Run {
  isolation: string;
  launches: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  agentRssIdleMiB: number;
  agentRss100MiB: number;
  supervisorsPss100MiB: number;
}

/** BenchAgentOptions: how to start a `muster agent` for a benchmark. */
export interface BenchAgentOptions {
  isolation: 'auto' | 'none';
  /** --resources, Mesos syntax. */
  resources: string;
  /** What the work dir's name starts with, under /var/tmp as root (else $TMPDIR). */
  name: string;
  /**
   * Load bench/loopwatch.ts into the agent: it writes the agent's event-loop gap and block of each
   * second to a file, read back with loopSeconds().
   */
  watchLoop?: boolean;
  /** More flags for `muster agent` (bench docker's --containerizers and --docker-socket). */
  args?: readonly string[];
}

/** BenchAgent is a `muster agent` process a benchmark started, with a work dir of its own. */
export interface BenchAgent {
  child: ChildProcess;
  pid: number;
  dir: string;
  /** Where loopwatch writes, when watchLoop was asked for. */
  loopFile: string | undefined;
}

/**
 * startBenchAgent starts a real `muster agent` process subscribed to master and resolves once it
 * has subscribed. The agent runs in a process group of its own (stopBenchAgent kills the group);
 * its tasks' supervisors are in sessions of their own and outlive it, as they should.
 */
export async function startBenchAgent(master: BenchMaster, options: BenchAgentOptions): Promise<BenchAgent> {
  const base = process.getuid?.() === 0 ? '/var/tmp' : tmpdirSafe();
  const dir = mkdtempSync(join(base, `${options.name}-`));
  // Tasks run as their role's user, which must be able to reach its sandbox by its path.
  chmodSync(dir, 0o711);
  const args = [
    join(repoRoot(), 'dist', 'src', 'cli', 'main.js'),
    'agent',
    '--master', master.url,
    '--port', '0',
    '--work-dir', join(dir, 'agent'),
    '--resources', options.resources,
    '--cgroup-root', `muster-bench-${dir.split('/').pop() ?? 'x'}`,
    '--isolation', options.isolation,
    '--usage-interval', '60',
    '--disk-watch-interval', '600',
  ];
  if (options.isolation === 'none') args.push('--allow-root-tasks');
  args.push(...(options.args ?? []));
  const loopFile = options.watchLoop === true ? join(dir, 'loop.txt') : undefined;
  const node = loopFile === undefined ? [] : ['--import', pathToFileURL(join(repoRoot(), 'dist', 'bench', 'loopwatch.js')).href];
  // MUSTER_BENCH_CPU_PROF=DIR: a V8 CPU profile of the agent, written into DIR when it exits.
  const profileDir = process.env['MUSTER_BENCH_CPU_PROF'];
  if (profileDir !== undefined && profileDir !== '') node.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  const child: ChildProcess = spawn(process.execPath, [...node, ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
    env: { ...process.env, MUSTER_LOG_LEVEL: 'warn', ...(loopFile === undefined ? {} : { MUSTER_BENCH_LOOP_FILE: loopFile }) },
  });
  const agent = { child, pid: child.pid as number, dir, loopFile };
  try {
    const deadline = Date.now() + TIMEOUT_MS;
    while (!master.subscribed) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('the agent did not subscribe');
      await sleep(20);
    }
  } catch (err) {
    await stopBenchAgent(agent);
    throw err;
  }
  return agent;
}

/**
 * stopBenchAgent stops the agent as its operator would (SIGUSR1: every task killed through it), waits
 * up to timeoutMs, kills what is left of its process group and any supervisor of its tasks still
 * running (they are in sessions of their own), and removes its work dir.
 */
export async function stopBenchAgent(agent: BenchAgent, timeoutMs = 60_000): Promise<void> {
  const { child } = agent;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGUSR1');
    const cancel = new AbortController();
    await Promise.race([exited, sleep(timeoutMs, undefined, { signal: cancel.signal }).catch(() => undefined)]);
    cancel.abort();
    try {
      process.kill(-agent.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await killStraySupervisors(agent.dir);
  rmSync(agent.dir, { recursive: true, force: true });
}

/**
 * killStraySupervisors ends the supervisors of tasks under dir that an agent left running (it was
 * killed, or did not stop in time): SIGUSR1 (each kills its task), then SIGKILL for any left.
 */
export async function killStraySupervisors(dir: string): Promise<void> {
  const strays = supervisorsOf(dir);
  if (strays.length === 0) return;
  console.log(`killing ${strays.length} task supervisor(s) left running in ${dir}`);
  for (const pid of strays) signal(pid, 'SIGUSR1');
  await sleep(3000);
  for (const pid of supervisorsOf(dir)) signal(pid, 'SIGKILL');
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

/** LoopSecond is one second of the agent's event loop as loopwatch wrote it: the longest gap and block, in ms. */
export interface LoopSecond {
  at: number;
  gapMs: number;
  blockMs: number;
}

/** loopSeconds reads what loopwatch wrote between from and to (ms since the epoch). */
export function loopSeconds(agent: BenchAgent, from: number, to: number): LoopSecond[] {
  if (agent.loopFile === undefined) return [];
  let text: string;
  try {
    text = readFileSync(agent.loopFile, 'utf8');
  } catch {
    return [];
  }
  const out: LoopSecond[] = [];
  for (const line of text.split('\n')) {
    const [at, gap, block] = line.split(' ').map(Number);
    if (at === undefined || gap === undefined || block === undefined || !Number.isFinite(block)) continue;
    // A second's line is written at its end: the one ending just after `from` covers it.
    if (at >= from && at <= to + 1000) out.push({ at, gapMs: gap * 1000, blockMs: block * 1000 });
  }
  return out;
}

/** cpuSecs is the CPU time (user and system) a process has used so far. */
export function cpuSecs(pid: number): number {
  // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * descendantsCpuSecs is the CPU time of what a process started and reaped (cutime, cstime: its
 * children, and theirs as each was reaped) plus that of its live children with what they reaped.
 * The agent's supervisors and their tasks add up here whether the agent forks them itself or a
 * launcher it started does.
 */
export function descendantsCpuSecs(pid: number): number {
  let ticks = 0;
  for (const name of readdirSafe('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone
    }
    // After the command's ')': state, ppid, …; utime, stime, cutime, cstime are the 12th to 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number) as [number, number, number, number];
    if (Number(name) === pid) ticks += cutime + cstime;
    else if (Number(fields[1]) === pid) ticks += utime + stime + cutime + cstime;
  }
  return ticks / CLOCK_TICKS;
}

/** CLOCK_TICKS is USER_HZ, the unit of /proc/PID/stat times: 100 on every Linux Node runs on. */
const CLOCK_TICKS = 100;

async function runOnce(mode: 'auto' | 'none'): Promise<Run> {
  const master = new BenchMaster();
  await master.start();
  let agent: BenchAgent | undefined;
  try {
    agent = await startBenchAgent(master, { isolation: mode, resources: 'cpus:64;mem:65536;disk:65536;ports:[31000-31999]', name: 'muster-bench-agent' });
    await sleep(500);
    const { pid, dir } = agent;
    const idle = rssKiB(pid);
    const latencies: number[] = [];
    let rss100 = Number.NaN;
    let sup100 = Number.NaN;
    for (let n = 0; n < LAUNCHES; n++) {
      const { sentAt, running } = await master.launch(taskInfo(n, { port: true }));
      if (running.state !== 'TASK_RUNNING') throw new Error(`task ${n} ended ${running.state}: ${running.message ?? ''}`);
      latencies.push(running.timestamp - sentAt);
      if (n + 1 === MEMORY_TASKS) {
        await sleep(1000); // let the agent settle (its GC) before reading its memory
        rss100 = rssKiB(pid);
        sup100 = supervisorsPssKiB(dir);
      }
    }
    return {
      isolation: mode === 'auto' ? 'cgroups + namespaces + user' : 'none',
      launches: LAUNCHES,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: percentile(latencies, 100),
      agentRssIdleMiB: round(idle / 1024, 1),
      agentRss100MiB: round(rss100 / 1024, 1),
      supervisorsPss100MiB: round(sup100 / 1024, 1),
    };
  } finally {
    // Kill everything through the agent, as its master would, then stop it.
    if (agent !== undefined) await stopBenchAgent(agent);
    await master.close();
  }
}

function tmpdirSafe(): string {
  return process.env['TMPDIR'] ?? '/tmp';
}

export async function runAgentBench(): Promise<Record<string, unknown>> {
  const modes: ('auto' | 'none')[] = process.getuid?.() === 0 ? ['auto', 'none'] : ['none'];
  const runs: Run[] = [];
  for (const mode of modes) runs.push(await runOnce(mode));
  printTable(
    `launch latency, LAUNCH sent → TASK_RUNNING created by the agent, ${LAUNCHES} launches one at a time; agent memory`,
    ['isolation', 'p50 ms', 'p99 ms', 'max ms', 'agent RSS idle MiB', `agent RSS ${MEMORY_TASKS} tasks MiB`, `${MEMORY_TASKS} supervisors PSS MiB`],
    runs.map((r) => [r.isolation, r.p50Ms, r.p99Ms, r.maxMs, r.agentRssIdleMiB, r.agentRss100MiB, r.supervisorsPss100MiB]),
  );
  return { runs };
}
