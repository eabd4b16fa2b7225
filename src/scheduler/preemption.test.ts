import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resources } from '../core/index.js';
import { resources } from '../../test/fixtures.js';
import { classOf, DEFAULT_PLACEMENT_OPTIONS, place } from './index.js';
import { isLower, victimsOn } from './preemption.js';
import type { AgentSlot, PendingTask, PlacementInput, PlacementOptions, RunningTask } from './index.js';

// Agents of 4 cpus and 8GiB, full unless free says otherwise; the pending task wants 2 cpus.

function slot(agentId: string, free = 'cpus:0;mem:0', o: Partial<AgentSlot> = {}): AgentSlot {
  return {
    agentId,
    hostname: `${agentId}.example`,
    attributes: {},
    total: resources('cpus:4;mem:8GiB;disk:10GiB'),
    free: resources(free),
    gpuFree: [],
    revocable: { cpusMilli: 0, memMiB: 0 },
    draining: false,
    offerId: `offer-${agentId}`,
    ...o,
  };
}

function pending(o: Partial<PendingTask> = {}): PendingTask {
  const job = o.job ?? 'web/prod/important';
  const instance = o.instance ?? 0;
  return {
    key: `${job}/${instance}`,
    job,
    instance,
    role: job.split('/')[0] ?? 'web',
    request: { cpusMilli: 2000, memMiB: 1024, diskMiB: 0, gpus: 0, ports: [] },
    constraints: {},
    tier: 'preferred',
    priority: 100,
    spreadBy: 'host',
    mayPreempt: true,
    ...o,
  };
}

function victim(taskId: string, agentId: string, o: Partial<RunningTask> & { res?: string } = {}): RunningTask {
  const job = o.job ?? 'web/prod/batch';
  const r: Resources = resources(o.res ?? 'cpus:2;mem:2GiB');
  return { taskId, job, instance: 0, role: job.split('/')[0] ?? 'web', agentId, tier: 'preemptible', priority: 0, resources: r, gpus: [], killing: false, ...o };
}

function input(agents: AgentSlot[], tasks: PendingTask[], run: RunningTask[], o: Partial<PlacementOptions> = {}): PlacementInput {
  return {
    tasks,
    agents,
    runningOf: (job) => run.filter((r) => r.job === job),
    runningOn: (agentId) => run.filter((r) => r.agentId === agentId),
    options: { ...DEFAULT_PLACEMENT_OPTIONS, preemptionBudget: 10, ...o },
  };
}

void test('place() preempts on the agent whose victims cost least: the lowest priority', () => {
  const agents = [slot('a'), slot('b')];
  const run = [victim('higher', 'a', { priority: 3 }), victim('lower', 'b', { priority: 0 })];
  const r = place(input(agents, [pending()], run));
  assert.deepEqual(r.preemptions, [{ key: 'web/prod/important/0', agentId: 'b', victims: ['lower'] }]);
  assert.deepEqual(r.placements, []);
  assert.match(r.unplaced[0]?.why.summary ?? '', /waiting for 1 preempted task on b\.example/);
});

void test('place() takes no victim of a job whose disruption budget is spent, and at most its budget from one job in a pass', () => {
  const agents = [slot('a'), slot('b'), slot('c')];
  const spent = [victim('spent', 'a', { tier: 'preferred', job: 'web/prod/x', priority: 0, disruptable: 0 }), victim('free', 'b', { tier: 'preferred', job: 'web/prod/y', priority: 5 })];
  assert.deepEqual(place(input(agents, [pending()], spent)).preemptions[0]?.victims, ['free'], 'the cheaper victim is protected by its budget');
  const one = [victim('y0', 'a', { tier: 'preferred', job: 'web/prod/y', priority: 0, disruptable: 1 }), victim('y1', 'b', { tier: 'preferred', job: 'web/prod/y', priority: 0, disruptable: 1 })];
  const r = place(input(agents, [pending(), pending({ instance: 1 })], one));
  assert.equal(r.preemptions.length, 1, 'one victim of web/prod/y in all');
});

void test('place() preempts a revocable task before a preemptible one when either frees what is lacking', () => {
  // The agents have the cpus; they lack disk, which revocable tasks hold outside slack.
  const agents = [slot('a', 'cpus:4;mem:8GiB'), slot('b', 'cpus:4;mem:8GiB')];
  const run = [victim('preemptible', 'a', { res: 'cpus:1;mem:1GiB;disk:2GiB' }), victim('revocable', 'b', { tier: 'revocable', priority: 50, res: 'cpus:1;mem:1GiB;disk:2GiB' })];
  const r = place(input(agents, [pending({ request: { cpusMilli: 2000, memMiB: 1024, diskMiB: 1024, gpus: 0, ports: [] } })], run));
  assert.deepEqual(r.preemptions[0]?.victims, ['revocable']);
});

void test('place() preempts the lowest priority first, and the smallest victim that is enough', () => {
  const agents = [slot('a')];
  const run = [
    victim('big-low', 'a', { res: 'cpus:3;mem:1GiB', priority: 1 }),
    victim('small-low', 'a', { res: 'cpus:0.5;mem:1GiB', priority: 1 }),
    victim('enough-lowest', 'a', { res: 'cpus:2;mem:1GiB', priority: 0 }),
    victim('also-lowest', 'a', { res: 'cpus:2.5;mem:1GiB', priority: 0 }),
  ];
  const r = place(input(agents, [pending()], run));
  assert.deepEqual(r.preemptions[0]?.victims, ['enough-lowest']);
});

void test('place() preempts a preferred task of lower priority only within the same role', () => {
  const other = [victim('other-role', 'a', { job: 'ads/prod/x', tier: 'preferred', priority: 0 })];
  assert.deepEqual(place(input([slot('a')], [pending()], other)).preemptions, []);
  const same = [victim('same-role', 'a', { job: 'web/prod/x', tier: 'preferred', priority: 0 })];
  assert.deepEqual(place(input([slot('a')], [pending()], same)).preemptions[0]?.victims, ['same-role']);
});

void test('place() never preempts a preferred task of higher or equal priority', () => {
  const run = [victim('higher', 'a', { tier: 'preferred', priority: 200 }), victim('equal', 'a', { tier: 'preferred', priority: 100 })];
  const r = place(input([slot('a')], [pending()], run));
  assert.deepEqual(r.preemptions, []);
  assert.doesNotMatch(r.unplaced[0]?.why.summary ?? '', /waiting/);
});

void test('place() lets no task that may not preempt do so (no cascades)', () => {
  const r = place(input([slot('a')], [pending({ mayPreempt: false }), pending({ tier: 'preemptible', instance: 1 })], [victim('v', 'a', { tier: 'revocable' })]));
  assert.deepEqual(r.preemptions, []);
});

void test('place() preempts no more victims than the budget', () => {
  const agents = [slot('a'), slot('b'), slot('c')];
  const run = agents.map((a) => victim(`v-${a.agentId}`, a.agentId));
  const tasks = [0, 1, 2].map((instance) => pending({ instance }));
  const r = place(input(agents, tasks, run, { preemptionBudget: 2 }));
  assert.equal(r.preemptions.length, 2);
  assert.equal(new Set(r.preemptions.flatMap((p) => p.victims)).size, 2);
  assert.deepEqual(place(input(agents, tasks, run, { preemptionBudget: 0 })).preemptions, []);
});

void test('place() does not let two preemptors count on the same room', () => {
  // One victim of 2 cpus frees room for one task of 2 cpus, not two.
  const r = place(input([slot('a')], [pending(), pending({ instance: 1 })], [victim('v', 'a')]));
  assert.equal(r.preemptions.length, 1);
  assert.doesNotMatch(r.unplaced.find((u) => u.key.endsWith('/1'))?.why.summary ?? '', /waiting/);
});

void test('place() passes over tasks already being killed and draining agents', () => {
  const r = place(input([slot('a'), slot('b', 'cpus:0;mem:0', { draining: true })], [pending()], [victim('dying', 'a', { killing: true }), victim('v', 'b')]));
  assert.deepEqual(r.preemptions, []);
});

void test('place() looks for victims on agents that were not offered', () => {
  const { offerId: _o, ...unoffered } = slot('a');
  const r = place(input([unoffered], [pending()], [victim('v', 'a')]));
  assert.deepEqual(r.preemptions, [{ key: 'web/prod/important/0', agentId: 'a', victims: ['v'] }]);
});

void test('victimsOn() gives GPU devices back and adds victims until the task fits', () => {
  const cls = classOf(pending({ request: { cpusMilli: 1000, memMiB: 512, diskMiB: 0, gpus: 1, ports: [] } }));
  const free = { free: resources('cpus:1;mem:1GiB'), gpuFree: [500, 0], revocable: { cpusMilli: 0, memMiB: 0 } };
  const run = [victim('half', 'a', { res: 'cpus:0.1;mem:64', gpus: [{ device: 0, milli: 500 }] }), victim('cpu', 'a', { res: 'cpus:1;mem:64' })];
  const c = victimsOn(cls, free, run, { taken: new Set(), max: 5 });
  assert.deepEqual(c?.victims.map((v) => v.taskId), ['half']);
  assert.deepEqual(c?.free.gpuFree, [1000, 0]);
  assert.equal(victimsOn(cls, free, run, { taken: new Set(['half']), max: 5 }), undefined);
});

void test('isLower() ranks tiers, and priorities within one role and tier', () => {
  const cls = classOf(pending());
  assert.ok(isLower(victim('x', 'a', { tier: 'revocable', priority: 999 }), cls));
  assert.ok(isLower(victim('x', 'a', { tier: 'preferred', priority: 99 }), cls));
  assert.ok(!isLower(victim('x', 'a', { tier: 'preferred', priority: 99, job: 'ads/prod/y' }), cls));
  assert.ok(!isLower(victim('x', 'a', { tier: 'preferred', priority: 100 }), cls));
});
