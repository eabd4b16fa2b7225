import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateJobSpec, type JobSpec } from '../../core/index.js';
import { apply } from './apply.js';
import type { Event, RoleQuota } from './events.js';
import { amountText, apiAmount, checkQuota, jobQuotaUsage, quotaUsageByRole, roleOf, roleQuotaUsage, specQuotaUsage } from './quota.js';
import { deserializeState, emptyState, serializeState, type CellState } from './state.js';

function spec(job: string, over: Record<string, unknown> = {}): JobSpec {
  return validateJobSpec({
    job,
    kind: 'service',
    instances: 2,
    resources: { cpus: 1.5, mem: '1GiB', disk: '2GiB', gpus: 1 },
    processes: [{ name: 'main', cmd: 'sleep 100' }],
    ...over,
  });
}

const created = (s: JobSpec, at = 1): Event => ({ type: 'JobCreated', at, spec: s });
const quotaSet = (role: string, quota?: RoleQuota, at = 1): Event =>
  quota === undefined ? { type: 'QuotaSet', at, role } : { type: 'QuotaSet', at, role, quota };

function stateOf(...events: Event[]): CellState {
  const s = emptyState();
  for (const e of events) apply(s, e);
  return s;
}

test('apply() of QuotaSet sets a role quota, replaces it, and removes it when the event has none', () => {
  const s = stateOf(quotaSet('web', { cpusMilli: 8000, memMiB: 16384 }, 5));
  assert.deepEqual(s.quotas.get('web'), { role: 'web', quota: { cpusMilli: 8000, memMiB: 16384 }, setAt: 5 });
  apply(s, quotaSet('web', { gpus: 2 }, 6));
  assert.deepEqual(s.quotas.get('web'), { role: 'web', quota: { gpus: 2 }, setAt: 6 }, 'the new quota replaces the old one whole');
  apply(s, quotaSet('web', undefined, 7));
  assert.equal(s.quotas.has('web'), false);
  apply(s, quotaSet('nobody', undefined, 8));
  assert.equal(s.quotas.size, 0, 'removing a quota that is not there changes nothing');
});

test('apply() of QuotaSet keeps its own copy of the quota, not the event object', () => {
  const quota: RoleQuota = { cpusMilli: 1000 };
  const s = stateOf(quotaSet('web', quota));
  quota.cpusMilli = 5;
  assert.equal(s.quotas.get('web')?.quota.cpusMilli, 1000);
});

test('a snapshot holds the quotas and loads them back', () => {
  const s = stateOf(quotaSet('web', { cpusMilli: 8000, diskMiB: 100 * 1024 }, 3), quotaSet('batch', { gpus: 0 }, 4));
  const back = deserializeState(serializeState(s));
  assert.deepEqual([...back.quotas.entries()], [...s.quotas.entries()]);
  assert.equal(serializeState(back), serializeState(s));
});

test('a snapshot written before quotas existed loads with no quota set', () => {
  const old = JSON.stringify({ version: 1, agents: [], jobs: [], tasks: [] });
  const s = deserializeState(old);
  assert.equal(s.quotas.size, 0);
});

test('roleOf() is the first part of a job key', () => {
  assert.equal(roleOf('web/prod/hello'), 'web');
});

test('specQuotaUsage() is instances times the per-task request, and nothing for other tiers', () => {
  assert.deepEqual(specQuotaUsage(spec('web/prod/a')), { cpusMilli: 3000, memMiB: 2048, diskMiB: 4096, gpus: 2 });
  assert.deepEqual(specQuotaUsage(spec('web/prod/a', { tier: 'preemptible' })), { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0 });
  assert.deepEqual(specQuotaUsage(spec('web/prod/a', { tier: 'revocable' })), { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0 });
});

test('roleQuotaUsage() counts the live instances of active preferred-tier jobs of the role only', () => {
  const s = stateOf(
    created(spec('web/prod/a')),
    created(spec('web/prod/b', { instances: 1, resources: { cpus: 0.25, mem: 64 } })),
    created(spec('web/prod/cheap', { tier: 'preemptible', instances: 10 })),
    created(spec('db/prod/a', { instances: 3 })),
  );
  assert.deepEqual(roleQuotaUsage(s, 'web'), { cpusMilli: 3250, memMiB: 2112, diskMiB: 4096, gpus: 2 });
  assert.deepEqual(roleQuotaUsage(s, 'db'), { cpusMilli: 4500, memMiB: 3072, diskMiB: 6144, gpus: 3 });
  assert.deepEqual(roleQuotaUsage(s, 'none'), { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0 });
  const byRole = quotaUsageByRole(s);
  assert.deepEqual(byRole.get('web'), roleQuotaUsage(s, 'web'));
  assert.deepEqual(byRole.get('db'), roleQuotaUsage(s, 'db'));
  assert.equal(byRole.size, 2);
});

test('an instance that was killed stops counting, and a killed job counts nothing', () => {
  const s = stateOf(created(spec('web/prod/a', { instances: 3 })));
  apply(s, { type: 'KillRequested', at: 2, job: 'web/prod/a', instances: [0], restart: false, wholeJob: false, reason: 'REASON_KILLED_BY_USER' });
  assert.equal(roleQuotaUsage(s, 'web').cpusMilli, 3000, 'two of three instances are left');
  apply(s, { type: 'KillRequested', at: 3, job: 'web/prod/a', instances: [0, 1, 2], restart: false, wholeJob: true, reason: 'REASON_KILLED_BY_USER' });
  assert.equal(roleQuotaUsage(s, 'web').cpusMilli, 0);
});

test('checkQuota() lets any job through for a role without a quota', () => {
  const s = stateOf(created(spec('web/prod/a', { instances: 100 })));
  assert.equal(checkQuota(s, spec('web/prod/b', { instances: 1000 })), undefined);
});

test('checkQuota() refuses a job past the quota with the figures of the resource short', () => {
  const s = stateOf(
    quotaSet('web', { cpusMilli: 8000, memMiB: 16 * 1024 }),
    created(spec('web/prod/a', { instances: 4 })), // 6 cpus, 4GiB
  );
  const refusal = checkQuota(s, spec('web/prod/b', { instances: 2 })); // 3 cpus more
  assert.ok(refusal !== undefined);
  assert.equal(refusal.role, 'web');
  assert.deepEqual(refusal.shortfalls, [{ resource: 'cpus', quota: 8000, used: 6000, needs: 3000 }]);
  assert.equal(refusal.message, 'role "web" has 2 cpus of quota left, the job needs 3 (quota 8 cpus, used 6)');
});

test('checkQuota() lets a job through that exactly fills the quota', () => {
  const s = stateOf(quotaSet('web', { cpusMilli: 6000, gpus: 4 }), created(spec('web/prod/a', { instances: 2 })));
  assert.equal(checkQuota(s, spec('web/prod/b', { instances: 2 })), undefined);
});

test('checkQuota() names every resource short, sizes in exact units', () => {
  const s = stateOf(quotaSet('web', { memMiB: 1536, gpus: 1 }));
  const refusal = checkQuota(s, spec('web/prod/b'));
  assert.deepEqual(
    refusal?.shortfalls.map((x) => x.resource),
    ['mem', 'gpus'],
  );
  assert.equal(
    refusal?.message,
    'role "web" has 1536MiB mem of quota left, the job needs 2GiB (quota 1536MiB mem, used 0MiB); and 1 gpus left, the job needs 2 (quota 1 gpus, used 0)',
  );
});

test('checkQuota() does not count preemptible or revocable jobs, new or old', () => {
  const s = stateOf(quotaSet('web', { cpusMilli: 1000 }), created(spec('web/prod/cheap', { tier: 'preemptible', instances: 50 })));
  assert.equal(checkQuota(s, spec('web/prod/more', { tier: 'revocable', instances: 50 })), undefined);
  assert.equal(checkQuota(s, spec('web/prod/small', { instances: 1, resources: { cpus: 1, mem: 1 } })), undefined);
});

test('checkQuota() with a quota of 0 refuses any job that asks for that resource, and lets others through', () => {
  const s = stateOf(quotaSet('web', { gpus: 0 }));
  assert.equal(checkQuota(s, spec('web/prod/gpu'))?.shortfalls[0]?.resource, 'gpus');
  assert.equal(checkQuota(s, spec('web/prod/cpu', { resources: { cpus: 1, mem: 1 } })), undefined);
});

test('checkQuota() says a role has nothing left when its quota was lowered below what it holds', () => {
  const s = stateOf(created(spec('web/prod/a', { instances: 4 })), quotaSet('web', { cpusMilli: 2000 }));
  assert.equal(checkQuota(s, spec('web/prod/b', { instances: 1 }))?.message, 'role "web" has 0 cpus of quota left, the job needs 1.5 (quota 2 cpus, used 6)');
});

test('checkQuota() counts a job that replaces an active one of the same key as the new one less the old', () => {
  const s = stateOf(quotaSet('web', { cpusMilli: 4000 }), created(spec('web/prod/a', { instances: 2 }))); // 3 of 4 cpus
  assert.equal(checkQuota(s, spec('web/prod/a', { instances: 2 })), undefined, 'the same job again needs nothing more');
  assert.equal(checkQuota(s, spec('web/prod/a', { instances: 1 })), undefined, 'a smaller job fits');
  const grown = checkQuota(s, spec('web/prod/a', { instances: 3 }));
  assert.deepEqual(grown?.shortfalls, [{ resource: 'cpus', quota: 4000, used: 3000, needs: 1500 }]);
  assert.match(grown?.message ?? '', /needs 1\.5 more than the job it replaces/);
});

test('checkQuota() lets a replacing job shrink even in a role over its quota', () => {
  const s = stateOf(created(spec('web/prod/a', { instances: 4 })), quotaSet('web', { cpusMilli: 1000 }));
  assert.equal(checkQuota(s, spec('web/prod/a', { instances: 2 })), undefined);
});

test('jobQuotaUsage() of an ended job is nothing', () => {
  const s = stateOf(created(spec('web/prod/a', { kind: 'batch', instances: 1 })));
  const job = s.jobs.get('web/prod/a');
  assert.ok(job !== undefined);
  assert.equal(jobQuotaUsage(job).cpusMilli, 1500);
  job.state = 'FINISHED';
  assert.equal(jobQuotaUsage(job).cpusMilli, 0);
});

test('amountText() writes sizes exactly in the largest unit that holds them', () => {
  assert.equal(amountText('mem', 16 * 1024), '16GiB');
  assert.equal(amountText('mem', 1500), '1500MiB');
  assert.equal(amountText('disk', 2 * 1024 * 1024), '2TiB');
  assert.equal(amountText('disk', 0), '0MiB');
  assert.equal(amountText('cpus', 250), '0.25');
  assert.equal(amountText('gpus', 3), '3');
});

/** shares is a job of n tasks that each hold a share of one GPU, the rest of its request small. */
const shares = (job: string, n: number, gpus: number): JobSpec => spec(job, { instances: n, resources: { cpus: 0.1, mem: 1, gpus } });

test('GPU shares add up exactly in what a role holds against its quota', () => {
  const s = stateOf(created(shares('ml/prod/a', 3, 0.1)), created(shares('ml/prod/b', 10, 0.1)), created(shares('ml/prod/c', 1, 0.2)));
  assert.equal(roleQuotaUsage(s, 'ml').gpus, 1.5);
  assert.equal(quotaUsageByRole(s).get('ml')?.gpus, 1.5);
  assert.equal(specQuotaUsage(shares('ml/prod/d', 3, 0.1)).gpus, 0.3, 'three tenths are three tenths, not 0.30000000000000004');
});

test('checkQuota() lets GPU shares fill a fractional quota exactly, and refuses one milli more', () => {
  const s = stateOf(quotaSet('ml', { gpus: 1.5 }), created(shares('ml/prod/a', 12, 0.1)));
  assert.equal(checkQuota(s, shares('ml/prod/b', 3, 0.1)), undefined, '1.2 + 0.3 is exactly the quota of 1.5');
  const refusal = checkQuota(s, shares('ml/prod/b', 3, 0.101));
  assert.deepEqual(refusal?.shortfalls, [{ resource: 'gpus', quota: 1.5, used: 1.2, needs: 0.303 }]);
  assert.equal(refusal?.message, 'role "ml" has 0.3 gpus of quota left, the job needs 0.303 (quota 1.5 gpus, used 1.2)');
});

test('checkQuota() counts GPU shares a replacing job adds beyond the old one, without drift', () => {
  const s = stateOf(quotaSet('ml', { gpus: 0.5 }), created(shares('ml/prod/a', 3, 0.1)));
  assert.equal(checkQuota(s, shares('ml/prod/a', 5, 0.1)), undefined, '0.3 held, 0.2 more, 0.5 in all');
  assert.deepEqual(checkQuota(s, shares('ml/prod/a', 6, 0.1))?.shortfalls, [{ resource: 'gpus', quota: 0.5, used: 0.3, needs: 0.3 }]);
});

test('amountText() and apiAmount() write GPU shares as milli-precise decimals', () => {
  assert.equal(amountText('gpus', 0.1 + 0.2), '0.3');
  assert.equal(amountText('gpus', 1.5), '1.5');
  assert.equal(apiAmount('gpus', 1.5 - 1.2), 0.3);
  assert.equal(apiAmount('cpus', 1500), 1.5);
  assert.equal(apiAmount('mem', 2048), 2048);
});
