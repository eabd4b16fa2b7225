// The update controller against a cell simulated step by step: the commands and the controller
// decide, apply folds, and a small stand-in for the scheduler and the agents acts (a pending
// instance is launched, a killed task ends, a new task runs, a config whose command is "exit 1"
// fails, one whose health check is "false" never turns healthy). Every step is checked as the
// events it writes; the budget is measured after every step.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResourceFlag, validateJobSpec, type JobSpec, type JobSpecInput, type Resources } from '../../core/index.js';
import { drainKills } from '../commands/drain.js';
import { startUpdate, steerUpdate, type UpdateVerb } from '../commands/updates.js';
import { killInstances } from '../commands/jobs.js';
import { apply, deserializeState, emptyState, isInMotion, serializeState, specAt, type CellState, type Event, type UpdateRecord } from '../state/index.js';
import { runningOnAgent } from './input.js';
import { pruneSteps, updateSteps } from './updater.js';
import type { Caller } from '../auth/index.js';

const JOB = 'web/prod/api';
const ROOT: Caller = { principal: 'alice', all: true };
const res = (text: string): Resources => ({ cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [], ...parseResourceFlag(text) });

function spec(cmd: string, over: Partial<JobSpecInput> = {}): JobSpec {
  return validateJobSpec({
    job: JOB,
    instances: 6,
    resources: { cpus: 0.1, mem: 16 },
    processes: [{ name: 'main', cmd }],
    update: { batchSize: 2, watchSecs: 5, progressDeadlineSecs: 60 },
    ...over,
  });
}

/** Sim is a cell with two agents and one service, moved along a second at a time. */
class Sim {
  s: CellState = emptyState();
  now = 0;
  private seq = 0;
  /** Greatest number of instances down at once (within the job's count). */
  maxDown = 0;
  /** UPDATING / ROLLING_BACK actions per instance. */
  touched = new Map<string, number>();
  /** Instances whose tasks the drain asked to move. */
  drained = 0;
  draining = false;

  constructor(first: JobSpec) {
    this.fold([
      { type: 'AgentRegistered', at: 0, agent: { agentId: 'a1', hostname: 'h1', address: '10.0.0.1', port: 5051, resources: res('cpus:8;mem:8192'), attributes: {}, version: 't' } },
      { type: 'AgentRegistered', at: 0, agent: { agentId: 'a2', hostname: 'h2', address: '10.0.0.2', port: 5051, resources: res('cpus:8;mem:8192'), attributes: {}, version: 't' } },
      { type: 'JobCreated', at: 0, spec: first },
    ]);
    this.run(20);
  }

  get job() {
    const j = this.s.jobs.get(JOB);
    assert.ok(j !== undefined);
    return j;
  }

  get update(): UpdateRecord {
    const id = this.job.activeUpdate ?? this.job.updateIds?.at(-1);
    const u = id === undefined ? undefined : this.s.updates.get(id);
    assert.ok(u !== undefined, 'the job has an update');
    return u;
  }

  fold(events: readonly Event[]): void {
    for (const e of events) {
      apply(this.s, e);
      if (e.type === 'UpdateInstancesActed') {
        for (const a of e.actions) {
          if (a.action === 'UPDATING' || a.action === 'ROLLING_BACK') {
            const k = `${a.action}:${a.instance}`;
            this.touched.set(k, (this.touched.get(k) ?? 0) + 1);
          }
        }
      }
    }
  }

  start(next: JobSpec, instances?: number[], kind: 'update' | 'scale' = 'update'): void {
    const d = startUpdate(this.s, this.now, ROOT, { key: JOB, spec: next, kind, id: `u${++this.seq}`, ...(instances === undefined ? {} : { instances }) });
    this.fold(d.events);
  }

  steer(verb: UpdateVerb): void {
    this.fold(steerUpdate(this.s, this.now, ROOT, JOB, verb).events);
  }

  /** step: one second: the controller decides, then the cell acts. */
  step(): void {
    this.now += 1000;
    this.fold(updateSteps(this.s, this.now).events);
    if (this.draining) {
      const kills = drainKills(this.s, this.now);
      for (const k of kills) if (k.type === 'KillRequested') this.drained += k.instances.length;
      this.fold(kills);
    }
    const events: Event[] = [];
    for (const t of this.s.tasks.values()) {
      if (t.kill !== undefined && (t.state === 'TASK_RUNNING' || t.state === 'TASK_STAGING')) {
        events.push({ type: 'TaskStatusUpdated', at: this.now, status: { taskId: t.taskId, state: 'TASK_KILLED', uuid: `k${++this.seq}`, timestamp: this.now } });
        continue;
      }
      if (t.state !== 'TASK_STAGING' && !(t.state === 'TASK_RUNNING' && t.healthy === undefined)) continue;
      const job = this.s.jobs.get(t.job);
      if (job === undefined) continue;
      const sp = specAt(job, t.version);
      const cmd = sp.processes[0]?.cmd ?? '';
      if (t.state === 'TASK_STAGING' && cmd.includes('exit 1')) {
        events.push({ type: 'TaskStatusUpdated', at: this.now, status: { taskId: t.taskId, state: 'TASK_FAILED', reason: 'REASON_COMMAND_EXITED', message: 'exited 1', uuid: `f${++this.seq}`, timestamp: this.now } });
      } else if (t.state === 'TASK_STAGING') {
        events.push({ type: 'TaskStatusUpdated', at: this.now, status: { taskId: t.taskId, state: 'TASK_RUNNING', uuid: `r${++this.seq}`, timestamp: this.now } });
      } else if (sp.health !== undefined) {
        const healthy = sp.health.command?.cmd !== 'false';
        events.push({ type: 'TaskStatusUpdated', at: this.now, status: { taskId: t.taskId, state: 'TASK_RUNNING', healthy, uuid: `h${++this.seq}`, timestamp: this.now } });
      }
    }
    this.fold(events);
    // The scheduler: every pending instance past its backoff lands, alternating agents.
    const launches = [];
    for (const inst of this.job.instances) {
      if (inst.state !== 'PENDING' || inst.notBefore > this.now) continue;
      launches.push({ taskId: `t${++this.seq}`, job: JOB, instance: inst.instance, agentId: inst.instance % 2 === 0 && !this.draining ? 'a1' : 'a2', resources: res('cpus:0.1;mem:16'), ports: {} });
    }
    if (launches.length > 0) this.fold([{ type: 'TasksLaunched', at: this.now, tasks: launches }]);
    let down = 0;
    const job = this.job;
    for (let i = 0; i < Math.min(job.instances.length, job.spec.instances); i++) if (isInMotion(this.s, job, i)) down++;
    this.maxDown = Math.max(this.maxDown, down);
  }

  run(secs: number): void {
    for (let i = 0; i < secs; i++) this.step();
  }

  /** runUntilEnded steps until the update is no longer active (at most `secs`). */
  runUntilEnded(secs = 600): string {
    for (let i = 0; i < secs && this.job.activeUpdate !== undefined; i++) this.step();
    return this.update.status;
  }

  /** versions: the version each live instance's task runs. */
  versions(): number[] {
    return this.job.instances.filter((i) => i.state === 'ACTIVE').map((i) => this.s.tasks.get(i.taskId ?? '')?.version ?? 0);
  }

  cmds(): string[] {
    const job = this.job;
    return job.instances.filter((i) => i.state === 'ACTIVE').map((i) => specAt(job, this.s.tasks.get(i.taskId ?? '')?.version).processes[0]?.cmd ?? '');
  }
}

const health = { command: { cmd: 'true' }, intervalSecs: 1, gracePeriodSecs: 0 };

void test('an update to a good config rolls forward in batches of 2, never more than maxUnavailable down, each instance touched once', () => {
  const sim = new Sim(spec('sleep 1000', { health }));
  assert.deepEqual(sim.versions(), [1, 1, 1, 1, 1, 1]);
  sim.maxDown = 0;
  sim.start(spec('sleep 2000', { health }));
  assert.equal(sim.runUntilEnded(), 'ROLLED_FORWARD');
  assert.deepEqual(sim.versions(), [2, 2, 2, 2, 2, 2]);
  assert.deepEqual(sim.cmds(), Array(6).fill('sleep 2000'));
  assert.equal(sim.job.version, 2, 'the new config is the job\'s');
  assert.ok(sim.maxDown <= 2, `at most maxUnavailable (2) down at once, saw ${sim.maxDown}`);
  assert.equal(sim.maxDown, 2, 'the batches of 2 were used');
  for (let i = 0; i < 6; i++) assert.equal(sim.touched.get(`UPDATING:${i}`), 1, `instance ${i} updated once`);
  assert.deepEqual(sim.update.batches, [[0, 1], [2, 3], [4, 5]]);
  assert.equal(sim.update.events.map((e) => e.status).join(','), 'ROLLING_FORWARD,ROLLED_FORWARD');
});

void test('maxUnavailable below the batch size bounds the update: batch 4, budget 1', () => {
  const sim = new Sim(spec('sleep 1000', { update: { batchSize: 4, maxUnavailable: 1, watchSecs: 2 } }));
  sim.maxDown = 0;
  sim.start(spec('sleep 2', { update: { batchSize: 4, maxUnavailable: 1, watchSecs: 2 } }));
  assert.equal(sim.runUntilEnded(), 'ROLLED_FORWARD');
  assert.equal(sim.maxDown, 1);
});

void test('a new command that exits 1 rolls back on its own: every instance ends on the old version, each touched at most once each way', () => {
  const sim = new Sim(spec('sleep 1000'));
  sim.start(spec('exit 1'));
  assert.equal(sim.runUntilEnded(), 'ROLLED_BACK');
  assert.deepEqual(sim.versions(), [1, 1, 1, 1, 1, 1]);
  assert.deepEqual(sim.cmds(), Array(6).fill('sleep 1000'));
  for (const [k, n] of sim.touched) assert.equal(n, 1, `${k} once`);
  // Only the first batch was tried, and only it was rolled back, in reverse order.
  assert.deepEqual([...sim.touched.keys()].sort(), ['ROLLING_BACK:0', 'ROLLING_BACK:1', 'UPDATING:0', 'UPDATING:1']);
  assert.deepEqual(sim.update.batches, [[1, 0]]);
  assert.match(sim.update.events[1]?.message ?? '', /instance [01] failed: its new task failed 1 time .*exited 1/);
  assert.equal(sim.job.version, 1);
});

void test('a new health check that never passes fails the instance at progressDeadlineSecs, and the update rolls back: never stuck', () => {
  const sim = new Sim(spec('sleep 1000', { health }));
  const before = sim.now;
  sim.start(spec('sleep 1000', { health: { ...health, command: { cmd: 'false' } }, update: { batchSize: 2, watchSecs: 5, progressDeadlineSecs: 30 } }));
  assert.equal(sim.runUntilEnded(), 'ROLLED_BACK');
  const back = sim.update.events.find((e) => e.status === 'ROLLING_BACK');
  assert.ok(back !== undefined && back.at - before >= 30_000 && back.at - before < 35_000, `rolled back at the deadline (${(back?.at ?? 0) - before} ms)`);
  assert.match(back.message ?? '', /not running and healthy within progressDeadlineSecs 30/);
  assert.deepEqual(sim.versions(), [1, 1, 1, 1, 1, 1]);
});

void test('with rollbackOnFailure false a failed update ends FAILED where it is; rollback is then one command away', () => {
  const sim = new Sim(spec('sleep 1000'));
  sim.start(spec('exit 1', { update: { batchSize: 2, watchSecs: 5, rollbackOnFailure: false, maxPerInstanceFailures: 1 } }));
  assert.equal(sim.runUntilEnded(), 'FAILED');
  assert.ok(sim.update.instanceEvents.some((e) => e.action === 'UPDATE_FAILED' && /failed 2 times/.test(e.message ?? '')), 'two failures were allowed before the instance failed');
  sim.steer('rollback');
  assert.equal(sim.runUntilEnded(), 'ROLLED_BACK');
  assert.deepEqual(sim.cmds(), Array(6).fill('sleep 1000'));
});

void test('pause keeps failure counts; resume carries on from them', () => {
  const sim = new Sim(spec('sleep 1000'));
  sim.start(spec('exit 1', { update: { batchSize: 1, watchSecs: 5, maxPerInstanceFailures: 2, rollbackOnFailure: false } }));
  sim.run(2);
  sim.steer('pause');
  assert.equal(sim.update.status, 'ROLL_FORWARD_PAUSED');
  sim.run(20);
  const ui = sim.update.instances[0];
  assert.ok(ui !== undefined && ui.failures >= 3, `failures were counted while paused (${ui?.failures})`);
  assert.equal(sim.update.status, 'ROLL_FORWARD_PAUSED', 'a paused update does not move');
  assert.throws(() => sim.steer('pause'), /only a rolling update can be paused/);
  assert.throws(() => sim.steer('promote'), (e: Error & { code?: string }) => e.code === 'CONFLICT');
  sim.steer('resume');
  sim.run(1);
  assert.equal(sim.update.status, 'FAILED', 'the failures counted while paused fail it at once');
});

void test('abort stops where it is (the job stays mixed), and rollback then restores the old config', () => {
  const sim = new Sim(spec('sleep 1000'));
  sim.start(spec('sleep 2000'));
  for (let i = 0; i < 200 && (sim.update.batches.length < 2 || sim.update.instances[2]?.status !== 'WORKING'); i++) sim.step();
  sim.steer('abort');
  sim.run(10);
  assert.equal(sim.update.status, 'ABORTED');
  const versions = sim.versions();
  assert.ok(versions.includes(1) && versions.includes(2), `mixed: ${versions.join(',')}`);
  assert.equal(sim.job.version, 1, 'the job\'s config is still the old one');
  sim.steer('rollback');
  assert.equal(sim.runUntilEnded(), 'ROLLED_BACK');
  assert.deepEqual(sim.versions(), [1, 1, 1, 1, 1, 1]);
  for (let i = 4; i < 6; i++) assert.equal(sim.touched.get(`ROLLING_BACK:${i}`), undefined, `instance ${i} was never updated, so is not rolled back`);
});

void test('a canary is updated first, waits for promote, then the rest follow', () => {
  const sim = new Sim(spec('sleep 1000'));
  sim.start(spec('sleep 2000', { update: { batchSize: 2, watchSecs: 5, canary: 1 } }));
  sim.run(30);
  assert.equal(sim.update.status, 'AWAITING_PROMOTION');
  assert.deepEqual(sim.versions(), [2, 1, 1, 1, 1, 1]);
  sim.steer('promote');
  assert.equal(sim.runUntilEnded(), 'ROLLED_FORWARD');
  assert.deepEqual(sim.versions(), [2, 2, 2, 2, 2, 2]);
  assert.deepEqual(sim.update.batches, [[0], [1, 2], [3, 4], [5]]);
});

void test('a canary promotes itself after autoPromoteSecs of health', () => {
  const sim = new Sim(spec('sleep 1000'));
  sim.start(spec('sleep 2000', { update: { batchSize: 3, watchSecs: 2, canary: { count: 2, autoPromoteSecs: 10 } } }));
  assert.equal(sim.runUntilEnded(), 'ROLLED_FORWARD');
  const waited = sim.update.events.find((e) => e.status === 'AWAITING_PROMOTION');
  const promoted = sim.update.events.find((e, i) => i > 0 && e.status === 'ROLLING_FORWARD');
  assert.ok(waited !== undefined && promoted !== undefined);
  assert.equal(promoted.at - waited.at, 10_000);
});

void test('a failing canary rolls back on its own, touching only the canary', () => {
  const sim = new Sim(spec('sleep 1000'));
  sim.start(spec('exit 1', { update: { batchSize: 2, watchSecs: 5, canary: 1 } }));
  assert.equal(sim.runUntilEnded(), 'ROLLED_BACK');
  assert.deepEqual([...sim.touched.keys()].sort(), ['ROLLING_BACK:0', 'UPDATING:0']);
});

void test('variable batches [1, 2, "25%"] are taken in order, the last repeating', () => {
  const sim = new Sim(spec('sleep 1000', { instances: 8 }));
  sim.start(spec('sleep 2000', { instances: 8, update: { batchSize: [1, 2, '25%'], watchSecs: 1, maxUnavailable: 4 } }));
  assert.equal(sim.runUntilEnded(), 'ROLLED_FORWARD');
  assert.deepEqual(sim.update.batches.map((b) => b.length), [1, 2, 2, 2, 1]);
});

void test('scaling up and down touches no other instance: the same task ids', () => {
  const sim = new Sim(spec('sleep 1000'));
  const before = sim.job.instances.map((i) => i.taskId);
  sim.start(spec('sleep 1000', { instances: 9 }), undefined, 'scale');
  assert.equal(sim.runUntilEnded(), 'ROLLED_FORWARD');
  assert.equal(sim.job.instances.length, 9);
  assert.deepEqual(sim.job.instances.slice(0, 6).map((i) => i.taskId), before, 'the six kept their tasks');
  assert.deepEqual(sim.update.order, [6, 7, 8]);
  const kept = sim.job.instances.slice(0, 4).map((i) => i.taskId);
  sim.start(spec('sleep 1000', { instances: 4 }), undefined, 'scale');
  assert.equal(sim.runUntilEnded(), 'ROLLED_FORWARD');
  assert.equal(sim.job.instances.length, 4, 'the highest instances went');
  assert.deepEqual(sim.job.instances.map((i) => i.taskId), kept);
  assert.equal(sim.job.spec.instances, 4);
});

void test('a drain and an update at once never take more than maxUnavailable down', () => {
  const sim = new Sim(spec('sleep 1000', { update: { batchSize: 2, maxUnavailable: 2, watchSecs: 3 } }));
  sim.maxDown = 0;
  sim.fold([{ type: 'HostMaintenance', at: sim.now, hostnames: ['h1'], mode: 'DRAINING' }]);
  sim.draining = true;
  sim.start(spec('sleep 2000', { update: { batchSize: 2, maxUnavailable: 2, watchSecs: 3 } }));
  assert.equal(sim.runUntilEnded(), 'ROLLED_FORWARD');
  assert.ok(sim.drained > 0, 'the drain moved instances meanwhile');
  assert.ok(sim.maxDown <= 2, `never more than 2 down, saw ${sim.maxDown}`);
});

void test('a master that restarts mid-update (state from its snapshot) finishes it as it would have, counts intact', () => {
  const straight = new Sim(spec('sleep 1000'));
  straight.start(spec('sleep 2000', { update: { batchSize: 2, watchSecs: 5, maxPerInstanceFailures: 1 } }));
  straight.runUntilEnded();
  const crashed = new Sim(spec('sleep 1000'));
  crashed.start(spec('sleep 2000', { update: { batchSize: 2, watchSecs: 5, maxPerInstanceFailures: 1 } }));
  crashed.run(9);
  crashed.s = deserializeState(serializeState(crashed.s));
  crashed.runUntilEnded();
  assert.equal(crashed.update.status, straight.update.status);
  assert.deepEqual(crashed.update.instanceEvents.map((e) => [e.instance, e.action, e.at]), straight.update.instanceEvents.map((e) => [e.instance, e.action, e.at]));
});

void test('refusals change nothing: no job, another update active, another kind or job, instances outside', () => {
  const sim = new Sim(spec('sleep 1000'));
  const code = (f: () => unknown): string | undefined => {
    try {
      f();
      return undefined;
    } catch (e) {
      return (e as { code?: string }).code;
    }
  };
  assert.equal(code(() => startUpdate(sim.s, sim.now, ROOT, { key: 'web/prod/none', spec: spec('x'), kind: 'update', id: 'x' })), 'JOB_NOT_FOUND');
  assert.equal(code(() => startUpdate(sim.s, sim.now, ROOT, { key: JOB, spec: spec('x', { kind: 'batch' }), kind: 'update', id: 'x' })), 'INVALID_ARGUMENT');
  assert.equal(code(() => startUpdate(sim.s, sim.now, ROOT, { key: JOB, spec: validateJobSpec({ ...spec('x'), job: 'web/prod/other' }), kind: 'update', id: 'x' })), 'INVALID_ARGUMENT');
  assert.equal(code(() => startUpdate(sim.s, sim.now, ROOT, { key: JOB, spec: spec('x'), kind: 'update', id: 'x', instances: [7] })), 'INVALID_ARGUMENT');
  assert.equal(startUpdate(sim.s, sim.now, ROOT, { key: JOB, spec: spec('sleep 1000'), kind: 'update', id: 'x' }).result.noop, true, 'the same config changes nothing');
  // Scaling up is checked against the role's quota, as a create is; scaling down always may.
  sim.fold([{ type: 'QuotaSet', at: sim.now, role: 'web', quota: { cpusMilli: 1000 } }]);
  assert.equal(code(() => startUpdate(sim.s, sim.now, ROOT, { key: JOB, spec: spec('sleep 1000', { instances: 20 }), kind: 'scale', id: 'q' })), 'QUOTA_EXCEEDED');
  assert.equal(startUpdate(sim.s, sim.now, ROOT, { key: JOB, spec: spec('sleep 1000', { instances: 2 }), kind: 'scale', id: 'q' }).events.length, 1);
  assert.equal(sim.job.activeUpdate, undefined, 'nothing was started by the refusals');
  sim.start(spec('sleep 5'));
  assert.equal(code(() => startUpdate(sim.s, sim.now, ROOT, { key: JOB, spec: spec('sleep 6'), kind: 'update', id: 'y' })), 'CONFLICT');
  assert.equal(code(() => killInstances(sim.s, sim.now, ROOT, { key: JOB, asked: undefined, restart: true, updateId: 'z' })), 'CONFLICT', 'a restart waits for the update');
});

void test('a rolling restart replaces every task once, in batches, on the same version', () => {
  const sim = new Sim(spec('sleep 1000'));
  const before = sim.job.instances.map((i) => i.taskId);
  const d = killInstances(sim.s, sim.now, ROOT, { key: JOB, asked: undefined, restart: true, updateId: 'r1' });
  assert.equal(d.result.update, 'r1');
  sim.fold(d.events);
  sim.maxDown = 0;
  assert.equal(sim.runUntilEnded(), 'ROLLED_FORWARD');
  assert.ok(sim.job.instances.every((i, n) => i.taskId !== before[n]), 'every instance has a new task');
  assert.deepEqual(sim.versions(), [1, 1, 1, 1, 1, 1]);
  assert.ok(sim.maxDown <= 2);
});

void test('a killed job stays visible as KILLED with why, and is pruned after the retention', () => {
  const sim = new Sim(spec('sleep 1000'));
  sim.fold(killInstances(sim.s, sim.now, { principal: 'bob', all: true }, { key: JOB, asked: undefined, restart: false }).events.map((e) => ({ ...e, by: 'bob' })));
  sim.run(3);
  assert.equal(sim.job.state, 'KILLED');
  assert.equal(sim.job.endReason, 'killed by bob');
  assert.deepEqual(pruneSteps(sim.s, sim.now + 1000, 60_000), []);
  const pruned = pruneSteps(sim.s, sim.now + 61_000, 60_000);
  assert.deepEqual(pruned.map((e) => e.type === 'JobsPruned' && e.jobs), [[JOB]]);
  sim.fold(pruned);
  assert.equal(sim.s.jobs.has(JOB), false);
});

void test('preemption sees each serving task of a preferred service with what is left of its budget, worked out once a pass', () => {
  const sim = new Sim(spec('sleep 1000', { update: { batchSize: 2, maxUnavailable: 2 } }));
  const budgets = new Map<string, number>();
  assert.deepEqual(runningOnAgent(sim.s, 'a1', budgets).map((r) => r.disruptable), [2, 2, 2]);
  // One instance down (killed to run again): one left, and the one down costs nothing to take.
  sim.fold(killInstances(sim.s, sim.now, ROOT, { key: JOB, asked: [0], restart: true }).events);
  const again = runningOnAgent(sim.s, 'a1', new Map());
  assert.deepEqual(again.map((r) => [r.instance, r.disruptable]), [[0, undefined], [2, 1], [4, 1]]);
  assert.equal(runningOnAgent(sim.s, 'a1')[1]?.disruptable, undefined, 'without budgets (spread, limits) no budget is worked out');
});
