// RotatingLog appends a docker task's output to its sandbox's stdout or stderr and rotates it by
// size exactly as muster-supervisor rotates a process task's (name -> name.1 -> ... -> name.K), so
// `task logs -f`, the files API and the README's --log-max-size mean the same for both kinds.
// Writes are synchronous: each is one write(2) of a chunk the daemon already framed, cheaper than
// the promise an async write would cost, and it keeps the bytes in order across a rotation.

import { closeSync, fstatSync, openSync, readSync, renameSync, writeFileSync, writeSync } from 'node:fs';

export class RotatingLog {
  private fd: number;
  private size: number;

  constructor(
    private readonly file: string,
    private readonly maxBytes: number,
    private readonly maxFiles: number,
  ) {
    this.fd = openSync(file, 'a', 0o644);
    this.size = fstatSync(this.fd).size;
  }

  write(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.maxBytes > 0 && this.size > 0 && this.size + chunk.length > this.maxBytes) this.rotate();
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
    this.size += chunk.length;
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }

  private rotate(): void {
    closeSync(this.fd);
    if (this.maxFiles > 0) {
      for (let k = this.maxFiles; k >= 1; k--) {
        const from = k === 1 ? this.file : `${this.file}.${k - 1}`;
        try {
          renameSync(from, `${this.file}.${k}`);
        } catch {
          // a gap in the series (rotated fewer times than maxFiles): nothing to move
        }
      }
    }
    // With maxFiles 0 nothing is kept: the file starts again empty.
    this.fd = openSync(this.file, this.maxFiles > 0 ? 'a' : 'w', 0o644);
    this.size = 0;
  }
}

/** Frame header of the Engine's multiplexed stream: [type, 0, 0, 0, size uint32 BE]. */
const HEADER = 8;

/**
 * Demuxer splits the Engine's multiplexed log or exec stream (a container without a TTY) into its
 * stdout (type 1) and stderr (type 2) frames, whatever the chunk boundaries: a frame may arrive in
 * pieces, and one chunk may hold many frames.
 */
export class Demuxer {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (stream: 'stdout' | 'stderr', payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (buf.length >= HEADER) {
      const size = buf.readUInt32BE(4);
      if (buf.length < HEADER + size) break;
      const type = buf[0];
      const payload = buf.subarray(HEADER, HEADER + size);
      this.onFrame(type === 2 ? 'stderr' : 'stdout', payload);
      buf = buf.subarray(HEADER + size);
    }
    this.pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }
}

/** A mark file past this size is started again with its last mark only. */
const MARK_FILE_MAX = 64 * 1024;

/**
 * LogMark records, after each line of a docker task's output is written to its sandbox, the
 * daemon's timestamp of that line (nanoseconds since the epoch), appended to a small file. A new
 * agent after kill -9 resumes the container's log stream after the last mark: no line is written
 * twice, and none is lost but one caught between its write and its mark. Appending costs one
 * write(2) a line; rewriting a JSON file at each line would cost a file and a rename.
 */
export class LogMark {
  private fd = -1;
  private size = 0;

  constructor(private readonly file: string) {}

  /** read is the last mark in the file, 0n when there is none. */
  static read(file: string): bigint {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return 0n;
    }
    try {
      const size = fstatSync(fd).size;
      const len = Math.min(size, 128);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      const lines = buf.toString('latin1').split('\n').filter((l) => /^[0-9]{1,25}$/.test(l));
      const last = lines[lines.length - 1];
      return last === undefined ? 0n : BigInt(last);
    } finally {
      closeSync(fd);
    }
  }

  write(ns: bigint): void {
    if (this.fd < 0) {
      this.fd = openSync(this.file, 'a', 0o600);
      this.size = fstatSync(this.fd).size;
    }
    if (this.size > MARK_FILE_MAX) {
      closeSync(this.fd);
      writeFileSync(`${this.file}.tmp`, `${ns}\n`, { mode: 0o600 });
      renameSync(`${this.file}.tmp`, this.file);
      this.fd = openSync(this.file, 'a', 0o600);
      this.size = fstatSync(this.fd).size;
      return;
    }
    const line = `${ns}\n`;
    this.size += writeSync(this.fd, line);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
