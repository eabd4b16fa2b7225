// What an operator watches: the live event stream, the status page and the metrics of master and
// agent, read from real processes while a job starts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventView } from '../src/protocol/index.js';
import { cell, waitFor } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { waitRunning } from './jobs.js';

const KEY = 'web/prod/watched';

test('the event stream shows a job being created, placed and running, in log order', async (t) => {
  const c = cell(t);
  const { client } = await c.startCell(1);

  const seen: EventView[] = [];
  const stop = new AbortController();
  const reading = client.events((e) => seen.push(e), stop.signal).catch(() => undefined);
  // The stream is open once its first comment arrived; give it a moment before acting.
  await new Promise((r) => setTimeout(r, 200));
  await client.createJob(yamlOf(serviceConfig(KEY, { instances: 2 })), YAML);
  await waitFor(() => seen.filter((e) => e.type === 'TaskStatusUpdated' && (e['status'] as { state: string }).state === 'TASK_RUNNING').length, {
    what: 'two TASK_RUNNING events on the stream',
    until: (n) => n >= 2,
  });
  stop.abort();
  await reading;

  const types = seen.map((e) => e.type);
  assert.equal(types[0], 'JobCreated');
  assert.ok(types.indexOf('TasksLaunched') > 0, `TasksLaunched follows JobCreated: ${types.join(', ')}`);
  const indexes = seen.map((e) => e.index);
  assert.deepEqual(indexes, [...indexes].sort((a, b) => a - b), 'events arrive in log order');
  assert.equal(new Set(indexes).size, indexes.length, 'no event arrives twice');
  assert.equal((seen[0] as EventView & { spec: { job: string } }).spec.job, KEY);
});

test('the web UI is served at / and /metrics shows the cell, its agents, jobs and running tasks', async (t) => {
  const c = cell(t);
  const { master, agents, client } = await c.startCell(1);
  const agent = agents[0];
  assert.ok(agent !== undefined);
  await client.createJob(yamlOf(serviceConfig(KEY, { instances: 2 })), YAML);
  await waitRunning(client, KEY);

  const page = await fetch(`${master.url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  // What the page shows is tested in a real browser: test/ui.test.ts.
  assert.match(await page.text(), /<script type="module" src="\/ui\/app\.js\?v=[0-9a-f]+"><\/script>/, 'the page loads the web UI');

  const metrics = await (await fetch(`${master.url}/metrics`)).text();
  assert.match(metrics, /^muster_master_jobs 1$/m);
  assert.match(metrics, /^muster_master_tasks\{state="TASK_RUNNING"\} 2$/m);
  assert.match(metrics, /^muster_master_agents\{state="connected"\} 1$/m);
  const logIndex = Number(/^muster_master_log_index (\d+)$/m.exec(metrics)?.[1]);
  assert.ok(logIndex >= 4, `the log holds the agent, the job, the launch and the updates (index ${logIndex})`);

  const agentMetrics = await fetch(`${agent.url}/metrics`);
  assert.equal(agentMetrics.status, 200);
  assert.match(await agentMetrics.text(), /^# TYPE /m);
});
