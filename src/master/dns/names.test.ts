// Sanitising as Mesos-DNS does it: the cases of its records/labels/labels_test.go (RFC1123 and
// DomainFrag), its hash and agent id tail, and the reverse names of addresses.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentIdTail, domainFrag, reverseLabels, sanitizeLabel, taskHash } from './names.js';

test('sanitizeLabel() mangles names as Mesos-DNS labels.RFC1123 does', () => {
  const cases: Record<string, string> = {
    '': '',
    a: 'a',
    '-': '',
    'a---': 'a',
    '---a---': 'a',
    '---a---b': 'a---b',
    'a.b.c.d.e': 'a-b-c-d-e',
    'a.c.d_de.': 'a-c-d-de',
    abc123: 'abc123',
    '-abc123': 'abc123',
    'abc123-': 'abc123',
    'abc-123': 'abc-123',
    'abc--123': 'abc--123',
    'r29f.dev.angrypigs': 'r29f-dev-angrypigs',
    'hello----------------------------------------------------------f': 'hellof',
    '4abc123': '4abc123',
    '-4abc123': '4abc123',
    '89fdgsf---gs7-fgs--d7fddg-123': '89fdgsf---gs7-fgs--d7fddg-123',
    '89fdgsf---gs7-fgs--d7fddg-': '89fdgsf---gs7-fgs--d7fddg',
    'fd%gsf---gs7-f$gs--d7fddg-123': 'fdgsf---gs7-fgs--d7fddg-123',
    'fd%gsf---gs7-f$gs--d7fddg123456789012345678901234567890123456789-123': 'fdgsf---gs7-fgs--d7fddg1234567890123456789012345678901234567891',
    '%%fdgsf---gs7-fgs--d7fddg123456789012345678901234567890123456789---123': 'fdgsf---gs7-fgs--d7fddg1234567890123456789012345678901234567891',
    '##fdgsf---gs7-fgs--d7fddg123456789012345678901234567890123456789-': 'fdgsf---gs7-fgs--d7fddg123456789012345678901234567890123456789',
    'hello--------------------------------------------------------f': 'hello--------------------------------------------------------f',
    'apiserver.myservice': 'apiserver-myservice',
    'Chronos With SPACE': 'chronoswithspace',
  };
  for (const [name, want] of Object.entries(cases)) assert.equal(sanitizeLabel(name), want, JSON.stringify(name));
});

test('sanitizeLabel() never makes a label over 63 characters, with a leading or trailing dash, or outside [a-z0-9-]', () => {
  let seed = 7;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 2000; i++) {
    let s = '';
    const n = rand() % 100;
    for (let j = 0; j < n; j++) s += String.fromCharCode(rand() % 128);
    const l = sanitizeLabel(s);
    assert.ok(l.length <= 63);
    assert.match(l, /^([a-z0-9]([a-z0-9-]*[a-z0-9])?)?$/);
  }
});

test('domainFrag() keeps dots as label separators as Mesos-DNS DomainFrag does', () => {
  const cases: Record<string, string> = {
    '': '',
    '.': '',
    '...': '',
    'abc.': 'abc',
    '.a.c': 'a.c',
    'a..c.e': 'a.c.e',
    'host.com': 'host.com',
    'space space.com': 'spacespace.com',
    'not$1234.com': 'not1234.com',
    '(@ host . com': 'host.com',
    'MiXeDcase.CoM': 'mixedcase.com',
    'pod_123$abc.marathon-0.6.0-dev.mesos': 'pod-123abc.marathon-0.6.0-dev.mesos',
    'marathon.prod': 'marathon.prod',
  };
  for (const [name, want] of Object.entries(cases)) assert.equal(domainFrag(name).join('.'), want, JSON.stringify(name));
});

test('taskHash() is 5 z-base-32 characters of the task id\'s SHA-1, agentIdTail() the agent id after its last dash', () => {
  // Worked out apart: the first 25 bits of SHA-1("nginx.42"), 5 at a time, in z-base-32.
  assert.equal(taskHash('nginx.42'), '8cgxf');
  assert.notEqual(taskHash('nginx.43'), '8cgxf');
  assert.equal(agentIdTail('20150716-183440-1695027628-5050-1387-S1'), 's1');
  assert.equal(agentIdTail('a1'), 'a1');
});

test('reverseLabels() makes in-addr.arpa and ip6.arpa names, and none for a host name', () => {
  assert.deepEqual(reverseLabels('10.0.0.5'), ['5', '0', '0', '10', 'in-addr', 'arpa']);
  const v6 = reverseLabels('fd00::6');
  assert.equal(v6?.length, 34);
  assert.equal(v6?.slice(0, 2).join('.'), '6.0');
  assert.equal(v6?.slice(-4).join('.'), 'd.f.ip6.arpa');
  assert.equal(reverseLabels('node4.local'), undefined);
});
