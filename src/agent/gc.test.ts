import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { MusterError } from '../core/index.js';
import { createLogger, silentLogger } from '../log/index.js';
import { SandboxGc, statfsUsage, type SandboxGcOptions } from './gc.js';
import { createSandbox, sandboxPath } from './sandbox.js';
import { prepareWorkDir } from './workdir.js';

const DAY_MS = 24 * 3600 * 1000;
const NOW = Date.UTC(2030, 0, 1);

describe('SandboxGc', () => {
  let workDir: string;
  let usage = 0;
  let active = new Set<string>();

  const gc = (options: Partial<SandboxGcOptions> = {}) =>
    new SandboxGc({
      workDir,
      retentionSecs: 7 * 24 * 3600,
      diskHeadroom: 0.1,
      isActive: (id) => active.has(id),
      diskUsageFraction: () => Promise.resolve(usage),
      now: () => NOW,
      logger: silentLogger,
      ...options,
    });

  /** sandbox makes a sandbox whose task ended ageDays ago (by .muster/exit.json, or the dir's mtime). */
  const sandbox = (taskId: string, ageDays: number, options: { exitFile?: boolean } = {}): string => {
    const dir = createSandbox(workDir, taskId);
    writeFileSync(path.join(dir, 'stdout'), `output of ${taskId}\n`);
    const at = (NOW - ageDays * DAY_MS) / 1000;
    if (options.exitFile !== false) {
      mkdirSync(path.join(dir, '.muster'), { recursive: true });
      writeFileSync(path.join(dir, '.muster', 'exit.json'), '{"code":0}');
      utimesSync(path.join(dir, '.muster', 'exit.json'), at, at);
      // The dir itself looks fresh: the age must come from exit.json.
      utimesSync(dir, NOW / 1000, NOW / 1000);
    } else {
      utimesSync(dir, at, at);
    }
    return dir;
  };

  const remaining = (): string[] =>
    ['old', 'mid', 'young', 'a', 'b', 'c', 'running', 'no-exit-old', 'no-exit-young'].filter((id) => existsSync(sandboxPath(workDir, id)));

  beforeEach(() => {
    workDir = prepareWorkDir(mkdtempSync(path.join(os.tmpdir(), 'muster-gc-')));
    usage = 0;
    active = new Set();
  });

  afterEach(() => rmSync(workDir, { recursive: true, force: true }));

  test('with an empty disk a finished sandbox is kept until it is older than the retention less the headroom', async () => {
    // retention 7 days × (1 − 0.1 − 0) = 6.3 days
    sandbox('old', 6.4);
    sandbox('young', 6.2);
    sandbox('no-exit-old', 6.4, { exitFile: false });
    sandbox('no-exit-young', 1, { exitFile: false });
    const removed = await gc().runOnce();
    assert.deepEqual(removed.sort(), ['no-exit-old', 'old']);
    assert.deepEqual(remaining(), ['young', 'no-exit-young']);
  });

  test('under disk pressure old sandboxes go sooner', async () => {
    sandbox('old', 3);
    sandbox('mid', 1.5);
    sandbox('young', 0.5);
    usage = 0.5; // 7 days × (1 − 0.1 − 0.5) = 2.8 days
    assert.deepEqual(await gc().runOnce(), ['old']);
    usage = 0.7; // 7 days × 0.2 = 1.4 days
    assert.deepEqual(await gc().runOnce(), ['mid']);
    assert.deepEqual(remaining(), ['young']);
  });

  test('at 1 − headroom usage every finished sandbox goes, oldest first, but never an active task\'s', async () => {
    sandbox('a', 0);
    sandbox('b', 2);
    sandbox('c', 1);
    sandbox('running', 30);
    active.add('running');
    usage = 0.95;
    assert.deepEqual(await gc().runOnce(), ['b', 'c', 'a']);
    assert.deepEqual(remaining(), ['running']);
    assert.equal(readFileSync(path.join(sandboxPath(workDir, 'running'), 'stdout'), 'utf8'), 'output of running\n');
  });

  test('removing a sandbox removes links inside it but not what they point to outside', async () => {
    const outside = path.join(workDir, 'precious');
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'data'), 'keep me');
    const dir = sandbox('old', 30);
    symlinkSync(outside, path.join(dir, 'link-to-dir'));
    symlinkSync(path.join(outside, 'data'), path.join(dir, 'link-to-file'));
    mkdirSync(path.join(dir, 'deep', 'er'), { recursive: true });
    symlinkSync('/', path.join(dir, 'deep', 'er', 'root'));
    assert.deepEqual(await gc().runOnce(), ['old']);
    assert.equal(existsSync(dir), false);
    assert.equal(readFileSync(path.join(outside, 'data'), 'utf8'), 'keep me');
  });

  test('only directories named by task ids are collected; links and stray files in sandboxes/ stay', async () => {
    const sandboxes = path.join(workDir, 'sandboxes');
    const target = path.join(workDir, 'elsewhere');
    mkdirSync(target);
    symlinkSync(target, path.join(sandboxes, 'link-task'));
    writeFileSync(path.join(sandboxes, 'stray-file'), '');
    const far = (NOW - 60 * DAY_MS) / 1000;
    utimesSync(target, far, far);
    utimesSync(path.join(sandboxes, 'stray-file'), far, far);
    usage = 1;
    assert.deepEqual(await gc().runOnce(), []);
    assert.ok(existsSync(target) && existsSync(path.join(sandboxes, 'stray-file')));
  });

  test('a failing disk usage probe falls back to retention alone, and each removal is logged', async () => {
    sandbox('old', 10);
    sandbox('young', 1);
    const lines: string[] = [];
    const logger = createLogger('gc', { level: 'info', write: (l) => lines.push(l) });
    const removed = await gc({ logger, diskUsageFraction: () => Promise.reject(new Error('statfs failed')) }).runOnce();
    assert.deepEqual(removed, ['old']);
    assert.ok(lines.some((l) => l.includes('WARN') && l.includes('disk usage')));
    assert.ok(lines.some((l) => l.includes('INFO') && l.includes('removed sandbox') && l.includes('taskId=old')));
  });

  test('by default the usage is the used fraction of the sandboxes\' file system', async () => {
    const s = statfsSync(path.join(workDir, 'sandboxes'));
    const expected = (s.blocks - s.bfree) / s.blocks;
    const measured = await statfsUsage(path.join(workDir, 'sandboxes'));
    assert.ok(measured >= 0 && measured <= 1);
    assert.ok(Math.abs(measured - expected) < 0.05, `${measured} is near ${expected}`);
    // With no headroom the limit is retention × (1 − usage): a sandbox at half of it stays, one at
    // twice it goes, whatever this machine's disk holds.
    const retentionSecs = 1000 * 24 * 3600;
    const limitDays = 1000 * (1 - expected);
    if (limitDays > 0) sandbox('young', limitDays / 2);
    sandbox('old', limitDays * 2 + 1);
    const byDefault = new SandboxGc({ workDir, retentionSecs, diskHeadroom: 0, isActive: () => false, now: () => NOW, logger: silentLogger });
    const removed = await byDefault.runOnce();
    assert.deepEqual(removed, ['old']);
    assert.deepEqual(remaining(), limitDays > 0 ? ['young'] : []);
  });

  test('start runs passes on its own until stop', async () => {
    sandbox('old', 30);
    const g = gc({ intervalSecs: 0.01 });
    g.start();
    try {
      for (let i = 0; i < 500 && existsSync(sandboxPath(workDir, 'old')); i++) await new Promise((r) => setTimeout(r, 10));
    } finally {
      await g.stop();
    }
    assert.equal(existsSync(sandboxPath(workDir, 'old')), false);
  });

  test('bad options are refused', () => {
    const base = { workDir: '/nonexistent', isActive: () => false, logger: silentLogger };
    for (const bad of [{ retentionSecs: -1 }, { diskHeadroom: 1.5 }, { diskHeadroom: Number.NaN }, { intervalSecs: 0 }]) {
      assert.throws(() => new SandboxGc({ ...base, ...bad }), (e: unknown) => e instanceof MusterError && e.code === 'INVALID_ARGUMENT');
    }
  });

  test('a missing sandboxes directory is nothing to collect', async () => {
    rmSync(path.join(workDir, 'sandboxes'), { recursive: true });
    assert.deepEqual(await gc().runOnce(), []);
  });
});
