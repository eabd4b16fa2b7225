// The files API: GET /files/read?task=ID&path=stdout&offset=N&length=N reads a slice of a file in
// a task's sandbox. It is how `muster task logs` and the UI show output, live or after the task
// ended, so it reads sandboxes from disk rather than from the task table: logs of a task the agent
// has forgotten stay readable until the sandbox is removed.

import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { isSafeId, MusterError } from '../core/index.js';
import { resolveInSandbox, sandboxPath } from './sandbox.js';

export const DEFAULT_READ_LENGTH = 64 * 1024;
export const MAX_READ_LENGTH = 1024 * 1024;

/** FileChunk is the answer of /files/read. */
export interface FileChunk {
  path: string;
  /** Where data starts in the file. */
  offset: number;
  /** The file's size when it was read. */
  size: number;
  data: string;
  /** The task has ended: the file will not grow any more. */
  eof: boolean;
}

/** readFileChunk answers /files/read; it throws MusterError for the HTTP layer to turn into a status. */
export async function readFileChunk(
  query: URLSearchParams,
  context: { workDir: string; isActive: (taskId: string) => boolean },
): Promise<FileChunk> {
  const taskId = query.get('task') ?? '';
  if (!isSafeId(taskId)) throw new MusterError('INVALID_ARGUMENT', 'task must be a task id');
  const relative = query.get('path') ?? 'stdout';
  const offset = optionalCount(query, 'offset');
  const length = Math.min(optionalCount(query, 'length') ?? DEFAULT_READ_LENGTH, MAX_READ_LENGTH);

  const sandbox = sandboxPath(context.workDir, taskId);
  if (!existsSync(sandbox)) throw new MusterError('TASK_NOT_FOUND', `task ${taskId} has no sandbox on this agent`);
  let real: string;
  try {
    real = resolveInSandbox(sandbox, relative);
  } catch (err) {
    if (err instanceof MusterError && err.code === 'NOT_FOUND') throw new MusterError('NOT_FOUND', `task ${taskId}: ${err.message}`);
    throw err;
  }

  const file = await open(real, 'r');
  try {
    const stats = await file.stat();
    if (!stats.isFile()) throw new MusterError('NOT_FOUND', `"${relative}" in the sandbox of task ${taskId} is not a file`);
    const size = stats.size;
    const start = offset ?? Math.max(0, size - length);
    const want = Math.max(0, Math.min(length, size - start));
    const buffer = Buffer.alloc(want);
    const { bytesRead } = want === 0 ? { bytesRead: 0 } : await file.read(buffer, 0, want, start);
    return {
      path: relative,
      offset: start,
      size,
      data: buffer.subarray(0, bytesRead).toString('utf8'),
      eof: !context.isActive(taskId),
    };
  } finally {
    await file.close();
  }
}

function optionalCount(query: URLSearchParams, name: string): number | undefined {
  const text = query.get(name);
  if (text === null || text === '') return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) {
    throw new MusterError('INVALID_ARGUMENT', `${name} must be a whole number of bytes, not "${text.slice(0, 32)}"`);
  }
  return n;
}
