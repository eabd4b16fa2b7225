// The muster command end to end, as a user runs it: a real process against a
// fake master, a tiny HTTP server that answers canned bodies and records what it was asked.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobView, TaskView } from '../protocol/index.js';

// Run whichever form this test is: compiled (npm test runs dist/) or TypeScript under tsx.
const COMPILED = import.meta.url.endsWith('.js');
const MAIN = join(import.meta.dirname, COMPILED ? 'main.js' : 'main.ts');
const LOADER = COMPILED ? [] : ['--import', 'tsx'];

interface Asked {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

interface Canned {
  status: number;
  body: unknown;
}

/** FakeMaster answers each "METHOD /path" (query left out) with a canned answer, 404 for the rest. */
class FakeMaster {
  readonly asked: Asked[] = [];
  readonly routes = new Map<string, Canned>();
  private readonly server: Server;
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = req.url ?? '/';
        this.asked.push({ method: req.method ?? '', url, contentType: req.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') });
        const canned = this.routes.get(`${req.method ?? ''} ${url.split('?')[0] ?? ''}`) ?? {
          status: 404,
          body: { error: { code: 'NOT_FOUND', message: `no route ${req.method ?? ''} ${url}` } },
        };
        res.writeHead(canned.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(canned.body));
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  on(route: string, status: number, body: unknown): this {
    this.routes.set(route, { status, body });
    return this;
  }

  askedFor(route: string): Asked[] {
    return this.asked.filter((a) => `${a.method} ${a.url.split('?')[0] ?? ''}` === route);
  }
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** muster runs the command against master (a URL, or the fake's) and collects what it printed. */
function muster(args: string[], master?: string): Promise<Ran> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['MUSTER_MASTER'];
  if (master !== undefined) env['MUSTER_MASTER'] = master;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...LOADER, MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function task(overrides: Partial<TaskView> = {}): TaskView {
  return {
    taskId: 'web-prod-hello-0-abc',
    job: 'web/prod/hello',
    instance: 0,
    agentId: 'agent-1',
    hostname: 'box1',
    address: '10.0.0.1',
    state: 'TASK_RUNNING',
    ports: { http: 31000 },
    resources: { cpus: 0.25, mem: 64, disk: 128, gpus: 0, ports: '[31000-31000]' },
    launchedAt: Date.now() - 60_000,
    startedAt: Date.now() - 59_000,
    killRequested: false,
    ...overrides,
  };
}

/** helloJob is web/prod/hello with instance 0 running and instance 1 pending for want of cpus. */
function helloJob(): JobView {
  return {
    job: 'web/prod/hello',
    kind: 'service',
    state: 'ACTIVE',
    tier: 'preferred',
    priority: 100,
    instanceCount: 2,
    taskStates: { TASK_RUNNING: 1, PENDING: 1 },
    createdAt: Date.now() - 120_000,
    spec: {} as JobView['spec'],
    instances: [
      { instance: 0, state: 'ACTIVE', task: task(), failures: 0, runs: 1 },
      { instance: 1, state: 'PENDING', failures: 0, runs: 0, pendingReason: 'no agent has 0.25 cpus free' },
    ],
  };
}

const HELP_LEVELS = [
  [],
  ['job'],
  ['job', 'create'],
  ['job', 'list'],
  ['job', 'status'],
  ['job', 'kill'],
  ['job', 'restart'],
  ['job', 'plan'],
  ['job', 'diff'],
  ['job', 'history'],
  ['job', 'scale'],
  ['update'],
  ['update', 'start'],
  ['update', 'status'],
  ['update', 'pause'],
  ['update', 'resume'],
  ['update', 'abort'],
  ['update', 'rollback'],
  ['update', 'promote'],
  ['update', 'list'],
  ['update', 'wait'],
  ['task'],
  ['task', 'list'],
  ['task', 'logs'],
  ['cell'],
  ['cell', 'status'],
  ['host'],
  ['host', 'drain'],
  ['host', 'activate'],
  ['host', 'status'],
  ['master'],
  ['agent'],
  ['dev'],
];

describe('muster CLI', { concurrency: true }, () => {
  const fake = new FakeMaster();
  let dir = '';
  let helloYaml = '';

  before(async () => {
    await fake.start();
    dir = await mkdtemp(join(tmpdir(), 'muster-cli-'));
    helloYaml = join(dir, 'hello.yaml');
    await writeFile(helloYaml, 'kind: service\ninstances: 2\n');
    await writeFile(join(dir, 'batch.json'), '{"kind":"batch"}');
    fake
      .on('GET /api/v1/jobs/web/prod/hello', 200, helloJob())
      .on('GET /api/v1/jobs', 200, { jobs: [helloJob()] })
      .on('POST /api/v1/jobs/web/prod/hello/kill', 202, { job: 'web/prod/hello', instances: [0, 2, 3, 4] })
      .on('GET /api/v1/tasks/web-prod-hello-0-abc/logs', 200, {
        taskId: 'web-prod-hello-0-abc',
        file: 'stdout',
        offset: 0,
        size: 12,
        data: 'hello world\n',
        eof: false,
      })
      .on('POST /api/v1/jobs', 400, {
        error: { code: 'INVALID_JOB', message: 'field "processes": is required', details: { field: 'processes' } },
      });
  });

  after(async () => {
    await fake.stop();
    await rm(dir, { recursive: true, force: true });
  });

  for (const level of HELP_LEVELS) {
    test(`muster ${[...level, '-h'].join(' ')} exits 0 with a description and examples`, async () => {
      const ran = await muster([...level, '-h']);
      assert.equal(ran.code, 0, ran.stderr);
      assert.match(ran.stdout, /Usage: muster/);
      assert.match(ran.stdout, /Examples:\n {2}\$ muster /);
    });
  }

  test('muster without a command prints the help on stderr and exits 2', async () => {
    const ran = await muster([]);
    assert.equal(ran.code, 2);
    assert.match(ran.stderr, /Usage: muster/);
  });

  test('an unknown command or option exits 2 and points at the help of the command', async () => {
    const command = await muster(['jbo', 'list']);
    assert.equal(command.code, 2);
    assert.match(command.stderr, /unknown command 'jbo'/);
    assert.match(command.stderr, /see muster -h/);
    const option = await muster(['job', 'create', '--frob', 'x.yaml']);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /unknown option '--frob'/);
    assert.match(option.stderr, /see muster job create -h/);
  });

  test('a bad flag value exits 2 before anything starts', async () => {
    const ran = await muster(['master', '--port', '70000']);
    assert.equal(ran.code, 2);
    assert.match(ran.stderr, /port is a whole number from 0 to 65535/);
  });

  test('muster agent without --master or MUSTER_MASTER exits 2 instead of guessing one', async () => {
    const ran = await muster(['agent']);
    assert.equal(ran.code, 2);
    assert.match(ran.stderr, /^muster: the agent needs a master to register with \(give --master/);
  });

  test('job create of a missing file exits 2 with one line naming the file', async () => {
    const ran = await muster(['job', 'create', join(dir, 'nope.yaml')], fake.url);
    assert.equal(ran.code, 2);
    assert.equal(ran.stderr.trimEnd().split('\n').length, 1, ran.stderr);
    assert.match(ran.stderr, /^muster: cannot read .*nope\.yaml: no such file/);
  });

  test('job create with a bad job key exits 2 without asking the master', async () => {
    const file = join(dir, 'bad-key.yaml');
    await writeFile(file, '# bad key\n');
    const ran = await muster(['job', 'create', 'web/Prod', file], fake.url);
    assert.equal(ran.code, 2);
    assert.match(ran.stderr, /^muster: job key "web\/Prod"/);
    assert.ok(!fake.asked.some((a) => a.body === '# bad key\n'));
  });

  test("job create sends the file's text as YAML, and a 400 exits 3 with the master's message and no stack", async () => {
    const ran = await muster(['job', 'create', 'web/prod/hello', helloYaml], fake.url);
    assert.equal(ran.code, 3);
    assert.match(ran.stderr, /^muster: field "processes": is required/);
    assert.equal(ran.stderr.trimEnd().split('\n').length, 1, ran.stderr);
    assert.doesNotMatch(ran.stderr, /\n\s+at /);
    const sent = fake.askedFor('POST /api/v1/jobs').find((a) => a.url.includes('job=web%2Fprod%2Fhello'));
    assert.ok(sent !== undefined);
    assert.equal(sent.contentType, 'application/yaml');
    assert.equal(sent.body, 'kind: service\ninstances: 2\n');
  });

  test('job create sends a .json file as application/json', async () => {
    const ran = await muster(['job', 'create', join(dir, 'batch.json')], fake.url);
    assert.equal(ran.code, 3);
    const sent = fake.askedFor('POST /api/v1/jobs').find((a) => a.body === '{"kind":"batch"}');
    assert.equal(sent?.contentType, 'application/json');
    assert.equal(sent.url, '/api/v1/jobs');
  });

  test('a job the master does not know exits 4', async () => {
    const ran = await muster(['job', 'status', 'web/prod/nope'], fake.url);
    assert.equal(ran.code, 4);
    assert.match(ran.stderr, /^muster: no route GET \/api\/v1\/jobs\/web\/prod\/nope/);
  });

  test("a conflict (409) exits 5 with the master's message", async () => {
    const conflict = new FakeMaster().on('POST /api/v1/jobs', 409, {
      error: { code: 'JOB_EXISTS', message: 'job web/prod/hello already exists; kill it first or choose another name' },
    });
    await conflict.start();
    try {
      const ran = await muster(['job', 'create', helloYaml], conflict.url);
      assert.equal(ran.code, 5);
      assert.equal(ran.stderr, 'muster: job web/prod/hello already exists; kill it first or choose another name\n');
    } finally {
      await conflict.stop();
    }
  });

  test('a master that cannot be reached exits 6 naming it', async () => {
    const gone = new FakeMaster();
    await gone.start();
    const url = gone.url;
    await gone.stop();
    const ran = await muster(['cell', 'status'], url);
    assert.equal(ran.code, 6);
    assert.match(ran.stderr, new RegExp(`^muster: cannot reach the master at ${url.replace(/[.]/g, '\\.')}`));
    assert.equal(ran.stderr.trimEnd().split('\n').length, 1, ran.stderr);
  });

  test('job create --wait gives up after --timeout with exit 7 and shows progress on stderr', async () => {
    const slow = new FakeMaster()
      .on('POST /api/v1/jobs', 201, { job: 'web/prod/hello', instances: 2 })
      .on('GET /api/v1/jobs/web/prod/hello', 200, helloJob());
    await slow.start();
    try {
      const ran = await muster(['job', 'create', helloYaml, '--wait', '--timeout', '1', '--settle', '0'], slow.url);
      assert.equal(ran.code, 7, ran.stderr);
      assert.match(ran.stderr, /web\/prod\/hello: 1\/2 running, 1 pending \(no agent has 0\.25 cpus free\)/);
      assert.match(ran.stderr, /muster: timed out after 1s waiting for web\/prod\/hello/);
      const json = await muster(['job', 'create', helloYaml, '--wait', '--timeout', '1', '--settle', '0', '--json'], slow.url);
      assert.equal(json.code, 7, json.stderr);
      const body = JSON.parse(json.stdout) as { error: { code: string; message: string; details: { job: string } } };
      assert.equal(body.error.code, 'TIMEOUT', 'with --json, one document: the error alone');
      assert.match(body.error.message, /^timed out after 1s waiting for web\/prod\/hello/);
      assert.equal(body.error.details.job, 'web/prod/hello');
    } finally {
      await slow.stop();
    }
  });

  test('job create refuses --settle without --wait, and a --settle as long as --timeout, before sending anything', async () => {
    const alone = await muster(['job', 'create', helloYaml, '--settle', '3'], fake.url);
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /^muster: --settle applies only with --wait/);
    const long = await muster(['job', 'create', helloYaml, '--wait', '--timeout', '5', '--settle', '5'], fake.url);
    assert.equal(long.code, 2);
    assert.match(long.stderr, /^muster: --settle 5 leaves no time to start within --timeout 5 \(make --timeout longer than --settle\)/);
    const negative = await muster(['job', 'create', helloYaml, '--wait', '--settle', '-1'], fake.url);
    assert.equal(negative.code, 2);
    assert.match(negative.stderr, /at least 0/);
  });

  test('job kill KEY/INSTANCES sends the instances and prints what was asked', async () => {
    const ran = await muster(['job', 'kill', 'web/prod/hello/0,2-4'], fake.url);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /kill web\/prod\/hello instances 0,2-4/);
    assert.deepEqual(JSON.parse(fake.askedFor('POST /api/v1/jobs/web/prod/hello/kill')[0]?.body ?? ''), { instances: [0, 2, 3, 4] });
  });

  test('job kill refuses instances given both in the key and in --instances', async () => {
    const ran = await muster(['job', 'kill', 'web/prod/hello/0', '--instances', '1'], fake.url);
    assert.equal(ran.code, 2);
    assert.match(ran.stderr, /instances are given twice/);
  });

  test('job status shows each instance, with the reason a pending one waits', async () => {
    const ran = await muster(['job', 'status', 'web/prod/hello'], fake.url);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /^job +web\/prod\/hello$/m);
    assert.match(ran.stdout, /^0 +TASK_RUNNING +box1 \(10\.0\.0\.1\) +web-prod-hello-0-abc +http=31000 +\d+[sm] ago$/m);
    assert.match(ran.stdout, /^1 +PENDING .* no agent has 0\.25 cpus free$/m);
  });

  test('job list --json prints the API answer', async () => {
    const ran = await muster(['job', 'list', '--json'], fake.url);
    assert.equal(ran.code, 0, ran.stderr);
    const body = JSON.parse(ran.stdout) as { jobs: JobView[] };
    assert.equal(body.jobs[0]?.job, 'web/prod/hello');
  });

  test("task logs KEY/INSTANCE prints the current task's stdout as it is", async () => {
    const ran = await muster(['task', 'logs', 'web/prod/hello/0', '--bytes', '100'], fake.url);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, 'hello world\n');
    const asked = fake.askedFor('GET /api/v1/tasks/web-prod-hello-0-abc/logs')[0];
    assert.equal(asked?.url, '/api/v1/tasks/web-prod-hello-0-abc/logs?file=stdout&length=100');
  });

  test('a config with several problems lists every one, the unknown field first, each on its own line', async () => {
    const problems = [
      { field: 'processes[0].command', path: ['processes', 0, 'command'], message: 'unknown field `command` in processes[0]; did you mean `cmd`?', suggestion: 'cmd' },
      { field: 'processes[0].cmd', path: ['processes', 0, 'cmd'], message: 'field "processes[0].cmd": is required' },
    ];
    const invalid = new FakeMaster().on('POST /api/v1/jobs', 400, {
      error: { code: 'INVALID_JOB', message: `${problems[0]?.message ?? ''} (and 1 more problem)`, details: { field: 'processes[0].command', problems } },
    });
    await invalid.start();
    try {
      const ran = await muster(['job', 'create', helloYaml], invalid.url);
      assert.equal(ran.code, 3);
      assert.equal(
        ran.stderr,
        'muster: the job config has 2 problems:\n  unknown field `command` in processes[0]; did you mean `cmd`?\n  field "processes[0].cmd": is required\n',
      );
      const json = await muster(['job', 'create', helloYaml, '--json'], invalid.url);
      assert.equal(json.code, 3);
      const body = JSON.parse(json.stdout) as { error: { code: string; details: { problems: unknown[] } } };
      assert.equal(body.error.code, 'INVALID_JOB');
      assert.deepEqual(body.error.details.problems, problems, 'the API error as the master sent it');
    } finally {
      await invalid.stop();
    }
  });

  test('a config with more problems than the master lists says how many more', async () => {
    const problems = Array.from({ length: 20 }, (_, i) => ({ field: `x${i}`, path: [`x${i}`], message: `unknown field \`x${i}\`` }));
    const invalid = new FakeMaster().on('POST /api/v1/jobs', 400, {
      error: { code: 'INVALID_JOB', message: 'unknown field `x0` (and 24 more problems)', details: { field: 'x0', problems, more: 5 } },
    });
    await invalid.start();
    try {
      const ran = await muster(['job', 'create', helloYaml], invalid.url);
      assert.equal(ran.code, 3);
      const lines = ran.stderr.trimEnd().split('\n');
      assert.equal(lines[0], 'muster: the job config has 25 problems:');
      assert.equal(lines.length, 22);
      assert.equal(lines[21], '  and 5 more');
    } finally {
      await invalid.stop();
    }
  });

  test('--json prints every kind of failure as the API error object on stdout, with the documented exit code', async () => {
    const gone = new FakeMaster();
    await gone.start();
    const goneUrl = gone.url;
    await gone.stop();
    const cases: { args: string[]; master?: string; exit: number; code: string; message: RegExp }[] = [
      { args: ['job', 'status', 'web/prod/nope', '--json'], master: fake.url, exit: 4, code: 'NOT_FOUND', message: /no route/ },
      { args: ['--json', 'cell', 'status'], master: goneUrl, exit: 6, code: 'UNAVAILABLE', message: /^cannot reach the master at / },
      { args: ['job', 'create', join(dir, 'nope.yaml'), '--json'], master: fake.url, exit: 2, code: 'INVALID_ARGUMENT', message: /^cannot read .*nope\.yaml: no such file/ },
      { args: ['job', 'create', '--frob', 'x.yaml', '--json'], exit: 2, code: 'INVALID_ARGUMENT', message: /^unknown option '--frob'/ },
      { args: ['jbo', 'list', '--json'], exit: 2, code: 'INVALID_ARGUMENT', message: /^unknown command 'jbo'/ },
      { args: ['--json'], exit: 2, code: 'INVALID_ARGUMENT', message: /^a command is needed/ },
      { args: ['master', '--port', '70000', '--json'], exit: 2, code: 'INVALID_ARGUMENT', message: /port is a whole number/ },
      { args: ['job', 'create', helloYaml, '--json'], master: fake.url, exit: 3, code: 'INVALID_JOB', message: /processes/ },
    ];
    for (const c of cases) {
      const ran = await muster(c.args, c.master);
      const what = `muster ${c.args.join(' ')}`;
      assert.equal(ran.code, c.exit, `${what}: ${ran.stderr}`);
      let body: { error?: { code?: unknown; message?: unknown } };
      try {
        body = JSON.parse(ran.stdout) as typeof body;
      } catch {
        assert.fail(`${what} prints the error as JSON on stdout, not: ${JSON.stringify(ran.stdout)}`);
      }
      assert.equal(body.error?.code, c.code, what);
      assert.match(String(body.error?.message), c.message, what);
      assert.deepEqual(Object.keys(body), ['error'], what);
    }
    // Arguments after -- belong to the command task exec runs, not to muster.
    const exec = await muster(['task', 'exec', 'web/prod/hello/1', '--', 'ls', '--json'], fake.url);
    assert.equal(exec.code, 4);
    assert.equal(exec.stdout, '');
  });

  test('no command prints a word twice in a row ("2m ago ago")', async () => {
    const runs = await Promise.all(
      [
        ['job', 'status', 'web/prod/hello'],
        ['job', 'list'],
        ['job', 'kill', 'web/prod/hello/0,2-4'],
        ['task', 'logs', 'web/prod/hello/1'],
        ['job', 'create', helloYaml],
        ['job', 'create', helloYaml, '--wait', '--timeout', '1', '--settle', '0'],
      ].map((args) => muster(args, fake.url)),
    );
    for (const ran of runs) {
      const doubled = /\b(\w+)\s+\1\b/i.exec(`${ran.stdout}\n${ran.stderr}`.replace(/\b\d+\b/g, ''));
      assert.equal(doubled, null, `"${doubled?.[0] ?? ''}" in:\n${ran.stdout}${ran.stderr}`);
    }
  });

  test('task logs of an instance that never ran exits 4 saying why', async () => {
    const ran = await muster(['task', 'logs', 'web/prod/hello/1'], fake.url);
    assert.equal(ran.code, 4);
    assert.match(ran.stderr, /^muster: web\/prod\/hello\/1 has not run a task yet \(PENDING: no agent/);
  });
});
