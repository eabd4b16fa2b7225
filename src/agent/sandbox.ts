// A sandbox is a task's working directory on the agent: workDir/sandboxes/<taskId>/ (0700, owned by
// the task's user when the agent is root), holding the task's stdout and stderr files (and their
// rotations stdout.1, stdout.2 …), its tmp/ and the agent's own .muster/ (exit status, supervisor
// log). It outlives the task so that its logs can be read after it ended; SandboxGc (gc.ts)
// removes old ones.

import type { Stats } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { lstat, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { isSafeId, MusterError } from '../core/index.js';

/** SANDBOX_META_DIR is the agent's own directory inside a sandbox (exit.json, supervisor.log). */
export const SANDBOX_META_DIR = '.muster';

/** MAX_SANDBOX_PATH bounds a path a client may ask for, as PATH_MAX bounds the kernel's. */
export const MAX_SANDBOX_PATH = 4096;

/** MAX_SYMLINK_HOPS bounds the links followed for one path, as the kernel's ELOOP limit does. */
const MAX_SYMLINK_HOPS = 40;

/** sandboxesDir: the directory holding every sandbox of the agent. */
export function sandboxesDir(workDir: string): string {
  return path.join(workDir, 'sandboxes');
}

/** sandboxPath: where a task's sandbox lives. The id must pass isSafeId: it becomes a file name. */
export function sandboxPath(workDir: string, taskId: string): string {
  if (!isSafeId(taskId)) throw new MusterError('INVALID_ARGUMENT', `task id "${taskId.slice(0, 64)}" is not a valid id`);
  return path.join(sandboxesDir(workDir), taskId);
}

/**
 * createSandbox makes the sandbox and its tmp/, 0700 from the start (the isolator then gives both
 * to the task's user); an existing one (a relaunch) is reused.
 */
export function createSandbox(workDir: string, taskId: string): string {
  const dir = sandboxPath(workDir, taskId);
  mkdirSync(dir, { recursive: true, mode: SANDBOX_MODE });
  mkdirSync(path.join(dir, 'tmp'), { recursive: true, mode: SANDBOX_MODE });
  return dir;
}

/** SANDBOX_MODE: a sandbox is its task's user's alone; the agent, root, reads it all the same. */
const SANDBOX_MODE = 0o700;

/** InSandbox is a path a client asked for, resolved to the real file it names. */
export interface InSandbox {
  /** The real path on disk: inside the sandbox, with no symbolic link left in it. */
  real: string;
  /** The client's path, normalized ("" for the sandbox itself); what answers echo back. */
  relative: string;
  /** lstat of real (never a link: links were followed to get there). */
  stats: Stats;
}

/**
 * resolveInSandbox turns a path a client asked for into the real file it names inside the sandbox.
 * It walks the path one component at a time with lstat and follows each symbolic link itself,
 * refusing a link whose target lies outside before looking at that target: a task can publish
 * neither /etc/shadow by linking to it, nor learn whether some outside file exists from whether
 * the answer is 403 or 404. `..`, absolute paths and NUL bytes are refused the same way.
 * "" names the sandbox itself only with allowRoot (browsing); reading needs a file.
 * Throws FORBIDDEN for escapes, NOT_FOUND for what does not exist, INVALID_ARGUMENT for a bad path.
 */
export async function resolveInSandbox(sandbox: string, relative: string, options: { allowRoot?: boolean } = {}): Promise<InSandbox> {
  const normal = normalizeRelative(relative);
  if (normal === '' && options.allowRoot !== true) {
    throw new MusterError('INVALID_ARGUMENT', 'path must name a file in the sandbox, e.g. stdout');
  }
  const root = await realpathOrNotFound(sandbox, 'the sandbox');
  const rootStats = await lstatOrNotFound(root, relative);
  // current is always a real path inside the sandbox with no link in it: each component is
  // lstat-ed, and a link is replaced by its target before the walk goes on.
  let current = root;
  let currentStats = rootStats;
  let pending = splitPath(normal);
  let hops = 0;
  for (let part = pending.shift(); part !== undefined; part = pending.shift()) {
    if (!currentStats.isDirectory()) throw notFound(relative);
    const next = path.join(current, part);
    const nextStats = await lstatOrNotFound(next, relative);
    if (!nextStats.isSymbolicLink()) {
      current = next;
      currentStats = nextStats;
      continue;
    }
    if (++hops > MAX_SYMLINK_HOPS) {
      throw new MusterError('NOT_FOUND', `path "${clip(relative)}" goes through too many symbolic links`);
    }
    // The target is judged as written, relative to the link's real directory, before anything it
    // names is looked at; then the walk starts again from the sandbox root along it.
    const resolved = path.resolve(current, await readlink(next));
    if (!isInside(root, resolved)) throw forbidden(relative);
    pending = [...splitPath(path.relative(root, resolved)), ...pending];
    current = root;
    currentStats = rootStats;
  }
  return { real: current, relative: normal, stats: currentStats };
}

/**
 * normalizeRelative checks a client's path without touching the disk and returns it normalized
 * ("a//b/./c" → "a/b/c"; "" or "." → ""). Absolute paths, NUL bytes and any ".." that climbs out
 * of the sandbox are FORBIDDEN.
 */
export function normalizeRelative(relative: string): string {
  if (relative.length > MAX_SANDBOX_PATH) {
    throw new MusterError('INVALID_ARGUMENT', `path is ${relative.length} characters long; at most ${MAX_SANDBOX_PATH} are allowed`);
  }
  if (relative.includes('\0')) throw new MusterError('FORBIDDEN', 'path contains a NUL byte; it must name a file in the task\'s sandbox');
  if (path.isAbsolute(relative)) throw forbidden(relative, 'absolute paths are not allowed; give a path relative to the sandbox');
  const normal = path.posix.normalize(relative);
  if (normal === '..' || normal.startsWith('../')) throw forbidden(relative);
  return normal === '.' || normal === './' ? '' : normal.replace(/\/+$/, '');
}

/** isInside tells whether candidate is root or lies below it (both absolute and normalized). */
export function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}

function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

function forbidden(relative: string, why = 'it is outside the task\'s sandbox'): MusterError {
  return new MusterError('FORBIDDEN', `path "${clip(relative)}" is not allowed: ${why}`);
}

function notFound(relative: string): MusterError {
  return new MusterError('NOT_FOUND', `file "${clip(relative)}" does not exist`);
}

async function realpathOrNotFound(p: string, what: string): Promise<string> {
  try {
    return await realpath(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new MusterError('NOT_FOUND', `${what} does not exist`);
    throw err;
  }
}

async function lstatOrNotFound(p: string, relative: string): Promise<Stats> {
  try {
    return await lstat(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound(relative);
    throw err;
  }
}
