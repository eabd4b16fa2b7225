import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agent, offer, request, resources } from '../../test/fixtures.js';
import { LimitCounts, neverFits, NO_OFFERS, parseConstraints, whyNot } from './index.js';
import type { Offer } from './index.js';

function explain(offers: readonly Offer[], req: string, constraints: Record<string, string> = {}, counts = new LimitCounts()): string {
  return whyNot({
    job: 'web/prod/hello',
    request: request(req),
    constraints: parseConstraints(constraints),
    agents: offers,
    free: offers.map((o) => o.resources),
    counts,
  });
}

void test('whyNot() says no agent has free resources to offer when there are none', () => {
  assert.equal(explain([], 'cpus:1;mem:64'), NO_OFFERS);
  assert.equal(NO_OFFERS, 'no agent has free resources to offer');
});

void test('whyNot() names the resource, the agents short of it, the need and the most free', () => {
  const offers = [
    offer({ agentId: 'a', resources: 'cpus:0.5;mem:1GiB' }),
    offer({ agentId: 'b', resources: 'cpus:0.25;mem:8GiB' }),
  ];
  assert.equal(
    explain(offers, 'cpus:1;mem:4GiB'),
    'no agent fits: insufficient cpus on 2 agents (needs 1 cpu, most free 0.5 cpus); insufficient mem on 1 agent (needs 4GiB, most free 1GiB)',
  );
});

void test('whyNot() counts disk, gpus and ports too', () => {
  const offers = [offer({ resources: 'cpus:4;mem:4GiB;disk:512;gpus:1;ports:[31000]' })];
  assert.equal(
    whyNot({
      job: 'j',
      request: request('cpus:1;mem:64;disk:1GiB;gpus:2', ['http', 'admin']),
      constraints: [],
      agents: offers,
      free: offers.map((o) => o.resources),
      counts: new LimitCounts(),
    }),
    'no agent fits: insufficient disk on 1 agent (needs 1GiB, most free 512MiB); ' +
      'insufficient gpus on 1 agent (needs 2 gpus, most free 1 gpu); insufficient ports on 1 agent (needs 2 ports, most free 1 port)',
  );
});

void test('whyNot() counts an agent under the first constraint that rejects it, before its resources', () => {
  const offers = [
    offer({ agentId: 'a', resources: 'cpus:0.1;mem:64', attributes: { rack: 'r2', os: 'windows' } }),
    offer({ agentId: 'b', resources: 'cpus:0.1;mem:64', attributes: { rack: 'r1', os: 'windows' } }),
    offer({ agentId: 'c', resources: 'cpus:0.1;mem:64', attributes: { os: 'linux' } }),
    offer({ agentId: 'd', resources: 'cpus:0.1;mem:64', attributes: { rack: 'r1', os: 'linux' } }),
  ];
  assert.equal(
    explain(offers, 'cpus:1;mem:64', { rack: 'r1', os: '!windows' }),
    'no agent fits: rack is not r1 on 1 agent; os is windows on 1 agent; rack attribute missing on 1 agent; ' +
      'insufficient cpus on 1 agent (needs 1 cpu, most free 0.1 cpus)',
  );
});

void test('whyNot() lists limits after resources, counting each agent once', () => {
  const counts = new LimitCounts();
  counts.add('web/prod/hello', 'rack', 'r1');
  const offers = [
    offer({ agentId: 'a', resources: 'cpus:0.1;mem:64', attributes: { rack: 'r1' } }),
    offer({ agentId: 'b', resources: 'cpus:0.1;mem:64', attributes: { rack: 'r2' } }),
  ];
  assert.equal(
    explain(offers, 'cpus:1;mem:64', { rack: 'limit:1' }, counts),
    'no agent fits: insufficient cpus on 1 agent (needs 1 cpu, most free 0.1 cpus); rack limit:1 reached on 1 agent',
  );
});

const cell = [
  agent({ agentId: 'small', total: 'cpus:4;mem:8GiB;ports:[31000-31009]', attributes: { rack: 'r1', os: 'linux' } }),
  agent({ agentId: 'large', total: 'cpus:16;mem:16GiB;ports:[31000-31009]', attributes: { rack: 'r2', os: 'linux' } }),
];

void test('neverFits() is undefined when some agent could hold the task in an empty cell', () => {
  assert.equal(neverFits(request('cpus:16;mem:16GiB'), {}, cell), undefined);
  assert.equal(neverFits(request('cpus:1;mem:1GiB'), { rack: 'r2', host: 'limit:1' }, cell), undefined);
});

void test('neverFits() is undefined when there are no agents to judge by', () => {
  assert.equal(neverFits(request('cpus:1000;mem:64'), {}, []), undefined);
});

void test('neverFits() names the largest agent\'s figures for a request beyond every agent', () => {
  assert.equal(
    neverFits(request('cpus:2;mem:64GiB'), {}, cell),
    'no agent can ever fit it: insufficient mem on 2 agents (needs 64GiB, the largest agent has 16GiB)',
  );
  assert.equal(
    neverFits(request('cpus:32;mem:1GiB', Array.from({ length: 11 }, (_, i) => `p${i}`)), {}, cell),
    'no agent can ever fit it: insufficient cpus on 2 agents (needs 32 cpus, the largest agent has 16 cpus); ' +
      'insufficient ports on 2 agents (needs 11 ports, the largest agent has 10 ports)',
  );
});

void test('neverFits() says which constraint no agent matches', () => {
  assert.equal(neverFits(request(), { rack: 'r9' }, cell), 'no agent can ever fit it: rack is not r9 on 2 agents');
  assert.equal(neverFits(request(), { os: '!linux' }, cell), 'no agent can ever fit it: os is linux on 2 agents');
  assert.equal(neverFits(request(), { zone: 'limit:1' }, cell), 'no agent can ever fit it: zone attribute missing on 2 agents');
});

void test('neverFits() judges by total resources, not free ones', () => {
  const busy = [agent({ total: 'cpus:4;mem:8GiB', free: resources('cpus:0;mem:0') })];
  assert.equal(neverFits(request('cpus:4;mem:8GiB'), {}, busy), undefined);
});
