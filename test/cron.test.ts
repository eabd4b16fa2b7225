// Cron and dependent jobs with real processes: a master and an agent as separate processes, cron
// schedules with a seconds field so that tests run in real time. Runs are counted from the agent's
// sandboxes (each run's task leaves one, with its exit file), not only from the master's records:
// one run per scheduled time, placed within a second of it; forbid and replace; a master killed
// with SIGKILL across a fire time; a graph A → B → C with A → C.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { MusterClient } from '../src/client/index.js';
import { MusterError, type JobSpecInput } from '../src/core/index.js';
import type { RunView, RunsView } from '../src/protocol/index.js';
import { jobEvidence, type AgentDirs } from './evidence.js';
import { cell, ok, waitFor } from './harness.js';
import { batchConfig, YAML, yamlOf } from './jobconfig.js';

/** Masters in these tests take schedules down to 1 s (the default refuses under 10 s). */
const MASTER_ARGS = ['--cron-min-interval', '1'];

function cronConfig(job: string, schedule: string, cmd: string, cron: Record<string, unknown> = {}, over: Partial<JobSpecInput> = {}): JobSpecInput {
  return batchConfig(job, { kind: 'cron', cron: { schedule, ...cron }, processes: [{ name: 'main', cmd }], ...over });
}

/** runsOf: the master's view of a job's runs, oldest first. */
async function runsOf(client: MusterClient, key: string): Promise<{ view: RunsView; runs: RunView[] }> {
  const view = await client.jobRuns(key);
  return { view, runs: [...view.runs].reverse() };
}

/** sandboxRuns: for each run number of a job, the sandboxes its tasks left on the agents and how each ended. */
function sandboxRuns(agents: readonly AgentDirs[], key: string, runs: readonly RunView[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const r of runs) out.set(r.number, jobEvidence(agents, r.key).sandboxes.map((s) => s.outcome));
  return out;
}

test('a job every 2 s runs once per scheduled time for a minute, each run placed within a second of its time', async (t) => {
  const c = cell(t);
  const { client, agents } = await c.startCell(1, { args: MASTER_ARGS });
  const key = 'ops/prod/tick';
  await client.createJob(yamlOf(cronConfig(key, '*/2 * * * * *', 'true', {}, { runHistory: 100 })), YAML);
  await sleep(61_000);
  await client.suspendRuns(key, true);
  await sleep(1_000);
  const { runs, view } = await runsOf(client, key);
  assert.equal(view.suspended, true);
  const times = runs.map((r) => r.scheduledAt ?? 0);
  assert.ok(runs.length >= 29 && runs.length <= 31, `about 30 runs in a minute, got ${runs.length}`);
  assert.deepEqual(times, [...new Set(times)], 'no scheduled time ran twice');
  for (let i = 1; i < times.length; i++) assert.equal((times[i] as number) - (times[i - 1] as number), 2000, `no time was skipped: ${JSON.stringify(view.skips)}`);
  assert.ok(runs.every((r) => r.trigger === 'schedule'));
  // Placed: the task's launch (the TasksLaunched the master wrote) within 1 s of the scheduled time.
  const late: string[] = [];
  for (const r of runs) {
    const job = await client.getJob(r.key);
    const launchedAt = job.instances[0]?.task?.launchedAt;
    assert.ok(launchedAt !== undefined, `run ${r.number} has a task`);
    const ms = launchedAt - (r.scheduledAt ?? 0);
    if (ms < 0 || ms > 1000) late.push(`run ${r.number}: ${ms} ms`);
  }
  assert.deepEqual(late, [], 'every run placed within a second of its time');
  // The agent's word: one sandbox per run, each exited 0; none for a time that was not run.
  const evidence = sandboxRuns(agents, key, runs);
  for (const [n, outcomes] of evidence) assert.deepEqual(outcomes, ['succeeded'], `run ${n} ran exactly once`);
  assert.equal(jobEvidence(agents, `${key}--${runs.length + 1}`).sandboxes.length, 0, 'no run beyond those recorded');
  // cron show, in words.
  const shown = ok(await c.cli(['cron', 'show', key]), 'cron show');
  assert.match(shown, /schedule +\*\/2 \* \* \* \* \* +\(Every 2 seconds, UTC\)/);
  assert.match(shown, /SUSPENDED/);
  assert.match(shown, /last runs \(kept: 100\)/);
});

test('forbid skips a time while a run is going; replace kills the run going and starts the new one', async (t) => {
  const c = cell(t);
  const { client, agents } = await c.startCell(1, { args: MASTER_ARGS });
  await client.createJob(yamlOf(cronConfig('ops/prod/forbid', '*/4 * * * * *', 'sleep 6', { concurrency: 'forbid' })), YAML);
  await client.createJob(yamlOf(cronConfig('ops/prod/replace', '*/4 * * * * *', 'sleep 6', { concurrency: 'replace' })), YAML);
  await sleep(21_000);
  await client.suspendRuns('ops/prod/forbid', true);
  await client.suspendRuns('ops/prod/replace', true);
  const forbid = await runsOf(client, 'ops/prod/forbid');
  const replace = await runsOf(client, 'ops/prod/replace');
  // forbid: a run every 8 s (each takes 6 s, the time in between is skipped).
  assert.ok(forbid.runs.length >= 2 && forbid.runs.length <= 3, `forbid ran ${forbid.runs.length} times`);
  assert.ok(forbid.view.skips.some((s) => /is still going and concurrency is forbid/.test(s.reason)), JSON.stringify(forbid.view.skips));
  for (let i = 1; i < forbid.runs.length; i++) assert.equal((forbid.runs[i]?.scheduledAt ?? 0) - (forbid.runs[i - 1]?.scheduledAt ?? 0), 8000);
  // replace: a run every 4 s; every one but the last killed by the next.
  assert.ok(replace.runs.length >= 4, `replace ran ${replace.runs.length} times`);
  const ended = replace.runs.slice(0, -1);
  await waitFor(() => runsOf(client, 'ops/prod/replace'), { what: 'the replaced runs to end', until: (r) => r.runs.slice(0, ended.length).every((x) => x.outcome !== undefined) });
  const after = await runsOf(client, 'ops/prod/replace');
  for (const r of after.runs.slice(0, ended.length)) {
    assert.equal(r.outcome, 'KILLED', `run ${r.number}`);
    assert.match(r.reason ?? '', /replaced by run \d+ \(concurrency replace\)/);
  }
  const evidence = sandboxRuns(agents, 'ops/prod/replace', after.runs.slice(0, ended.length));
  for (const [n, outcomes] of evidence) assert.deepEqual(outcomes, ['killed'], `replaced run ${n}'s process was killed`);
  // cron start under forbid while a run is going is refused, saying why. Its runs now take 60 s
  // (an update: the next run uses it), so that one is surely going while the CLI asks.
  await client.request('POST', '/api/v1/jobs/ops/prod/forbid/update', cronConfig('ops/prod/forbid', '*/4 * * * * *', 'sleep 60', { concurrency: 'forbid' }));
  await client.suspendRuns('ops/prod/forbid', false);
  await waitFor(() => runsOf(client, 'ops/prod/forbid'), { what: 'a run of the new version going', until: (r) => r.view.current.some((x) => x.version === 2 && x.tasks?.[0]?.state === 'TASK_RUNNING') });
  const refused = await c.cli(['cron', 'start', 'ops/prod/forbid']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /cannot start a run of ops\/prod\/forbid: run \d+ \(ops\/prod\/forbid--\d+\) is still going and concurrency is forbid/);
  // job status of a cron job: its schedule, the run going, and that run's own instances.
  const status = ok(await c.cli(['job', 'status', 'ops/prod/forbid']), 'job status');
  assert.match(status, /going:\n.*RUN +OUTCOME +TRIGGER/);
  assert.match(status, /run +\d+ of ops\/prod\/forbid; see muster cron show ops\/prod\/forbid/);
  assert.match(status, /INSTANCE +STATE/);
});

test('kill -9 of the master across a fire time: restarted 5 s later the owed run starts once; restarted past the deadline the time is recorded as skipped', async (t) => {
  const c = cell(t);
  const { master, client, agents } = await c.startCell(1, { args: MASTER_ARGS });
  const key = 'ops/prod/nightly';
  await client.createJob(yamlOf(cronConfig(key, '*/15 * * * * *', 'true', { startingDeadlineSecs: 8 })), YAML);
  // Kill it 1 s before a fire time, and start it again 5 s later (4 s past the time).
  const untilBefore = async (): Promise<number> => {
    const at = (await client.jobRuns(key)).next[0] ?? 0;
    const wait = at - Date.now() - 1000;
    if (wait < 500) {
      await sleep(wait + 2000);
      return untilBefore();
    }
    await sleep(wait);
    return at;
  };
  const missed = await untilBefore();
  await master.kill('SIGKILL');
  await sleep(5_000);
  await master.restart();
  const first = await waitFor(() => runsOf(client, key), { what: 'the owed run', until: (r) => r.runs.some((x) => x.scheduledAt === missed) });
  const owed = first.runs.filter((x) => x.scheduledAt === missed);
  assert.equal(owed.length, 1, 'started once');
  // Its own time, not the restart's: it started within the deadline, 4-5 s late.
  assert.ok((owed[0]?.startedAt ?? 0) - missed >= 3000 && (owed[0]?.startedAt ?? 0) - missed < 8000);
  // Again, but away for 10 s: the 8 s deadline has passed when it comes back.
  const skippedTime = await untilBefore();
  await master.kill('SIGKILL');
  await sleep(10_000);
  await master.restart();
  const second = await waitFor(() => runsOf(client, key), { what: 'the time recorded as skipped', until: (r) => r.view.skips.some((s) => s.times?.last === skippedTime) });
  assert.equal(second.runs.filter((x) => x.scheduledAt === skippedTime).length, 0, 'the late time did not run');
  const skip = second.view.skips.find((s) => s.times?.last === skippedTime);
  assert.match(skip?.reason ?? '', /missed: no master could start it within startingDeadlineSecs \(8 s\)/);
  // And the schedule goes on: the next time runs. Every run left exactly one sandbox.
  const third = await waitFor(() => runsOf(client, key), { what: 'the next run', until: (r) => r.runs.some((x) => (x.scheduledAt ?? 0) > skippedTime) });
  const times = third.runs.map((r) => r.scheduledAt);
  assert.deepEqual(times, [...new Set(times)]);
  for (const [n, outcomes] of sandboxRuns(agents, key, third.runs.filter((r) => r.outcome !== undefined))) assert.deepEqual(outcomes, ['succeeded'], `run ${n}`);
});

test('a graph A → B → C and A → C: C runs once per A run, after B; a failed B skips C with the reason; job graph shows it', async (t) => {
  const c = cell(t);
  const { client, agents } = await c.startCell(1, { args: MASTER_ARGS });
  // A runs when started by hand (its schedule: once a year).
  await client.createJob(yamlOf(cronConfig('etl/prod/a', '0 0 1 1 *', 'sleep 1')), YAML);
  await client.createJob(yamlOf(batchConfig('etl/prod/b', { after: ['etl/prod/a'], processes: [{ name: 'main', cmd: 'sleep 1' }] })), YAML);
  await client.createJob(yamlOf(batchConfig('etl/prod/c', { after: ['etl/prod/a', 'etl/prod/b'], processes: [{ name: 'main', cmd: 'true' }] })), YAML);
  for (let round = 1; round <= 2; round++) {
    ok(await c.cli(['cron', 'start', 'etl/prod/a']), 'cron start');
    const cRuns = await waitFor(() => runsOf(client, 'etl/prod/c'), { what: `C's run ${round} to end`, timeoutMs: 60_000, until: (r) => r.runs.filter((x) => x.outcome !== undefined).length === round });
    const run = cRuns.runs[round - 1];
    assert.equal(cRuns.runs.length, round, 'C runs once per A run');
    assert.equal(run?.outcome, 'SUCCEEDED');
    assert.deepEqual(run?.parents?.map((p) => `${p.job}--${p.run ?? '?'}:${p.outcome}`), [`etl/prod/a--${round}:SUCCEEDED`, `etl/prod/b--${round}:SUCCEEDED`]);
    const b = (await runsOf(client, 'etl/prod/b')).runs[round - 1];
    assert.ok((run?.startedAt ?? 0) >= (b?.endedAt ?? Infinity), 'C started after B ended');
  }
  // B now fails: C is skipped, naming B, and does not run.
  const failing = join(c.dir, 'b-fails.yaml');
  writeFileSync(failing, yamlOf(batchConfig('etl/prod/b', { after: ['etl/prod/a'], processes: [{ name: 'main', cmd: 'exit 1' }] })));
  ok(await c.cli(['update', 'start', 'etl/prod/b', failing]), 'update start');
  ok(await c.cli(['cron', 'start', 'etl/prod/a']), 'cron start');
  const skipped = await waitFor(() => runsOf(client, 'etl/prod/c'), { what: 'C skipped', timeoutMs: 60_000, until: (r) => r.view.skips.length > 0 });
  assert.match(skipped.view.skips[0]?.reason ?? '', /parent etl\/prod\/b run 3 failed \(onParentFailure: skip\)/);
  assert.equal(skipped.runs.length, 2);
  // The agent's word: C's two runs ran once each; B's third failed.
  for (const [n, outcomes] of sandboxRuns(agents, 'etl/prod/c', skipped.runs)) assert.deepEqual(outcomes, ['succeeded'], `C run ${n}`);
  assert.deepEqual(jobEvidence(agents, 'etl/prod/b--3').sandboxes.map((s) => s.outcome), ['failed']);
  const graph = ok(await c.cli(['job', 'graph', 'etl/prod/b']), 'job graph');
  assert.match(graph, /etl\/prod\/b \* +batch +ACTIVE +FAILED +etl\/prod\/a\n/);
  assert.match(graph, /etl\/prod\/c +batch +ACTIVE +SUCCEEDED +etl\/prod\/a, etl\/prod\/b\n/);
  const dot = ok(await c.cli(['job', 'graph', 'etl/prod/b', '--dot']), 'job graph --dot');
  assert.match(dot, /"etl\/prod\/a" -> "etl\/prod\/c";/);
  assert.match(dot, /"etl\/prod\/b" -> "etl\/prod\/c";/);
  // A cycle is refused at update, naming it; nothing changes.
  const cyclic = join(c.dir, 'a-cycle.yaml');
  writeFileSync(cyclic, yamlOf(cronConfig('etl/prod/a', '0 0 1 1 *', 'sleep 1', {}, { after: ['etl/prod/c'] })));
  const cycle = await c.cli(['update', 'start', 'etl/prod/a', cyclic]);
  assert.notEqual(cycle.code, 0);
  assert.match(cycle.stderr, /cycle: etl\/prod\/a → etl\/prod\/c → etl\/prod\/a/);
});

test('bad cron configs are refused with the field and the reason, and nothing is created', async (t) => {
  const c = cell(t);
  const { client } = await c.startCell(1);
  const bad: [JobSpecInput, RegExp][] = [
    [cronConfig('ops/prod/x', 'every day', 'true'), /cron\.schedule.*does not parse/],
    [cronConfig('ops/prod/x', '0 0 30 2 *', 'true'), /cron\.schedule.*never fires/],
    [cronConfig('ops/prod/x', '*/5 * * * * *', 'true'), /cron\.schedule.*fires every 5 s at times; this cell runs cron jobs at most every 10 s \(--cron-min-interval\)/],
    [cronConfig('ops/prod/x', '@daily', 'true', { timezone: 'Mars/Olympus' }), /cron\.timezone.*IANA time zone/],
    [cronConfig('ops/prod/x', '@daily', 'true', { concurrency: 'sometimes' }), /cron\.concurrency.*allow, forbid, replace/],
    [batchConfig('ops/prod/x', { after: ['ops/prod/nope'] }), /after\[0\].*no job ops\/prod\/nope to run after/],
  ];
  for (const [config, why] of bad) {
    const err = await client.createJob(yamlOf(config), YAML).then(
      () => assert.fail(`accepted: ${yamlOf(config)}`),
      (e: unknown) => e,
    );
    assert.ok(err instanceof MusterError, String(err));
    assert.equal(err.status, 400);
    assert.match(`${String(err.details?.['field'])} ${err.message}`, why);
  }
  assert.deepEqual(await client.listJobs(), [], 'nothing was created');
});
