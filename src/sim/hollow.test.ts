import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { isTerminal } from '../core/index.js';
import { EventLog, openStore } from '../master/index.js';
import { silentLogger } from '../log/index.js';
import { HollowCell, hollowAgents, hollowJobs, type HollowCellOptions } from './hollow.js';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'muster-hollow-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function openCell(t: TestContext, options: HollowCellOptions): Promise<HollowCell> {
  const cell = await HollowCell.open(options);
  t.after(() => cell.close());
  return cell;
}

/** Tasks per agent, and whether every live task is on a reachable, known agent. */
function census(cell: HollowCell): { live: number; perAgentMax: number } {
  let live = 0;
  let perAgentMax = 0;
  for (const a of cell.state.agents.values()) perAgentMax = Math.max(perAgentMax, a.taskIds.size);
  for (const task of cell.state.tasks.values()) if (!isTerminal(task.state)) live++;
  return { live, perAgentMax };
}

test('a hollow cell places every task of its jobs and commits them durably in passes', async (t) => {
  const dir = await tempDir(t);
  const cell = await HollowCell.open({ dir, maxTasksPerPass: 50 });
  let closed = false;
  t.after(async () => {
    if (!closed) await cell.close();
  });
  await cell.registerAgents(hollowAgents(40, { racks: 8, zones: 4, gpuEvery: 0 }));
  const jobs = hollowJobs(6, 30, { seed: 7 });
  await cell.createJobs(jobs);

  const passes = await cell.drain();
  const placed = passes.reduce((n, p) => n + p.placed, 0);
  assert.equal(placed, 180);
  assert.ok(passes.length >= 4, `180 tasks at 50 a pass take at least 4 passes, took ${passes.length}`);
  assert.ok(passes.every((p) => p.tasks <= 50));
  assert.equal(census(cell).live, 180);
  for (const job of cell.state.jobs.values()) {
    assert.ok(job.instances.every((i) => i.state === 'ACTIVE' && i.taskId !== undefined), `${job.key} has every instance running`);
  }

  // Every placement honours its job's constraint: the driver commits what place() chose.
  for (const task of cell.state.tasks.values()) {
    const spec = cell.state.jobs.get(task.job)?.spec;
    const agent = cell.state.agents.get(task.agentId);
    assert.ok(spec !== undefined && agent !== undefined);
    const zone = spec.constraints['zone'];
    if (zone !== undefined) assert.ok(zone.split('|').includes(agent.attributes['zone'] ?? ''), `${task.taskId} in zone ${zone}`);
    if (spec.constraints['rack'] === '!r7') assert.notEqual(agent.attributes['rack'], 'r7');
  }

  // What the state holds is what the store holds: reopening the log rebuilds the same placements.
  const before = [...cell.state.tasks.values()].map((task) => `${task.taskId}@${task.agentId}`).sort();
  await cell.close();
  closed = true;
  const store = openStore(`sqlite:${join(dir, 'master.db')}`);
  t.after(() => store.close());
  const log = await EventLog.open(store, { snapshotEvery: 1_000_000, logger: silentLogger });
  assert.deepEqual([...log.state.tasks.values()].map((task) => `${task.taskId}@${task.agentId}`).sort(), before);
});

test('a job with host limit:1 gets at most one task per agent and leaves the rest pending', async (t) => {
  const cell = await openCell(t, {});
  await cell.registerAgents(hollowAgents(5, { gpuEvery: 0 }));
  const [job] = hollowJobs(1, 8, { seed: 1 });
  assert.ok(job !== undefined);
  await cell.createJobs([{ ...job, constraints: { host: 'limit:1' } }]);
  const passes = await cell.drain();
  assert.equal(passes[0]?.placed, 5);
  assert.equal(passes[0]?.unplaced, 3);
  assert.equal(census(cell).perAgentMax, 1);
  const pending = cell.state.jobs.get(job.job)?.instances.filter((i) => i.state === 'PENDING').length;
  assert.equal(pending, 3);
});

test('with autoSchedule on, a committed job is placed without anyone asking for a pass', async (t) => {
  const cell = await openCell(t, {});
  await cell.registerAgents(hollowAgents(10, { gpuEvery: 0 }));
  const launched: string[] = [];
  cell.onPass((s) => launched.push(...s.launched.keys()));
  cell.autoSchedule(true);
  const jobs = hollowJobs(3, 4, { seed: 3 });
  await Promise.all(jobs.map((j) => cell.createJobs([j])));
  await cell.idle();
  assert.deepEqual([...new Set(launched)].sort(), jobs.map((j) => j.job).sort());
  assert.equal(census(cell).live, 12);
});

test('close removes the temp dir the cell made', async () => {
  const cell = await HollowCell.open();
  await cell.registerAgents(hollowAgents(2, { gpuEvery: 0 }));
  const desc = cell.dir;
  await cell.close();
  await assert.rejects(readdir(desc), { code: 'ENOENT' });
});

test('hollow builders refuse sizes past their bounds', () => {
  assert.throws(() => hollowAgents(-1), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => hollowAgents(1_000_000), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => hollowJobs(1, 0), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => hollowJobs(1, 20_000), { code: 'INVALID_ARGUMENT' });
});

test('hollow agents are deterministic and a few percent have 8 GPUs', () => {
  const a = hollowAgents(1000);
  assert.deepEqual(hollowAgents(1000), a);
  const gpu = a.filter((x) => x.resources.gpus === 8).length;
  assert.equal(gpu, 40);
  assert.deepEqual(new Set(a.map((x) => x.attributes['zone'])), new Set(['a', 'b', 'c', 'd']));
  assert.equal(new Set(a.map((x) => x.attributes['rack'])).size, 100);
});
