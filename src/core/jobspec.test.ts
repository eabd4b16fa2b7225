import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MusterError } from './errors.js';
import { MAX_PROBLEMS, parseJobText, requestOf, validateJobSpec, updateSettings, type FieldProblem } from './jobspec.js';
import { parseInstanceRef, parseJobKey } from './jobkey.js';

const base = {
  job: 'web/prod/hello',
  resources: { cpus: 0.25, mem: '64MiB' },
  processes: [{ name: 'server', cmd: 'sleep 1' }],
};

function problem(doc: unknown): { message: string; field: unknown } {
  try {
    validateJobSpec(doc);
  } catch (e) {
    assert.ok(e instanceof MusterError);
    assert.equal(e.code, 'INVALID_JOB');
    return { message: e.message, field: e.details?.['field'] };
  }
  assert.fail('expected the config to be refused');
}

test('validateJobSpec fills defaults and converts sizes to MiB', () => {
  const spec = validateJobSpec({ ...base, resources: { cpus: 0.25, mem: '1GiB', disk: '2GiB', ports: ['http'] } });
  assert.equal(spec.kind, 'service');
  assert.equal(spec.instances, 1);
  assert.equal(spec.tier, 'preferred');
  assert.equal(spec.maxTaskFailures, 1);
  assert.deepEqual(spec.resources, { cpus: 0.25, mem: 1024, disk: 2048, gpus: 0, ports: ['http'] });
  assert.deepEqual(requestOf(spec), { cpusMilli: 250, memMiB: 1024, diskMiB: 2048, gpus: 0, ports: ['http'] });
});

test('validateJobSpec names an unknown field', () => {
  const p = problem({ ...base, resources: { cpus: 1, mem: 1, flavour: 'large' } });
  assert.equal(p.field, 'resources.flavour');
  assert.match(p.message, /^unknown field `flavour` in resources \(known fields: cpus, mem, disk, gpus, ports\)$/);
});

/** problems returns the whole INVALID_JOB error: its message and details. */
function refusal(doc: unknown): { message: string; details: { field: string; problems: FieldProblem[]; more?: number } } {
  try {
    validateJobSpec(doc);
  } catch (e) {
    assert.ok(e instanceof MusterError);
    return { message: e.message, details: e.details as { field: string; problems: FieldProblem[]; more?: number } };
  }
  assert.fail('expected the config to be refused');
}

test('validateJobSpec names an unknown field first, with the known field it most likely stands for', () => {
  const r = refusal({ ...base, processes: [{ name: 'server', command: 'sleep 1' }] });
  assert.equal(r.message, 'unknown field `command` in processes[0]; did you mean `cmd`? (and 1 more problem)');
  assert.equal(r.details.field, 'processes[0].command');
  assert.deepEqual(r.details.problems, [
    { field: 'processes[0].command', path: ['processes', 0, 'command'], message: 'unknown field `command` in processes[0]; did you mean `cmd`?', suggestion: 'cmd' },
    { field: 'processes[0].cmd', path: ['processes', 0, 'cmd'], message: 'field "processes[0].cmd": is required' },
  ]);
  assert.equal(r.details.more, undefined);
});

test('validateJobSpec suggests known fields for typos, other spellings and abbreviations, but not for strangers', () => {
  const suggested = (doc: unknown): (string | undefined)[] => refusal(doc).details.problems.map((p) => p.suggestion);
  assert.deepEqual(suggested({ ...base, instancez: 3 }), ['instances']);
  assert.deepEqual(suggested({ ...base, update: { batch_size: 2 } }), ['batchSize']);
  assert.deepEqual(suggested({ ...base, health_check: { tcp: { port: 'http' } } }), ['health']);
  assert.deepEqual(suggested({ ...base, resources: { cpu: 1, memory: '1GiB' } }).slice(0, 2), ['cpus', 'mem']);
  const stranger = refusal({ ...base, frobnicate: 1 });
  assert.equal(stranger.details.problems[0]?.suggestion, undefined);
  assert.match(stranger.message, /^unknown field `frobnicate` \(known fields: job, kind, instances, .*update\)$/);
  // A field the config already has is not suggested again: `cmd` is there, so `command` is just extra.
  const extra = refusal({ ...base, processes: [{ name: 'a', cmd: 'x', command: 'y' }] }).details.problems[0];
  assert.equal(extra?.suggestion, undefined);
  assert.equal(extra?.message, 'unknown field `command` in processes[0] (the config has `cmd` already)');
});

test('validateJobSpec suggests the value a misspelt kind or tier most likely means', () => {
  const r = refusal({ ...base, kind: 'servce' });
  assert.equal(r.message, 'field "kind": kind must be one of service, batch; did you mean `service`?');
  assert.equal(r.details.problems[0]?.suggestion, 'service');
  assert.equal(refusal({ ...base, tier: 'zzz' }).details.problems[0]?.suggestion, undefined);
});

test('validateJobSpec lists every problem, each with its path, and a missing field as required', () => {
  const r = refusal({ job: 'web/prod/hello', resources: { cpus: -1 }, processes: [{ name: 'a' }], instances: 0 });
  const fields = r.details.problems.map((p) => p.field);
  assert.deepEqual(fields.sort(), ['instances', 'processes[0].cmd', 'resources.cpus', 'resources.mem']);
  assert.match(r.message, /\(and 3 more problems\)$/);
  const mem = r.details.problems.find((p) => p.field === 'resources.mem');
  assert.deepEqual(mem, { field: 'resources.mem', path: ['resources', 'mem'], message: 'field "resources.mem": is required' });
  const cpus = refusal({ ...base, resources: { mem: 1 } }).details.problems[0];
  assert.equal(cpus?.message, 'field "resources.cpus": is required: cpus must be a number of cores, e.g. 0.25');
});

test(`validateJobSpec lists at most ${MAX_PROBLEMS} problems and counts the rest`, () => {
  const extra = Object.fromEntries(Array.from({ length: MAX_PROBLEMS + 5 }, (_, i) => [`extra${i}`, i]));
  const r = refusal({ ...base, ...extra });
  assert.equal(r.details.problems.length, MAX_PROBLEMS);
  assert.equal(r.details.more, 5);
  assert.match(r.message, new RegExp(`\\(and ${MAX_PROBLEMS + 4} more problems\\)$`));
});

test('validateJobSpec refuses negative and absurd resources, naming the field', () => {
  assert.equal(problem({ ...base, resources: { cpus: -1, mem: 64 } }).field, 'resources.cpus');
  assert.equal(problem({ ...base, resources: { cpus: 1, mem: '100PiB' } }).field, 'resources.mem');
  assert.match(problem({ ...base, resources: { cpus: 1, mem: 1e12 } }).message, /more than the limit/);
  assert.match(problem({ ...base, resources: { cpus: 0.0001, mem: 1 } }).message, /3 decimals/);
  assert.equal(problem({ ...base, instances: 0 }).field, 'instances');
});

test('validateJobSpec refuses a bad job key, a missing process and reserved variables', () => {
  assert.match(problem({ ...base, job: 'Web/prod/hello' }).message, /role/);
  assert.match(problem({ ...base, job: 'web/prod' }).message, /role\/env\/name/);
  assert.equal(problem({ ...base, processes: [] }).field, 'processes');
  assert.match(problem({ ...base, env: { MUSTER_TASK_ID: 'x' } }).message, /set by Muster/);
  assert.match(problem({ ...base, kind: 'cron' }).message, /kind must be one of service, batch/);
  assert.match(problem({ ...base, constraints: { rack: 'limit:0' } }).message, /at least 1/);
});

test('parseJobText names the line of a YAML error and refuses duplicate keys', () => {
  assert.throws(
    () => parseJobText('job: a/b/c\nresources: {cpus: 1\n'),
    (e: unknown) => e instanceof MusterError && e.code === 'INVALID_JOB' && /line \d+/.test(e.message),
  );
  assert.throws(() => parseJobText('job: a\njob: b\n'), /not valid YAML/);
  assert.deepEqual(parseJobText('{"job": "a/b/c"}'), { job: 'a/b/c' });
});

test('job keys and instance references parse as Aurora writes them', () => {
  assert.deepEqual(parseJobKey('web/prod/hello'), { role: 'web', env: 'prod', name: 'hello' });
  assert.deepEqual(parseInstanceRef('web/prod/hello/0,2-3'), { key: 'web/prod/hello', instances: [0, 2, 3] });
  assert.deepEqual(parseInstanceRef('web/prod/hello'), { key: 'web/prod/hello', instances: undefined });
  assert.throws(() => parseJobKey('web/prod/he llo'), /name/);
});

const withHttpPort = { ...base, resources: { cpus: 0.25, mem: '64MiB', ports: ['http'] } };

test('validateJobSpec fills a health check with Mesos defaults', () => {
  const spec = validateJobSpec({ ...withHttpPort, health: { http: { port: 'http' } } });
  assert.deepEqual(spec.health, {
    http: { port: 'http', path: '/', statuses: [] },
    gracePeriodSecs: 10,
    intervalSecs: 10,
    timeoutSecs: 20,
    consecutiveFailures: 3,
  });
  assert.deepEqual(validateJobSpec({ ...base, health: { command: { cmd: 'test -f ready' }, intervalSecs: 0.5 } }).health, {
    command: { cmd: 'test -f ready' },
    gracePeriodSecs: 10,
    intervalSecs: 0.5,
    timeoutSecs: 20,
    consecutiveFailures: 3,
  });
  assert.equal(validateJobSpec(base).health, undefined);
});

test('validateJobSpec wants exactly one of http, tcp or command in a health check', () => {
  for (const health of [{}, { http: { port: 'http' }, tcp: { port: 'http' } }, { tcp: { port: 'http' }, command: { cmd: 'true' } }]) {
    const p = problem({ ...withHttpPort, health });
    assert.equal(p.field, 'health', JSON.stringify(health));
    assert.match(p.message, /exactly one of http, tcp or command/);
  }
});

test('validateJobSpec refuses a health check on a port the job does not have, naming the field', () => {
  const http = problem({ ...withHttpPort, health: { http: { port: 'admin' } } });
  assert.equal(http.field, 'health.http.port');
  assert.match(http.message, /field "health.http.port": port "admin" is not one of the job's ports \(resources.ports: http\)/);
  const tcp = problem({ ...base, health: { tcp: { port: 'http' } } });
  assert.equal(tcp.field, 'health.tcp.port');
  assert.match(tcp.message, /resources.ports: none/);
});

test('validateJobSpec refuses a bad health path, bad statuses and absurd timings', () => {
  const http = (fields: Record<string, unknown>) => ({ ...withHttpPort, health: { http: { port: 'http', ...fields } } });
  assert.match(problem(http({ path: 'ready' })).message, /field "health.http.path": path must start with \//);
  assert.match(problem(http({ path: '/a b' })).message, /printable ASCII without spaces/);
  assert.equal(problem(http({ path: `/${'a'.repeat(1024)}` })).field, 'health.http.path');
  assert.equal(problem(http({ statuses: [99] })).field, 'health.http.statuses[0]');
  assert.equal(problem(http({ statuses: [200, 600] })).field, 'health.http.statuses[1]');
  assert.equal(problem(http({ statuses: [200.5] })).field, 'health.http.statuses[0]');
  assert.equal(problem(http({ statuses: Array.from({ length: 33 }, () => 200) })).field, 'health.http.statuses');
  assert.equal(problem(http({ statuses: '200' })).field, 'health.http.statuses');
  const timing = (fields: Record<string, unknown>) => ({ ...base, health: { command: { cmd: 'true' }, ...fields } });
  assert.equal(problem(timing({ intervalSecs: 0 })).field, 'health.intervalSecs');
  assert.equal(problem(timing({ timeoutSecs: 7200 })).field, 'health.timeoutSecs');
  assert.equal(problem(timing({ gracePeriodSecs: -1 })).field, 'health.gracePeriodSecs');
  assert.equal(problem(timing({ consecutiveFailures: 0 })).field, 'health.consecutiveFailures');
  assert.equal(problem(timing({ delaySecs: 1 })).field, 'health.delaySecs');
  assert.equal(problem(timing({ command: { cmd: '' } })).field, 'health.command.cmd');
});

test('validateJobSpec accepts a share of one GPU with milli precision, and whole GPUs', () => {
  const half = validateJobSpec({ ...base, resources: { cpus: 1, mem: 64, gpus: 0.5 } });
  assert.equal(half.resources.gpus, 0.5);
  assert.equal(requestOf(half).gpus, 0.5);
  assert.equal(validateJobSpec({ ...base, resources: { cpus: 1, mem: 64, gpus: 0.125 } }).resources.gpus, 0.125);
  assert.equal(validateJobSpec({ ...base, resources: { cpus: 1, mem: 64, gpus: 4 } }).resources.gpus, 4);
  assert.equal(validateJobSpec(base).resources.gpus, 0, 'no GPUs unless asked');
});

test('validateJobSpec refuses a GPU figure that is neither whole devices nor a share below one', () => {
  const shares = problem({ ...base, resources: { cpus: 1, mem: 64, gpus: 1.5 } });
  assert.equal(shares.field, 'resources.gpus');
  assert.match(shares.message, /whole devices .* or a share of one device below 1/);
  assert.match(problem({ ...base, resources: { cpus: 1, mem: 64, gpus: 0.0005 } }).message, /at most 3 decimals/);
  assert.match(problem({ ...base, resources: { cpus: 1, mem: 64, gpus: -0.5 } }).message, /gpus must not be negative/);
  assert.match(problem({ ...base, resources: { cpus: 1, mem: 64, gpus: 65 } }).message, /gpus must be at most 64/);
  assert.match(problem({ ...base, resources: { cpus: 1, mem: 64, gpus: 'half' } }).message, /share of one device, e.g. 0.5/);
});

test('validateJobSpec spreads instances by host and updates one at a time unless told otherwise', () => {
  const spec = validateJobSpec(base);
  assert.equal(spec.spreadBy, 'host');
  const defaults = { batchSize: 1, strategy: 'batch', watchSecs: 30, maxPerInstanceFailures: 0, maxFailedInstances: 0, rollbackOnFailure: true, progressDeadlineSecs: 600, canary: 0 };
  assert.deepEqual(spec.update, defaults);
  const told = validateJobSpec({ ...base, spreadBy: 'rack', update: { batchSize: 5 } });
  assert.equal(told.spreadBy, 'rack');
  assert.deepEqual(told.update, { ...defaults, batchSize: 5 });
  assert.deepEqual(validateJobSpec({ ...base, update: {} }).update, defaults);
  const varied = validateJobSpec({ ...base, instances: 20, update: { batchSize: [1, 5, '25%'], maxUnavailable: '10%', canary: { count: 1, autoPromoteSecs: 60 } } });
  assert.deepEqual(updateSettings(varied).batchSizes, [1, 5, 5]);
  assert.equal(updateSettings(varied).maxUnavailable, 2);
  assert.equal(updateSettings(varied).autoPromoteSecs, 60);
  assert.equal(updateSettings(spec).maxUnavailable, 1, 'the budget defaults to the first batch');
});

test('validateJobSpec refuses a bad spreadBy and a bad update batch size, naming the field', () => {
  const spread = problem({ ...base, spreadBy: 'rack name' });
  assert.equal(spread.field, 'spreadBy');
  assert.match(spread.message, /spreadBy is an attribute name/);
  assert.equal(problem({ ...base, spreadBy: '' }).field, 'spreadBy');
  assert.match(problem({ ...base, update: { batchSize: 1.5 } }).message, /batchSize must be a whole number/);
  assert.equal(problem({ ...base, update: { batchSize: 0 } }).field, 'update.batchSize');
  assert.equal(problem({ ...base, update: { batchSize: 10_001 } }).field, 'update.batchSize');
  assert.equal(problem({ ...base, update: { batchSize: 2, parallel: true } }).field, 'update.parallel');
  assert.equal(problem({ ...base, update: { maxUnavailable: '150%' } }).field, 'update.maxUnavailable');
  assert.equal(problem({ ...base, update: { strategy: 'rolling' } }).field, 'update.strategy');
  assert.match(problem({ ...base, update: { batchSize: [] } }).message, /batchSize/);
});

test('validateJobSpec lists unknown fields in the order they are written, before the problems they cause', () => {
  const doc = parseJobText('job: web/prod/bad\ninstancez: 3\nresources: { cpus: 0.1, memory: 16MiB }\nprocesses:\n  - name: main\n    command: sleep 2\n');
  assert.deepEqual(
    refusal(doc).details.problems.map((p) => p.message),
    [
      'unknown field `instancez`; did you mean `instances`?',
      'unknown field `memory` in resources; did you mean `mem`?',
      'unknown field `command` in processes[0]; did you mean `cmd`?',
      'field "resources.mem": is required',
      'field "processes[0].cmd": is required',
    ],
  );
});

test('validateJobSpec refuses control characters in commands and variables, except tab and newline', () => {
  const script = { ...base, processes: [{ name: 'server', cmd: 'while true; do\n\techo hi\ndone' }], env: { PEM: '-----BEGIN-----\nabc\n-----END-----' } };
  assert.doesNotThrow(() => validateJobSpec(script));
  for (const c of ['\0', '\x01', '\x1b', '\r', '\x7f', '\u0085']) {
    const where = JSON.stringify(c);
    const cmd = problem({ ...base, processes: [{ name: 'server', cmd: `sleep 1${c}` }] });
    assert.equal(cmd.field, 'processes[0].cmd', where);
    assert.match(cmd.message, /contains .* at character 7; tab and newline are the only control characters allowed/, where);
    assert.equal(problem({ ...base, env: { A: `x${c}` } }).field, 'env.A', where);
    assert.equal(problem({ ...base, health: { command: { cmd: `true${c}` } } }).field, 'health.command.cmd', where);
    assert.equal(problem({ ...base, constraints: { rack: `r1${c}` } }).field, 'constraints.rack', where);
    assert.equal(problem({ ...base, resources: { cpus: 1, mem: `64MiB${c}` } }).field, 'resources.mem', where);
    assert.equal(problem({ ...base, job: `web/prod/x${c}` }).field, 'job', where);
  }
  // Nothing but a command or a value may hold even a tab.
  assert.equal(problem({ ...base, constraints: { rack: 'r1\tr2' } }).field, 'constraints.rack');
});

test('validateJobSpec shows an unknown key that is long or holds control characters escaped and cut, without a guess', () => {
  const long = 'k'.repeat(100_000);
  const start = performance.now();
  const p = problem({ ...base, [long]: 1 });
  assert.ok(performance.now() - start < 200, 'no edit distance over a 100,000-character key');
  assert.ok(p.message.length < 400, p.message.slice(0, 400));
  assert.doesNotMatch(p.message, /did you mean/);
  const escaped = problem({ ...base, env: { ['A\x1b']: 'x' } });
  assert.equal(escaped.field, 'env["A\\u001b"]');
  assert.doesNotMatch(escaped.message, /\x1b/);
});

test('parseJobText refuses a text over JOB_CONFIG_LIMITS before the parser builds anything', () => {
  const refusedAs = (text: string, code: string, message: RegExp): void => {
    const start = performance.now();
    assert.throws(() => parseJobText(text), (e: unknown) => e instanceof MusterError && e.code === code && message.test(e.message), message.source);
    assert.ok(performance.now() - start < 100, `${message.source} took ${performance.now() - start} ms`);
  };
  refusedAs(`job: a/b/c\nx: ${'['.repeat(30_000)}${']'.repeat(30_000)}\n`, 'INVALID_JOB', /nested deeper than 32 levels \(at line 2\)/);
  refusedAs(`job: a/b/c\nx: [${Array.from({ length: 5000 }, (_, i) => i).join(', ')}]\n`, 'INVALID_JOB', /more than 4096 YAML tokens/);
  const laughs = ['a: &a ["lol", "lol"]', ...Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)].join('\n');
  refusedAs(laughs, 'INVALID_JOB', /more than 32 aliases/);
  // Few aliases, each expanding the last: yaml's own expansion bound answers, as INVALID_JOB.
  const doubling = ['a: &a [x, x, x, x, x, x, x, x]', ...Array.from({ length: 12 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`)].join('\n');
  refusedAs(doubling, 'INVALID_JOB', /cannot be read/);
  refusedAs(`job: a/b/c\n# ${'x'.repeat(300 * 1024)}\n`, 'PAYLOAD_TOO_LARGE', /over the limit of 262144 bytes/);
});
