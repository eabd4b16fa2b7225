import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, test } from 'node:test';
import { MusterError } from '../core/index.js';
import { silentLogger } from '../log/index.js';
import { hasBinary, requireOrSkip } from '../../test/require.js';
import {
  browseSandbox,
  contentDisposition,
  MAX_BROWSE_ENTRIES,
  MAX_READ_LENGTH,
  modeString,
  openDownload,
  readFileChunk,
} from './files.js';
import { createSandbox, normalizeRelative } from './sandbox.js';
import { startServer, type AgentServer } from './server.js';
import { prepareWorkDir } from './workdir.js';

const isCode = (code: string) => (e: unknown) => e instanceof MusterError && e.code === code;

describe('files API', () => {
  let workDir: string;
  let sandbox: string;
  let active = true;
  const context = () => ({ workDir, isActive: (id: string) => id === 'task-1' && active });
  const read = (query: string) => readFileChunk(new URLSearchParams(query), context());
  const browse = (query: string) => browseSandbox(new URLSearchParams(query), context());
  const download = (query: string) => openDownload(new URLSearchParams(query), context());
  const rejectsWith = (query: string, code: string) => assert.rejects(read(query), isCode(code));

  before(() => {
    workDir = prepareWorkDir(mkdtempSync(path.join(os.tmpdir(), 'muster-files-')));
    sandbox = createSandbox(workDir, 'task-1');
    writeFileSync(path.join(sandbox, 'stdout'), '0123456789');
    writeFileSync(path.join(sandbox, 'big'), Buffer.alloc(MAX_READ_LENGTH + 10, 'x'));
    writeFileSync(path.join(workDir, 'secret'), 'agent secret');
    mkdirSync(path.join(workDir, 'outside-dir'));
    writeFileSync(path.join(workDir, 'outside-dir', 'x'), 'outside');
    symlinkSync(path.join(workDir, 'secret'), path.join(sandbox, 'escape'));
    symlinkSync('../../secret', path.join(sandbox, 'escape-relative'));
    symlinkSync(path.join(workDir, 'no-such-file'), path.join(sandbox, 'escape-missing'));
    symlinkSync(path.join(workDir, 'outside-dir'), path.join(sandbox, 'escape-dir'));
    symlinkSync('escape', path.join(sandbox, 'escape-chain'));
    symlinkSync('loop', path.join(sandbox, 'loop'));
    mkdirSync(path.join(sandbox, 'logs'));
    writeFileSync(path.join(sandbox, 'logs', 'app.log'), 'nested');
    symlinkSync(path.join(sandbox, 'logs', 'app.log'), path.join(sandbox, 'inside-link'));
    symlinkSync('logs', path.join(sandbox, 'logs-link'));
    mkdirSync(path.join(sandbox, '.muster'));
    writeFileSync(path.join(sandbox, '.muster', 'exit.json'), '{"code":0}');
    chmodSync(path.join(sandbox, 'stdout'), 0o640);
    utimesSync(path.join(sandbox, 'stdout'), 1_700_000_000, 1_700_000_000);
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
    assert.equal((await read('task=task-1&path=logs-link/app.log')).data, 'nested');
    assert.equal((await read('task=task-1&path=.muster/exit.json')).data, '{"code":0}');
    assert.equal((await read('task=task-1&path=logs/../stdout')).data, '0123456789', '.. that stays inside is allowed');
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

  test('paths that leave the sandbox are forbidden, through .., an absolute path, a NUL byte or a symbolic link', async () => {
    await rejectsWith('task=task-1&path=../../secret', 'FORBIDDEN');
    await rejectsWith('task=task-1&path=/etc/passwd', 'FORBIDDEN');
    await rejectsWith(`task=task-1&path=${encodeURIComponent(path.join(sandbox, 'stdout'))}`, 'FORBIDDEN');
    await rejectsWith('task=task-1&path=stdout%00.txt', 'FORBIDDEN');
    await rejectsWith('task=task-1&path=escape', 'FORBIDDEN');
    await rejectsWith('task=task-1&path=escape-relative', 'FORBIDDEN');
    await rejectsWith('task=task-1&path=escape-chain', 'FORBIDDEN');
    await rejectsWith('task=task-1&path=escape-dir/x', 'FORBIDDEN');
    await rejectsWith('task=task-1&path=../task-2/stdout', 'FORBIDDEN');
  });

  test('a link to a missing outside file is forbidden like a link to an existing one, revealing nothing', async () => {
    const existing = await read('task=task-1&path=escape').catch((e: unknown) => e);
    const missing = await read('task=task-1&path=escape-missing').catch((e: unknown) => e);
    assert.ok(existing instanceof MusterError && missing instanceof MusterError);
    assert.equal(existing.code, 'FORBIDDEN');
    assert.equal(missing.code, 'FORBIDDEN');
    assert.ok(!missing.message.includes(workDir) && !existing.message.includes('secret'), 'the message names only what was asked');
  });

  test('an unknown task or file is not found, and a bad task id or number is refused', async () => {
    await rejectsWith('task=task-2&path=stdout', 'TASK_NOT_FOUND');
    await rejectsWith('task=task-1&path=nope', 'NOT_FOUND');
    await rejectsWith('task=task-1&path=logs', 'NOT_FOUND');
    await rejectsWith('task=task-1&path=stdout/x', 'NOT_FOUND');
    await rejectsWith('task=task-1&path=loop', 'NOT_FOUND');
    await rejectsWith('task=..&path=stdout', 'INVALID_ARGUMENT');
    await rejectsWith('task=task-1&offset=-1', 'INVALID_ARGUMENT');
    await rejectsWith('task=task-1&length=1e3', 'INVALID_ARGUMENT');
    await rejectsWith(`task=task-1&path=${'a/'.repeat(3000)}`, 'INVALID_ARGUMENT');
  });

  test('a FIFO in the sandbox is refused without being opened, so a read cannot hang the agent', async (t) => {
    if (!requireOrSkip(t, hasBinary('mkfifo'), 'needs mkfifo on PATH')) return;
    const fifo = path.join(sandbox, 'pipe');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    try {
      await rejectsWith('task=task-1&path=pipe', 'NOT_FOUND');
      await assert.rejects(download('task=task-1&path=pipe'), isCode('NOT_FOUND'));
      const listing = await browse('task=task-1');
      assert.equal(listing.entries.find((e) => e.name === 'pipe')?.type, 'other');
    } finally {
      rmSync(fifo, { force: true });
    }
  });

  test('browse lists the sandbox root sorted by name, with links listed and not followed', async () => {
    const listing = await browse('task=task-1');
    assert.equal(listing.path, '');
    assert.equal(listing.truncated, undefined);
    const names = listing.entries.map((e) => e.name);
    assert.deepEqual(names, [...names].sort());
    assert.ok(names.includes('.muster') && names.includes('tmp') && names.includes('stdout'));
    const byName = new Map(listing.entries.map((e) => [e.name, e]));
    const stdout = byName.get('stdout');
    assert.deepEqual(stdout, {
      name: 'stdout',
      path: 'stdout',
      type: 'file',
      size: 10,
      mode: '-rw-r-----',
      mtime: 1_700_000_000_000,
      uid: process.getuid?.() ?? stdout?.uid,
      gid: process.getgid?.() ?? stdout?.gid,
    });
    assert.equal(byName.get('logs')?.type, 'dir');
    assert.match(byName.get('logs')?.mode ?? '', /^d/);
    const escape = byName.get('escape');
    assert.equal(escape?.type, 'symlink');
    assert.equal(escape?.size, path.join(workDir, 'secret').length, 'a link is lstat-ed: its size is its target\'s length');
    assert.equal(byName.get('escape-missing')?.type, 'symlink');
  });

  test('browse goes into subdirectories and links to them inside the sandbox, and lists a file alone', async () => {
    const logs = await browse('task=task-1&path=logs/');
    assert.equal(logs.path, 'logs');
    assert.deepEqual(logs.entries.map((e) => [e.name, e.path, e.type]), [['app.log', 'logs/app.log', 'file']]);
    const viaLink = await browse('task=task-1&path=logs-link');
    assert.deepEqual(viaLink.entries.map((e) => e.path), ['logs-link/app.log']);
    const file = await browse('task=task-1&path=logs/app.log');
    assert.deepEqual(file.entries.map((e) => [e.name, e.path, e.size]), [['app.log', 'logs/app.log', 6]]);
    assert.deepEqual((await browse('task=task-1&path=.')).entries.length, (await browse('task=task-1')).entries.length);
  });

  test('browse refuses to leave the sandbox', async () => {
    for (const p of ['..', '../..', '/', '/etc', 'escape-dir', 'escape-dir/', 'logs/../../', 'a%00b']) {
      await assert.rejects(browse(`task=task-1&path=${p}`), isCode('FORBIDDEN'), `browsing "${p}" is forbidden`);
    }
    await assert.rejects(browse('task=task-9'), isCode('TASK_NOT_FOUND'));
    await assert.rejects(browse('task=task-1&path=nope'), isCode('NOT_FOUND'));
  });

  test('browse returns at most 10,000 entries, the first by name, and says it truncated', async () => {
    const many = path.join(sandbox, 'many');
    mkdirSync(many);
    try {
      for (let i = 0; i < MAX_BROWSE_ENTRIES + 5; i++) writeFileSync(path.join(many, `f${String(i).padStart(5, '0')}`), '');
      const listing = await browse('task=task-1&path=many');
      assert.equal(listing.truncated, true);
      assert.equal(listing.entries.length, MAX_BROWSE_ENTRIES);
      assert.equal(listing.entries[0]?.name, 'f00000');
      assert.equal(listing.entries.at(-1)?.name, `f${String(MAX_BROWSE_ENTRIES - 1).padStart(5, '0')}`);
    } finally {
      rmSync(many, { recursive: true, force: true });
    }
  });

  test('download streams a regular file whole, and only a regular file inside the sandbox', async () => {
    const file = await download('task=task-1&path=logs/app.log');
    assert.equal(file.name, 'app.log');
    assert.equal(file.size, 6);
    assert.equal((await buffer(file.stream)).toString(), 'nested');
    const big = await download('task=task-1&path=big');
    assert.equal((await buffer(big.stream)).length, MAX_READ_LENGTH + 10, 'a download is not capped like a read');
    const empty = path.join(sandbox, 'empty');
    writeFileSync(empty, '');
    try {
      const none = await download('task=task-1&path=empty');
      assert.equal(none.size, 0);
      assert.equal((await buffer(none.stream)).length, 0);
    } finally {
      rmSync(empty);
    }
    await assert.rejects(download('task=task-1&path=logs'), isCode('NOT_FOUND'));
    await assert.rejects(download('task=task-1'), isCode('INVALID_ARGUMENT'));
    await assert.rejects(download('task=task-1&path=escape'), isCode('FORBIDDEN'));
    await assert.rejects(download('task=task-1&path=../../secret'), isCode('FORBIDDEN'));
    await assert.rejects(download('task=task-3&path=stdout'), isCode('TASK_NOT_FOUND'));
  });
});

describe('file helpers', () => {
  test('normalizeRelative keeps inside paths and refuses escapes without touching the disk', () => {
    assert.equal(normalizeRelative(''), '');
    assert.equal(normalizeRelative('.'), '');
    assert.equal(normalizeRelative('./a//b/./c/'), 'a/b/c');
    assert.equal(normalizeRelative('a/../b'), 'b');
    for (const bad of ['..', '../x', 'a/../../x', '/x', 'a\0b']) {
      assert.throws(() => normalizeRelative(bad), isCode('FORBIDDEN'), `"${bad}" is forbidden`);
    }
  });

  test('modeString writes modes as ls -l does, special bits included', () => {
    assert.equal(modeString(0o100644), '-rw-r--r--');
    assert.equal(modeString(0o040755), 'drwxr-xr-x');
    assert.equal(modeString(0o041777), 'drwxrwxrwt');
    assert.equal(modeString(0o120777), 'lrwxrwxrwx');
    assert.equal(modeString(0o104755), '-rwsr-xr-x');
    assert.equal(modeString(0o102644), '-rw-r-Sr--');
    assert.equal(modeString(0o010600), 'prw-------');
  });

  test('contentDisposition quotes a file name safely and keeps the exact name in RFC 5987 form', () => {
    assert.equal(contentDisposition('app.log'), `attachment; filename="app.log"; filename*=UTF-8''app.log`);
    assert.equal(contentDisposition('a"b\\c;d\r\n.txt'), `attachment; filename="a_b_c_d__.txt"; filename*=UTF-8''a%22b%5Cc%3Bd%0D%0A.txt`);
    assert.equal(contentDisposition('héllo (1).txt'), `attachment; filename="h_llo (1).txt"; filename*=UTF-8''h%C3%A9llo%20%281%29.txt`);
  });
});

describe('the agent server', () => {
  let workDir: string;
  let server: AgentServer;
  const token = 'T'.repeat(43);
  const withToken = { authorization: `Bearer ${token}` };
  const get = (pathAndQuery: string, method = 'GET', headers: Record<string, string> = withToken) =>
    fetch(`http://127.0.0.1:${server.port}${pathAndQuery}`, { method, headers });

  before(async () => {
    workDir = prepareWorkDir(mkdtempSync(path.join(os.tmpdir(), 'muster-files-server-')));
    const sandbox = createSandbox(workDir, 'task-1');
    writeFileSync(path.join(sandbox, 'stdout'), 'hello\n');
    mkdirSync(path.join(sandbox, 'out'));
    writeFileSync(path.join(sandbox, 'out', 'report "1".csv'), 'a,b\n1,2\n');
    writeFileSync(path.join(workDir, 'secret'), 'agent secret');
    symlinkSync(path.join(workDir, 'secret'), path.join(sandbox, 'escape'));
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
      routes: { workDir, apiToken: token, agentId: () => 'agent-1', tasks: () => [], isActive: () => false, metrics: () => '', exec: () => Promise.resolve() },
    });
  });

  after(async () => {
    await server.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  test('GET /files/download streams the file as an attachment with its length and name', async () => {
    const res = await get(`/files/download?task=task-1&path=${encodeURIComponent('out/report "1".csv')}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal(res.headers.get('content-length'), '8');
    assert.equal(res.headers.get('content-disposition'), `attachment; filename="report _1_.csv"; filename*=UTF-8''report%20%221%22.csv`);
    assert.equal(await res.text(), 'a,b\n1,2\n');
  });

  test('HEAD /files/download answers the headers only', async () => {
    const res = await get('/files/download?task=task-1&path=stdout', 'HEAD');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '6');
    assert.equal(await res.text(), '');
  });

  test('GET /files/browse answers the listing as JSON', async () => {
    const res = await get('/files/browse?task=task-1&path=out');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { path: string; entries: { name: string }[] };
    assert.equal(body.path, 'out');
    assert.deepEqual(body.entries.map((e) => e.name), ['report "1".csv']);
  });

  test('an escape answers 403 FORBIDDEN and an unknown task 404 TASK_NOT_FOUND', async () => {
    for (const q of ['path=escape', 'path=..%2F..%2Fsecret', 'path=%2Fetc%2Fpasswd', 'path=a%00b']) {
      for (const route of ['/files/read', '/files/download', '/files/browse']) {
        const res = await get(`${route}?task=task-1&${q}`);
        const body = (await res.json()) as { error: { code: string; message: string } };
        assert.equal(res.status, 403, `${route}?${q}`);
        assert.equal(body.error.code, 'FORBIDDEN');
        assert.ok(!body.error.message.includes('agent secret'));
      }
    }
    const res = await get('/files/browse?task=task-2');
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'TASK_NOT_FOUND');
  });

  test('/files/* and /exec answer 401 without the API token or with a wrong one; /health, /state and /metrics are open', async () => {
    const wrong = [undefined, '', 'Bearer', `Bearer ${'U'.repeat(43)}`, `Basic ${token}`, `Bearer ${token}x`, token];
    const guarded = ['/files/read?task=task-1&path=stdout', '/files/download?task=task-1&path=stdout', '/files/browse?task=task-1', '/health/../files/read?task=task-1&path=stdout', '/nowhere'];
    for (const authorization of wrong) {
      const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
      for (const route of guarded) {
        const res = await get(route, 'GET', headers);
        const body = await res.text();
        assert.equal(res.status, 401, `${route} with ${String(authorization)}`);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="muster-agent"');
        assert.equal((JSON.parse(body) as { error: { code: string } }).error.code, 'UNAUTHENTICATED');
        assert.ok(!body.includes('hello'), 'no file content without the token');
      }
      const exec = await fetch(`http://127.0.0.1:${server.port}/exec`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ taskId: 'task-1', argv: ['true'] }),
      });
      assert.equal(exec.status, 401);
      await exec.body?.cancel();
      for (const open of ['/health', '/state', '/metrics']) {
        const res = await get(open, 'GET', headers);
        assert.equal(res.status, 200, open);
        await res.body?.cancel();
      }
    }
    const right = await get('/files/read?task=task-1&path=stdout', 'GET', { authorization: `bearer  ${token}` });
    assert.equal(right.status, 200, 'the scheme is case-insensitive, as RFC 7235 says');
    await right.body?.cancel();
  });
});
