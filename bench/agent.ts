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
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeRecord, type AgentCall, type AgentEvent, type TaskInfo, type TaskStatus } from '../src/protocol/index.js';
import { printTable, repoRoot } from './report.js';
import { percentile, round } from './stats.js';

const LAUNCHES = 200;
const MEMORY_TASKS = 100;
const TIMEOUT_MS = 60_000;

/** BenchMaster is just enough of a master: one agent stream, LAUNCH and KILL out, updates in and acknowledged. */
class BenchMaster {
  private readonly server = http.createServer((req, res) => this.onRequest(req, res));
  private stream: http.ServerResponse | undefined;
  private readonly waiters = new Map<string, (s: TaskStatus) => void>();
  readonly updates: TaskStatus[] = [];
  url = '';

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

  /** launch sends a LAUNCH and resolves with the time it was sent and the TASK_RUNNING update. */
  async launch(task: TaskInfo): Promise<{ sentAt: number; running: TaskStatus }> {
    const running = new Promise<TaskStatus>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${task.taskId} did not run within ${TIMEOUT_MS / 1000}s`)), TIMEOUT_MS);
      this.waiters.set(task.taskId, (s) => {
        clearTimeout(timer);
        resolve(s);
      });
    });
    const sentAt = Date.now();
    this.send({ type: 'LAUNCH', launch: { task } });
    return { sentAt, running: await running };
  }

  async close(): Promise<void> {
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
        this.stream = res;
        res.writeHead(200, { 'content-type': 'application/recordio' });
        this.send({ type: 'SUBSCRIBED', subscribed: { agentId: 'bench-agent', heartbeatIntervalSecs: 5, masterId: 'bench' } });
        return;
      }
      res.writeHead(202).end();
      if (call.type !== 'UPDATE') return;
      const status = call.update.status;
      this.updates.push(status);
      this.send({ type: 'ACKNOWLEDGED', acknowledged: { taskId: status.taskId, uuid: status.uuid } });
      if (status.state === 'TASK_RUNNING') this.waiters.get(status.taskId)?.(status);
      else if (status.state !== 'TASK_STARTING' && status.state !== 'TASK_KILLING') {
        this.waiters.get(status.taskId)?.(status); // a failed launch ends the wait too, and is reported
      }
    });
  }
}

function taskInfo(n: number, ports: number): TaskInfo {
  return {
    taskId: `bench-${n}`,
    job: 'bench/prod/sleep',
    instance: n,
    kind: 'service',
    role: 'bench',
    resources: { cpus: 0.01, mem: 8, disk: 0, gpus: 0, ports: '' },
    ports: ports > 0 ? { http: 31000 + n } : {},
    processes: [{ name: 'main', cmd: 'exec sleep 3600' }],
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
  for (const name of readdirSafe('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0');
      if (argv[0]?.endsWith('muster-supervisor') === true && argv.some((a) => a.startsWith(dir))) total += pssKiB(Number(name));
    } catch {
      // gone
    }
  }
  return total;
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

async function runOnce(mode: 'auto' | 'none'): Promise<Run> {
  const base = process.getuid?.() === 0 ? '/var/tmp' : tmpdirSafe();
  const dir = mkdtempSync(join(base, 'muster-bench-agent-'));
  const master = new BenchMaster();
  await master.start();
  const args = [
    join(repoRoot(), 'dist', 'src', 'cli', 'main.js'),
    'agent',
    '--master', master.url,
    '--port', '0',
    '--work-dir', join(dir, 'agent'),
    '--resources', `cpus:64;mem:65536;disk:65536;ports:[31000-31999]`,
    '--cgroup-root', `muster-bench-${dir.split('/').pop() ?? 'x'}`,
    '--isolation', mode,
    '--usage-interval', '60',
    '--disk-watch-interval', '600',
  ];
  if (mode === 'none') args.push('--allow-root-tasks');
  const agent: ChildProcess = spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
    env: { ...process.env, MUSTER_LOG_LEVEL: 'warn' },
  });
  try {
    const deadline = Date.now() + TIMEOUT_MS;
    while (!master.subscribed) {
      if (Date.now() > deadline || agent.exitCode !== null) throw new Error('the agent did not subscribe');
      await sleep(20);
    }
    await sleep(500);
    const pid = agent.pid as number;
    const idle = rssKiB(pid);
    const latencies: number[] = [];
    let rss100 = Number.NaN;
    let sup100 = Number.NaN;
    for (let n = 0; n < LAUNCHES; n++) {
      const { sentAt, running } = await master.launch(taskInfo(n, 1));
      if (running.state !== 'TASK_RUNNING') throw new Error(`task ${n} ended ${running.state}: ${running.message ?? ''}`);
      latencies.push(running.timestamp - sentAt);
      if (n + 1 === MEMORY_TASKS) {
        await sleep(1000); // let the agent settle (its GC) before reading its memory
        rss100 = rssKiB(pid);
        sup100 = supervisorsPssKiB(dir);
      }
    }
    // Kill everything through the agent, as its master would, then stop it.
    agent.kill('SIGUSR1');
    await new Promise((r) => agent.once('exit', r));
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
    if (agent.exitCode === null) {
      agent.kill('SIGUSR1');
      await sleep(3000);
      try {
        process.kill(-(agent.pid as number), 'SIGKILL');
      } catch {
        // gone
      }
    }
    await master.close();
    rmSync(dir, { recursive: true, force: true });
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
