// A sandbox is a task's working directory on the agent: workDir/sandboxes/<taskId>/, holding the
// task's stdout and stderr files and its tmp/. It outlives the task so that its logs can be read
// after it ended; removing old sandboxes is the job of a later garbage collector.

import { mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { isSafeId, MusterError } from '../core/index.js';

/** sandboxPath: where a task's sandbox lives. The id must pass isSafeId: it becomes a file name. */
export function sandboxPath(workDir: string, taskId: string): string {
  if (!isSafeId(taskId)) throw new MusterError('INVALID_ARGUMENT', `task id "${taskId.slice(0, 64)}" is not a valid id`);
  return path.join(workDir, 'sandboxes', taskId);
}

/** createSandbox makes the sandbox and its tmp/; an existing one (a relaunch) is reused. */
export function createSandbox(workDir: string, taskId: string): string {
  const dir = sandboxPath(workDir, taskId);
  mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  return dir;
}

/**
 * resolveInSandbox turns a path a client asked for into a real path inside the sandbox. Symbolic
 * links are resolved first, so a task cannot publish /etc/shadow by linking to it from its sandbox.
 * Throws FORBIDDEN for anything outside the sandbox and NOT_FOUND for what does not exist.
 */
export function resolveInSandbox(sandbox: string, relative: string): string {
  if (relative === '' || relative.includes('\0')) {
    throw new MusterError('INVALID_ARGUMENT', 'path must name a file in the sandbox, e.g. stdout');
  }
  const root = realpathOrNotFound(sandbox, 'the sandbox');
  // A path that leaves the sandbox even before links are followed is refused without looking
  // at the disk, so a client cannot probe which files exist elsewhere.
  const lexical = path.resolve(root, relative);
  if (!isInside(root, lexical)) throw forbidden(relative);
  const real = realpathOrNotFound(lexical, `file "${relative}"`);
  if (!isInside(root, real)) throw forbidden(relative);
  return real;
}

function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root + path.sep);
}

function forbidden(relative: string): MusterError {
  return new MusterError('FORBIDDEN', `path "${relative}" is outside the task's sandbox`);
}

function realpathOrNotFound(p: string, what: string): string {
  try {
    return realpathSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new MusterError('NOT_FOUND', `${what} does not exist`);
    throw err;
  }
}
