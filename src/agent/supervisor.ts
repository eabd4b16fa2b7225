// The TypeScript face of muster-supervisor (src/agent/supervisor/supervisor.c), the small C program
// every task runs under. It outlives the agent: the agent starts it, reads its ready line, and from
// then on knows the task only through its pid, its signals (SIGTERM: stop; SIGUSR1: kill everything)
// and the exit file it writes into the sandbox, DIR/.muster/exit.json. A new agent that finds the
// supervisor alive reattaches to it; one that finds the exit file learns how the task ended.
//
// startSupervisor spawns each supervisor from the agent itself. SupervisorLauncher starts them
// through one long-lived `muster-supervisor launcher` instead: forking the agent costs its event
// loop 10-25 ms a task (its page tables are copied), forking the small launcher almost nothing.

import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { chmodSync, closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { MusterError } from '../core/index.js';
import { processStartTime } from './proc.js';

/** META_DIR is the sandbox's directory for the supervisor: root-owned, so the task cannot forge it. */
export const META_DIR = '.muster';

/** EXIT_FILE is what the supervisor writes into META_DIR when the task has ended. */
const EXIT_FILE = 'exit.json';

/** MAX_EXIT_FILE_BYTES bounds what we read back: the supervisor never writes more than this. */
const MAX_EXIT_FILE_BYTES = 64 * 1024;

/** READY_FD is the descriptor the supervisor writes its one ready (or error) line to. */
const READY_FD = 3;

// Bounds on what we hand the supervisor; it enforces the same ones.
const MAX_PROCESSES = 64;
const MAX_CGROUPS = 32;
const MAX_GROUPS = 256;
const MAX_CMD_BYTES = 64 * 1024;
const MAX_LOG_FILES = 100;
const MAX_GRACE_SECS = 7 * 24 * 3600;
const MAX_ID = 0xfffffffe;
const PROCESS_NAME = /^[a-z0-9_-]{1,63}$/;

/** UnixUser is who a task's processes run as: the role's uid, its gid and supplementary groups. */
export interface UnixUser {
  uid: number;
  gid: number;
  groups: number[];
}

/** SupervisorSpec is one task as the supervisor runs it. */
export interface SupervisorSpec {
  /** Absolute path of the sandbox: the processes' working directory, where stdout and stderr land. */
  sandbox: string;
  processes: { name: string; cmd: string }[];
  /** cgroup directories (v1: one per controller; v2: one) the task's processes are put in. */
  cgroups?: string[];
  user?: UnixUser;
  pidNamespace?: boolean;
  mountNamespace?: boolean;
  /** Seconds between SIGTERM and SIGKILL when one process fails and the others are stopped. */
  graceSecs: number;
  /** Rotate stdout/stderr before they pass this size; 0 or absent: never. */
  logMaxBytes?: number;
  /** Rotated files kept per stream (stdout.1 ... stdout.K); default 5. */
  logMaxFiles?: number;
}

/** ProcessEnd is how one process of a task ended: an exit code or a signal number. */
export interface ProcessEnd {
  name: string;
  /** Host-visible pid (the namespace's pid only when the host one could not be learnt). */
  pid: number;
  exitCode?: number;
  signal?: number;
}

/** SupervisorExit is the content of DIR/.muster/exit.json. */
export interface SupervisorExit {
  initPid: number;
  /** ms since the epoch. */
  startedAt: number;
  endedAt: number;
  /** In the order the processes ended. */
  exits: ProcessEnd[];
  /** Present when the supervisor was asked to stop: the strongest request. */
  killed?: 'SIGTERM' | 'SIGKILL';
  /** Present when setup failed (a cgroup, a namespace, the user, exec); exits may then be empty. */
  error?: string;
}

/** StartedSupervisor is a running task: the supervisor's process and the pid of the task's init. */
export interface StartedSupervisor {
  child: ChildProcess;
  pid: number;
  initPid: number;
}

/** SupervisorError says why a task could not be started; its message is the supervisor's own line. */
export class SupervisorError extends Error {
  override readonly name = 'SupervisorError';
}

/**
 * supervisorBinary is the path of muster-supervisor: $MUSTER_SUPERVISOR, or dist/native/ of the
 * package this file belongs to (found from here, so it works from src/ under tsx and from dist/src/).
 */
export function supervisorBinary(): string {
  const fromEnv = process.env['MUSTER_SUPERVISOR'];
  const binary = fromEnv !== undefined && fromEnv !== '' ? fromEnv : path.join(packageRoot(), 'dist', 'native', 'muster-supervisor');
  if (!existsSync(binary)) throw new MusterError('INTERNAL', 'muster-supervisor is not built: run npm run build', { details: { path: binary } });
  return binary;
}

function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new MusterError('INTERNAL', 'cannot find the muster package (no package.json above the agent)');
    dir = parent;
  }
}

/**
 * createMetaDir makes DIR/.muster (0755) and returns its path. An existing one (a relaunch) is kept
 * only if it is a real directory owned by us: the sandbox may be writable by the task, and the
 * supervisor, as root, writes in there.
 */
export function createMetaDir(sandbox: string): string {
  const dir = path.join(sandbox, META_DIR);
  try {
    mkdirSync(dir, { mode: 0o755 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = lstatSync(dir);
  const uid = process.geteuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) {
    throw new MusterError('INTERNAL', `${dir} is not a directory owned by uid ${uid ?? '?'}: refusing to use it`);
  }
  // Whatever the umask, the task's user may read it (supervisor.log) but never write it.
  if ((st.mode & 0o7777) !== 0o755) chmodSync(dir, 0o755);
  return dir;
}

/** supervisorArgs is the command line after the binary for `run`, with the ready line on fd 3. */
export function supervisorArgs(spec: SupervisorSpec): string[] {
  if (!path.isAbsolute(spec.sandbox) || spec.sandbox.includes('\0')) invalid(`the sandbox must be an absolute path, not "${spec.sandbox}"`);
  if (spec.processes.length === 0 || spec.processes.length > MAX_PROCESSES) invalid(`a task has 1 to ${MAX_PROCESSES} processes`);
  if (!Number.isFinite(spec.graceSecs) || spec.graceSecs < 0 || spec.graceSecs > MAX_GRACE_SECS) {
    invalid(`graceSecs must be 0 to ${MAX_GRACE_SECS}`);
  }
  const args = ['run', '--sandbox', spec.sandbox];
  args.push(...cgroupArgs(spec.cgroups ?? []));
  if (spec.user !== undefined) args.push('--user', userArg(spec.user));
  if (spec.pidNamespace === true) args.push('--pid-ns');
  if (spec.mountNamespace === true) args.push('--mount-ns');
  // Milliseconds are all the supervisor keeps; three decimals also avoid exponent notation.
  args.push('--grace-secs', String(Math.round(spec.graceSecs * 1000) / 1000));
  if (spec.logMaxBytes !== undefined) {
    if (!Number.isSafeInteger(spec.logMaxBytes) || spec.logMaxBytes < 0 || spec.logMaxBytes > 2 ** 50) invalid('logMaxBytes must be an integer from 0 to 2^50');
    args.push('--log-max-bytes', String(spec.logMaxBytes));
  }
  if (spec.logMaxFiles !== undefined) {
    if (!Number.isInteger(spec.logMaxFiles) || spec.logMaxFiles < 0 || spec.logMaxFiles > MAX_LOG_FILES) invalid(`logMaxFiles must be an integer from 0 to ${MAX_LOG_FILES}`);
    args.push('--log-max-files', String(spec.logMaxFiles));
  }
  args.push('--ready-fd', String(READY_FD));
  const names = new Set<string>();
  for (const p of spec.processes) {
    if (!PROCESS_NAME.test(p.name)) invalid(`process name "${p.name.slice(0, 64)}" must be 1-63 of a-z 0-9 _ -`);
    if (names.has(p.name)) invalid(`process name "${p.name}" is given twice`);
    names.add(p.name);
    if (p.cmd === '' || p.cmd.includes('\0') || Buffer.byteLength(p.cmd) > MAX_CMD_BYTES) invalid(`the command of process ${p.name} must be 1 to ${MAX_CMD_BYTES} bytes without NUL`);
    args.push('--proc', p.name, p.cmd);
  }
  return args;
}

/** EnterOptions says how to run a command inside a running task (`muster task exec`). */
export interface EnterOptions {
  /** Host pid of the task's init (StartedSupervisor.initPid). */
  target: number;
  pidNamespace: boolean;
  mountNamespace: boolean;
  cgroups: string[];
  user?: UnixUser;
  cwd: string;
  argv: string[];
}

/**
 * enterArgs is the command line after the binary for `enter`. The command's exit code is the
 * supervisor's: 128+n when killed by signal n, 127 when it could not be run, 125 when setup failed.
 */
export function enterArgs(options: EnterOptions): string[] {
  if (!Number.isInteger(options.target) || options.target <= 1) invalid(`target must be a pid above 1, not ${options.target}`);
  if (!path.isAbsolute(options.cwd) || options.cwd.includes('\0')) invalid(`cwd must be an absolute path, not "${options.cwd}"`);
  if (options.argv.length === 0 || options.argv.some((a) => a.includes('\0'))) invalid('argv must hold a command, without NUL');
  const args = ['enter', '--target', String(options.target)];
  if (options.pidNamespace) args.push('--pid-ns');
  if (options.mountNamespace) args.push('--mount-ns');
  args.push(...cgroupArgs(options.cgroups));
  if (options.user !== undefined) args.push('--user', userArg(options.user));
  args.push('--cwd', options.cwd, '--', ...options.argv);
  return args;
}

function cgroupArgs(cgroups: string[]): string[] {
  if (cgroups.length > MAX_CGROUPS) invalid(`at most ${MAX_CGROUPS} cgroups`);
  return cgroups.flatMap((c) => {
    if (!path.isAbsolute(c) || c.includes('\0')) invalid(`a cgroup must be an absolute path, not "${c}"`);
    return ['--cgroup', c];
  });
}

function userArg(user: UnixUser): string {
  const isId = (n: number) => Number.isInteger(n) && n >= 0 && n <= MAX_ID;
  if (!isId(user.uid) || !isId(user.gid)) invalid(`uid and gid must be integers from 0 to ${MAX_ID}`);
  if (user.groups.length > MAX_GROUPS || !user.groups.every(isId)) invalid(`at most ${MAX_GROUPS} supplementary groups, each an id`);
  const base = `${user.uid}:${user.gid}`;
  return user.groups.length === 0 ? base : `${base}:${user.groups.join(',')}`;
}

function invalid(message: string): never {
  throw new MusterError('INVALID_ARGUMENT', message);
}

/**
 * startSupervisor starts the task: the supervisor runs detached (its own session, so it outlives the
 * agent), with its diagnostics appended to DIR/.muster/supervisor.log. It resolves once every process
 * has started, and rejects with SupervisorError when setup failed, the supervisor ended first, or no
 * ready line came in time (the supervisor is then told to kill the task). The caller waits on child.
 */
export async function startSupervisor(
  spec: SupervisorSpec,
  env: Record<string, string>,
  options: { timeoutMs?: number } = {},
): Promise<StartedSupervisor> {
  const binary = supervisorBinary();
  const args = supervisorArgs(spec);
  const meta = createMetaDir(spec.sandbox);
  const log = openSync(path.join(meta, SUPERVISOR_LOG), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
  let child: ChildProcess;
  try {
    child = spawn(binary, args, { detached: true, env, stdio: ['ignore', 'ignore', log, 'pipe'] });
  } finally {
    closeSync(log);
  }
  const ready = child.stdio[READY_FD] as Readable | null | undefined;
  if (ready === null || ready === undefined) {
    child.kill('SIGUSR1');
    throw new SupervisorError('the supervisor has no ready pipe');
  }
  const wait = new ReadyWait(options.timeoutMs ?? DEFAULT_START_TIMEOUT_MS, () => child.kill('SIGUSR1'));
  child.once('error', (err) => wait.fail(`cannot start ${binary}: ${err.message}`));
  child.once('exit', (code, signal) => wait.exited(signal !== null ? `was killed by ${signal}` : `exited with status ${code ?? '?'}`));
  ready.setEncoding('utf8');
  let line = '';
  ready.on('data', (chunk: string) => {
    line += chunk;
    const nl = line.indexOf('\n');
    if (nl >= 0) wait.line(line.slice(0, nl));
    else if (line.length > MAX_READY_LINE) wait.fail('the supervisor wrote an overlong ready line');
  });
  ready.on('error', () => {
    // A broken pipe ends like a closed one.
  });
  ready.on('close', () => wait.closed());
  const initPid = await wait.done.finally(() => ready.destroy());
  if (child.pid === undefined) throw new SupervisorError('the supervisor has no pid');
  return { child, pid: child.pid, initPid };
}

/** SUPERVISOR_LOG is where, in META_DIR, the supervisor's diagnostics (its stderr) go. */
const SUPERVISOR_LOG = 'supervisor.log';
const DEFAULT_START_TIMEOUT_MS = 30_000;
const MAX_READY_LINE = 4096;

/**
 * ReadyWait turns what is heard of a starting supervisor (its ready line, the line's pipe closing,
 * its exit) into the pid of its init, or a SupervisorError. An exit can be heard before the last
 * line on the ready pipe is read: without a line, it decides once both are known. Past timeoutMs
 * it gives up and asks kill() to end the supervisor.
 */
class ReadyWait {
  readonly done: Promise<number>;
  private resolve: (initPid: number) => void = () => undefined;
  private reject: (err: SupervisorError) => void = () => undefined;
  private isSettled = false;
  private exitedHow: string | undefined;
  private readyClosed = false;
  private readonly timer: NodeJS.Timeout;

  constructor(timeoutMs: number, kill: () => void) {
    this.done = new Promise<number>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.timer = setTimeout(() => {
      if (this.isSettled) return;
      try {
        kill();
      } catch {
        // Already gone: its exit tells the rest.
      }
      this.fail(`the supervisor did not report the task started within ${timeoutMs} ms`);
    }, timeoutMs);
  }

  /** settled: the outcome is decided. */
  get settled(): boolean {
    return this.isSettled;
  }

  line(text: string): void {
    const ok = /^ready (\d+)$/.exec(text);
    if (ok !== null) this.settle(Number(ok[1]));
    else if (text.startsWith('error ')) this.fail(text.slice('error '.length));
    else this.fail(`the supervisor wrote an unexpected ready line: ${text.slice(0, 200)}`);
  }

  closed(): void {
    this.readyClosed = true;
    this.endedWithoutLine();
  }

  exited(how: string): void {
    this.exitedHow = how;
    this.endedWithoutLine();
  }

  fail(message: string): void {
    this.settle(new SupervisorError(message));
  }

  private endedWithoutLine(): void {
    if (this.exitedHow !== undefined && this.readyClosed) this.fail(`the supervisor ${this.exitedHow} before the task started`);
  }

  private settle(outcome: number | SupervisorError): void {
    if (this.isSettled) return;
    this.isSettled = true;
    clearTimeout(this.timer);
    if (outcome instanceof SupervisorError) this.reject(outcome);
    else this.resolve(outcome);
  }
}

/**
 * SupervisorProcess is a running supervisor as the agent watches it: how it ended, once it has, and
 * its hold on the agent's event loop. A ChildProcess is one; so is what SupervisorLauncher starts.
 */
export interface SupervisorProcess {
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  /** unref lets the agent's process exit while the supervisor runs on. */
  unref(): void;
}

/** LaunchedSupervisor is a running task started by a SupervisorLauncher. */
export interface LaunchedSupervisor {
  child: SupervisorProcess;
  pid: number;
  initPid: number;
}

/**
 * SupervisorLauncher starts supervisors through one `muster-supervisor launcher` process (see
 * supervisor.c), started on first use and again if it ends. The launcher is their parent: it
 * relays their ready lines and exits, and reaps each only after this side has heard of its exit,
 * so the pid the agent signals stays the supervisor's until the agent knows it ended.
 *
 * Where the launcher cannot run (a kernel without pidfds, Linux < 5.4) every start falls back to
 * startSupervisor. If the launcher dies, starts under way fail, and the supervisors it had started
 * run on: each is then watched by polling its pid and start time, as a reattached one is.
 */
export class SupervisorLauncher {
  private readonly binary: string;
  private process: ChildProcess | undefined;
  /** Whether the running launcher said hello; false until then, and for good after it said it cannot run. */
  private hello = false;
  private unsupported = false;
  private output = '';
  private nextId = 1;
  private readonly starts = new Map<string, LauncherStart>();
  /** Starts under way and supervisors whose exit keeps the event loop alive (not unref'd). */
  private holds = 0;
  /** Requests written before the launcher said hello, kept to be started another way if it cannot run. */
  private early: { start: LauncherStart; retry: () => void }[] = [];
  /** Starts sent and not over yet, and those waiting for one of them to end. */
  private starting = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly maxStarting: number;

  constructor(binary = supervisorBinary(), options: { maxStarting?: number } = {}) {
    this.binary = binary;
    this.maxStarting = options.maxStarting ?? Math.max(4, 2 * os.availableParallelism());
  }

  /**
   * start starts the task as startSupervisor does (same spec, same outcomes), through the launcher.
   * Throws INVALID_ARGUMENT for a spec or environment the supervisor would refuse. At most
   * maxStarting supervisors are starting at once (the rest wait their turn, their timeout not yet
   * running): a start is mostly CPU, and two thousand at once on a few cores would each take
   * longer than a start may.
   */
  async start(spec: SupervisorSpec, env: Record<string, string>, options: { timeoutMs?: number } = {}): Promise<LaunchedSupervisor> {
    if (this.unsupported) return startSupervisor(spec, env, options);
    const args = supervisorArgs(spec);
    const environment = Object.entries(env).map(([k, v]) => {
      if (k.includes('\0') || k.includes('=') || v.includes('\0')) invalid(`the environment variable ${k.slice(0, 64)} holds NUL or =`);
      return `${k}=${v}`;
    });
    const meta = createMetaDir(spec.sandbox);
    const id = String(this.nextId++);
    const start = new LauncherStart(id, this);
    this.hold();
    const request = frame(['run', id, path.join(meta, SUPERVISOR_LOG), this.binary, String(args.length + 1), this.binary, ...args, String(environment.length), ...environment]);
    const timeoutMs = options.timeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const send = (): void => {
      if (this.unsupported) {
        start.redirect(startSupervisor(spec, env, options));
        return;
      }
      this.starts.set(id, start);
      const launcher = this.launcher();
      if (!this.hello) this.early.push({ start, retry: () => start.redirect(startSupervisor(spec, env, options)) });
      launcher.stdin?.write(request);
      start.begin(timeoutMs);
    };
    if (this.starting < this.maxStarting) {
      this.starting++;
      send();
    } else {
      this.waiting.push(send);
    }
    return start.done;
  }

  /** startEnded is told once per start when its start is over (it runs, or it failed): the next may go. */
  startEnded(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.starting--;
    else next();
  }

  /** close ends the launcher's stdin: it exits, and the supervisors it started run on. */
  close(): void {
    this.process?.stdin?.end();
  }

  /** hold and release count what keeps the launcher (and so the agent) referenced. */
  hold(): void {
    if (this.holds++ === 0) this.setRef(true);
  }

  release(): void {
    if (--this.holds === 0) this.setRef(false);
  }

  /** reap tells the launcher that a supervisor's exit was heard: it may reap it now. */
  reap(id: string): void {
    this.process?.stdin?.write(frame(['reap', id]));
  }

  /** forget drops a start that nothing more will be heard of. */
  forget(id: string): void {
    this.starts.delete(id);
  }

  private setRef(on: boolean): void {
    const p = this.process;
    if (p === undefined) return;
    for (const handle of [p, p.stdin, p.stdout] as ({ ref(): unknown; unref(): unknown } | null)[]) {
      if (on) handle?.ref();
      else handle?.unref();
    }
  }

  private launcher(): ChildProcess {
    if (this.process !== undefined) return this.process;
    // Its own session: a Ctrl-C meant for the agent does not reach it (it ignores one anyway).
    const p = spawn(this.binary, ['launcher'], { detached: true, stdio: ['pipe', 'pipe', 'inherit'] });
    this.process = p;
    this.hello = false;
    this.output = '';
    p.stdout?.setEncoding('utf8');
    p.stdout?.on('data', (chunk: string) => {
      this.output += chunk;
      let nl: number;
      while ((nl = this.output.indexOf('\n')) >= 0) {
        const line = this.output.slice(0, nl);
        this.output = this.output.slice(nl + 1);
        this.onLine(line);
      }
    });
    p.stdin?.on('error', () => {
      // The launcher is gone: its exit event tells the rest.
    });
    // 'close', not 'exit': it comes after the last of its stdout has been read.
    p.once('error', () => this.onGone(p));
    p.once('close', () => this.onGone(p));
    if (this.holds === 0) this.setRef(false);
    return p;
  }

  private onLine(line: string): void {
    const [kind, id, ...rest] = line.split(' ');
    if (kind === 'H') {
      this.hello = true;
      this.early = [];
      return;
    }
    if (kind === 'N') {
      // This kernel cannot: nothing was started, and no start goes through a launcher again.
      this.unsupported = true;
      return;
    }
    const start = id === undefined ? undefined : this.starts.get(id);
    if (start === undefined) return;
    if (kind === 'S') start.started(Number(rest[0]));
    else if (kind === 'F') start.failed(rest.join(' '));
    else if (kind === 'L') start.line(rest.join(' '));
    else if (kind === 'C') start.closed();
    else if (kind === 'X') start.exited(rest[0] === 'c' ? Number(rest[1]) : null, rest[0] === 's' ? (signalName(Number(rest[1])) as NodeJS.Signals) : null);
  }

  private onGone(p: ChildProcess): void {
    if (this.process !== p) return;
    this.process = undefined;
    const early = this.early;
    this.early = [];
    if (!this.hello) {
      // It ended before it took a request (it cannot run here, or it could not start at all):
      // nothing was started, so each start goes the other way.
      this.unsupported = true;
      for (const e of early) {
        this.starts.delete(e.start.id);
        e.retry();
      }
      return;
    }
    for (const start of [...this.starts.values()]) start.launcherGone();
  }
}

/** frame encodes one launcher request: a 4-byte little-endian length, then NUL-terminated strings. */
function frame(strings: string[]): Buffer {
  const body = Buffer.from(`${strings.join('\0')}\0`, 'utf8');
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32LE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/** How often a supervisor is looked at once its launcher is gone and no longer says when it ends. */
const ORPHAN_POLL_MS = 250;

/** LauncherStart is one supervisor started through the launcher: its start, then its life. */
class LauncherStart extends EventEmitter implements SupervisorProcess {
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly done: Promise<LaunchedSupervisor>;
  private resolveDone: (s: LaunchedSupervisor) => void = () => undefined;
  private rejectDone: (err: unknown) => void = () => undefined;
  /** Made when the request is sent: the start's timeout runs from then. */
  private wait: ReadyWait | undefined;
  private pid: number | undefined;
  private startTime: string | undefined;
  /** Set when the start was handed to startSupervisor: what the launcher says no longer matters. */
  private redirected = false;
  private held = true;
  private ended = false;
  /** The ready pipe gave its line or closed (or the start failed): the start is over. */
  private lineDone = false;

  constructor(
    readonly id: string,
    private readonly launcher: SupervisorLauncher,
  ) {
    super();
    this.done = new Promise<LaunchedSupervisor>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
  }

  /** begin: the request is sent. */
  begin(timeoutMs: number): void {
    const wait = new ReadyWait(timeoutMs, () => {
      if (this.pid !== undefined && !this.ended) killQuietly(this.pid, 'SIGUSR1');
    });
    this.wait = wait;
    wait.done.then(
      (initPid) => {
        if (this.redirected) return;
        const pid = this.pid;
        if (pid === undefined) {
          this.rejectDone(new SupervisorError('the launcher gave no pid for the supervisor'));
          return;
        }
        this.startTime = processStartTime(pid);
        this.resolveDone({ child: this, pid, initPid });
      },
      (err: unknown) => {
        if (!this.redirected) this.rejectDone(err);
      },
    );
  }

  /** redirect ends the start with what startSupervisor gives instead (the launcher could not run). */
  redirect(other: Promise<StartedSupervisor>): void {
    this.redirected = true;
    this.ended = true;
    this.wait?.fail('started without the launcher'); // settles the wait and its timer; no one hears it
    this.over();
    this.release();
    other.then(this.resolveDone, this.rejectDone);
  }

  started(pid: number): void {
    this.pid = pid;
    // Too late: the start already failed (timed out), and no one will watch this task.
    if (this.wait?.settled === true) killQuietly(pid, 'SIGUSR1');
  }

  /** failed: the launcher could not start it; nothing runs. */
  failed(why: string): void {
    this.wait?.fail(`cannot start the supervisor: ${why}`);
    this.ended = true;
    this.over();
    this.release();
    this.launcher.forget(this.id);
  }

  line(text: string): void {
    this.over();
    this.wait?.line(text);
    this.forgetIfDone();
  }

  closed(): void {
    this.over();
    this.wait?.closed();
    this.forgetIfDone();
  }

  exited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.ended) return;
    this.ended = true;
    this.exitCode = code;
    this.signalCode = signal;
    this.wait?.exited(signal !== null ? `was killed by ${signal}` : `exited with status ${code ?? '?'}`);
    this.emit('exit', code, signal);
    // Heard, and told: the launcher may reap it now (and its pid be reused).
    this.launcher.reap(this.id);
    this.release();
    this.forgetIfDone();
  }

  /** launcherGone: no more word will come. A start under way fails; a running supervisor is polled. */
  launcherGone(): void {
    this.launcher.forget(this.id);
    if (this.ended) return;
    if (!this.lineDone) {
      this.wait?.fail('the supervisor launcher ended before the task started');
      if (this.pid !== undefined) killQuietly(this.pid, 'SIGUSR1');
      this.ended = true;
      this.over();
      this.release();
      return;
    }
    const poll = (): void => {
      if (this.pid !== undefined && this.startTime !== undefined && processStartTime(this.pid) === this.startTime) {
        const timer = setTimeout(poll, ORPHAN_POLL_MS);
        if (!this.held) timer.unref();
        return;
      }
      this.ended = true;
      this.emit('exit', null, null);
      this.release();
    };
    poll();
  }

  unref(): void {
    this.release();
  }

  /** over: the start is over, once: the launcher may send the next. */
  private over(): void {
    if (this.lineDone) return;
    this.lineDone = true;
    this.launcher.startEnded();
  }

  private forgetIfDone(): void {
    if (this.ended && this.lineDone) this.launcher.forget(this.id);
  }

  private release(): void {
    if (!this.held) return;
    this.held = false;
    this.launcher.release();
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

/**
 * readExitFile reads DIR/.muster/exit.json: undefined while the task has not ended (or the file was
 * never written). The file is opened through the directory's descriptor, without following links, and
 * its size and shape are checked: a malformed file throws.
 */
export function readExitFile(sandbox: string): SupervisorExit | undefined {
  const text = readMetaFile(sandbox, EXIT_FILE);
  if (text === undefined) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`${exitPath(sandbox)} is not JSON: ${(err as Error).message}`);
  }
  return parseExit(doc, exitPath(sandbox));
}

function exitPath(sandbox: string): string {
  return path.join(sandbox, META_DIR, EXIT_FILE);
}

function readMetaFile(sandbox: string, name: string): string | undefined {
  const meta = path.join(sandbox, META_DIR);
  let dirFd: number;
  try {
    dirFd = openSync(meta, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    // Through /proc/self/fd the file is looked up in the directory we opened, whatever the task may
    // have renamed since; where there is no /proc, by its path.
    const viaFd = `/proc/self/fd/${dirFd}`;
    const file = path.join(existsSync(viaFd) ? viaFd : meta, name);
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new Error(`${path.join(meta, name)} is not a regular file`);
      if (st.size > MAX_EXIT_FILE_BYTES) throw new Error(`${path.join(meta, name)} is larger than ${MAX_EXIT_FILE_BYTES} bytes`);
      // Unzeroed: only what was read is looked at. A zeroed 64 KiB for each task's end cost more than the read.
      const buf = Buffer.allocUnsafe(MAX_EXIT_FILE_BYTES + 1);
      let len = 0;
      for (;;) {
        const n = readSync(fd, buf, len, buf.length - len, null);
        if (n === 0) break;
        len += n;
        if (len > MAX_EXIT_FILE_BYTES) throw new Error(`${path.join(meta, name)} is larger than ${MAX_EXIT_FILE_BYTES} bytes`);
      }
      return buf.subarray(0, len).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } finally {
    closeSync(dirFd);
  }
}

function parseExit(doc: unknown, where: string): SupervisorExit {
  const bad = (what: string): never => {
    throw new Error(`${where} is malformed: ${what}`);
  };
  if (!isRecord(doc)) return bad('not an object');
  if (doc['version'] !== 1) bad(`version is ${JSON.stringify(doc['version'])}, not 1`);
  const initPid = doc['initPid'];
  const startedAt = doc['startedAt'];
  const endedAt = doc['endedAt'];
  if (!isPid(initPid)) return bad('initPid is not a pid');
  if (!isTime(startedAt) || !isTime(endedAt)) return bad('startedAt or endedAt is not a time');
  const exits = doc['exits'];
  if (!Array.isArray(exits) || exits.length > MAX_PROCESSES) return bad(`exits is not a list of at most ${MAX_PROCESSES}`);
  const out: SupervisorExit = { initPid, startedAt, endedAt, exits: exits.map((e, i) => parseEnd(e, `exits[${i}]`, bad)) };
  const killed = doc['killed'];
  if (killed !== undefined) {
    if (killed !== 'SIGTERM' && killed !== 'SIGKILL') return bad('killed is neither SIGTERM nor SIGKILL');
    out.killed = killed;
  }
  const error = doc['error'];
  if (error !== undefined) {
    if (typeof error !== 'string') return bad('error is not a string');
    out.error = error;
  }
  return out;
}

function parseEnd(e: unknown, at: string, bad: (what: string) => never): ProcessEnd {
  if (!isRecord(e)) return bad(`${at} is not an object`);
  const name = e['name'];
  const pid = e['pid'];
  const exitCode = e['exitCode'];
  const signal = e['signal'];
  if (typeof name !== 'string' || !PROCESS_NAME.test(name)) return bad(`${at}.name is not a process name`);
  if (!isPid(pid)) return bad(`${at}.pid is not a pid`);
  if ((exitCode === undefined) === (signal === undefined)) return bad(`${at} needs exactly one of exitCode and signal`);
  if (exitCode !== undefined) {
    if (!Number.isInteger(exitCode) || (exitCode as number) < 0 || (exitCode as number) > 255) return bad(`${at}.exitCode is not 0-255`);
    return { name, pid, exitCode: exitCode as number };
  }
  if (!Number.isInteger(signal) || (signal as number) < 1 || (signal as number) > 64) return bad(`${at}.signal is not 1-64`);
  return { name, pid, signal: signal as number };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPid(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) > 0 && (v as number) <= 2 ** 22;
}

function isTime(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 0;
}

/** signalName names a signal number as node does (9 → 'SIGKILL'); unknown ones read 'signal 42'. */
export function signalName(n: number): string {
  for (const [name, value] of Object.entries(os.constants.signals)) {
    if (value === n) return name;
  }
  return `signal ${n}`;
}
