// `muster job plan` against a real cell of one agent (2 cpus, 1024MiB): a job that fits is placed
// on the agent, one too big stays pending with the reason and a change that would fit, a bad config
// is one line naming the field, and no plan writes anything to the log. Pending instances of a real
// job show up, with their reason, in job status and task list.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { JobPlanView, TaskList } from '../src/protocol/index.js';
import { cell, json, ok, waitFor, type Cell } from './harness.js';
import { serviceConfig, yamlOf } from './jobconfig.js';

/** jobFile writes a service config (0.5 cpus, 64MiB a task unless overridden) and returns its path. */
function jobFile(c: Cell, key: string, overrides: Record<string, unknown> = {}): string {
  const file = join(c.dir, `${key.replaceAll('/', '-')}.yaml`);
  writeFileSync(file, yamlOf(serviceConfig(key, { resources: { cpus: 0.5, mem: '64MiB', disk: '16MiB', ports: [] }, ...overrides })));
  return file;
}

test('muster job plan shows where a job would run and why not, and changes nothing', async (t) => {
  const c = cell(t);
  const { client } = await c.startCell(1);
  const agent = (await client.cell()).agents[0];
  assert.ok(agent !== undefined, 'the cell has its agent');
  const indexBefore = (await client.cell()).logIndex;

  await t.test('a job that fits is placed on the agent', async () => {
    const file = jobFile(c, 'web/prod/hello', { instances: 2, resources: { cpus: 0.5, mem: '64MiB', disk: '16MiB', ports: ['http'] } });
    const plan = json<JobPlanView>(await c.cli(['job', 'plan', file, '--json']), 'muster job plan --json');
    assert.equal(plan.job, 'web/prod/hello');
    assert.equal(plan.existing, false);
    assert.deepEqual(
      plan.placements.map((p) => [p.instance, p.agentId, p.hostname]),
      [
        [0, agent.agentId, agent.hostname],
        [1, agent.agentId, agent.hostname],
      ],
    );
    assert.ok(plan.placements.every((p) => typeof p.ports['http'] === 'number'), JSON.stringify(plan.placements));
    assert.deepEqual(plan.pending, []);
    const text = ok(await c.cli(['job', 'plan', file]), 'muster job plan');
    assert.match(text, /^web\/prod\/hello: 2 placed, 0 preempting, 0 pending$/m, text);
    assert.match(text, /^INSTANCE +AGENT +HOST +PORTS +GPUS$/m, text);
    assert.match(text, new RegExp(`^0 +${agent.agentId} +${agent.hostname} +http=\\d+ +-$`, 'm'), text);
  });

  await t.test('a job too big for the agent stays pending with the reason and a change that would fit, and exits 0', async () => {
    const file = jobFile(c, 'web/prod/big', { resources: { cpus: 0.5, mem: '4GiB', disk: '16MiB', ports: [] } });
    const plan = json<JobPlanView>(await c.cli(['job', 'plan', file, '--json']), 'muster job plan of a big job');
    assert.deepEqual(plan.placements, []);
    const pending = plan.pending[0];
    assert.equal(pending?.instance, 0);
    assert.match(pending.reason, /insufficient mem/);
    assert.ok(pending.why.changes.length > 0, `a change is suggested: ${JSON.stringify(pending.why)}`);
    const text = ok(await c.cli(['job', 'plan', file]), 'muster job plan of a big job');
    assert.match(text, /^web\/prod\/big: 0 placed, 0 preempting, 1 pending$/m, text);
    assert.match(text, /^instance 0 pending: .*insufficient mem/m, text);
    assert.match(text, /^ {2}would fit with: /m, text);
  });

  await t.test('an invalid config exits 3 with one line naming the field', async () => {
    const file = jobFile(c, 'web/prod/bad', { instances: -1 });
    const result = await c.cli(['job', 'plan', file]);
    assert.equal(result.code, 3, `exits 3 (the master refused the input); stderr:\n${result.stderr}`);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line, no stack:\n${result.stderr}`);
    assert.match(lines[0] ?? '', /instances/);
  });

  await t.test('no plan wrote to the log or created a job', async () => {
    assert.equal((await client.cell()).logIndex, indexBefore);
    assert.deepEqual(await client.listJobs(), []);
  });

  await t.test('a pending instance of a real job shows with its reason in job status and task list', async () => {
    // Two instances of 1.5 cpus on a 2-cpu agent: one runs, the other waits.
    ok(await c.cli(['job', 'create', jobFile(c, 'web/prod/wide', { instances: 2, resources: { cpus: 1.5, mem: '64MiB', disk: '16MiB', ports: [] } })]), 'muster job create');
    const list = await waitFor(() => c.cli(['task', 'list', '--json']), {
      what: 'one task of web/prod/wide to be listed and the other instance pending',
      until: (r) => {
        if (r.code !== 0) return false;
        const body = JSON.parse(r.stdout) as TaskList;
        return body.tasks.length === 1 && body.pending?.length === 1;
      },
    });
    const body = JSON.parse(list.stdout) as TaskList;
    assert.equal(body.pending?.[0]?.job, 'web/prod/wide');
    const text = ok(await c.cli(['task', 'list']), 'muster task list');
    assert.match(text, /^- +web\/prod\/wide\/\d +PENDING +- +- +- +\S/m, text);
    const status = ok(await c.cli(['job', 'status', 'web/prod/wide']), 'muster job status');
    assert.match(status, /^instance \d pending: \S/m, status);
  });
});
