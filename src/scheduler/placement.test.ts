import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allocate as consume, satisfies, subtract, takePorts, type Resources } from '../core/index.js';
import { offer, offers, pendingTask, pendingTasks, placementInput, resources } from '../../test/fixtures.js';
import { checkConstraint, LimitCounts, limitValueOf, parseConstraints, place } from './index.js';
import type { Offer, PendingTask, PlacementInput } from './index.js';

void test('place() puts each task on the first offer whose remaining resources hold it', () => {
  const input = placementInput({
    offers: [
      offer({ agentId: 'a', resources: 'cpus:0.5;mem:1024' }),
      offer({ agentId: 'b', resources: 'cpus:2;mem:1024' }),
      offer({ agentId: 'c', resources: 'cpus:2;mem:1024' }),
    ],
    tasks: [
      pendingTask({ instance: 0, request: 'cpus:1;mem:64' }),
      pendingTask({ instance: 1, request: 'cpus:0.5;mem:64' }),
      pendingTask({ instance: 2, request: 'cpus:1;mem:64' }),
      pendingTask({ instance: 3, request: 'cpus:1;mem:64' }),
    ],
  });
  const { placements, unplaced } = place(input);
  assert.deepEqual(
    placements.map((p) => [p.key, p.agentId, p.offerId]),
    [
      ['web/prod/hello/0', 'b', 'offer-b'],
      ['web/prod/hello/1', 'a', 'offer-a'],
      ['web/prod/hello/2', 'b', 'offer-b'],
      ['web/prod/hello/3', 'c', 'offer-c'],
    ],
  );
  assert.deepEqual(unplaced, []);
});

void test('place() takes tasks in the given order, so the first gets the last room', () => {
  const input = placementInput({
    offers: [offer({ resources: 'cpus:1;mem:1024' })],
    tasks: [
      pendingTask({ job: 'web/prod/important', priority: 900, request: 'cpus:1;mem:64' }),
      pendingTask({ job: 'web/prod/batch', priority: 1, request: 'cpus:1;mem:64' }),
    ],
  });
  const { placements, unplaced } = place(input);
  assert.deepEqual(placements.map((p) => p.key), ['web/prod/important/0']);
  assert.deepEqual(unplaced.map((u) => u.key), ['web/prod/batch/0']);
});

void test('place() fills exactly 1 cpu with 10 tasks of 0.1 cpus and no more', () => {
  const input = placementInput({
    offers: [offer({ resources: 'cpus:1;mem:1024' })],
    tasks: pendingTasks(11, { request: 'cpus:0.1;mem:1' }),
  });
  const { placements, unplaced } = place(input);
  assert.equal(placements.length, 10);
  assert.deepEqual(unplaced.map((u) => u.key), ['web/prod/hello/10']);
  assert.match(unplaced[0]?.reason ?? '', /insufficient cpus on 1 agent \(needs 0\.1 cpus, most free 0 cpus\)/);
});

void test('place() adds cpus exactly: 0.3 + 0.3 + 0.3 + 0.1 fill 1 cpu', () => {
  // In floating point 0.3 * 3 + 0.1 is 1.0000000000000002, more than 1.
  const input = placementInput({
    offers: [offer({ resources: 'cpus:1;mem:1024' })],
    tasks: [
      ...pendingTasks(3, { job: 'a/b/c', request: 'cpus:0.3;mem:1' }),
      pendingTask({ job: 'a/b/d', request: 'cpus:0.1;mem:1' }),
    ],
  });
  const { placements, unplaced } = place(input);
  assert.equal(placements.length, 4);
  assert.deepEqual(unplaced, []);
});

void test('place() fills 1,000 offers of 1 cpu with 10,000 tasks of 0.1 cpus exactly', () => {
  const input = placementInput({
    offers: offers(1000, 'cpus:1;mem:1024'),
    tasks: pendingTasks(10_001, { request: 'cpus:0.1;mem:1' }),
  });
  const { placements, unplaced } = place(input);
  assert.equal(placements.length, 10_000);
  assert.equal(unplaced.length, 1);
  const perAgent = new Map<string, number>();
  for (const p of placements) perAgent.set(p.agentId, (perAgent.get(p.agentId) ?? 0) + p.resources.cpusMilli);
  assert.equal(perAgent.size, 1000);
  for (const milli of perAgent.values()) assert.equal(milli, 1000);
});

void test('place() assigns the lowest free ports of the offer to the port names in order', () => {
  const input = placementInput({
    offers: [offer({ resources: 'cpus:1;mem:1024;ports:[31005-31006,31000-31001]' })],
    tasks: [pendingTask({ request: 'cpus:0.1;mem:1', ports: ['http', 'admin', 'grpc'] })],
  });
  const [p] = place(input).placements;
  assert.deepEqual(p?.ports, { http: 31000, admin: 31001, grpc: 31005 });
  assert.deepEqual(p?.resources, resources('cpus:0.1;mem:1;ports:[31000-31001,31005]'));
});

void test('place() never assigns a port twice across the tasks of one call', () => {
  const input = placementInput({
    offers: offers(3, 'cpus:4;mem:4096;ports:[31000-31009]'),
    tasks: [
      ...pendingTasks(10, { job: 'a/b/web', request: 'cpus:0.1;mem:1', ports: ['http', 'admin'] }),
      ...pendingTasks(10, { job: 'a/b/db', request: 'cpus:0.1;mem:1', ports: ['sql'] }),
    ],
  });
  const { placements, unplaced } = place(input);
  assert.equal(placements.length, 20);
  assert.deepEqual(unplaced, []);
  const seen = new Set<string>();
  for (const p of placements) {
    for (const port of Object.values(p.ports)) {
      const key = `${p.agentId}:${port}`;
      assert.ok(!seen.has(key), `port ${key} assigned twice`);
      seen.add(key);
    }
  }
  assert.equal(seen.size, 30);
});

void test('place() leaves a task unplaced when the offers have too few ports left', () => {
  const input = placementInput({
    offers: [offer({ resources: 'cpus:1;mem:1024;ports:[31000-31002]' })],
    tasks: pendingTasks(2, { request: 'cpus:0.1;mem:1', ports: ['http', 'admin'] }),
  });
  const { placements, unplaced } = place(input);
  assert.equal(placements.length, 1);
  assert.equal(unplaced[0]?.reason, 'no agent fits: insufficient ports on 1 agent (needs 2 ports, most free 1 port)');
});

void test('place() subtracts what each task takes, so different jobs share an offer', () => {
  const input = placementInput({
    offers: [offer({ resources: 'cpus:1;mem:1024;disk:100;gpus:2' })],
    tasks: [
      pendingTask({ job: 'a/b/c', request: 'cpus:0.5;mem:1000;disk:60;gpus:1' }),
      pendingTask({ job: 'a/b/d', request: 'cpus:0.5;mem:24;disk:40;gpus:1' }),
      pendingTask({ job: 'a/b/e', request: 'cpus:0.001;mem:1' }),
    ],
  });
  const { placements, unplaced } = place(input);
  assert.deepEqual(placements.map((p) => p.key), ['a/b/c/0', 'a/b/d/0']);
  assert.deepEqual(unplaced.map((u) => u.key), ['a/b/e/0']);
});

void test('place() skips offers whose agent fails the constraints', () => {
  const input = placementInput({
    offers: [
      offer({ agentId: 'a', attributes: { rack: 'r1', os: 'linux' } }),
      offer({ agentId: 'b', attributes: { rack: 'r2', os: 'windows' } }),
      offer({ agentId: 'c', attributes: { rack: 'r2', os: 'linux' } }),
    ],
    tasks: [pendingTask({ constraints: { rack: 'r2', os: '!windows' } })],
  });
  assert.deepEqual(place(input).placements.map((p) => p.agentId), ['c']);
});

void test('place() spreads a job with rack limit:1 and counts the tasks placed before the call', () => {
  const input = placementInput({
    offers: offers(6, 'cpus:4;mem:4096', (i) => ({ rack: `r${i % 3}` })),
    tasks: pendingTasks(3, { constraints: { rack: 'limit:1' } }),
    // agent-0 is in r0: one task of the job already runs there.
    placed: [{ job: 'web/prod/hello', agentId: 'agent-0' }],
  });
  const { placements, unplaced } = place(input);
  assert.deepEqual(placements.map((p) => p.agentId), ['agent-1', 'agent-2']);
  assert.equal(unplaced.length, 1);
  assert.equal(unplaced[0]?.reason, 'no agent fits: rack limit:1 reached on 6 agents');
});

void test('place() counts only the same job against a limit', () => {
  const input = placementInput({
    offers: [offer({ agentId: 'a' }), offer({ agentId: 'b' })],
    tasks: pendingTasks(2, { constraints: { host: 'limit:1' } }),
    placed: [
      { job: 'other/prod/job', agentId: 'a' },
      { job: 'web/prod/hello', agentId: 'b' },
    ],
  });
  const { placements, unplaced } = place(input);
  assert.deepEqual(placements.map((p) => p.agentId), ['a']);
  assert.equal(unplaced[0]?.reason, 'no agent fits: host limit:1 reached on 2 agents');
});

void test('place() explains an unplaced task by counting the agents each reason rejected', () => {
  const input = placementInput({
    offers: [
      offer({ agentId: 'a', resources: 'cpus:4;mem:8GiB', attributes: { rack: 'r1' } }),
      offer({ agentId: 'b', resources: 'cpus:4;mem:8GiB', attributes: { rack: 'r2' } }),
      offer({ agentId: 'c', resources: 'cpus:4;mem:8GiB', attributes: { rack: 'r3' } }),
      offer({ agentId: 'd', resources: 'cpus:4;mem:1GiB', attributes: { rack: 'r4' } }),
      offer({ agentId: 'e', resources: 'cpus:4;mem:512', attributes: { rack: 'r5' } }),
    ],
    tasks: [pendingTask({ request: 'cpus:1;mem:4GiB', constraints: { rack: 'limit:1' } })],
    placed: [
      { job: 'web/prod/hello', agentId: 'a' },
      { job: 'web/prod/hello', agentId: 'b' },
      { job: 'web/prod/hello', agentId: 'c' },
    ],
  });
  assert.deepEqual(place(input).unplaced, [
    {
      key: 'web/prod/hello/0',
      reason: 'no agent fits: insufficient mem on 2 agents (needs 4GiB, most free 1GiB); rack limit:1 reached on 3 agents',
    },
  ]);
});

void test('place() says no agent has free resources to offer when there are no offers', () => {
  const { placements, unplaced } = place(placementInput({ tasks: pendingTasks(2) }));
  assert.deepEqual(placements, []);
  assert.deepEqual(unplaced, [
    { key: 'web/prod/hello/0', reason: 'no agent has free resources to offer' },
    { key: 'web/prod/hello/1', reason: 'no agent has free resources to offer' },
  ]);
});

void test('place() gives the same output for the same input and does not change its input', () => {
  const make = (): PlacementInput =>
    placementInput({
      offers: offers(20, 'cpus:2;mem:2048;ports:[31000-31004]', (i) => ({ rack: `r${i % 4}` })),
      tasks: [
        ...pendingTasks(30, { job: 'a/b/web', request: 'cpus:0.3;mem:100', ports: ['http'], constraints: { rack: 'limit:5' } }),
        ...pendingTasks(30, { job: 'a/b/db', request: 'cpus:0.7;mem:300', constraints: { rack: 'r1|r2' } }),
      ],
    });
  const input = make();
  const first = place(input);
  assert.deepEqual(input, make());
  assert.deepEqual(place(input), first);
  assert.deepEqual(place(make()), first);
});

void test('place() agrees with a plain first fit on random cells', () => {
  // The cursor per task shape and the skipping of exhausted offers are shortcuts; a plain first
  // fit with neither must place every task on the same offer with the same ports.
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let round = 0; round < 30; round++) {
    const offerList = offers(1 + rand(30), `cpus:${1 + rand(4)};mem:${256 * (1 + rand(8))};ports:[31000-${31000 + rand(6)}]`, () => ({
      rack: `r${rand(4)}`,
      os: rand(5) === 0 ? 'windows' : 'linux',
    }));
    const constraintChoices = [{}, { rack: 'limit:2' }, { os: '!windows' }, { rack: 'r1|r2' }, { host: 'limit:1', rack: '!r3' }];
    const tasks: PendingTask[] = [];
    for (let j = 0; j < 8; j++) {
      const cpus = [0.1, 0.25, 0.5, 1, 2][rand(5)] as number;
      const ports = rand(3) === 0 ? ['http'] : [];
      tasks.push(
        ...pendingTasks(1 + rand(40), {
          job: `r/e/job${j}`,
          request: `cpus:${cpus};mem:${[0, 64, 512][rand(3)] as number}`,
          ports,
          constraints: constraintChoices[rand(constraintChoices.length)] as Record<string, string>,
        }),
      );
    }
    const input = placementInput({ offers: offerList, tasks, placed: [{ job: 'r/e/job0', agentId: 'agent-0' }] });
    assert.deepEqual(place(input).placements, plainFirstFit(input), `round ${round}`);
  }
});

void test('place() puts 10,000 tasks of one job on 1,000 offers, every one placed', () => {
  const input = placementInput({
    offers: offers(1000, 'cpus:8;mem:16GiB;ports:[31000-31100]'),
    tasks: pendingTasks(10_000, { request: 'cpus:0.5;mem:512', ports: ['http'] }),
  });
  const { placements } = place(input);
  assert.equal(placements.length, 10_000);
  assert.equal(new Set(placements.map((p) => `${p.agentId}:${p.ports['http'] ?? ''}`)).size, 10_000, 'no port given twice');
});

void test('place() places what fits of 20,000 distinct jobs and honours a crowded rack limit', () => {
  const distinct = placementInput({
    offers: offers(1000, 'cpus:1;mem:1024'),
    tasks: Array.from({ length: 20_000 }, (_, i) => pendingTask({ job: `r/e/job${i}`, request: 'cpus:0.1;mem:1' })),
  });
  const a = place(distinct);
  assert.equal(a.placements.length, 10_000);
  assert.equal(a.unplaced.length, 10_000);

  const crowded = placementInput({
    offers: offers(1000, 'cpus:1;mem:1024', (i) => ({ rack: `r${i % 10}` })),
    tasks: pendingTasks(10_000, { request: 'cpus:0.5;mem:1', constraints: { rack: 'limit:10' } }),
  });
  const b = place(crowded);
  assert.equal(b.placements.length, 100);
});

/** plainFirstFit is the obvious first fit, with no shortcut, for place() to agree with. */
function plainFirstFit(input: PlacementInput): unknown[] {
  const free: Resources[] = input.offers.map((o) => o.resources);
  const counts = new LimitCounts();
  for (const p of input.placed) {
    const task = input.tasks.find((t) => t.job === p.job);
    if (task === undefined) continue;
    for (const c of parseConstraints(task.constraints)) {
      if (c.kind !== 'limit') continue;
      const v = limitValueOf({ agentId: p.agentId, attributes: input.agents.get(p.agentId) ?? {} }, c.attribute);
      if (v !== undefined) counts.add(p.job, c.attribute, v);
    }
  }
  const out: unknown[] = [];
  for (const t of input.tasks) {
    const constraints = parseConstraints(t.constraints);
    const i = input.offers.findIndex(
      (o, i) => satisfies(free[i] as Resources, t.request) && constraints.every((c) => checkConstraint(c, o, t.job, counts).ok),
    );
    if (i < 0) continue;
    const o = input.offers[i] as Offer;
    const ports = takePorts((free[i] as Resources).ports, t.request.ports.length) ?? [];
    const used = consume(t.request, ports);
    free[i] = subtract(free[i] as Resources, used);
    for (const c of constraints) {
      const v = c.kind === 'limit' ? limitValueOf(o, c.attribute) : undefined;
      if (v !== undefined) counts.add(t.job, c.attribute, v);
    }
    out.push({
      key: t.key,
      offerId: o.offerId,
      agentId: o.agentId,
      ports: Object.fromEntries(t.request.ports.map((name, k) => [name, ports[k]])),
      resources: used,
    });
  }
  return out;
}

void test('place() counts an agent with two offers once when it explains', () => {
  const input = placementInput({
    offers: [
      offer({ offerId: 'o1', agentId: 'a', resources: 'cpus:0.5;mem:64' }),
      offer({ offerId: 'o2', agentId: 'a', resources: 'cpus:0.25;mem:64' }),
      offer({ offerId: 'o3', agentId: 'b', resources: 'cpus:0.5;mem:64' }),
    ],
    tasks: [pendingTask({ request: 'cpus:1;mem:64' })],
  });
  assert.equal(place(input).unplaced[0]?.reason, 'no agent fits: insufficient cpus on 2 agents (needs 1 cpu, most free 0.5 cpus)');
});

void test('place() still looks at exhausted offers for a task that asks for no mem', () => {
  // Offers with no mem left are skipped for real tasks; a request without mem must still see them.
  const input = placementInput({
    offers: [offer({ agentId: 'a', resources: 'cpus:1;mem:0' }), offer({ agentId: 'b', resources: 'cpus:1;mem:64' })],
    tasks: [pendingTask({ job: 'a/b/real', request: 'cpus:0.5;mem:64' }), pendingTask({ job: 'a/b/odd', request: 'cpus:0.5;mem:0' })],
  });
  assert.deepEqual(place(input).placements.map((p) => [p.key, p.agentId]), [['a/b/real/0', 'b'], ['a/b/odd/0', 'a']]);
});
