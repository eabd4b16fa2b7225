// The task table's launch queue: a storm of LAUNCHes is set up a few at a time, in order, the rest
// waiting as TASK_STAGING; a task killed while it waits ends there, never set up. The containerizer
// is a stand-in that counts set-ups in progress (the real one is tested in containerizer.test.ts).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../log/index.js';
import type { TaskStatus } from '../protocol/index.js';
import { taskInfo } from '../../test/fixtures.js';
import type { Containerizer, Termination } from './containerizers/index.js';
import { StatusUpdates } from './statusupdates.js';
import { Tasks } from './tasks.js';

/** SlowContainerizer's launches finish when the test says; its tasks end when the test says. */
class SlowContainerizer implements Containerizer {
  active = 0;
  most = 0;
  readonly started: string[] = [];
  private readonly launchDone = new Map<string, () => void>();
  private readonly ends = new Map<string, (t: Termination) => void>();
  private readonly waits = new Map<string, Promise<Termination>>();

  launch(spec: { task: { taskId: string } }): Promise<void> {
    const id = spec.task.taskId;
    this.started.push(id);
    this.active++;
    this.most = Math.max(this.most, this.active);
    this.waits.set(id, new Promise((resolve) => this.ends.set(id, resolve)));
    return new Promise((resolve) =>
      this.launchDone.set(id, () => {
        this.active--;
        resolve();
      }),
    );
  }
  finishLaunches(): void {
    for (const [id, done] of this.launchDone) {
      this.launchDone.delete(id);
      done();
    }
  }
  end(id: string): void {
    this.ends.get(id)?.({});
  }
  wait(id: string): Promise<Termination> {
    return this.waits.get(id) ?? Promise.resolve({});
  }
  kill(): void {}
  recover(): Promise<never[]> {
    return Promise.resolve([]);
  }
  usage(): undefined {
    return undefined;
  }
  memoryLimitation(): undefined {
    return undefined;
  }
  exec(): never {
    throw new Error('no exec');
  }
  pid(): undefined {
    return undefined;
  }
  destroy(): Promise<void> {
    return Promise.resolve();
  }
  detach(): void {}
}

async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

void test('a storm of launches is set up a few at a time, in order; the rest wait as TASK_STAGING, and a task killed while it waits is never set up', async (t) => {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'muster-tasks-'));
  t.after(() => rmSync(workDir, { recursive: true, force: true }));
  const sent: TaskStatus[] = [];
  const updates = new StatusUpdates({ send: (s) => (sent.push(s), Promise.resolve()), onAcknowledged: () => undefined, logger: silentLogger });
  t.after(() => updates.close());
  const containerizer = new SlowContainerizer();
  const tasks = new Tasks({ workDir, host: 'h', ports: [], containerizer, updates, logger: silentLogger, launchConcurrency: 3 });
  const ids = Array.from({ length: 10 }, (_, i) => `storm-${i}`);
  for (const id of ids) tasks.launch(taskInfo({ taskId: id, resources: { cpus: 0.01, mem: 1, disk: 0, gpus: 0, ports: '' }, ports: {} }));

  assert.deepEqual(containerizer.started, ids.slice(0, 3), 'three set up at once, the first three');
  assert.equal(tasks.queuedLaunches, 7);
  const states = (): Map<string, string> => new Map(tasks.running().map((r) => [r.taskId, r.state]));
  assert.equal(states().get('storm-0'), 'TASK_STARTING', 'one being set up says so');
  assert.equal(states().get('storm-9'), 'TASK_STAGING', 'one waiting is staging');
  assert.equal(sent.filter((s) => s.taskId === 'storm-9').length, 0, 'and has sent nothing yet');

  tasks.kill('storm-9', { graceSecs: 0 });
  assert.equal(states().get('storm-9'), 'TASK_KILLED');
  assert.equal(sent.find((s) => s.taskId === 'storm-9')?.reason, 'REASON_TASK_KILLED_DURING_LAUNCH');

  for (let round = 0; round < 4; round++) {
    containerizer.finishLaunches();
    await until('the next set-ups to start', () => containerizer.active > 0 || tasks.queuedLaunches === 0);
  }
  containerizer.finishLaunches();
  await until('every launch to run', () => ids.slice(0, 9).every((id) => states().get(id) === 'TASK_RUNNING'));
  assert.deepEqual(containerizer.started, ids.slice(0, 9), 'in order, and the killed one never');
  assert.equal(containerizer.most, 3, 'never more than three at once');
  for (const id of ids.slice(0, 9)) containerizer.end(id);
  await until('every task to end', () => ids.slice(0, 9).every((id) => states().get(id) === 'TASK_FINISHED'));
});
