// planJob on cell states built from events: where a job would land, what a replacement frees, what
// the quota would refuse, and that the state is left as it was.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateJobSpec, type JobSpec } from '../../core/index.js';
import { DEFAULT_PLACEMENT_OPTIONS } from '../../scheduler/index.js';
import { NO_SLACK } from '../jobs/index.js';
import { apply, emptyState, serializeState, type CellState } from '../state/index.js';
import { planJob, type PlanContext } from './plan.js';

const NOW = 1_000_000;

const ctx: PlanContext = { now: NOW, options: DEFAULT_PLACEMENT_OPTIONS, slackOf: () => NO_SLACK, isConnected: () => true };

function spec(job: string, overrides: Record<string, unknown> = {}): JobSpec {
  return validateJobSpec({
    job,
    kind: 'service',
    instances: 1,
    resources: { cpus: 1, mem: '1GiB', disk: '0MiB', ports: [] },
    processes: [{ name: 'main', cmd: 'sleep 3600' }],
    ...overrides,
  });
}

/** cellOf is a state with one agent per entry: id agent-N, host boxN, cpus and mem as given. */
function cellOf(agents: { cpus: number; memMiB: number; attributes?: Record<string, string> }[]): CellState {
  const state = emptyState();
  agents.forEach((a, i) =>
    apply(state, {
      type: 'AgentRegistered',
      at: NOW,
      agent: {
        agentId: `agent-${i}`,
        hostname: `box${i}`,
        address: `10.0.0.${i}`,
        port: 5051,
        resources: { cpusMilli: a.cpus * 1000, memMiB: a.memMiB, diskMiB: 10_000, gpus: 0, ports: [{ begin: 31000, end: 32000 }] },
        attributes: a.attributes ?? {},
        version: '0.1.0',
      },
    }),
  );
  return state;
}

/** running creates the job and launches each instance on the agent given. */
function running(state: CellState, s: JobSpec, agentIds: string[]): void {
  apply(state, { type: 'JobCreated', at: NOW, spec: s });
  apply(state, {
    type: 'TasksLaunched',
    at: NOW,
    tasks: agentIds.map((agentId, instance) => ({
      taskId: `${s.job.replaceAll('/', '-')}-${instance}-x`,
      job: s.job,
      instance,
      agentId,
      resources: { cpusMilli: s.resources.cpus * 1000, memMiB: s.resources.mem, diskMiB: 0, gpus: 0, ports: [] },
      ports: {},
    })),
  });
}

test('planJob places a job that fits on the agent, and changes nothing', () => {
  const state = cellOf([{ cpus: 4, memMiB: 4096 }]);
  const before = serializeState(state);
  const plan = planJob(state, spec('web/prod/hello', { instances: 2 }), ctx);
  assert.equal(plan.existing, false);
  assert.deepEqual(
    plan.placements.map((p) => [p.instance, p.agentId, p.hostname]),
    [
      [0, 'agent-0', 'box0'],
      [1, 'agent-0', 'box0'],
    ],
  );
  assert.deepEqual(plan.pending, []);
  assert.equal(serializeState(state), before);
});

test('planJob reports an instance too big for any agent as pending, with the reason and a change that would fit', () => {
  const state = cellOf([{ cpus: 4, memMiB: 2048 }]);
  const plan = planJob(state, spec('web/prod/big', { resources: { cpus: 1, mem: '4GiB', ports: [] } }), ctx);
  assert.deepEqual(plan.placements, []);
  assert.equal(plan.pending.length, 1);
  const p = plan.pending[0];
  assert.match(p?.reason ?? '', /insufficient mem/);
  assert.ok((p?.why.changes.length ?? 0) > 0, `a change is suggested: ${JSON.stringify(p?.why)}`);
});

test('planJob plans an existing job as its replacement: what its tasks hold counts as free', () => {
  const state = cellOf([{ cpus: 2, memMiB: 4096 }]);
  const hello = spec('web/prod/hello', { instances: 2 });
  running(state, hello, ['agent-0', 'agent-0']);
  const plan = planJob(state, hello, ctx);
  assert.equal(plan.existing, true);
  assert.equal(plan.placements.length, 2, JSON.stringify(plan));
  // Another job of the same size finds the agent full.
  const other = planJob(state, spec('web/prod/other'), ctx);
  assert.equal(other.placements.length, 0);
  assert.match(other.pending[0]?.reason ?? '', /cpus/);
});

test('planJob says when the role quota would refuse the job, in the words of job create', () => {
  const state = cellOf([{ cpus: 4, memMiB: 4096 }]);
  apply(state, { type: 'QuotaSet', at: NOW, role: 'web', quota: { cpusMilli: 500 } });
  const plan = planJob(state, spec('web/prod/hello'), ctx);
  assert.match(plan.quota ?? '', /^cannot create job web\/prod\/hello: role "web" has 0\.5 cpus of quota left/);
});

test('planJob puts a preferred job ahead of pending preemptible ones, which then get what is left', () => {
  const state = cellOf([{ cpus: 1, memMiB: 4096 }]);
  apply(state, { type: 'JobCreated', at: NOW - 1000, spec: spec('batch/dev/low', { tier: 'preemptible' }) });
  const plan = planJob(state, spec('web/prod/hello'), ctx);
  assert.equal(plan.placements.length, 1, JSON.stringify(plan));
});
