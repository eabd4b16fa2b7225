// cli: how long a `muster` command takes, beside node's own start-up. A CLI call is one short
// process, so its start-up is most of what a person waits for. It runs the product's entry point,
// the file package.json's bin.muster names (the bundle `npm run build` writes), and measures:
//   - node's own start: `node -e 0`;
//   - `muster --version`: start-up and nothing else;
//   - `muster job list` against a real local master it starts (SQLite store in a temp dir, one
//     job created so that the list is not empty): start-up, one request, a table;
// each RUNS times, interleaved so that a neighbour's burst of work slows all of them alike, after
// WARMUP runs of each. Figures are medians of wall time; the ratio is the CLI's median over node's.
// On Linux it also reports the mean CPU time of each (user + system, from the children's times in
// /proc/self/stat, which count 10 ms ticks: hence means over all runs rather than medians).
//
// For comparison it runs the same two commands from the separate modules tsc writes
// (dist/src/cli/main.js, what the tests spawn): a reference, not the product.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { MusterClient } from '../src/client/index.js';
import { printTable, repoRoot } from './report.js';
import { median, round } from './stats.js';

const RUNS = Number(process.env['MUSTER_BENCH_CLI_RUNS'] ?? 21);
const WARMUP = 2;
const START_TIMEOUT_MS = 30_000;

interface Command {
  name: string;
  args: string[];
}

interface Figures {
  name: string;
  wallMs: number[];
  /** CPU (user + system) of all runs together, in ms; undefined off Linux. */
  cpuMs: number | undefined;
}

/** childCpuMs reads the CPU time of this process's waited-for children so far, or undefined off Linux. */
function childCpuMs(): number | undefined {
  try {
    // Fields after the command name (which may hold spaces, hence the last ")"): cutime and cstime are 14th and 15th.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[13]) + Number(fields[14]);
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

/** runOnce runs one command to its end and returns its wall time; a failure is the benchmark's failure. */
function runOnce(cmd: Command, env: NodeJS.ProcessEnv): { ms: number; cpuMs: number | undefined } {
  const cpuBefore = childCpuMs();
  const t0 = performance.now();
  const r = spawnSync(process.execPath, cmd.args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - t0;
  const cpuAfter = childCpuMs();
  if (r.status !== 0) throw new Error(`${cmd.name} exited ${r.status ?? r.signal ?? '?'}: ${r.stderr}`);
  return { ms, cpuMs: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore };
}

/** measure runs the commands WARMUP times each, then RUNS times each, interleaved. */
function measure(commands: readonly Command[], env: NodeJS.ProcessEnv): Figures[] {
  for (let i = 0; i < WARMUP; i++) for (const c of commands) runOnce(c, env);
  const figures = commands.map((c): Figures => ({ name: c.name, wallMs: [], cpuMs: 0 }));
  for (let i = 0; i < RUNS; i++) {
    commands.forEach((c, k) => {
      const f = figures[k] as Figures;
      const run = runOnce(c, env);
      f.wallMs.push(run.ms);
      f.cpuMs = f.cpuMs === undefined || run.cpuMs === undefined ? undefined : f.cpuMs + run.cpuMs;
    });
  }
  return figures;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('listen(0) gave no port');
  return address.port;
}

/** startMaster runs `muster master` from the product's entry point and waits until it answers. */
async function startMaster(entry: string, dir: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [entry, 'master', '--port', String(port), '--store', `sqlite:${join(dir, 'master.db')}`, '--insecure-no-auth', '--dns-port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (output = (output + s).slice(-4000)));
  const client = new MusterClient({ masters: [url], timeoutMs: 1000 });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the master exited ${child.exitCode}: ${output}`);
    try {
      await client.cell();
      return { child, url };
    } catch {
      if (Date.now() > deadline) throw new Error(`the master did not answer within ${START_TIMEOUT_MS / 1000}s: ${output}`);
      await sleep(100);
    }
  }
}

export async function runCliBench(): Promise<Record<string, unknown>> {
  const root = repoRoot();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
  const bin = pkg.bin?.['muster'];
  if (bin === undefined) throw new Error('package.json has no bin.muster');
  const entry = join(root, bin);
  const modules = join(root, 'dist', 'src', 'cli', 'main.js');
  const dir = await mkdtemp(join(tmpdir(), 'muster-bench-cli-'));
  let master: ChildProcess | undefined;
  try {
    const started = await startMaster(entry, dir);
    master = started.child;
    const client = new MusterClient({ masters: [started.url] });
    await client.createJob(
      'job: bench/dev/cli\ninstances: 2\nresources: { cpus: 0.01, mem: 1MiB }\nprocesses: [{ name: main, cmd: sleep 3600 }]\n',
      { contentType: 'application/yaml' },
    );
    const env = { ...process.env, MUSTER_MASTER: started.url, NO_COLOR: '1' };
    const commands: Command[] = [
      { name: 'node -e 0', args: ['-e', '0'] },
      { name: 'muster --version', args: [entry, '--version'] },
      { name: 'muster job list', args: [entry, 'job', 'list'] },
      { name: 'modules: muster --version', args: [modules, '--version'] },
      { name: 'modules: muster job list', args: [modules, 'job', 'list'] },
    ];
    const figures = measure(commands, env);
    const nodeMs = median(figures[0]?.wallMs ?? []);
    const rows = figures.map((f) => {
      const p50 = median(f.wallMs);
      return [f.name, p50, Math.min(...f.wallMs), Math.max(...f.wallMs), f.cpuMs === undefined ? undefined : f.cpuMs / RUNS, p50 / nodeMs];
    });
    printTable(`${RUNS} runs each, interleaved; entry point ${bin} (package.json bin.muster)`, ['command', 'p50 ms', 'min ms', 'max ms', 'cpu ms (mean)', '× node'], rows);
    const byName = (name: string): Figures | undefined => figures.find((f) => f.name === name);
    const summary = (name: string): Record<string, number | undefined> => {
      const f = byName(name);
      if (f === undefined) return {};
      return {
        p50Ms: round(median(f.wallMs), 1),
        minMs: round(Math.min(...f.wallMs), 1),
        maxMs: round(Math.max(...f.wallMs), 1),
        cpuMeanMs: f.cpuMs === undefined ? undefined : round(f.cpuMs / RUNS, 1),
        ratioToNode: round(median(f.wallMs) / nodeMs, 2),
      };
    };
    const versionRatio = median(byName('muster --version')?.wallMs ?? []) / nodeMs;
    const listRatio = median(byName('muster job list')?.wallMs ?? []) / nodeMs;
    console.log(`\nmuster job list takes ${round(listRatio, 2)}× node's own start-up (goal: at most 2×); --version ${round(versionRatio, 2)}×`);
    return {
      entryPoint: bin,
      runs: RUNS,
      nodeStart: summary('node -e 0'),
      version: summary('muster --version'),
      jobList: summary('muster job list'),
      modulesVersion: summary('modules: muster --version'),
      modulesJobList: summary('modules: muster job list'),
      jobListRatio: round(listRatio, 2),
      versionRatio: round(versionRatio, 2),
    };
  } finally {
    if (master !== undefined && master.exitCode === null) {
      master.kill('SIGTERM');
      await Promise.race([new Promise((r) => master?.once('exit', r)), sleep(5000)]);
      if (master.exitCode === null) master.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  }
}
