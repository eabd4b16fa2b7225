import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agent, framework, offerIds, resources } from '../../test/fixtures.js';
import { allocate } from './index.js';
import { drfOrder } from './allocator.js';
import type { AllocatorAgent, AllocatorInput, PendingTask, Tier } from './index.js';

function cell(n: number, total = 'cpus:4;mem:8GiB'): AllocatorAgent[] {
  return Array.from({ length: n }, (_, i) => agent({ agentId: `agent-${i}`, total }));
}

function input(overrides: Partial<AllocatorInput> = {}): AllocatorInput {
  return {
    agents: overrides.agents ?? cell(2),
    frameworks: overrides.frameworks ?? [framework()],
    roleWeights: overrides.roleWeights ?? new Map(),
    now: overrides.now ?? 1_000_000,
    nextOfferId: overrides.nextOfferId ?? offerIds(),
    ...(overrides.quotas !== undefined ? { quotas: overrides.quotas } : {}),
  };
}

const NOW = 1_000_000;

void test('allocate() offers all of each agent\'s free resources, with ids from nextOfferId in agent order', () => {
  const agents = [
    agent({ agentId: 'a', total: 'cpus:4;mem:8GiB;ports:[31000-31999]', free: 'cpus:1.5;mem:1GiB;ports:[31500-31999]' }),
    agent({ agentId: 'b', attributes: { rack: 'r1' } }),
  ];
  assert.deepEqual(allocate(input({ agents })), [
    {
      offerId: 'o-1',
      frameworkId: 'muster',
      agentId: 'a',
      hostname: 'a.example',
      attributes: { host: 'a.example' },
      resources: resources('cpus:1.5;mem:1GiB;ports:[31500-31999]'),
    },
    {
      offerId: 'o-2',
      frameworkId: 'muster',
      agentId: 'b',
      hostname: 'b.example',
      attributes: { rack: 'r1' },
      resources: agents[1]?.total,
    },
  ]);
});

void test('allocate() skips agents with nothing free', () => {
  const agents = [agent({ agentId: 'full', free: '' }), agent({ agentId: 'idle' })];
  assert.deepEqual(allocate(input({ agents })).map((o) => o.agentId), ['idle']);
});

void test('allocate() shares agents fairly between two frameworks of equal share, ties by frameworkId', () => {
  const frameworks = [framework({ frameworkId: 'fw-b', role: 'b' }), framework({ frameworkId: 'fw-a', role: 'a' })];
  const offers = allocate(input({ agents: cell(4), frameworks }));
  assert.deepEqual(offers.map((o) => o.frameworkId), ['fw-a', 'fw-b', 'fw-a', 'fw-b']);
});

void test('allocate() offers to the framework of lowest dominant share first', () => {
  // The cell has 40 cpus and 80GiB: fw-a holds 50% of the mem (dominant), fw-b 30% of the cpus.
  const frameworks = [
    framework({ frameworkId: 'fw-a', role: 'a', allocated: 'cpus:1;mem:40GiB' }),
    framework({ frameworkId: 'fw-b', role: 'b', allocated: 'cpus:12;mem:1GiB' }),
  ];
  const offers = allocate(input({ agents: cell(10), frameworks }));
  // fw-b gets agents until its cpus share passes fw-a's 50% mem share: 12 → 16 → 20 cpus (50%, tie
  // goes to fw-a), then they alternate.
  assert.deepEqual(offers.map((o) => o.frameworkId), ['fw-b', 'fw-b', 'fw-a', 'fw-b', 'fw-a', 'fw-b', 'fw-a', 'fw-b', 'fw-a', 'fw-b']);
});

void test('allocate() divides dominant share by the role\'s weight', () => {
  const frameworks = [framework({ frameworkId: 'fw-a', role: 'heavy' }), framework({ frameworkId: 'fw-b', role: 'light' })];
  const offers = allocate(input({ agents: cell(6), frameworks, roleWeights: new Map([['heavy', 2]]) }));
  assert.deepEqual(offers.map((o) => o.frameworkId), ['fw-a', 'fw-b', 'fw-a', 'fw-a', 'fw-b', 'fw-a']);
});

void test('allocate() honours a decline filter until it ends', () => {
  const frameworks = [
    framework({ frameworkId: 'fw-a', declined: new Map([['agent-0', NOW + 5000], ['agent-1', NOW]]) }),
    framework({ frameworkId: 'fw-b', suppressed: true }),
  ];
  const offers = allocate(input({ agents: cell(3), frameworks, now: NOW }));
  // agent-0 is refused until later; agent-1's filter ends now.
  assert.deepEqual(offers.map((o) => [o.agentId, o.frameworkId]), [['agent-1', 'fw-a'], ['agent-2', 'fw-a']]);
});

void test('allocate() offers a declined agent to another framework', () => {
  const frameworks = [
    framework({ frameworkId: 'fw-a', declined: new Map([['agent-0', NOW + 1]]) }),
    framework({ frameworkId: 'fw-b', allocated: 'cpus:4;mem:8GiB' }),
  ];
  assert.deepEqual(allocate(input({ agents: cell(1), frameworks, now: NOW })).map((o) => o.frameworkId), ['fw-b']);
});

void test('allocate() sends nothing to a suppressed framework', () => {
  const frameworks = [framework({ frameworkId: 'fw-a', suppressed: true }), framework({ frameworkId: 'fw-b', allocated: 'cpus:8' })];
  assert.deepEqual(allocate(input({ agents: cell(3), frameworks })).map((o) => o.frameworkId), ['fw-b', 'fw-b', 'fw-b']);
  assert.deepEqual(allocate(input({ frameworks: [framework({ suppressed: true })] })), []);
});

void test('allocate() gives the same offers for the same input, whatever the order of frameworks', () => {
  const make = (reverse: boolean): AllocatorInput => {
    const frameworks = [
      framework({ frameworkId: 'fw-a', role: 'a', allocated: 'cpus:2;mem:1GiB' }),
      framework({ frameworkId: 'fw-b', role: 'b', allocated: 'cpus:1;mem:4GiB' }),
      framework({ frameworkId: 'fw-c', role: 'c', declined: new Map([['agent-3', NOW + 1]]) }),
    ];
    return input({ agents: cell(12), frameworks: reverse ? frameworks.reverse() : frameworks, now: NOW });
  };
  const first = allocate(make(false));
  assert.deepEqual(allocate(make(false)), first);
  assert.deepEqual(allocate(make(true)), first);
});

// ---- hierarchical DRF: roles, then frameworks inside a role ---------------------------------------

/** owners is who got each offer, in agent order. */
function owners(offers: readonly { frameworkId: string }[]): string[] {
  return offers.map((o) => o.frameworkId);
}

void test('allocate() shares between the frameworks of one role by dominant share', () => {
  // 6 agents: 24 cpus and 48GiB. fw-a already holds 8 cpus (a third of the cpus), fw-b nothing.
  const frameworks = [
    framework({ frameworkId: 'fw-a', role: 'web', allocated: 'cpus:8' }),
    framework({ frameworkId: 'fw-b', role: 'web' }),
  ];
  const offers = allocate(input({ agents: cell(6), frameworks }));
  // fw-b catches up first (4, then 8 cpus: a tie goes to fw-a), then they take turns.
  assert.deepEqual(owners(offers), ['fw-b', 'fw-b', 'fw-a', 'fw-b', 'fw-a', 'fw-b']);
});

void test('allocate() picks the role first: a role does not gain by running more frameworks', () => {
  // Flat DRF would give web's two frameworks two agents for every one of batch's.
  const frameworks = [
    framework({ frameworkId: 'fw-1', role: 'web' }),
    framework({ frameworkId: 'fw-2', role: 'web' }),
    framework({ frameworkId: 'fw-3', role: 'batch' }),
  ];
  const offers = allocate(input({ agents: cell(6), frameworks }));
  assert.deepEqual(owners(offers), ['fw-3', 'fw-1', 'fw-3', 'fw-2', 'fw-3', 'fw-1']);
});

void test('allocate() counts what a role\'s frameworks hold together for the role\'s share', () => {
  // web's frameworks hold 8 cpus between them, batch's one holds 6: batch is poorer, though each of
  // web's frameworks holds less than batch's.
  const frameworks = [
    framework({ frameworkId: 'fw-1', role: 'web', allocated: 'cpus:4' }),
    framework({ frameworkId: 'fw-2', role: 'web', allocated: 'cpus:4' }),
    framework({ frameworkId: 'fw-3', role: 'batch', allocated: 'cpus:6' }),
  ];
  assert.deepEqual(owners(allocate(input({ agents: cell(1), frameworks }))), ['fw-3']);
});

void test('allocate() gives roles of weights 1 and 3 about 1:3 of the agents', () => {
  const frameworks = [
    framework({ frameworkId: 'fw-a', role: 'a' }),
    framework({ frameworkId: 'fw-b1', role: 'b' }),
    framework({ frameworkId: 'fw-b2', role: 'b' }),
  ];
  const offers = allocate(input({ agents: cell(40), frameworks, roleWeights: new Map([['a', 1], ['b', 3]]) }));
  const count = (id: string): number => offers.filter((o) => o.frameworkId === id).length;
  assert.equal(count('fw-a'), 10);
  // Role b's 30 agents split evenly between its two frameworks.
  assert.equal(count('fw-b1'), 15);
  assert.equal(count('fw-b2'), 15);
});

void test('allocate() offers to a role below its quota guarantee before any other', () => {
  // big holds 4 cpus and has a guarantee of 12; small holds nothing and has no quota. Without the
  // quota small, the poorer, would go first.
  const frameworks = [
    framework({ frameworkId: 'fw-big', role: 'big', allocated: 'cpus:4' }),
    framework({ frameworkId: 'fw-small', role: 'small' }),
  ];
  const quotas = new Map([['big', resources('cpus:12')]]);
  const offers = allocate(input({ agents: cell(6), frameworks, quotas }));
  // Two agents bring big to 12 cpus, its guarantee; from there plain DRF: big holds half the cpus,
  // so small takes the rest.
  assert.deepEqual(owners(offers), ['fw-big', 'fw-big', 'fw-small', 'fw-small', 'fw-small', 'fw-big']);
  // Without it, small first, then they take turns (at a tie, big is the lower role name).
  assert.deepEqual(owners(allocate(input({ agents: cell(6), frameworks }))), ['fw-small', 'fw-big', 'fw-small', 'fw-big', 'fw-small', 'fw-big']);
});

void test('allocate() takes a role below its guarantee in any one resource its quota names as under it', () => {
  // big holds more cpus than its quota but less mem: it is under its guarantee. A quota of no gpus
  // guarantees none.
  const frameworks = [
    framework({ frameworkId: 'fw-big', role: 'big', allocated: 'cpus:20;mem:1GiB' }),
    framework({ frameworkId: 'fw-small', role: 'small' }),
    framework({ frameworkId: 'fw-none', role: 'none' }),
  ];
  const quotas = new Map([
    ['big', resources('cpus:8;mem:16GiB')],
    ['none', resources('gpus:0')],
  ]);
  assert.deepEqual(owners(allocate(input({ agents: cell(2), frameworks, quotas }))), ['fw-big', 'fw-big']);
});

void test('allocate() orders roles below their guarantees by weighted dominant share among themselves', () => {
  const frameworks = [
    framework({ frameworkId: 'fw-a', role: 'a', allocated: 'cpus:2' }),
    framework({ frameworkId: 'fw-b', role: 'b' }),
    framework({ frameworkId: 'fw-c', role: 'c' }),
  ];
  const quotas = new Map([
    ['a', resources('cpus:100')],
    ['b', resources('cpus:100')],
  ]);
  assert.deepEqual(owners(allocate(input({ agents: cell(3), frameworks, quotas }))), ['fw-b', 'fw-a', 'fw-b']);
});

void test('allocate() skips a role below its guarantee whose frameworks want nothing of the agent', () => {
  const frameworks = [
    framework({ frameworkId: 'fw-q1', role: 'q', suppressed: true }),
    framework({ frameworkId: 'fw-q2', role: 'q', declined: new Map([['agent-0', NOW + 1]]) }),
    framework({ frameworkId: 'fw-other', role: 'other', allocated: 'cpus:8' }),
  ];
  const quotas = new Map([['q', resources('cpus:100')]]);
  const offers = allocate(input({ agents: cell(2), frameworks, quotas, now: NOW }));
  // agent-0: fw-q2 declined it and fw-q1 is suppressed, so the other role gets it; agent-1 goes to
  // fw-q2, q being below its guarantee.
  assert.deepEqual(offers.map((o) => [o.agentId, o.frameworkId]), [['agent-0', 'fw-other'], ['agent-1', 'fw-q2']]);
});

void test('allocate() offers an agent a framework declined to another framework of the same role', () => {
  const frameworks = [
    framework({ frameworkId: 'fw-a', role: 'web', declined: new Map([['agent-0', NOW + 1]]) }),
    framework({ frameworkId: 'fw-b', role: 'web', allocated: 'cpus:4;mem:8GiB' }),
    framework({ frameworkId: 'fw-c', role: 'batch', allocated: 'cpus:8;mem:8GiB' }),
  ];
  // web holds less than batch, and within web only fw-b may have agent-0.
  assert.deepEqual(owners(allocate(input({ agents: cell(1), frameworks, now: NOW }))), ['fw-b']);
});

void test('allocate() gives the same offers whatever the order of frameworks, with roles of many frameworks and quotas', () => {
  const make = (reverse: boolean): AllocatorInput => {
    const frameworks = [
      framework({ frameworkId: 'fw-a1', role: 'a', allocated: { ...resources('cpus:2;mem:1GiB'), gpus: 0.1 } }),
      framework({ frameworkId: 'fw-a2', role: 'a', allocated: { ...resources(), gpus: 0.2 } }),
      framework({ frameworkId: 'fw-b1', role: 'b', allocated: { ...resources('cpus:1;mem:4GiB'), gpus: 0.3 } }),
      framework({ frameworkId: 'fw-b2', role: 'b', declined: new Map([['agent-3', NOW + 1]]) }),
      framework({ frameworkId: 'fw-c', role: 'c', suppressed: true }),
    ];
    const agents = Array.from({ length: 12 }, (_, i) => agent({ agentId: `agent-${i}`, total: 'cpus:4;mem:8GiB;gpus:1' }));
    return input({
      agents,
      frameworks: reverse ? frameworks.reverse() : frameworks,
      roleWeights: new Map([['b', 2]]),
      quotas: new Map([['a', resources('cpus:10')]]),
      now: NOW,
    });
  };
  const first = allocate(make(false));
  assert.equal(first.length, 12);
  assert.deepEqual(allocate(make(true)), first);
});

// ---- drfOrder ---------------------------------------------------------------------------------

function pendingOf(role: string, n: number, tier: Tier = 'preferred'): PendingTask[] {
  return Array.from({ length: n }, (_, instance) => ({
    key: `${role}/prod/job/${tier}/${instance}`,
    job: `${role}/prod/job`,
    instance,
    role,
    request: { cpusMilli: 1000, memMiB: 1024, diskMiB: 0, gpus: 0, ports: [] },
    constraints: {},
    tier,
    priority: 0,
    spreadBy: 'host',
    mayPreempt: false,
  }));
}

const TOTAL = resources('cpus:1000;mem:1000GiB');

void test('drfOrder() interleaves roles by weight: weights 1 and 3 take turns about 1:3', () => {
  const tasks = [...pendingOf('a', 100), ...pendingOf('b', 100)];
  const out = drfOrder(tasks, { allocatedByRole: new Map(), total: TOTAL, roleWeights: new Map([['a', 1], ['b', 3]]) });
  const first = out.slice(0, 40);
  const a = first.filter((t) => t.role === 'a').length;
  assert.ok(a >= 9 && a <= 11, `${a} of the first 40 are role a`);
  assert.equal(out.length, 200);
  assert.deepEqual(out.filter((t) => t.role === 'b').map((t) => t.instance), [...Array(100).keys()]);
});

void test('drfOrder() does not let a role that holds everything starve a newcomer', () => {
  const tasks = [...pendingOf('old', 50), ...pendingOf('new', 3)];
  const out = drfOrder(tasks, { allocatedByRole: new Map([['old', resources('cpus:900;mem:900GiB')]]), total: TOTAL, roleWeights: new Map() });
  assert.deepEqual(out.slice(0, 3).map((t) => t.role), ['new', 'new', 'new']);
});

void test('drfOrder() keeps tiers in the order given', () => {
  const tasks = [...pendingOf('a', 2), ...pendingOf('b', 2), ...pendingOf('a', 2, 'preemptible'), ...pendingOf('b', 1, 'revocable')];
  const out = drfOrder(tasks, { allocatedByRole: new Map([['a', resources('cpus:500')]]), total: TOTAL, roleWeights: new Map() });
  assert.deepEqual(out.map((t) => `${t.tier}:${t.role}`), ['preferred:b', 'preferred:b', 'preferred:a', 'preferred:a', 'preemptible:a', 'preemptible:a', 'revocable:b']);
});
