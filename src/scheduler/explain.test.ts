import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agent, offer, request, resources } from '../../test/fixtures.js';
import { LimitCounts, parseConstraints } from './constraints.js';
import { explain, FITS_NOW, MAX_CHANGES, neverFits, NO_OFFERS, whyNot } from './explain.js';
import { classOf, resourceShortfalls } from './filters.js';
import type { AgentFree, TaskClass } from './filters.js';
import type { AgentSlot, PendingTask, Tier, WhyPending } from './types.js';

const JOB = 'web/prod/hello';

interface SlotOptions {
  readonly free?: string;
  readonly attributes?: Record<string, string>;
  readonly gpuFree?: readonly number[];
  readonly revocable?: { readonly cpusMilli: number; readonly memMiB: number };
  readonly draining?: boolean;
}

/** slot is an agent of 8 cpus and 16GiB with `free` left (all of it by default), no GPUs, no slack. */
function slot(agentId: string, o: SlotOptions = {}): AgentSlot {
  const total = resources('cpus:8;mem:16GiB;disk:100GiB;ports:[31000-31009]');
  return {
    agentId,
    hostname: `${agentId}.example`,
    attributes: o.attributes ?? {},
    total,
    free: o.free === undefined ? total : resources(o.free),
    gpuFree: o.gpuFree ?? [],
    revocable: o.revocable ?? { cpusMilli: 0, memMiB: 0 },
    draining: o.draining ?? false,
  };
}

function freeOf(s: AgentSlot): AgentFree {
  return { free: s.free, gpuFree: s.gpuFree, revocable: s.revocable };
}

interface TaskOptions {
  readonly request?: string;
  readonly ports?: readonly string[];
  /** GPUs apart from the request text, which holds whole devices only. */
  readonly gpus?: number;
  readonly constraints?: Record<string, string>;
  readonly tier?: Tier;
  readonly role?: string;
}

function cls(o: TaskOptions = {}): TaskClass {
  const t: PendingTask = {
    key: `${JOB}/0`,
    job: JOB,
    instance: 0,
    role: o.role ?? 'web',
    request: { ...request(o.request ?? 'cpus:1;mem:1GiB', o.ports ?? []), ...(o.gpus === undefined ? {} : { gpus: o.gpus }) },
    constraints: o.constraints ?? {},
    tier: o.tier ?? 'preferred',
    priority: 0,
    spreadBy: 'host',
    mayPreempt: false,
  };
  return classOf(t);
}

function why(agents: readonly AgentSlot[], task: TaskOptions = {}, counts = new LimitCounts()): WhyPending {
  return explain({ cls: cls(task), agents, free: agents.map(freeOf), counts });
}

function many(n: number, prefix: string, o: SlotOptions): AgentSlot[] {
  return Array.from({ length: n }, (_, i) => slot(`${prefix}-${i}`, o));
}

void test('explain() says no agent has free resources to offer in an empty cell', () => {
  assert.deepEqual(why([]), { summary: NO_OFFERS, filters: [], changes: [] });
  assert.equal(NO_OFFERS, 'no agent has free resources to offer');
});

void test('explain() counts each agent under the first filter that turns it away and writes the sentence', () => {
  const counts = new LimitCounts();
  for (let i = 0; i < 3; i++) counts.add(JOB, 'host', `full-${i}`);
  const agents = [
    ...many(2, 'r2', { attributes: { rack: 'r2' }, free: 'cpus:0;mem:0' }),
    ...many(7, 'small', { attributes: { rack: 'r1' }, free: 'cpus:4;mem:1GiB' }),
    ...many(3, 'full', { attributes: { rack: 'r1' }, free: 'cpus:4;mem:512' }),
    slot('drained', { attributes: { rack: 'r2' }, draining: true }),
    ...many(2, 'ml', { attributes: { rack: 'r2', dedicated: 'ml' } }),
  ];
  const w = why(agents, { request: 'cpus:1;mem:4GiB', constraints: { rack: 'r1', host: 'limit:1' } }, counts);
  assert.equal(
    w.summary,
    'no agent fits: rack is not r1 on 2 agents; insufficient mem on 7 agents (needs 4GiB, most free 1GiB); ' +
      'host limit:1 reached on 3 agents; host is draining on 1 agent; dedicated to role ml on 2 agents',
  );
  assert.deepEqual(w.filters, [
    { filter: 'draining', detail: 'host is draining', agents: 1 },
    { filter: 'dedicated', detail: 'dedicated to role ml', agents: 2 },
    { filter: 'constraint', detail: 'rack is not r1', agents: 2 },
    { filter: 'limit', detail: 'host limit:1 reached', agents: 3 },
    { filter: 'mem', detail: 'needs 4GiB, most free 1GiB', agents: 7 },
  ]);
});

void test('explain() lets a dedicated agent of the task\'s own role through', () => {
  const w = why([slot('ml-0', { attributes: { dedicated: 'ml' }, free: 'cpus:0.5;mem:8GiB' })], { role: 'ml' });
  assert.equal(w.summary, 'no agent fits: insufficient cpus on 1 agent (needs 1 cpu, most free 0.5 cpus)');
});

void test('explain() counts an agent under every resource it lacks', () => {
  const agents = [
    slot('a', { free: 'cpus:0.5;mem:512;disk:1GiB', gpuFree: [1000, 400] }),
    slot('b', { free: 'cpus:0.25;mem:8GiB;disk:1GiB;ports:[31000]', gpuFree: [] }),
  ];
  const w = why(agents, { request: 'cpus:1;mem:1GiB;disk:2GiB;gpus:2', ports: ['http', 'admin'] });
  assert.equal(
    w.summary,
    'no agent fits: insufficient cpus on 2 agents (needs 1 cpu, most free 0.5 cpus); insufficient mem on 1 agent (needs 1GiB, most free 512MiB); ' +
      'insufficient disk on 2 agents (needs 2GiB, most free 1GiB); insufficient gpus on 2 agents (needs 2 gpus, most free 1 gpu); ' +
      'insufficient ports on 2 agents (needs 2 ports, most free 1 port)',
  );
});

void test('explain() counts resources exactly as resourceShortfalls() names them', () => {
  const agents = [
    slot('a', { free: 'cpus:0.5;mem:4GiB', gpuFree: [300] }),
    slot('b', { free: 'cpus:4;mem:256', gpuFree: [1000] }),
    slot('c', { free: 'cpus:4;mem:4GiB;disk:0', gpuFree: [600, 500] }),
    slot('d', { free: 'cpus:0;mem:0;ports:[31000]', gpuFree: [] }),
  ];
  for (const task of [{ request: 'cpus:1;mem:1GiB;disk:1', gpus: 0.5, ports: ['http'] }, { request: 'cpus:1;mem:1GiB;gpus:1' }]) {
    const c = cls(task);
    const expected = new Map<string, number>();
    for (const s of agents) for (const f of resourceShortfalls(c, freeOf(s))) expected.set(f, (expected.get(f) ?? 0) + 1);
    const got = new Map(why(agents, task).filters.map((f) => [f.filter, f.agents]));
    assert.deepEqual(got, expected);
  }
});

void test('explain() compares a share of a GPU with the freest device', () => {
  const w = why([slot('a', { gpuFree: [300, 200] }), slot('b', { gpuFree: [250] })], { request: 'cpus:1;mem:1GiB', gpus: 0.5 });
  assert.equal(w.summary, 'no agent fits: insufficient gpus on 2 agents (needs 0.5 gpus, most free 0.3 gpus)');
  assert.deepEqual(w.changes, ['ask for at most 0.3 gpus (fits 1 agent)']);
});

void test('explain() names the nearest agent by the smallest relative shortfall', () => {
  const agents = [
    slot('half-cpu', { free: 'cpus:0.5;mem:4GiB' }),
    slot('both', { free: 'cpus:0.75;mem:3GiB' }),
    slot('mem', { free: 'cpus:2;mem:3584' }),
    slot('other-rack', { free: 'cpus:8;mem:3900', attributes: { rack: 'r2' } }),
  ];
  const w = why(agents.map((s) => (s.agentId === 'other-rack' ? s : { ...s, attributes: { rack: 'r1' } })), {
    request: 'cpus:1;mem:4GiB',
    constraints: { rack: 'r1' },
  });
  assert.deepEqual(w.nearest, { agentId: 'mem', hostname: 'mem.example', lacks: '512MiB mem' });
  const two = why([slot('x', { free: 'cpus:0.5;mem:3GiB' })], { request: 'cpus:1;mem:4GiB' });
  assert.deepEqual(two.nearest, { agentId: 'x', hostname: 'x.example', lacks: '0.5 cpus and 1GiB mem' });
});

void test('explain() leaves nearest out when no agent passes the constraints', () => {
  const w = why([slot('a', { attributes: { rack: 'r2' } })], { constraints: { rack: 'r1' } });
  assert.equal(w.nearest, undefined);
  assert.equal(w.summary, 'no agent fits: rack is not r1 on 1 agent');
});

void test('explain() suggests the largest amount of one resource that some agent has', () => {
  const agents = [
    ...many(3, 'a', { free: 'cpus:1.5;mem:8GiB' }),
    slot('b', { free: 'cpus:1;mem:8GiB' }),
    // Lacks mem too: asking for fewer cpus alone does not get it in.
    slot('c', { free: 'cpus:1.75;mem:1GiB' }),
  ];
  const w = why(agents, { request: 'cpus:2;mem:2GiB' });
  assert.deepEqual(w.changes, ['ask for at most 1.5 cpus (fits 3 agents)']);
});

void test('explain() never rounds a suggested amount up past what the agent has', () => {
  const w = why([slot('a', { free: 'cpus:4;mem:1500' })], { request: 'cpus:1;mem:2GiB' });
  assert.deepEqual(w.changes, ['ask for at most 1500MiB mem (fits 1 agent)']);
});

void test('explain() suggests the nearest agent\'s figures when no single resource would do', () => {
  const agents = [slot('a', { free: 'cpus:1.5;mem:2GiB' }), slot('b', { free: 'cpus:1.5;mem:3GiB' }), slot('c', { free: 'cpus:0.5;mem:3GiB' })];
  const w = why(agents, { request: 'cpus:2;mem:4GiB' });
  assert.deepEqual(w.nearest, { agentId: 'b', hostname: 'b.example', lacks: '0.5 cpus and 1GiB mem' });
  assert.deepEqual(w.changes, ['ask for at most 1.5 cpus and 3GiB mem (fits 1 agent)']);
});

void test('explain() suggests dropping each constraint that alone stands in the way', () => {
  const counts = new LimitCounts();
  counts.add(JOB, 'host', 'r2-0');
  counts.add(JOB, 'host', 'r1-0');
  counts.add(JOB, 'host', 'r1-1');
  const agents = [...many(4, 'r2', { attributes: { rack: 'r2' } }), ...many(2, 'r1', { attributes: { rack: 'r1' } })];
  const w = why(agents, { constraints: { rack: 'r1', host: 'limit:1' } }, counts);
  assert.equal(w.summary, 'no agent fits: rack is not r1 on 4 agents; host limit:1 reached on 2 agents');
  // r2-0 fails both constraints: dropping one alone does not get it in.
  assert.deepEqual(w.changes, ['drop the constraint rack: r1 (fits 3 agents)', 'drop the constraint host: limit:1 (fits 2 agents)']);
});

void test('explain() suggests tier revocable when the task would fit in slack', () => {
  const agents = [
    ...many(2, 'slack', { free: 'cpus:0.5;mem:4GiB', revocable: { cpusMilli: 2000, memMiB: 2048 } }),
    slot('little-slack', { free: 'cpus:0.5;mem:4GiB', revocable: { cpusMilli: 500, memMiB: 2048 } }),
  ];
  const w = why(agents, { request: 'cpus:1;mem:1GiB' });
  assert.deepEqual(w.changes, ['ask for at most 0.5 cpus (fits 3 agents)', 'run in tier revocable (fits 2 agents on slack)']);
});

void test('explain() counts a revocable task short of slack under revocable and suggests tier preemptible', () => {
  const agents = [
    slot('a', { free: 'cpus:4;mem:4GiB', revocable: { cpusMilli: 500, memMiB: 4096 } }),
    slot('b', { free: 'cpus:0;mem:0', revocable: { cpusMilli: 250, memMiB: 512 } }),
  ];
  const w = why(agents, { request: 'cpus:1;mem:1GiB', tier: 'revocable' });
  assert.equal(w.summary, 'no agent fits: insufficient revocable cpus and mem on 2 agents (needs 1 cpu and 1GiB, most free 0.5 cpus and 4GiB)');
  assert.deepEqual(w.filters, [{ filter: 'revocable', detail: 'needs 1 cpu and 1GiB, most free 0.5 cpus and 4GiB', agents: 2 }]);
  assert.ok(w.changes.includes('run in tier preemptible (fits 1 agent)'), w.changes.join(' / '));
  assert.ok(w.changes.includes('ask for at most 0.5 cpus (fits 1 agent)'), w.changes.join(' / '));
});

void test('explain() lists at most four changes, those that fit the most agents first, and none that fit no agent', () => {
  const counts = new LimitCounts();
  counts.add(JOB, 'host', 'lim-0');
  const agents = [
    ...many(5, 'zone', { attributes: { rack: 'r1', zone: 'b' } }),
    ...many(4, 'os', { attributes: { rack: 'r1', zone: 'a', os: 'windows' } }),
    ...many(3, 'rack', { attributes: { rack: 'r2', zone: 'a' } }),
    ...many(2, 'cpu', { attributes: { rack: 'r1', zone: 'a' }, free: 'cpus:0.5;mem:8GiB' }),
    slot('lim-0', { attributes: { rack: 'r1', zone: 'a' } }),
  ];
  const w = why(agents, { constraints: { rack: 'r1', zone: 'a', os: '!windows', host: 'limit:1' } }, counts);
  assert.equal(w.changes.length, MAX_CHANGES);
  assert.deepEqual(w.changes, [
    'drop the constraint zone: a (fits 5 agents)',
    'drop the constraint os: !windows (fits 4 agents)',
    'drop the constraint rack: r1 (fits 3 agents)',
    'ask for at most 0.5 cpus (fits 2 agents)',
  ]);
});

void test('explain() says an agent fits now when one does', () => {
  const w = why([slot('a', { free: 'cpus:0;mem:0' }), slot('b')]);
  assert.equal(w.summary, FITS_NOW);
  assert.deepEqual(w.changes, []);
  assert.equal(w.nearest, undefined);
});

void test('explain() sums up dedicated roles past the first eight', () => {
  const agents = Array.from({ length: 10 }, (_, i) => slot(`d-${i}`, { attributes: { dedicated: `team${i}` } }));
  const w = why(agents);
  assert.equal(w.filters.length, 9);
  assert.deepEqual(w.filters[8], { filter: 'dedicated', detail: 'dedicated to 2 other roles', agents: 2 });
});

void test('explain() refuses agents and free amounts that do not go by index', () => {
  assert.throws(() => explain({ cls: cls(), agents: [slot('a')], free: [], counts: new LimitCounts() }), { code: 'INVALID_ARGUMENT' });
});

const cell = [
  agent({ agentId: 'small', total: 'cpus:4;mem:8GiB;ports:[31000-31009]', attributes: { rack: 'r1', os: 'linux' } }),
  agent({ agentId: 'large', total: 'cpus:16;mem:16GiB;ports:[31000-31009]', attributes: { rack: 'r2', os: 'linux' } }),
];

void test('neverFits() is undefined when some agent could hold the task in an empty cell', () => {
  assert.equal(neverFits(request('cpus:16;mem:16GiB'), {}, cell), undefined);
  assert.equal(neverFits(request('cpus:1;mem:1GiB'), { rack: 'r2', host: 'limit:1' }, cell), undefined);
  assert.equal(neverFits(request('cpus:16;mem:16GiB'), {}, cell, 'web', 'revocable'), undefined);
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
  assert.equal(
    neverFits(request('cpus:1;mem:1GiB;gpus:2'), {}, [agent({ total: 'cpus:4;mem:8GiB;gpus:1' })]),
    'no agent can ever fit it: insufficient gpus on 1 agent (needs 2 gpus, the largest agent has 1 gpu)',
  );
});

void test('neverFits() says which constraint no agent matches', () => {
  assert.equal(neverFits(request(), { rack: 'r9' }, cell), 'no agent can ever fit it: rack is not r9 on 2 agents');
  assert.equal(neverFits(request(), { os: '!linux' }, cell), 'no agent can ever fit it: os is linux on 2 agents');
  assert.equal(neverFits(request(), { zone: 'limit:1' }, cell), 'no agent can ever fit it: zone attribute missing on 2 agents');
});

void test('neverFits() does not count agents dedicated to another role', () => {
  const dedicated = [
    agent({ agentId: 'ml-0', total: 'cpus:64;mem:256GiB', attributes: { dedicated: 'ml' } }),
    agent({ agentId: 'web-0', total: 'cpus:4;mem:8GiB', attributes: {} }),
  ];
  assert.equal(
    neverFits(request('cpus:32;mem:1GiB'), {}, dedicated, 'web'),
    'no agent can ever fit it: insufficient cpus on 1 agent (needs 32 cpus, the largest agent has 4 cpus); dedicated to role ml on 1 agent',
  );
  assert.equal(neverFits(request('cpus:32;mem:1GiB'), {}, dedicated, 'ml'), undefined);
  assert.equal(neverFits(request(), {}, [dedicated[0] as (typeof dedicated)[0]], 'web'), 'no agent can ever fit it: dedicated to role ml on 1 agent');
});

void test('neverFits() judges by total resources, not free ones', () => {
  const busy = [agent({ total: 'cpus:4;mem:8GiB', free: resources('cpus:0;mem:0') })];
  assert.equal(neverFits(request('cpus:4;mem:8GiB'), {}, busy), undefined);
});

void test('whyNot() still explains a first-fit pass over offers', () => {
  const offers = [offer({ agentId: 'a', resources: 'cpus:0.5;mem:1GiB' }), offer({ agentId: 'b', resources: 'cpus:0.25;mem:8GiB' })];
  assert.equal(
    whyNot({ job: JOB, request: request('cpus:1;mem:4GiB'), constraints: parseConstraints({}), agents: offers, free: offers.map((o) => o.resources), counts: new LimitCounts() }),
    'no agent fits: insufficient cpus on 2 agents (needs 1 cpu, most free 0.5 cpus); insufficient mem on 1 agent (needs 4GiB, most free 1GiB)',
  );
  assert.equal(whyNot({ job: JOB, request: request(), constraints: [], agents: [], free: [], counts: new LimitCounts() }), NO_OFFERS);
});
