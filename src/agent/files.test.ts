import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MusterError } from '../core/index.js';
import { MAX_READ_LENGTH, readFileChunk } from './files.js';
import { createSandbox } from './sandbox.js';
import { prepareWorkDir } from './workdir.js';

describe('files API', () => {
  let workDir: string;
  let active = true;
  const read = (query: string) =>
    readFileChunk(new URLSearchParams(query), { workDir, isActive: (id) => id === 'task-1' && active });
  const rejectsWith = (query: string, code: string) =>
    assert.rejects(read(query), (e: unknown) => e instanceof MusterError && e.code === code);

  before(() => {
    workDir = prepareWorkDir(mkdtempSync(path.join(os.tmpdir(), 'muster-files-')));
    const sandbox = createSandbox(workDir, 'task-1');
    writeFileSync(path.join(sandbox, 'stdout'), '0123456789');
    writeFileSync(path.join(sandbox, 'big'), Buffer.alloc(MAX_READ_LENGTH + 10, 'x'));
    writeFileSync(path.join(workDir, 'secret'), 'agent secret');
    symlinkSync(path.join(workDir, 'secret'), path.join(sandbox, 'escape'));
    mkdirSync(path.join(sandbox, 'logs'));
    writeFileSync(path.join(sandbox, 'logs', 'app.log'), 'nested');
    symlinkSync(path.join(sandbox, 'logs', 'app.log'), path.join(sandbox, 'inside-link'));
  });

  after(() => rmSync(workDir, { recursive: true, force: true }));

  test('without an offset it returns the last length bytes of the file', async () => {
    assert.deepEqual(await read('task=task-1&path=stdout&length=4'), { path: 'stdout', offset: 6, size: 10, data: '6789', eof: false });
  });

  test('with an offset it returns the bytes from there, and nothing past the end', async () => {
    assert.equal((await read('task=task-1&path=stdout&offset=2&length=3')).data, '234');
    assert.deepEqual(await read('task=task-1&path=stdout&offset=50'), { path: 'stdout', offset: 50, size: 10, data: '', eof: false });
  });

  test('path defaults to stdout and nested files and links inside the sandbox are readable', async () => {
    assert.equal((await read('task=task-1')).data, '0123456789');
    assert.equal((await read('task=task-1&path=logs/app.log')).data, 'nested');
    assert.equal((await read('task=task-1&path=inside-link')).data, 'nested');
  });

  test('a read is capped at 1 MiB however much is asked for', async () => {
    const chunk = await read(`task=task-1&path=big&offset=0&length=${10 * MAX_READ_LENGTH}`);
    assert.equal(chunk.data.length, MAX_READ_LENGTH);
  });

  test('eof is true once the task has ended', async () => {
    active = false;
    try {
      assert.equal((await read('task=task-1&path=stdout')).eof, true);
    } finally {
      active = true;
    }
  });

  test('paths that leave the sandbox are forbidden, through .. or through a symbolic link', async () => {
    await rejectsWith('task=task-1&path=../../secret', 'FORBIDDEN');
    await rejectsWith('task=task-1&path=/etc/passwd', 'FORBIDDEN');
    await rejectsWith('task=task-1&path=escape', 'FORBIDDEN');
    await rejectsWith('task=task-1&path=../task-2/stdout', 'FORBIDDEN');
  });

  test('an unknown task or file is not found, and a bad task id or number is refused', async () => {
    await rejectsWith('task=task-2&path=stdout', 'TASK_NOT_FOUND');
    await rejectsWith('task=task-1&path=nope', 'NOT_FOUND');
    await rejectsWith('task=task-1&path=logs', 'NOT_FOUND');
    await rejectsWith('task=..&path=stdout', 'INVALID_ARGUMENT');
    await rejectsWith('task=task-1&offset=-1', 'INVALID_ARGUMENT');
    await rejectsWith('task=task-1&length=1e3', 'INVALID_ARGUMENT');
  });
});
