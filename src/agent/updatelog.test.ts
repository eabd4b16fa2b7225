import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { MusterError } from '../core/index.js';
import type { TaskStatus } from '../protocol/index.js';
import { isRoot, requireOrSkip } from '../../test/require.js';
import { makeStatus } from './statusupdates.js';
import { MAX_UPDATE_LINE_BYTES, MAX_UPDATE_LOG_BYTES, MAX_UPDATE_RECORDS, readUpdateLog, UpdateLog, updateLogFile } from './updatelog.js';

/** tempDir makes a directory that is removed when the test ends, however it ends. */
function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'muster-updatelog-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** openLog opens the log of a task dir, closed when the test ends. */
function openLog(t: TestContext, dir: string): ReturnType<typeof UpdateLog.open> {
  const opened = UpdateLog.open(dir);
  t.after(() => opened.log.close());
  return opened;
}

function line(record: unknown): string {
  return JSON.stringify(record) + '\n';
}

function isUnreadable(file: string, lineNo?: number): (e: unknown) => boolean {
  return (e) =>
    e instanceof MusterError &&
    e.code === 'INTERNAL' &&
    e.message.includes(file) &&
    (lineNo === undefined || (e.details?.['line'] === lineNo && e.message.includes(`line ${lineNo}`)));
}

test('appended updates and acknowledgements read back in the order written', (t) => {
  const dir = path.join(tempDir(t), 'tasks', 't1');
  const { log, contents } = openLog(t, dir);
  assert.deepEqual(contents, { updates: [], acked: new Set(), records: 0 });
  const starting = makeStatus('t1', 'TASK_STARTING');
  const running: TaskStatus = { ...makeStatus('t1', 'TASK_RUNNING', { reason: 'REASON_COMMAND_EXITED', message: 'ok' }), healthy: true };
  log.append({ update: starting });
  log.append({ update: running });
  log.append({ ack: starting.uuid });
  assert.equal(log.records, 3);
  const read = readUpdateLog(updateLogFile(dir));
  assert.deepEqual(read.updates, [starting, running]);
  assert.deepEqual(read.acked, new Set([starting.uuid]));
  assert.equal(read.records, 3);
});

test('a missing log reads as empty and is not created by reading', (t) => {
  const file = updateLogFile(path.join(tempDir(t), 'nope'));
  assert.deepEqual(readUpdateLog(file), { updates: [], acked: new Set(), records: 0 });
  assert.equal(existsSync(file), false);
});

test('a torn last line is ignored and cut off the file, and appends carry on after it', (t) => {
  const dir = tempDir(t);
  const file = updateLogFile(dir);
  const a = makeStatus('t1', 'TASK_RUNNING');
  const b = makeStatus('t1', 'TASK_FINISHED');
  const whole = line({ update: a });
  writeFileSync(file, whole + line({ update: b }).slice(0, 30));
  const read = readUpdateLog(file);
  assert.deepEqual(read.updates, [a]);
  assert.equal(readFileSync(file, 'utf8'), whole);
  // A complete record without its newline was not durable either (its fdatasync had not returned).
  appendFileSync(file, line({ ack: a.uuid }).trimEnd());
  assert.deepEqual(readUpdateLog(file).acked, new Set());
  assert.equal(readFileSync(file, 'utf8'), whole);
  const { log } = openLog(t, dir);
  log.append({ update: b });
  assert.deepEqual(readUpdateLog(file).updates, [a, b]);
});

test('a record of unknown shape is an error naming the file and the line', (t) => {
  const file = updateLogFile(tempDir(t));
  const good = line({ update: makeStatus('t1', 'TASK_RUNNING') });
  const bad: [string, string][] = [
    ['an unknown record', line({ kill: 'x' })],
    ['two keys', line({ ack: 'u', update: makeStatus('t1', 'TASK_RUNNING') })],
    ['not JSON', '{"ack": \n'],
    ['an unknown state', line({ update: { ...makeStatus('t1', 'TASK_RUNNING'), state: 'TASK_BOGUS' } })],
    ['an unknown reason', line({ update: { ...makeStatus('t1', 'TASK_RUNNING'), reason: 'BECAUSE' } })],
    ['a timestamp that is not a number', line({ update: { ...makeStatus('t1', 'TASK_RUNNING'), timestamp: '1' } })],
    ['an unsafe task id', line({ update: makeStatus('../t1', 'TASK_RUNNING') })],
    ['an empty uuid', line({ ack: '' })],
    ['a uuid too long', line({ ack: 'u'.repeat(65) })],
    ['an empty line', '\n'],
  ];
  for (const [what, text] of bad) {
    writeFileSync(file, good + text);
    assert.throws(() => readUpdateLog(file), isUnreadable(file, 2), what);
  }
  const dup = line({ update: makeStatus('t1', 'TASK_RUNNING') });
  writeFileSync(file, dup + dup);
  assert.throws(() => readUpdateLog(file), isUnreadable(file, 2), 'an update written twice');
});

test('fields a newer agent may write are ignored, and an ack of an update the log lacks is harmless', (t) => {
  const file = updateLogFile(tempDir(t));
  const s = makeStatus('t1', 'TASK_RUNNING');
  writeFileSync(file, line({ ack: 'lost-update' }) + line({ update: { ...s, future: 1 } }));
  const read = readUpdateLog(file);
  assert.deepEqual(read.updates, [s]);
  assert.equal(read.records, 2);
});

test('the reader bounds the file, its lines and its records', (t) => {
  const file = updateLogFile(tempDir(t));
  writeFileSync(file, Buffer.alloc(MAX_UPDATE_LOG_BYTES + 1, 0x0a));
  assert.throws(() => readUpdateLog(file), isUnreadable(file));
  writeFileSync(file, line({ update: { ...makeStatus('t1', 'TASK_RUNNING'), message: 'm'.repeat(MAX_UPDATE_LINE_BYTES) } }));
  assert.throws(() => readUpdateLog(file), isUnreadable(file, 1));
  writeFileSync(file, line({ ack: 'u' }).repeat(MAX_UPDATE_RECORDS + 1));
  assert.throws(() => readUpdateLog(file), isUnreadable(file, MAX_UPDATE_RECORDS + 1));
});

test('the writer refuses a record over the line bound or past the record bound, leaving the log as it was', (t) => {
  const dir = tempDir(t);
  const file = updateLogFile(dir);
  const { log } = openLog(t, dir);
  const huge = { ...makeStatus('t1', 'TASK_FAILED'), message: 'm'.repeat(MAX_UPDATE_LINE_BYTES) };
  assert.throws(() => log.append({ update: huge }), (e: unknown) => e instanceof MusterError && /limit/.test(e.message));
  assert.equal(statSync(file).size, 0);
  for (let i = 0; i < MAX_UPDATE_RECORDS; i++) log.append({ ack: `u${i}` });
  const size = statSync(file).size;
  assert.throws(() => log.append({ ack: 'one-more' }), (e: unknown) => e instanceof MusterError && /limit/.test(e.message));
  assert.equal(statSync(file).size, size);
  assert.equal(readUpdateLog(file).records, MAX_UPDATE_RECORDS);
});

test('rewrite replaces the log whole, and later appends go to the new one', (t) => {
  const dir = tempDir(t);
  const file = updateLogFile(dir);
  const { log } = openLog(t, dir);
  const old = makeStatus('t1', 'TASK_STARTING');
  const kept = makeStatus('t1', 'TASK_RUNNING');
  log.append({ update: old });
  log.append({ ack: old.uuid });
  log.append({ update: kept });
  log.rewrite([{ update: kept }]);
  assert.equal(log.records, 1);
  const next = makeStatus('t1', 'TASK_FINISHED');
  log.append({ update: next });
  assert.deepEqual(readUpdateLog(file).updates, [kept, next]);
  assert.deepEqual(readdirSync(dir), ['updates.jsonl']);
});

test('open creates the task dir and removes what a crashed compaction left', (t) => {
  const root = tempDir(t);
  const dir = path.join(root, 'tasks', 't1');
  mkdirSync(dir, { recursive: true });
  writeFileSync(updateLogFile(dir) + '.tmp', 'half a compaction');
  openLog(t, dir);
  assert.deepEqual(readdirSync(dir), ['updates.jsonl']);
  const fresh = path.join(root, 'deeper', 'tasks', 't2');
  openLog(t, fresh);
  assert.ok(statSync(updateLogFile(fresh)).isFile());
});

test('a log that is a symbolic link is not followed', (t) => {
  const dir = tempDir(t);
  const target = path.join(dir, 'elsewhere');
  writeFileSync(target, '');
  symlinkSync(target, updateLogFile(dir));
  assert.throws(() => readUpdateLog(updateLogFile(dir)), (e: unknown) => (e as NodeJS.ErrnoException).code === 'ELOOP');
  assert.throws(() => UpdateLog.open(dir), (e: unknown) => (e as NodeJS.ErrnoException).code === 'ELOOP');
  assert.equal(readFileSync(target, 'utf8'), '');
});

test('an append that fails for want of space leaves no partial record behind', (t) => {
  if (!requireOrSkip(t, isRoot(), 'needs root to mount a small tmpfs')) return;
  const mnt = mkdtempSync(path.join(os.tmpdir(), 'muster-updatelog-full-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
  let log: UpdateLog | undefined;
  try {
    if (!requireOrSkip(t, mounted.status === 0, `needs mount (${mounted.stderr.toString().trim()})`)) return;
    const dir = path.join(mnt, 't1');
    const file = updateLogFile(dir);
    log = UpdateLog.open(dir).log;
    const first = makeStatus('t1', 'TASK_RUNNING');
    log.append({ update: first });
    // Leave one page free, less than the next record needs, so that its write is cut short.
    const fs = statfsSync(mnt);
    writeFileSync(path.join(mnt, 'filler'), Buffer.alloc(fs.bavail * fs.bsize - 4096));
    const big = { ...makeStatus('t1', 'TASK_FAILED'), message: 'm'.repeat(20_000) };
    const size = statSync(file).size;
    assert.throws(() => log?.append({ update: big }), (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOSPC');
    assert.equal(statSync(file).size, size);
    assert.deepEqual(readUpdateLog(file).updates, [first]);
    rmSync(path.join(mnt, 'filler'));
    log.append({ update: big });
    assert.deepEqual(readUpdateLog(file).updates, [first, big]);
  } finally {
    log?.close();
    if (mounted.status === 0) spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});
