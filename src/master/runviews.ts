// Views of cron and dependent jobs: the schedule in words, the next fire times, the runs going and
// the runs kept, each with its tasks (their states and messages hold the exit codes; their sandboxes
// the logs), as `muster cron show`, `job status` and the UI read them.

import cronstrue from 'cronstrue';
import { CRON_DEFAULTS, FireMemo, nextFires } from '../core/index.js';
import type { RunView, RunsView } from '../protocol/index.js';
import { isRunLive, type CellState, type JobRecord, type RunRecord } from './state/index.js';

/** How many next fire times a view lists. */
const NEXT_SHOWN = 5;

/** A memo shared by every view: a list of ten thousand cron jobs on one schedule computes one next time. */
const memo = new FireMemo();

/** describeSchedule is a schedule in words ("At 02:30"), or the expression itself where the words fail. */
export function describeSchedule(expression: string): string {
  try {
    return cronstrue.toString(expression, { use24HourTimeFormat: true, throwExceptionOnParseError: true });
  } catch {
    return expression;
  }
}

/** nextRunAt is a template's next fire time (absent: not a cron job, suspended, ended, or never again). */
export function nextRunAt(job: JobRecord): number | undefined {
  const cron = job.spec.cron;
  const runs = job.runs;
  if (cron === undefined || runs === undefined || runs.suspended || job.state !== 'ACTIVE') return undefined;
  return memo.nextAfter(cron.schedule, cron.timezone ?? 'UTC', runs.lastScheduledAt);
}

/** liveRuns are the keys of a template's runs still going. */
export function liveRuns(state: CellState, job: JobRecord): string[] {
  return (job.runs?.records ?? []).filter((r) => isRunLive(state, r.key)).map((r) => r.key);
}

function runView(state: CellState, r: RunRecord): RunView {
  const job = state.jobs.get(r.key);
  const v: RunView = { number: r.number, key: r.key, trigger: r.trigger, startedAt: r.startedAt, version: r.version };
  if (r.scheduledAt !== undefined) v.scheduledAt = r.scheduledAt;
  if (r.endedAt !== undefined) v.endedAt = r.endedAt;
  if (r.outcome !== undefined) v.outcome = r.outcome;
  if (r.reason !== undefined) v.reason = r.reason;
  if (r.by !== undefined) v.by = r.by;
  if (r.parents !== undefined) v.parents = r.parents;
  if (job !== undefined) {
    v.state = job.state;
    v.tasks = [];
    for (const inst of job.instances) {
      const task = inst.taskId === undefined ? undefined : state.tasks.get(inst.taskId);
      if (task === undefined) continue;
      v.tasks.push({ instance: inst.instance, taskId: task.taskId, state: task.state, ...(task.message === undefined ? {} : { message: task.message }) });
    }
  }
  return v;
}

/** runsView is a template's schedule, next times, runs and skips; `now` places the next times. */
export function runsView(state: CellState, job: JobRecord, now: number): RunsView {
  const runs = job.runs;
  const cron = job.spec.cron;
  const records = runs?.records ?? [];
  const suspended = runs?.suspended ?? false;
  const zone = cron?.timezone ?? 'UTC';
  const next =
    cron === undefined || suspended || job.state !== 'ACTIVE' || runs === undefined ? [] : nextFires(cron.schedule, zone, Math.max(runs.lastScheduledAt, now), NEXT_SHOWN);
  const v: RunsView = {
    job: job.key,
    kind: job.spec.kind,
    after: job.spec.after ?? [],
    onParentFailure: job.spec.onParentFailure ?? 'skip',
    suspended,
    next,
    current: records.filter((r) => isRunLive(state, r.key)).map((r) => runView(state, r)),
    runs: records.map((r) => runView(state, r)).reverse(),
    skips: (runs?.skips ?? []).slice().reverse(),
    runHistory: job.spec.runHistory ?? CRON_DEFAULTS.runHistory,
  };
  if (cron !== undefined) {
    v.schedule = {
      expression: cron.schedule,
      description: describeSchedule(cron.schedule),
      timezone: zone,
      concurrency: cron.concurrency,
      startingDeadlineSecs: cron.startingDeadlineSecs,
    };
  }
  return v;
}
