import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attributeOf, checkConstraint, LimitCounts, limitValueOf, parseConstraint, parseConstraints } from './index.js';
import type { AgentView, ConstraintResult } from './index.js';

const linux: AgentView = { agentId: 'a1', hostname: 'a1.example', attributes: { rack: 'r1', os: 'linux' } };
const windows: AgentView = { agentId: 'a2', hostname: 'a2.example', attributes: { rack: 'r2', os: 'windows' } };
const bare: AgentView = { agentId: 'a3', attributes: {} };

function check(attribute: string, text: string, agent: AgentView, counts = new LimitCounts()): ConstraintResult {
  return checkConstraint(parseConstraint(attribute, text), agent, 'web/prod/hello', counts);
}

void test('"r1" passes an agent whose attribute equals the value', () => {
  assert.deepEqual(check('rack', 'r1', linux), { ok: true });
  assert.deepEqual(check('rack', 'r1', windows), { ok: false, reason: 'rack is not r1' });
});

void test('a value constraint fails an agent that lacks the attribute', () => {
  assert.deepEqual(check('rack', 'r1', bare), { ok: false, reason: 'rack attribute missing' });
  assert.deepEqual(check('rack', 'r1|r2', bare), { ok: false, reason: 'rack attribute missing' });
});

void test('"a|b" passes an agent whose attribute is one of the values', () => {
  assert.deepEqual(check('rack', 'r1|r2', linux), { ok: true });
  assert.deepEqual(check('rack', 'r1 | r2', windows), { ok: true });
  assert.deepEqual(check('rack', 'r3|r4', linux), { ok: false, reason: 'rack is not one of r3|r4' });
});

void test('"!windows" fails only an agent whose attribute has the value', () => {
  assert.deepEqual(check('os', '!windows', linux), { ok: true });
  assert.deepEqual(check('os', '!windows', windows), { ok: false, reason: 'os is windows' });
  assert.deepEqual(check('os', '!windows', bare), { ok: true });
  assert.deepEqual(check('rack', '!r1|r2', windows), { ok: false, reason: 'rack is one of r1|r2' });
});

void test('"limit:N" passes while fewer than N tasks of the job share the agent\'s value', () => {
  const counts = new LimitCounts();
  assert.deepEqual(check('rack', 'limit:2', linux, counts), { ok: true });
  counts.add('web/prod/hello', 'rack', 'r1');
  assert.deepEqual(check('rack', 'limit:2', linux, counts), { ok: true });
  counts.add('web/prod/hello', 'rack', 'r1');
  assert.deepEqual(check('rack', 'limit:2', linux, counts), { ok: false, reason: 'rack limit:2 reached' });
  assert.deepEqual(check('rack', 'limit:2', windows, counts), { ok: true }, 'another rack');
  counts.add('other/prod/job', 'rack', 'r2');
  counts.add('other/prod/job', 'rack', 'r2');
  assert.deepEqual(check('rack', 'limit:2', windows, counts), { ok: true }, 'another job does not count');
});

void test('"limit:N" fails an agent that lacks the attribute', () => {
  assert.deepEqual(check('rack', 'limit:1', bare), { ok: false, reason: 'rack attribute missing' });
});

void test('host limit:N counts per agent, with or without a host attribute', () => {
  const counts = new LimitCounts();
  counts.add('web/prod/hello', 'host', 'a3');
  assert.equal(limitValueOf(bare, 'host'), 'a3');
  assert.deepEqual(check('host', 'limit:1', bare, counts), { ok: false, reason: 'host limit:1 reached' });
  assert.deepEqual(check('host', 'limit:1', linux, counts), { ok: true });
});

void test('a host value constraint reads the hostname when the host attribute is missing', () => {
  assert.equal(attributeOf(linux, 'host'), 'a1.example');
  assert.deepEqual(check('host', 'a1.example', linux), { ok: true });
  assert.deepEqual(check('host', '!a1.example', linux), { ok: false, reason: 'host is a1.example' });
});

void test('attributeOf reads own attributes only, never Object.prototype', () => {
  assert.equal(attributeOf(bare, 'constructor'), undefined);
  assert.deepEqual(check('constructor', '!x', bare), { ok: true });
  assert.deepEqual(check('toString', 'x', bare), { ok: false, reason: 'toString attribute missing' });
});

void test('a malformed constraint is a constraint no agent passes, not an exception', () => {
  assert.deepEqual(check('rack', 'limit:0', linux), { ok: false, reason: 'rack constraint "limit:0" is not valid' });
  assert.deepEqual(check('rack', 'limit:x', linux), { ok: false, reason: 'rack constraint "limit:x" is not valid' });
  assert.deepEqual(check('rack', 'r1|', linux), { ok: false, reason: 'rack constraint "r1|" is not valid' });
});

void test('parseConstraints keeps the written order and tells the kinds apart', () => {
  const kinds = parseConstraints({ rack: 'r1', zone: 'a|b', os: '!windows', host: 'limit:1' }).map((c) => [c.attribute, c.kind]);
  assert.deepEqual(kinds, [
    ['rack', 'equals'],
    ['zone', 'oneOf'],
    ['os', 'notEqual'],
    ['host', 'limit'],
  ]);
});
