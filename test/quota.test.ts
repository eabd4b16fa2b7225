// Quotas per role against a real cell, through the muster command: set, get and list them; a job
// past its role's quota is refused with the figures and nothing is created; preemptible jobs do not
// count; a bad quota is one line and changes nothing; quotas survive a master restart.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { QuotaView } from '../src/protocol/index.js';
import { cell, json, ok, type Cell, type CliResult } from './harness.js';
import { serviceConfig, yamlOf } from './jobconfig.js';

/** refused asserts a command failed with the exit code and one line on stderr, and returns that line. */
function refused(result: CliResult, code: number, what: string): string {
  assert.equal(result.code, code, `${what} exits ${code}; stderr:\n${result.stderr}\nstdout:\n${result.stdout}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what} prints one line, no stack:\n${result.stderr}`);
  return lines[0] ?? '';
}

/** jobFile writes a small service config (0.25 cpus, 16MiB a task) and returns its path. */
function jobFile(c: Cell, key: string, overrides: Record<string, unknown> = {}): string {
  const file = join(c.dir, `${key.replaceAll('/', '-')}.yaml`);
  writeFileSync(file, yamlOf(serviceConfig(key, { resources: { cpus: 0.25, mem: '16MiB', disk: '16MiB', ports: [] }, ...overrides })));
  return file;
}

test('a role quota is set, shown, enforced on job create, ignores preemptible jobs, refuses bad input and survives a master restart', async (t) => {
  const c = cell(t);
  const { master, client } = await c.startCell(1);

  await t.test('quota set, get and list show the quota, what is used and what is free', async () => {
    const set = json<QuotaView>(await c.cli(['quota', 'set', 'web', 'cpus=1', 'mem=64MiB', '--json']), 'muster quota set');
    assert.deepEqual(set.quota, { cpus: 1, mem: 64 });
    const view = json<QuotaView>(await c.cli(['quota', 'get', 'web', '--json']), 'muster quota get --json');
    assert.deepEqual(view.quota, { cpus: 1, mem: 64 });
    assert.deepEqual(view.used, { cpus: 0, mem: 0, disk: 0, gpus: 0 });
    assert.deepEqual(view.free, { cpus: 1, mem: 64 });
    const text = ok(await c.cli(['quota', 'get', 'web']), 'muster quota get');
    assert.match(text, /^cpus +1 +0 +1$/m, text);
    assert.match(text, /^mem +64MiB +0MiB +64MiB$/m, text);
    assert.match(text, /^disk +unlimited +0MiB +-$/m, text);
    const list = ok(await c.cli(['quota', 'list']), 'muster quota list');
    assert.match(list, /^web +0\/1 +0MiB\/64MiB +0MiB\/- +0\/- /m, list);
    const listed = json<{ quotas: QuotaView[] }>(await c.cli(['quota', 'list', '--json']), 'muster quota list --json');
    assert.deepEqual(
      listed.quotas.map((q) => q.role),
      ['web'],
    );
  });

  await t.test('a job within the quota is created and counted', async () => {
    ok(await c.cli(['job', 'create', jobFile(c, 'web/prod/a', { instances: 2 })]), 'muster job create web/prod/a');
    const view = await client.getQuota('web');
    assert.deepEqual(view.used, { cpus: 0.5, mem: 32, disk: 32, gpus: 0 });
    assert.deepEqual(view.free, { cpus: 0.5, mem: 32 });
  });

  await t.test('a job past the quota is refused with the figures, and nothing is created', async () => {
    const before = (await client.listJobs()).map((j) => j.job).sort();
    const line = refused(await c.cli(['job', 'create', jobFile(c, 'web/prod/b', { instances: 3 })]), 5, 'muster job create past the quota');
    assert.equal(
      line,
      'muster: cannot create job web/prod/b: role "web" has 0.5 cpus of quota left, the job needs 0.75 (quota 1 cpus, used 0.5); ' +
        'and 32MiB mem left, the job needs 48MiB (quota 64MiB mem, used 32MiB); see muster quota get web',
    );
    await assert.rejects(client.getJob('web/prod/b'), (e: unknown) => (e as { code?: unknown }).code === 'JOB_NOT_FOUND');
    assert.deepEqual((await client.listJobs()).map((j) => j.job).sort(), before);
    assert.deepEqual((await client.getQuota('web')).used, { cpus: 0.5, mem: 32, disk: 32, gpus: 0 }, 'the usage is unchanged');
  });

  await t.test('a preemptible job of the role is created and not counted', async () => {
    ok(await c.cli(['job', 'create', jobFile(c, 'web/prod/cheap', { instances: 3, tier: 'preemptible' })]), 'muster job create preemptible');
    assert.deepEqual((await client.getQuota('web')).used, { cpus: 0.5, mem: 32, disk: 32, gpus: 0 });
  });

  await t.test('a bad quota is refused with one line naming it, and nothing changes', async () => {
    const cases: [string[], RegExp][] = [
      [['cpus=-1'], /cpus "-1"/],
      [['cpu=2'], /unknown resource "cpu"/],
      [['mem=lots'], /mem: "lots" is not a size/],
      [['gpus=two'], /gpus "two"/],
      [[], /RESOURCE=VALUE/],
    ];
    for (const [args, message] of cases) {
      const line = refused(await c.cli(['quota', 'set', 'web', ...args]), 2, `muster quota set web ${args.join(' ')}`);
      assert.match(line, message);
    }
    // Past the master's bounds: the CLI reads it, the master refuses it (input refused, exit 3).
    const line = refused(await c.cli(['quota', 'set', 'web', 'cpus=99999999']), 3, 'muster quota set past the limit');
    assert.match(line, /cpus/);
    assert.deepEqual((await client.getQuota('web')).quota, { cpus: 1, mem: 64 });
  });

  await t.test('quotas survive a master restart', async () => {
    await master.restart();
    const view = json<QuotaView>(await c.cli(['quota', 'get', 'web', '--json']), 'muster quota get after the restart');
    assert.deepEqual(view.quota, { cpus: 1, mem: 64 });
    assert.deepEqual(view.used, { cpus: 0.5, mem: 32, disk: 32, gpus: 0 });
    refused(await c.cli(['job', 'create', jobFile(c, 'web/prod/b', { instances: 3 })]), 5, 'muster job create past the quota after the restart');
  });

  await t.test('quota set --clear makes the role unlimited again', async () => {
    ok(await c.cli(['quota', 'set', 'web', '--clear']), 'muster quota set --clear');
    assert.equal((await client.getQuota('web')).quota, undefined);
    assert.deepEqual(await client.listQuotas(), []);
    ok(await c.cli(['job', 'create', jobFile(c, 'web/prod/b', { instances: 3 })]), 'muster job create once the quota is gone');
  });
});
