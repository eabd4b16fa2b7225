// The files API: what a person (through the master) may see of a task's sandbox.
//   GET /files/browse?task=ID&path=DIR          lists a directory, like ls -l
//   GET /files/read?task=ID&path=stdout&offset=N&length=N   reads a slice of a file
//   GET /files/download?task=ID&path=FILE       streams a whole file
// It is how `muster task logs`, `muster task ls` and the UI look inside a task, live or after the
// task ended, so it reads sandboxes from disk rather than from the task table: the files of a task
// the agent has forgotten stay readable until the sandbox is removed.
//
// The agent runs as root and the sandbox belongs to the task, so every path is confined twice:
// resolveInSandbox walks it without following any link out, and the file or directory is then
// opened without following links and checked to be the very inode the walk found. A task that
// swaps a directory for a link between the two steps gets an error, not the agent's files.

import { constants, type Stats } from 'node:fs';
import { lstat, open, opendir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { isSafeId, MusterError } from '../core/index.js';
import type { FileEntry, FileEntryType, FileListing } from '../protocol/index.js';
import { resolveInSandbox, sandboxPath, type InSandbox } from './sandbox.js';

export const DEFAULT_READ_LENGTH = 64 * 1024;
export const MAX_READ_LENGTH = 1024 * 1024;
/** MAX_BROWSE_ENTRIES bounds one listing; a larger directory answers truncated: true. */
export const MAX_BROWSE_ENTRIES = 10_000;
/** MAX_BROWSE_SCAN bounds the names read from one directory to choose the first entries by name. */
export const MAX_BROWSE_SCAN = 100_000;
/** How many entries are lstat-ed at once while listing. */
const STAT_BATCH = 64;

/** FilesContext is what the files API needs to know about the agent. */
export interface FilesContext {
  workDir: string;
  isActive: (taskId: string) => boolean;
}

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

/** FileDownload is an open file for /files/download: stream it, or destroy the stream to close it. */
export interface FileDownload {
  /** The file's base name, for Content-Disposition. */
  name: string;
  /** The bytes the stream yields: the file's size when it was opened (a growing log is cut there). */
  size: number;
  stream: Readable;
}

/** readFileChunk answers /files/read; it throws MusterError for the HTTP layer to turn into a status. */
export async function readFileChunk(query: URLSearchParams, context: FilesContext): Promise<FileChunk> {
  const taskId = taskOf(query);
  const offset = optionalCount(query, 'offset');
  const length = Math.min(optionalCount(query, 'length') ?? DEFAULT_READ_LENGTH, MAX_READ_LENGTH);
  const found = await find(context.workDir, taskId, query.get('path') ?? 'stdout', false);
  const file = await openFile(found, taskId);
  try {
    const { size } = await file.stat();
    const start = offset ?? Math.max(0, size - length);
    const want = Math.max(0, Math.min(length, size - start));
    const buffer = Buffer.alloc(want);
    const { bytesRead } = want === 0 ? { bytesRead: 0 } : await file.read(buffer, 0, want, start);
    return {
      path: found.relative,
      offset: start,
      size,
      data: buffer.subarray(0, bytesRead).toString('utf8'),
      eof: !context.isActive(taskId),
    };
  } finally {
    await file.close();
  }
}

/**
 * browseSandbox answers /files/browse: the entries of a directory sorted by name, each lstat-ed
 * (a link is listed as a link, never followed). Browsing a file lists that file alone, as ls does.
 */
export async function browseSandbox(query: URLSearchParams, context: Pick<FilesContext, 'workDir'>): Promise<FileListing> {
  const taskId = taskOf(query);
  const found = await find(context.workDir, taskId, query.get('path') ?? '', true);
  if (!found.stats.isDirectory()) {
    return { path: found.relative, entries: [entryOf(path.posix.basename(found.relative), found.relative, found.stats)] };
  }
  const dir = await openVerified(found, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    // Through /proc the listing reads the directory the handle holds, whatever became of its path.
    const base = (await hasProcFd(dir)) ? `/proc/self/fd/${dir.fd}` : found.real;
    const { names, more } = await readNames(base);
    names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const chosen = names.slice(0, MAX_BROWSE_ENTRIES);
    const entries: FileEntry[] = [];
    for (let i = 0; i < chosen.length; i += STAT_BATCH) {
      const batch = await Promise.all(
        chosen.slice(i, i + STAT_BATCH).map(async (name) => {
          const stats = await lstat(path.join(base, name)).catch(() => undefined); // gone since readdir
          return stats === undefined ? undefined : entryOf(name, found.relative === '' ? name : `${found.relative}/${name}`, stats);
        }),
      );
      for (const e of batch) if (e !== undefined) entries.push(e);
    }
    const listing: FileListing = { path: found.relative, entries };
    if (more || names.length > MAX_BROWSE_ENTRIES) listing.truncated = true;
    return listing;
  } finally {
    await dir.close();
  }
}

/** openDownload answers /files/download: a regular file, opened and confined like a read. */
export async function openDownload(query: URLSearchParams, context: Pick<FilesContext, 'workDir'>): Promise<FileDownload> {
  const taskId = taskOf(query);
  const relative = query.get('path');
  if (relative === null || relative === '') throw new MusterError('INVALID_ARGUMENT', 'path must name a file in the sandbox, e.g. stdout');
  const found = await find(context.workDir, taskId, relative, false);
  const file = await openFile(found, taskId);
  let size: number;
  try {
    size = (await file.stat()).size;
  } catch (err) {
    await file.close();
    throw err;
  }
  const name = path.posix.basename(found.relative);
  if (size === 0) {
    await file.close();
    return { name, size, stream: Readable.from([]) };
  }
  return { name, size, stream: file.createReadStream({ start: 0, end: size - 1 }) };
}

/** contentDisposition names a download safely: a plain-ASCII filename and the exact one in RFC 5987 form. */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%;]/g, '_') || 'download';
  const exact = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${exact}`;
}

/** modeString writes a mode the way ls -l does: "-rw-r--r--", "drwxrwxrwt", "lrwxrwxrwx". */
export function modeString(mode: number): string {
  const type = mode & constants.S_IFMT;
  const kind =
    type === constants.S_IFDIR ? 'd'
    : type === constants.S_IFLNK ? 'l'
    : type === constants.S_IFREG ? '-'
    : type === constants.S_IFIFO ? 'p'
    : type === constants.S_IFSOCK ? 's'
    : type === constants.S_IFCHR ? 'c'
    : type === constants.S_IFBLK ? 'b'
    : '?';
  const triplet = (shift: number, special: boolean, specialChar: string): string => {
    const r = mode & (4 << shift) ? 'r' : '-';
    const w = mode & (2 << shift) ? 'w' : '-';
    const x = (mode & (1 << shift)) !== 0;
    const last = special ? (x ? specialChar : specialChar.toUpperCase()) : x ? 'x' : '-';
    return r + w + last;
  };
  return (
    kind +
    triplet(6, (mode & 0o4000) !== 0, 's') +
    triplet(3, (mode & 0o2000) !== 0, 's') +
    triplet(0, (mode & 0o1000) !== 0, 't')
  );
}

function entryOf(name: string, relative: string, stats: Stats): FileEntry {
  return {
    name,
    path: relative,
    type: typeOf(stats),
    size: stats.size,
    mode: modeString(stats.mode),
    mtime: Math.floor(stats.mtimeMs),
    uid: stats.uid,
    gid: stats.gid,
  };
}

function typeOf(stats: Stats): FileEntryType {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'dir';
  if (stats.isSymbolicLink()) return 'symlink';
  return 'other';
}

/** readNames reads up to MAX_BROWSE_SCAN names of a directory; more says some were left unread. */
async function readNames(dir: string): Promise<{ names: string[]; more: boolean }> {
  const names: string[] = [];
  const handle = await opendir(dir, { bufferSize: 256 });
  try {
    for (let entry = await handle.read(); entry !== null; entry = await handle.read()) {
      if (names.length >= MAX_BROWSE_SCAN) return { names, more: true };
      names.push(entry.name);
    }
    return { names, more: false };
  } finally {
    await handle.close();
  }
}

function taskOf(query: URLSearchParams): string {
  const taskId = query.get('task') ?? '';
  if (!isSafeId(taskId)) throw new MusterError('INVALID_ARGUMENT', 'task must be a task id');
  return taskId;
}

/** find resolves a client's path in a task's sandbox; a task without a sandbox here is TASK_NOT_FOUND. */
async function find(workDir: string, taskId: string, relative: string, allowRoot: boolean): Promise<InSandbox> {
  const sandbox = sandboxPath(workDir, taskId);
  const stats = await lstat(sandbox).catch(() => undefined);
  if (stats === undefined || !stats.isDirectory()) {
    throw new MusterError('TASK_NOT_FOUND', `task ${taskId} has no sandbox on this agent`);
  }
  try {
    return await resolveInSandbox(sandbox, relative, { allowRoot });
  } catch (err) {
    if (err instanceof MusterError && err.code === 'NOT_FOUND') throw new MusterError('NOT_FOUND', `task ${taskId}: ${err.message}`);
    throw err;
  }
}

/**
 * openFile opens a regular file for reading. Anything else is refused before it is opened: opening
 * a FIFO a task left as "stdout" would block one of the agent's few I/O threads forever.
 */
async function openFile(found: InSandbox, taskId: string): Promise<FileHandle> {
  if (!found.stats.isFile()) {
    throw new MusterError('NOT_FOUND', `"${found.relative}" in the sandbox of task ${taskId} is not a file`);
  }
  return openVerified(found, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
}

/** openVerified opens what resolveInSandbox found and checks that it is still the same inode. */
async function openVerified(found: InSandbox, flags: number): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(found.real, flags);
  } catch (err) {
    // ELOOP: the file became a link (O_NOFOLLOW); ENOTDIR: the directory became something else.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOENT' || code === 'ENOTDIR') throw changed(found);
    throw err;
  }
  try {
    const now = await handle.stat();
    if (now.dev !== found.stats.dev || now.ino !== found.stats.ino) throw changed(found);
    return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
}

function changed(found: InSandbox): MusterError {
  return new MusterError('CONFLICT', `"${found.relative}" changed while it was being opened; try again`);
}

/** hasProcFd tells whether /proc/self/fd/N reaches the directory the handle holds (Linux). */
async function hasProcFd(handle: FileHandle): Promise<boolean> {
  try {
    const [viaProc, viaHandle] = await Promise.all([lstat(`/proc/self/fd/${handle.fd}/.`), handle.stat()]);
    return viaProc.ino === viaHandle.ino && viaProc.dev === viaHandle.dev;
  } catch {
    return false;
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
