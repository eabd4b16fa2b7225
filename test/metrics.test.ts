// Metrics an operator can alert on, read from real masters and agents: the pages pass
// `promtool check metrics`; the histograms get observations when a job runs; a task-state series
// stays at 0 rather than vanishing; an ended task's per-task series leave the agent; and two
// masters in one process keep their metrics apart.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { MusterClient } from '../src/client/index.js';
import { silentLogger } from '../src/log/index.js';
import { startMaster } from '../src/master/index.js';
import { cell, waitFor } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { waitRunning } from './jobs.js';
import { hasBinary, requireOrSkip } from './require.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** parse reads the samples of a page in Prometheus's text format (comments skipped). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m !== null, `a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] ?? ''] = l[2] ?? '';
    out.push({ name: m[1] ?? '', labels, value: Number(m[3]) });
  }
  return out;
}

/** find returns the samples named name whose labels include the given ones. */
function find(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** value is the one sample named name with those labels; the test fails if there is none or several. */
function value(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = find(samples, name, labels);
  assert.equal(found.length, 1, `one sample ${name}${JSON.stringify(labels)}, found ${found.length}`);
  return (found[0] as Sample).value;
}

async function scrape(url: string): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, samples: parse(text) };
}

test("the master's and the agent's /metrics pass promtool check metrics; an offer not used is declined", async (t) => {
  const c = cell(t);
  const { master, client } = await c.startCell(2);
  await client.createJob(yamlOf(serviceConfig('web/prod/linted', { instances: 1 })), YAML);
  const job = await waitRunning(client, 'web/prod/linted');
  const task = job.instances[0]?.task;
  const agent = c.agents.find((a) => a.hostname === task?.hostname);
  assert.ok(task !== undefined && agent !== undefined, `the agent of ${task?.taskId ?? '?'}`);
  // One instance, two agents offered: the other agent's offer is declined.
  assert.ok(value((await scrape(master.url)).samples, 'muster_master_offers_declined_total') >= 1, 'the offer not used is declined');
  // Wait for the per-task series, so that the agent's page is linted with them.
  await waitFor(async () => find((await scrape(agent.url)).samples, 'muster_agent_task_memory_bytes', { task: task.taskId }).length, {
    what: `the usage series of ${task.taskId} on the agent`,
    until: (n) => n === 1,
  });

  if (!requireOrSkip(t, hasBinary('promtool'), 'needs promtool on PATH (Debian package prometheus)')) return;

  for (const [who, url] of [['master', master.url], ['agent', agent.url]] as const) {
    const { text } = await scrape(url);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check metrics on the ${who}'s page:\n${check.stdout}${check.stderr}`);
    assert.equal(`${check.stdout}${check.stderr}`.trim(), '', `promtool has no remark on the ${who}'s page`);
  }
});

test('histograms fill as a job runs, task-state series stay at 0, and an ended task leaves no series on the agent', async (t) => {
  const c = cell(t);
  const { master, agents, client } = await c.startCell(1);
  const agent = agents[0];
  assert.ok(agent !== undefined);
  const agentId = await agent.agentId();
  assert.ok(agentId !== undefined);

  let m = (await scrape(master.url)).samples;
  let a = (await scrape(agent.url)).samples;
  assert.equal(value(m, 'muster_master_tasks', { state: 'TASK_RUNNING' }), 0, 'the master shows every state before any task');
  assert.equal(value(a, 'muster_agent_tasks', { state: 'TASK_RUNNING' }), 0, 'the agent shows every state before any task');
  assert.equal(value(m, 'muster_master_status_updates_total', { state: 'TASK_FAILED' }), 0);
  assert.equal(value(m, 'muster_master_leader'), 1);
  assert.equal(value(m, 'muster_master_agent_resources', { agent_id: agentId, host: agent.hostname, resource: 'cpus' }), 2);
  assert.equal(value(m, 'muster_master_agent_resources', { agent_id: agentId, resource: 'mem' }), 1024 * 1024 * 1024);
  assert.equal(value(m, 'muster_master_agent_resources_used', { agent_id: agentId, resource: 'cpus' }), 0);
  assert.equal(value(m, 'muster_master_build_info', { node_version: process.version }), 1);
  assert.ok(find(m, 'process_cpu_user_seconds_total').length === 1, 'the process metrics are there');

  const KEY = 'web/prod/metered';
  await client.createJob(yamlOf(serviceConfig(KEY, { instances: 2 })), YAML);
  const job = await waitRunning(client, KEY);
  const taskIds = job.instances.map((i) => i.task?.taskId ?? '');

  m = (await scrape(master.url)).samples;
  for (const name of ['muster_master_scheduling_pass_seconds', 'muster_master_log_append_seconds']) {
    assert.ok(value(m, `${name}_count`) >= 1, `${name} has observations`);
  }
  assert.ok(value(m, 'muster_master_placement_latency_seconds_count') >= 2, 'each instance placed is one observation');
  assert.ok(value(m, 'muster_master_task_launch_to_running_seconds_count') >= 2, 'each task started is one observation');
  assert.ok(value(m, 'muster_master_placement_latency_seconds_bucket', { le: '+Inf' }) >= 2);
  assert.equal(value(m, 'muster_master_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/jobs', status_class: '2xx' }), 1);
  assert.ok(
    value(m, 'muster_master_http_request_duration_seconds_count', { method: 'GET', route: '/api/v1/jobs/:role/:env/:name', status_class: '2xx' }) >= 1,
    'a request is labelled with its route pattern, not its path',
  );
  assert.ok(value(m, 'muster_master_status_updates_total', { state: 'TASK_RUNNING' }) >= 2);
  assert.equal(value(m, 'muster_master_tasks', { state: 'TASK_RUNNING' }), 2);
  assert.equal(value(m, 'muster_master_tasks_launched_total'), 2);
  assert.ok(value(m, 'muster_master_offers_total') >= 1);
  assert.equal(value(m, 'muster_master_agent_resources_used', { agent_id: agentId, resource: 'cpus' }), 0.2);

  // The agent: its start histogram, and each running task's usage series.
  await waitFor(async () => (await scrape(agent.url)).samples, {
    what: 'the usage series of both tasks on the agent',
    until: (s) => taskIds.every((id) => find(s, 'muster_agent_task_memory_bytes', { task: id, job: KEY }).length === 1),
  });
  a = (await scrape(agent.url)).samples;
  assert.ok(value(a, 'muster_agent_task_start_seconds_count') >= 2);
  assert.equal(value(a, 'muster_agent_tasks', { state: 'TASK_RUNNING' }), 2);
  assert.equal(find(a, 'muster_agent_task_cpu_seconds_total', { job: KEY }).length, 2);

  // The job ends: its tasks' series leave the agent, and the state series stay, at 0.
  await client.killJob(KEY);
  a = await waitFor(async () => (await scrape(agent.url)).samples, {
    what: "the ended tasks' series to leave the agent",
    until: (s) => !s.some((x) => taskIds.includes(x.labels['task'] ?? '')),
  });
  assert.equal(value(a, 'muster_agent_tasks', { state: 'TASK_RUNNING' }), 0);
  m = await waitFor(async () => (await scrape(master.url)).samples, {
    // Running, or being killed (a task TASK_KILLING still holds its resources): both ended.
    what: 'no running or killing task on the master',
    until: (s) => find(s, 'muster_master_tasks', { state: 'TASK_RUNNING' })[0]?.value === 0 && find(s, 'muster_master_tasks', { state: 'TASK_KILLING' })[0]?.value === 0,
  });
  assert.equal(value(m, 'muster_master_tasks', { state: 'TASK_RUNNING' }), 0, 'the series is still there, at 0');
  assert.equal(value(m, 'muster_master_agent_resources_used', { agent_id: agentId, resource: 'cpus' }), 0);
  assert.equal(value(m, 'muster_master_agents', { state: 'connected' }), 1);

  // A task that fails its health check counts on both sides.
  const SICK = 'web/prod/sick';
  await client.createJob(
    yamlOf(serviceConfig(SICK, { health: { command: { cmd: 'exit 1' }, intervalSecs: 0.2, gracePeriodSecs: 0, consecutiveFailures: 2 } })),
    YAML,
  );
  await waitFor(async () => value((await scrape(master.url)).samples, 'muster_master_health_check_failures_total'), {
    what: 'a health failure counted by the master',
    until: (n) => n >= 1,
  });
  await waitFor(async () => value((await scrape(agent.url)).samples, 'muster_agent_health_check_failures_total'), {
    what: 'the failed checks counted by the agent',
    until: (n) => n >= 2,
  });
  await client.killJob(SICK);
});

test('two masters in one process keep their metrics apart', async (t) => {
  const c = cell(t);
  const masters = await Promise.all(
    ['one', 'two'].map((name) =>
      startMaster({ port: 0, host: '127.0.0.1', store: `sqlite:${join(c.dir, `${name}.db`)}`, agentTimeoutSecs: 60, heartbeatSecs: 1, snapshotEvery: 1000, logger: silentLogger }),
    ),
  );
  t.after(() => Promise.all(masters.map((m) => m.close())));
  const [one, two] = masters;
  assert.ok(one !== undefined && two !== undefined);
  await new MusterClient({ masters: [one.url] }).setQuota('web', { cpus: 1 });
  assert.equal(value((await scrape(one.url)).samples, 'muster_master_log_index'), 1);
  assert.equal(value((await scrape(two.url)).samples, 'muster_master_log_index'), 0);
  assert.equal(value((await scrape(one.url)).samples, 'muster_master_events_appended_total'), 1);
  assert.equal(value((await scrape(two.url)).samples, 'muster_master_events_appended_total'), 0);
});
