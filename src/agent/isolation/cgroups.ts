// Control groups confine a task's cpu, memory and number of processes, measure what it uses, and
// let the agent kill every process of a task at once, including those that left its process group.
// Two kernels' worth of interfaces sit behind the one Cgroups class:
//
//   v2 (unified): one tree at the cgroup2 mount; the agent's root enables cpu, memory and pids in
//       cgroup.subtree_control and each task gets <mount>/<root>/<taskId>.
//   v1: one tree per controller (cpu, cpuacct, memory, pids; cpu and cpuacct are often one mount
//       "cpu,cpuacct"), each with its own <mount>/<root>/<taskId>.
//
// The agent does not put processes into cgroups itself: create() returns the directories and the
// task's supervisor writes itself into each one's cgroup.procs before it starts the task, so no
// process of the task ever runs outside them. Mount points come from /proc/self/mountinfo, never
// from a hard-coded /sys/fs/cgroup, because distributions and containers put them elsewhere.
//
// Kernel files are read and written synchronously: they are tiny pseudo-files served from memory.

import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isSafeId, MusterError } from '../../core/index.js';

/** CgroupLimits is what one task may use. */
export interface CgroupLimits {
  /** Thousandths of a core. */
  cpusMilli: number;
  memMiB: number;
  pidsMax: number;
}

/** CgroupUsage is what one task has used: cpu time since it started, and memory charged now. */
export interface CgroupUsage {
  cpuSecs: number;
  memBytes: number;
}

/** MemoryLimitation is what the memory controller knows about a task hitting its limit. */
export interface MemoryLimitation {
  /** How many times the kernel's OOM killer killed a process of the task (0 on kernels before 4.13, v1). */
  oomKills: number;
  /** The limit in bytes (Infinity when none is set). */
  limitBytes: number;
  /** The most memory the task was charged at once, where the kernel keeps it. */
  peakBytes?: number;
}

/** CgroupLayout says where the hierarchies are mounted. */
export type CgroupLayout =
  | { version: 'v2'; mount: string }
  | { version: 'v1'; cpu: string; cpuacct: string; memory: string; pids: string };

/** MountEntry is one line of /proc/self/mountinfo, the fields we use. */
export interface MountEntry {
  mountPoint: string;
  /** Per-mount options: rw or ro, relatime, ... */
  mountOptions: string[];
  fsType: string;
  /** Per-superblock options: for cgroup v1, the controllers of the hierarchy. */
  superOptions: string[];
}

/** DEFAULT_CGROUP_ROOT names the agent's root cgroup in each hierarchy, as Mesos's --cgroups_root. */
export const DEFAULT_CGROUP_ROOT = 'muster';

const CPU_PERIOD_US = 100_000;
/** The kernel's bounds for cpu.shares (v1); cpu.weight (v2) maps from them. */
const MIN_SHARES = 2;
const MAX_SHARES = 262_144;
/** PID_MAX_LIMIT is the kernel's largest pid_max: no pids.max above it means anything. */
const PID_MAX_LIMIT = 4_194_304;
const MAX_CPUS_MILLI = 1_000_000;
const MAX_MEM_MIB = 2 ** 30;
/** How long kill() keeps signalling before it gives up, and how often it looks again. */
const KILL_TIMEOUT_MS = 2000;
const POLL_MS = 20;
/** How long destroy() retries an rmdir that the kernel answers EBUSY (processes still exiting). */
const RMDIR_TIMEOUT_MS = 1000;
/** Caps on what is read from kernel files: cgroup.procs of a task is bounded by its pids.max. */
const MAX_FILE_BYTES = 64 * 1024;
const MAX_PROCS_BYTES = 4 * 1024 * 1024;
const MAX_MOUNTINFO_BYTES = 4 * 1024 * 1024;
/** list() stops after this many task cgroups: an agent runs far fewer tasks. */
const MAX_LISTED = 100_000;
const ROOT_SEGMENT = /^[A-Za-z0-9_.-]{1,64}$/;

/** cpuShares: v1's relative weight, 1024 per core as Mesos sets it. */
export function cpuShares(cpusMilli: number): number {
  return Math.min(MAX_SHARES, Math.max(MIN_SHARES, Math.round((1024 * cpusMilli) / 1000)));
}

/** cpuQuotaUs: the cfs quota per 100 ms period; at least 1 ms, the kernel's minimum. */
export function cpuQuotaUs(cpusMilli: number): number {
  return Math.max(1000, Math.round((cpusMilli / 1000) * CPU_PERIOD_US));
}

/**
 * cpuWeight converts v1 shares into v2's cpu.weight (1..10000) with the kernel's and systemd's
 * formula, so that a task gets the same share of a contended machine under either version.
 */
export function cpuWeight(shares: number): number {
  const s = Math.min(MAX_SHARES, Math.max(MIN_SHARES, shares));
  return 1 + Math.floor(((s - 2) * 9999) / 262_142);
}

/** checkCgroupRoot returns why a --cgroups-root value is unusable, or undefined when it is fine. */
export function checkCgroupRoot(root: string): string | undefined {
  const segments = root.split('/');
  if (root.length > 255 || segments.length > 16) return 'is too long';
  for (const s of segments) {
    if (!ROOT_SEGMENT.test(s) || s === '.' || s === '..') {
      return "must be a relative path of 1-64 letters, digits, '_', '.' or '-' per segment, e.g. muster";
    }
  }
  return undefined;
}

/** parseMountInfo reads /proc/self/mountinfo (see proc(5)); malformed lines are skipped. */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue": the
    // optional fields before "-" vary in number, so the ones after it are found from the dash.
    const dash = fields.indexOf('-', 6);
    if (dash < 0 || fields.length < dash + 4) continue;
    const mountPoint = fields[4];
    const mountOptions = fields[5];
    const fsType = fields[dash + 1];
    const superOptions = fields[dash + 3];
    if (mountPoint === undefined || mountOptions === undefined || fsType === undefined || superOptions === undefined) continue;
    out.push({
      mountPoint: unescapeMountPath(mountPoint),
      mountOptions: mountOptions.split(','),
      fsType,
      superOptions: superOptions.split(','),
    });
  }
  return out;
}

/** unescapeMountPath undoes the kernel's octal escapes of space, tab, newline and backslash in mount paths. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * detectCgroupLayout picks v2 when a writable cgroup2 mount offers cpu, memory and pids, else v1
 * when all four v1 controllers are mounted writable, else undefined. A hybrid system (systemd's
 * cgroup2 at /sys/fs/cgroup/unified with no controllers beside v1 hierarchies) is v1.
 */
export function detectCgroupLayout(
  options: { mountinfo?: string; readControllers?: (mount: string) => string | undefined } = {},
): CgroupLayout | undefined {
  let text = options.mountinfo;
  if (text === undefined) {
    try {
      text = readCapped('/proc/self/mountinfo', MAX_MOUNTINFO_BYTES);
    } catch {
      return undefined;
    }
  }
  const readControllers =
    options.readControllers ??
    ((mount: string) => {
      try {
        return readCapped(path.join(mount, 'cgroup.controllers'), MAX_FILE_BYTES);
      } catch {
        return undefined;
      }
    });
  const writable = parseMountInfo(text).filter((m) => m.mountOptions.includes('rw'));

  for (const m of writable) {
    if (m.fsType !== 'cgroup2') continue;
    const controllers = new Set((readControllers(m.mountPoint) ?? '').trim().split(/\s+/));
    if (controllers.has('cpu') && controllers.has('memory') && controllers.has('pids')) {
      return { version: 'v2', mount: m.mountPoint };
    }
  }

  const v1 = new Map<string, string>();
  for (const m of writable) {
    if (m.fsType !== 'cgroup') continue;
    for (const c of ['cpu', 'cpuacct', 'memory', 'pids']) {
      if (m.superOptions.includes(c) && !v1.has(c)) v1.set(c, m.mountPoint);
    }
  }
  const cpu = v1.get('cpu');
  const cpuacct = v1.get('cpuacct');
  const memory = v1.get('memory');
  const pids = v1.get('pids');
  if (cpu === undefined || cpuacct === undefined || memory === undefined || pids === undefined) return undefined;
  return { version: 'v1', cpu, cpuacct, memory, pids };
}

/** Controller names a controller whose files a backend reads and writes. */
type Controller = 'cpu' | 'cpuacct' | 'memory' | 'pids';

/**
 * CgroupBackend is what differs between v1 and v2: where each controller's files live, their
 * names and formats, and how the agent's root is made ready for task cgroups.
 */
interface CgroupBackend {
  readonly version: 'v1' | 'v2';
  /** The distinct mount points the agent keeps a root in (v1: cpu and cpuacct may be one). */
  readonly mounts: readonly string[];
  /** mountOf: the mount holding a controller's files. */
  mountOf(controller: Controller): string;
  /** prepareRoot runs after the root directories exist; throws naming the file it could not write. */
  prepareRoot(rootRel: string): void;
  writeLimits(taskRel: string, limits: CgroupLimits): void;
  usage(taskRel: string): CgroupUsage;
  memoryLimitation(taskRel: string): MemoryLimitation;
  /** killAll kills every process of the task in one write where the kernel can; false when it cannot. */
  killAll(taskRel: string): boolean;
}

class V2Backend implements CgroupBackend {
  readonly version = 'v2';
  readonly mounts: readonly string[];

  constructor(private readonly mount: string) {
    this.mounts = [mount];
  }

  mountOf(): string {
    return this.mount;
  }

  prepareRoot(rootRel: string): void {
    // A controller reaches a cgroup only when every ancestor enables it for its children, so each
    // level from the mount down to the root enables all three. The kernel forbids processes in a
    // cgroup that enables controllers for children (except at the mount), which is why the root
    // holds no processes and each task has a cgroup of its own below it.
    let dir = this.mount;
    const levels = [dir];
    for (const segment of rootRel.split('/')) {
      dir = path.join(dir, segment);
      levels.push(dir);
    }
    for (const level of levels) writeCgroupFile(path.join(level, 'cgroup.subtree_control'), '+cpu +memory +pids');
  }

  writeLimits(taskRel: string, limits: CgroupLimits): void {
    const dir = path.join(this.mount, taskRel);
    writeCgroupFile(path.join(dir, 'cpu.weight'), String(cpuWeight(cpuShares(limits.cpusMilli))));
    writeCgroupFile(path.join(dir, 'cpu.max'), `${cpuQuotaUs(limits.cpusMilli)} ${CPU_PERIOD_US}`);
    writeCgroupFile(path.join(dir, 'memory.max'), String(limits.memMiB * 1024 * 1024));
    // Without swap accounting (or swap) the file is absent, and nothing can extend the limit.
    const swap = path.join(dir, 'memory.swap.max');
    if (existsSync(swap)) writeCgroupFile(swap, '0');
    writeCgroupFile(path.join(dir, 'pids.max'), String(limits.pidsMax));
  }

  usage(taskRel: string): CgroupUsage {
    const dir = path.join(this.mount, taskRel);
    const usec = parseKeyed(readCapped(path.join(dir, 'cpu.stat'), MAX_FILE_BYTES)).get('usage_usec');
    if (usec === undefined) throw new Error(`${path.join(dir, 'cpu.stat')} has no usage_usec`);
    return { cpuSecs: usec / 1e6, memBytes: parseCount(readCapped(path.join(dir, 'memory.current'), MAX_FILE_BYTES)) };
  }

  memoryLimitation(taskRel: string): MemoryLimitation {
    const dir = path.join(this.mount, taskRel);
    const events = parseKeyed(readCapped(path.join(dir, 'memory.events'), MAX_FILE_BYTES));
    const out: MemoryLimitation = {
      oomKills: events.get('oom_kill') ?? 0,
      limitBytes: parseCount(readCapped(path.join(dir, 'memory.max'), MAX_FILE_BYTES)),
    };
    // memory.peak came with kernel 5.19.
    const peak = readOptionalCount(path.join(dir, 'memory.peak'));
    if (peak !== undefined) out.peakBytes = peak;
    return out;
  }

  killAll(taskRel: string): boolean {
    // cgroup.kill (kernel 5.14) kills the whole cgroup atomically, forks in flight included.
    const file = path.join(this.mount, taskRel, 'cgroup.kill');
    if (!existsSync(file)) return false;
    writeCgroupFile(file, '1');
    return true;
  }
}

class V1Backend implements CgroupBackend {
  readonly version = 'v1';
  readonly mounts: readonly string[];

  constructor(private readonly layout: Extract<CgroupLayout, { version: 'v1' }>) {
    this.mounts = [...new Set([layout.cpu, layout.cpuacct, layout.memory, layout.pids])];
  }

  mountOf(controller: Controller): string {
    return this.layout[controller];
  }

  prepareRoot(): void {
    // v1 hierarchies need nothing beyond the directories: every controller applies at every level.
  }

  writeLimits(taskRel: string, limits: CgroupLimits): void {
    const cpu = path.join(this.layout.cpu, taskRel);
    writeCgroupFile(path.join(cpu, 'cpu.shares'), String(cpuShares(limits.cpusMilli)));
    writeCgroupFile(path.join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
    writeCgroupFile(path.join(cpu, 'cpu.cfs_quota_us'), String(cpuQuotaUs(limits.cpusMilli)));

    const memory = path.join(this.layout.memory, taskRel);
    const bytes = String(limits.memMiB * 1024 * 1024);
    writeCgroupFile(path.join(memory, 'memory.limit_in_bytes'), bytes);
    // memsw limits memory plus swap; set to the same value, swap cannot stretch the limit. The
    // file exists only with swap accounting, and some kernels refuse it (EINVAL): then there is
    // nothing to stretch, or nothing we can do.
    const memsw = path.join(memory, 'memory.memsw.limit_in_bytes');
    try {
      writeCgroupFile(memsw, bytes);
    } catch (err) {
      const code = errnoOf(err);
      if (code !== 'ENOENT' && code !== 'EINVAL') throw err;
    }

    writeCgroupFile(path.join(this.layout.pids, taskRel, 'pids.max'), String(limits.pidsMax));
  }

  usage(taskRel: string): CgroupUsage {
    const ns = parseCount(readCapped(path.join(this.layout.cpuacct, taskRel, 'cpuacct.usage'), MAX_FILE_BYTES));
    const mem = parseCount(readCapped(path.join(this.layout.memory, taskRel, 'memory.usage_in_bytes'), MAX_FILE_BYTES));
    return { cpuSecs: ns / 1e9, memBytes: mem };
  }

  memoryLimitation(taskRel: string): MemoryLimitation {
    const dir = path.join(this.layout.memory, taskRel);
    const control = parseKeyed(readCapped(path.join(dir, 'memory.oom_control'), MAX_FILE_BYTES));
    const out: MemoryLimitation = {
      // The oom_kill line came with kernel 4.13; before it, OOM kills are invisible here.
      oomKills: control.get('oom_kill') ?? 0,
      limitBytes: parseCount(readCapped(path.join(dir, 'memory.limit_in_bytes'), MAX_FILE_BYTES)),
    };
    const peak = readOptionalCount(path.join(dir, 'memory.max_usage_in_bytes'));
    if (peak !== undefined) out.peakBytes = peak;
    return out;
  }

  killAll(): boolean {
    return false;
  }
}

/**
 * Cgroups manages the agent's root cgroup and one cgroup per task below it, on cgroups v2 or v1.
 * Every method takes a task id, checked with isSafeId before it becomes a directory name.
 */
export class Cgroups {
  /** version: which kernel interface is in use. */
  readonly version: 'v1' | 'v2';
  /** root: the agent's cgroup, relative to each hierarchy's mount point. */
  readonly root: string;
  private readonly backend: CgroupBackend;

  private constructor(backend: CgroupBackend, root: string) {
    this.backend = backend;
    this.version = backend.version;
    this.root = root;
  }

  /**
   * open detects the cgroup layout (or takes the one given) and returns undefined when no usable
   * cgroups are mounted. It creates nothing: ensureRoot() and create() do.
   */
  static open(options: { root?: string; layout?: CgroupLayout } = {}): Cgroups | undefined {
    const root = options.root ?? DEFAULT_CGROUP_ROOT;
    const why = checkCgroupRoot(root);
    if (why !== undefined) throw new MusterError('INVALID_ARGUMENT', `cgroup root "${root.slice(0, 64)}" ${why}`);
    const layout = options.layout ?? detectCgroupLayout();
    if (layout === undefined) return undefined;
    return new Cgroups(layout.version === 'v2' ? new V2Backend(layout.mount) : new V1Backend(layout), root);
  }

  /** hierarchies: the mount points in use, for messages and tests. */
  get hierarchies(): readonly string[] {
    return this.backend.mounts;
  }

  /**
   * ensureRoot creates the agent's root cgroup in each hierarchy and, on v2, enables the
   * controllers for the tasks below it. On failure it removes the directories it made and throws
   * an Error naming the file or directory.
   */
  ensureRoot(): void {
    const made: string[] = [];
    try {
      for (const mount of this.backend.mounts) {
        let dir = mount;
        for (const segment of this.root.split('/')) {
          dir = path.join(dir, segment);
          if (mkdirIfMissing(dir)) made.push(dir);
        }
      }
      this.backend.prepareRoot(this.root);
    } catch (err) {
      removeDirs(made);
      throw err;
    }
  }

  /**
   * create makes the task's cgroup in each hierarchy with the limits set, and returns the
   * directories the task's supervisor must join (write itself into their cgroup.procs). A cgroup
   * that already exists is an error: it may hold another run's processes. On failure nothing the
   * call created is left behind.
   */
  create(taskId: string, limits: CgroupLimits): string[] {
    checkTaskId(taskId);
    checkLimits(limits);
    const taskRel = path.join(this.root, taskId);
    const dirs = this.backend.mounts.map((m) => path.join(m, taskRel));
    const made: string[] = [];
    try {
      for (const dir of dirs) {
        mkdirTaskCgroup(dir, taskId, () => this.ensureRoot());
        made.push(dir);
      }
      this.backend.writeLimits(taskRel, limits);
    } catch (err) {
      removeDirs(made);
      throw err;
    }
    return dirs;
  }

  /** usage reads what the task has used; undefined when its cgroup is gone or unreadable. */
  usage(taskId: string): CgroupUsage | undefined {
    checkTaskId(taskId);
    try {
      return this.backend.usage(path.join(this.root, taskId));
    } catch {
      return undefined;
    }
  }

  /** memoryLimitation reads the task's OOM kills, limit and peak; undefined when its cgroup is gone. */
  memoryLimitation(taskId: string): MemoryLimitation | undefined {
    checkTaskId(taskId);
    try {
      return this.backend.memoryLimitation(path.join(this.root, taskId));
    } catch {
      return undefined;
    }
  }

  /** pids lists the processes in the task's cgroups (in any hierarchy, on v1), sorted. */
  pids(taskId: string): number[] {
    checkTaskId(taskId);
    const pids = new Set<number>();
    for (const dir of this.taskDirs(taskId)) {
      let text: string;
      try {
        text = readCapped(path.join(dir, 'cgroup.procs'), MAX_PROCS_BYTES);
      } catch {
        continue;
      }
      for (const line of text.split('\n')) {
        if (/^\d+$/.test(line)) pids.add(Number(line));
      }
    }
    return [...pids].sort((a, b) => a - b);
  }

  /**
   * kill kills every process of the task and resolves once its cgroups are empty. v2 writes
   * cgroup.kill; v1 has no such file, so it sends SIGKILL to every pid listed and looks again,
   * because a process may fork between the read and the signal (pids.max bounds how often).
   * A pid read from cgroup.procs could in theory be reused by another process before the signal;
   * the window is microseconds and the same one every v1 cluster manager lives with. Throws when
   * processes remain after about two seconds (e.g. stuck in uninterruptible sleep).
   */
  async kill(taskId: string): Promise<void> {
    checkTaskId(taskId);
    const atomic = this.killAllOrFalse(taskId);
    const deadline = Date.now() + KILL_TIMEOUT_MS;
    for (;;) {
      const pids = this.pids(taskId);
      if (pids.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(`task ${taskId} still has ${pids.length} processes in its cgroup after SIGKILL (pids ${pids.slice(0, 10).join(', ')})`);
      }
      if (!atomic) {
        for (const pid of pids) sigkill(pid);
      }
      await sleep(POLL_MS);
    }
  }

  /**
   * destroy kills what is left of the task and removes its cgroups. The kernel answers EBUSY to
   * rmdir while killed processes are still exiting, so that is retried for a moment. A task with
   * no cgroups left is not an error.
   */
  async destroy(taskId: string): Promise<void> {
    checkTaskId(taskId);
    const dirs = this.taskDirs(taskId).filter((d) => existsSync(d));
    if (dirs.length === 0) return;
    await this.kill(taskId);
    const deadline = Date.now() + RMDIR_TIMEOUT_MS;
    for (const dir of dirs) {
      for (;;) {
        try {
          rmdirSync(dir);
          break;
        } catch (err) {
          const code = errnoOf(err);
          if (code === 'ENOENT') break;
          if (code !== 'EBUSY' || Date.now() > deadline) throw new Error(`cannot remove cgroup ${dir}: ${messageOf(err)}`, { cause: err });
        }
        await sleep(POLL_MS);
      }
    }
  }

  /** list names the tasks that have a cgroup under the root (recovery removes the orphans). */
  list(): string[] {
    const ids = new Set<string>();
    for (const mount of this.backend.mounts) {
      let entries;
      try {
        entries = readdirSync(path.join(mount, this.root), { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of entries) {
        if (ids.size >= MAX_LISTED) break;
        if (e.isDirectory() && isSafeId(e.name)) ids.add(e.name);
      }
    }
    return [...ids].sort();
  }

  /** removeRootIfEmpty removes the agent's root cgroups, best effort: one with tasks left stays. */
  removeRootIfEmpty(): void {
    for (const mount of this.backend.mounts) {
      try {
        rmdirSync(path.join(mount, this.root));
      } catch {
        // Busy (tasks remain), missing, or not ours to remove: all fine for a best effort.
      }
    }
  }

  private taskDirs(taskId: string): string[] {
    return this.backend.mounts.map((m) => path.join(m, this.root, taskId));
  }

  private killAllOrFalse(taskId: string): boolean {
    try {
      return this.backend.killAll(path.join(this.root, taskId));
    } catch {
      // A cgroup that vanished has nothing to kill; anything else falls back to signals.
      return false;
    }
  }
}

function checkTaskId(taskId: string): void {
  if (!isSafeId(taskId)) throw new MusterError('INVALID_ARGUMENT', `task id "${taskId.slice(0, 64)}" is not a valid id`);
}

function checkLimits(limits: CgroupLimits): void {
  const check = (name: string, v: number, max: number): void => {
    if (!Number.isInteger(v) || v < 1 || v > max) {
      throw new MusterError('INVALID_ARGUMENT', `cgroup limit ${name} must be an integer from 1 to ${max}, not ${v}`);
    }
  };
  check('cpusMilli', limits.cpusMilli, MAX_CPUS_MILLI);
  check('memMiB', limits.memMiB, MAX_MEM_MIB);
  check('pidsMax', limits.pidsMax, PID_MAX_LIMIT);
}

/** writeCgroupFile writes one value, as `echo value > file` would; the error names the file. */
function writeCgroupFile(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch (err) {
    throw new CgroupFileError(`cannot write "${value}" to ${file}: ${messageOf(err)}`, err);
  }
}

/** CgroupFileError keeps the errno of the failed write, so that callers can tell EINVAL from EACCES. */
class CgroupFileError extends Error {
  override readonly name = 'CgroupFileError';
  readonly code: string | undefined;
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.code = (cause as NodeJS.ErrnoException).code;
  }
}

/**
 * readCapped reads a file of at most max bytes (kernel files report no size, so we read until the
 * end). It reads into a scratch buffer that is reused: kernel files are a few bytes, and a fresh
 * zeroed buffer of the largest size for each read cost more than the read (several a task's end).
 */
function readCapped(file: string, max: number): string {
  const fd = openSync(file, 'r');
  try {
    let buf = scratch;
    let total = 0;
    for (;;) {
      if (total === buf.length) {
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, max + 1));
        buf.copy(bigger, 0, 0, total);
        buf = bigger;
      }
      const n = readSync(fd, buf, total, buf.length - total, null);
      if (n === 0) break;
      total += n;
      if (total > max) throw new Error(`${file} is larger than ${max} bytes`);
    }
    return buf.toString('utf8', 0, total);
  } finally {
    closeSync(fd);
  }
}

/** scratch is readCapped's buffer: reads are synchronous, so one serves them all. */
const scratch = Buffer.allocUnsafe(4096);

/** parseCount reads a file holding one number ("max" is no limit: Infinity). */
function parseCount(text: string): number {
  const t = text.trim();
  if (t === 'max') return Infinity;
  if (!/^\d+$/.test(t)) throw new Error(`expected a number, read "${t.slice(0, 32)}"`);
  return Number(t);
}

function readOptionalCount(file: string): number | undefined {
  try {
    return parseCount(readCapped(file, MAX_FILE_BYTES));
  } catch {
    return undefined;
  }
}

/** parseKeyed reads "key value" lines (cpu.stat, memory.events, memory.oom_control). */
function parseKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key !== undefined && value !== undefined && /^\d+$/.test(value)) out.set(key, Number(value));
  }
  return out;
}

/**
 * mkdirTaskCgroup makes a task's cgroup directory. The agent's root is made at its start; only when
 * it is gone (removed by hand since) is ensureRoot asked to make it again (its errors name the file),
 * so that a task's start does not check every level of every hierarchy each time.
 */
function mkdirTaskCgroup(dir: string, taskId: string, ensureRoot: () => void): void {
  const attempt = (): unknown => {
    try {
      mkdirSync(dir);
      return undefined;
    } catch (err) {
      return err;
    }
  };
  let err = attempt();
  if (err !== undefined && errnoOf(err) === 'ENOENT') {
    ensureRoot();
    err = attempt();
  }
  if (err === undefined) return;
  if (errnoOf(err) === 'EEXIST') throw new Error(`cgroup ${dir} already exists (a previous run of task ${taskId}?)`, { cause: err });
  throw new Error(`cannot create cgroup ${dir}: ${messageOf(err)}`, { cause: err });
}

/** mkdirIfMissing returns true when it created the directory. */
function mkdirIfMissing(dir: string): boolean {
  try {
    mkdirSync(dir);
    return true;
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return false;
    throw new Error(`cannot create cgroup ${dir}: ${messageOf(err)}`, { cause: err });
  }
}

/** removeDirs undoes what a failed call created, deepest first; failures leave it for recovery. */
function removeDirs(dirs: string[]): void {
  for (const dir of [...dirs].reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      // Left behind; list() shows task cgroups to the agent's recovery.
    }
  }
}

function sigkill(pid: number): void {
  // Never signal init, the agent itself, or a group (pid <= 0 means a group to kill(2)).
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already (ESRCH): the next look at cgroup.procs tells.
  }
}

function errnoOf(err: unknown): string | undefined {
  if (err instanceof CgroupFileError) return err.code;
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** messageOf: "permission denied (EACCES)" from Node's "EACCES: permission denied, open '/x'". */
function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  if (code === undefined) return err.message;
  const m = /^\w+: ([^,]*)/.exec(err.message);
  return `${m?.[1] ?? err.message} (${code})`;
}
