// Cron schedules with a fixed clock: parsing and its refusals, the next fire times, daylight
// saving in two zones (spring-forward and fall-back days), owed times, and the job config's checks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FireMemo, minIntervalMs, nextFireAfter, nextFires, owedFires, scheduleProblem } from './cron.js';
import { validateJobSpec } from './jobspec.js';
import { MusterError } from './errors.js';

const iso = (ms: number[]): string[] => ms.map((t) => new Date(t).toISOString());
const at = (s: string): number => Date.parse(s);

test('a schedule in 5 fields, with a seconds field, or as a macro fires at the times it says', () => {
  assert.deepEqual(iso(nextFires('*/15 * * * *', 'UTC', at('2026-01-01T00:07:00Z'), 3)), ['2026-01-01T00:15:00.000Z', '2026-01-01T00:30:00.000Z', '2026-01-01T00:45:00.000Z']);
  assert.deepEqual(iso(nextFires('*/2 * * * * *', 'UTC', at('2026-01-01T00:00:00Z'), 2)), ['2026-01-01T00:00:02.000Z', '2026-01-01T00:00:04.000Z']);
  assert.deepEqual(iso(nextFires('@hourly', 'UTC', at('2026-01-01T00:30:00Z'), 2)), ['2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z']);
  assert.deepEqual(iso(nextFires('@daily', 'Europe/Berlin', at('2026-01-01T12:00:00Z'), 1)), ['2026-01-01T23:00:00.000Z']);
  // Strictly after: a time equal to the cursor is not owed again.
  assert.equal(nextFireAfter('0 * * * *', 'UTC', at('2026-01-01T01:00:00Z')), at('2026-01-01T02:00:00Z'));
});

test('scheduleProblem refuses schedules that do not parse and dates that never come', () => {
  assert.match(scheduleProblem('61 * * * *', 'UTC') ?? '', /does not parse: invalid value for minute/);
  assert.match(scheduleProblem('* * * *', 'UTC') ?? '', /does not parse/);
  assert.match(scheduleProblem('0 0 30 2 *', 'UTC') ?? '', /never fires: no date matches it/);
  assert.match(scheduleProblem('   ', 'UTC') ?? '', /is empty/);
  assert.equal(scheduleProblem('0 0 29 2 *', 'UTC'), undefined, '29 February comes every 4 years');
  assert.equal(scheduleProblem('@weekly', 'America/New_York'), undefined);
});

test('a fixed-time job on a spring-forward day runs once, at the first valid time after the gap (two zones)', () => {
  // America/New_York: 2026-03-08 02:00 EST → 03:00 EDT. 02:30 does not exist: it runs at 03:00 EDT (07:00Z).
  assert.deepEqual(iso(nextFires('30 2 * * *', 'America/New_York', at('2026-03-07T12:00:00Z'), 3)), [
    '2026-03-08T07:00:00.000Z',
    '2026-03-09T06:30:00.000Z',
    '2026-03-10T06:30:00.000Z',
  ]);
  // Europe/Berlin: 2026-03-29 02:00 CET → 03:00 CEST: 02:30 runs at 03:00 CEST (01:00Z).
  assert.deepEqual(iso(nextFires('30 2 * * *', 'Europe/Berlin', at('2026-03-28T12:00:00Z'), 2)), ['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
});

test('a fixed-time job on a fall-back day runs once, at the first occurrence (two zones)', () => {
  // America/New_York: 2026-11-01 02:00 EDT → 01:00 EST; 01:30 happens twice: once, at 01:30 EDT (05:30Z).
  assert.deepEqual(iso(nextFires('30 1 * * *', 'America/New_York', at('2026-10-31T12:00:00Z'), 2)), ['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']);
  // Europe/Berlin: 2026-10-25 03:00 CEST → 02:00 CET; 02:30 once, at 02:30 CEST (00:30Z).
  assert.deepEqual(iso(nextFires('30 2 * * *', 'Europe/Berlin', at('2026-10-24T12:00:00Z'), 2)), ['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
});

test('an interval job skips the times in a gap and runs at both occurrences of a repeated hour', () => {
  // Berlin's fall-back night: 02:00 and 02:30 occur twice, and each occurrence fires.
  assert.deepEqual(iso(nextFires('*/30 * * * *', 'Europe/Berlin', at('2026-10-24T23:45:00Z'), 5)), [
    '2026-10-25T00:00:00.000Z', // 02:00 CEST
    '2026-10-25T00:30:00.000Z', // 02:30 CEST
    '2026-10-25T01:00:00.000Z', // 02:00 CET
    '2026-10-25T01:30:00.000Z', // 02:30 CET
    '2026-10-25T02:00:00.000Z', // 03:00 CET
  ]);
  // New York's spring-forward night: 02:xx does not exist; hourly runs go 01:00 → 03:00 EDT.
  assert.deepEqual(iso(nextFires('0 * * * *', 'America/New_York', at('2026-03-08T05:30:00Z'), 2)), ['2026-03-08T06:00:00.000Z', '2026-03-08T07:00:00.000Z']);
});

test('owedFires counts the times between a cursor and now, and finds the latest past its bound', () => {
  const from = at('2026-01-01T00:00:00Z');
  assert.equal(owedFires('*/2 * * * * *', 'UTC', from, from + 1000), undefined);
  assert.deepEqual(owedFires('*/2 * * * * *', 'UTC', from, from + 9000), { count: 4, first: from + 2000, last: from + 8000 });
  const day = owedFires('*/2 * * * * *', 'UTC', from, from + 86_400_000 + 500, 100);
  assert.equal(day?.atLeast, true);
  assert.equal(day?.count, 100);
  assert.equal(day?.last, from + 86_400_000, 'the latest owed time, found directly');
});

test('FireMemo.owedFires answers as owedFires, a copy to each caller, and forgets a look once now moves', () => {
  const memo = new FireMemo();
  const after = Date.parse('2026-06-01T00:00:00Z');
  const now = after + 65_000;
  const a = memo.owedFires('*/20 * * * * *', 'UTC', after, now);
  const b = memo.owedFires('*/20 * * * * *', 'UTC', after, now);
  assert.deepEqual(a, owedFires('*/20 * * * * *', 'UTC', after, now));
  assert.deepEqual(a, b);
  assert.notEqual(a, b, 'two events must not share one object');
  assert.deepEqual(memo.owedFires('*/20 * * * * *', 'UTC', after, after + 90_000), owedFires('*/20 * * * * *', 'UTC', after, after + 90_000));
  assert.equal(memo.owedFires('*/20 * * * * *', 'UTC', after, after + 1000), undefined);
});

test('minIntervalMs finds the closest pair of fire times, not only the usual gap', () => {
  assert.equal(minIntervalMs('*/2 * * * * *', 'UTC', 0), 2000);
  assert.equal(minIntervalMs('0,5 0 0 * * *', 'UTC', 0), 5000);
  assert.equal(minIntervalMs('@hourly', 'UTC', 0), 3_600_000);
});

test('a cron job config: kind and block go together, bad values name the field, nothing is half read', () => {
  const base = { job: 'ops/prod/report', resources: { cpus: 0.1, mem: 16 }, processes: [{ name: 'main', cmd: 'true' }] };
  const ok = validateJobSpec({ ...base, kind: 'cron', cron: { schedule: '0 * * * *', timezone: 'Europe/Berlin' } });
  assert.equal(ok.cron?.concurrency, 'forbid');
  assert.equal(ok.cron?.startingDeadlineSecs, 300);
  const problem = (doc: object): string => {
    try {
      validateJobSpec(doc);
    } catch (e) {
      assert.ok(e instanceof MusterError);
      return `${String((e.details as { field?: string } | undefined)?.field)}: ${e.message}`;
    }
    return 'accepted';
  };
  assert.match(problem({ ...base, kind: 'cron' }), /^cron: .*a cron job needs a cron block/);
  assert.match(problem({ ...base, kind: 'batch', cron: { schedule: '@daily' } }), /^cron: .*needs kind: cron/);
  assert.match(problem({ ...base, kind: 'cron', cron: { schedule: 'every day' } }), /^cron\.schedule: .*does not parse/);
  assert.match(problem({ ...base, kind: 'cron', cron: { schedule: '0 0 30 2 *' } }), /^cron\.schedule: .*never fires/);
  assert.match(problem({ ...base, kind: 'cron', cron: { schedule: '@daily', timezone: 'Mars/Olympus' } }), /^cron\.timezone: .*IANA time zone/);
  assert.match(problem({ ...base, kind: 'cron', cron: { schedule: '@daily', concurrency: 'queue' } }), /^cron\.concurrency: .*allow, forbid, replace/);
  assert.match(problem({ ...base, kind: 'service', after: ['ops/prod/etl'] }), /^after: .*only batch and cron jobs run after others/);
  assert.match(problem({ ...base, kind: 'batch', after: ['ops/prod/report'] }), /^after\[0\]: .*cannot run after itself/);
  assert.match(problem({ ...base, job: 'ops/prod/report--3', kind: 'batch' }), /^job: .*may not end in --<number>/);
  assert.match(problem({ ...base, kind: 'batch', onParentFailure: 'run' }), /^onParentFailure: /);
});
