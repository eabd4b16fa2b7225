import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { MusterError } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import { isRoot, requireOrSkip } from '../../../test/require.js';
import { detectCgroupLayout } from './cgroups.js';
import { IsolationError, Isolator } from './isolator.js';

const PASSWD = `root:x:0:0:root:/root:/bin/bash
toor:x:0:0:root again:/root:/bin/sh
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`;
const GROUP = `root:x:0:
www-data:x:33:
nogroup:x:65534:
web:x:2000:www-data
`;

/** recordingLogger keeps what is logged at warn and above, to count warnings. */
function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const logger: Logger & { warnings: string[] } = {
    warnings,
    debug: () => undefined,
    info: () => undefined,
    warn: (m) => warnings.push(m),
    error: (m) => warnings.push(m),
    child: () => logger,
  };
  return logger;
}

function userFiles(t: TestContext): { passwd: string; group: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'muster-isolator-users-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const files = { passwd: path.join(dir, 'passwd'), group: path.join(dir, 'group') };
  writeFileSync(files.passwd, PASSWD);
  writeFileSync(files.group, GROUP);
  return files;
}

const task = (taskId: string, role: string): { taskId: string; role: string; resources: { cpus: number; mem: number } } => ({
  taskId,
  role,
  resources: { cpus: 0.5, mem: 64 },
});

test('an agent that is not root isolates nothing, says so in one warning, and runs tasks as its own user', async () => {
  const logger = recordingLogger();
  const isolator = await Isolator.create({ logger, isRoot: false, roleUsers: { web: 'www-data' } });
  assert.equal(isolator.mode, 'none');
  assert.equal(isolator.namespaces, false);
  assert.equal(
    isolator.description,
    "none: the agent is not root, so tasks run as plain processes of its user; they share the agent's files (its API token too) and the host's /tmp, /var/tmp and /dev/shm",
  );
  assert.equal(logger.warnings.length, 1);
  assert.match(logger.warnings[0] ?? '', /not root/);

  assert.deepEqual(isolator.prepare(task('web-prod-a-0-x', 'web')), { cgroups: [], pidNamespace: false, mountNamespace: false });
  assert.equal(isolator.usage('web-prod-a-0-x'), undefined);
  assert.equal(isolator.memoryLimitation('web-prod-a-0-x'), undefined);
  assert.deepEqual(isolator.orphans(new Set()), []);
  await isolator.kill('web-prod-a-0-x');
  await isolator.destroy('web-prod-a-0-x');
  assert.equal(logger.warnings.length, 1, 'the warning is said once, at create');
});

test('Isolator.create refuses a bad cgroup root, pids limit or user name, root or not', async () => {
  const logger = recordingLogger();
  await assert.rejects(Isolator.create({ logger, isRoot: false, cgroupRoot: '/abs' }), /--cgroup-root "\/abs"/);
  await assert.rejects(Isolator.create({ logger, isRoot: false, pidsMax: 0 }), /pidsMax/);
  await assert.rejects(Isolator.create({ logger, isRoot: false, roleUsers: { web: 'no such' } }), /not a valid user name/);
});

test('as root, Isolator.create fails at start for a role user that does not exist', async (t) => {
  const files = userFiles(t);
  await assert.rejects(
    Isolator.create({ logger: recordingLogger(), isRoot: true, roleUsers: { web: 'ghost' }, userFiles: files }),
    (err: unknown) => err instanceof MusterError && err.code === 'INVALID_ARGUMENT' && /unknown user "ghost"/.test(err.message),
  );
});

test('prepare() refuses task ids that are not safe and resources it cannot turn into limits', async () => {
  const isolator = await Isolator.create({ logger: recordingLogger(), isRoot: false });
  assert.throws(() => isolator.prepare(task('../x', 'web')), IsolationError);
  assert.throws(() => isolator.prepare({ taskId: 't', role: 'web', resources: { cpus: 0, mem: 64 } }), /cpus and mem above 0/);
  assert.throws(() => isolator.prepare({ taskId: 't', role: 'web', resources: { cpus: 1, mem: Number.NaN } }), /cpus and mem above 0/);
});

/** scratchDir: a temp dir removed after the test. */
function scratchDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** rootIsolator: a root agent's Isolator on this machine's cgroups, under a test root removed afterwards. */
async function rootIsolator(t: TestContext, extra: { allowRootTasks?: boolean; taskUser?: string } = {}): Promise<Isolator | undefined> {
  if (!requireOrSkip(t, isRoot(), 'needs root')) return undefined;
  const layout = detectCgroupLayout();
  if (!requireOrSkip(t, layout !== undefined, 'needs cgroups v2 with cpu, memory and pids, or the v1 hierarchies')) return undefined;
  const isolator = await Isolator.create({
    logger: recordingLogger(),
    cgroupRoot: `muster-test-${process.pid}-${randomBytes(4).toString('hex')}`,
    roleUsers: { web: 'www-data', admin: 'root', ops: 'toor' },
    userFiles: userFiles(t),
    pidsMax: 100,
    workDir: scratchDir(t, 'muster-isolator-work-'),
    uidRange: { first: 61_000, last: 61_009 },
    uidClaimsDir: scratchDir(t, 'muster-isolator-claims-'),
    ...extra,
  });
  t.after(async () => {
    for (const id of isolator.orphans(new Set())) await isolator.destroy(id).catch(() => undefined);
    isolator.removeRootIfEmpty();
  });
  return isolator;
}

test('as root, the agent isolates with the cgroups it finds, namespaces and role users, and says so', async (t) => {
  const isolator = await rootIsolator(t);
  if (isolator === undefined) return;
  const version = detectCgroupLayout()?.version;
  assert.equal(isolator.mode, `cgroups-${version}`);
  assert.equal(isolator.namespaces, true);
  assert.equal(
    isolator.description,
    `cgroups ${version} (cpu, memory, pids), pid and mount namespaces, private /tmp, /var/tmp and /dev/shm, tasks run as their role's user (--role-users, else a uid of 61000-61009 of the role's own), sandboxes 0700`,
  );

  const web = isolator.prepare(task('web-prod-a-0-x', 'web'));
  assert.deepEqual(web.user, { name: 'www-data', uid: 33, gid: 33, groups: [33, 2000] });
  assert.equal(web.pidNamespace, true);
  assert.equal(web.mountNamespace, true);
  assert.ok(web.cgroups.length > 0);
  for (const dir of web.cgroups) assert.ok(existsSync(dir), dir);
  const memoryDir = web.cgroups.find((d) => existsSync(path.join(d, 'memory.limit_in_bytes')) || existsSync(path.join(d, 'memory.max')));
  assert.ok(memoryDir !== undefined);
  const limitFile = version === 'v1' ? 'memory.limit_in_bytes' : 'memory.max';
  assert.equal(readFileSync(path.join(memoryDir, limitFile), 'utf8').trim(), String(64 * 1024 * 1024));

  // A role without a mapping gets a uid of its own from the range, the same for each of its tasks,
  // with a group of the same number and no supplementary groups.
  const batch = isolator.prepare(task('batch-prod-b-0-y', 'batch'));
  assert.deepEqual(batch.user, { name: 'uid 61000', uid: 61_000, gid: 61_000, groups: [] });
  const other = isolator.prepare(task('etl-prod-c-0-z', 'etl'));
  assert.equal(other.user?.uid, 61_001, 'another role, another uid');
  assert.equal(isolator.prepare(task('batch-prod-b-1-y', 'batch')).user?.uid, 61_000);
  await isolator.destroy('etl-prod-c-0-z');
  await isolator.destroy('batch-prod-b-1-y');

  assert.deepEqual(isolator.orphans(new Set(['web-prod-a-0-x'])), ['batch-prod-b-0-y']);
  // A cgroup with processes in it is never an orphan: it may be another agent's live task.
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    for (const dir of batch.cgroups) writeFileSync(path.join(dir, 'cgroup.procs'), String(sleeper.pid));
    assert.deepEqual(isolator.orphans(new Set(['web-prod-a-0-x'])), []);
  } finally {
    sleeper.kill('SIGKILL');
    await new Promise((r) => sleeper.once('exit', r));
  }
  assert.ok(isolator.usage('web-prod-a-0-x') !== undefined);
  assert.equal(isolator.memoryLimitation('web-prod-a-0-x')?.oomKills, 0);
  await isolator.destroy('web-prod-a-0-x');
  await isolator.destroy('batch-prod-b-0-y');
  assert.deepEqual(isolator.orphans(new Set()), []);
});

test('as root, a role that maps to uid 0 is refused unless root tasks are allowed, and no cgroup is made for it', async (t) => {
  const isolator = await rootIsolator(t);
  if (isolator === undefined) return;
  assert.throws(
    () => isolator.prepare(task('admin-prod-a-0-x', 'admin')),
    (err: unknown) =>
      err instanceof IsolationError &&
      err.message === 'role "admin" maps to user root; the agent runs tasks as root only with --allow-root-tasks',
  );
  assert.throws(() => isolator.prepare(task('ops-prod-a-0-x', 'ops')), /role "ops" maps to user toor \(uid 0\)/);
  assert.deepEqual(isolator.orphans(new Set()), []);

  const allowing = await rootIsolator(t, { allowRootTasks: true });
  assert.ok(allowing !== undefined);
  assert.equal(allowing.prepare(task('admin-prod-a-0-x', 'admin')).user?.uid, 0);
  await allowing.destroy('admin-prod-a-0-x');
});

test('as root with --task-user, every role not mapped runs as that one user, and the agent warns that they share it', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'needs root')) return;
  const logger = recordingLogger();
  const isolator = await Isolator.create({
    logger,
    cgroupRoot: `muster-test-${process.pid}-${randomBytes(4).toString('hex')}`,
    roleUsers: { web: 'www-data', api: 'www-data' },
    taskUser: 'nobody',
    userFiles: userFiles(t),
    workDir: scratchDir(t, 'muster-isolator-work-'),
    uidClaimsDir: scratchDir(t, 'muster-isolator-claims-'),
  });
  t.after(async () => {
    for (const id of isolator.orphans(new Set())) await isolator.destroy(id).catch(() => undefined);
    isolator.removeRootIfEmpty();
  });
  assert.match(isolator.description, /tasks run as their role's user \(--role-users, else nobody\)/);
  assert.ok(logger.warnings.some((w) => /roles web, api all run as www-data/.test(w)), logger.warnings.join('\n'));
  assert.ok(logger.warnings.some((w) => /every role not in --role-users runs as nobody/.test(w)), logger.warnings.join('\n'));
  assert.equal(isolator.prepare(task('batch-prod-b-0-y', 'batch')).user?.uid, 65_534);
});

test('chownSandbox gives the sandbox and its tmp/ to the task user, leaves .muster/ to root, and refuses links', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'needs root to change owners')) return;
  const isolator = await Isolator.create({ logger: recordingLogger(), isRoot: true, userFiles: userFiles(t), cgroupRoot: `muster-test-${process.pid}-${randomBytes(4).toString('hex')}` });
  t.after(() => isolator.removeRootIfEmpty());
  const base = mkdtempSync(path.join(os.tmpdir(), 'muster-chown-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const sandbox = path.join(base, 'sandbox');
  mkdirSync(path.join(sandbox, 'tmp'), { recursive: true });
  mkdirSync(path.join(sandbox, '.muster'));
  const nobody = { name: 'nobody', uid: 65534, gid: 65534, groups: [65534] };
  // Made 0700 as the agent makes it; the owner changes, the mode stays closed to group and others.

  isolator.chownSandbox(sandbox, nobody);
  for (const dir of [sandbox, path.join(sandbox, 'tmp')]) {
    const st = statSync(dir);
    assert.equal(st.uid, 65534, dir);
    assert.equal(st.gid, 65534, dir);
    assert.equal(st.mode & 0o777, 0o700, dir);
  }
  assert.equal(statSync(path.join(sandbox, '.muster')).uid, 0);

  // A task that replaced tmp/ with a link to somewhere else does not get that place.
  const elsewhere = path.join(base, 'elsewhere');
  mkdirSync(elsewhere);
  rmSync(path.join(sandbox, 'tmp'), { recursive: true });
  symlinkSync(elsewhere, path.join(sandbox, 'tmp'));
  assert.throws(() => isolator.chownSandbox(sandbox, nobody), IsolationError);
  assert.equal(lstatSync(elsewhere).uid, 0);
  assert.throws(() => isolator.chownSandbox('relative/dir', nobody), /absolute path/);
});
