import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
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
  assert.match(stranger.message, /^unknown field `frobnicate` \(known fields: job, kind, instances, .*update, container, cron, after, onParentFailure, runHistory\)$/);
  // A field the config already has is not suggested again: `cmd` is there, so `command` is just extra.
  const extra = refusal({ ...base, processes: [{ name: 'a', cmd: 'x', command: 'y' }] }).details.problems[0];
  assert.equal(extra?.suggestion, undefined);
  assert.equal(extra?.message, 'unknown field `command` in processes[0] (the config has `cmd` already)');
});

test('validateJobSpec suggests the value a misspelt kind or tier most likely means', () => {
  const r = refusal({ ...base, kind: 'servce' });
  assert.equal(r.message, 'field "kind": kind must be one of service, batch, cron; did you mean `service`?');
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
  assert.match(problem({ ...base, kind: 'cron' }).message, /a cron job needs a cron block/);
  assert.match(problem({ ...base, kind: 'batchh' }).message, /kind must be one of service, batch, cron/);
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
  // A bound on a blow-up (an edit distance over 100,000 characters takes minutes), not a timing goal.
  assert.ok(performance.now() - start < 2000, 'no edit distance over a 100,000-character key');
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
    // A bound on a blow-up (the parser building 60,000 nested nodes), not a timing goal: generous under load.
    assert.ok(performance.now() - start < 2000, `${message.source} took ${performance.now() - start} ms`);
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

describe('validateJobSpec with a container.docker block', () => {
  /** image is a docker job: the base job's resources, no processes, the given docker fields. */
  const image = (docker: Record<string, unknown> = {}, fields: Record<string, unknown> = {}) => ({
    job: 'web/prod/hello',
    resources: { cpus: 0.25, mem: '64MiB', ports: ['http'] },
    container: { docker: { image: 'busybox:1.36', ...docker } },
    ...fields,
  });
  const parameter = (key: string, value: string) => image({ parameters: [{ key, value }] });

  test('a job with an image and no processes is valid and gets the defaults', () => {
    const spec = validateJobSpec(image());
    assert.deepEqual(spec.processes, []);
    assert.deepEqual(spec.container, {
      docker: { image: 'busybox:1.36', pull: 'missing', network: 'host', portMappings: {}, volumes: [], parameters: [] },
    });
    const volume = validateJobSpec(image({ volumes: [{ hostPath: '/srv/data', containerPath: '/data' }] })).container?.docker.volumes;
    assert.deepEqual(volume, [{ hostPath: '/srv/data', containerPath: '/data', readOnly: false }]);
  });

  test('a job with processes runs them in the image', () => {
    const spec = validateJobSpec(image({}, { processes: [{ name: 'main', cmd: 'echo hi' }] }));
    assert.deepEqual(spec.processes, [{ name: 'main', cmd: 'echo hi' }]);
    assert.equal(spec.container?.docker.image, 'busybox:1.36');
  });

  test('a job with neither processes nor an image is refused, naming processes', () => {
    const p = problem({ job: 'web/prod/hello', resources: { cpus: 0.25, mem: '64MiB' } });
    assert.equal(p.field, 'processes');
    assert.match(p.message, /a job needs at least one process \(or a container\.docker image/);
  });

  test('an invalid or missing image is refused, naming the field', () => {
    for (const bad of ['BusyBox', 'busy box', '', 'a:b:c', `${'a'.repeat(256)}:1`, 'x'.repeat(513)]) {
      assert.equal(problem(image({ image: bad })).field, 'container.docker.image', bad.slice(0, 40));
    }
    assert.match(problem(image({ image: 'BusyBox' })).message, /^field "container\.docker\.image": "BusyBox" is not an image reference/);
    assert.equal(problem({ ...image(), container: { docker: {} } }).field, 'container.docker.image');
    assert.equal(problem(image({ image: 'busybox', privileged: true })).field, 'container.docker.privileged');
  });

  test('a docker parameter outside the allow-list is refused, naming its key', () => {
    for (const key of ['privileged', 'cap-add', 'device', 'pid', 'network', 'volume', 'memory', 'toString', '__proto__']) {
      const p = problem(parameter(key, 'true'));
      assert.equal(p.field, 'container.docker.parameters[0].key', key);
      assert.match(p.message, /is not an allowed docker parameter; allowed: hostname, user/, key);
    }
  });

  test('an allowed parameter with a bad value is refused, naming its value', () => {
    const cases: [string, string][] = [
      ['user', 'root; rm -rf /'],
      ['hostname', '-web'],
      ['read-only', 'yes'],
      ['ulimit', 'rtprio=99'],
      ['tmpfs', 'run'],
      ['workdir', 'app'],
    ];
    for (const [key, value] of cases) {
      const p = problem(parameter(key, value));
      assert.equal(p.field, 'container.docker.parameters[0].value', `${key}=${value}`);
      assert.match(p.message, new RegExp(`is not a valid value for ${key}, e\\.g\\. `), `${key}=${value}`);
    }
    const ok = validateJobSpec(image({ parameters: [{ key: 'user', value: '1000:1000' }, { key: 'ulimit', value: 'nofile=1024:2048' }] }));
    assert.equal(ok.container?.docker.parameters.length, 2);
  });

  test('a parameter that cannot repeat is refused the second time; one that can, is not', () => {
    const twice = problem(image({ parameters: [{ key: 'hostname', value: 'a' }, { key: 'user', value: 'nobody' }, { key: 'hostname', value: 'b' }] }));
    assert.equal(twice.field, 'container.docker.parameters[2].key');
    assert.match(twice.message, /hostname is given twice/);
    const drops = validateJobSpec(image({ parameters: [{ key: 'cap-drop', value: 'NET_RAW' }, { key: 'cap-drop', value: 'MKNOD' }] }));
    assert.equal(drops.container?.docker.parameters.length, 2);
  });

  test('a label in the muster. namespace is refused', () => {
    const p = problem(parameter('label', 'muster.task=other'));
    assert.equal(p.field, 'container.docker.parameters[0].value');
    assert.match(p.message, /labels starting with "muster\." are Muster's own/);
    assert.doesNotThrow(() => validateJobSpec(parameter('label', 'team=search')));
  });

  test('portMappings need network bridge', () => {
    for (const network of [undefined, 'host', 'none']) {
      const docker = network === undefined ? { portMappings: { http: 8080 } } : { network, portMappings: { http: 8080 } };
      const r = refusal(image(docker, { resources: { cpus: 0.25, mem: '64MiB', ports: ['http'] } }));
      assert.ok(
        r.details.problems.some((p) => p.field === 'container.docker.portMappings' && /portMappings need network: bridge/.test(p.message)),
        `${network}: ${JSON.stringify(r.details.problems)}`,
      );
    }
    const bridged = validateJobSpec(image({ network: 'bridge', portMappings: { http: 8080 } }));
    assert.deepEqual(bridged.container?.docker.portMappings, { http: 8080 });
  });

  test("portMappings must name the job's own ports", () => {
    const p = problem(image({ network: 'bridge', portMappings: { admin: 9000 } }));
    assert.equal(p.field, 'container.docker.portMappings.admin');
    assert.match(p.message, /"admin" is not one of the job's ports \(resources\.ports: http\)/);
    assert.equal(problem(image({ network: 'bridge', portMappings: { http: 0 } })).field, 'container.docker.portMappings.http');
    assert.equal(problem(image({ network: 'bridge', portMappings: { http: 65536 } })).field, 'container.docker.portMappings.http');
  });

  test('network none is refused with ports or a port health check, and valid without them', () => {
    const p = problem(image({ network: 'none' }));
    assert.equal(p.field, 'container.docker.network');
    assert.match(p.message, /network none has no ports/);
    const noPorts = { resources: { cpus: 0.25, mem: '64MiB' } };
    assert.equal(validateJobSpec(image({ network: 'none' }, noPorts)).container?.docker.network, 'none');
    assert.ok(
      refusal(image({ network: 'none' }, { ...noPorts, health: { tcp: { port: 'http' } } })).details.problems.some((q) => q.field === 'container.docker.network'),
    );
  });

  test('processes together with entrypoint or args are refused', () => {
    const processes = { processes: [{ name: 'main', cmd: 'echo hi' }] };
    const entrypoint = problem(image({ entrypoint: ['/bin/app'] }, processes));
    assert.equal(entrypoint.field, 'container.docker.entrypoint');
    assert.match(entrypoint.message, /give processes \(run by \/bin\/sh in the image\) or entrypoint and args, not both/);
    assert.equal(problem(image({ args: ['--port', '8080'] }, processes)).field, 'container.docker.args');
    const own = validateJobSpec(image({ entrypoint: ['/bin/app'], args: ['--port', '8080'] }));
    assert.deepEqual([own.container?.docker.entrypoint, own.container?.docker.args], [['/bin/app'], ['--port', '8080']]);
  });

  test('a volume cannot be mounted over the sandbox or the root, nor twice at one place', () => {
    for (const containerPath of ['/mnt/mesos/sandbox', '/mnt/mesos/sandbox/', '/mnt/mesos/sandbox/logs', '/']) {
      const p = problem(image({ volumes: [{ hostPath: '/srv/data', containerPath }] }));
      assert.equal(p.field, 'container.docker.volumes[0].containerPath', containerPath);
      assert.match(p.message, /containerPath cannot be \/ or \/mnt\/mesos\/sandbox/, containerPath);
    }
    assert.doesNotThrow(() => validateJobSpec(image({ volumes: [{ hostPath: '/srv/data', containerPath: '/mnt/mesos/sandbox2' }] })));
    const twice = problem(image({ volumes: [{ hostPath: '/a', containerPath: '/data' }, { hostPath: '/b', containerPath: '/data' }] }));
    assert.equal(twice.field, 'container.docker.volumes[1].containerPath');
  });

  test('a volume path must be absolute and written plainly', () => {
    for (const hostPath of ['srv/data', '/srv/../etc', '/srv//data', '/srv/./data']) {
      const p = problem(image({ volumes: [{ hostPath, containerPath: '/data' }] }));
      assert.equal(p.field, 'container.docker.volumes[0].hostPath', hostPath);
    }
    assert.equal(problem(image({ volumes: [{ hostPath: '/srv', containerPath: 'data' }] })).field, 'container.docker.volumes[0].containerPath');
  });

  test('variables Muster sets in a container are refused in env', () => {
    for (const name of ['MESOS_SANDBOX', 'HOST_PORT_HTTP', 'PORT_HTTP', 'PORT0', 'MUSTER_SANDBOX']) {
      const p = problem(image({}, { env: { [name]: 'x' } }));
      assert.equal(p.field, `env.${name}`, name);
      assert.equal(p.message, `field "env.${name}": "${name}" is set by Muster and cannot be overridden`);
    }
    assert.deepEqual(validateJobSpec(image({}, { env: { MESOS_SANDBOX_X: 'x', HOST_PORTS: 'y' } })).env, { MESOS_SANDBOX_X: 'x', HOST_PORTS: 'y' });
  });

  test('pull and network take only their known values', () => {
    assert.equal(validateJobSpec(image({ pull: 'always' })).container?.docker.pull, 'always');
    assert.equal(problem(image({ pull: 'sometimes' })).field, 'container.docker.pull');
    assert.equal(problem(image({ network: 'overlay' })).field, 'container.docker.network');
  });
});
