import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { API_TOKEN_FILE, bearerMatches, loadApiToken } from './apitoken.js';

function workDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'muster-apitoken-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('loadApiToken makes 32 random bytes once, keeps them 0600 in the work dir, and reads them back', (t) => {
  const dir = workDir(t);
  const token = loadApiToken(dir);
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(token, 'base64url').length, 32);
  const file = path.join(dir, API_TOKEN_FILE);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(readFileSync(file, 'utf8'), `${token}\n`);
  assert.equal(loadApiToken(dir), token, 'a restarted agent keeps its token');
  assert.notEqual(loadApiToken(workDir(t)), token, 'another agent, another token');
});

test('loadApiToken replaces a token others could have read, a link, and a malformed file', (t) => {
  const dir = workDir(t);
  const file = path.join(dir, API_TOKEN_FILE);
  const first = loadApiToken(dir);

  chmodSync(file, 0o644);
  const second = loadApiToken(dir);
  assert.notEqual(second, first);
  assert.equal(statSync(file).mode & 0o777, 0o600);

  const elsewhere = path.join(dir, 'elsewhere');
  writeFileSync(elsewhere, `${second}\n`, { mode: 0o600 });
  rmSync(file);
  symlinkSync(elsewhere, file);
  const third = loadApiToken(dir);
  assert.notEqual(third, second);
  assert.equal(readFileSync(elsewhere, 'utf8'), `${second}\n`, 'the link is replaced, not written through');

  writeFileSync(file, 'short\n', { mode: 0o600 });
  assert.match(loadApiToken(dir), /^[A-Za-z0-9_-]{43}$/);
});

test('bearerMatches accepts the token as a bearer credential and nothing else', () => {
  const token = 'a'.repeat(43);
  assert.equal(bearerMatches(`Bearer ${token}`, token), true);
  assert.equal(bearerMatches(`bearer   ${token}`, token), true);
  for (const header of [undefined, '', 'Bearer', 'Bearer ', token, `Basic ${token}`, `Bearer ${token}a`, `Bearer ${'a'.repeat(42)}`, `Bearer ${token} extra`, `Bearer ${'x'.repeat(2000)}`]) {
    assert.equal(bearerMatches(header, token), false, String(header));
  }
});
