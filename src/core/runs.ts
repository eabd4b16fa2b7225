// The words of cron and dependent jobs that the CLI needs too: kept apart from cron.ts, whose
// schedule parser (croner) and schema (zod) only the master loads.

export const CONCURRENCY_POLICIES = ['allow', 'forbid', 'replace'] as const;
export type ConcurrencyPolicy = (typeof CONCURRENCY_POLICIES)[number];
export const PARENT_FAILURE_POLICIES = ['skip', 'run'] as const;
export type ParentFailurePolicy = (typeof PARENT_FAILURE_POLICIES)[number];

/** CRON_DEFAULTS are the `cron:` block's defaults (timezone's is the cell's: the master's --cron-timezone). */
export const CRON_DEFAULTS = {
  /** A new run while one is going is skipped: neither piled up (Kubernetes's Allow) nor killing work (Aurora's KILL_EXISTING). */
  concurrency: 'forbid' as ConcurrencyPolicy,
  /** A time owed after a failover starts if the master can start it within 5 minutes of it. */
  startingDeadlineSecs: 300,
  /** Runs kept with their tasks (the runs of cron and dependent jobs alike). */
  runHistory: 10,
  /** The master's --cron-min-interval: a schedule may not fire more often. */
  minIntervalSecs: 10,
} as const;

/** The zone names found valid so far (bounded). */
const knownZones = new Set<string>();

/** isTimeZone: an IANA zone name this runtime knows ("UTC", "Europe/Berlin"). */
export function isTimeZone(zone: string): boolean {
  if (zone.length === 0 || zone.length > 64) return false;
  // A cell has a handful of zones; building a formatter costs ~0.1 ms, ten thousand configs a second.
  if (knownZones.has(zone)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    return false;
  }
  if (knownZones.size < 1024) knownZones.add(zone);
  return true;
}


/** A cron job's name leaves room for its runs' suffix ("--" and the run's number) within a DNS label. */
export const MAX_TEMPLATE_NAME = 50;

/** RUN_SUFFIX marks a run's job: role/env/name--N. A job created by a user may not end so. */
export const RUN_SUFFIX = /--(\d+)$/;

/** runJobKey is the key of run `n` of a cron or dependent job. */
export function runJobKey(template: string, n: number): string {
  return `${template}--${n}`;
}
