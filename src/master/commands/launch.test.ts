import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateJobSpec, type Resources } from '../../core/index.js';
import type { Offer } from '../../scheduler/index.js';
import { apply, emptyState, type LaunchedTask } from '../state/index.js';
import { checkOffers, launchEvents, type Launch } from './launch.js';

const R = (cpusMilli: number, memMiB: number, ports: { begin: number; end: number }[] = [], gpus = 0): Resources => ({ cpusMilli, memMiB, diskMiB: 0, gpus, ports });
const offer = (agentId: string, resources: Resources, frameworkId = 'muster'): Offer => ({ offerId: `O-${agentId}`, frameworkId, agentId, hostname: agentId, attributes: {}, resources });
const task = (taskId: string, agentId: string, resources: Resources, ports: Record<string, number> = {}, instance = 0): LaunchedTask => ({ taskId, job: 'web/prod/a', instance, agentId, resources, ports });

void test('checkOffers takes launches that fit their offer together, and refuses the rest with the reason', () => {
  const offers = new Map([['a1', offer('a1', R(2000, 2048, [{ begin: 31000, end: 31001 }]))]]);
  const launches: Launch[] = [
    { offerId: 'O-a1', task: task('t1', 'a1', R(1000, 1024), { http: 31000 }) },
    { offerId: 'O-a1', task: task('t2', 'a1', R(1000, 1024), { http: 31000 }) },
    { offerId: 'O-a1', task: task('t3', 'a1', R(1000, 1024), { http: 31005 }) },
    { offerId: 'O-a1', task: task('t4', 'a1', R(1000, 1024), { http: 31001 }) },
    { offerId: 'O-a1', task: task('t5', 'a1', R(500, 10)) },
    { offerId: 'O-old', task: task('t6', 'a1', R(1, 1)) },
    { offerId: 'O-a2', task: task('t7', 'a2', R(1, 1)) },
  ];
  const { accepted, refused } = checkOffers('muster', launches, (id) => offers.get(id));
  assert.deepEqual(accepted.map((l) => l.task.taskId), ['t1', 't4']);
  assert.deepEqual(
    refused.map((r) => [r.taskId, r.reason]),
    [
      ['t2', 'offer O-a1: port 31000 is taken by another task on the same offer'],
      ['t3', 'offer O-a1: port 31005 is not in the offered ranges'],
      ['t5', 'offer O-a1: cpus 2.5 exceed the 2 offered'],
      ['t6', 'offer O-old on agent a1 is not outstanding to framework muster'],
      ['t7', 'offer O-a2 on agent a2 is not outstanding to framework muster'],
    ],
  );
});

void test("checkOffers refuses another framework's offer, and lets revocable tasks take cpus and mem from slack", () => {
  const offers = new Map([['a1', offer('a1', R(1000, 1024, [], 1), 'other')]]);
  assert.equal(checkOffers('muster', [{ offerId: 'O-a1', task: task('t1', 'a1', R(1, 1)) }], (id) => offers.get(id)).refused.length, 1);
  const mine = new Map([['a1', offer('a1', R(1000, 1024, [], 1))]]);
  const revocable = { ...task('t2', 'a1', R(4000, 4096)), revocable: true };
  const gpuTooMany = task('t3', 'a1', R(0, 0, [], 2));
  const { accepted, refused } = checkOffers('muster', [{ offerId: 'O-a1', task: revocable }, { offerId: 'O-a1', task: gpuTooMany }], (id) => mine.get(id));
  assert.deepEqual(accepted.map((l) => l.task.taskId), ['t2']);
  assert.deepEqual(refused.map((r) => r.reason), ['offer O-a1: gpus 2 exceed the 1 offered']);
});

void test('launchEvents launches only instances still pending on reachable agents, once', () => {
  const s = emptyState();
  apply(s, { type: 'AgentRegistered', at: 0, agent: { agentId: 'a1', hostname: 'a1', address: '127.0.0.1', port: 5051, resources: R(4000, 4096), attributes: {}, version: 't' } });
  apply(s, { type: 'JobCreated', at: 1, spec: validateJobSpec({ job: 'web/prod/a', instances: 2, resources: { cpus: 1, mem: 256 }, processes: [{ name: 'main', cmd: 'sleep 1' }] }) });
  const first = launchEvents(s, 2, { launches: [{ offerId: 'O', task: task('t1', 'a1', R(1000, 256)) }], preemptions: [], reclaimed: [] });
  assert.equal(first.launched.length, 1);
  for (const e of first.events) apply(s, e);
  // The same instance again (a second answer to a stale state), an unknown agent: nothing.
  const again = launchEvents(s, 3, {
    launches: [
      { offerId: 'O', task: task('t2', 'a1', R(1000, 256)) },
      { offerId: 'O', task: task('t3', 'gone', R(1000, 256), {}, 1) },
    ],
    preemptions: [],
    reclaimed: [],
  });
  assert.deepEqual(again.events, []);
  assert.equal(again.launched.length, 0);
});
