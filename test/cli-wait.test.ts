// `muster job create --wait` tells the truth against a real master and agent: a service whose
// tasks die a second after they start is not "running", however it looked at first; one that
// stays up passes once it has stayed up for --settle seconds, and a health check must pass too.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { cell, type Cell } from './harness.js';
import { serviceConfig, yamlOf } from './jobconfig.js';

function configFile(c: Cell, name: string, config: Record<string, unknown>): string {
  const file = join(c.dir, `${name}.yaml`);
  writeFileSync(file, yamlOf(config));
  return file;
}

interface WaitError {
  error: { code: string; message: string; details: { job: string; instances: { instance: number; failures: number; state: string; reason?: string; message?: string }[] } };
}

test('job create --wait exits 1 naming the instances whose tasks keep dying, with state, reason and message', async (t) => {
  const c = cell(t);
  await c.startCell(1);
  const key = 'web/prod/flaky';
  // Each task runs a second, long enough to be seen TASK_RUNNING, then fails.
  const file = configFile(c, 'flaky', serviceConfig(key, { instances: 2, processes: [{ name: 'main', cmd: 'sleep 1; exit 3' }] }));
  const ran = await c.cli(['job', 'create', file, '--wait', '--timeout', '90', '--settle', '3']);
  assert.equal(ran.code, 1, `exit 1, not 0 or 7; stderr:\n${ran.stderr}`);
  assert.match(ran.stderr, /^web\/prod\/flaky: [12]\/2 running/m, `progress shows tasks running first:\n${ran.stderr}`);
  assert.match(ran.stderr, /^muster: web\/prod\/flaky keeps failing: instances? [0-9,-]+ failed at least 3 times while --wait watched$/m, ran.stderr);
  assert.match(ran.stderr, /^ {2}instance 0 failed( \d+ times, last)?: TASK_FAILED \(REASON_[A-Z_]+\)(: .+)? \(task web-prod-flaky-0-[^)]+\)$/m, ran.stderr);
  assert.match(ran.stderr, /^ {2}instance 1 failed/m, ran.stderr);
  assert.match(ran.stderr, /see muster job status web\/prod\/flaky and muster task logs web\/prod\/flaky\/\d --stderr/, ran.stderr);

  const key2 = 'web/prod/flaky2';
  const file2 = configFile(c, 'flaky2', serviceConfig(key2, { instances: 1, processes: [{ name: 'main', cmd: 'sleep 1; exit 3' }] }));
  const json = await c.cli(['job', 'create', file2, '--wait', '--timeout', '90', '--json']);
  assert.equal(json.code, 1, json.stderr);
  const body = JSON.parse(json.stdout) as WaitError;
  assert.equal(body.error.code, 'JOB_FAILED');
  assert.equal(body.error.details.job, key2);
  const [failed] = body.error.details.instances;
  assert.equal(failed?.instance, 0);
  assert.ok((failed?.failures ?? 0) >= 3, JSON.stringify(body));
  assert.equal(failed?.state, 'TASK_FAILED', JSON.stringify(body));
});

test('job create --wait exits 0 once every instance has stayed up for --settle seconds, healthy where checked', async (t) => {
  const c = cell(t);
  await c.startCell(1);
  const key = 'web/prod/steady';
  const file = configFile(c, 'steady', serviceConfig(key, { instances: 2 }));
  const t0 = performance.now();
  const ran = await c.cli(['job', 'create', file, '--wait', '--timeout', '90', '--settle', '2']);
  const secs = (performance.now() - t0) / 1000;
  assert.equal(ran.code, 0, ran.stderr);
  assert.ok(secs >= 2, `--wait waited out the settle time (${secs}s)`);
  assert.match(ran.stderr, /^web\/prod\/steady: 2\/2 running; checking that they stay up for 2s$/m, ran.stderr);
  assert.match(ran.stderr, /^web\/prod\/steady: 2\/2 running, up for 2s$/m, ran.stderr);

  // With a health check, running is not enough: the check must pass.
  const checked = 'web/prod/checked';
  const health = { command: { cmd: 'true' }, gracePeriodSecs: 0, intervalSecs: 0.5, timeoutSecs: 5 };
  const file2 = configFile(c, 'checked', serviceConfig(checked, { instances: 1, health }));
  const ok = await c.cli(['job', 'create', file2, '--wait', '--timeout', '90', '--settle', '0']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /^web\/prod\/checked: 1\/1 running and healthy$/m, ok.stderr);
  const job = await c.client().getJob(checked);
  assert.equal(job.instances[0]?.task?.healthy, true, 'the check had passed when --wait said so');
});

test('job create --wait of a service that fails its health check never says it is up', async (t) => {
  const c = cell(t);
  await c.startCell(1);
  const key = 'web/prod/sick';
  const health = { command: { cmd: 'false' }, gracePeriodSecs: 0, intervalSecs: 0.5, timeoutSecs: 5, consecutiveFailures: 1000 };
  const file = configFile(c, 'sick', serviceConfig(key, { instances: 1, health }));
  const ran = await c.cli(['job', 'create', file, '--wait', '--timeout', '4', '--settle', '1']);
  assert.equal(ran.code, 7, ran.stderr);
  assert.match(ran.stderr, /^muster: timed out after 4s waiting for web\/prod\/sick: 0\/1 running and healthy, 1 not healthy yet/m, ran.stderr);
});
