// The agent never hands out a port another program on its machine listens on: it reports the
// ports of its range that others hold, the master offers around them, and a LAUNCH for a port
// taken since the last report is dropped and placed again on a free one. Real master, agent and
// task processes; the "other program" is a listening socket of this test process.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { test, type TestContext } from 'node:test';
import { cell, waitFor } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { brief, waitRunning } from './jobs.js';

/** listenOn holds a TCP port on 127.0.0.1 until the test ends; false if someone else has it. */
async function listenOn(t: TestContext, port: number): Promise<boolean> {
  const server: Server = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return ok;
}

/**
 * heldRange finds `size` free consecutive ports and holds the first `hold` of them. They lie below
 * the kernel's ephemeral range (32768 and up here) and below the harness's task ports (20000 and
 * up): no connection the master, the agent or this test opens can take one of them meanwhile.
 */
async function heldRange(t: TestContext, size: number, hold: number): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * (10_000 - size));
    let ok = true;
    for (let p = 0; p < hold && ok; p++) ok = await listenOn(t, base + p);
    // The rest must be free too; a short listen proves it.
    for (let p = hold; p < size && ok; p++) {
      const probe = createServer();
      ok = await new Promise<boolean>((resolve) => {
        probe.once('error', () => resolve(false));
        probe.listen(base + p, '127.0.0.1', () => probe.close(() => resolve(true)));
      });
    }
    if (ok) return base;
  }
  throw new Error(`found no ${size} free consecutive ports`);
}

const KEY = 'web/prod/ports';

test('the master offers no port that another program on the agent listens on', async (t) => {
  const c = cell(t);
  const base = await heldRange(t, 4, 2);
  const master = await c.startMaster();
  await c.startAgent(master, { resources: `cpus:2;mem:1024;disk:1024;ports:[${base}-${base + 3}]` });
  await c.waitForAgents(1);
  const client = c.client();
  await client.createJob(yamlOf(serviceConfig(KEY, { instances: 2, resources: { cpus: 0.1, mem: '16MiB', disk: '16MiB', ports: ['http'] } })), YAML);
  const job = await waitRunning(client, KEY);
  const ports = job.instances.map((i) => i.task?.ports['http']).sort();
  assert.deepEqual(ports, [base + 2, base + 3], `the held ${base} and ${base + 1} are left alone: ${brief(job)}`);
  const all = await client.listTasks({ job: KEY, all: true });
  assert.equal(all.length, 2, `no launch was refused: ${all.map((task) => `${task.taskId} ${task.state}`).join(', ')}`);
});

test('a LAUNCH for a port taken since the agent last reported is dropped and placed again on a free port', async (t) => {
  const c = cell(t);
  const base = await heldRange(t, 2, 0);
  const master = await c.startMaster();
  // No usage report within the test: the master learns of the taken port only from the LAUNCH.
  await c.startAgent(master, { resources: `cpus:2;mem:1024;disk:1024;ports:[${base}-${base + 1}]`, args: ['--usage-interval', '3600'] });
  await c.waitForAgents(1);
  assert.ok(await listenOn(t, base), `port ${base} is free to take`);
  const client = c.client();
  await client.createJob(yamlOf(serviceConfig(KEY, { resources: { cpus: 0.1, mem: '16MiB', disk: '16MiB', ports: ['http'] } })), YAML);
  const job = await waitRunning(client, KEY);
  assert.equal(job.instances[0]?.task?.ports['http'], base + 1, brief(job));
  const tasks = await waitFor(() => client.listTasks({ job: KEY, all: true }), { what: 'both tasks of the instance', until: (ts) => ts.length === 2 });
  const dropped = tasks.find((task) => task.state === 'TASK_DROPPED');
  assert.ok(dropped !== undefined, `the first launch was dropped: ${tasks.map((task) => `${task.taskId} ${task.state}`).join(', ')}`);
  assert.equal(dropped.reason, 'REASON_LAUNCH_FAILED');
  assert.match(dropped.message ?? '', new RegExp(`port http=${base} is already in use by another program`));
});
