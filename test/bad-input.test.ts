// A user's mistake is refused with a clear answer and changes nothing: through the HTTP API, a
// status and an error code with a message naming the line or the field; through the CLI, one line on
// stderr (no stack trace) and the documented exit code.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MusterClient } from '../src/client/index.js';
import { cell, freePort, type Cell, type CliResult } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';

const GOOD = 'web/prod/hello';
const BAD = 'web/prod/bad';

/** BadConfig is a config the master must refuse, and what it must say. */
interface BadConfig {
  name: string;
  text: string;
  contentType?: string;
  query?: string;
  status: number;
  code: string;
  /** The message must match: it names the line, the field or the job. */
  message: RegExp;
}

const config = (overrides: Record<string, unknown>): string => yamlOf({ ...serviceConfig(BAD), ...overrides });

const BAD_CONFIGS: BadConfig[] = [
  {
    name: 'malformed YAML is refused naming the line',
    text: 'job: web/prod/bad\nkind: service\ninstances: 3: 4\nresources: { cpus: 0.1, mem: 16MiB }\nprocesses: [{ name: main, cmd: sleep 1 }]\n',
    status: 400,
    code: 'INVALID_JOB',
    message: /\bline 3\b/,
  },
  {
    name: 'malformed JSON is refused',
    text: '{"job": "web/prod/bad", "instances": }',
    contentType: 'application/json',
    status: 400,
    code: 'INVALID_JOB',
    message: /./,
  },
  {
    name: 'an unknown field is refused naming the field',
    text: config({ instancez: 3 }),
    status: 400,
    code: 'INVALID_JOB',
    message: /instancez/,
  },
  {
    name: 'negative cpus are refused naming the field',
    text: config({ resources: { cpus: -1, mem: '16MiB' } }),
    status: 400,
    code: 'INVALID_JOB',
    message: /cpus/,
  },
  {
    name: 'an absurd amount of memory is refused naming the field',
    text: config({ resources: { cpus: 0.1, mem: 1e12 } }),
    status: 400,
    code: 'INVALID_JOB',
    message: /mem/,
  },
  {
    name: 'a size in an unknown unit is refused naming the field',
    text: config({ resources: { cpus: 0.1, mem: '100PiB' } }),
    status: 400,
    code: 'INVALID_JOB',
    message: /mem/,
  },
  {
    name: 'a job that no agent can ever hold is refused as unsatisfiable',
    text: config({ resources: { cpus: 64, mem: '16MiB' } }),
    status: 400,
    code: 'UNSATISFIABLE',
    message: /cpu/i,
  },
  {
    name: 'a job key in the query that differs from the config is refused',
    text: config({}),
    query: `?job=${encodeURIComponent('web/prod/other')}`,
    status: 400,
    code: '',
    message: /./,
  },
  {
    name: 'creating a job that exists is refused as a conflict',
    text: yamlOf(serviceConfig(GOOD, { instances: 2 })),
    status: 409,
    code: 'JOB_EXISTS',
    message: /web\/prod\/hello/,
  },
];

interface Answer {
  status: number;
  body: { error?: { code?: unknown; message?: unknown; details?: unknown } };
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: Answer['body'];
  try {
    body = JSON.parse(text) as Answer['body'];
  } catch {
    assert.fail(`${init.method ?? 'GET'} ${url} answered ${res.status} with a body that is not JSON: ${text.slice(0, 500)}`);
  }
  return { status: res.status, body };
}

/** snapshot is what a refusal must leave unchanged: the jobs, their instance counts, the tasks. */
async function snapshot(client: MusterClient): Promise<unknown> {
  const jobs = (await client.listJobs()).map((j) => `${j.job}:${j.instanceCount}`).sort();
  const tasks = (await client.listTasks()).map((x) => x.taskId).sort();
  return { jobs, tasks };
}

/** startCell starts a master with one 2-cpu agent and creates the job GOOD. */
async function startCell(c: Cell): Promise<MusterClient> {
  const master = await c.startMaster();
  await c.startAgent(master, { resources: 'cpus:2;mem:1024;disk:1024' });
  await c.waitForAgents(1);
  const client = c.client();
  await client.createJob(yamlOf(serviceConfig(GOOD)), YAML);
  return client;
}

test('the API refuses bad job configs with the status, code and a message naming the problem, creating nothing', async (t) => {
  const c = cell(t);
  const client = await startCell(c);
  const url = c.masters[0]?.url ?? '';
  const before = await snapshot(client);

  for (const bad of BAD_CONFIGS) {
    await t.test(bad.name, async () => {
      const answer = await call(`${url}/api/v1/jobs${bad.query ?? ''}`, {
        method: 'POST',
        headers: { 'content-type': bad.contentType ?? 'application/yaml' },
        body: bad.text,
      });
      assert.equal(answer.status, bad.status, JSON.stringify(answer.body));
      if (bad.code !== '') assert.equal(answer.body.error?.code, bad.code, JSON.stringify(answer.body));
      const message = answer.body.error?.message;
      assert.ok(typeof message === 'string' && message !== '', `the error has a message: ${JSON.stringify(answer.body)}`);
      assert.match(message, bad.message);
      assert.deepEqual(await snapshot(client), before, 'nothing was created or changed');
    });
  }

  const notFound: [string, string, RequestInit][] = [
    ['getting an unknown job', '/api/v1/jobs/no/such/job', {}],
    ['killing an unknown job', '/api/v1/jobs/no/such/job/kill', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }],
    ['restarting an unknown job', '/api/v1/jobs/no/such/job/restart', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }],
    ['deleting an unknown job', '/api/v1/jobs/no/such/job', { method: 'DELETE' }],
  ];
  for (const [what, path, init] of notFound) {
    await t.test(`${what} answers 404 JOB_NOT_FOUND`, async () => {
      const answer = await call(`${url}${path}`, init);
      assert.equal(answer.status, 404, JSON.stringify(answer.body));
      assert.equal(answer.body.error?.code, 'JOB_NOT_FOUND');
      assert.match(String(answer.body.error?.message), /no\/such\/job/);
      assert.deepEqual(await snapshot(client), before, 'nothing was created or changed');
    });
  }
  await t.test('getting an unknown task answers 404 TASK_NOT_FOUND', async () => {
    const answer = await call(`${url}/api/v1/tasks/no-such-task`);
    assert.equal(answer.status, 404, JSON.stringify(answer.body));
    assert.equal(answer.body.error?.code, 'TASK_NOT_FOUND');
  });

  await t.test('a malformed %-escape in a path answers 400 INVALID_ARGUMENT, not a server error', async () => {
    const answer = await call(`${url}/api/v1/tasks/%E0%A4%A`);
    assert.equal(answer.status, 400, JSON.stringify(answer.body));
    assert.equal(answer.body.error?.code, 'INVALID_ARGUMENT');
  });

  const good = await client.getJob(GOOD);
  assert.equal(good.instanceCount, 1, 'the existing job was not changed by the second create');
});

/** assertOneLine: a refusal prints one line on stderr and no stack trace. */
function assertOneLine(result: CliResult): void {
  assert.doesNotMatch(result.stderr, /^\s+at /m, `no stack trace on stderr:\n${result.stderr}`);
  assert.equal(result.stderr.trim().split('\n').length, 1, `one line on stderr:\n${result.stderr}`);
}

test('the CLI refuses bad input with one line on stderr and the documented exit code', async (t) => {
  const c = cell(t);
  const client = await startCell(c);
  const before = await snapshot(client);

  for (const bad of BAD_CONFIGS.filter((b) => b.query === undefined)) {
    await t.test(`${bad.name}, exiting ${bad.status === 409 ? 5 : 3}`, async () => {
      const file = join(c.dir, bad.contentType === 'application/json' ? 'bad.json' : 'bad.yaml');
      writeFileSync(file, bad.text);
      const result = await c.cli(['job', 'create', file]);
      assert.equal(result.code, bad.status === 409 ? 5 : 3, `exit code; stderr:\n${result.stderr}`);
      assertOneLine(result);
      assert.match(result.stderr, bad.message);
      assert.deepEqual(await snapshot(client), before, 'nothing was created or changed');
    });
  }

  const notFound = [
    ['job', 'status', 'no/such/job'],
    ['job', 'kill', 'no/such/job'],
    ['job', 'restart', 'no/such/job'],
    ['task', 'logs', 'no-such-task'],
  ];
  for (const args of notFound) {
    await t.test(`muster ${args.join(' ')} exits 4 (not found)`, async () => {
      const result = await c.cli(args);
      assert.equal(result.code, 4, `exit code; stderr:\n${result.stderr}`);
      assertOneLine(result);
    });
  }

  await t.test('a master that cannot be reached exits 6', async () => {
    const port = await freePort();
    const result = await c.cli(['job', 'list'], { env: { MUSTER_MASTER: `http://127.0.0.1:${port}` } });
    assert.equal(result.code, 6, `exit code; stderr:\n${result.stderr}`);
    assertOneLine(result);
    const flag = await c.cli(['job', 'list', '--master', `http://127.0.0.1:${port}`]);
    assert.equal(flag.code, 6, `exit code with --master; stderr:\n${flag.stderr}`);
  });

  await t.test('a bad flag or a missing argument is a usage error, exit 2', async () => {
    for (const args of [['job', 'list', '--no-such-flag'], ['job', 'create'], ['job', 'no-such-verb']]) {
      const result = await c.cli(args);
      assert.equal(result.code, 2, `muster ${args.join(' ')}: exit code; stderr:\n${result.stderr}`);
      assert.doesNotMatch(result.stderr, /^\s+at /m, `no stack trace on stderr:\n${result.stderr}`);
    }
  });

  assert.deepEqual(await snapshot(client), before, 'the CLI created or changed nothing');
});

test('a misspelt field is named first with the field it stands for, and every problem is listed, by the API and the CLI', async (t) => {
  const c = cell(t);
  const client = await startCell(c);
  const before = await snapshot(client);
  const url = c.masters[0]?.url ?? '';
  // `command:` for `cmd:` makes cmd missing too; the unknown field is the mistake to fix.
  const text = config({ instances: undefined, instancez: 2, processes: [{ name: 'main', command: 'sleep 1' }] });

  const answer = await call(`${url}/api/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: text });
  assert.equal(answer.status, 400, JSON.stringify(answer.body));
  assert.equal(answer.body.error?.code, 'INVALID_JOB');
  // Unknown fields come in the order they are written: processes comes before instancez here.
  assert.equal(answer.body.error?.message, 'unknown field `command` in processes[0]; did you mean `cmd`? (and 2 more problems)');
  assert.deepEqual(answer.body.error?.details, {
    field: 'processes[0].command',
    problems: [
      { field: 'processes[0].command', path: ['processes', 0, 'command'], message: 'unknown field `command` in processes[0]; did you mean `cmd`?', suggestion: 'cmd' },
      { field: 'instancez', path: ['instancez'], message: 'unknown field `instancez`; did you mean `instances`?', suggestion: 'instances' },
      { field: 'processes[0].cmd', path: ['processes', 0, 'cmd'], message: 'field "processes[0].cmd": is required' },
    ],
  });

  const file = join(c.dir, 'misspelt.yaml');
  writeFileSync(file, text);
  const result = await c.cli(['job', 'create', file]);
  assert.equal(result.code, 3, result.stderr);
  assert.equal(
    result.stderr,
    [
      'muster: the job config has 3 problems:',
      '  unknown field `command` in processes[0]; did you mean `cmd`?',
      '  unknown field `instancez`; did you mean `instances`?',
      '  field "processes[0].cmd": is required',
      '',
    ].join('\n'),
  );
  const json = await c.cli(['job', 'create', file, '--json']);
  assert.equal(json.code, 3, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), answer.body, '--json prints the API error object as the master sent it');
  assert.deepEqual(await snapshot(client), before, 'nothing was created or changed');
});
