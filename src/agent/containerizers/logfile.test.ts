import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { Demuxer, LogMark, RotatingLog } from './logfile.js';

/** tempDir makes a directory that is removed when the test ends, however it ends. */
function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'muster-logfile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** openLog opens a RotatingLog on dir/stdout, closed when the test ends. */
function openLog(t: TestContext, dir: string, maxBytes: number, maxFiles: number): RotatingLog {
  const log = new RotatingLog(path.join(dir, 'stdout'), maxBytes, maxFiles);
  t.after(() => log.close());
  return log;
}

function read(dir: string, name: string): string {
  return readFileSync(path.join(dir, name), 'utf8');
}

describe('RotatingLog', () => {
  test('appends to what the file holds already', (t) => {
    const dir = tempDir(t);
    writeFileSync(path.join(dir, 'stdout'), 'before\n');
    const log = openLog(t, dir, 1024, 3);
    log.write(Buffer.from('one\n'));
    log.write(Buffer.alloc(0));
    log.write(Buffer.from('two\n'));
    assert.equal(read(dir, 'stdout'), 'before\none\ntwo\n');
    assert.deepEqual(readdirSync(dir), ['stdout']);
  });

  test('rotates name to name.1 … name.K, keeps at most K, and loses nothing in the newest', (t) => {
    const dir = tempDir(t);
    // As the supervisor's test: 4-byte lines into 10-byte files, two lines a file, 3 rotated files kept.
    const log = openLog(t, dir, 10, 3);
    for (let i = 1; i <= 11; i++) log.write(Buffer.from(`l${String(i).padStart(2, '0')}\n`));
    assert.deepEqual(readdirSync(dir).sort(), ['stdout', 'stdout.1', 'stdout.2', 'stdout.3']);
    assert.equal(read(dir, 'stdout'), 'l11\n');
    assert.equal(read(dir, 'stdout.1'), 'l09\nl10\n');
    assert.equal(read(dir, 'stdout.2'), 'l07\nl08\n');
    assert.equal(read(dir, 'stdout.3'), 'l05\nl06\n', 'the oldest is dropped');
    for (const f of readdirSync(dir)) assert.ok(statSync(path.join(dir, f)).size <= 10, f);
  });

  test('rotates a file it did not write itself by its size when opened', (t) => {
    const dir = tempDir(t);
    writeFileSync(path.join(dir, 'stdout'), '12345678');
    writeFileSync(path.join(dir, 'stdout.1'), 'older');
    const log = openLog(t, dir, 10, 2);
    log.write(Buffer.from('abc'));
    assert.equal(read(dir, 'stdout'), 'abc');
    assert.equal(read(dir, 'stdout.1'), '12345678');
    assert.equal(read(dir, 'stdout.2'), 'older');
  });

  test('a chunk larger than the limit goes whole into a fresh file, never cut', (t) => {
    const dir = tempDir(t);
    const log = openLog(t, dir, 10, 2);
    log.write(Buffer.from('x'.repeat(25)));
    assert.deepEqual(readdirSync(dir), ['stdout'], 'an empty file is not rotated');
    log.write(Buffer.from('y'.repeat(30)));
    assert.equal(read(dir, 'stdout'), 'y'.repeat(30));
    assert.equal(read(dir, 'stdout.1'), 'x'.repeat(25));
  });

  test('a chunk that exactly fills the file does not rotate it', (t) => {
    const dir = tempDir(t);
    const log = openLog(t, dir, 10, 2);
    log.write(Buffer.from('12345'));
    log.write(Buffer.from('67890'));
    assert.deepEqual(readdirSync(dir), ['stdout']);
    log.write(Buffer.from('a'));
    assert.equal(read(dir, 'stdout.1'), '1234567890');
    assert.equal(read(dir, 'stdout'), 'a');
  });

  test('maxBytes 0 never rotates', (t) => {
    const dir = tempDir(t);
    const log = openLog(t, dir, 0, 3);
    for (let i = 0; i < 1000; i++) log.write(Buffer.from('0123456789'));
    assert.deepEqual(readdirSync(dir), ['stdout']);
    assert.equal(statSync(path.join(dir, 'stdout')).size, 10_000);
  });

  test('maxFiles 0 keeps nothing: the file starts again empty', (t) => {
    const dir = tempDir(t);
    const log = openLog(t, dir, 10, 0);
    log.write(Buffer.from('aaaaaaaa'));
    log.write(Buffer.from('bbbbbbbb'));
    assert.deepEqual(readdirSync(dir), ['stdout']);
    assert.equal(read(dir, 'stdout'), 'bbbbbbbb');
    log.write(Buffer.from('c'));
    assert.equal(read(dir, 'stdout'), 'bbbbbbbbc');
  });
});

/** frame is one frame of the Engine's multiplexed stream. */
function frame(type: number, payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** demux feeds the chunks to a Demuxer and returns the frames it heard, as [stream, text]. */
function demux(chunks: readonly Buffer[]): [string, string][] {
  const heard: [string, string][] = [];
  const d = new Demuxer((stream, payload) => heard.push([stream, payload.toString('latin1')]));
  for (const c of chunks) d.push(c);
  return heard;
}

/** split cuts a buffer at reproducible pseudo-random places, each piece 1 to max bytes. */
function split(buf: Buffer, seed: number, max: number): Buffer[] {
  const out: Buffer[] = [];
  let x = seed;
  for (let at = 0; at < buf.length; ) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (x % max);
    // Copies, so that the Demuxer cannot lean on the pieces being views of one buffer.
    out.push(Buffer.from(buf.subarray(at, at + n)));
    at += n;
  }
  return out;
}

describe('Demuxer', () => {
  const frames: [number, string][] = [
    [1, 'hello\n'],
    [2, 'oops\n'],
    [1, 'a'],
    [2, `${'e'.repeat(300)}\n`],
    [1, ''],
    [1, 'bytes \u00ff\u0000\u0001 and a header-like 02000000 in the payload\n'],
    [2, 'last\n'],
  ];
  const stream = Buffer.concat(frames.map(([type, text]) => frame(type, Buffer.from(text, 'latin1'))));
  const expected = frames.map(([type, text]): [string, string] => [type === 2 ? 'stderr' : 'stdout', text]);

  test('splits one chunk holding many frames into stdout and stderr', () => {
    assert.deepEqual(demux([stream]), expected);
  });

  test('splits the same frames fed one byte at a time', () => {
    assert.deepEqual(demux(split(stream, 0, 1)), expected);
  });

  test('splits the same frames whatever the chunk boundaries', () => {
    for (let seed = 1; seed <= 50; seed++) {
      assert.deepEqual(demux(split(stream, seed, 40)), expected, `seed ${seed}`);
    }
  });

  test('holds a frame back until all of it has arrived', () => {
    const heard: string[] = [];
    const d = new Demuxer((_, payload) => heard.push(payload.toString()));
    const whole = frame(1, 'complete line\n');
    d.push(whole.subarray(0, 5));
    d.push(whole.subarray(5, 12));
    assert.deepEqual(heard, [], 'neither a header nor a payload in part is a frame');
    d.push(whole.subarray(12));
    assert.deepEqual(heard, ['complete line\n']);
  });

  test('a large frame arriving in pieces comes out whole', () => {
    const big = Buffer.alloc(200_000, 'z');
    const heard = demux(split(Buffer.concat([frame(2, big), frame(1, 'after\n')]), 7, 4096));
    assert.equal(heard.length, 2);
    assert.equal(heard[0]?.[0], 'stderr');
    assert.equal(heard[0]?.[1].length, 200_000);
    assert.deepEqual(heard[1], ['stdout', 'after\n']);
  });
});

describe('LogMark', () => {
  test('read is 0n for a file that does not exist', (t) => {
    assert.equal(LogMark.read(path.join(tempDir(t), 'missing.mark')), 0n);
  });

  test('read returns the last mark written, also after another writer appends', (t) => {
    const file = path.join(tempDir(t), 'logs.mark');
    const mark = new LogMark(file);
    t.after(() => mark.close());
    for (const ns of [1_700_000_000_000_000_001n, 1_700_000_000_000_000_002n, 1_800_000_000_123_456_789n]) mark.write(ns);
    assert.equal(LogMark.read(file), 1_800_000_000_123_456_789n);
    mark.close();
    // A new agent writes on after the old one's marks.
    const next = new LogMark(file);
    t.after(() => next.close());
    next.write(1_800_000_000_123_456_790n);
    assert.equal(LogMark.read(file), 1_800_000_000_123_456_790n);
  });

  test('the file is compacted past 64 KiB and still reads the last mark', (t) => {
    const dir = tempDir(t);
    const file = path.join(dir, 'logs.mark');
    const mark = new LogMark(file);
    t.after(() => mark.close());
    const base = 1_700_000_000_000_000_000n;
    let largest = 0;
    let compacted = false;
    // 20 bytes a mark: past 64 KiB after about 3,300 of them.
    for (let i = 0n; i < 8000n; i++) {
      mark.write(base + i);
      const size = statSync(file).size;
      if (size < largest) compacted = true;
      largest = Math.max(largest, size);
      assert.equal(LogMark.read(file), base + i, `after mark ${i}`);
    }
    assert.ok(compacted, 'the file was started again');
    assert.ok(largest <= 64 * 1024 + 20, `the file grew to ${largest} bytes`);
    assert.equal(existsSync(`${file}.tmp`), false);
  });
});
