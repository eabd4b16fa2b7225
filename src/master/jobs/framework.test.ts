// The job scheduler's pass over a real event log (SQLite in a temp dir) with the agent links
// stubbed: what it commits for preemption, its rate limit, GPU shares and revocable tasks.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseResourceFlag, subtract, validateJobSpec, type Resources } from '../../core/index.js';
import { silentLogger } from '../../log/index.js';
import type { AgentEvent, TaskInfo } from '../../protocol/index.js';
import type { Offer } from '../../scheduler/index.js';
import { EventLog } from '../eventlog.js';
import { DEFAULT_SCHEDULING_OPTIONS, type SchedulingOptions } from '../options.js';
import type { Event } from '../state/index.js';
import { SqliteStore } from '../store/index.js';
import { OfferBook } from '../frameworks/book.js';
import { commitAnswer } from '../frameworks/offers.js';
import { MusterFramework } from './framework.js';

function res(text: string): Resources {
  return { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [], ...parseResourceFlag(text) };
}

/** Cell is a log, a framework on it, and what the framework sent to agents. */
interface Cell {
  log: EventLog;
  framework: MusterFramework;
  sent: { agentId: string; event: AgentEvent }[];
  committed: Event[];
  slack: Map<string, { cpusMilli: number; memMiB: number }>;
  clock: { now: number };
  /** pass runs one offer round as the OfferCycle does: every agent offers what it has free. */
  pass(): Promise<void>;
  submit(...events: Event[]): Promise<void>;
}

async function withCell(scheduling: Partial<SchedulingOptions>, fn: (cell: Cell) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'muster-framework-'));
  const store = new SqliteStore(join(dir, 'db'));
  try {
    const clock = { now: 1_000_000 };
    const log = await EventLog.open(store, { snapshotEvery: 100_000, logger: silentLogger, now: () => clock.now });
    const sent: Cell['sent'] = [];
    const committed: Event[] = [];
    log.onAppended((batch) => committed.push(...batch.map((e) => e.event)));
    const slack = new Map<string, { cpusMilli: number; memMiB: number }>();
    const links = {
      send: (agentId: string, event: AgentEvent) => {
        sent.push({ agentId, event });
        return true;
      },
      launch: (agentId: string, task: TaskInfo) => {
        sent.push({ agentId, event: { type: 'LAUNCH', launch: { task } } });
      },
      isOfferable: () => true,
      busyPortsOf: () => undefined,
      slackOf: (id: string) => slack.get(id) ?? { cpusMilli: 0, memMiB: 0 },
      hasUsage: (id: string) => slack.has(id),
    };
    const framework = new MusterFramework(log, links, { logger: silentLogger, scheduling: { ...DEFAULT_SCHEDULING_OPTIONS, ...scheduling } });
    const submit = async (...events: Event[]): Promise<void> => {
      await log.submit(() => ({ events, result: undefined }));
    };
    const pass = async (): Promise<void> => {
      const now = log.now();
      if (!framework.wantsOffers(now)) return;
      const book = new OfferBook();
      const made: Offer[] = [...log.state.agents.values()].map((a, i) => ({ offerId: `O${i}`, frameworkId: 'muster', agentId: a.agentId, hostname: a.hostname, attributes: a.attributes, resources: subtract(a.resources, a.used) }));
      book.add(made, now, false);
      const answer = framework.resourceOffers(book.heldBy('muster'), now);
      if (answer !== undefined) await commitAnswer(log, links, silentLogger, framework, book, answer);
    };
    await fn({ log, framework, sent, committed, slack, clock, pass, submit });
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const agent = (id: string, resources: string): Event => ({
  type: 'AgentRegistered',
  at: 0,
  agent: { agentId: id, hostname: `h-${id}`, address: '10.0.0.1', port: 5051, resources: res(resources), attributes: { host: `h-${id}` }, version: 'test' },
});

const job = (key: string, over: Record<string, unknown>): Event => ({
  type: 'JobCreated',
  at: 1,
  spec: validateJobSpec({ job: key, instances: 1, resources: { cpus: 1, mem: 256 }, processes: [{ name: 'main', cmd: 'sleep 1000' }], ...over }),
});

const ended = (taskId: string, at: number, reason?: 'REASON_PREEMPTED'): Event => ({
  type: 'TaskStatusUpdated',
  at,
  status: { taskId, state: 'TASK_KILLED', uuid: `${taskId}-end`, timestamp: at, ...(reason === undefined ? {} : { reason }) },
});

function taskOf(cell: Cell, jobKey: string, instance = 0): string {
  const id = cell.log.state.jobs.get(jobKey)?.instances[instance]?.taskId;
  assert.ok(id !== undefined, `${jobKey}/${instance} has a task`);
  return id;
}

const preemptedEvents = (cell: Cell) => cell.committed.filter((e): e is Extract<Event, { type: 'TasksPreempted' }> => e.type === 'TasksPreempted');

test('a preferred task preempts a lower one when the cell is full, and the victim does not preempt in turn', () =>
  withCell({}, async (cell) => {
    await cell.submit(agent('a1', 'cpus:1;mem:1024'), agent('a2', 'cpus:1;mem:1024'), job('web/prod/low', { tier: 'preferred', priority: 50, constraints: { host: 'h-a2' } }));
    await cell.pass();
    // mid may go anywhere; only a1 is left. Once preempted it could take low's place on a2, were
    // it allowed to preempt.
    await cell.submit(job('web/prod/mid', { tier: 'preferred', priority: 100 }));
    await cell.pass();
    assert.equal(cell.log.state.tasks.get(taskOf(cell, 'web/prod/mid'))?.agentId, 'a1');
    const mid = taskOf(cell, 'web/prod/mid');
    const low = taskOf(cell, 'web/prod/low');

    await cell.submit(job('web/prod/high', { tier: 'preferred', priority: 200, constraints: { host: 'h-a1' } }));
    await cell.pass();
    const [pre] = preemptedEvents(cell);
    assert.deepEqual(pre?.preemptions, [{ job: 'web/prod/high', instance: 0, agentId: 'a1', victims: [mid] }]);
    const state = cell.log.state;
    assert.equal(state.tasks.get(mid)?.kill?.reason, 'REASON_PREEMPTED');
    assert.ok(state.killing.has(mid), 'the KILL is owed to the agent');
    assert.deepEqual(state.jobs.get('web/prod/high')?.instances[0]?.awaitingVictims, [mid]);

    // While its victim is being killed the preemptor waits: no second victim.
    await cell.pass();
    assert.equal(preemptedEvents(cell).length, 1);

    cell.clock.now += 1000;
    await cell.submit(ended(mid, cell.clock.now, 'REASON_PREEMPTED'));
    const midInst = state.jobs.get('web/prod/mid')?.instances[0];
    assert.equal(midInst?.state, 'PENDING');
    assert.equal(midInst?.preempted, true);
    assert.equal(state.tasks.get(mid)?.reason, 'REASON_PREEMPTED');

    await cell.pass();
    assert.equal(state.jobs.get('web/prod/high')?.instances[0]?.state, 'ACTIVE', 'the preemptor lands in the room it made');
    const launch = cell.sent.find((s) => s.event.type === 'LAUNCH' && s.event.launch.task.job === 'web/prod/high');
    assert.equal(launch?.agentId, 'a1');
    // mid cannot go anywhere but would fit where low runs only by preempting it: it may not.
    await cell.pass();
    assert.equal(preemptedEvents(cell).length, 1, 'no cascade');
    assert.equal(state.tasks.get(low)?.kill, undefined);
    assert.equal(midInst?.state, 'PENDING');
    assert.match(cell.framework.pendingReason('web/prod/mid', 0) ?? '', /./);
    assert.ok(cell.framework.pendingWhy('web/prod/mid', 0) !== undefined);
  }));

test('the preemption rate limit caps the victims of a burst and refills with time', () =>
  withCell({ preemptionsPerMinute: 1 }, async (cell) => {
    await cell.submit(agent('a1', 'cpus:2;mem:1024'), job('batch/prod/low', { tier: 'preemptible', instances: 2 }));
    await cell.pass();
    await cell.submit(job('web/prod/high', { tier: 'preferred', instances: 2 }));
    await cell.pass();
    await cell.pass();
    const victims = () => preemptedEvents(cell).flatMap((e) => e.preemptions.flatMap((p) => p.victims));
    assert.equal(victims().length, 1, 'one victim a minute');
    cell.clock.now += 60_000;
    await cell.pass();
    assert.equal(victims().length, 2, 'the bucket refilled');
  }));

test('preemptions-per-minute 0 turns preemption off', () =>
  withCell({ preemptionsPerMinute: 0 }, async (cell) => {
    await cell.submit(agent('a1', 'cpus:1;mem:1024'), job('batch/prod/low', { tier: 'preemptible' }));
    await cell.pass();
    await cell.submit(job('web/prod/high', { tier: 'preferred' }));
    await cell.pass();
    assert.equal(preemptedEvents(cell).length, 0);
    assert.equal(cell.log.state.jobs.get('web/prod/high')?.instances[0]?.state, 'PENDING');
  }));

test('GPU shares chosen by placement land in the launched tasks and in LAUNCH', () =>
  withCell({}, async (cell) => {
    await cell.submit(agent('g1', 'cpus:8;mem:8192;gpus:2'), job('ml/prod/infer', { instances: 2, resources: { cpus: 1, mem: 256, gpus: 0.5 } }));
    await cell.pass();
    const launched = cell.committed.filter((e): e is Extract<Event, { type: 'TasksLaunched' }> => e.type === 'TasksLaunched').flatMap((e) => e.tasks);
    assert.equal(launched.length, 2);
    for (const t of launched) assert.deepEqual(t.gpus?.map((g) => g.milli), [500]);
    assert.equal(launched[0]?.gpus?.[0]?.device, launched[1]?.gpus?.[0]?.device, 'two halves share one device, keeping the other whole');
    const total = (cell.log.state.agents.get('g1')?.gpuUsed ?? []).reduce((a, b) => a + b, 0);
    assert.equal(total, 1000);
    const infos = cell.sent.flatMap((s) => (s.event.type === 'LAUNCH' ? [s.event.launch.task] : []));
    assert.deepEqual(
      infos.map((i) => i.gpus),
      launched.map((t) => t.gpus),
    );
  }));

test('revocable tasks run on slack only and are reclaimed when the slack shrinks', () =>
  withCell({}, async (cell) => {
    await cell.submit(agent('a1', 'cpus:2;mem:2048'), job('web/prod/svc', { tier: 'preferred', resources: { cpus: 1, mem: 1024 } }));
    await cell.pass();
    await cell.submit(job('batch/prod/scav', { tier: 'revocable', instances: 2, resources: { cpus: 0.5, mem: 256 } }));
    await cell.pass();
    const state = cell.log.state;
    assert.equal(state.jobs.get('batch/prod/scav')?.instances[0]?.state, 'PENDING', 'no slack measured yet: nothing is lent');

    cell.slack.set('a1', { cpusMilli: 800, memMiB: 800 });
    cell.framework.agentChanged('a1'); // as the master does on a usage report
    await cell.pass();
    const scav = state.jobs.get('batch/prod/scav');
    const running = scav?.instances.filter((i) => i.state === 'ACTIVE') ?? [];
    assert.equal(running.length, 1, 'slack of 0.8 cpus holds one 0.5-cpu task');
    const taskId = running[0]?.taskId ?? '';
    assert.equal(state.tasks.get(taskId)?.revocable, true);
    assert.deepEqual(state.agents.get('a1')?.revocableUsed, { cpusMilli: 500, memMiB: 256 });
    assert.equal(state.agents.get('a1')?.used.cpusMilli, 1000, 'regular capacity holds only the preferred task');

    cell.slack.set('a1', { cpusMilli: 100, memMiB: 800 });
    cell.framework.agentChanged('a1');
    await cell.pass();
    assert.deepEqual(preemptedEvents(cell).at(-1)?.reclaimed, [taskId]);
    assert.equal(state.tasks.get(taskId)?.kill?.reason, 'REASON_PREEMPTED');
  }));

test('a pass places at most maxTasksPerPass tasks, the most important first, and asks for another pass at once', () =>
  withCell({ maxTasksPerPass: 2 }, async (cell) => {
    await cell.submit(
      agent('a1', 'cpus:8;mem:8192'),
      job('batch/prod/many', { tier: 'preemptible', instances: 3, resources: { cpus: 0.1, mem: 16 } }),
      job('web/prod/top', { tier: 'preferred', resources: { cpus: 0.1, mem: 16 } }),
    );
    await cell.pass();
    const launches = cell.committed.filter((e): e is Extract<Event, { type: 'TasksLaunched' }> => e.type === 'TasksLaunched');
    assert.equal(launches.length, 1);
    assert.equal(launches[0]?.tasks.length, 2);
    assert.equal(launches[0]?.tasks[0]?.job, 'web/prod/top');
    assert.equal(cell.framework.nextWakeAt(), cell.log.now(), 'the rest go in the next pass, right away');
    await cell.pass();
    await cell.pass();
    assert.ok(cell.log.state.jobs.get('batch/prod/many')?.instances.every((i) => i.state === 'ACTIVE'));
  }));
