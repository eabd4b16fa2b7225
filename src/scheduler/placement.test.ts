import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ResourceRequest } from '../core/index.js';
import { resources } from '../../test/fixtures.js';
import { DEFAULT_PLACEMENT_OPTIONS, GpuDemand, place } from './index.js';
import { MIX_AGENTS } from './placement.js';
import type { AgentSlot, PendingTask, PlacementInput, PlacementOptions, PlacementResult, RunningTask } from './index.js';

// ---- builders: an agent slot offered whole, a pending task, an input ----------------------------

type SlotOverrides = Omit<Partial<AgentSlot>, 'total' | 'free'> & { total?: string; free?: string; offered?: boolean };

function slot(agentId: string, o: SlotOverrides = {}): AgentSlot {
  const total = resources(o.total ?? 'cpus:4;mem:8GiB;disk:100GiB;ports:[31000-31999]');
  const s: AgentSlot = {
    agentId,
    hostname: o.hostname ?? `${agentId}.example`,
    attributes: o.attributes ?? {},
    total,
    free: o.free === undefined ? total : resources(o.free),
    gpuFree: o.gpuFree ?? Array.from({ length: total.gpus }, () => 1000),
    revocable: o.revocable ?? { cpusMilli: 0, memMiB: 0 },
    draining: o.draining ?? false,
  };
  return o.offered === false ? s : { ...s, offerId: `offer-${agentId}` };
}

function req(cpus: number, memMiB: number, more: Partial<ResourceRequest> = {}): ResourceRequest {
  return { cpusMilli: Math.round(cpus * 1000), memMiB, diskMiB: more.diskMiB ?? 0, gpus: more.gpus ?? 0, ports: more.ports ?? [] };
}

function task(o: Partial<PendingTask> = {}): PendingTask {
  const job = o.job ?? 'web/prod/hello';
  const instance = o.instance ?? 0;
  return {
    key: o.key ?? `${job}/${instance}`,
    job,
    instance,
    role: o.role ?? job.split('/')[0] ?? 'web',
    request: o.request ?? req(0.5, 256),
    constraints: o.constraints ?? {},
    tier: o.tier ?? 'preferred',
    priority: o.priority ?? 0,
    spreadBy: o.spreadBy ?? 'host',
    mayPreempt: o.mayPreempt ?? false,
  };
}

function tasks(n: number, o: Partial<PendingTask> = {}): PendingTask[] {
  return Array.from({ length: n }, (_, instance) => task({ ...o, instance }));
}

function running(agentId: string, o: Partial<RunningTask> = {}): RunningTask {
  const job = o.job ?? 'web/prod/hello';
  return {
    taskId: o.taskId ?? `${job}/${o.instance ?? 0}-${agentId}`,
    job,
    instance: o.instance ?? 0,
    role: o.role ?? job.split('/')[0] ?? 'web',
    agentId,
    tier: o.tier ?? 'preferred',
    priority: o.priority ?? 0,
    resources: o.resources ?? resources('cpus:1;mem:1GiB'),
    gpus: o.gpus ?? [],
    killing: o.killing ?? false,
  };
}

function input(agents: AgentSlot[], pending: PendingTask[], o: Partial<PlacementOptions> & { running?: RunningTask[] } = {}): PlacementInput {
  const run = o.running ?? [];
  const { running: _r, ...options } = o;
  return {
    tasks: pending,
    agents,
    runningOf: (job) => run.filter((r) => r.job === job),
    runningOn: (agentId) => run.filter((r) => r.agentId === agentId),
    options: { ...DEFAULT_PLACEMENT_OPTIONS, ...options },
  };
}

function where(r: PlacementResult): Record<string, string> {
  return Object.fromEntries(r.placements.map((p) => [p.key, p.agentId]));
}

/** checkValid: no agent holds more than it had, and each task is placed or unplaced exactly once. */
function checkValid(i: PlacementInput, r: PlacementResult): void {
  const seen = new Set<string>();
  for (const k of [...r.placements.map((p) => p.key), ...r.unplaced.map((u) => u.key)]) {
    assert.ok(!seen.has(k), `${k} appears twice`);
    seen.add(k);
  }
  assert.equal(seen.size, i.tasks.length);
  for (const a of i.agents) {
    const on = r.placements.filter((p) => p.agentId === a.agentId);
    if (on.length > 0) assert.ok(a.offerId !== undefined, `${a.agentId} was not offered`);
    const cpus = on.filter((p) => !p.revocable).reduce((s, p) => s + p.resources.cpusMilli, 0);
    const mem = on.filter((p) => !p.revocable).reduce((s, p) => s + p.resources.memMiB, 0);
    assert.ok(cpus <= a.free.cpusMilli && mem <= a.free.memMiB, `${a.agentId} overcommitted`);
  }
}

// ---- filters --------------------------------------------------------------------------------

void test('place() puts nothing on a draining agent', () => {
  const r = place(input([slot('a', { draining: true }), slot('b')], tasks(2)));
  assert.deepEqual(Object.values(where(r)), ['b', 'b']);
});

void test('place() puts nothing on an agent that was not offered', () => {
  const r = place(input([slot('a', { offered: false }), slot('b', { total: 'cpus:0.5;mem:1GiB' })], tasks(2)));
  assert.deepEqual(where(r), { 'web/prod/hello/0': 'b' });
  assert.deepEqual(r.unplaced.map((u) => u.key), ['web/prod/hello/1']);
});

void test('place() lets only the named role onto a dedicated agent', () => {
  const agents = [slot('ml-box', { attributes: { dedicated: 'ml' } }), slot('shared', { total: 'cpus:0.5;mem:1GiB' })];
  const r = place(input(agents, [task({ job: 'web/prod/a' }), task({ job: 'web/prod/b' }), task({ job: 'ml/prod/train' })]));
  assert.equal(where(r)['ml/prod/train/0'], 'ml-box');
  assert.equal(r.placements.filter((p) => p.agentId === 'ml-box').length, 1);
  assert.equal(r.unplaced.length, 1);
  assert.match(r.unplaced[0]?.reason ?? '', /dedicated/);
});

void test('place() honours value, negated and one-of constraints', () => {
  const agents = [
    slot('a', { attributes: { rack: 'r1', os: 'linux' } }),
    slot('b', { attributes: { rack: 'r2', os: 'windows' } }),
    slot('c', { attributes: { rack: 'r3', os: 'linux' } }),
  ];
  const r = place(
    input(agents, [
      task({ job: 'web/prod/eq', constraints: { rack: 'r2' } }),
      task({ job: 'web/prod/not', constraints: { os: '!linux' } }),
      task({ job: 'web/prod/one', constraints: { rack: 'r1|r3', os: 'linux' } }),
    ]),
  );
  assert.equal(where(r)['web/prod/eq/0'], 'b');
  assert.equal(where(r)['web/prod/not/0'], 'b');
  assert.ok(['a', 'c'].includes(where(r)['web/prod/one/0'] ?? ''));
});

void test('place() keeps host limit:1, counting the tasks already running', () => {
  const agents = ['a', 'b', 'c'].map((id) => slot(id));
  const r = place(input(agents, tasks(3, { constraints: { host: 'limit:1' } }), { running: [running('a'), running('b', { killing: true })] }));
  assert.deepEqual(new Set(Object.values(where(r))), new Set(['b', 'c']));
  assert.equal(r.unplaced.length, 1);
  assert.match(r.unplaced[0]?.reason ?? '', /limit/);
});

void test('place() keeps rack limit:2, counting the tasks already running', () => {
  const agents = [
    slot('a1', { attributes: { rack: 'r1' } }),
    slot('a2', { attributes: { rack: 'r1' } }),
    slot('b1', { attributes: { rack: 'r2' } }),
    slot('b2', { attributes: { rack: 'r2' } }),
  ];
  const r = place(input(agents, tasks(4, { constraints: { rack: 'limit:2' } }), { running: [running('a1')] }));
  const placed = Object.values(where(r));
  assert.equal(placed.filter((a) => a.startsWith('a')).length, 1);
  assert.equal(placed.filter((a) => a.startsWith('b')).length, 2);
  assert.equal(r.unplaced.length, 1);
});

void test('place() leaves a task no agent has the mem for unplaced, and says so', () => {
  const r = place(input([slot('a', { total: 'cpus:4;mem:1GiB' })], [task({ request: req(1, 4096) })]));
  assert.deepEqual(r.placements, []);
  assert.equal(r.unplaced[0]?.key, 'web/prod/hello/0');
  assert.match(r.unplaced[0]?.reason ?? '', /mem/);
  assert.equal(r.unplaced[0]?.reason, r.unplaced[0]?.why.summary);
});

void test('place() fills exactly 1 cpu with 10 tasks of 0.1 cpus and no more', () => {
  const r = place(input([slot('a', { total: 'cpus:1;mem:1GiB' })], tasks(11, { request: req(0.1, 1) })));
  assert.equal(r.placements.length, 10);
  assert.deepEqual(r.unplaced.map((u) => u.key), ['web/prod/hello/10']);
});

void test('place() puts revocable tasks only on slack, taking cpus and mem from it', () => {
  const agents = [slot('no-slack', { total: 'cpus:8;mem:8GiB' }), slot('slack', { total: 'cpus:1;mem:1GiB', revocable: { cpusMilli: 1000, memMiB: 1024 } })];
  const r = place(input(agents, tasks(3, { job: 'batch/prod/scavenge', tier: 'revocable', request: req(0.5, 256) })));
  assert.deepEqual(Object.values(where(r)), ['slack', 'slack']);
  assert.ok(r.placements.every((p) => p.revocable));
  assert.equal(r.unplaced.length, 1);
  assert.match(r.unplaced[0]?.reason ?? '', /revocable/);
  // The slack was used, not the free cpus: a preferred task still fits there.
  const both = place(input([agents[1] as AgentSlot], [...tasks(2, { job: 'batch/prod/scavenge', tier: 'revocable', request: req(0.5, 256) }), task({ request: req(1, 1024) })]));
  assert.equal(both.placements.length, 3);
  assert.equal(both.placements.find((p) => p.key === 'web/prod/hello/0')?.revocable, false);
});

void test('place() gives each task the lowest free ports, by name', () => {
  const agents = [slot('a', { total: 'cpus:4;mem:8GiB;ports:[31000-31001,31005-31010]' })];
  const r = place(input(agents, tasks(2, { request: req(0.1, 32, { ports: ['http', 'admin'] }) })));
  assert.deepEqual(r.placements.map((p) => p.ports), [{ http: 31000, admin: 31001 }, { http: 31005, admin: 31006 }]);
  assert.deepEqual(r.placements[1]?.resources.ports, [{ begin: 31005, end: 31006 }]);
});

// ---- scoring --------------------------------------------------------------------------------

const FIT_ONLY = { fit: 1, spread: 0, gpu: 0 };

void test('place() puts a task on the agent it leaves fullest (best fit)', () => {
  const agents = [slot('big', { total: 'cpus:16;mem:32GiB' }), slot('snug', { total: 'cpus:2;mem:4GiB' }), slot('mid', { total: 'cpus:8;mem:16GiB' })];
  const r = place(input(agents, [task({ request: req(1, 2048) })], { weights: FIT_ONLY }));
  assert.equal(where(r)['web/prod/hello/0'], 'snug');
});

void test('place() spreads a job across racks with spreadBy rack', () => {
  const agents = ['r1', 'r1', 'r2', 'r2', 'r3', 'r3'].map((rack, i) => slot(`a${i}`, { attributes: { rack } }));
  const r = place(input(agents, tasks(3, { spreadBy: 'rack' })));
  const racks = r.placements.map((p) => agents.find((a) => a.agentId === p.agentId)?.attributes.rack);
  assert.deepEqual(new Set(racks), new Set(['r1', 'r2', 'r3']));
});

void test('place() stops spreading when the spread weight is 0', () => {
  const agents = ['a', 'b', 'c'].map((id) => slot(id));
  const spread = place(input(agents, tasks(3)));
  assert.equal(new Set(Object.values(where(spread))).size, 3);
  // A request in the agents' cpu:mem proportion, so that best fit has no imbalance to avoid.
  const packed = place(input(agents, tasks(3, { request: req(1, 2048) }), { weights: FIT_ONLY }));
  assert.equal(new Set(Object.values(where(packed))).size, 1);
});

void test('place() keeps a GPU-less task off an agent with free GPUs', () => {
  const agents = [slot('gpu', { total: 'cpus:4;mem:8GiB;gpus:2' }), slot('plain', { total: 'cpus:4;mem:8GiB' })];
  const r = place(input(agents, [task()]));
  assert.equal(where(r)['web/prod/hello/0'], 'plain');
});

// ---- GPUs -----------------------------------------------------------------------------------

void test('place() puts two half-GPU tasks on one device and a whole-GPU task on a whole free one', () => {
  const agents = [slot('g', { total: 'cpus:8;mem:16GiB;gpus:2' })];
  const half = tasks(2, { job: 'ml/prod/infer', request: req(0.5, 256, { gpus: 0.5 }) });
  const whole = task({ job: 'ml/prod/train', request: req(0.5, 256, { gpus: 1 }) });
  const r = place(input(agents, [...half, whole]));
  assert.equal(r.placements.length, 3);
  const shares = r.placements.map((p) => p.gpus);
  assert.deepEqual(shares[0], [{ device: 0, milli: 500 }]);
  assert.deepEqual(shares[1], [{ device: 0, milli: 500 }]);
  assert.deepEqual(shares[2], [{ device: 1, milli: 1000 }]);
  assert.equal(r.placements[0]?.resources.gpus, 0.5);
});

void test('place() does not put a whole-GPU task on devices that are only partly free', () => {
  const agents = [slot('g', { total: 'cpus:8;mem:16GiB;gpus:2', gpuFree: [500, 999] })];
  const r = place(input(agents, [task({ request: req(0.5, 256, { gpus: 1 }) })]));
  assert.equal(r.placements.length, 0);
  assert.match(r.unplaced[0]?.reason ?? '', /gpu/i);
});

// ---- GPU fragmentation: measured against the GPU tasks the cell runs or was asked to run --------

/** gpuTask is a running task holding GPU shares, of cpus cores and 1 GiB. */
function gpuTask(agentId: string, n: number, gpus: { device: number; milli: number }[], cpus = 1): RunningTask {
  return running(agentId, { taskId: `gpu-${agentId}-${n}`, job: `ml/prod/run${n}`, resources: resources(`cpus:${cpus};mem:1GiB`), gpus });
}

void test('place() sends a cpu-hungry GPU task where the cpus left still feed the other GPUs', () => {
  // The cell runs 1-GPU tasks of 4 cpus. On "poor" a task of 6 cpus would leave 2: its other GPU stranded.
  const agents = [
    slot('poor', { total: 'cpus:8;mem:32GiB;gpus:2' }),
    slot('rich', { total: 'cpus:64;mem:256GiB;gpus:2' }),
    // A machine of another shape runs the mix; "poor" and "rich" are pools of their own, both unused.
    slot('busy', { total: 'cpus:32;mem:128GiB;gpus:2', free: 'cpus:24;mem:126GiB', gpuFree: [0, 0], offered: false }),
  ];
  const run = [gpuTask('busy', 1, [{ device: 0, milli: 1000 }], 4), gpuTask('busy', 2, [{ device: 1, milli: 1000 }], 4)];
  const r = place(input(agents, [task({ job: 'ml/prod/train', request: req(6, 1024, { gpus: 1 }) })], { running: run }));
  assert.equal(where(r)['ml/prod/train/0'], 'rich');
  // Best fit alone, as before there was a mix to measure against, would take the fuller "poor".
  const fitOnly = place(input(agents, [task({ job: 'ml/prod/train', request: req(6, 1024, { gpus: 1 }) })], { running: run, weights: { fit: 1, spread: 2, gpu: 0 } }));
  assert.equal(where(fitOnly)['ml/prod/train/0'], 'poor');
});

void test('place() puts a GPU-less task where its cpus strand no GPU', () => {
  const agents = [
    slot('tight', { total: 'cpus:12;mem:64GiB;gpus:2' }),
    slot('roomy', { total: 'cpus:64;mem:256GiB;gpus:2' }),
    slot('busy', { total: 'cpus:32;mem:128GiB;gpus:2', free: 'cpus:24;mem:126GiB', gpuFree: [0, 0], offered: false }),
  ];
  const run = [gpuTask('busy', 1, [{ device: 0, milli: 1000 }], 4), gpuTask('busy', 2, [{ device: 1, milli: 1000 }], 4)];
  const r = place(input(agents, [task({ job: 'web/prod/cpu', request: req(8, 1024) })], { running: run }));
  assert.equal(where(r)['web/prod/cpu/0'], 'roomy');
});

void test('place() puts a share on the device that leaves room for the shares the cell runs', () => {
  // The cell runs shares of 300 and 700. A new 300 on device 0 would leave 400, too little for a 700.
  const agents = [
    slot('g', { total: 'cpus:16;mem:64GiB;gpus:2', gpuFree: [700, 1000] }),
    slot('other', { total: 'cpus:16;mem:64GiB;gpus:1', gpuFree: [300], offered: false }),
  ];
  const run = [gpuTask('g', 1, [{ device: 0, milli: 300 }]), gpuTask('other', 2, [{ device: 0, milli: 700 }])];
  const r = place(input(agents, [task({ job: 'ml/prod/infer', request: req(1, 1024, { gpus: 0.3 }) })], { running: run }));
  assert.deepEqual(r.placements[0]?.gpus, [{ device: 1, milli: 300 }]);
});

void test('place() keeps a task that can go anywhere out of a pool its GPU-constrained neighbours fill', () => {
  // Two pools of 2-GPU machines: "t" (104 cpus) three quarters used, "g" (96 cpus) one sixth used.
  const t = 'cpus:104;mem:512GiB;gpus:2';
  const g = 'cpus:96;mem:384GiB;gpus:2';
  const agents = [
    slot('t1', { total: t, free: 'cpus:103;mem:511GiB', gpuFree: [0, 1000] }),
    slot('t2', { total: t, free: 'cpus:102;mem:510GiB', gpuFree: [0, 0] }),
    slot('g1', { total: g, free: 'cpus:95;mem:383GiB', gpuFree: [0, 1000] }),
    slot('g2', { total: g }),
    slot('g3', { total: g }),
  ];
  const run = [gpuTask('t1', 1, [{ device: 0, milli: 1000 }]), gpuTask('t2', 2, [{ device: 0, milli: 1000 }]), gpuTask('t2', 3, [{ device: 1, milli: 1000 }]), gpuTask('g1', 4, [{ device: 0, milli: 1000 }])];
  for (const seed of [1, 2, 3, 4, 5]) {
    const r = place(input(agents, [task({ job: 'ml/prod/any', request: req(1, 1024, { gpus: 1 }) })], { running: run, seed }));
    assert.match(where(r)['ml/prod/any/0'] ?? '', /^g/, `seed ${seed}`);
  }
});

void test('place() asks for running tasks only where GPUs are in use, and of a bounded sample of agents', () => {
  let asked = 0;
  const count = (i: PlacementInput): PlacementInput => ({ ...i, runningOn: (id) => (asked++, i.runningOn(id)) });
  // A cell with GPU agents and no GPU in use: nothing to learn the mix from, nothing asked.
  const idle = Array.from({ length: 100 }, (_, k) => slot(`a${k}`, { total: k % 4 === 0 ? 'cpus:8;mem:16GiB;gpus:8' : 'cpus:8;mem:16GiB' }));
  place(count(input(idle, tasks(50, { request: req(1, 1024) }))));
  assert.equal(asked, 0);
  // GPUs in use on every GPU agent: at most MIX_AGENTS of them are asked.
  const busy = Array.from({ length: 400 }, (_, k) => slot(`a${k}`, { total: 'cpus:8;mem:16GiB;gpus:1', free: 'cpus:7;mem:15GiB', gpuFree: [500] }));
  const run = busy.map((a, k) => gpuTask(a.agentId, k, [{ device: 0, milli: 500 }]));
  const r = place(count(input(busy, tasks(20, { job: 'ml/prod/infer', request: req(1, 1024, { gpus: 0.5 }) }), { running: run })));
  assert.equal(r.placements.length, 20);
  assert.ok(asked > 0 && asked <= MIX_AGENTS, `asked ${asked}`);
});

void test('place() keeps a whole 8-GPU machine for the 8-GPU tasks the cell has been asked for, though none runs', () => {
  // "half" (a pool of its own) has 4 of its 8 GPUs taken by 1-GPU tasks, "whole" (another pool)
  // all 8 free. The running tasks alone show only 1-GPU work, and pool pressure then sends a new
  // 1-GPU task to the emptier pool: "whole". The 8-GPU tasks that arrived (failed or waiting)
  // are the reason to keep "whole" whole and finish filling "half".
  const agents = [
    slot('whole', { total: 'cpus:96;mem:512GiB;gpus:8' }),
    slot('half', { total: 'cpus:64;mem:512GiB;gpus:8', free: 'cpus:60;mem:508GiB', gpuFree: [0, 0, 0, 0, 1000, 1000, 1000, 1000] }),
  ];
  const run = [0, 1, 2, 3].map((d) => gpuTask('half', d, [{ device: d, milli: 1000 }]));
  const small = [task({ job: 'ml/prod/small', request: req(1, 1024, { gpus: 1 }) })];
  const demand = new GpuDemand();
  for (let k = 0; k < 5; k++) {
    demand.arrive(1000, 1024, 1);
    demand.arrive(8000, 8192, 8);
  }
  for (const seed of [1, 2, 3, 4, 5]) {
    assert.equal(where(place(input(agents, small, { running: run, seed })))['ml/prod/small/0'], 'whole', `seed ${seed}, running tasks only`);
    assert.equal(where(place({ ...input(agents, small, { running: run, seed }), demand }))['ml/prod/small/0'], 'half', `seed ${seed}, with the demand`);
  }
});

// ---- randomization, classes and ablations ---------------------------------------------------

function cell(n: number): AgentSlot[] {
  return Array.from({ length: n }, (_, i) => slot(`agent-${i}`, { attributes: { rack: `r${i % 10}` } }));
}

void test('place() gives the same placements for the same seed, and others for another seed', () => {
  const agents = cell(200);
  const pending = [...tasks(50, { job: 'web/prod/a' }), ...tasks(50, { job: 'web/prod/b', request: req(1, 512) })];
  const one = place(input(agents, pending, { seed: 7, sampleSize: 8 }));
  const again = place(input(agents, pending, { seed: 7, sampleSize: 8 }));
  const other = place(input(agents, pending, { seed: 8, sampleSize: 8 }));
  assert.deepEqual(again, one);
  assert.notDeepEqual(where(other), where(one));
  assert.equal(one.placements.length, 100);
});

void test('place() shares one class between tasks that differ only by instance', () => {
  const r = place(input(cell(20), [...tasks(30), ...tasks(5, { job: 'web/prod/other' })]));
  assert.equal(r.stats.classes, 2);
  assert.ok(r.stats.scoresComputed > 0 && r.stats.agentsVisited > 0);
  const off = place(input(cell(20), [...tasks(30), ...tasks(5, { job: 'web/prod/other' })], { equivalenceClasses: false }));
  assert.equal(off.stats.classes, 35);
});

void test('place() gives valid placements with classes, cached scores or sampling switched off', () => {
  const agents = cell(30).map((a, i) => (i % 3 === 0 ? { ...a, free: resources('cpus:1;mem:1GiB;ports:[31000-31003]') } : a));
  const pending = [
    ...tasks(40, { job: 'web/prod/a', request: req(0.5, 512, { ports: ['http'] }) }),
    ...tasks(20, { job: 'web/prod/b', constraints: { rack: 'limit:2' } }),
    ...tasks(15, { job: 'web/prod/c', request: req(2, 1024), spreadBy: 'rack' }),
  ];
  for (const o of [{}, { equivalenceClasses: false }, { cacheScores: false }, { sampleSize: 0 }, { sampleSize: 1 }]) {
    const i = input(agents, pending, o);
    const r = place(i);
    checkValid(i, r);
    const b = r.placements.filter((p) => p.key.startsWith('web/prod/b/'));
    const perRack = new Map<string, number>();
    for (const p of b) {
      const rack = agents.find((a) => a.agentId === p.agentId)?.attributes.rack ?? '';
      perRack.set(rack, (perRack.get(rack) ?? 0) + 1);
    }
    assert.ok([...perRack.values()].every((n) => n <= 2), JSON.stringify(o));
    assert.equal(b.length, 20, JSON.stringify(o));
    assert.equal(r.placements.length, 75, JSON.stringify(o));
  }
});

void test('place() refuses an input it cannot trust', () => {
  assert.throws(() => place(input([slot('a')], [task(), task()])), /given twice/);
  assert.throws(() => place(input([slot('a')], [task()], { sampleSize: -1 })), /sampleSize/);
  assert.throws(() => place(input([slot('a', { gpuFree: [1001] })], [task()])), /GPU device/);
  assert.throws(() => place(input([slot('a')], [task()], { weights: { fit: Number.NaN, spread: 0, gpu: 0 } })), /weight/);
});

void test('a task waiting for its victims holds the room they free: a lower task after it may not take it', () => {
  const agents = [slot('a1', { free: 'cpus:1;mem:4GiB;disk:100GiB;ports:[31000-31999]' })];
  const waiting = { ...task({ job: 'web/prod/api', request: req(2, 256) }), waitingOn: 'a1' };
  const lower = task({ job: 'batch/prod/filler', tier: 'preemptible', request: req(0.5, 256) });
  const held = place(input(agents, [waiting, lower]));
  assert.deepEqual(held.placements, []);
  assert.deepEqual(held.unplaced.map((u) => u.key), ['web/prod/api/0', 'batch/prod/filler/0']);

  // Without the wait, the lower task takes the free cpu.
  const free = place(input(agents, [task({ job: 'web/prod/api', request: req(2, 256) }), lower]));
  assert.deepEqual(free.placements.map((p) => p.key), ['batch/prod/filler/0']);
});
