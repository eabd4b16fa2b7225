// Rolling updates with real processes: a master and two agents as separate processes, a 6-instance
// service with a health check updated in batches of 2. A good config rolls forward with never more
// than maxUnavailable down; a command that exits 1 rolls back on its own; a master killed with
// SIGKILL mid-update finishes it as it would have; scaling touches no other instance.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MusterClient } from '../src/client/index.js';
import type { JobSpecInput } from '../src/core/index.js';
import type { JobView, UpdateView } from '../src/protocol/index.js';
import { cell, ok, waitFor } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { waitRunning } from './jobs.js';
import { hasProcfs, taskProcesses } from './proc.js';
import { requireOrSkip } from './require.js';

const KEY = 'web/prod/rolling';
const PATH = `/api/v1/jobs/${KEY}`;

function config(cmd: string, over: Partial<JobSpecInput> = {}): JobSpecInput {
  return serviceConfig(KEY, {
    instances: 6,
    processes: [{ name: 'main', cmd }],
    health: { command: { cmd: 'true' }, intervalSecs: 0.5, gracePeriodSecs: 0, timeoutSecs: 5 },
    update: { batchSize: 2, watchSecs: 1, progressDeadlineSecs: 60 },
    ...over,
  });
}

async function startUpdate(client: MusterClient, spec: JobSpecInput, query = ''): Promise<UpdateView> {
  const answer = await client.request<{ update: UpdateView }>('POST', `${PATH}/update${query}`, spec);
  return answer.update;
}

/** waitEnded polls the update until it is no longer active, counting the instances down at each look. */
async function waitEnded(client: MusterClient, timeoutMs = 90_000): Promise<{ update: UpdateView; maxDown: number }> {
  let maxDown = 0;
  const update = await waitFor(
    async () => {
      const [u, job] = await Promise.all([client.request<UpdateView>('GET', `${PATH}/update`), client.getJob(KEY)]);
      maxDown = Math.max(maxDown, down(job));
      return u;
    },
    { what: 'the update to end', timeoutMs, intervalMs: 100, until: (u) => !['ROLLING_FORWARD', 'ROLLING_BACK', 'ROLL_FORWARD_PAUSED', 'ROLL_BACK_PAUSED', 'AWAITING_PROMOTION'].includes(u.status) },
  );
  return { update, maxDown };
}

/** down: instances not running and healthy. */
function down(job: JobView): number {
  return job.instances.filter((i) => i.task?.state !== 'TASK_RUNNING' || i.task.healthy !== true || i.task.killRequested).length;
}

/** healthy: every instance runs and is healthy. */
function healthy(job: JobView): boolean {
  return job.instances.every((i) => i.task?.state === 'TASK_RUNNING' && i.task.healthy === true);
}

test('a rolling update to a good config rolls forward in batches within maxUnavailable; one that exits 1 rolls back by itself', async (t) => {
  if (!requireOrSkip(t, hasProcfs(), 'needs /proc (Linux) to see which command each task runs')) return;
  const c = cell(t);
  const { client } = await c.startCell(2);
  await client.createJob(yamlOf(config('exec sleep 3601')), YAML);
  await waitRunning(client, KEY, { what: 'six healthy instances', until: healthy });

  const started = await startUpdate(client, config('exec sleep 3602'));
  assert.equal(started.status, 'ROLLING_FORWARD');
  assert.deepEqual(started.instances.map((i) => i.change), Array(6).fill('change'));
  const { update, maxDown } = await waitEnded(client);
  assert.equal(update.status, 'ROLLED_FORWARD', JSON.stringify(update.events));
  assert.ok(maxDown <= 2, `never more than maxUnavailable (2) instances down at once; saw ${maxDown}`);
  assert.deepEqual(Object.values(update.versions), Array(6).fill(2));
  const updating = update.instanceEvents.filter((e) => e.action === 'UPDATING').map((e) => e.instance);
  assert.deepEqual(updating.sort(), [0, 1, 2, 3, 4, 5], 'each instance was updated once');
  // The processes themselves run the new command, one each.
  const job = await waitRunning(client, KEY, { until: healthy });
  for (const i of job.instances) {
    const procs = taskProcesses({ taskId: i.task?.taskId ?? '', argv: ['sleep', '3602'], under: c.dir });
    assert.equal(procs.length, 1, `instance ${i.instance} runs the new command`);
  }

  // A command that exits 1: the update rolls back without anyone asking.
  await startUpdate(client, config('exit 1'));
  const failed = await waitEnded(client);
  assert.equal(failed.update.status, 'ROLLED_BACK', JSON.stringify(failed.update.events));
  assert.ok(failed.maxDown <= 2, `rolling back stays within the budget too; saw ${failed.maxDown}`);
  assert.deepEqual(Object.values(failed.update.versions), Array(6).fill(2), 'every instance is back on version 2');
  const back = await waitRunning(client, KEY, { until: healthy, what: 'every instance healthy on the old config' });
  for (const i of back.instances) {
    assert.equal(taskProcesses({ taskId: i.task?.taskId ?? '', argv: ['sleep', '3602'], under: c.dir }).length, 1, `instance ${i.instance} runs the old command again`);
  }
  const acted = failed.update.instanceEvents.filter((e) => e.action === 'UPDATING' || e.action === 'ROLLING_BACK');
  const once = new Set(acted.map((e) => `${e.action}:${e.instance}`));
  assert.equal(once.size, acted.length, 'each instance touched at most once each way');

  // Refusals change nothing.
  await assert.rejects(() => client.request('POST', `/api/v1/jobs/web/prod/none/update`, config('x')), /JOB_NOT_FOUND|no job/);
  await assert.rejects(() => client.request('POST', `${PATH}/update`, { ...config('x'), kind: 'batch' }), (e: Error & { status?: number }) => /kind/.test(e.message));
  await assert.rejects(() => client.request('POST', `${PATH}/update/promote`), /only an update waiting for its canaries|no active update/);
});

test('a master killed with SIGKILL mid-update finishes it as it would have; scaling up and down keeps the other tasks', async (t) => {
  const c = cell(t);
  const master = await c.startMaster({ agentTimeoutSecs: 10 });
  await c.startAgent(master);
  await c.startAgent(master);
  await c.waitForAgents(2);
  const client = c.client();
  await client.createJob(yamlOf(config('exec sleep 3601', { update: { batchSize: 2, watchSecs: 3, progressDeadlineSecs: 60 } })), YAML);
  await waitRunning(client, KEY, { what: 'six healthy instances', until: healthy });

  await startUpdate(client, config('exec sleep 3602', { update: { batchSize: 2, watchSecs: 3, progressDeadlineSecs: 60 } }));
  // Into the second batch, then kill -9.
  await waitFor(() => client.request<UpdateView>('GET', `${PATH}/update`), { what: 'the second batch to start', until: (u) => u.batch >= 2, timeoutMs: 60_000 });
  await master.kill('SIGKILL');
  await master.restart();
  const { update } = await waitEnded(client);
  assert.equal(update.status, 'ROLLED_FORWARD', JSON.stringify(update.events));
  assert.deepEqual(Object.values(update.versions), Array(6).fill(2));
  const updating = update.instanceEvents.filter((e) => e.action === 'UPDATING').map((e) => e.instance).sort();
  assert.deepEqual(updating, [0, 1, 2, 3, 4, 5], 'no instance was updated twice across the restart');
  assert.deepEqual(update.batches, 3);

  // Scale up to 8, then down to 3: the instances kept have the same tasks throughout.
  const before = await waitRunning(client, KEY, { until: healthy });
  const ids = before.instances.map((i) => i.task?.taskId);
  await client.request('POST', `${PATH}/scale`, { instances: 8 });
  const up = await waitEnded(client);
  assert.equal(up.update.status, 'ROLLED_FORWARD');
  const eight = await waitRunning(client, KEY, { until: (j) => j.instances.length === 8 && healthy(j) });
  assert.deepEqual(eight.instances.slice(0, 6).map((i) => i.task?.taskId), ids, 'scaling up restarted nothing');
  await client.request('POST', `${PATH}/scale`, { instances: 3 });
  const downTo3 = await waitEnded(client);
  assert.equal(downTo3.update.status, 'ROLLED_FORWARD');
  const three = await client.getJob(KEY);
  assert.equal(three.instances.length, 3);
  assert.deepEqual(three.instances.map((i) => i.task?.taskId), ids.slice(0, 3), 'scaling down removed the highest instances only');

  // History: three versions, three updates, who and when.
  const history = await client.request<{ versions: { version: number; cause: string }[]; updates: unknown[] }>('GET', `${PATH}/history`);
  assert.deepEqual(history.versions.map((v) => [v.version, v.cause]), [[1, 'create'], [2, 'update'], [3, 'scale'], [4, 'scale']]);
  assert.equal(history.updates.length, 3);

  // A killed job stays visible, with why.
  await client.killJob(KEY);
  const killed = await waitFor(() => client.getJob(KEY), { what: 'the job to end', until: (j) => j.state === 'KILLED' });
  assert.match(killed.endReason ?? '', /killed/);
  const all = await client.request<{ jobs: { job: string; state: string }[] }>('GET', '/api/v1/jobs?all=true');
  assert.deepEqual(all.jobs.map((j) => [j.job, j.state]), [[KEY, 'KILLED']]);
});

test('the CLI: job diff, update start --wait (forward, then a rollback with exit 1), update status and list, job history, a rolling restart', async (t) => {
  const c = cell(t);
  const { client } = await c.startCell(1);
  const write = (name: string, cmd: string): string => {
    const file = join(c.dir, name);
    const { health: _none, ...plain } = config(cmd, { instances: 2, update: { batchSize: 1, watchSecs: 1, progressDeadlineSecs: 30 } });
    writeFileSync(file, yamlOf(plain));
    return file;
  };
  const v1 = write('v1.yaml', 'exec sleep 3601');
  const v2 = write('v2.yaml', 'exec sleep 3602');
  const bad = write('bad.yaml', 'exit 1');
  ok(await c.cli(['job', 'create', v1, '--wait', '--settle', '0']), 'muster job create');

  const diff = ok(await c.cli(['job', 'diff', KEY, v2]), 'muster job diff');
  assert.match(diff, /processes\[0\]\.cmd: "exec sleep 3601" -> "exec sleep 3602"/);
  assert.match(diff, /replace.*0-1|0-1.*replace/i);

  const forward = await c.cli(['update', 'start', KEY, v2, '--wait', '-m', 'to v2']);
  assert.equal(forward.code, 0, `update start --wait exits 0 once rolled forward; stderr:\n${forward.stderr}`);
  assert.match(forward.stdout + forward.stderr, /ROLLED_FORWARD|rolled forward/i);

  const back = await c.cli(['update', 'start', KEY, bad, '--wait']);
  assert.equal(back.code, 1, `a rolled-back update exits 1; stdout:\n${back.stdout}\nstderr:\n${back.stderr}`);
  assert.match(back.stdout + back.stderr, /rolled back/i);

  const status = ok(await c.cli(['update', 'status', KEY]), 'muster update status');
  assert.match(status, /ROLLED_BACK/);
  assert.match(status, /v2: 0-1|2: 0-1/);
  const list = ok(await c.cli(['update', 'list', '--job', KEY]), 'muster update list');
  assert.equal(list.split('\n').filter((l) => l.includes(KEY)).length, 2, list);
  const history = ok(await c.cli(['job', 'history', KEY]), 'muster job history');
  assert.match(history, /^v3\s.*update/m, history);
  assert.match(history, /ROLLED_BACK\s+update\s+v2 -> v3/, history);
  const paused = await c.cli(['update', 'pause', KEY]);
  assert.equal(paused.code, 4, `no active update to pause: exit 4; ${paused.stderr}`);

  const restart = ok(await c.cli(['job', 'restart', KEY]), 'muster job restart');
  assert.match(restart, /rolling restart/);
  const waited = await c.cli(['update', 'wait', KEY]);
  assert.equal(waited.code, 0, `the rolling restart ends rolled forward; ${waited.stderr}`);
  const job = await client.getJob(KEY);
  assert.deepEqual(job.instances.map((i) => i.version), [2, 2], 'the restart kept the version');
});

test('a new health check that fails rolls back; one that never passes fails at progressDeadlineSecs and rolls back: never stuck', async (t) => {
  const c = cell(t);
  const { client } = await c.startCell(2);
  const small = { instances: 2, update: { batchSize: 1, watchSecs: 1, progressDeadlineSecs: 8 } };
  await client.createJob(yamlOf(config('exec sleep 3601', small)), YAML);
  await waitRunning(client, KEY, { what: 'two healthy instances', until: healthy });

  // Fails: the agent kills the task after one failed check; its instance fails; the update rolls back.
  await startUpdate(client, config('exec sleep 3602', { ...small, health: { command: { cmd: 'false' }, intervalSecs: 0.5, gracePeriodSecs: 0, consecutiveFailures: 1 } }));
  const failing = await waitEnded(client);
  assert.equal(failing.update.status, 'ROLLED_BACK', JSON.stringify(failing.update.events));
  assert.deepEqual(Object.values(failing.update.versions), [1, 1]);

  // Never passes (failures inside a long grace period do not count, so the task is never killed and
  // never healthy): the instance fails at the deadline, and the update rolls back.
  const started = Date.now();
  await startUpdate(client, config('exec sleep 3603', { ...small, health: { command: { cmd: 'false' }, intervalSecs: 0.5, gracePeriodSecs: 3600 } }));
  const stuck = await waitEnded(client);
  assert.equal(stuck.update.status, 'ROLLED_BACK', JSON.stringify(stuck.update.events));
  const back = stuck.update.events.find((e) => e.status === 'ROLLING_BACK');
  assert.match(back?.message ?? '', /not running and healthy within progressDeadlineSecs 8/);
  assert.ok((back?.at ?? 0) - started >= 8000, 'not before the deadline');
  const job = await waitRunning(client, KEY, { until: healthy, what: 'both instances healthy on version 1' });
  assert.deepEqual(job.instances.map((i) => i.version), [1, 1]);
});

test('steering: a canary waits for promote, pause and resume keep it waiting, abort stops where it is, rollback restores; a drain meanwhile stays within maxUnavailable', async (t) => {
  const c = cell(t);
  const master = await c.startMaster({ agentTimeoutSecs: 10 });
  await c.startAgent(master, { hostname: 'host-a' });
  await c.startAgent(master, { hostname: 'host-b' });
  await c.waitForAgents(2);
  const client = c.client();
  const settings = { instances: 4, update: { batchSize: 1, maxUnavailable: 1, watchSecs: 2, progressDeadlineSecs: 60, canary: 1 } };
  await client.createJob(yamlOf(config('exec sleep 3601', settings)), YAML);
  await waitRunning(client, KEY, { what: 'four healthy instances', until: healthy });

  await startUpdate(client, config('exec sleep 3602', settings));
  const canary = await waitFor(() => client.request<UpdateView>('GET', `${PATH}/update`), { what: 'the canary to be updated', until: (u) => u.status === 'AWAITING_PROMOTION', timeoutMs: 60_000 });
  assert.deepEqual(canary.canaries, [0]);
  assert.deepEqual(Object.values(canary.versions), [2, 1, 1, 1]);
  await assert.rejects(() => client.request('POST', `${PATH}/update/resume`), /only a paused update can be resumed/);
  assert.equal((await client.request<UpdateView>('POST', `${PATH}/update/pause`)).status, 'ROLL_FORWARD_PAUSED');
  // Resumed, it finds its canary done and waits again at once: the answer may show either.
  assert.match((await client.request<UpdateView>('POST', `${PATH}/update/resume`)).status, /^(ROLLING_FORWARD|AWAITING_PROMOTION)$/);
  await waitFor(() => client.request<UpdateView>('GET', `${PATH}/update`), { what: 'it to wait for promotion again', until: (u) => u.status === 'AWAITING_PROMOTION' });
  assert.equal((await client.request<UpdateView>('POST', `${PATH}/update/promote`)).status, 'ROLLING_FORWARD');

  // A drain of host-a while the update rolls: together they never take more than one instance down.
  let maxDown = 0;
  let drained = false;
  const aborted = await waitFor(
    async () => {
      const [u, job] = await Promise.all([client.request<UpdateView>('GET', `${PATH}/update`), client.getJob(KEY)]);
      maxDown = Math.max(maxDown, down(job));
      if (!drained) {
        drained = true;
        await client.drainHosts(['host-a']);
      }
      return u;
    },
    { what: 'instance 1 to be updated', timeoutMs: 90_000, intervalMs: 100, until: (u) => u.instances.find((i) => i.instance === 1)?.status === 'SUCCEEDED' },
  );
  assert.equal(aborted.status, 'ROLLING_FORWARD');
  assert.ok(maxDown <= 1, `the drain and the update together kept to maxUnavailable 1; saw ${maxDown} down`);

  const stopped = await client.request<UpdateView>('POST', `${PATH}/update/abort`);
  assert.equal(stopped.status, 'ABORTED');
  const mixed = await client.getJob(KEY);
  assert.equal(mixed.version, 1, 'abort leaves the job on its old config');
  // Instance 2 was in flight (its old task may still be ending), instance 3 not yet taken.
  const versions = mixed.instances.map((i) => i.version);
  assert.deepEqual([versions[0], versions[1], versions[3]], [2, 2, 1], `and the instances on the versions they run: ${versions.join(',')}`);
  await assert.rejects(() => client.request('POST', `${PATH}/update/pause`), /no active update/);

  const rolling = await client.request<UpdateView>('POST', `${PATH}/update/rollback`);
  assert.equal(rolling.status, 'ROLLING_BACK');
  const { update } = await waitEnded(client);
  assert.equal(update.status, 'ROLLED_BACK', JSON.stringify(update.events));
  assert.deepEqual(Object.values(update.versions), [1, 1, 1, 1]);
  const job = await waitRunning(client, KEY, { until: (j) => healthy(j) && j.instances.every((i) => i.task?.hostname === 'host-b') });
  assert.deepEqual(job.instances.map((i) => i.version), [1, 1, 1, 1]);
  await client.activateHosts(['host-a']);
});
