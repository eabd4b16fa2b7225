// The TypeScript face of muster-supervisor (src/agent/supervisor/supervisor.c), the small C program
// every task runs under. It outlives the agent: the agent starts it, reads its ready line, and from
// then on knows the task only through its pid, its signals (SIGTERM: stop; SIGUSR1: kill everything)
// and the exit file it writes into the sandbox, DIR/.muster/exit.json. A new agent that finds the
// supervisor alive reattaches to it; one that finds the exit file learns how the task ended.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { MusterError } from '../core/index.js';

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
  const timeoutMs = options.timeoutMs ?? 30_000;
  const meta = createMetaDir(spec.sandbox);
  const log = openSync(path.join(meta, 'supervisor.log'), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
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

  return new Promise<StartedSupervisor>((resolve, reject) => {
    let settled = false;
    let line = '';
    let exitedHow: string | undefined;
    let readyClosed = false;
    const settle = (outcome: StartedSupervisor | SupervisorError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ready.destroy();
      if (outcome instanceof SupervisorError) reject(outcome);
      else resolve(outcome);
    };
    const timer = setTimeout(() => {
      if (settled) return;
      try {
        child.kill('SIGUSR1');
      } catch {
        // Already gone: its exit tells the rest.
      }
      settle(new SupervisorError(`the supervisor did not report the task started within ${timeoutMs} ms`));
    }, timeoutMs);
    // An exit can be seen before the last line on the ready pipe is read: decide once both are known.
    const endedWithoutLine = () => {
      if (exitedHow !== undefined && readyClosed) settle(new SupervisorError(`the supervisor ${exitedHow} before the task started`));
    };
    child.once('error', (err) => settle(new SupervisorError(`cannot start ${binary}: ${err.message}`)));
    child.once('exit', (code, signal) => {
      exitedHow = signal !== null ? `was killed by ${signal}` : `exited with status ${code ?? '?'}`;
      endedWithoutLine();
    });
    ready.setEncoding('utf8');
    ready.on('data', (chunk: string) => {
      line += chunk;
      const nl = line.indexOf('\n');
      if (nl < 0) {
        if (line.length > 4096) settle(new SupervisorError('the supervisor wrote an overlong ready line'));
        return;
      }
      const text = line.slice(0, nl);
      const ok = /^ready (\d+)$/.exec(text);
      if (ok !== null && child.pid !== undefined) {
        settle({ child, pid: child.pid, initPid: Number(ok[1]) });
      } else if (text.startsWith('error ')) {
        settle(new SupervisorError(text.slice('error '.length)));
      } else {
        settle(new SupervisorError(`the supervisor wrote an unexpected ready line: ${text.slice(0, 200)}`));
      }
    });
    ready.on('error', () => {
      // A broken pipe ends like a closed one.
    });
    ready.on('close', () => {
      readyClosed = true;
      endedWithoutLine();
    });
  });
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
