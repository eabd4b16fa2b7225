// The update log checkpoints one task's status updates: <taskDir>/updates.jsonl holds one JSON
// record a line, {"update": <TaskStatus>} when an update is written and {"ack": "<uuid>"} when the
// master acknowledges it. An agent that is killed and restarted reads it back to learn which updates
// the master has not acknowledged yet, and sends them again with their uuids: the master records a
// uuid at most once, so that is what makes delivery exactly-once.
//
// Records are only ever appended. append() syncs each before it returns; write() only writes, and
// flush() syncs what was written off the event loop (in libuv's thread pool): an agent starting a
// thousand tasks must not spend its event loop waiting for a thousand disk flushes in turn. Either
// way a crash can tear at most the last line: the reader drops a line without its newline (it was not durable, so it was
// never sent) and truncates the file back to the last whole record. When the log reaches its bound
// it is compacted: rewritten through a temporary file and a rename to what recovery still needs.

import {
  closeSync,
  constants,
  fdatasync,
  fdatasyncSync,
  fsync,
  open as openAsync,
  close as closeAsync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { isSafeId, isTaskReason, isTaskState, MusterError } from '../core/index.js';
import type { TaskStatus } from '../protocol/index.js';

/** UPDATE_LOG_FILE is the log's name inside its task directory. */
export const UPDATE_LOG_FILE = 'updates.jsonl';

/** MAX_UPDATE_LINE_BYTES bounds one record, newline included: room for a 4096-character message escaped. */
export const MAX_UPDATE_LINE_BYTES = 32 * 1024;

/** MAX_UPDATE_RECORDS bounds the records of one log; the writer compacts the log before it gets there. */
export const MAX_UPDATE_RECORDS = 256;

/** MAX_UPDATE_LOG_BYTES bounds what the reader accepts from one file. */
export const MAX_UPDATE_LOG_BYTES = MAX_UPDATE_LINE_BYTES * MAX_UPDATE_RECORDS;

/** Status uuids are at most this long (the master refuses longer ones). */
const MAX_UUID_CHARS = 64;

/** UpdateRecord is one line of the log. */
export type UpdateRecord = { update: TaskStatus } | { ack: string };

/** UpdateLogContents is what a log holds: the updates in the order written, and the uuids acknowledged. */
export interface UpdateLogContents {
  updates: TaskStatus[];
  acked: Set<string>;
  /** records counts the lines, acknowledgements included: the writer carries on from there. */
  records: number;
}

/** updateLogFile is the log of the task whose directory is dir. */
export function updateLogFile(dir: string): string {
  return path.join(dir, UPDATE_LOG_FILE);
}

/**
 * readUpdateLog reads a log back; a missing file is an empty log. A torn last line is dropped and
 * the file truncated to the last whole record. A file that is not a log (a record of unknown shape,
 * too large) throws a MusterError naming the file and the line; an I/O failure throws as it is.
 */
export function readUpdateLog(file: string): UpdateLogContents {
  let fd: number;
  try {
    // O_RDWR to truncate a torn tail; O_NOFOLLOW so that a link planted in a task dir leads nowhere.
    fd = openSync(file, constants.O_RDWR | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { updates: [], acked: new Set(), records: 0 };
    throw err;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw unreadable(file, 'it is not a regular file');
    if (stat.size > MAX_UPDATE_LOG_BYTES) {
      throw unreadable(file, `it holds ${stat.size} bytes, more than the ${MAX_UPDATE_LOG_BYTES} a log may hold`);
    }
    const buf = Buffer.alloc(stat.size);
    let read = 0;
    while (read < buf.length) {
      const n = readSync(fd, buf, read, buf.length - read, read);
      if (n === 0) break;
      read += n;
    }
    const whole = buf.lastIndexOf(0x0a, read - 1) + 1;
    if (whole < stat.size) {
      ftruncateSync(fd, whole);
      fdatasyncSync(fd);
    }
    return parseRecords(file, buf.subarray(0, whole));
  } finally {
    closeSync(fd);
  }
}

function parseRecords(file: string, buf: Buffer): UpdateLogContents {
  const contents: UpdateLogContents = { updates: [], acked: new Set(), records: 0 };
  const written = new Set<string>();
  let start = 0;
  while (start < buf.length) {
    const end = buf.indexOf(0x0a, start);
    const line = contents.records + 1;
    if (end + 1 - start > MAX_UPDATE_LINE_BYTES) throw unreadable(file, `line ${line} is longer than ${MAX_UPDATE_LINE_BYTES} bytes`, line);
    if (line > MAX_UPDATE_RECORDS) throw unreadable(file, `line ${line} is past the ${MAX_UPDATE_RECORDS} records a log may hold`, line);
    let doc: unknown;
    try {
      doc = JSON.parse(buf.toString('utf8', start, end));
    } catch {
      throw unreadable(file, `line ${line} is not JSON`, line);
    }
    const record = parseRecord(doc);
    if (record === undefined) throw unreadable(file, `line ${line} is neither a status update nor an acknowledgement`, line);
    if ('update' in record) {
      if (written.has(record.update.uuid)) throw unreadable(file, `line ${line} writes update ${record.update.uuid} a second time`, line);
      written.add(record.update.uuid);
      contents.updates.push(record.update);
    } else {
      // An ack of an update the log lacks is harmless: that update's own append had failed.
      contents.acked.add(record.ack);
    }
    contents.records++;
    start = end + 1;
  }
  return contents;
}

function parseRecord(doc: unknown): UpdateRecord | undefined {
  if (!isRecord(doc)) return undefined;
  const keys = Object.keys(doc);
  if (keys.length !== 1) return undefined;
  if (isUuid(doc['ack'])) return { ack: doc['ack'] };
  const update = parseStatus(doc['update']);
  return update === undefined ? undefined : { update };
}

/** parseStatus checks a written update and copies its known fields (a newer agent may write more). */
function parseStatus(raw: unknown): TaskStatus | undefined {
  if (!isRecord(raw)) return undefined;
  const { taskId, state, reason, message, uuid, timestamp, healthy } = raw;
  if (typeof taskId !== 'string' || !isSafeId(taskId) || !isTaskState(state) || !isUuid(uuid)) return undefined;
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) return undefined;
  const status: TaskStatus = { taskId, state, uuid, timestamp };
  if (reason !== undefined) {
    if (!isTaskReason(reason)) return undefined;
    status.reason = reason;
  }
  if (message !== undefined) {
    if (typeof message !== 'string') return undefined;
    status.message = message;
  }
  if (healthy !== undefined) {
    if (typeof healthy !== 'boolean') return undefined;
    status.healthy = healthy;
  }
  return status;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isUuid(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_UUID_CHARS;
}

function unreadable(file: string, why: string, line?: number): MusterError {
  const details: Record<string, unknown> = { file };
  if (line !== undefined) details['line'] = line;
  return new MusterError('INTERNAL', `Cannot read the update log ${file}: ${why}`, { details });
}

/** OpenedUpdateLog is a log ready for appends, and what it held when it was opened. */
export interface OpenedUpdateLog {
  log: UpdateLog;
  contents: UpdateLogContents;
}

/** UpdateLog appends to one task's log through one open file descriptor. */
export class UpdateLog {
  /** dirty: a failed append could not be cut back; the next append tries again first. */
  private dirty = false;
  /** Directories whose new entries (this log's file, the task's directory) flush() must make durable first. */
  private dirsToSync: string[];
  /** Flushes under way, and descriptors let go meanwhile (a compaction's old file, close()): closed once none runs. */
  private flushes = 0;
  private readonly retired: number[] = [];

  private constructor(
    readonly file: string,
    private fd: number | undefined,
    /** size is the length of the whole records; a failed append is cut back to it. */
    private size: number,
    private lines: number,
    dirsToSync: string[],
  ) {
    this.dirsToSync = dirsToSync;
  }

  /**
   * open creates dir if needed, reads the log there (see readUpdateLog) and opens it for appends.
   * It throws what readUpdateLog throws, and the I/O errors of creating the dir and the file.
   */
  static open(taskDir: string, options: { deferSync?: boolean } = {}): OpenedUpdateLog {
    const dir = path.resolve(taskDir);
    const file = updateLogFile(dir);
    const created = mkdirSync(dir, { recursive: true, mode: 0o700 });
    // A new directory entry is durable only once its parent directory is synced: now, or (deferSync)
    // by the first flush(), which comes before any record of the log is relied on.
    const dirs: string[] = [];
    if (created !== undefined) {
      for (let d = dir; ; d = path.dirname(d)) {
        dirs.push(path.dirname(d));
        if (d === created || path.dirname(d) === d) break;
      }
    }
    dirs.push(dir);
    // A compaction that crashed before its rename: the log itself is intact.
    rmSync(tmpFile(file), { force: true });
    const contents = readUpdateLog(file);
    const fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      if (options.deferSync !== true) for (const d of dirs.splice(0)) syncDir(d);
      return { log: new UpdateLog(file, fd, fstatSync(fd).size, contents.records, dirs), contents };
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** records counts the log's lines. */
  get records(): number {
    return this.lines;
  }

  /** append writes one record and syncs it; when it throws, the log is as it was before. */
  append(record: UpdateRecord): void {
    this.write(record);
    for (const d of this.dirsToSync.splice(0)) syncDir(d);
    fdatasyncSync(this.openFd());
  }

  /**
   * write writes one record without syncing it (flush() does); when it throws, the log is as it was
   * before. A crash before the flush loses the record (or tears it, which the reader cuts off).
   */
  write(record: UpdateRecord): void {
    const fd = this.openFd();
    const line = encode(record, this.file);
    if (this.lines >= MAX_UPDATE_RECORDS) {
      throw new MusterError('INTERNAL', `Cannot append to the update log ${this.file}: it holds ${MAX_UPDATE_RECORDS} records, its limit`);
    }
    if (this.dirty) {
      ftruncateSync(fd, this.size);
      this.dirty = false;
    }
    try {
      writeAll(fd, line);
    } catch (err) {
      // Cut a half-written line off now: appends after it would otherwise leave it mid-file.
      try {
        ftruncateSync(fd, this.size);
      } catch {
        this.dirty = true;
      }
      throw err;
    }
    this.size += line.length;
    this.lines++;
  }

  /**
   * rewrite replaces the log with records (compaction): they go to a temporary file, synced, that
   * is renamed over the log, so that a crash leaves either the old log or the new one.
   */
  rewrite(records: UpdateRecord[]): void {
    const oldFd = this.openFd();
    if (records.length > MAX_UPDATE_RECORDS) {
      throw new MusterError('INTERNAL', `Cannot rewrite the update log ${this.file} with ${records.length} records, more than its limit`);
    }
    const body = Buffer.concat(records.map((r) => encode(r, this.file)));
    const tmp = tmpFile(this.file);
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
    try {
      writeAll(fd, body);
      fdatasyncSync(fd);
      renameSync(tmp, this.file);
      syncDir(path.dirname(this.file));
    } catch (err) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw err;
    }
    // The new file's descriptor carries on: after the rename it is the log.
    this.retire(oldFd);
    this.fd = fd;
    this.size = body.length;
    this.lines = records.length;
    this.dirty = false;
  }

  /**
   * flush makes every record written so far durable, without blocking the event loop: the
   * directories a new log needs synced, then an fdatasync of the log, in the thread pool. The caller
   * must not close the log before it settles.
   */
  async flush(): Promise<void> {
    const fd = this.openFd();
    const dirs = this.dirsToSync.splice(0);
    this.flushes++;
    try {
      try {
        for (const d of dirs) await syncDirAsync(d);
      } catch (err) {
        this.dirsToSync.unshift(...dirs);
        throw err;
      }
      await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err === null ? resolve() : reject(err))));
    } finally {
      if (--this.flushes === 0) for (const old of this.retired.splice(0)) closeSync(old);
    }
  }

  /** retire closes a descriptor, or, while a flush may still use it, once the flushes are over. */
  private retire(fd: number): void {
    if (this.flushes > 0) this.retired.push(fd);
    else closeSync(fd);
  }

  /** close releases the file descriptor; later appends throw. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    this.retire(fd);
  }

  private openFd(): number {
    if (this.fd === undefined) throw new MusterError('INTERNAL', `The update log ${this.file} is closed`);
    return this.fd;
  }
}

function encode(record: UpdateRecord, file: string): Buffer {
  const line = Buffer.from(JSON.stringify(record) + '\n');
  if (line.length > MAX_UPDATE_LINE_BYTES) {
    throw new MusterError('INVALID_ARGUMENT', `Cannot write to the update log ${file}: a record of ${line.length} bytes is over the ${MAX_UPDATE_LINE_BYTES}-byte limit`);
  }
  return line;
}

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

function tmpFile(file: string): string {
  return `${file}.tmp`;
}

function syncDirAsync(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    openAsync(dir, constants.O_RDONLY | constants.O_DIRECTORY, (err, fd) => {
      if (err !== null) {
        reject(err);
        return;
      }
      fsync(fd, (syncErr) => closeAsync(fd, () => (syncErr === null ? resolve() : reject(syncErr))));
    });
  });
}

function syncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
