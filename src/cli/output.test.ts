// The readable forms of why instances are pending: grouped by identical reasons in job status and
// job plan, with the nearest agent and the changes that would fit.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobPlanView, WhyPendingView } from '../protocol/index.js';
import { planLines } from './job.js';
import { gpuShares, pendingLines } from './output.js';

const MEM: WhyPendingView = {
  summary: 'no agent fits: insufficient mem on 7 agents (needs 4GiB, most free 1GiB)',
  filters: [{ filter: 'mem', detail: 'needs 4GiB, most free 1GiB', agents: 7 }],
  nearest: { agentId: 'agent-a', hostname: 'box-a', lacks: '0.5 cpus' },
  changes: ['ask for at most 1.5 cpus (fits 3 agents)', 'drop the constraint rack: r1 (fits 4 agents)'],
};

test('pendingLines groups instances with the same reason into one answer with its nearest agent and changes', () => {
  const items = [
    ...[3, 4, 5, 6, 7, 8, 9].map((instance) => ({ instance, reason: MEM.summary, why: MEM })),
    { instance: 1, reason: 'restart backoff: waits 3s more after 2 quick failures in a row' },
  ];
  assert.deepEqual(pendingLines(items), [
    'instance 1 pending: restart backoff: waits 3s more after 2 quick failures in a row',
    'instances 3-9 pending: no agent fits: insufficient mem on 7 agents (needs 4GiB, most free 1GiB)',
    '  nearest: box-a lacks 0.5 cpus',
    '  would fit with: ask for at most 1.5 cpus (fits 3 agents); drop the constraint rack: r1 (fits 4 agents)',
  ]);
});

test('pendingLines keeps apart instances whose reasons differ, and prints nothing for none', () => {
  const other: WhyPendingView = { summary: 'no agent fits: rack is not r1 on 2 agents', filters: [], changes: [] };
  const lines = pendingLines([
    { instance: 0, reason: MEM.summary, why: MEM },
    { instance: 2, reason: other.summary, why: other },
    { instance: 1, reason: MEM.summary, why: MEM },
  ]);
  assert.equal(lines[0], `instances 0-1 pending: ${MEM.summary}`);
  assert.equal(lines[3], `instance 2 pending: ${other.summary}`);
  assert.deepEqual(pendingLines([]), []);
});

test('gpuShares writes whole devices by index and shares as fractions', () => {
  assert.equal(gpuShares([]), '-');
  assert.equal(
    gpuShares([
      { device: 0, milli: 1000 },
      { device: 2, milli: 250 },
    ]),
    '0,2:0.25',
  );
});

test('planLines counts the outcomes, then lists placements, preemptions, pending reasons and a quota refusal', () => {
  const plan: JobPlanView = {
    job: 'web/prod/hello',
    existing: false,
    placements: [{ instance: 0, agentId: 'agent-1', hostname: 'box1', ports: { http: 31000 }, gpus: [], revocable: false }],
    preemptions: [{ instance: 1, agentId: 'agent-2', hostname: 'box2', victims: [{ taskId: 't1', job: 'batch/dev/crunch', instance: 4 }] }],
    pending: [{ instance: 2, reason: MEM.summary, why: MEM }],
    quota: 'cannot create job web/prod/hello: role "web" has 0 cpus of quota left',
  };
  assert.deepEqual(planLines(plan), [
    'web/prod/hello: 1 placed, 1 preempting, 1 pending',
    'INSTANCE  AGENT    HOST  PORTS       GPUS',
    '0         agent-1  box1  http=31000  -',
    'instance 1 would preempt on box2: batch/dev/crunch/4',
    `instance 2 pending: ${MEM.summary}`,
    '  nearest: box-a lacks 0.5 cpus',
    '  would fit with: ask for at most 1.5 cpus (fits 3 agents); drop the constraint rack: r1 (fits 4 agents)',
    'quota: cannot create job web/prod/hello: role "web" has 0 cpus of quota left',
  ]);
});
