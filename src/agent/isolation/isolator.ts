// The Isolator decides how each task is isolated and prepares what the task's supervisor applies:
// the cgroups it joins (cpu, memory and pids limits), the unix user it runs as (its role's), and
// whether it gets pid and mount namespaces (the supervisor gives a mount namespace private /tmp,
// /var/tmp and /dev/shm). It adapts to the machine once, at the agent's start:
//
//   root with cgroups:     cgroups v2 or v1, namespaces, role users (Mesos's linux launcher);
//   root without cgroups:  namespaces and role users; no resource limits (and it says so);
//   not root:              nothing: tasks are plain processes of the agent's user (and it says so).
//
// A role's user is the one --role-users maps it to, else --task-user when the operator gave one,
// else a uid of the role's own that the agent allocates (uids.ts): two roles share a user only
// when the operator said so.
//
// Degrading is deliberate: `muster dev` on a laptop must run tasks without root, and an operator
// reads the agent's isolation in its start-up log and in the master's view of the agent.

import { execFile } from 'node:child_process';
import { closeSync, constants, existsSync, fchmodSync, fchownSync, fstatSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { checkKeyPart, isSafeId, MusterError } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import { Cgroups, checkCgroupRoot, DEFAULT_CGROUP_ROOT, type CgroupUsage, type MemoryLimitation } from './cgroups.js';
import { formatUidRange, RoleUids, type UidRange } from './uids.js';
import { isValidUserName, resolveUser, type UnixUser, type UserFiles } from './users.js';

/** IsolationMode names the resource isolation in use. */
export type IsolationMode = 'cgroups-v2' | 'cgroups-v1' | 'none';

/** IsolationError is a task the agent cannot isolate as configured; the task fails with its message. */
export class IsolationError extends Error {
  override readonly name = 'IsolationError';
}

export interface IsolatorOptions {
  /** The agent's cgroup, relative to each hierarchy's mount point (default "muster"). */
  cgroupRoot?: string;
  /** Role → unix user (--role-users). */
  roleUsers?: Record<string, string>;
  /** The user of every role not in roleUsers; by default each such role gets a uid of its own. */
  taskUser?: string;
  /** The agent's work dir, where the uids allocated to roles are recorded; without it none are allocated. */
  workDir?: string;
  /** The uids the agent allocates to roles (--role-uid-range; default 60000-60999). */
  uidRange?: UidRange;
  /** Where the uids allocated by every agent of this machine are claimed (default /var/lib/muster/uids). */
  uidClaimsDir?: string;
  /** Let a role map to root (uid 0); off by default, as a task as root owns the machine. */
  allowRootTasks?: boolean;
  /** pids.max of each task (default 4096): a fork bomb stays inside its task. */
  pidsMax?: number;
  logger: Logger;
  /** Whether the agent runs as root (default: process.getuid() === 0); tests inject it. */
  isRoot?: boolean;
  /** Turns isolation off (`--isolation none`): tasks run as plain processes of the agent's user. */
  disabled?: boolean;
  /** The passwd and group files to read users from (default /etc/passwd, /etc/group). */
  userFiles?: UserFiles;
}

/** TaskToIsolate is what prepare() needs to know about a task. */
export interface TaskToIsolate {
  taskId: string;
  role: string;
  /** cpus in cores, mem in MiB. */
  resources: { cpus: number; mem: number };
}

/** PreparedIsolation is what the task's supervisor applies; it goes into the task's checkpoint. */
export interface PreparedIsolation {
  /** Cgroup directories the supervisor joins before it starts the task (empty without cgroups). */
  cgroups: string[];
  /** The user to run as; absent when the agent is not root (tasks run as the agent's user). */
  user?: UnixUser;
  pidNamespace: boolean;
  mountNamespace: boolean;
}

const DEFAULT_PIDS_MAX = 4096;
const PID_MAX_LIMIT = 4_194_304;
/** How long the namespace probe may take: a wedged unshare must not stall the agent's start. */
const PROBE_TIMEOUT_MS = 2000;
/**
 * The sandbox is the task user's alone: not its group's either, as a mapped user's primary group may
 * hold other users (nogroup, users).
 */
const SANDBOX_MODE = 0o700;
/** MAX_DESCRIPTION keeps the description within what the master accepts in AgentInfo (512). */
const MAX_DESCRIPTION = 500;

/** Isolator prepares, measures, kills and cleans up each task's isolation. */
export class Isolator {
  /** mode: the resource isolation in use. */
  readonly mode: IsolationMode;
  /** namespaces: whether tasks get pid and mount namespaces. */
  readonly namespaces: boolean;
  /** description: the isolation in words, for the start-up log and the agent's info. */
  readonly description: string;

  private constructor(
    private readonly options: {
      isRoot: boolean;
      cgroups: Cgroups | undefined;
      roleUsers: Map<string, string>;
      taskUser: string | undefined;
      roleUids: RoleUids | undefined;
      allowRootTasks: boolean;
      pidsMax: number;
      userFiles: UserFiles;
    },
    mode: IsolationMode,
    namespaces: boolean,
    description: string,
  ) {
    this.mode = mode;
    this.namespaces = namespaces;
    this.description = description.length > MAX_DESCRIPTION ? `${description.slice(0, MAX_DESCRIPTION - 1)}…` : description;
  }

  /**
   * create checks the options (every configured user must exist: a typo fails the agent's start,
   * not its first launch), then finds out what this machine offers. It logs one warning when it
   * has to run tasks without some isolation.
   */
  static async create(options: IsolatorOptions): Promise<Isolator> {
    const { logger } = options;
    const isRoot = options.isRoot ?? process.getuid?.() === 0;
    const cgroupRoot = options.cgroupRoot ?? DEFAULT_CGROUP_ROOT;
    const rootProblem = checkCgroupRoot(cgroupRoot);
    if (rootProblem !== undefined) throw new MusterError('INVALID_ARGUMENT', `--cgroup-root "${cgroupRoot.slice(0, 64)}" ${rootProblem}`);
    const pidsMax = options.pidsMax ?? DEFAULT_PIDS_MAX;
    if (!Number.isInteger(pidsMax) || pidsMax < 1 || pidsMax > PID_MAX_LIMIT) {
      throw new MusterError('INVALID_ARGUMENT', `pidsMax must be an integer from 1 to ${PID_MAX_LIMIT}, not ${pidsMax}`);
    }
    const taskUser = options.taskUser;
    const roleUsers = new Map(Object.entries(options.roleUsers ?? {}));
    for (const [role, user] of [...(taskUser === undefined ? [] : [['(default)', taskUser] as const]), ...roleUsers]) {
      if (role !== '(default)' && checkKeyPart(role) !== undefined) throw new MusterError('INVALID_ARGUMENT', `role "${role.slice(0, 64)}" is not a valid role`);
      if (!isValidUserName(user)) throw new MusterError('INVALID_ARGUMENT', `"${user.slice(0, 64)}" is not a valid user name`);
    }
    const userFiles = options.userFiles ?? {};
    const settings = { isRoot, roleUsers, taskUser, roleUids: undefined, allowRootTasks: options.allowRootTasks ?? false, pidsMax, userFiles };

    if (options.disabled === true) {
      if (isRoot && options.allowRootTasks !== true) {
        throw new MusterError('INVALID_ARGUMENT', 'with --isolation none an agent running as root runs every task as root; add --allow-root-tasks to accept that');
      }
      logger.warn('isolation is off (--isolation none): tasks run as plain processes of the agent\'s user');
      return new Isolator({ ...settings, isRoot: false, cgroups: undefined }, 'none', false, `none: turned off with --isolation none, so tasks run as plain processes of the agent's user; ${SHARED}`);
    }
    if (!isRoot) {
      logger.warn('the agent is not root: tasks run as plain processes of its user, without cgroups, namespaces or role users');
      return new Isolator({ ...settings, cgroups: undefined }, 'none', false, `none: the agent is not root, so tasks run as plain processes of its user; ${SHARED}`);
    }

    const named = taskUser === undefined ? [...roleUsers.values()] : [taskUser, ...roleUsers.values()];
    for (const user of new Set(named)) resolveUser(user, userFiles);
    warnSharedUsers(roleUsers, taskUser, logger);
    const roleUids =
      options.workDir === undefined
        ? undefined
        : RoleUids.open({
            workDir: options.workDir,
            ...(options.uidRange === undefined ? {} : { range: options.uidRange }),
            ...(options.uidClaimsDir === undefined ? {} : { claimsDir: options.uidClaimsDir }),
            userFiles,
            logger,
          });

    let cgroups: Cgroups | undefined;
    let cgroupProblem: string | undefined;
    try {
      cgroups = Cgroups.open({ root: cgroupRoot });
      if (cgroups === undefined) cgroupProblem = 'neither a cgroup2 mount with cpu, memory and pids nor v1 cpu, cpuacct, memory and pids hierarchies are mounted';
      else cgroups.ensureRoot();
    } catch (err) {
      cgroups = undefined;
      cgroupProblem = errorText(err);
    }
    const nsProblem = await probeNamespaces();

    const parts: string[] = [];
    // Each problem is clipped so that what the tasks run as always fits in the description.
    parts.push(cgroups === undefined ? `no cgroups (${clip(cgroupProblem ?? 'unknown')})` : `cgroups ${cgroups.version} (cpu, memory, pids)`);
    parts.push(nsProblem === undefined ? 'pid and mount namespaces, private /tmp, /var/tmp and /dev/shm' : `no namespaces (${clip(nsProblem)}), so tasks share the host's /tmp, /var/tmp and /dev/shm`);
    const others = taskUser !== undefined ? taskUser : roleUids !== undefined ? `a uid of ${formatUidRange(roleUids.range)} of the role's own` : 'none: such roles cannot run';
    parts.push(`tasks run as their role's user (--role-users, else ${others}), sandboxes 0700`);
    const description = parts.join(', ');
    if (cgroups === undefined || nsProblem !== undefined) {
      logger.warn(`tasks run with partial isolation: ${description}`);
    } else {
      logger.info(`isolation: ${description}`);
    }
    const mode: IsolationMode = cgroups === undefined ? 'none' : cgroups.version === 'v2' ? 'cgroups-v2' : 'cgroups-v1';
    return new Isolator({ ...settings, cgroups, roleUids }, mode, nsProblem === undefined, description);
  }

  /**
   * prepare maps the task's role to its user and creates its cgroups with limits from its
   * resources. Throws IsolationError when the role maps to root without --allow-root-tasks, the
   * user does not exist, or the cgroups cannot be made (nothing is left behind then).
   */
  prepare(task: TaskToIsolate): PreparedIsolation {
    const { taskId, role, resources } = task;
    if (!isSafeId(taskId)) throw new IsolationError(`task id "${taskId.slice(0, 64)}" is not a valid id`);
    if (!(Number.isFinite(resources.cpus) && resources.cpus > 0 && Number.isFinite(resources.mem) && resources.mem > 0)) {
      throw new IsolationError(`task ${taskId} needs cpus and mem above 0 to be isolated, not cpus ${resources.cpus} and mem ${resources.mem}`);
    }
    const { isRoot, cgroups, allowRootTasks, pidsMax } = this.options;
    if (!isRoot) return { cgroups: [], pidNamespace: false, mountNamespace: false };

    const user = this.userOf(role);
    if (user.uid === 0 && !allowRootTasks) {
      const who = user.name === 'root' ? 'root' : `${user.name} (uid 0)`;
      throw new IsolationError(`role "${role}" maps to user ${who}; the agent runs tasks as root only with --allow-root-tasks`);
    }

    let dirs: string[] = [];
    if (cgroups !== undefined) {
      const limits = {
        cpusMilli: Math.max(1, Math.round(resources.cpus * 1000)),
        memMiB: Math.max(1, Math.ceil(resources.mem)),
        pidsMax,
      };
      try {
        dirs = cgroups.create(taskId, limits);
      } catch (err) {
        throw new IsolationError(`cannot create the cgroups of task ${taskId}: ${errorText(err)}`);
      }
    }
    return { cgroups: dirs, user, pidNamespace: this.namespaces, mountNamespace: this.namespaces };
  }

  /** userOf: the role's mapped user, else the task user, else the uid allocated to the role. Throws IsolationError. */
  private userOf(role: string): UnixUser {
    const { roleUsers, taskUser, roleUids, userFiles } = this.options;
    const userName = roleUsers.get(role) ?? taskUser;
    if (userName !== undefined) {
      try {
        return resolveUser(userName, userFiles);
      } catch (err) {
        throw new IsolationError(`role "${role}" maps to user "${userName}": ${errorText(err)}`);
      }
    }
    if (roleUids === undefined) throw new IsolationError(`role "${role}" has no user: it is not in --role-users, and the agent allocates no uids without a work dir`);
    try {
      return roleUids.userOf(role);
    } catch (err) {
      throw new IsolationError(`cannot give role "${role}" a uid of its own: ${errorText(err)}`);
    }
  }

  /** usage: what the task's cgroups measured; undefined without cgroups (the caller falls back to /proc). */
  usage(taskId: string): CgroupUsage | undefined {
    return this.options.cgroups?.usage(taskId);
  }

  /** memoryLimitation: the task's OOM kills, memory limit and peak; undefined without cgroups. */
  memoryLimitation(taskId: string): MemoryLimitation | undefined {
    return this.options.cgroups?.memoryLimitation(taskId);
  }

  /** kill kills every process in the task's cgroups; without cgroups there is nothing it can reach. */
  async kill(taskId: string): Promise<void> {
    const { cgroups } = this.options;
    if (cgroups !== undefined) await cgroups.kill(taskId);
  }

  /** destroy kills what is left of the task and removes its cgroups. */
  async destroy(taskId: string): Promise<void> {
    const { cgroups } = this.options;
    if (cgroups !== undefined) await cgroups.destroy(taskId);
  }

  /**
   * orphans: empty task cgroups under the agent's root that the agent does not know (recovery
   * removes them). A cgroup that still holds processes is never an orphan: it may belong to
   * another agent that shares the root by mistake, and killing its tasks would be far worse than
   * leaving an empty directory behind.
   */
  orphans(known: Set<string>): string[] {
    const { cgroups } = this.options;
    if (cgroups === undefined) return [];
    return cgroups.list().filter((id) => !known.has(id) && cgroups.pids(id).length === 0);
  }

  /** removeRootIfEmpty removes the agent's root cgroups when no task is left in them (tests, uninstall). */
  removeRootIfEmpty(): void {
    this.options.cgroups?.removeRootIfEmpty();
  }

  /**
   * chownSandbox gives the sandbox and its tmp/ to the task's user, so the task can write its
   * working directory, and closes the sandbox to other users. Everything else in it stays as it
   * is: the agent's .muster/ stays root's, and the stdout and stderr files are written through
   * descriptors the supervisor opened. Each directory is opened with O_NOFOLLOW and changed through
   * the descriptor, so a task that replaced tmp/ with a link (before a relaunch) cannot make the
   * agent change a file elsewhere. Throws IsolationError.
   */
  chownSandbox(dir: string, user: UnixUser): void {
    if (!this.options.isRoot) return;
    if (!path.isAbsolute(dir) || dir.includes('\0')) throw new IsolationError(`sandbox "${dir.slice(0, 256)}" must be an absolute path`);
    for (const id of [user.uid, user.gid]) {
      if (!Number.isInteger(id) || id < 0 || id > 2 ** 32 - 2) throw new IsolationError(`user ${user.name} has an invalid id ${id}`);
    }
    const tmp = path.join(dir, 'tmp');
    try {
      if (!existsSync(tmp)) mkdirSync(tmp);
      for (const d of [dir, tmp]) changeOwner(d, user.uid, user.gid);
    } catch (err) {
      if (err instanceof IsolationError) throw err;
      throw new IsolationError(`cannot give the sandbox ${dir} to user ${user.name}: ${errorText(err)}`);
    }
  }
}

/** SHARED: what tasks share when the agent cannot keep them apart. */
const SHARED = "they share the agent's files (its API token too) and the host's /tmp, /var/tmp and /dev/shm";

/**
 * warnSharedUsers says, once at start, which roles the operator made share a user: their tasks can
 * read each other's sandboxes and signal each other's processes.
 */
function warnSharedUsers(roleUsers: ReadonlyMap<string, string>, taskUser: string | undefined, logger: Logger): void {
  const byUser = new Map<string, string[]>();
  for (const [role, user] of roleUsers) byUser.set(user, [...(byUser.get(user) ?? []), role]);
  for (const [user, roles] of byUser) {
    if (roles.length > 1) logger.warn(`roles ${roles.join(', ')} all run as ${user} (--role-users): their tasks can reach each other's files and processes`);
  }
  if (taskUser !== undefined) {
    logger.warn(`every role not in --role-users runs as ${taskUser} (--task-user): their tasks can reach each other's files and processes`);
  }
}

function changeOwner(dir: string, uid: number, gid: number): void {
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw new IsolationError(`${dir} is not a directory (a link?); the agent will not give it to the task's user`);
    throw err;
  }
  try {
    if (!fstatSync(fd).isDirectory()) throw new IsolationError(`${dir} is not a directory`);
    fchownSync(fd, uid, gid);
    fchmodSync(fd, SANDBOX_MODE);
  } finally {
    closeSync(fd);
  }
}

/**
 * probeNamespaces returns why tasks cannot get pid and mount namespaces, or undefined when they
 * can. Root in a container without CAP_SYS_ADMIN cannot unshare, so the kernel is asked once with
 * unshare(1); without that binary, the namespace files in /proc are all we can check.
 */
function probeNamespaces(): Promise<string | undefined> {
  if (!existsSync('/proc/self/ns/pid') || !existsSync('/proc/self/ns/mnt')) return Promise.resolve('the kernel has no pid or mount namespaces');
  return new Promise((resolve) => {
    execFile('unshare', ['--pid', '--mount', '--fork', 'true'], { timeout: PROBE_TIMEOUT_MS, maxBuffer: 64 * 1024 }, (err, _stdout, stderr) => {
      if (err === null || (err as NodeJS.ErrnoException).code === 'ENOENT') resolve(undefined);
      else resolve(`unshare failed: ${stderr.trim().slice(0, 200) || err.message}`);
    });
  });
}

function clip(text: string): string {
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
