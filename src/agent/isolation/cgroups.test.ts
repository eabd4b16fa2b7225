import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { isRoot, requireOrSkip } from '../../../test/require.js';
import {
  Cgroups,
  checkCgroupRoot,
  cpuQuotaUs,
  cpuShares,
  cpuWeight,
  detectCgroupLayout,
  parseMountInfo,
  type CgroupLayout,
} from './cgroups.js';

const MiB = 1024 * 1024;

// This machine's kind of layout: systemd's hybrid mode, v1 controllers beside an empty cgroup2.
const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

test('cpu limits follow Mesos: 1024 shares and a 100 ms quota per core, with the kernel minimums', () => {
  assert.equal(cpuShares(1000), 1024);
  assert.equal(cpuShares(250), 256);
  assert.equal(cpuShares(1), 2);
  assert.equal(cpuQuotaUs(1000), 100_000);
  assert.equal(cpuQuotaUs(2500), 250_000);
  assert.equal(cpuQuotaUs(5), 1000);
});

test('cpuWeight maps v1 shares onto v2 weights as the kernel and systemd do', () => {
  assert.equal(cpuWeight(2), 1);
  assert.equal(cpuWeight(1024), 39);
  assert.equal(cpuWeight(262_144), 10_000);
  assert.equal(cpuWeight(10 ** 9), 10_000);
});

test('checkCgroupRoot accepts relative names and refuses escapes, absolute paths and odd characters', () => {
  assert.equal(checkCgroupRoot('muster'), undefined);
  assert.equal(checkCgroupRoot('muster-test/abc.1_x'), undefined);
  for (const bad of ['', '/muster', 'a/../b', '..', '.', 'a//b', 'a/', 'a b', 'a\0b', 'x'.repeat(65)]) {
    assert.notEqual(checkCgroupRoot(bad), undefined, bad);
  }
  assert.throws(() => Cgroups.open({ root: '../escape', layout: { version: 'v2', mount: '/nonexistent' } }), /cgroup root/);
});

test('parseMountInfo finds the fields after the dash and unescapes mount points', () => {
  const [m] = parseMountInfo('36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:2 - cgroup cgroup rw,cpu,cpuacct\n');
  assert.deepEqual(m, { mountPoint: '/mnt two', mountOptions: ['rw', 'noatime'], fsType: 'cgroup', superOptions: ['rw', 'cpu', 'cpuacct'] });
  assert.deepEqual(parseMountInfo('garbage\n\n1 2 3'), []);
});

test('detectCgroupLayout picks v1 beside a cgroup2 mount without controllers, and finds each hierarchy', () => {
  const layout = detectCgroupLayout({ mountinfo: HYBRID, readControllers: () => '' });
  assert.deepEqual(layout, {
    version: 'v1',
    cpu: '/sys/fs/cgroup/cpu',
    cpuacct: '/sys/fs/cgroup/cpuacct',
    memory: '/sys/fs/cgroup/memory',
    pids: '/sys/fs/cgroup/pids',
  });
});

test('detectCgroupLayout picks v2 when the cgroup2 mount offers cpu, memory and pids', () => {
  const layout = detectCgroupLayout({
    mountinfo: HYBRID,
    readControllers: (mount) => (mount === '/sys/fs/cgroup/unified' ? 'cpuset cpu io memory hugetlb pids rdma\n' : undefined),
  });
  assert.deepEqual(layout, { version: 'v2', mount: '/sys/fs/cgroup/unified' });
});

test('detectCgroupLayout reads a combined cpu,cpuacct hierarchy and ignores read-only mounts', () => {
  const combined = `1 0 0:1 / /cg/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
2 0 0:2 / /cg/memory rw - cgroup cgroup rw,memory
3 0 0:3 / /cg/pids rw - cgroup cgroup rw,pids
`;
  assert.deepEqual(detectCgroupLayout({ mountinfo: combined, readControllers: () => undefined }), {
    version: 'v1',
    cpu: '/cg/cpu,cpuacct',
    cpuacct: '/cg/cpu,cpuacct',
    memory: '/cg/memory',
    pids: '/cg/pids',
  });
  const readOnly = combined.replace('/cg/pids rw', '/cg/pids ro');
  assert.equal(detectCgroupLayout({ mountinfo: readOnly, readControllers: () => undefined }), undefined);
  assert.equal(detectCgroupLayout({ mountinfo: '', readControllers: () => undefined }), undefined);
});

// ---- a fake cgroup2 filesystem -------------------------------------------------------------
// This machine's real cgroup2 mount has no controllers (they are all bound to v1), so the v2
// backend's file writes are checked against a temp directory laid out like a cgroup2 mount. It
// is a stand-in: a real kernel would create the files itself and refuse unknown ones.

function fakeCgroup2(t: TestContext): string {
  const mount = mkdtempSync(path.join(os.tmpdir(), 'muster-fake-cgroup2-'));
  t.after(() => rmSync(mount, { recursive: true, force: true }));
  writeFileSync(path.join(mount, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
  writeFileSync(path.join(mount, 'cgroup.subtree_control'), '');
  return mount;
}

test('on a fake cgroup2 filesystem, create() enables the controllers down to the root and writes v2 limits', (t) => {
  const mount = fakeCgroup2(t);
  const cgroups = Cgroups.open({ root: 'muster/agent1', layout: { version: 'v2', mount } });
  assert.ok(cgroups !== undefined);
  const dirs = cgroups.create('web-prod-hello-0-abc', { cpusMilli: 500, memMiB: 64, pidsMax: 100 });
  const task = path.join(mount, 'muster/agent1/web-prod-hello-0-abc');
  assert.deepEqual(dirs, [task]);
  for (const level of ['', 'muster', 'muster/agent1']) {
    assert.equal(readFileSync(path.join(mount, level, 'cgroup.subtree_control'), 'utf8'), '+cpu +memory +pids', level);
  }
  assert.equal(readFileSync(path.join(task, 'cpu.weight'), 'utf8'), String(cpuWeight(512)));
  assert.equal(readFileSync(path.join(task, 'cpu.max'), 'utf8'), '50000 100000');
  assert.equal(readFileSync(path.join(task, 'memory.max'), 'utf8'), String(64 * MiB));
  assert.equal(readFileSync(path.join(task, 'pids.max'), 'utf8'), '100');
  assert.equal(existsSync(path.join(task, 'memory.swap.max')), false, 'no swap file, no swap limit written');
  assert.deepEqual(cgroups.list(), ['web-prod-hello-0-abc']);
  assert.throws(() => cgroups.create('web-prod-hello-0-abc', { cpusMilli: 500, memMiB: 64, pidsMax: 100 }), /already exists/);
});

test('on a fake cgroup2 filesystem, create() makes the root again when it was removed since, and pids() reads a long cgroup.procs whole', (t) => {
  const mount = fakeCgroup2(t);
  const cgroups = Cgroups.open({ root: 'muster', layout: { version: 'v2', mount } });
  assert.ok(cgroups !== undefined);
  cgroups.ensureRoot();
  rmSync(path.join(mount, 'muster'), { recursive: true });
  const [task] = cgroups.create('t1', { cpusMilli: 100, memMiB: 16, pidsMax: 10 });
  assert.equal(task, path.join(mount, 'muster', 't1'));
  assert.equal(readFileSync(path.join(mount, 'muster', 'cgroup.subtree_control'), 'utf8'), '+cpu +memory +pids');
  // Far longer than one read: every pid must come back, none cut at a buffer's edge.
  const pids = Array.from({ length: 5000 }, (_, i) => 100_000 + i);
  writeFileSync(path.join(task, 'cgroup.procs'), `${pids.join('\n')}\n`);
  assert.deepEqual(cgroups.pids('t1'), pids);
});

test('on a fake cgroup2 filesystem, usage and memoryLimitation read cpu.stat, memory.current, memory.events and memory.peak', (t) => {
  const mount = fakeCgroup2(t);
  const cgroups = Cgroups.open({ root: 'muster', layout: { version: 'v2', mount } });
  assert.ok(cgroups !== undefined);
  cgroups.create('t1', { cpusMilli: 1000, memMiB: 64, pidsMax: 10 });
  const task = path.join(mount, 'muster/t1');
  writeFileSync(path.join(task, 'cpu.stat'), 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n');
  writeFileSync(path.join(task, 'memory.current'), '1048576\n');
  writeFileSync(path.join(task, 'memory.events'), 'low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n');
  writeFileSync(path.join(task, 'memory.peak'), String(64 * MiB));
  assert.deepEqual(cgroups.usage('t1'), { cpuSecs: 2.5, memBytes: MiB });
  assert.deepEqual(cgroups.memoryLimitation('t1'), { oomKills: 2, limitBytes: 64 * MiB, peakBytes: 64 * MiB });
  writeFileSync(path.join(task, 'memory.max'), 'max\n');
  assert.equal(cgroups.memoryLimitation('t1')?.limitBytes, Infinity);
  assert.equal(cgroups.usage('gone'), undefined);
  assert.equal(cgroups.memoryLimitation('gone'), undefined);
});

test('on a fake cgroup2 filesystem, a root that cannot enable controllers fails naming the file and leaves nothing behind', (t) => {
  const mount = fakeCgroup2(t);
  // A directory where the kernel has a file: the write fails as a kernel's EINVAL would.
  rmSync(path.join(mount, 'cgroup.subtree_control'));
  mkdirSync(path.join(mount, 'cgroup.subtree_control'));
  const cgroups = Cgroups.open({ root: 'muster/a', layout: { version: 'v2', mount } });
  assert.ok(cgroups !== undefined);
  assert.throws(() => cgroups.create('t1', { cpusMilli: 100, memMiB: 16, pidsMax: 10 }), (err: unknown) => {
    assert.match((err as Error).message, new RegExp(`cannot write "\\+cpu \\+memory \\+pids" to ${mount}/cgroup.subtree_control`));
    return true;
  });
  assert.equal(existsSync(path.join(mount, 'muster')), false);
});

test('create() refuses unsafe task ids and limits out of range before touching the filesystem', (t) => {
  const mount = fakeCgroup2(t);
  const cgroups = Cgroups.open({ root: 'muster', layout: { version: 'v2', mount } });
  assert.ok(cgroups !== undefined);
  assert.throws(() => cgroups.create('../etc', { cpusMilli: 100, memMiB: 16, pidsMax: 10 }), /not a valid id/);
  assert.throws(() => cgroups.create('t1', { cpusMilli: 0, memMiB: 16, pidsMax: 10 }), /cpusMilli/);
  assert.throws(() => cgroups.create('t1', { cpusMilli: 100, memMiB: 1.5, pidsMax: 10 }), /memMiB/);
  assert.throws(() => cgroups.create('t1', { cpusMilli: 100, memMiB: 16, pidsMax: 2 ** 23 }), /pidsMax/);
  assert.equal(existsSync(path.join(mount, 'muster')), false);
});

// ---- real cgroups ------------------------------------------------------------------------------

function testRoot(): string {
  return `muster-test-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** realCgroups opens the machine's cgroups under a fresh test root, removed with all it holds after the test. */
function realCgroups(t: TestContext): Cgroups | undefined {
  if (!requireOrSkip(t, isRoot(), 'needs root to create cgroups')) return undefined;
  const layout = detectCgroupLayout();
  if (!requireOrSkip(t, layout !== undefined, 'needs cgroups v2 with cpu, memory and pids, or the v1 hierarchies') || layout === undefined) {
    return undefined;
  }
  const cgroups = Cgroups.open({ root: testRoot(), layout });
  assert.ok(cgroups !== undefined);
  t.after(() => removeEverything(cgroups));
  return cgroups;
}

async function removeEverything(cgroups: Cgroups): Promise<void> {
  for (const id of cgroups.list()) await cgroups.destroy(id).catch(() => undefined);
  cgroups.removeRootIfEmpty();
}

/**
 * joinAndRun starts `sh` that writes itself into each directory's cgroup.procs (as the task's
 * supervisor does), runs `before`, says "ready", then runs script. Resolves at "ready".
 */
async function joinAndRun(t: TestContext, dirs: string[], script: string, options: { before?: string } = {}): Promise<ChildProcess> {
  const join = 'for d in "$@"; do echo $$ > "$d/cgroup.procs" || exit 99; done';
  const child = spawn('sh', ['-c', `${join}; ${options.before ?? 'true'}; echo ready; ${script}`, 'sh', ...dirs], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`sh exited with ${code} before it joined the cgroups`)));
  });
  return child;
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

function readIn(layout: CgroupLayout, controller: 'cpu' | 'memory' | 'pids', rel: string, file: string): string {
  const mount = layout.version === 'v2' ? layout.mount : layout[controller];
  return readFileSync(path.join(mount, rel, file), 'utf8').trim();
}

test('create() writes the limits into real cgroups, which measure, list, kill and remove a real process', async (t) => {
  const cgroups = realCgroups(t);
  if (cgroups === undefined) return;
  const layout = detectCgroupLayout() as CgroupLayout;
  const dirs = cgroups.create('task-1', { cpusMilli: 1500, memMiB: 128, pidsMax: 64 });
  assert.equal(dirs.length, cgroups.hierarchies.length);
  for (const dir of dirs) assert.ok(existsSync(path.join(dir, 'cgroup.procs')), dir);

  const rel = path.join(cgroups.root, 'task-1');
  if (layout.version === 'v1') {
    assert.equal(readIn(layout, 'cpu', rel, 'cpu.shares'), '1536');
    assert.equal(readIn(layout, 'cpu', rel, 'cpu.cfs_period_us'), '100000');
    assert.equal(readIn(layout, 'cpu', rel, 'cpu.cfs_quota_us'), '150000');
    assert.equal(readIn(layout, 'memory', rel, 'memory.limit_in_bytes'), String(128 * MiB));
  } else {
    assert.equal(readIn(layout, 'cpu', rel, 'cpu.weight'), String(cpuWeight(1536)));
    assert.equal(readIn(layout, 'cpu', rel, 'cpu.max'), '150000 100000');
    assert.equal(readIn(layout, 'memory', rel, 'memory.max'), String(128 * MiB));
  }
  assert.equal(readIn(layout, 'pids', rel, 'pids.max'), '64');
  assert.deepEqual(cgroups.list(), ['task-1']);

  // Some work before "ready", so that the cgroup has measurable cpu time once it is read.
  const child = await joinAndRun(t, dirs, 'exec sleep 30', { before: 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done' });
  assert.deepEqual(cgroups.pids('task-1'), [child.pid]);
  const usage = cgroups.usage('task-1');
  assert.ok(usage !== undefined);
  assert.ok(usage.cpuSecs > 0, `cpu ${usage.cpuSecs}`);
  assert.ok(usage.memBytes > 0, `memory ${usage.memBytes}`);
  assert.equal(cgroups.memoryLimitation('task-1')?.oomKills, 0);

  await cgroups.kill('task-1');
  assert.deepEqual(cgroups.pids('task-1'), []);
  assert.equal((await exited(child)).signal, 'SIGKILL');

  await cgroups.destroy('task-1');
  for (const dir of dirs) assert.equal(existsSync(dir), false, dir);
  assert.deepEqual(cgroups.list(), []);
  await cgroups.destroy('task-1'); // destroying what is gone is fine
});

test('kill() reaches processes that left the process group and forked children', async (t) => {
  const cgroups = realCgroups(t);
  if (cgroups === undefined) return;
  const dirs = cgroups.create('task-2', { cpusMilli: 500, memMiB: 64, pidsMax: 64 });
  // A background child that ignores TERM and HUP, and an orphan (double fork) that no process
  // group or parent of ours leads to: only the cgroup still knows them.
  const child = await joinAndRun(t, dirs, 'exec sleep 30', {
    before: '(trap "" TERM HUP; exec sleep 30) >/dev/null & (sleep 30 >/dev/null &)',
  });
  const before = cgroups.pids('task-2');
  assert.ok(before.length >= 3, `pids ${before.join(',')}`);
  await cgroups.kill('task-2');
  assert.deepEqual(cgroups.pids('task-2'), []);
  await exited(child);
  await cgroups.destroy('task-2');
  assert.deepEqual(cgroups.list(), []);
});

test('the memory limit holds: a process that allocates past it is OOM-killed and memoryLimitation counts it', async (t) => {
  const cgroups = realCgroups(t);
  if (cgroups === undefined) return;
  const dirs = cgroups.create('task-oom', { cpusMilli: 1000, memMiB: 32, pidsMax: 64 });
  // tail keeps the whole line it is reading, and /dev/zero has no newline: 200 MiB in memory.
  const child = await joinAndRun(t, dirs, 'head -c 200M /dev/zero | tail > /dev/null');
  const { code } = await exited(child);
  assert.notEqual(code, 0, 'the allocation must not succeed');
  const limitation = cgroups.memoryLimitation('task-oom');
  assert.ok(limitation !== undefined);
  assert.ok(limitation.oomKills >= 1, `oom kills ${limitation.oomKills}`);
  assert.equal(limitation.limitBytes, 32 * MiB);
  if (limitation.peakBytes !== undefined) assert.ok(limitation.peakBytes <= 32 * MiB, `peak ${limitation.peakBytes}`);
  await cgroups.destroy('task-oom');
});

test('a failed create() removes the cgroups it made and leaves the one that was there', (t) => {
  const cgroups = realCgroups(t);
  if (cgroups === undefined) return;
  cgroups.ensureRoot();
  // The task's cgroup already exists in the last hierarchy, as after a crash halfway.
  const last = cgroups.hierarchies[cgroups.hierarchies.length - 1] as string;
  const stale = path.join(last, cgroups.root, 'task-3');
  mkdirSync(stale); // removed with the test root, as list() shows it
  assert.throws(() => cgroups.create('task-3', { cpusMilli: 100, memMiB: 16, pidsMax: 8 }), new RegExp(`cgroup ${stale} already exists`));
  for (const mount of cgroups.hierarchies) {
    const dir = path.join(mount, cgroups.root, 'task-3');
    assert.equal(existsSync(dir), dir === stale, dir);
  }
});

test('on the real cgroup2 mount, a task cgroup holds a process, cgroup.kill empties it and destroy removes it', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'needs root to create cgroups')) return;
  const mount = parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8')).find(
    (m) => m.fsType === 'cgroup2' && m.mountOptions.includes('rw') && existsSync(path.join(m.mountPoint, 'cgroup.procs')),
  )?.mountPoint;
  if (!requireOrSkip(t, mount !== undefined, 'needs a writable cgroup2 mount')) return;
  const cgroups = Cgroups.open({ root: testRoot(), layout: { version: 'v2', mount: mount as string } });
  assert.ok(cgroups !== undefined);
  t.after(() => removeEverything(cgroups));
  // Controllers may be missing here (a hybrid system binds them to v1), so the task's cgroup is
  // made by hand, as create() would before it writes limits.
  const dir = path.join(mount as string, cgroups.root, 'task-v2');
  mkdirSync(dir, { recursive: true });
  const killFile = existsSync(path.join(dir, 'cgroup.kill'));
  if (!requireOrSkip(t, killFile, 'needs cgroup.kill (kernel 5.14)')) return;

  const child = await joinAndRun(t, [dir], '(sleep 30 &); exec sleep 30');
  assert.ok(cgroups.pids('task-v2').includes(child.pid as number));
  assert.deepEqual(cgroups.list(), ['task-v2']);
  await cgroups.kill('task-v2');
  assert.deepEqual(cgroups.pids('task-v2'), []);
  assert.equal((await exited(child)).signal, 'SIGKILL');
  await cgroups.destroy('task-v2');
  assert.equal(existsSync(dir), false);
  cgroups.removeRootIfEmpty();
  assert.equal(existsSync(path.join(mount as string, cgroups.root)), false);
});
