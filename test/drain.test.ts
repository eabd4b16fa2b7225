// Host maintenance against a real cell, through the muster command: draining a host moves a
// service's instances to another host in batches of its update.batchSize, the host shows DRAINED
// once nothing runs there, a new job never lands on it, and activating it makes it ACTIVE again.
// A host name no agent has is one line and exit 4, and nothing is drained.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { EventView, HostView, JobView } from '../src/protocol/index.js';
import { cell, settle, waitFor, type Cell, type CliResult } from './harness.js';
import { serviceConfig, yamlOf } from './jobconfig.js';
import { brief, waitRunning } from './jobs.js';

const KEY = 'web/prod/drained';

/** ok asserts a command succeeded and returns its stdout. */
function ok(result: CliResult, what: string): string {
  assert.equal(result.code, 0, `${what} exits 0; stderr:\n${result.stderr}\nstdout:\n${result.stdout}`);
  return result.stdout;
}

/** refused asserts a command failed with the exit code and one line on stderr, and returns that line. */
function refused(result: CliResult, code: number, what: string): string {
  assert.equal(result.code, code, `${what} exits ${code}; stderr:\n${result.stderr}\nstdout:\n${result.stdout}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what} prints one line, no stack:\n${result.stderr}`);
  return lines[0] ?? '';
}

async function hostStatus(c: Cell, ...hosts: string[]): Promise<HostView[]> {
  const stdout = ok(await c.cli(['host', 'status', ...hosts, '--json']), 'muster host status --json');
  return (JSON.parse(stdout) as { hosts: HostView[] }).hosts;
}

/** jobFile writes a service config and returns its path. */
function jobFile(c: Cell, key: string, overrides: Record<string, unknown>): string {
  const file = join(c.dir, `${key.replaceAll('/', '-')}.yaml`);
  writeFileSync(file, yamlOf(serviceConfig(key, overrides)));
  return file;
}

/** inMotion counts the instances not serving: pending, not yet running, or being killed. */
function inMotion(job: JobView): number {
  return job.instances.filter((i) => i.state === 'PENDING' || i.task?.state !== 'TASK_RUNNING' || i.task.killRequested).length;
}

test('draining a host moves its service instances off in batches, and activating it takes new tasks again', async (t) => {
  const c = cell(t);
  const master = await c.startMaster();
  // Only host-a runs at first, so that every instance lands there.
  await c.startAgent(master, { hostname: 'host-a' });
  await c.waitForAgents(1);
  const client = c.client();
  ok(await c.cli(['job', 'create', jobFile(c, KEY, { instances: 4, update: { batchSize: 2 } })]), 'muster job create');
  const placed = await waitRunning(client, KEY);
  assert.ok(
    placed.instances.every((i) => i.task?.hostname === 'host-a'),
    `every instance runs on host-a: ${brief(placed)}`,
  );
  await c.startAgent(master, { hostname: 'host-b' });
  await c.waitForAgents(2);

  await t.test('a host no agent has is refused with one line, and nothing is drained', async () => {
    const line = refused(await c.cli(['host', 'drain', 'host-a', 'no-such-host']), 4, 'muster host drain no-such-host');
    assert.match(line, /no agent has the hostname no-such-host/);
    refused(await c.cli(['host', 'status', 'no-such-host']), 4, 'muster host status no-such-host');
    const line2 = refused(await c.cli(['host', 'drain', 'not a host!']), 2, 'muster host drain with a bad name');
    assert.match(line2, /is not a hostname/);
    // A bad body is refused naming the field.
    for (const [body, field] of [
      [{ hostnames: 'host-a' }, 'hostnames'],
      [{ hostnames: [] }, 'hostnames'],
      [{ hostnames: ['host-a', 'x'.repeat(256)] }, 'hostnames[1]'],
      [{ hosts: ['host-a'] }, 'hosts'],
    ] as const) {
      const res = await fetch(`${master.url}/api/v1/hosts/drain`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const answer = (await res.json()) as { error: { code: string; details?: { field?: string } } };
      assert.equal(res.status, 400, JSON.stringify(answer));
      assert.equal(answer.error.details?.field, field, JSON.stringify(answer));
    }
    assert.deepEqual(
      (await hostStatus(c)).map((h) => [h.hostname, h.mode, h.tasks, h.services]),
      [
        ['host-a', 'ACTIVE', 4, 4],
        ['host-b', 'ACTIVE', 0, 0],
      ],
    );
  });

  await t.test('drain moves every instance to the other host, at most batchSize at a time', async () => {
    const seen: EventView[] = [];
    const stop = new AbortController();
    const reading = client.events((e) => seen.push(e), stop.signal).catch(() => undefined);
    // The stream is open once its first comment arrived; give it a moment before acting.
    await settle(200);
    const out = ok(await c.cli(['host', 'drain', 'host-a']), 'muster host drain host-a');
    assert.match(out, /^host-a +DRAIN(ING|ED) /m, out);
    let most = 0;
    const moved = await waitFor(() => client.getJob(KEY), {
      what: `every instance of ${KEY} running on host-b`,
      until: (job) => {
        most = Math.max(most, inMotion(job));
        return job.instances.length === 4 && job.instances.every((i) => i.task?.state === 'TASK_RUNNING' && i.task.hostname === 'host-b' && !i.task.killRequested);
      },
      timeoutMs: 60_000,
    });
    stop.abort();
    await reading;
    assert.ok(most <= 2, `at most 2 instances were in motion at once, but ${most} were seen: ${brief(moved)}`);
    // The master asked for the moves in batches: the first two at once, then one per replacement running.
    const kills = seen.filter((e) => e.type === 'KillRequested').map((e) => e as EventView & { instances: number[]; restart: boolean; reason: string });
    assert.ok(kills.length >= 2, `the drain took more than one batch: ${JSON.stringify(kills)}`);
    assert.deepEqual(kills[0]?.instances, [0, 1], 'the first batch is batchSize instances');
    assert.ok(kills.every((k) => k.instances.length <= 2 && k.restart && k.reason === 'REASON_AGENT_DRAINING'), JSON.stringify(kills));
    assert.deepEqual(kills.flatMap((k) => k.instances).sort(), [0, 1, 2, 3], 'each instance moved once');
  });

  await t.test('host status shows the drained host DRAINED with nothing left on it', async () => {
    const [a] = await waitFor(() => hostStatus(c, 'host-a'), { what: 'host-a DRAINED', until: (h) => h[0]?.mode === 'DRAINED' });
    assert.ok(a !== undefined);
    assert.equal(a.tasks, 0);
    assert.equal(a.services, 0);
    assert.equal(typeof a.since, 'number');
    const text = ok(await c.cli(['host', 'status']), 'muster host status');
    assert.match(text, /^HOST +MODE +TASKS +SERVICES +SINCE$/m, text);
    assert.match(text, /^host-a +DRAINED +0 +0 +\d+[smhd] ago$/m, text);
    assert.match(text, /^host-b +ACTIVE +4 +4 +-$/m, text);
  });

  await t.test('a new job never lands on a drained host', async () => {
    // Spread by host would put one of the two on host-a, were it allowed.
    ok(await c.cli(['job', 'create', jobFile(c, 'web/prod/after', { instances: 2 })]), 'muster job create web/prod/after');
    const job = await waitRunning(client, 'web/prod/after');
    assert.ok(
      job.instances.every((i) => i.task?.hostname === 'host-b'),
      `every instance runs on host-b: ${brief(job)}`,
    );
  });

  await t.test('activate makes the host ACTIVE again', async () => {
    const out = ok(await c.cli(['host', 'activate', 'host-a']), 'muster host activate host-a');
    assert.match(out, /^host-a +ACTIVE +0 +0 +-$/m, out);
    const [a] = await hostStatus(c, 'host-a');
    assert.equal(a?.mode, 'ACTIVE');
    assert.equal(a?.since, undefined);
  });
});
