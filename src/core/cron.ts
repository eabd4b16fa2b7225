// Cron schedules: the `cron:` block of a job and the arithmetic of its fire times. Parsing and
// evaluation are croner's (5 fields, an optional leading seconds field, @hourly-style macros, any
// IANA zone); what is decided here is which inputs are refused and how time zones' daylight saving
// changes are treated, so that the master, the CLI and the tests agree on every fire time.
//
// Daylight saving, as croner's "no-wildcard" rule has it (Vixie cron's): a job whose second,
// minute and hour fields are fixed values (no `*`, no step), e.g. `30 2 * * *`, is a fixed-time
// job: on a spring-forward day its time, which does not exist, fires once at the first valid time
// after the gap (02:30 → 03:00 in America/New_York), and on a fall-back day its time, which occurs
// twice, fires once, at the first occurrence. Any other job is an interval job: it skips the times
// in a gap and fires at both occurrences of a repeated time (`*/30 * * * *` fires at 02:00 and
// 02:30 twice in Europe/Berlin on the last Sunday of October), as its interval says.

import { Cron } from 'croner';
import { z } from 'zod';
import { CONCURRENCY_POLICIES, CRON_DEFAULTS, isTimeZone } from './runs.js';

/** The longest schedule text: far beyond any real one, short enough that none is slow to parse. */
const MAX_SCHEDULE_LENGTH = 256;
/** How many fire times minIntervalMs looks at: enough to meet the closest pair of any real schedule within a year. */
const INTERVAL_SAMPLE = 512;

/** A cached evaluator per schedule and zone: croner parses once; a fleet of jobs shares a handful of schedules. */
const cache = new Map<string, Cron>();
const CACHE_MAX = 4096;

function cronOf(schedule: string, timezone: string): Cron {
  const key = `${timezone}\u0000${schedule}`;
  let c = cache.get(key);
  if (c === undefined) {
    c = new Cron(schedule, { paused: true, timezone, mode: '5-or-6-parts', fixedTimeRule: 'no-wildcard' });
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(key, c);
  }
  return c;
}

/**
 * scheduleProblem says why a schedule cannot be used in a zone (it does not parse, or no date
 * matches it: `0 0 30 2 *`), or undefined when it can.
 */
export function scheduleProblem(schedule: string, timezone: string): string | undefined {
  if (schedule.length > MAX_SCHEDULE_LENGTH) return `is longer than ${MAX_SCHEDULE_LENGTH} characters`;
  if (schedule.trim() === '') return 'is empty; write e.g. "*/5 * * * *" or "@hourly"';
  let c: Cron;
  try {
    c = cronOf(schedule, timezone);
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).replace(/^Cron\w*:\s*/, '');
    return `${JSON.stringify(schedule)} does not parse: ${why.charAt(0).toLowerCase()}${why.slice(1)} (5 fields "minute hour day-of-month month day-of-week", an optional leading seconds field, or @yearly, @monthly, @weekly, @daily, @hourly)`;
  }
  // From the epoch of the Gregorian 400-year cycle's start, so that a date as rare as 29 February is found.
  if (c.nextRun(new Date(Date.UTC(2000, 0, 1))) === null) return `${JSON.stringify(schedule)} never fires: no date matches it`;
  return undefined;
}

/** nextFireAfter is the first fire time strictly after `after` (ms), or undefined if there is none. */
export function nextFireAfter(schedule: string, timezone: string, after: number): number | undefined {
  const next = cronOf(schedule, timezone).nextRun(new Date(after));
  return next === null ? undefined : next.getTime();
}

/** nextFires lists the next n fire times after `after` (ms). */
export function nextFires(schedule: string, timezone: string, after: number, n: number): number[] {
  return cronOf(schedule, timezone)
    .nextRuns(n, new Date(after))
    .map((d) => d.getTime());
}

/** OwedFires are the fire times in (after, now]: how many, the first and the last. */
export interface OwedFires {
  count: number;
  first: number;
  last: number;
  /** count stopped at the bound given: there are more between first and last. */
  atLeast?: true;
}

/**
 * owedFires are the fire times after `after` up to and including `now`. It walks at most `bound`
 * of them; past that the last is found directly (croner's previousRuns), so a 2-second schedule
 * owed for a day costs no 43,200 steps.
 */
export function owedFires(schedule: string, timezone: string, after: number, now: number, bound = 1000): OwedFires | undefined {
  const c = cronOf(schedule, timezone);
  const first = c.nextRun(new Date(after));
  if (first === null || first.getTime() > now) return undefined;
  let count = 1;
  let last = first.getTime();
  while (count < bound) {
    const next = c.nextRun(new Date(last));
    if (next === null || next.getTime() > now) return { count, first: first.getTime(), last };
    last = next.getTime();
    count++;
  }
  const latest = c.previousRuns(1, new Date(now + 1))[0];
  return { count, first: first.getTime(), last: latest === undefined ? last : Math.max(last, latest.getTime()), atLeast: true };
}

/** minIntervalMs is the shortest gap between consecutive fire times over the next INTERVAL_SAMPLE of them from `from`. */
export function minIntervalMs(schedule: string, timezone: string, from: number): number {
  const times = nextFires(schedule, timezone, from, INTERVAL_SAMPLE);
  let min = Number.POSITIVE_INFINITY;
  for (let i = 1; i < times.length; i++) min = Math.min(min, (times[i] as number) - (times[i - 1] as number));
  return min;
}

/** A memo of next fire times bigger than this is dropped: it is rebuilt in one pass. */
const MEMO_MAX = 50_000;

/**
 * FireMemo remembers next fire times by schedule, zone and cursor, and the times owed at one
 * `now`: ten thousand jobs on one schedule, fired together, share one computation of each
 * (croner takes 10-50 µs for one; unshared, owedFires alone held a look at 10,000 due jobs for 0.9 s).
 */
export class FireMemo {
  private readonly next = new Map<string, number | undefined>();
  /** owedFires results for owedNow only: a controller's look asks at one `now`, the next look at another. */
  private readonly owed = new Map<string, OwedFires | undefined>();
  private owedNow: number | undefined;

  nextAfter(schedule: string, timezone: string, after: number): number | undefined {
    const key = `${after}\u0000${timezone}\u0000${schedule}`;
    if (this.next.has(key)) return this.next.get(key);
    if (this.next.size >= MEMO_MAX) this.next.clear();
    const at = nextFireAfter(schedule, timezone, after);
    this.next.set(key, at);
    return at;
  }

  /** owedFires as the function of that name (its default bound), each caller given its own copy: events and records must not share one object. */
  owedFires(schedule: string, timezone: string, after: number, now: number): OwedFires | undefined {
    if (now !== this.owedNow) {
      this.owed.clear();
      this.owedNow = now;
    }
    const key = `${after}\u0000${timezone}\u0000${schedule}`;
    let owed: OwedFires | undefined;
    if (this.owed.has(key)) owed = this.owed.get(key);
    else {
      if (this.owed.size >= MEMO_MAX) this.owed.clear();
      owed = owedFires(schedule, timezone, after, now);
      this.owed.set(key, owed);
    }
    return owed === undefined ? undefined : { ...owed };
  }
}

/** cronSchema is a job's `cron:` block (kind: cron). timezone is filled in by the master (its --cron-timezone) when absent. */
export const cronSchema = z
  .strictObject({
    schedule: z.string({ error: 'schedule is required: 5 cron fields (an optional leading seconds field), or @hourly, @daily, …' }),
    timezone: z.string().refine(isTimeZone, { error: 'timezone must be an IANA time zone name, e.g. UTC, Europe/Berlin or America/New_York' }).optional(),
    concurrency: z.enum(CONCURRENCY_POLICIES, { error: `concurrency must be one of ${CONCURRENCY_POLICIES.join(', ')}` }).default(CRON_DEFAULTS.concurrency),
    startingDeadlineSecs: z.number().min(1, 'startingDeadlineSecs must be at least 1: a run cannot start at the very instant of its time').max(7 * 24 * 3600).default(CRON_DEFAULTS.startingDeadlineSecs),
    suspended: z.boolean({ error: 'suspended must be true or false' }).default(false),
  })
  .superRefine((c, ctx) => {
    const why = scheduleProblem(c.schedule, c.timezone !== undefined && isTimeZone(c.timezone) ? c.timezone : 'UTC');
    if (why !== undefined) ctx.addIssue({ code: 'custom', path: ['schedule'], message: why });
  });

export type CronSpec = z.output<typeof cronSchema>;

