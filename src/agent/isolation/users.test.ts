import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { MusterError } from '../../core/index.js';
import { idsInUse, parseRoleUsers, resolveUser } from './users.js';

const PASSWD = `root:x:0:0:root:/root:/bin/bash
# a comment line
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
broken:x:notanumber:1::/:/bin/sh
batch:x:1001:1001:Batch jobs,,,:/home/batch:/bin/bash
`;

const GROUP = `root:x:0:
www-data:x:33:
nogroup:x:65534:
batch:x:1001:
docker:x:998:batch,alice
audio:x:29:alice,batch
staff:x:50:alice
`;

function sampleFiles(t: TestContext): { passwd: string; group: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'muster-users-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const files = { passwd: path.join(dir, 'passwd'), group: path.join(dir, 'group') };
  writeFileSync(files.passwd, PASSWD);
  writeFileSync(files.group, GROUP);
  return files;
}

test('resolveUser finds the ids of a user and the groups that list it, primary group first', (t) => {
  const files = sampleFiles(t);
  assert.deepEqual(resolveUser('batch', files), { name: 'batch', uid: 1001, gid: 1001, groups: [1001, 998, 29] });
  assert.deepEqual(resolveUser('www-data', files), { name: 'www-data', uid: 33, gid: 33, groups: [33] });
  assert.deepEqual(resolveUser('root', files), { name: 'root', uid: 0, gid: 0, groups: [0] });
});

test('resolveUser refuses unknown users, invalid names and entries without numeric ids', (t) => {
  const files = sampleFiles(t);
  assert.throws(
    () => resolveUser('alice', files),
    (err: unknown) => err instanceof MusterError && err.code === 'INVALID_ARGUMENT' && /unknown user "alice"/.test(err.message),
  );
  assert.throws(() => resolveUser('../etc', files), /not a valid user name/);
  assert.throws(() => resolveUser('', files), /not a valid user name/);
  assert.throws(() => resolveUser('broken', files), /no valid uid and gid/);
  assert.throws(() => resolveUser('root', { passwd: path.join(os.tmpdir(), 'muster-no-such-passwd') }), /cannot read/);
});

test('resolveUser reads the real /etc/passwd when no files are given', () => {
  const root = resolveUser('root');
  assert.equal(root.uid, 0);
  assert.equal(root.groups[0], root.gid);
});

test('parseRoleUsers reads role=user pairs and tolerates spaces and empty items', () => {
  assert.deepEqual(parseRoleUsers('web=www-data,batch=nobody'), { web: 'www-data', batch: 'nobody' });
  assert.deepEqual(parseRoleUsers(' web = www-data , ,'), { web: 'www-data' });
  assert.deepEqual(parseRoleUsers(''), {});
});

test('parseRoleUsers names the bad entry in its error', () => {
  assert.throws(() => parseRoleUsers('web=www-data,batch'), /--role-users: "batch" should be role=user/);
  assert.throws(() => parseRoleUsers('Web=www-data'), /role in "Web=www-data"/);
  assert.throws(() => parseRoleUsers('web=bad user'), /user in "web=bad user" must be a unix user name/);
  assert.throws(() => parseRoleUsers('web=a,web=b'), /role "web" is given twice/);
});

test('idsInUse lists every uid of passwd and every gid of passwd and group, skipping what it cannot read as an id', (t) => {
  const { uids, gids } = idsInUse(sampleFiles(t));
  assert.deepEqual([...uids].sort((a, b) => a - b), [0, 33, 1001, 65534]);
  assert.deepEqual([...gids].sort((a, b) => a - b), [0, 1, 29, 33, 50, 998, 1001, 65534]);
});
