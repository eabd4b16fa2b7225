// The hostile-input corpus of issue 12 ("bounded input"): a real master and agent are sent what an
// attacker on the network, a broken script or a made-up agent would send: YAML bombs, deep and
// wide nesting in YAML and JSON, huge and endless bodies, control characters in every string of a
// job config and of an exec, oversized and malformed agent calls, wrong media types, absurd
// instance numbers and clients that trickle their body byte by byte. Every case must be refused
// with the 4xx it is written with; meanwhile the master's event loop must never be blocked for 50
// ms (its muster_master_event_loop_block_seconds histogram: the wall-clock gaps of
// muster_master_event_loop_delay_seconds are reported too, but on a shared test host they also
// hold the time the kernel did not run the master), and afterwards the cell must be as it was: the
// same jobs and tasks, the same log index, and not one event on the event stream.

import assert from 'node:assert/strict';
import { Agent, request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MusterClient } from '../src/client/index.js';
import { cell, waitFor } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';

const GOOD = 'web/prod/hello';
const JSON_TYPE = 'application/json';
const YAML_TYPE = 'application/yaml';

/** HostileCase is one request and the status (and error code, for Muster's own API) it must get. */
interface HostileCase {
  name: string;
  method?: string;
  path: string;
  /** Content-Type; omitted: none is sent. */
  type?: string;
  body?: string | Buffer;
  /** Sent chunked, without a Content-Length. */
  chunked?: boolean;
  status: number;
  code?: string;
  /** The error body must mention this (the field or the limit refused). */
  mentions?: RegExp;
}

// ---- the corpus --------------------------------------------------------------------------------

const repeat = (s: string, n: number): string => s.repeat(n);
const job = (config: Record<string, unknown>): string => JSON.stringify(config);
const jobCase = (name: string, body: string, type: string, status: number, code: string, mentions?: RegExp): HostileCase => ({
  name,
  method: 'POST',
  path: '/api/v1/jobs',
  type,
  body,
  status,
  code,
  ...(mentions === undefined ? {} : { mentions }),
});

/** yamlBombs: nesting, aliases and width that the YAML parser must never be handed. */
function yamlBombs(): HostileCase[] {
  const head = `job: web/prod/bomb\n`;
  const lol = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i <= 9; i++) lol.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  const doubling = ['a: &a [x, x, x, x, x, x, x, x]'];
  for (let i = 1; i <= 14; i++) doubling.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [*${String.fromCharCode(96 + i)}, *${String.fromCharCode(96 + i)}]`);
  const bad = (name: string, text: string, mentions: RegExp): HostileCase => jobCase(`YAML: ${name}`, text, YAML_TYPE, 400, 'INVALID_JOB', mentions);
  return [
    bad('60 KB of nested flow sequences', `${head}x: ${repeat('[', 30_000)}${repeat(']', 30_000)}\n`, /nested deeper than 32/),
    bad('nested flow sequences left open', `${head}x: ${repeat('[', 60_000)}\n`, /nested deeper than 32/),
    bad('nested flow mappings', `${head}x: ${repeat('{a: ', 10_000)}1${repeat('}', 10_000)}\n`, /nested deeper than 32/),
    bad('flow sequences and mappings interleaved', `${head}x: ${repeat('[{a: ', 5000)}1${repeat('}]', 5000)}\n`, /nested deeper than 32/),
    bad('compact nested sequences on one line', `${head}x: \n  ${repeat('- ', 30_000)}x\n`, /nested deeper than 32/),
    bad('block mappings indented 40 deep', `${head}${Array.from({ length: 40 }, (_, i) => `${repeat(' ', i)}k${i}:`).join('\n')} 1\n`, /nested deeper than 32/),
    bad('block sequences indented 40 deep', `${head}x:\n${Array.from({ length: 40 }, (_, i) => `${repeat(' ', i + 1)}-`).join('\n')} 1\n`, /nested deeper than 32/),
    bad('JSON-style nesting sent as YAML', `{"job": "web/prod/bomb", "x": ${repeat('[', 20_000)}${repeat(']', 20_000)}}`, /nested deeper than 32/),
    bad('nesting behind a byte-order mark', `\ufeff${head}x: ${repeat('[', 1000)}${repeat(']', 1000)}\n`, /nested deeper than 32/),
    bad('billion laughs', `${head}${lol.join('\n')}\n`, /more than 32 aliases/),
    bad('33 aliases of one anchor', `${head}a: &a x\nl: [${Array(33).fill('*a').join(', ')}]\n`, /more than 32 aliases/),
    bad('aliases doubling their expansion', `${head}${doubling.join('\n')}\n`, /cannot be read/),
    bad('an alias to an anchor never set', `${head}env: *nowhere\n`, /./),
    bad('a merge key expanding aliases', `${head}a: &a {k: v}\n${Array.from({ length: 40 }, (_, i) => `m${i}: {<<: *a}`).join('\n')}\n`, /more than 32 aliases/),
    bad('100,000 items in one flow sequence', `${head}x: [${Array.from({ length: 100_000 }, (_, i) => i % 10).join(',')}]\n`, /more than 4096 YAML tokens/),
    bad('20,000 keys', `${head}${Array.from({ length: 20_000 }, (_, i) => `k${i}: 1`).join('\n')}\n`, /more than 4096 YAML tokens/),
    bad('10,000 comment lines', `${head}${repeat('#\n', 10_000)}`, /more than 4096 YAML tokens/),
    bad('two documents', `${head}---\njob: web/prod/other\n`, /not valid YAML/),
    bad('a Python object tag', `${head}x: !!python/object/apply:os.system ["rm -rf /"]\n`, /./),
    jobCase('YAML: 300 KiB of comment (over the 256 KiB limit)', `${head}# ${repeat('x', 300 * 1024)}\n`, YAML_TYPE, 413, 'PAYLOAD_TOO_LARGE'),
    jobCase('YAML: 5 MiB', repeat('a: b\n', 1024 * 1024), YAML_TYPE, 413, 'PAYLOAD_TOO_LARGE'),
    { ...jobCase('YAML: 2 MiB sent chunked, without a length', repeat('# x\n', 512 * 1024), YAML_TYPE, 413, 'PAYLOAD_TOO_LARGE'), chunked: true },
  ];
}

/** jsonBombs: the same sent as JSON, which is parsed by JSON.parse once scanned. */
function jsonBombs(): HostileCase[] {
  const bad = (name: string, text: string, mentions: RegExp): HostileCase => jobCase(`JSON: ${name}`, text, JSON_TYPE, 400, 'INVALID_JOB', mentions);
  const wide: Record<string, number> = {};
  for (let i = 0; i < 10_000; i++) wide[`k${i}`] = i;
  return [
    bad('100,000 nested arrays', `${repeat('[', 100_000)}${repeat(']', 100_000)}`, /nested deeper than 32/),
    bad('nested objects inside a config', `{"job": "web/prod/bomb", "env": ${repeat('{"a": ', 10_000)}1${repeat('}', 10_000)}}`, /nested deeper than 32/),
    bad('nesting left open', `{"job": "web/prod/bomb", "x": ${repeat('[', 100_000)}`, /nested deeper than 32/),
    bad('10,000 keys', JSON.stringify({ job: 'web/prod/bomb', ...wide }), /more than 4096 values/),
    bad('100,000 array items', `{"job": "web/prod/bomb", "processes": [${Array(100_000).fill('1').join(',')}]}`, /more than 4096 values/),
    bad('not JSON at all', '{"job": "web/prod/bomb", ', /not valid JSON/),
    bad('a top-level array', '[1, 2, 3]', /mapping/),
    bad('__proto__ holding the job', '{"__proto__": {"job": "web/prod/bomb"}}', /__proto__/),
    bad('an instance count of 1e400', job({ ...serviceConfig('web/prod/bomb'), instances: 0 }).replace('"instances":0', '"instances":1e400'), /instances/),
    bad('an instance count of 1e20', job({ ...serviceConfig('web/prod/bomb'), instances: 1e20 }), /instances/),
    jobCase('JSON: a 2 MiB string', job({ ...serviceConfig('web/prod/bomb'), processes: [{ name: 'main', cmd: repeat('x', 2 * 1024 * 1024) }] }), JSON_TYPE, 413, 'PAYLOAD_TOO_LARGE'),
    jobCase('JSON: 300 KiB', job({ ...serviceConfig('web/prod/bomb'), env: { A: repeat('x', 300 * 1024) } }), JSON_TYPE, 413, 'PAYLOAD_TOO_LARGE'),
  ];
}

/** The control characters tried in each string: NUL, others of C0, CR, DEL and a C1 control. */
const CONTROLS = ['\0', '\x01', '\x07', '\x1b', '\r', '\x7f', '\u0085'];

/**
 * stringFields: every string a job config holds, each as a way to put a value there in a config
 * that is valid as it is (BASELINES, checked by the plan route before the corpus runs).
 */
const STRING_FIELDS: { field: string; base: 'plain' | 'http' | 'tcp' | 'command'; set: (config: Record<string, unknown>, v: string) => void; mentions: RegExp }[] = [
  { field: 'job', base: 'plain', set: (c, v) => (c['job'] = `web/prod/ctl${v}`), mentions: /job/ },
  { field: 'kind', base: 'plain', set: (c, v) => (c['kind'] = `service${v}`), mentions: /kind/ },
  { field: 'tier', base: 'plain', set: (c, v) => (c['tier'] = `preferred${v}`), mentions: /tier/ },
  { field: 'processes[0].name', base: 'plain', set: (c, v) => (c['processes'] = [{ name: `main${v}`, cmd: 'sleep 1' }]), mentions: /processes\[0\]\.name/ },
  { field: 'processes[0].cmd', base: 'plain', set: (c, v) => (c['processes'] = [{ name: 'main', cmd: `sleep 1${v}` }]), mentions: /processes\[0\]\.cmd/ },
  { field: 'resources.mem', base: 'plain', set: (c, v) => (c['resources'] = { cpus: 0.1, mem: `16MiB${v}` }), mentions: /resources\.mem/ },
  { field: 'resources.disk', base: 'plain', set: (c, v) => (c['resources'] = { cpus: 0.1, mem: '16MiB', disk: `${v}16MiB` }), mentions: /resources\.disk/ },
  { field: 'resources.ports[0]', base: 'plain', set: (c, v) => (c['resources'] = { cpus: 0.1, mem: '16MiB', ports: [`http${v}`] }), mentions: /resources\.ports/ },
  { field: 'env name', base: 'plain', set: (c, v) => (c['env'] = { [`NAME${v}`]: 'x' }), mentions: /env/ },
  { field: 'env value', base: 'plain', set: (c, v) => (c['env'] = { NAME: `x${v}y` }), mentions: /env\.NAME/ },
  { field: 'health.command.cmd', base: 'command', set: (c, v) => (c['health'] = { command: { cmd: `true${v}` } }), mentions: /health\.command\.cmd/ },
  { field: 'health.http.path', base: 'http', set: (c, v) => (c['health'] = { http: { port: 'http', path: `/health${v}` } }), mentions: /health\.http\.path/ },
  { field: 'health.http.port', base: 'http', set: (c, v) => (c['health'] = { http: { port: `http${v}` } }), mentions: /health\.http\.port/ },
  { field: 'health.tcp.port', base: 'tcp', set: (c, v) => (c['health'] = { tcp: { port: `http${v}` } }), mentions: /health\.tcp\.port/ },
  { field: 'constraints name', base: 'plain', set: (c, v) => (c['constraints'] = { [`rack${v}`]: 'r1' }), mentions: /constraints/ },
  { field: 'constraints value', base: 'plain', set: (c, v) => (c['constraints'] = { rack: `r1${v}` }), mentions: /constraints\.rack/ },
  { field: 'spreadBy', base: 'plain', set: (c, v) => (c['spreadBy'] = `rack${v}`), mentions: /spreadBy/ },
];

/** BASELINES are the valid configs the control characters go into (under a job name of their own). */
const BASELINES: Record<(typeof STRING_FIELDS)[number]['base'], () => Record<string, unknown>> = {
  plain: () => ({ ...serviceConfig('web/prod/ctl') }),
  http: () => ({ ...serviceConfig('web/prod/ctl', { resources: { cpus: 0.1, mem: '16MiB', ports: ['http'] } }), health: { http: { port: 'http' } } }),
  tcp: () => ({ ...serviceConfig('web/prod/ctl', { resources: { cpus: 0.1, mem: '16MiB', ports: ['http'] } }), health: { tcp: { port: 'http' } } }),
  command: () => ({ ...serviceConfig('web/prod/ctl'), health: { command: { cmd: 'true' } } }),
};

/** controlCharacters: each control character in each string of a config, sent as JSON (exact), and a few as YAML escapes. */
function controlCharacters(): HostileCase[] {
  const out: HostileCase[] = [];
  for (const f of STRING_FIELDS) {
    for (const ch of CONTROLS) {
      const config = BASELINES[f.base]();
      f.set(config, ch);
      out.push(jobCase(`control character ${JSON.stringify(ch)} in ${f.field}`, job(config), JSON_TYPE, 400, 'INVALID_JOB', f.mentions));
    }
  }
  const yaml = (name: string, escaped: string): HostileCase =>
    jobCase(`YAML escape ${name} in processes[0].cmd`, `job: web/prod/ctl\nresources: {cpus: 0.1, mem: 16MiB}\nprocesses:\n  - name: main\n    cmd: "sleep 1${escaped}"\n`, YAML_TYPE, 400, 'INVALID_JOB', /processes\[0\]\.cmd/);
  out.push(yaml('\\0', '\\0'), yaml('\\e', '\\e'), yaml('\\x1b', '\\x1b'), yaml('\\N (NEL)', '\\N'), yaml('\\r', '\\r'));
  return out;
}

/** execRequests: what a person may not ask a task to run (the arguments are checked before the task is looked up). */
function execRequests(taskId: string): HostileCase[] {
  const path = `/api/v1/tasks/${taskId}/exec`;
  const out: HostileCase[] = CONTROLS.map((ch) => ({
    name: `exec: control character ${JSON.stringify(ch)} in an argument`,
    method: 'POST',
    path,
    type: JSON_TYPE,
    body: JSON.stringify({ argv: ['sh', '-c', `echo ${ch}`] }),
    status: 400,
    code: 'INVALID_ARGUMENT',
    mentions: /argv\[2\]/,
  }));
  out.push(
    { name: 'exec: 300 arguments', method: 'POST', path, type: JSON_TYPE, body: JSON.stringify({ argv: Array(300).fill('x') }), status: 400, code: 'INVALID_ARGUMENT' },
    { name: 'exec: a 20,000-character argument', method: 'POST', path, type: JSON_TYPE, body: JSON.stringify({ argv: ['echo', repeat('x', 20_000)] }), status: 400, code: 'INVALID_ARGUMENT' },
    { name: 'exec: a 300 KiB body', method: 'POST', path, type: JSON_TYPE, body: JSON.stringify({ argv: ['echo', repeat('x', 300 * 1024)] }), status: 413, code: 'PAYLOAD_TOO_LARGE' },
    { name: 'exec: nested 1000 deep', method: 'POST', path, type: JSON_TYPE, body: `{"argv": ${repeat('[', 1000)}${repeat(']', 1000)}}`, status: 400, code: 'INVALID_ARGUMENT', mentions: /nested deeper/ },
  );
  return out;
}

/** agentCalls: what a made-up or broken agent might post on the agent link. */
function agentCalls(agentId: string): HostileCase[] {
  const path = '/api/v1/agent';
  const call = (name: string, body: unknown, status: number, code: string, mentions?: RegExp): HostileCase => ({
    name: `agent: ${name}`,
    method: 'POST',
    path,
    type: JSON_TYPE,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    status,
    code,
    ...(mentions === undefined ? {} : { mentions }),
  });
  const usage = (n: number, entry: (i: number) => Record<string, unknown> = (i) => ({ taskId: `web-prod-x-${i}-0123456789abcdef`, cpuSecs: 1, memBytes: 1, diskBytes: 1, timestamp: 1 })) => ({
    type: 'USAGE',
    agentId,
    usage: { tasks: Array.from({ length: n }, (_, i) => entry(i)) },
  });
  const info = { hostname: 'fake', address: '127.0.0.1', port: 5051, resources: { cpus: 1, mem: 1024, disk: 1024, gpus: 0, ports: '[31000-31001]' }, attributes: {}, version: '0.1.0' };
  const subscribe = (agent: Record<string, unknown>, tasks: unknown[] = []) => ({ type: 'SUBSCRIBE', subscribe: { agent: { ...info, ...agent }, tasks } });
  const attributes = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`a${i}`, 'x']));
  return [
    call('a USAGE of 5000 tasks', usage(5000), 400, 'INVALID_ARGUMENT', /at most 4096 tasks/),
    call('a 1.7 MB USAGE', usage(17_000), 413, 'PAYLOAD_TOO_LARGE'),
    call('a USAGE whose task ids are 10 KB each', usage(200, (i) => ({ taskId: `t${i}${repeat('x', 10_000)}`, cpuSecs: 1, memBytes: 1, diskBytes: 1, timestamp: 1 })), 413, 'PAYLOAD_TOO_LARGE'),
    call('a USAGE with a 300-character task id', usage(1, () => ({ taskId: repeat('t', 300), cpuSecs: 1, memBytes: 1, diskBytes: 1, timestamp: 1 })), 400, 'INVALID_ARGUMENT', /usage\.tasks\.0\.taskId/),
    call('a USAGE entry with a field of its own', usage(3, () => ({ taskId: 't', cpuSecs: 1, memBytes: 1, diskBytes: 1, timestamp: 1, extra: repeat('x', 1000) })), 400, 'INVALID_ARGUMENT', /usage\.tasks\.0/),
    call('a USAGE with memory of 1e400 bytes', JSON.stringify(usage(1)).replace('"memBytes":1', '"memBytes":1e400'), 400, 'INVALID_ARGUMENT', /memBytes/),
    call('a USAGE with cpu seconds as text', usage(1, () => ({ taskId: 't', cpuSecs: 'NaN', memBytes: 1, diskBytes: 1, timestamp: 1 })), 400, 'INVALID_ARGUMENT', /cpuSecs/),
    call('a USAGE of 40,000 bare values', `{"type":"USAGE","agentId":"${agentId}","usage":{"tasks":[${Array(40_000).fill('0').join(',')}]}}`, 400, 'INVALID_ARGUMENT', /more than 32768 values/),
    call('a USAGE nested 10,000 deep', `{"type":"USAGE","agentId":"${agentId}","usage":{"tasks":${repeat('[', 10_000)}${repeat(']', 10_000)}}}`, 400, 'INVALID_ARGUMENT', /nested deeper than 32/),
    call('a SUBSCRIBE of 5000 tasks', subscribe({}, Array.from({ length: 5000 }, (_, i) => ({ taskId: `t${i}`, state: 'TASK_RUNNING' }))), 400, 'INVALID_ARGUMENT', /at most 4096 tasks/),
    call('a SUBSCRIBE with 20,000 attributes', subscribe({ attributes: attributes(20_000) }), 400, 'INVALID_ARGUMENT', /at most 64 attributes/),
    call('a SUBSCRIBE with 40,000 attributes', subscribe({ attributes: attributes(40_000) }), 400, 'INVALID_ARGUMENT', /more than 32768 values/),
    call('a SUBSCRIBE whose hostname holds NUL', subscribe({ hostname: 'fa\0ke' }), 400, 'INVALID_ARGUMENT', /hostname.*NUL/),
    call('a SUBSCRIBE whose hostname holds ESC', subscribe({ hostname: 'fake\x1b[2J' }), 400, 'INVALID_ARGUMENT', /hostname.*ESC/),
    call('a SUBSCRIBE whose address holds a newline', subscribe({ address: '127.0.0.1\nX-Injected: 1' }), 400, 'INVALID_ARGUMENT', /address/),
    call('a SUBSCRIBE whose version holds BEL', subscribe({ version: '0.1\x07' }), 400, 'INVALID_ARGUMENT', /version/),
    call('a SUBSCRIBE with an attribute holding CR', subscribe({ attributes: { rack: 'r1\r' } }), 400, 'INVALID_ARGUMENT', /attributes\.rack/),
    call("a SUBSCRIBE under a real agent's id with a hostile hostname", subscribe({ agentId, hostname: '\x1b]0;pwned\x07' }), 400, 'INVALID_ARGUMENT', /hostname/),
    call('a SUBSCRIBE with a 1000-character hostname', subscribe({ hostname: repeat('h', 1000) }), 400, 'INVALID_ARGUMENT', /hostname/),
    call('an UPDATE with a 5000-character message', { type: 'UPDATE', agentId, update: { status: { taskId: 't', state: 'TASK_RUNNING', message: repeat('m', 5000), uuid: 'u', timestamp: 1 } } }, 400, 'INVALID_ARGUMENT', /message/),
    call('an UPDATE for an agent that never subscribed', { type: 'UPDATE', agentId: 'nobody', update: { status: { taskId: 't', state: 'TASK_RUNNING', uuid: 'u', timestamp: 1 } } }, 404, 'AGENT_NOT_FOUND'),
    call('a HEARTBEAT for an agent that never subscribed', { type: 'HEARTBEAT', agentId: 'nobody' }, 404, 'AGENT_NOT_FOUND'),
    call('a call of an unknown type', { type: 'TAKEOVER', agentId }, 400, 'INVALID_ARGUMENT'),
    call('an array', [{ type: 'HEARTBEAT', agentId }], 400, 'INVALID_ARGUMENT'),
    call('an agent id with control characters', { type: 'HEARTBEAT', agentId: 'a\0b' }, 400, 'INVALID_ARGUMENT'),
    call('not JSON', '{"type": "HEARTBEAT", ', 400, 'INVALID_ARGUMENT', /not valid JSON/),
    call('1 MiB and one byte', `{"type":"HEARTBEAT","agentId":"${agentId}","pad":"${repeat('x', 1024 * 1024)}"}`, 413, 'PAYLOAD_TOO_LARGE'),
    { ...call('2 MiB sent chunked, without a length', repeat(' ', 2 * 1024 * 1024), 413, 'PAYLOAD_TOO_LARGE'), chunked: true },
    { ...call('a HEARTBEAT sent as text/plain', { type: 'HEARTBEAT', agentId }, 415, 'UNSUPPORTED_MEDIA_TYPE', /application\/json/), type: 'text/plain' },
    { ...call('a HEARTBEAT sent as a form', `type=HEARTBEAT&agentId=${agentId}`, 415, 'UNSUPPORTED_MEDIA_TYPE'), type: 'application/x-www-form-urlencoded' },
    (() => {
      const c = call('a HEARTBEAT without a Content-Type', { type: 'HEARTBEAT', agentId }, 415, 'UNSUPPORTED_MEDIA_TYPE', /no Content-Type/);
      delete c.type;
      return c;
    })(),
  ];
}

/** mediaTypes: every state-changing route that reads a body, sent what a browser's form or a careless script sends. */
function mediaTypes(): HostileCase[] {
  const config = yamlOf(serviceConfig('web/prod/typed'));
  const jobPath = `/api/v1/jobs/${GOOD}`;
  const routes: [string, string, string][] = [
    ['POST', '/api/v1/jobs', config],
    ['POST', '/api/v1/jobs/plan', config],
    ['POST', `${jobPath}/kill`, '{}'],
    ['POST', `${jobPath}/restart`, '{}'],
    ['DELETE', jobPath, '{}'],
    ['POST', '/api/v1/hosts/drain', '{"hostnames":["agent-1"]}'],
    ['POST', '/api/v1/hosts/activate', '{"hostnames":["agent-1"]}'],
    ['PUT', '/api/v1/quotas/web', '{"cpus":1}'],
  ];
  const out: HostileCase[] = [];
  for (const [method, path, body] of routes) {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
      out.push({ name: `${method} ${path} sent as ${type ?? 'no Content-Type'}`, method, path, ...(type === undefined ? {} : { type }), body, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', mentions: /application\/json/ });
    }
  }
  out.push(
    { name: 'POST /api/v1/jobs as application/xml', method: 'POST', path: '/api/v1/jobs', type: 'application/xml', body: '<job/>', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'POST /api/v1/jobs with no body and no type', method: 'POST', path: '/api/v1/jobs', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    // A form's POST always says its type: refused even empty, or it would kill the whole job.
    { name: `POST ${jobPath}/kill as an empty form`, method: 'POST', path: `${jobPath}/kill`, type: 'application/x-www-form-urlencoded', body: '', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'the Mesos scheduler API sent as text/plain', method: 'POST', path: '/api/v1/scheduler', type: 'text/plain', body: '{"type":"SUBSCRIBE"}', status: 415 },
    { name: 'the Mesos operator API sent as text/plain', method: 'POST', path: '/api/v1', type: 'text/plain', body: '{"type":"GET_STATE"}', status: 415 },
  );
  return out;
}

/** instanceNumbers: instance lists a job can never have, to kill, restart and delete. */
function instanceNumbers(): HostileCase[] {
  const jobPath = `/api/v1/jobs/${GOOD}`;
  const asked = (name: string, instances: string, status = 400, code = 'INVALID_ARGUMENT'): HostileCase[] =>
    (
      [
        ['POST', `${jobPath}/kill`],
        ['POST', `${jobPath}/restart`],
        ['DELETE', jobPath],
      ] as const
    ).map(([method, path]) => ({ name: `${method} ${path} of ${name}`, method, path, type: JSON_TYPE, body: `{"instances": ${instances}}`, status, code }));
  return [
    ...asked('instance 99999999999999999999', '[99999999999999999999]'),
    ...asked('instance 1e20', '[1e20]'),
    ...asked('instance 10000', '[10000]'),
    ...asked('instance -1', '[-1]'),
    ...asked('instance 1.5', '[1.5]'),
    ...asked('instance "0"', '["0"]'),
    ...asked('instance 1e400', '[1e400]'),
    ...asked('no instance', '[]'),
    ...asked('20,000 instances', `[${Array.from({ length: 20_000 }, (_, i) => i).join(',')}]`),
    // Every instance a job may have, but this one has one: bounded, so answered as not found.
    ...asked('instances 0-9999 of a one-instance job', `[${Array.from({ length: 10_000 }, (_, i) => i).join(',')}]`, 404, 'INSTANCE_NOT_FOUND'),
    { name: 'kill with a NUL in the job path', method: 'POST', path: '/api/v1/jobs/web/prod/hello%00/kill', type: JSON_TYPE, body: '{}', status: 400, code: 'INVALID_ARGUMENT' },
    { name: 'kill with ESC in the job path', method: 'POST', path: '/api/v1/jobs/web%1b/prod/hello/kill', type: JSON_TYPE, body: '{}', status: 400, code: 'INVALID_ARGUMENT' },
    { name: 'a job key with NUL in ?job=', method: 'POST', path: '/api/v1/jobs?job=web/prod/x%00', type: YAML_TYPE, body: yamlOf(serviceConfig('web/prod/x')), status: 400, code: 'INVALID_ARGUMENT' },
    { name: 'kill with a 300 KiB body', method: 'POST', path: `${jobPath}/kill`, type: JSON_TYPE, body: `{"instances": [0], "pad": "${repeat('x', 300 * 1024)}"}`, status: 413, code: 'PAYLOAD_TOO_LARGE' },
    { name: 'a quota of 5 MiB', method: 'PUT', path: '/api/v1/quotas/web', type: JSON_TYPE, body: `{"cpus": 1, "pad": "${repeat('x', 5 * 1024 * 1024)}"}`, status: 413, code: 'PAYLOAD_TOO_LARGE' },
  ];
}

// ---- sending -----------------------------------------------------------------------------------

interface Answer {
  status: number;
  text: string;
}

/**
 * send makes one request on a connection of its own (the master closes a connection whose body it
 * refuses) and resolves with the answer; an error after the answer (the master hanging up on a body
 * it would not read) does not count. The connection is a keep-alive one, as fetch's are: one that
 * asks for Connection: close is closed by node as soon as the answer is out, and a client still
 * writing a large body then sees EPIPE before it reads the 413.
 */
function send(base: string, c: HostileCase): Promise<Answer> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return sendOn(agent, base, c).finally(() => agent.destroy());
}

function sendOn(agent: Agent, base: string, c: HostileCase): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (c.type !== undefined) headers['content-type'] = c.type;
    const body = c.body === undefined ? undefined : Buffer.isBuffer(c.body) ? c.body : Buffer.from(c.body, 'utf8');
    if (c.chunked === true) headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = String(body?.length ?? 0);
    let answered = false;
    const req = request(new URL(c.path, base), { method: c.method ?? 'POST', headers, agent }, (res: IncomingMessage) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${c.name}: no answer within 30 s`)));
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    if (body !== undefined && c.chunked === true) {
      for (let at = 0; at < body.length; at += 64 * 1024) req.write(body.subarray(at, at + 64 * 1024));
      req.end();
    } else {
      req.end(body);
    }
  });
}

/** SlowCase is a client that sends its headers, then its body a byte at a time, or never. */
interface SlowCase {
  name: string;
  method?: string;
  path: string;
  type: string;
  /** Declared length; the body trickles at one byte per 200 ms, well short of it. */
  length: number | 'chunked';
  /** Send no body byte at all. */
  silent?: boolean;
}

/** trickle runs a slow client over a raw socket and resolves with the status the master answered (0: none) and how long it took. */
function trickle(port: number, s: SlowCase): Promise<{ status: number; ms: number; closed: boolean }> {
  return new Promise((resolve) => {
    const start = performance.now();
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let drip: NodeJS.Timeout | undefined;
    const done = (closed: boolean): void => {
      clearInterval(drip);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(answer);
      resolve({ status: m === null ? 0 : Number(m[1]), ms: performance.now() - start, closed });
      socket.destroy();
    };
    const giveUp = setTimeout(() => done(false), 30_000);
    socket.on('connect', () => {
      const length = s.length === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${s.length}`;
      socket.write(`${s.method ?? 'POST'} ${s.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${s.type}\r\n${length}\r\n\r\n`);
      if (s.silent === true) return;
      drip = setInterval(() => {
        if (!socket.writable) return;
        socket.write(s.length === 'chunked' ? '1\r\n{\r\n' : '{');
      }, 200);
    });
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(giveUp);
      done(true);
    });
  });
}

const SLOW: SlowCase[] = [
  { name: 'a job config trickling in', path: '/api/v1/jobs', type: YAML_TYPE, length: 2000 },
  { name: 'a job config announced and never sent', path: '/api/v1/jobs', type: YAML_TYPE, length: 1000, silent: true },
  { name: 'an agent USAGE trickling in', path: '/api/v1/agent', type: JSON_TYPE, length: 5000 },
  { name: 'an agent call trickling in chunks', path: '/api/v1/agent', type: JSON_TYPE, length: 'chunked' },
  { name: 'a kill trickling in', path: `/api/v1/jobs/${GOOD}/kill`, type: JSON_TYPE, length: 500 },
  { name: 'a quota announced and never sent', method: 'PUT', path: '/api/v1/quotas/web', type: JSON_TYPE, length: 100, silent: true },
  { name: 'a plan trickling in', path: '/api/v1/jobs/plan', type: JSON_TYPE, length: 3000 },
];

// ---- what must not change ----------------------------------------------------------------------

/** snapshot is what the corpus must leave as it was: the jobs, the tasks and the log's index. */
async function snapshot(client: MusterClient): Promise<unknown> {
  const jobs = (await client.listJobs()).map((j) => `${j.job}:${j.instanceCount}:${j.state}`).sort();
  const tasks = (await client.listTasks()).map((x) => `${x.taskId}:${x.state}`).sort();
  return { jobs, tasks, logIndex: (await client.cell()).logIndex };
}

/** watchEvents counts the events the master's event stream sends from now on. */
function watchEvents(base: string): { count: () => number; close: () => void } {
  let events = 0;
  let buffered = '';
  const controller = new AbortController();
  void fetch(`${base}/api/v1/events`, { signal: controller.signal })
    .then(async (res) => {
      for await (const chunk of res.body ?? []) {
        buffered += Buffer.from(chunk as Uint8Array).toString('utf8');
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        events += lines.filter((l) => l.startsWith('id:')).length;
      }
    })
    .catch(() => undefined);
  return { count: () => events, close: () => controller.abort() };
}

type Loop = Record<'delay' | 'block', Map<string, number>>;

/** loopFigures reads the master's per-second event-loop histograms (delay and block): each one's count and cumulative buckets. */
async function loopFigures(base: string): Promise<Loop> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out: Loop = { delay: new Map(), block: new Map() };
  for (const line of text.split('\n')) {
    const m = /^muster_master_event_loop_(delay|block)_seconds_(?:bucket\{le="([^"]+)"\}|(count)) (\S+)$/.exec(line);
    if (m !== null) out[m[1] as 'delay' | 'block'].set(m[2] ?? 'count', Number(m[4]));
  }
  for (const which of ['delay', 'block'] as const) assert.ok(out[which].has('count') && out[which].has('0.05'), `the master shows muster_master_event_loop_${which}_seconds`);
  return out;
}

/** longestSecond is the smallest bucket bound that every second observed between two readings falls under, and how many seconds went over 0.05. */
function longestSecond(before: Map<string, number>, after: Map<string, number>): { seconds: number; bound: string; over: number } {
  const delta = (key: string): number => (after.get(key) ?? 0) - (before.get(key) ?? 0);
  const seconds = delta('count');
  const over = seconds - delta('0.05');
  for (const le of after.keys()) if (le !== 'count' && delta(le) === seconds) return { seconds, bound: le, over };
  return { seconds, bound: '+Inf', over };
}

// ---- the test ----------------------------------------------------------------------------------

/** assertRefused checks an answer against its case: the status, the error code and message, what it must mention. */
function assertRefused(kase: HostileCase, answer: Answer): void {
  assert.equal(answer.status, kase.status, `${kase.name}: ${answer.text.slice(0, 300)}`);
  if (kase.code !== undefined) {
    const body = JSON.parse(answer.text) as { error?: { code?: string; message?: string } };
    assert.equal(body.error?.code, kase.code, `${kase.name}: ${answer.text.slice(0, 300)}`);
    assert.ok(typeof body.error?.message === 'string' && body.error.message !== '', `${kase.name}: the error says what is wrong`);
  }
  if (kase.mentions !== undefined) assert.match(answer.text.slice(0, 4000), kase.mentions, kase.name);
}

test("a corpus of hostile requests is refused case by case with a 4xx, never blocks the master's event loop for 50 ms, and changes nothing", async (t: TestContext) => {
  const c = cell(t);
  const { master, agents, client } = await c.startCell(1);
  const base = master.url;
  await client.createJob(yamlOf(serviceConfig(GOOD)), YAML);
  const task = await waitFor(async () => (await client.listTasks({ job: GOOD })).find((x) => x.state === 'TASK_RUNNING'), { what: `${GOOD} running` });
  const agentId = (await client.cell()).agents.find((a) => a.hostname === agents[0]?.hostname)?.agentId;
  assert.ok(agentId !== undefined, 'the agent is listed');

  // Each control character goes into a config that is valid without it: the plan route says so without writing anything.
  for (const [base_, make] of Object.entries(BASELINES)) {
    const res = await fetch(`${base}/api/v1/jobs/plan`, { method: 'POST', headers: { 'content-type': JSON_TYPE }, body: job(make()) });
    assert.equal(res.status, 200, `the ${base_} baseline config is valid: ${await res.text()}`);
  }

  const corpus = [...yamlBombs(), ...jsonBombs(), ...controlCharacters(), ...execRequests(task.taskId), ...agentCalls(agentId), ...mediaTypes(), ...instanceNumbers()];
  assert.ok(corpus.length + SLOW.length >= 100, `the corpus has ${corpus.length + SLOW.length} cases`);

  // Quiet first: the job's launch and the agent's first updates are written before the corpus starts.
  let quiet = (await client.cell()).logIndex;
  await waitFor(
    async () => {
      const now = (await client.cell()).logIndex;
      const same = now === quiet;
      quiet = now;
      return same;
    },
    { what: 'the log to stay put for a second', intervalMs: 1000 },
  );
  const before = await snapshot(client);
  const events = watchEvents(base);
  await sleep(300);

  // The corpus runs twice. The first pass finds the master cold: the first YAML document, the
  // first job schema check, the first large body each compile code (V8 compiles lazily, zod builds
  // its checkers on first use), which costs what no later request does. The second pass, timed,
  // is the master as it runs for months.
  const coldBefore = await loopFigures(base);
  for (const kase of corpus) assertRefused(kase, await send(base, kase));
  await sleep(1100);
  const cold = longestSecond(coldBefore.block, (await loopFigures(base)).block);

  const loopBefore = await loopFigures(base);
  const started = performance.now();
  const slow = Promise.all(SLOW.map(async (s) => ({ s, answer: await trickle(master.port, s) })));
  let refused = 0;
  for (const kase of corpus) {
    await t.test(kase.name, async () => {
      assertRefused(kase, await send(base, kase));
      refused++;
    });
  }
  for (const { s, answer } of await slow) {
    await t.test(`slow client: ${s.name}`, () => {
      assert.equal(answer.status, 400, `${s.name} is refused at the deadline`);
      assert.ok(answer.closed, `${s.name}: the master closed the connection`);
      assert.ok(answer.ms < 15_000, `${s.name}: refused after ${Math.round(answer.ms)} ms`);
      refused++;
    });
  }
  const elapsed = performance.now() - started;

  // The monitor sums up each second when it ends: wait for the last one of the corpus.
  await sleep(1500);
  const loopAfter = await loopFigures(base);
  const block = longestSecond(loopBefore.block, loopAfter.block);
  const delay = longestSecond(loopBefore.delay, loopAfter.delay);
  t.diagnostic(
    `${refused} of ${corpus.length + SLOW.length} hostile cases refused in ${Math.round(elapsed)} ms; over ${block.seconds} seconds, ` +
      `the master's event loop was blocked for at most ${block.bound} s at a time (wall-clock gaps: at most ${delay.bound} s, ${delay.over} seconds over 0.05; ` +
      `the cold first pass: blocks of at most ${cold.bound} s)`,
  );
  assert.equal(refused, corpus.length + SLOW.length, 'every case is refused as written');
  assert.equal(block.over, 0, `no second of the corpus had the event loop blocked for 50 ms (longest block at most ${block.bound} s)`);

  assert.deepEqual(await snapshot(client), before, 'the jobs, the tasks and the log index are as they were');
  assert.equal(events.count(), 0, 'the event stream sent no event');
  // The stream was listening: the first real change shows on it.
  await client.killJob(GOOD);
  await waitFor(() => events.count() > 0, { what: 'the kill on the event stream' });
  events.close();
});

test('muster job kill with instance 99999999999999999999 refuses it at once, naming the bound', async (t) => {
  const c = cell(t);
  await c.startMaster();
  const start = performance.now();
  const result = await c.cli(['job', 'kill', `${GOOD}/99999999999999999999`], { timeoutMs: 20_000 });
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /beyond the last instance a job can have \(9999\)/);
  assert.ok(performance.now() - start < 15_000, 'it does not spin');
});
