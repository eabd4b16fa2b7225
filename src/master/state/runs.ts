// The durable records of cron and dependent jobs' runs, as apply() keeps them. A cron job (or a
// batch job that runs after others) is a template: it never has instances of its own. Each run is
// a batch job of its own, role/env/name--N, created by a RunStarted that names why it runs (a
// scheduled time, a person, its parents' runs), so that a master that restarts or takes over
// knows from the log alone which times it has handled: the schedule's cursor (lastScheduledAt)
// moves only with a RunStarted or a RunSkipped, never twice past the same time. The decisions are
// jobs/cron.ts's; the commands (run now, suspend, resume) commands/runs.ts's.

import type { JobSpec, OwedFires } from '../../core/index.js';
import type { RunOutcome, RunTrigger, RunView } from '../../protocol/index.js';
import type { CellState, JobRecord } from './state.js';

/** ParentRun is the run of a parent that a dependent run followed (run absent: a plain batch job, its one run). */
export type ParentRun = NonNullable<RunView['parents']>[number];

/** RunStart is a run as it starts (the payload of RunStarted). */
export interface RunStart {
  /** The template: the cron or dependent job. */
  job: string;
  number: number;
  /** The run's own job key: role/env/name--number. */
  key: string;
  trigger: RunTrigger;
  /** trigger schedule: the fire time this is the run of. */
  scheduledAt?: number;
  /** trigger schedule, catching up: the times owed (this run's among them, the last); the others are skipped. */
  owed?: OwedFires;
  /** trigger parents: the parents' runs it follows. */
  parents?: ParentRun[];
  /** The run's config: the template's at `version`, made a batch job of the run's key. */
  spec: JobSpec;
  version: number;
  /** Ended runs beyond the template's runHistory, forgotten with their tasks. */
  prune?: string[];
  /** concurrency replace: the runs killed for this one. */
  replaced?: string[];
}

/** RunRecord is one run as its template keeps it: its view's fields but those read from its job, and the times it caught up. */
export interface RunRecord extends Omit<RunView, 'state' | 'tasks'> {
  owed?: OwedFires;
}

/** RunSkip is a time (or a range of times, or a parents' trigger) that started no run, and why. */
export interface RunSkip {
  at: number;
  reason: string;
  /** The scheduled times skipped. */
  times?: OwedFires;
  /** The parents' runs whose trigger was skipped. */
  parents?: ParentRun[];
}

/** RunsRecord is a template's runs: its cursors, its history and its skips. */
export interface RunsRecord {
  /** The latest scheduled time handled (run or skipped); the next fire time is the first after it. */
  lastScheduledAt: number;
  /** When its last run started or its parents' trigger was last skipped: its parents' runs count from here. */
  lastRunAt: number;
  /** The next run's number. */
  next: number;
  suspended: boolean;
  /** Runs, oldest first: the runHistory latest ended ones and every one still going. */
  records: RunRecord[];
  /** Skips, oldest first, the latest SKIPS_KEPT. */
  skips: RunSkip[];
  /** Its latest ended run: what its dependents look at. */
  lastEnded?: { run: number; outcome: RunOutcome; endedAt: number };
}

/** How many skips a template keeps. */
export const SKIPS_KEPT = 50;

/** newRuns is a template's runs record at its creation: the schedule counts from then. */
export function newRuns(at: number, suspended: boolean): RunsRecord {
  return { lastScheduledAt: at, lastRunAt: at, next: 1, suspended, records: [], skips: [] };
}

/** recordRunStart folds a RunStarted into its template (the run's job is created by the caller). */
export function recordRunStart(template: JobRecord, start: RunStart, at: number, by: string | undefined): void {
  const runs = (template.runs ??= newRuns(template.createdAt, false));
  runs.next = Math.max(runs.next, start.number + 1);
  runs.lastRunAt = at;
  if (start.scheduledAt !== undefined) runs.lastScheduledAt = Math.max(runs.lastScheduledAt, start.owed?.last ?? start.scheduledAt);
  runs.records.push({
    number: start.number,
    key: start.key,
    trigger: start.trigger,
    startedAt: at,
    version: start.version,
    ...(start.scheduledAt === undefined ? {} : { scheduledAt: start.scheduledAt }),
    ...(start.parents === undefined ? {} : { parents: start.parents }),
    ...(start.owed === undefined ? {} : { owed: start.owed }),
    ...(by === undefined ? {} : { by }),
  });
  if (start.owed !== undefined && start.owed.count > 1) {
    addSkip(runs, { at, reason: `catch-up: ${start.owed.count} scheduled times were owed; only the latest runs`, times: start.owed });
  }
  if (start.prune !== undefined && start.prune.length > 0) {
    const gone = new Set(start.prune);
    runs.records = runs.records.filter((r) => !gone.has(r.key));
  }
}

/** recordSkip folds a RunSkipped: the schedule's cursor moves past the times, the parents' past now. */
export function recordSkip(template: JobRecord, skip: RunSkip): void {
  const runs = (template.runs ??= newRuns(template.createdAt, false));
  if (skip.times !== undefined) runs.lastScheduledAt = Math.max(runs.lastScheduledAt, skip.times.last);
  if (skip.parents !== undefined) runs.lastRunAt = skip.at;
  addSkip(runs, skip);
}

function addSkip(runs: RunsRecord, skip: RunSkip): void {
  runs.skips.push(skip);
  if (runs.skips.length > SKIPS_KEPT) runs.skips.splice(0, runs.skips.length - SKIPS_KEPT);
}

/** recordSuspension folds a RunsSuspended; a resume moves the cursor to now: times while suspended are skipped, not owed. */
export function recordSuspension(template: JobRecord, suspended: boolean, at: number, skipped: OwedFires | undefined): void {
  const runs = (template.runs ??= newRuns(template.createdAt, false));
  runs.suspended = suspended;
  if (!suspended) {
    runs.lastScheduledAt = Math.max(runs.lastScheduledAt, at);
    if (skipped !== undefined) addSkip(runs, { at, reason: 'suspended', times: skipped });
  }
}

/**
 * newTemplateConfig: a cron job's new schedule counts from the change (the old schedule's times
 * are handled, the new one's before the change are not owed); a change of `suspended` in the
 * config suspends or resumes it.
 */
export function newTemplateConfig(runs: RunsRecord, from: JobSpec, to: JobSpec, at: number): void {
  if (from.cron?.schedule !== to.cron?.schedule || from.cron?.timezone !== to.cron?.timezone) runs.lastScheduledAt = Math.max(runs.lastScheduledAt, at);
  const was = from.cron?.suspended ?? false;
  const now = to.cron?.suspended ?? false;
  if (was !== now) {
    runs.suspended = now;
    if (!now) runs.lastScheduledAt = Math.max(runs.lastScheduledAt, at);
  }
}

/** runEnded: a run's job ended (finished, failed or killed): its template's record says how. */
export function runEnded(state: CellState, job: JobRecord, at: number): void {
  if (job.parent === undefined || job.run === undefined) return;
  const template = state.jobs.get(job.parent);
  const record = template?.runs?.records.find((r) => r.key === job.key);
  if (template?.runs === undefined || record === undefined || record.endedAt !== undefined) return;
  record.endedAt = at;
  record.outcome = job.state === 'FINISHED' ? 'SUCCEEDED' : job.state === 'FAILED' ? 'FAILED' : 'KILLED';
  if (job.endReason !== undefined) record.reason = job.endReason;
  const last = template.runs.lastEnded;
  if (last === undefined || last.endedAt <= at) template.runs.lastEnded = { run: record.number, outcome: record.outcome, endedAt: at };
}

/** isRunLive: a run's job has not ended (it is active, or being killed). */
export function isRunLive(state: CellState, key: string): boolean {
  const s = state.jobs.get(key)?.state;
  return s === 'ACTIVE' || s === 'KILLING';
}

/** latestParentRun is a parent's latest ended run: a template's last run, or a plain batch job's end. */
export function latestParentRun(state: CellState, parent: string): ParentRun | undefined {
  const job = state.jobs.get(parent);
  if (job === undefined) return undefined;
  if (job.runs !== undefined) {
    const last = job.runs.lastEnded;
    return last === undefined ? undefined : { job: parent, run: last.run, outcome: last.outcome, endedAt: last.endedAt };
  }
  if (job.endedAt === undefined || job.state === 'ACTIVE' || job.state === 'KILLING') return undefined;
  return { job: parent, outcome: job.state === 'FINISHED' ? 'SUCCEEDED' : job.state === 'FAILED' ? 'FAILED' : 'KILLED', endedAt: job.endedAt };
}
