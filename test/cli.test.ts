// The muster command against a real cell: create a job from a file, watch it run, read a task's
// output, see the agents, kill the job; with --json, every answer parses.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isTerminal } from '../src/core/index.js';
import { cell, waitFor, type CliResult } from './harness.js';
import { serviceConfig, yamlOf } from './jobconfig.js';
import { taskOf, waitRunning } from './jobs.js';
import { hasProcfs, liveTaskIds } from './proc.js';

const KEY = 'web/prod/hello';

/** ok asserts a command succeeded and returns its stdout. */
function ok(result: CliResult, what: string): string {
  assert.equal(result.code, 0, `${what} exits 0; stderr:\n${result.stderr}\nstdout:\n${result.stdout}`);
  return result.stdout;
}

/** json parses the stdout of a --json command. */
function json(result: CliResult, what: string): unknown {
  const stdout = ok(result, what);
  try {
    return JSON.parse(stdout) as unknown;
  } catch (e) {
    assert.fail(`${what} prints JSON, but: ${(e as Error).message}\n${stdout}`);
  }
}

test('the muster command creates a job, shows its tasks, their logs and the agents, and kills it', async (t) => {
  const c = cell(t);
  const master = await c.startMaster();
  const agents = [await c.startAgent(master), await c.startAgent(master)];
  await c.waitForAgents(2);
  const client = c.client();

  const file = join(c.dir, 'hello.yaml');
  writeFileSync(
    file,
    yamlOf(serviceConfig(KEY, { instances: 3, processes: [{ name: 'main', cmd: 'echo "hello from instance $MUSTER_INSTANCE"; exec sleep 3600' }] })),
  );
  ok(await c.cli(['job', 'create', file]), 'muster job create FILE');
  const job = await waitRunning(client, KEY);
  const ids = [0, 1, 2].map((i) => taskOf(job, i).taskId);

  await t.test('job status shows a TASK_RUNNING row for each instance', async () => {
    const out = ok(await c.cli(['job', 'status', KEY]), 'muster job status');
    const running = out.split('\n').filter((line) => line.includes('TASK_RUNNING'));
    assert.equal(running.length, 3, `three TASK_RUNNING rows:\n${out}`);
    for (const id of ids) assert.ok(out.includes(id), `the status names task ${id}:\n${out}`);
  });

  await t.test('job list shows the job', async () => {
    const out = ok(await c.cli(['job', 'list']), 'muster job list');
    assert.ok(out.includes(KEY), out);
  });

  await t.test('task list shows the three tasks', async () => {
    const out = ok(await c.cli(['task', 'list']), 'muster task list');
    for (const id of ids) assert.ok(out.includes(id), `the list names task ${id}:\n${out}`);
    const byJob = ok(await c.cli(['task', 'list', '--job', KEY]), 'muster task list --job');
    for (const id of ids) assert.ok(byJob.includes(id), `the list names task ${id}:\n${byJob}`);
  });

  await t.test('task logs prints what the task wrote to stdout, by instance or by task id', async () => {
    const byInstance = await waitFor(() => c.cli(['task', 'logs', `${KEY}/0`]), {
      what: `muster task logs ${KEY}/0 to print the task's greeting`,
      until: (r) => r.code === 0 && r.stdout.includes('hello from instance 0'),
    });
    assert.ok(!byInstance.stdout.includes('hello from instance 1'), 'only instance 0 is shown');
    const id = ids[2] ?? '';
    const byId = ok(await c.cli(['task', 'logs', id]), 'muster task logs TASK_ID');
    assert.ok(byId.includes('hello from instance 2'), byId);
  });

  await t.test('cell status shows both agents', async () => {
    const out = ok(await c.cli(['cell', 'status']), 'muster cell status');
    for (const agent of agents) assert.ok(out.includes(agent.hostname), `cell status names ${agent.hostname}:\n${out}`);
  });

  await t.test('--json output parses as JSON and holds the same facts', async () => {
    const answers: [string[], string][] = [
      [['job', 'list', '--json'], KEY],
      [['job', 'status', KEY, '--json'], ids[0] ?? ''],
      [['task', 'list', '--json'], ids[1] ?? ''],
      [['cell', 'status', '--json'], agents[0]?.hostname ?? ''],
      [['task', 'logs', `${KEY}/0`, '--json'], 'hello from instance 0'],
    ];
    for (const [args, fact] of answers) {
      const value = json(await c.cli(args), `muster ${args.join(' ')}`);
      assert.ok(JSON.stringify(value).includes(fact), `muster ${args.join(' ')} holds ${fact}: ${JSON.stringify(value).slice(0, 2000)}`);
    }
  });

  await t.test('job kill ends every task of the job', async () => {
    ok(await c.cli(['job', 'kill', KEY]), 'muster job kill');
    // A killed job may be removed once its tasks ended, and its tasks with it: list them all.
    await waitFor(async () => (await client.listTasks({ all: true })).filter((x) => x.job === KEY), {
      what: `every task of ${KEY} to end after muster job kill`,
      until: (tasks) => tasks.every((x) => isTerminal(x.state)),
    });
    let after: string;
    try {
      after = (await client.getJob(KEY)).state;
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'JOB_NOT_FOUND') throw e;
      after = 'gone';
    }
    assert.notEqual(after, 'ACTIVE', 'the job is gone or no longer active');
    if (hasProcfs()) {
      await waitFor(() => liveTaskIds({ job: KEY, under: c.dir }), { what: `no process of ${KEY} to remain`, until: (live) => live.size === 0 });
    }
    const list = ok(await c.cli(['task', 'list']), 'muster task list after the kill');
    assert.doesNotMatch(list, /TASK_RUNNING/, `no task of the job is listed as running:\n${list}`);
  });
});
