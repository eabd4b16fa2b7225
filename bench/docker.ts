// docker: what a docker task costs beside `docker run` itself. A daemon of its own (test/dockerd.ts:
// vfs storage, the busybox test image imported, so nothing is pulled) and a real `muster agent`
// with --containerizers process,docker, subscribed to the minimal master of bench/agent.ts. It measures:
//   - launch latency as bench/agent.ts does, LAUNCH sent → the TASK_RUNNING update's own timestamp,
//     one launch at a time, for two shapes of task: the image's own command (`args: [sleep, 3600]`,
//     the very container `docker run` makes) and a process (`cmd: exec sleep 3600`, run by /bin/sh
//     in the sandbox, with the daemon's init as pid 1);
//   - beside them, as many `docker -H unix://SOCKET run -d --network none IMAGE sleep 3600`, spawn
//     → exit (the CLI exits once the container runs), and the ratio of each muster p50 and p99 to
//     these (goal: at most 1.2×). The three take turns, so that each sees the daemon with as many
//     containers as the others do; one of each goes first, unmeasured, to warm the daemon and the agent;
//   - the agent's resident memory (VmRSS) with no task and with 100 docker tasks running (those of
//     the latency runs, and the rest launched in one burst), and what the daemon (dockerd and its
//     containerd, RSS) and the containers' shims (PSS) add up to then.
// Every task has 0.1 cpus and 16 MiB and network none; the image is present and pull is missing.
// MUSTER_BENCH_SCALE=0.1 launches 4 of each and keeps 10 tasks for the memory figure.

import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { containerSchema, type ContainerSpec } from '../src/core/index.js';
import type { AgentEvent, TaskInfo } from '../src/protocol/index.js';
import { startDockerd, TEST_IMAGE, whyNoDocker, type Dockerd } from '../test/dockerd.js';
import { hasBinary } from '../test/require.js';
import { BenchMaster, startBenchAgent, stopBenchAgent, taskInfo, type BenchAgent } from './agent.js';
import { benchScale } from './c1m.js';
import { printTable } from './report.js';
import { percentile, round } from './stats.js';

const LAUNCHES = 30;
const MEMORY_TASKS = 100;
const GOAL_RATIO = 1.2;
const TIMEOUT_MS = 60_000;
/** Each task's share: enough that the container's start (runc init runs in its cgroup) is not throttled. */
const RESOURCES = { cpus: 0.1, mem: 16, disk: 0, gpus: 0, ports: '' };

/** Shape is one way of launching a container that runs `sleep 3600`. */
interface Shape {
  name: string;
  /** Launches it once, resolving with how long it took to run, in ms. */
  launch: (n: number) => Promise<number>;
}

interface Latency {
  how: string;
  launches: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** This p50 and p99 over docker run's; absent for docker run itself. */
  p50Ratio?: number;
  p99Ratio?: number;
  goalMet?: boolean;
}

/** dockerTask is task n run in the test image: its own command (args) or a process under /bin/sh. */
function dockerTask(n: number, shape: 'args' | 'process'): TaskInfo {
  const base = taskInfo(n, { cmd: 'exec sleep 3600' });
  const docker = shape === 'args' ? { image: TEST_IMAGE, network: 'none', args: ['sleep', '3600'] } : { image: TEST_IMAGE, network: 'none' };
  // The agent gets what the master validated, defaults filled in (pull: missing, no volumes…).
  const container: ContainerSpec = containerSchema.parse({ docker });
  return {
    ...base,
    taskId: `bench-docker-${shape}-${n}`,
    job: `bench/prod/docker-${shape}`,
    resources: RESOURCES,
    processes: shape === 'args' ? [] : base.processes,
    container,
  };
}

/** dockerRun runs `docker run -d` of the same container and resolves with spawn → exit, in ms. */
async function dockerRun(socket: string, n: number): Promise<number> {
  const args = ['-H', `unix://${socket}`, 'run', '-d', '--name', `bench-run-${n}`, '--network', 'none', TEST_IMAGE, 'sleep', '3600'];
  const t0 = performance.now();
  const child = spawn('docker', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`docker run exited with ${code}: ${stderr.trim()}`);
  return ms;
}

/** launchTask sends a LAUNCH and resolves with LAUNCH sent → TASK_RUNNING created, in ms, as bench/agent.ts measures it. */
async function launchTask(master: BenchMaster, task: TaskInfo): Promise<number> {
  const { sentAt, running } = await master.launch(task);
  if (running.state !== 'TASK_RUNNING') throw new Error(`task ${task.taskId} ended ${running.state}: ${running.message ?? ''}`);
  return running.timestamp - sentAt;
}

function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? Number.NaN : Number(m[1]);
  } catch {
    return Number.NaN;
  }
}

function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0; // gone
  }
}

/**
 * daemonMemory is what the bench's daemon holds: dockerd and its containerd (RSS), and the shims of
 * its containers (PSS: a hundred copies of one Go binary share their text), found by their
 * command lines naming the daemon's dir.
 */
function daemonMemory(d: Dockerd): { daemonsRssKiB: number; shims: number; shimsPssKiB: number } {
  const root = dirname(d.socket);
  let daemonsRssKiB = d.process?.pid === undefined ? 0 : rssKiB(d.process.pid);
  let shims = 0;
  let shimsPssKiB = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0');
    } catch {
      continue;
    }
    if (!argv.some((a) => a.startsWith(root))) continue;
    const bin = argv[0] ?? '';
    if (bin.endsWith('containerd-shim-runc-v2')) {
      shims++;
      shimsPssKiB += pssKiB(Number(name));
    } else if (bin === 'containerd' || bin.endsWith('/containerd')) {
      daemonsRssKiB += rssKiB(Number(name));
    }
  }
  return { daemonsRssKiB, shims, shimsPssKiB };
}

function summary(how: string, samples: readonly number[], baseline?: Latency): Latency {
  const l: Latency = { how, launches: samples.length, p50Ms: round(percentile(samples, 50), 1), p99Ms: round(percentile(samples, 99), 1), maxMs: round(percentile(samples, 100), 1) };
  if (baseline === undefined) return l;
  l.p50Ratio = round(l.p50Ms / baseline.p50Ms, 2);
  l.p99Ratio = round(l.p99Ms / baseline.p99Ms, 2);
  l.goalMet = l.p50Ratio <= GOAL_RATIO && l.p99Ratio <= GOAL_RATIO;
  return l;
}

function dockerVersions(socket: string): { cli: string; daemon: string } {
  const out = spawnSync('docker', ['-H', `unix://${socket}`, 'version', '--format', '{{.Client.Version}} {{.Server.Version}}'], { encoding: 'utf8' });
  const [cli = 'unknown', daemon = 'unknown'] = out.stdout.trim().split(' ');
  return { cli, daemon };
}

export async function runDockerBench(): Promise<Record<string, unknown>> {
  const why = whyNoDocker() ?? (hasBinary('docker') ? undefined : 'needs the docker CLI on PATH (apt-get install docker.io)');
  if (why !== undefined) throw new Error(`cannot run: ${why}`);
  const scale = benchScale();
  const launches = Math.max(4, Math.round(LAUNCHES * scale));
  // The latency runs leave two muster tasks per round running: the memory figure adds to them.
  const memoryTasks = Math.round(MEMORY_TASKS * scale);

  const d = await startDockerd();
  const master = new BenchMaster();
  let agent: BenchAgent | undefined;
  try {
    await master.start();
    agent = await startBenchAgent(master, {
      name: 'muster-bench-docker',
      isolation: 'none',
      resources: 'cpus:64;mem:65536;disk:65536;ports:[31000-31999]',
      args: ['--containerizers', 'process,docker', '--docker-socket', d.socket],
    });
    await sleep(1000); // the same settling time as before the loaded figure
    const idle = { agentRssKiB: rssKiB(agent.pid), ...daemonMemory(d) };

    const shapes: Shape[] = [
      { name: 'muster: the image\'s command (args)', launch: (n) => launchTask(master, dockerTask(n, 'args')) },
      { name: 'muster: a process (cmd, sh + init)', launch: (n) => launchTask(master, dockerTask(n, 'process')) },
      { name: '`docker run -d`', launch: (n) => dockerRun(d.socket, n) },
    ];
    const samples = shapes.map((): number[] => []);
    // Round 0 warms up and is not counted; each round starts with the next shape.
    for (let r = 0; r <= launches; r++) {
      for (let k = 0; k < shapes.length; k++) {
        const i = (r + k) % shapes.length;
        const ms = await (shapes[i] as Shape).launch(r);
        if (r > 0) samples[i]?.push(ms);
      }
    }
    const baseline = summary(shapes[2]?.name ?? '', samples[2] ?? []);
    const latencies = [baseline, summary(shapes[0]?.name ?? '', samples[0] ?? [], baseline), summary(shapes[1]?.name ?? '', samples[1] ?? [], baseline)];

    // Only muster's tasks stay for the memory figure: docker run's containers go.
    for (let n = 0; n <= launches; n++) await d.docker.getContainer(`bench-run-${n}`).remove({ force: true });
    // The rest come in one burst, as after a placement (one at a time would only take longer).
    const more = Array.from({ length: Math.max(0, memoryTasks - 2 * (launches + 1)) }, (_, k) => dockerTask(launches + 1 + k, 'process'));
    master.sendAll(more.map((task): AgentEvent => ({ type: 'LAUNCH', launch: { task } })));
    await master.until(`TASK_RUNNING of ${more.length} more tasks`, () => more.every((t) => master.running(t.taskId) !== undefined), TIMEOUT_MS * 2);
    const failed = more.filter((t) => master.running(t.taskId)?.status.state !== 'TASK_RUNNING');
    if (failed.length > 0) throw new Error(`${failed.length} of the memory tasks did not run: ${master.running(failed[0]?.taskId ?? '')?.status.message ?? ''}`);
    const running = 2 * (launches + 1) + more.length;
    await sleep(1000); // let the agent settle (its GC) before reading its memory, as bench/agent.ts does
    const loaded = { agentRssKiB: rssKiB(agent.pid), ...daemonMemory(d) };

    const mib = (kib: number): number => round(kib / 1024, 1);
    const versions = dockerVersions(d.socket);
    printTable(
      `launch latency, one at a time, ${launches} of each taking turns (after one of each to warm up): muster LAUNCH sent → TASK_RUNNING created by the agent; docker run spawn → exit. Docker CLI ${versions.cli}, daemon ${versions.daemon} (vfs)`,
      ['how', 'p50 ms', 'p99 ms', 'max ms', 'p50 × docker run', 'p99 × docker run', 'goal'],
      latencies.map((l) => [
        l.how,
        l.p50Ms,
        l.p99Ms,
        l.maxMs,
        l.p50Ratio ?? '',
        l.p99Ratio ?? '',
        l.goalMet === undefined ? '' : `≤ ${GOAL_RATIO}× at p50 and p99: ${l.goalMet ? 'met' : 'missed'}`,
      ]),
    );
    printTable(
      `memory with no task and with ${running} docker tasks running (${launches + 1} of them args, the others processes)`,
      ['figure', 'no task', `${running} tasks`],
      [
        ['agent RSS MiB', mib(idle.agentRssKiB), mib(loaded.agentRssKiB)],
        ['dockerd + containerd RSS MiB', mib(idle.daemonsRssKiB), mib(loaded.daemonsRssKiB)],
        [`container shims (${loaded.shims}) PSS MiB`, mib(idle.shimsPssKiB), mib(loaded.shimsPssKiB)],
      ],
    );
    return {
      scale,
      launches,
      image: TEST_IMAGE,
      network: 'none',
      taskResources: RESOURCES,
      dockerCli: versions.cli,
      dockerDaemon: versions.daemon,
      goalRatio: GOAL_RATIO,
      latencies,
      memoryTasks: running,
      agentRssIdleMiB: mib(idle.agentRssKiB),
      agentRssLoadedMiB: mib(loaded.agentRssKiB),
      daemonsRssIdleMiB: mib(idle.daemonsRssKiB),
      daemonsRssLoadedMiB: mib(loaded.daemonsRssKiB),
      shimsLoaded: loaded.shims,
      shimsPssLoadedMiB: mib(loaded.shimsPssKiB),
    };
  } finally {
    // The agent kills its tasks as its master would; the daemon then removes what is left, and goes.
    if (agent !== undefined) await stopBenchAgent(agent);
    await master.close();
    await d.remove();
  }
}
