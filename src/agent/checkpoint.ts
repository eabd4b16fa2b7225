// A task's checkpoint directory, <workDir>/tasks/<taskId>/, holds what an agent needs to pick a task
// up again after it restarts: task.json (the TaskInfo, its sandbox, how it was isolated, and its
// supervisor's pid and start time) and updates.jsonl (its status updates and their
// acknowledgements, see statusupdates.ts). task.json is written before the supervisor is spawned
// and again once it runs; the directory is removed once the master has acknowledged the task's
// terminal update.

import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, type Dirent } from 'node:fs';
import path from 'node:path';
import { isSafeId } from '../core/index.js';
import type { Logger } from '../log/index.js';
import type { TaskInfo } from '../protocol/index.js';
import { MAX_STATE_FILE_BYTES, writeJsonAtomic } from './workdir.js';

/** TaskUser is the unix user a task runs as. */
export interface TaskUser {
  name: string;
  uid: number;
  gid: number;
  groups: number[];
}

/** IsolationRecord is how a task was isolated: what exec and the cleanup after a restart need. */
export interface IsolationRecord {
  cgroups: string[];
  user?: TaskUser;
  pidNamespace: boolean;
  mountNamespace: boolean;
}

/** SupervisorRecord identifies a task's supervisor: the pid with its start time is an identity. */
export interface SupervisorRecord {
  pid: number;
  /** Field 22 of /proc/<pid>/stat right after the spawn; absent where /proc could not be read. */
  startTime?: string;
  /** The host pid of the supervisor's init (pid 1 of the task's pid namespace): exec enters through it. */
  initPid: number;
}

/** TaskCheckpoint is the content of task.json. */
export interface TaskCheckpoint {
  task: TaskInfo;
  sandbox: string;
  isolation: IsolationRecord;
  /** Absent while the supervisor is being started (and for a docker task, which has none). */
  supervisor?: SupervisorRecord;
  /** A docker task's container: its name at once, its id once created. */
  docker?: { name: string; containerId?: string };
  launchedAt: number;
}

/** taskDir is where a task's checkpoint lives; the id must pass isSafeId (it names a directory). */
export function taskDir(workDir: string, taskId: string): string {
  if (!isSafeId(taskId)) throw new Error(`refusing to use unsafe task id ${taskId.slice(0, 64)} as a directory name`);
  return path.join(workDir, 'tasks', taskId);
}

/** writeCheckpoint (re)writes task.json atomically. */
export function writeCheckpoint(workDir: string, checkpoint: TaskCheckpoint): void {
  const dir = taskDir(workDir, checkpoint.task.taskId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeJsonAtomic(path.join(dir, 'task.json'), checkpoint);
}

/** readCheckpoint returns a task's task.json, or undefined when it has none (or it is unreadable, which is logged). */
export function readCheckpoint(workDir: string, taskId: string, logger: Logger): TaskCheckpoint | undefined {
  const file = path.join(taskDir(workDir, taskId), 'task.json');
  try {
    if (statSync(file).size > MAX_STATE_FILE_BYTES) throw new Error('file is too large');
    return parseCheckpoint(JSON.parse(readFileSync(file, 'utf8')) as unknown);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    logger.warn('ignoring an unreadable task checkpoint', { file, error: err });
    return undefined;
  }
}

/** The files a task dir holds: its checkpoint and its update log. */
const TASK_FILES = ['task.json', 'updates.jsonl'];

/**
 * removeTaskDir forgets a task: its checkpoint and its update log. A missing dir or an unsafe id is
 * a no-op. The files it is known to hold are unlinked and the dir removed: a recursive removal costs
 * several times as much, once for every task that ends; it is the fallback for a dir holding more.
 */
export function removeTaskDir(workDir: string, taskId: string): void {
  if (!isSafeId(taskId)) return;
  const dir = taskDir(workDir, taskId);
  for (const name of TASK_FILES) rmSync(path.join(dir, name), { force: true });
  try {
    rmdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * checkpointedTasks lists the task ids that have a checkpoint directory. Anything else found in
 * tasks/ (a file left by an interrupted atomic write, an unsafe name) is removed with a warning.
 */
export function checkpointedTasks(workDir: string, logger: Logger): string[] {
  const dir = path.join(workDir, 'tasks');
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: string[] = [];
  for (const entry of entries) {
    if (entry.isDirectory() && isSafeId(entry.name)) {
      out.push(entry.name);
      continue;
    }
    logger.warn('removing an unexpected entry from the task checkpoints', { name: entry.name.slice(0, 200) });
    rmSync(path.join(dir, entry.name), { recursive: true, force: true });
  }
  return out.sort();
}

function parseCheckpoint(doc: unknown): TaskCheckpoint {
  const cp = doc as Partial<TaskCheckpoint> | null;
  if (
    typeof cp !== 'object' ||
    cp === null ||
    typeof cp.task?.taskId !== 'string' ||
    typeof cp.sandbox !== 'string' ||
    typeof cp.isolation !== 'object' ||
    cp.isolation === null ||
    !Array.isArray(cp.isolation.cgroups) ||
    typeof cp.launchedAt !== 'number'
  ) {
    throw new Error('not a task checkpoint');
  }
  const sup = cp.supervisor;
  if (sup !== undefined && (!Number.isInteger(sup.pid) || sup.pid <= 1 || !Number.isInteger(sup.initPid))) {
    throw new Error('the supervisor entry is malformed');
  }
  if (!cp.isolation.cgroups.every((c) => typeof c === 'string')) throw new Error('the cgroups entry is malformed');
  return cp as TaskCheckpoint;
}
