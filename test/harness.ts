// The harness starts real muster processes (masters, agents, `muster dev`) on free ports in a temp
// dir, and tears all of them down when the test ends, with every task process they left behind.
// Each process logs to a file in the temp dir; when a test fails, the tail of every log is printed.
//
//   test('...', async (t) => {
//     const c = cell(t);
//     const master = await c.startMaster();
//     await c.startAgent(master);
//     const client = c.client();
//   });

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { MusterClient } from '../src/client/index.js';
import { trustingDispatcher } from '../src/tls/index.js';
import { removeCgroups } from './cgroups.js';
import type { Netns } from './netns.js';
import { hasProcfs, killQuietly, listProcesses, mentions, readProcess } from './proc.js';
import { waitFor } from './wait.js';

export { waitFor, settle } from './wait.js';

/** The repository root: this file runs as dist/test/harness.js. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The compiled muster command. */
export const MUSTER_MAIN = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

/** How long a daemon may take to answer /health after it is spawned. */
const START_TIMEOUT_MS = 30_000;

/** Children still running, killed if the test process exits without a teardown (a crash, Ctrl-C). */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) {
    if (child.pid !== undefined) {
      killQuietly(-child.pid);
      killQuietly(child.pid);
    }
  }
});

/** freePort finds a port nobody listens on now, by listening on port 0 and closing. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('listening on port 0 gave no port'));
        return;
      }
      server.close(() => resolvePort(address.port));
    });
  });
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** tailOf returns the last lines of a file, or a note when it cannot be read. */
export function tailOf(file: string, lines = 60): string {
  try {
    const all = readFileSync(file, 'utf8').split('\n');
    return all.slice(-lines - 1).join('\n');
  } catch (e) {
    return `(cannot read ${file}: ${(e as Error).message})`;
  }
}

/** TlsFiles are the PEM files of a daemon that serves TLS (see `muster cell init-tls`): its own certificate and key, and the cell's CA. */
export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

/** fetchTrusting is fetch that trusts the CA (PEM text) for https:// URLs, as the daemons of a TLS cell need. */
export async function fetchTrusting(url: string, init: RequestInit, ca: string | undefined): Promise<Response> {
  return fetch(url, ca === undefined || !url.startsWith('https:') ? init : { ...init, dispatcher: await trustingDispatcher(ca) });
}

/** MusterProcessOptions describe a daemon's command line, log and where the harness reaches it. */
export interface MusterProcessOptions {
  name: string;
  port: number;
  args: readonly string[];
  logFile: string;
  cwd: string;
  caFile?: string;
  /** The address the harness reaches the daemon at (its url, /health); default 127.0.0.1. */
  host?: string;
  /** A command the daemon runs under, e.g. nsenter into a network namespace; default none. */
  command?: readonly string[];
}

/**
 * MusterProcess is one muster daemon: its command line stays the same across restarts, so a
 * restart reuses the same port, store and work dir, as an operator's restart would.
 */
export class MusterProcess {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly args: readonly string[];
  /** What the daemon runs under (`nsenter --net=...` for an agent in a network namespace); empty for none. */
  readonly command: readonly string[];
  readonly logFile: string;
  /** The cell CA's file and PEM text, for a daemon that serves TLS (its url is then https://). */
  readonly caFile: string | undefined;
  readonly ca: string | undefined;
  private readonly cwd: string;
  private current: ChildProcess | undefined;
  private exited: Promise<ExitStatus> = Promise.resolve({ code: null, signal: null });

  constructor(options: MusterProcessOptions) {
    this.name = options.name;
    this.port = options.port;
    this.caFile = options.caFile;
    this.ca = options.caFile === undefined ? undefined : readFileSync(options.caFile, 'utf8');
    this.url = `${this.ca === undefined ? 'http' : 'https'}://${options.host ?? '127.0.0.1'}:${options.port}`;
    this.args = options.args;
    this.command = options.command ?? [];
    this.logFile = options.logFile;
    this.cwd = options.cwd;
  }

  /** The running child process (the last one started). */
  get child(): ChildProcess {
    assert.ok(this.current !== undefined, `${this.name} was never started`);
    return this.current;
  }

  get pid(): number {
    const pid = this.child.pid;
    assert.ok(pid !== undefined, `${this.name} has no pid`);
    return pid;
  }

  get running(): boolean {
    return this.current !== undefined && this.current.exitCode === null && this.current.signalCode === null;
  }

  /** start spawns the daemon and waits until GET /health answers. */
  async start(): Promise<void> {
    assert.ok(!this.running, `${this.name} is already running`);
    const fd = openSync(this.logFile, 'a');
    const under = this.command.length === 0 ? '' : `${this.command.join(' ')} `;
    writeSync(fd, `\n==== ${new Date().toISOString()} start: ${under}muster ${this.args.join(' ')}\n`);
    // A command to run under must exec the daemon (nsenter does), so that the pid is the daemon's.
    const [program = process.execPath, ...rest] = [...this.command, process.execPath, MUSTER_MAIN, ...this.args];
    // detached: the daemon leads its own process group, so teardown can kill the group, and a
    // Ctrl-C at the terminal reaches the test runner only; tests send signals themselves.
    const child = spawn(program, rest, {
      cwd: this.cwd,
      env: { ...process.env },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    closeSync(fd);
    this.current = child;
    live.add(child);
    this.exited = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        resolveExit({ code, signal });
      });
      child.once('error', (e) => {
        live.delete(child);
        writeLog(this.logFile, `spawn failed: ${e.message}`);
        resolveExit({ code: null, signal: null });
      });
    });
    await this.waitHealthy();
  }

  /** waitHealthy polls /health; it gives up at once, with the log, if the process exits. */
  async waitHealthy(): Promise<unknown> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    let last = '';
    for (;;) {
      if (!this.running) {
        const status = await this.exited;
        throw new Error(`${this.name} exited (code ${status.code}, signal ${status.signal}) before /health answered; log:\n${tailOf(this.logFile)}`);
      }
      try {
        const res = await fetchTrusting(`${this.url}/health`, { signal: AbortSignal.timeout(2000) }, this.ca);
        const body: unknown = await res.json();
        if (res.ok) return body;
        last = `status ${res.status}`;
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.name} did not answer ${this.url}/health within ${START_TIMEOUT_MS / 1000}s (${last}); log:\n${tailOf(this.logFile)}`);
      }
      await sleep(100);
    }
  }

  /** kill sends a signal to the daemon alone (not its tasks) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<ExitStatus> {
    if (!this.running) return this.exited;
    killQuietly(this.pid, signal);
    return this.waitExit({ timeoutMs: signal === 'SIGKILL' ? 10_000 : 30_000 });
  }

  /** waitExit resolves with the exit status; it throws if the process is still running at the timeout. */
  async waitExit(options: { timeoutMs?: number } = {}): Promise<ExitStatus> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const timeout = sleep(timeoutMs, 'timeout' as const, { ref: false });
    const result = await Promise.race([this.exited, timeout]);
    if (result === 'timeout') {
      throw new Error(`${this.name} (pid ${this.pid}) still runs ${timeoutMs / 1000}s after being asked to stop; log:\n${tailOf(this.logFile)}`);
    }
    return result;
  }

  /** restart kills the daemon with SIGKILL if it runs, then starts it again with the same flags and dirs. */
  async restart(): Promise<void> {
    await this.kill('SIGKILL');
    await this.start();
  }

  /** logs returns everything the daemon wrote so far. */
  logs(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }
}

/** tlsArgs are a daemon's TLS flags: its certificate and key, and the CA it trusts for the other side. */
function tlsArgs(tls: TlsFiles | undefined): string[] {
  return tls === undefined ? [] : ['--tls-cert', tls.cert, '--tls-key', tls.key, '--tls-ca', tls.ca];
}

function writeLog(file: string, line: string): void {
  try {
    const fd = openSync(file, 'a');
    writeSync(fd, `${line}\n`);
    closeSync(fd);
  } catch {
    // The log is a convenience; a test never fails for it.
  }
}

/**
 * masterUrlFor is the --master an agent is given: the master's own url, or, for an agent in a
 * network namespace, the master's port at the host's end of the veth pair, which only a master
 * listening beyond loopback (startMaster({ host: '0.0.0.0' })) answers at.
 */
function masterUrlFor(master: MusterProcess | string, netns: Netns | undefined): string {
  if (typeof master === 'string') return master;
  if (netns === undefined) return master.url;
  const at = master.args.indexOf('--host');
  const listens = at < 0 ? '127.0.0.1' : master.args[at + 1];
  assert.ok(
    listens === '0.0.0.0' || listens === netns.hostAddress,
    `${master.name} listens on ${listens}, which an agent in network namespace ${netns.name} cannot reach: start it with startMaster({ host: '0.0.0.0' })`,
  );
  return `${master.ca === undefined ? 'http' : 'https'}://${netns.hostAddress}:${master.port}`;
}

/** PortRange is the inclusive range of task ports an agent offers. */
export interface PortRange {
  begin: number;
  end: number;
}

/** AgentProcess is a `muster agent`: its work dir holds checkpoints and sandboxes. */
export class AgentProcess extends MusterProcess {
  readonly workDir: string;
  readonly ports: PortRange;
  readonly hostname: string;

  /** The network namespace the agent runs in, if any (see netns.ts). */
  readonly netns: Netns | undefined;

  constructor(options: MusterProcessOptions & { workDir: string; ports: PortRange; hostname: string; netns?: Netns }) {
    super(options);
    this.workDir = options.workDir;
    this.ports = options.ports;
    this.hostname = options.hostname;
    this.netns = options.netns;
  }

  /** agentId asks the agent's /health for the id the master gave it (undefined until subscribed). */
  async agentId(): Promise<string | undefined> {
    const res = await fetchTrusting(`${this.url}/health`, { signal: AbortSignal.timeout(2000) }, this.ca);
    const body = (await res.json()) as { agentId?: unknown };
    return typeof body.agentId === 'string' && body.agentId !== '' ? body.agentId : undefined;
  }

  /** checkpointPids returns every pid recorded in the agent's task checkpoints (<workDir>/tasks/*.json). */
  checkpointPids(): number[] {
    return checkpointPids(this.workDir);
  }
}

/** checkpointPids collects the numbers under any key naming a pid in <workDir>/tasks/<taskId>/task.json. */
export function checkpointPids(workDir: string): number[] {
  const dir = join(workDir, 'tasks');
  const pids = new Set<number>();
  const visit = (value: unknown, key: string): void => {
    if (typeof value === 'number' && /pid/i.test(key) && Number.isInteger(value) && value > 1) pids.add(value);
    else if (Array.isArray(value)) for (const v of value) visit(v, key);
    else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) visit(v, k);
    }
  };
  let files: string[];
  try {
    files = readdirSync(dir).map((d) => join(d, 'task.json'));
  } catch {
    return [];
  }
  for (const f of files) {
    try {
      visit(JSON.parse(readFileSync(join(dir, f), 'utf8')), '');
    } catch {
      // A checkpoint being written; the /proc scan of teardown catches its processes anyway.
    }
  }
  return [...pids];
}

export interface MasterOptions {
  /** An agent silent this long is unreachable and its instances move (default 4). */
  agentTimeoutSecs?: number;
  heartbeatSecs?: number;
  /** A fixed port; by default a free one. */
  port?: number;
  /**
   * The --host the master listens on (default 127.0.0.1). An agent in a network namespace reaches
   * the master only through its veth pair: start the master with '0.0.0.0' for one. The harness and
   * clients still reach it at 127.0.0.1.
   */
  host?: string;
  /** The --store URL (an etcd:// one for HA masters); by default a SQLite file of its own in the cell's dir. */
  store?: string;
  /** More flags for `muster master`, after the harness's own. */
  args?: readonly string[];
  /** A fixed DNS port; by default a free one (the master logs which). */
  dnsPort?: number;
  /** Authentication on (without --insecure-no-auth): the master prints its bootstrap token at first start. */
  auth?: boolean;
  /** Serve HTTPS (--tls-cert, --tls-key) and trust ca for agents (--tls-ca); the master's url is then https://. */
  tls?: TlsFiles;
}

export interface AgentOptions {
  /** The --resources flag; the agent's own port range is appended unless it names ports. */
  resources?: string;
  attributes?: Record<string, string>;
  /**
   * A loopback address of its own to listen on and advertise (127.0.0.2, 127.0.0.3, ...): agents
   * then have addresses as distinct as on separate machines (for DNS answers), without a namespace.
   */
  address?: string;
  /** Defaults to agent-N, so that tests and `cell status` can tell agents apart. */
  hostname?: string;
  /** More flags for `muster agent`, after the harness's own. */
  args?: readonly string[];
  /** Serve HTTPS on the agent's port (--tls-cert, --tls-key) and trust ca for the master (--tls-ca). */
  tls?: TlsFiles;
  /**
   * Run the agent inside this network namespace (Netns.create(t)): it listens on and advertises the
   * namespace's inside address, reaches the master at the host's end of the veth pair (so the master
   * must listen there: startMaster({ host: '0.0.0.0' })), and the harness polls it there.
   */
  netns?: Netns;
}

export interface DevOptions {
  port?: number;
  agentPort?: number;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
}

/** ok asserts a command succeeded and returns its stdout. */
export function ok(result: CliResult, what: string): string {
  assert.equal(result.code, 0, `${what} exits 0; stderr:\n${result.stderr}\nstdout:\n${result.stdout}`);
  return result.stdout;
}

/** json parses the stdout of a --json command. */
export function json<T>(result: CliResult, what: string): T {
  const stdout = ok(result, what);
  try {
    return JSON.parse(stdout) as T;
  } catch (e) {
    assert.fail(`${what} prints JSON, but: ${(e as Error).message}\n${stdout}`);
  }
}

/**
 * cli runs `muster ARGS` to completion and returns its exit code and output. MUSTER_MASTER comes from
 * options.env (a cell's cli() sets it to its master); a hang is killed at the timeout and reported.
 */
export async function cli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const child = spawn(process.execPath, [MUSTER_MAIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const status = await new Promise<ExitStatus>((resolveExit, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolveExit({ code, signal }));
  }).finally(() => {
    clearTimeout(timer);
    live.delete(child);
  });
  if (timedOut) {
    throw new Error(`muster ${args.join(' ')} did not finish within ${timeoutMs / 1000}s; stdout:\n${stdout}\nstderr:\n${stderr}`);
  }
  return { ...status, stdout, stderr };
}

/**
 * testTmpDir is where cells live: $MUSTER_TEST_TMPDIR, or the system's temp dir (/tmp), the place a
 * person most often tries things. Each task gets a private /tmp there, and must still find its
 * sandbox at its own path below it: every isolated test checks that too.
 */
export function testTmpDir(): string {
  const chosen = process.env['MUSTER_TEST_TMPDIR'];
  if (chosen !== undefined && chosen !== '') return chosen;
  return tmpdir();
}

/** How many blocks of 1000 task ports there are, from 20000 up: all below the kernel's ephemeral range. */
const PORT_BLOCKS = 12;

/**
 * claimPortBlock takes a block of 1000 task ports no other live test process holds (test files run
 * two at a time), by creating <tmp>/muster-test-ports/<block> holding its pid. A claim whose pid is
 * gone is stale and taken over. Returns the block, or a random one when all are held (their tasks
 * then may meet a port another test holds, and are dropped and placed again, as in production).
 */
function claimPortBlock(): { block: number; release: () => void } {
  const dir = join(testTmpDir(), 'muster-test-ports');
  mkdirSync(dir, { recursive: true });
  const start = Math.floor(Math.random() * PORT_BLOCKS);
  for (let i = 0; i < PORT_BLOCKS; i++) {
    const block = (start + i) % PORT_BLOCKS;
    const file = join(dir, String(block));
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(file, String(process.pid), { flag: 'wx' });
        return { block, release: () => rmSync(file, { force: true }) };
      } catch {
        let holder = 0;
        try {
          holder = Number(readFileSync(file, 'utf8').trim() || '0');
        } catch {
          continue; // released meanwhile: try again
        }
        if (holder > 0 && holder !== process.pid && isAlive(holder)) break;
        if (holder === process.pid) break; // another cell of this process holds it
        rmSync(file, { force: true }); // stale: its process is gone
      }
    }
  }
  return { block: start, release: () => undefined };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Cell is one test's world: a temp dir, the daemons started in it, and their task processes.
 * Everything is torn down when the test ends, whether it passed or not.
 */
export class Cell {
  /** The temp dir holding stores, work dirs and logs (its real path, as processes see it). */
  readonly dir: string;
  readonly processes: MusterProcess[] = [];
  private readonly portBase: number;
  private readonly releasePorts: () => void;
  private agentCount = 0;
  private masterCount = 0;
  private tornDown = false;

  constructor() {
    this.dir = realpathSync(mkdtempSync(join(testTmpDir(), 'muster-test-')));
    // mkdtemp makes the dir private (0700); tasks run as their role's user (nobody) when the tests
    // run as root, and must be able to reach their sandboxes below it.
    chmodSync(this.dir, 0o755);
    // Each cell takes a block of 1000 task ports and each agent 100 of them, so that the tasks of
    // two agents never clash, in this test process or another one running beside it.
    const claim = claimPortBlock();
    this.portBase = 20_000 + claim.block * 1000;
    this.releasePorts = claim.release;
  }

  /** The agents' --cgroup-root: one per cell, removed by teardown. */
  get cgroupRoot(): string {
    return `muster-test/${this.dir.split('/').pop() ?? 'cell'}`;
  }

  get masters(): MusterProcess[] {
    return this.processes.filter((p) => p.name.startsWith('master') || p.name.startsWith('dev'));
  }

  get agents(): AgentProcess[] {
    return this.processes.filter((p): p is AgentProcess => p instanceof AgentProcess);
  }

  /** startMaster runs `muster master` on a free port with a SQLite store in the cell's dir. */
  async startMaster(options: MasterOptions = {}): Promise<MusterProcess> {
    const n = this.masterCount++;
    const name = n === 0 ? 'master' : `master-${n}`;
    const port = options.port ?? (await freePort());
    const args = [
      'master',
      '--port', String(port),
      '--host', options.host ?? '127.0.0.1',
      '--store', options.store ?? `sqlite:${join(this.dir, `${name}.db`)}`,
      '--agent-timeout', String(options.agentTimeoutSecs ?? 4),
      '--heartbeat', String(options.heartbeatSecs ?? 1),
      // A DNS server on a free port: test masters run side by side, and 8053 is for a person's cell.
      '--dns-port', String(options.dnsPort ?? 0),
      // Open unless a test is about access control: those start it with auth and read its bootstrap token.
      ...(options.auth === true ? [] : ['--insecure-no-auth']),
      ...tlsArgs(options.tls),
      ...(options.args ?? []),
    ];
    const master = new MusterProcess({ name, port, args, logFile: join(this.dir, `${name}.log`), cwd: this.dir, ...(options.tls === undefined ? {} : { caFile: options.tls.ca }) });
    this.processes.push(master);
    await master.start();
    return master;
  }

  /** startAgent runs `muster agent` with its own work dir and port range, and waits for /health. */
  async startAgent(master: MusterProcess | string, options: AgentOptions = {}): Promise<AgentProcess> {
    const n = this.agentCount++;
    const name = `agent-${n + 1}`;
    const hostname = options.hostname ?? name;
    const port = await freePort();
    const workDir = join(this.dir, name);
    const ports = { begin: this.portBase + n * 100, end: this.portBase + n * 100 + 99 };
    let resources = options.resources ?? 'cpus:2;mem:1024;disk:1024';
    if (!/(^|;)\s*ports:/.test(resources)) resources += `;ports:[${ports.begin}-${ports.end}]`;
    const netns = options.netns;
    const host = netns?.insideAddress ?? options.address ?? '127.0.0.1';
    const args = [
      'agent',
      '--master', masterUrlFor(master, netns),
      '--port', String(port),
      '--host', host,
      ...(netns === undefined ? [] : ['--advertise-address', host]),
      '--work-dir', workDir,
      '--hostname', hostname,
      '--resources', resources,
      // Each agent keeps its task cgroups apart from other agents' and from a real agent's.
      '--cgroup-root', `${this.cgroupRoot}/${name}`,
      // Measure often, so that limits and usage show within a test's patience.
      '--usage-interval', '1',
      '--disk-watch-interval', '1',
      ...tlsArgs(options.tls),
    ];
    args.push(...(options.args ?? []));
    const attributes = Object.entries(options.attributes ?? {});
    if (attributes.length > 0) args.push('--attributes', attributes.map(([k, v]) => `${k}:${v}`).join(';'));
    const agent = new AgentProcess({
      name, port, args, logFile: join(this.dir, `${name}.log`), cwd: this.dir, workDir, ports, hostname,
      ...(options.tls === undefined ? {} : { caFile: options.tls.ca }),
      ...(netns === undefined ? (options.address === undefined ? {} : { host }) : { netns, host, command: netns.command }),
    });
    this.processes.push(agent);
    await agent.start();
    return agent;
  }

  /** startDev runs `muster dev` (a master and a local agent in one process) with its dir in the cell. */
  async startDev(options: DevOptions & { dir?: string } = {}): Promise<MusterProcess> {
    const port = options.port ?? (await freePort());
    const agentPort = options.agentPort ?? (await freePort());
    const dir = options.dir ?? join(this.dir, 'dev');
    const args = ['dev', '--port', String(port), '--agent-port', String(agentPort), '--dir', dir, '--cgroup-root', `${this.cgroupRoot}/dev`, '--dns-port', '0'];
    const dev = new MusterProcess({ name: 'dev', port, args, logFile: join(this.dir, 'dev.log'), cwd: this.dir });
    this.processes.push(dev);
    await dev.start();
    return dev;
  }

  /** client talks to the given master, or to the first one started. */
  client(master?: MusterProcess): MusterClient {
    const m = master ?? this.masters[0];
    assert.ok(m !== undefined, 'start a master before asking for a client');
    return new MusterClient({ masters: [m.url], ...(m.ca === undefined ? {} : { ca: m.ca }) });
  }

  /** cli runs `muster ARGS` against this cell's first master (MUSTER_MASTER, and MUSTER_CA for a TLS one), from the cell's dir. */
  async cli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
    const master = this.masters[0];
    const env: Record<string, string> = master === undefined ? {} : { MUSTER_MASTER: master.url, ...(master.caFile === undefined ? {} : { MUSTER_CA: master.caFile }) };
    return cli(args, { cwd: this.dir, ...options, env: { ...env, ...options.env } });
  }

  /** startCell starts a master and n agents and waits until every agent is connected. */
  async startCell(agents: number, options: MasterOptions = {}): Promise<{ master: MusterProcess; agents: AgentProcess[]; client: MusterClient }> {
    const master = await this.startMaster(options);
    const started: AgentProcess[] = [];
    for (let i = 0; i < agents; i++) started.push(await this.startAgent(master));
    await this.waitForAgents(agents, master);
    return { master, agents: started, client: this.client(master) };
  }

  /** waitForAgents waits until the master lists n agents that are CONNECTED. */
  async waitForAgents(n: number, master?: MusterProcess): Promise<void> {
    const client = this.client(master);
    await waitFor(() => client.cell(), {
      what: `${n} agents CONNECTED to the master`,
      until: (cell) => cell.agents.filter((a) => a.state === 'CONNECTED').length >= n,
    });
  }

  /** logTails prints the tail of every daemon's log: what a person wants to see when a test fails. */
  logTails(lines = 60): string {
    return this.processes
      .map((p) => `----- ${p.name}: last ${lines} lines of ${p.logFile} -----\n${tailOf(p.logFile, lines)}`)
      .join('\n');
  }

  /**
   * teardown kills every daemon (and its process group) with SIGKILL, then every task process left
   * behind: the pids in the agents' checkpoints and any process whose environment, command line or
   * working directory points into the cell's dir. Then it removes the dir.
   */
  async teardown(): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    for (const p of this.processes) {
      if (!p.running) continue;
      killQuietly(-p.pid);
      killQuietly(p.pid);
    }
    await Promise.all(this.processes.map((p) => p.waitExit({ timeoutMs: 10_000 }).catch(() => undefined)));
    const recorded = this.agents.flatMap((a) => a.checkpointPids());
    if (hasProcfs()) {
      // A recorded pid is killed only if it is still one of ours: pids are reused.
      for (const pid of recorded) {
        const info = readProcess(pid);
        if (info !== undefined && mentions(info, this.dir)) {
          killQuietly(-pid);
          killQuietly(pid);
        }
      }
      // Supervisors may fork while we kill; a few rounds catch the stragglers.
      for (let round = 0; round < 5; round++) {
        const ours = listProcesses().filter((p) => mentions(p, this.dir));
        if (ours.length === 0) break;
        for (const p of ours) killQuietly(p.pid);
        await sleep(100);
      }
    } else {
      for (const pid of recorded) {
        killQuietly(-pid);
        killQuietly(pid);
      }
    }
    await removeCgroups(this.cgroupRoot);
    this.releasePorts();
    if (process.env['MUSTER_TEST_KEEP'] === '1') {
      console.error(`MUSTER_TEST_KEEP=1: kept ${this.dir}`);
      return;
    }
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

/**
 * cell creates a Cell for a test and registers its teardown; if the test failed, the tail of every
 * daemon's log is printed first.
 */
export function cell(t: TestContext): Cell {
  const c = new Cell();
  t.after(async () => {
    // TestContext.passed exists from Node 20.12 on; where it is missing, print the logs anyway.
    const passed = (t as unknown as { passed?: boolean }).passed;
    if (passed !== true && c.processes.length > 0) {
      console.error(`\n===== logs of "${t.name}" (cell ${c.dir}) =====\n${c.logTails()}\n`);
    }
    await c.teardown();
  });
  return c;
}

