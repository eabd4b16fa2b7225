import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { MusterError } from '../../core/index.js';
import { silentLogger } from '../../log/index.js';
import { parseUidRange, ROLE_UIDS_FILE, RoleUids, type RoleUidsOptions } from './uids.js';

const PASSWD = `root:x:0:0:root:/root:/bin/bash
taken:x:61000:100::/:/bin/sh
`;
const GROUP = `root:x:0:
taken-group:x:61002:
`;

/** place: a scratch dir with passwd and group files, a claims dir, and work dirs made on demand. */
function place(t: TestContext): { base: string; claimsDir: string; options(workDir: string, range?: string): RoleUidsOptions; workDir(name: string): string } {
  const base = mkdtempSync(path.join(os.tmpdir(), 'muster-uids-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const userFiles = { passwd: path.join(base, 'passwd'), group: path.join(base, 'group') };
  writeFileSync(userFiles.passwd, PASSWD);
  writeFileSync(userFiles.group, GROUP);
  const claimsDir = path.join(base, 'claims');
  return {
    base,
    claimsDir,
    options: (workDir, range = '61000-61009') => ({ workDir, range: parseUidRange(range), claimsDir, userFiles, logger: silentLogger }),
    workDir: (name) => {
      const dir = path.join(base, name);
      mkdirSync(dir, { recursive: true });
      return dir;
    },
  };
}

/** age makes a claim look older than an allocation in progress may be. */
function age(file: string): void {
  const old = new Date(Date.now() - 10 * 60_000);
  utimesSync(file, old, old);
}

const invalid = (pattern: RegExp) => (err: unknown) => err instanceof MusterError && err.code === 'INVALID_ARGUMENT' && pattern.test(err.message);

test('parseUidRange reads FIRST-LAST and refuses system ids, reversed and malformed ranges', () => {
  assert.deepEqual(parseUidRange('60000-60999'), { first: 60_000, last: 60_999 });
  assert.deepEqual(parseUidRange(' 70000 - 70000 '), { first: 70_000, last: 70_000 });
  for (const bad of ['', '60000', '0-100', '999-2000', '60999-60000', '60000-4294967295', 'a-b', '60000-60999,1']) {
    assert.throws(() => parseUidRange(bad), invalid(/must be FIRST-LAST/), bad);
  }
});

test('each role gets the lowest free uid of the range, skipping local users and groups, and keeps it', (t) => {
  const p = place(t);
  const work = p.workDir('agent');
  const uids = RoleUids.open(p.options(work));
  // 61000 is a user's uid and 61002 a group's gid: a role's user takes both numbers.
  assert.deepEqual(uids.userOf('web'), { name: 'uid 61001', uid: 61_001, gid: 61_001, groups: [] });
  assert.equal(uids.userOf('batch').uid, 61_003);
  assert.equal(uids.userOf('web').uid, 61_001, 'the same role, the same uid');

  const record = path.join(work, ROLE_UIDS_FILE);
  assert.deepEqual(JSON.parse(readFileSync(record, 'utf8')), { roles: { web: 61_001, batch: 61_003 } });
  assert.equal(statSync(record).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(readFileSync(path.join(p.claimsDir, '61001'), 'utf8')), { workDir: work, role: 'web' });

  // A restarted agent finds the same uids, even in another order of asking.
  const again = RoleUids.open(p.options(work));
  assert.equal(again.userOf('batch').uid, 61_003);
  assert.equal(again.userOf('web').uid, 61_001);
  assert.equal(again.userOf('etl').uid, 61_004);
});

test('two agents of one machine never give one uid to two roles; a claim whose work dir is gone is taken over', (t) => {
  const p = place(t);
  const first = RoleUids.open(p.options(p.workDir('agent-1')));
  const second = RoleUids.open(p.options(p.workDir('agent-2')));
  assert.equal(first.userOf('web').uid, 61_001);
  assert.equal(second.userOf('batch').uid, 61_003, "the first agent's claim is skipped");
  // Even for a role of the same name: the uid is an agent's, one role's tasks on one machine.
  assert.equal(second.userOf('web').uid, 61_004);

  // agent-1's work dir is deleted; once its claim is old enough not to be an allocation in
  // progress, another agent may take that uid.
  rmSync(path.join(p.base, 'agent-1'), { recursive: true });
  const third = RoleUids.open(p.options(p.workDir('agent-3')));
  assert.equal(third.userOf('ops').uid, 61_005, 'a fresh claim is left alone');
  age(path.join(p.claimsDir, '61001'));
  assert.equal(third.userOf('etl').uid, 61_001);
  assert.equal((JSON.parse(readFileSync(path.join(p.claimsDir, '61001'), 'utf8')) as { role: string }).role, 'etl');
});

test("a role whose recorded uid another agent now holds fails with a message rather than share it", (t) => {
  const p = place(t);
  const workA = p.workDir('a');
  const a = RoleUids.open(p.options(workA));
  assert.equal(a.userOf('web').uid, 61_001);
  // The claims were lost (a new claims dir), and another agent took 61001 before this one came back.
  rmSync(p.claimsDir, { recursive: true });
  const b = RoleUids.open(p.options(p.workDir('b')));
  assert.equal(b.userOf('batch').uid, 61_001);
  const back = RoleUids.open(p.options(workA));
  assert.throws(() => back.userOf('web'), invalid(/role "web" has uid 61001 on this agent, but .* gives it to another agent of this machine/));
});

test('a recorded uid outside a new range is forgotten, and a full range says so', (t) => {
  const p = place(t);
  const work = p.workDir('agent');
  assert.equal(RoleUids.open(p.options(work)).userOf('web').uid, 61_001);
  const moved = RoleUids.open(p.options(work, '62000-62001'));
  assert.equal(moved.userOf('web').uid, 62_000);
  assert.equal(moved.userOf('batch').uid, 62_001);
  assert.throws(() => moved.userOf('etl'), invalid(/no uid of --role-uid-range 62000-62001 is left for role "etl"/));
  assert.throws(() => moved.userOf('../x'), invalid(/not a valid role/));
});

test('RoleUids.open refuses a record it cannot read and a claims dir others may write', (t) => {
  const p = place(t);
  const work = p.workDir('agent');
  writeFileSync(path.join(work, ROLE_UIDS_FILE), '{"roles": {"web": "61001"}}');
  assert.throws(() => RoleUids.open(p.options(work)), invalid(/is not a record of roles' uids/));
  writeFileSync(path.join(work, ROLE_UIDS_FILE), 'not json');
  assert.throws(() => RoleUids.open(p.options(work)), invalid(/is not a record of roles' uids/));
  rmSync(path.join(work, ROLE_UIDS_FILE));

  mkdirSync(p.claimsDir, { recursive: true });
  chmodSync(p.claimsDir, 0o777);
  assert.throws(() => RoleUids.open(p.options(work)), invalid(/no one else may write/));
});
