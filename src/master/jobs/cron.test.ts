// The run controller against a cell simulated step by step, with a fixed clock: the commands and
// the controller decide, apply folds, and a small stand-in for the scheduler and the agents runs
// each run's tasks (a command "sleep N" runs N seconds and finishes, "exit 1" fails at once).
// Every check is on the events written and the state they fold to, so what holds here holds on a
// master that restarts from its log.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MusterError, parseResourceFlag, validateJobSpec, type JobSpec, type JobSpecInput, type Resources } from '../../core/index.js';
import type { Caller } from '../auth/index.js';
import { createJob, killInstances } from '../commands/jobs.js';
import { jobGraph, startRunNow, suspendRuns } from '../commands/runs.js';
import { startUpdate } from '../commands/updates.js';
import { apply, deserializeState, emptyState, serializeState, type CellState, type Event, type RunStart } from '../state/index.js';
import { runSteps } from './cron.js';

const ROOT: Caller = { principal: 'alice', all: true };
const T0 = Date.parse('2026-06-01T00:00:00Z');
const res = (text: string): Resources => ({ cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [], ...parseResourceFlag(text) });

function spec(job: string, over: Partial<JobSpecInput> = {}, cmd = 'sleep 1'): JobSpec {
  return validateJobSpec({ job, kind: 'batch', resources: { cpus: 0.1, mem: 16 }, processes: [{ name: 'main', cmd }], maxTaskFailures: 1, ...over });
}
function cron(job: string, schedule: string, over: Partial<JobSpecInput> = {}, cmd = 'sleep 1'): JobSpec {
  return spec(job, { ...over, kind: 'cron', cron: { timezone: 'UTC', ...(over.cron ?? {}), schedule } }, cmd);
}

/** Sim: a cell of one big agent; the controller looks every `tickMs` while `leading`. */
class Sim {
  s: CellState = emptyState();
  now = T0;
  leading = true;
  written: Event[] = [];
  private seq = 0;
  /** When each running task ends, and how. */
  private ends = new Map<string, { at: number; ok: boolean }>();

  constructor() {
    this.fold([{ type: 'AgentRegistered', at: T0, agent: { agentId: 'a1', hostname: 'h1', address: '10.0.0.1', port: 5051, resources: res('cpus:64;mem:65536'), attributes: {}, version: 't' } }]);
  }

  fold(events: readonly Event[]): void {
    for (const e of events) {
      apply(this.s, e);
      this.written.push(e);
    }
  }

  decide<T>(d: (s: CellState, now: number) => { events: Event[]; result: T }): T {
    const { events, result } = d(this.s, this.now);
    this.fold(events);
    return result;
  }

  create(s: JobSpec): void {
    this.decide((state, now) => createJob(state, now, ROOT, s));
  }

  /** step: the agent ends what is due, the scheduler places what is pending, the controller decides. */
  step(ms: number): void {
    this.now += ms;
    const events: Event[] = [];
    for (const [taskId, end] of this.ends) {
      if (end.at > this.now) continue;
      this.ends.delete(taskId);
      events.push({ type: 'TaskStatusUpdated', at: this.now, status: { taskId, state: end.ok ? 'TASK_FINISHED' : 'TASK_FAILED', uuid: `e${++this.seq}`, timestamp: this.now, message: end.ok ? 'exited 0' : 'exited 1' } });
    }
    for (const taskId of this.s.killing) {
      const t = this.s.tasks.get(taskId);
      if (t === undefined || t.state === 'TASK_KILLED') continue;
      this.ends.delete(taskId);
      events.push({ type: 'TaskStatusUpdated', at: this.now, status: { taskId, state: 'TASK_KILLED', uuid: `k${++this.seq}`, timestamp: this.now } });
    }
    this.fold(events);
    const launches = [];
    const running: Event[] = [];
    for (const key of this.s.pendingJobs) {
      const job = this.s.jobs.get(key);
      if (job?.state !== 'ACTIVE') continue;
      for (const inst of job.instances) {
        if (inst.state !== 'PENDING' || inst.notBefore > this.now) continue;
        const taskId = `t${++this.seq}`;
        launches.push({ taskId, job: key, instance: inst.instance, agentId: 'a1', resources: res('cpus:0.1;mem:16'), ports: {} });
        const cmd = job.spec.processes[0]?.cmd ?? '';
        const sleep = /^sleep (\d+)/.exec(cmd);
        this.ends.set(taskId, { at: this.now + (sleep === null ? 0 : Number(sleep[1]) * 1000), ok: cmd !== 'exit 1' });
        running.push({ type: 'TaskStatusUpdated', at: this.now, status: { taskId, state: 'TASK_RUNNING', uuid: `r${++this.seq}`, timestamp: this.now } });
      }
    }
    if (launches.length > 0) this.fold([{ type: 'TasksLaunched', at: this.now, tasks: launches }, ...running]);
    if (this.leading) this.fold(runSteps(this.s, this.now).events);
  }

  run(ms: number, tick = 100): void {
    for (let t = 0; t < ms; t += tick) this.step(tick);
  }

  starts(job?: string): RunStart[] {
    return this.written.flatMap((e) => (e.type === 'RunStarted' && (job === undefined || e.run.job === job) ? [e.run] : []));
  }

  skips(job: string): Extract<Event, { type: 'RunSkipped' }>[] {
    return this.written.flatMap((e) => (e.type === 'RunSkipped' && e.job === job ? [e] : []));
  }
}

test('a job every 2 s runs once per scheduled time for a minute, each started at its time', () => {
  const sim = new Sim();
  sim.create(cron('ops/prod/tick', '*/2 * * * * *'));
  sim.run(60_000);
  const starts = sim.starts('ops/prod/tick');
  const times = starts.map((r) => r.scheduledAt ?? 0);
  assert.equal(starts.length, 30);
  assert.deepEqual(times, [...new Set(times)], 'no time twice');
  for (let i = 1; i < times.length; i++) assert.equal((times[i] as number) - (times[i - 1] as number), 2000, 'no time missed');
  // Each started within a tick of its time (the stand-in's clock moves 100 ms a step).
  const at = sim.written.flatMap((e) => (e.type === 'RunStarted' ? [e.at - (e.run.scheduledAt ?? 0)] : []));
  assert.ok(at.every((d) => d >= 0 && d <= 100), `lateness ${at.join(',')}`);
  assert.deepEqual(starts.map((r) => r.number), starts.map((_, i) => i + 1));
  assert.equal(starts[0]?.key, 'ops/prod/tick--1');
  const job = sim.s.jobs.get('ops/prod/tick');
  assert.equal(job?.runs?.records.every((r) => r.outcome === undefined || r.outcome === 'SUCCEEDED'), true);
  assert.equal(job?.runs?.records.length, 10, 'runHistory keeps 10 runs');
  assert.equal(sim.s.jobs.has('ops/prod/tick--20'), false, 'older runs are forgotten with their tasks');
  assert.equal(sim.s.jobs.has('ops/prod/tick--30'), true);
});

test('a master down across a fire time starts the owed run once if within the deadline, else records it skipped', () => {
  const sim = new Sim();
  sim.create(cron('ops/prod/tick', '*/10 * * * * *', { cron: { schedule: '*/10 * * * * *', startingDeadlineSecs: 3 } }));
  sim.run(12_000);
  assert.equal(sim.starts().length, 1);
  // No master leads from 12 s to 22 s (killed, restarted 2 s after the 20 s time, on its log).
  sim.leading = false;
  sim.run(10_000);
  sim.s = deserializeState(serializeState(sim.s));
  sim.leading = true;
  sim.step(100);
  assert.equal(sim.starts().length, 2, 'the owed run starts on recovery');
  assert.equal(sim.starts()[1]?.scheduledAt, T0 + 20_000);
  sim.step(100);
  assert.equal(sim.starts().length, 2, 'and once');
  // Down again from 22.2 s to 35.2 s: the 30 s time is 5.2 s late, past the 3 s deadline.
  sim.leading = false;
  sim.run(13_000);
  sim.s = deserializeState(serializeState(sim.s));
  sim.leading = true;
  sim.step(0);
  assert.equal(sim.starts().length, 2);
  const skip = sim.skips('ops/prod/tick').at(-1);
  assert.match(skip?.reason ?? '', /missed: no master could start it within startingDeadlineSecs \(3 s\)/);
  assert.deepEqual(skip?.times, { count: 1, first: T0 + 30_000, last: T0 + 30_000 });
  sim.run(5_000);
  assert.equal(sim.starts().length, 3, 'the schedule goes on at 40 s');
  assert.equal(sim.starts()[2]?.scheduledAt, T0 + 40_000);
});

test('after a long outage, one catch-up run for the latest time owed; the earlier ones are recorded', () => {
  const sim = new Sim();
  sim.create(cron('ops/prod/tick', '*/10 * * * * *', { cron: { schedule: '*/10 * * * * *', startingDeadlineSecs: 60 } }));
  sim.leading = false;
  sim.run(45_000);
  sim.leading = true;
  sim.step(100);
  const starts = sim.starts();
  assert.equal(starts.length, 1);
  assert.equal(starts[0]?.scheduledAt, T0 + 40_000);
  assert.deepEqual(starts[0]?.owed, { count: 4, first: T0 + 10_000, last: T0 + 40_000 });
  assert.match(sim.s.jobs.get('ops/prod/tick')?.runs?.skips.at(-1)?.reason ?? '', /catch-up: 4 scheduled times were owed; only the latest runs/);
});

test('forbid skips a time while a run is going; replace kills it and starts the new one; allow overlaps', () => {
  const sim = new Sim();
  sim.create(cron('ops/prod/forbid', '*/10 * * * * *', { cron: { schedule: '*/10 * * * * *', concurrency: 'forbid' } }, 'sleep 15'));
  sim.create(cron('ops/prod/replace', '*/10 * * * * *', { cron: { schedule: '*/10 * * * * *', concurrency: 'replace' } }, 'sleep 15'));
  sim.create(cron('ops/prod/allow', '*/10 * * * * *', { cron: { schedule: '*/10 * * * * *', concurrency: 'allow' } }, 'sleep 15'));
  sim.run(40_000);
  assert.equal(sim.starts('ops/prod/forbid').length, 2, 'every other time (each run takes 15 s)');
  assert.equal(sim.skips('ops/prod/forbid').length, 2);
  assert.match(sim.skips('ops/prod/forbid')[0]?.reason ?? '', /run 1 \(ops\/prod\/forbid--1\) is still going and concurrency is forbid/);
  const replaced = sim.starts('ops/prod/replace');
  assert.equal(replaced.length, 4);
  assert.deepEqual(replaced[1]?.replaced, ['ops/prod/replace--1']);
  const r1 = sim.s.jobs.get('ops/prod/replace')?.runs?.records.find((r) => r.number === 1);
  assert.equal(r1?.outcome, 'KILLED');
  assert.match(r1?.reason ?? '', /replaced by run 2/);
  assert.equal(sim.starts('ops/prod/allow').length, 4);
  const allow = sim.s.jobs.get('ops/prod/allow');
  assert.ok(allow !== undefined);
  assert.equal(allow.runs?.records.filter((r) => r.endedAt === undefined).length, 2, 'two runs at once');
});

test('run now, suspend and resume: a suspended job owes nothing for the time it was suspended', () => {
  const sim = new Sim();
  sim.create(cron('ops/prod/report', '*/10 * * * * *', {}, 'sleep 1'));
  const started = sim.decide((s, now) => startRunNow(s, now, ROOT, 'ops/prod/report'));
  assert.deepEqual(started, { job: 'ops/prod/report', run: 1, key: 'ops/prod/report--1' });
  assert.throws(() => sim.decide((s, now) => startRunNow(s, now, ROOT, 'ops/prod/report')), (e: unknown) => e instanceof MusterError && e.code === 'CONFLICT' && /still going/.test(e.message));
  sim.run(5_000);
  sim.decide((s, now) => suspendRuns(s, now, ROOT, 'ops/prod/report', true));
  sim.run(30_000);
  assert.equal(sim.starts().length, 1, 'nothing started while suspended');
  sim.decide((s, now) => suspendRuns(s, now, ROOT, 'ops/prod/report', false));
  const runs = sim.s.jobs.get('ops/prod/report')?.runs;
  assert.equal(runs?.skips.at(-1)?.reason, 'suspended');
  assert.equal(runs?.skips.at(-1)?.times?.count, 3);
  sim.step(100);
  assert.equal(sim.starts().length, 1, 'and nothing is caught up on resume');
  sim.run(10_000);
  assert.equal(sim.starts().length, 2);
  assert.equal(sim.starts()[1]?.trigger, 'schedule');
  assert.equal(sim.starts()[0]?.trigger, 'manual');
});

test('an update of a cron job: the next run uses the new version, the run going is left alone', () => {
  const sim = new Sim();
  sim.create(cron('ops/prod/report', '*/10 * * * * *', {}, 'sleep 8'));
  sim.run(10_500);
  assert.equal(sim.starts().length, 1);
  const next = cron('ops/prod/report', '*/10 * * * * *', {}, 'sleep 2');
  sim.decide((s, now) => startUpdate(s, now, ROOT, { key: 'ops/prod/report', spec: next, kind: 'update', id: 'u1' }));
  assert.equal(sim.s.updates.get('u1')?.status, 'ROLLED_FORWARD');
  assert.equal(sim.s.jobs.get('ops/prod/report--1')?.spec.processes[0]?.cmd, 'sleep 8', 'the run going keeps its config');
  sim.run(10_000);
  const second = sim.s.jobs.get('ops/prod/report--2');
  assert.equal(second?.spec.processes[0]?.cmd, 'sleep 2');
  assert.equal(sim.starts()[1]?.version, 2);
  assert.throws(() => sim.decide((s, now) => startUpdate(s, now, ROOT, { key: 'ops/prod/report', kind: 'restart', id: 'u2' })), /cron start/);
});

test('a graph A → B → C and A → C: C runs once per A run, after B; a failed B skips C with the reason', () => {
  const sim = new Sim();
  sim.create(cron('etl/prod/a', '*/20 * * * * *', {}, 'sleep 2'));
  sim.create(spec('etl/prod/b', { after: ['etl/prod/a'] }, 'sleep 3'));
  sim.create(spec('etl/prod/c', { after: ['etl/prod/a', 'etl/prod/b'] }, 'sleep 1'));
  sim.run(70_000);
  const a = sim.starts('etl/prod/a');
  const b = sim.starts('etl/prod/b');
  const c = sim.starts('etl/prod/c');
  assert.equal(a.length, 3);
  assert.equal(b.length, 3);
  assert.equal(c.length, 3, 'once per A run');
  for (const [i, run] of c.entries()) {
    assert.deepEqual(run.parents?.map((p) => [p.job, p.run, p.outcome]), [
      ['etl/prod/a', i + 1, 'SUCCEEDED'],
      ['etl/prod/b', i + 1, 'SUCCEEDED'],
    ]);
    const bEnd = sim.s.jobs.get('etl/prod/b')?.runs?.records.find((r) => r.number === i + 1)?.endedAt ?? Infinity;
    const cStart = sim.s.jobs.get('etl/prod/c')?.runs?.records.find((r) => r.number === i + 1)?.startedAt ?? 0;
    assert.ok(cStart >= bEnd, 'C starts after B ended');
  }
  // B fails from now on: C is skipped, naming B.
  const failing = spec('etl/prod/b', { after: ['etl/prod/a'] }, 'exit 1');
  sim.decide((s, now) => startUpdate(s, now, ROOT, { key: 'etl/prod/b', spec: failing, kind: 'update', id: 'ub' }));
  sim.run(20_000);
  assert.equal(sim.starts('etl/prod/c').length, 3);
  const skip = sim.skips('etl/prod/c').at(-1);
  assert.match(skip?.reason ?? '', /parent etl\/prod\/b run 4 failed \(onParentFailure: skip\)/);
  const graph = jobGraph(sim.s, 'etl/prod/b');
  assert.deepEqual(graph.nodes.map((n) => n.job), ['etl/prod/a', 'etl/prod/b', 'etl/prod/c']);
  assert.deepEqual(graph.edges.map((e) => `${e.from}>${e.to}`).sort(), ['etl/prod/a>etl/prod/b', 'etl/prod/a>etl/prod/c', 'etl/prod/b>etl/prod/c']);
  assert.equal(graph.nodes.find((n) => n.job === 'etl/prod/b')?.lastOutcome, 'FAILED');
});

test('onParentFailure: run runs the child after a failed parent', () => {
  const sim = new Sim();
  sim.create(spec('etl/prod/a', {}, 'exit 1'));
  sim.create(spec('etl/prod/b', { after: ['etl/prod/a'], onParentFailure: 'run' }, 'sleep 1'));
  sim.run(3_000);
  assert.equal(sim.s.jobs.get('etl/prod/a')?.state, 'FAILED');
  assert.equal(sim.starts('etl/prod/b').length, 1);
  assert.equal(sim.starts('etl/prod/b')[0]?.parents?.[0]?.outcome, 'FAILED');
});

test('a parent that does not exist, a service parent and a cycle are refused at create and update; nothing is written', () => {
  const sim = new Sim();
  sim.create(spec('etl/prod/svc', { kind: 'service' }));
  sim.create(spec('etl/prod/a', {}));
  sim.create(spec('etl/prod/b', { after: ['etl/prod/a'] }));
  sim.create(spec('etl/prod/c', { after: ['etl/prod/b'] }));
  const written = sim.written.length;
  const refused = (s: JobSpec, re: RegExp): void => {
    assert.throws(() => sim.create(s), (e: unknown) => e instanceof MusterError && e.code === 'INVALID_JOB' && re.test(e.message));
  };
  refused(spec('etl/prod/d', { after: ['etl/prod/nope'] }), /field "after\[0\]": no job etl\/prod\/nope to run after/);
  refused(spec('etl/prod/d', { after: ['etl/prod/svc'] }), /is a service, which never ends/);
  // b after c closes b → c → b.
  assert.throws(
    () => sim.decide((s, now) => startUpdate(s, now, ROOT, { key: 'etl/prod/b', spec: spec('etl/prod/b', { after: ['etl/prod/a', 'etl/prod/c'] }), kind: 'update', id: 'x' })),
    (e: unknown) => e instanceof MusterError && /cycle: etl\/prod\/b → etl\/prod\/c → etl\/prod\/b/.test(e.message) && JSON.stringify(e.details?.['cycle']) === '["etl/prod/b","etl/prod/c","etl/prod/b"]',
  );
  assert.equal(sim.written.length, written);
});

test('killing a cron job kills its runs going, and no run starts after', () => {
  const sim = new Sim();
  sim.create(cron('ops/prod/report', '*/10 * * * * *', {}, 'sleep 30'));
  sim.run(10_500);
  assert.equal(sim.s.jobs.get('ops/prod/report--1')?.state, 'ACTIVE');
  sim.decide((s, now) => killInstances(s, now, ROOT, { key: 'ops/prod/report', asked: undefined, restart: false }));
  sim.run(30_000);
  assert.equal(sim.s.jobs.get('ops/prod/report')?.state, 'KILLED');
  assert.equal(sim.s.jobs.get('ops/prod/report--1')?.state, 'KILLED');
  assert.equal(sim.starts().length, 1);
});

test('runs firing at one time share their role quota: those that do not fit are skipped, saying so', () => {
  const sim = new Sim();
  sim.fold([{ type: 'QuotaSet', at: sim.now, role: 'ops', quota: { cpusMilli: 250 } }]);
  for (const n of ['a', 'b', 'c']) sim.create(cron(`ops/prod/${n}`, '*/10 * * * * *', {}, 'sleep 5'));
  sim.run(10_500);
  assert.equal(sim.starts().length, 2, '0.1 cpus each, 0.25 of quota: two fit');
  const skipped = ['a', 'b', 'c'].flatMap((n) => sim.skips(`ops/prod/${n}`));
  assert.equal(skipped.length, 1);
  assert.match(skipped[0]?.reason ?? '', /^quota: role "ops" has 0.05 cpus of quota left, the job needs 0.1/);
});
