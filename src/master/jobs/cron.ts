// The run controller: starts the runs of cron jobs at their scheduled times and of dependent jobs
// when their parents' runs have ended, inside log.submit, so each decision is made against the
// state it is appended to. A time is handled by exactly one event, a RunStarted naming it or a
// RunSkipped naming why not, and the template's cursor (lastScheduledAt) moves past it in the same
// fold: a master that restarts, or a standby that takes over, reads from the log which times are
// handled and owes the rest. Owed times are caught up as Kubernetes and Nomad do, one run for the
// latest time only, and only while that time is within startingDeadlineSecs; the others are
// recorded as skipped, with the reason.
//
// Dependencies follow Chronos's rule: a job runs after its parents when every parent's latest run
// has ended since its own last run began; a failed parent skips the run (onParentFailure: skip,
// recorded with the parent's name) or does not matter (run). A cron job with parents runs at its
// scheduled times only when that holds; a batch job with parents runs whenever it does.

import { CRON_DEFAULTS, FireMemo, type OwedFires } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import { planRun, type RunCause } from '../commands/runs.js';
import type { EventLog } from '../eventlog.js';
import { QuotaLedger, latestParentRun, type CellState, type Event, type JobRecord, type LoggedEvent, type ParentRun } from '../state/index.js';
import { startControllerLoop, type ControllerLoop } from './loop.js';

/** How often the controller looks even when nothing woke it (a missed wake costs at most this). */
const RUN_INTERVAL_MS = 5_000;
/** ParentsCheck: whether a job's parents have all ended since its last run, and how. */
type ParentsCheck = { ready: false; waitingFor: string } | { ready: true; runs: ParentRun[]; failed?: ParentRun };

function checkParents(state: CellState, template: JobRecord): ParentsCheck {
  const since = template.runs?.lastRunAt ?? template.createdAt;
  const runs: ParentRun[] = [];
  let failed: ParentRun | undefined;
  for (const parent of template.spec.after ?? []) {
    const run = latestParentRun(state, parent);
    if (run === undefined || run.endedAt <= since) return { ready: false, waitingFor: parent };
    runs.push(run);
    if (run.outcome !== 'SUCCEEDED' && failed === undefined) failed = run;
  }
  return failed === undefined ? { ready: true, runs } : { ready: true, runs, failed };
}

function failedParentReason(run: ParentRun): string {
  const which = run.run === undefined ? run.job : `${run.job} run ${run.run}`;
  return `parent ${which} ${run.outcome === 'KILLED' ? 'was killed' : 'failed'} (onParentFailure: skip)`;
}

/** RunSteps is what the controller decides in one look: the events, and when to look next. */
export interface RunSteps {
  events: Event[];
  wakeAt: number | undefined;
}

/**
 * runSteps decides, for every cron and dependent job, whether a run starts or a time is skipped
 * now. Each job's decision sees the events decided for the jobs before it (they are applied to the
 * same state only after the append), which is safe: no job's decision reads another's cursor.
 */
export function runSteps(state: CellState, now: number, memo = new FireMemo()): RunSteps {
  const events: Event[] = [];
  const ledger = new QuotaLedger();
  let wakeAt: number | undefined;
  const wake = (at: number | undefined): void => {
    if (at !== undefined && (wakeAt === undefined || at < wakeAt)) wakeAt = at;
  };
  for (const key of state.templates) {
    const template = state.jobs.get(key);
    const runs = template?.runs;
    if (template === undefined || runs === undefined || template.state !== 'ACTIVE' || runs.suspended) continue;
    const cron = template.spec.cron;
    const hasParents = (template.spec.after?.length ?? 0) > 0;
    if (cron !== undefined) {
      const zone = cron.timezone ?? 'UTC';
      const next = memo.nextAfter(cron.schedule, zone, runs.lastScheduledAt);
      if (next === undefined || next > now) {
        wake(next);
        continue;
      }
      const owed = memo.owedFires(cron.schedule, zone, runs.lastScheduledAt, now) as OwedFires;
      wake(memo.nextAfter(cron.schedule, zone, owed.last));
      const deadline = (cron.startingDeadlineSecs ?? CRON_DEFAULTS.startingDeadlineSecs) * 1000;
      const skip = (reason: string): void => {
        events.push({ type: 'RunSkipped', at: now, job: key, reason, times: owed });
      };
      if (now - owed.last > deadline) {
        skip(`missed: no master could start it within startingDeadlineSecs (${deadline / 1000} s) of its time`);
        continue;
      }
      let cause: RunCause = { trigger: 'schedule', scheduledAt: owed.last, ...(owed.count > 1 ? { owed } : {}) };
      if (hasParents) {
        const parents = checkParents(state, template);
        if (!parents.ready) {
          skip(`waiting for parents: ${parents.waitingFor} has not run since this job's last run`);
          continue;
        }
        if (parents.failed !== undefined && template.spec.onParentFailure !== 'run') {
          skip(failedParentReason(parents.failed));
          continue;
        }
        cause = { ...cause, parents: parents.runs };
      }
      const plan = planRun(state, now, template, cause, ledger);
      if ('refusal' in plan) skip(plan.refusal);
      else events.push(...plan.events);
      continue;
    }
    if (!hasParents) continue;
    const parents = checkParents(state, template);
    if (!parents.ready) continue;
    if (parents.failed !== undefined && template.spec.onParentFailure !== 'run') {
      events.push({ type: 'RunSkipped', at: now, job: key, reason: failedParentReason(parents.failed), parents: parents.runs });
      continue;
    }
    // A run still going under forbid: the parents' runs wait for it to end, then start one run.
    const plan = planRun(state, now, template, { trigger: 'parents', parents: parents.runs }, ledger);
    if (!('refusal' in plan)) events.push(...plan.events);
    else if (plan.code === 'QUOTA_EXCEEDED') events.push({ type: 'RunSkipped', at: now, job: key, reason: plan.refusal, parents: parents.runs });
  }
  return { events, wakeAt };
}

/**
 * wakesRuns: an append that can start or stop a run: a run's own event, a template's change, or the
 * end of a job's run (a run, or a plain batch job a dependent job may follow).
 */
export function wakesRuns(state: CellState, events: readonly LoggedEvent[]): boolean {
  if (state.templates.size === 0) return false;
  for (const { event } of events) {
    switch (event.type) {
      case 'JobCreated':
      case 'RunStarted':
      case 'RunSkipped':
      case 'RunsSuspended':
      case 'UpdateStatusChanged':
      case 'KillRequested':
      case 'JobsPruned':
        return true;
      case 'TaskStatusUpdated': {
        const job = state.jobs.get(state.tasks.get(event.status.taskId)?.job ?? '');
        if (job === undefined || job.parent !== undefined || job.state !== 'ACTIVE') return true;
        break;
      }
      case 'AgentUnreachable':
      case 'UnreachableReplaced':
        return true;
      default:
        break;
    }
  }
  return false;
}

/** RunController is the running loop; close stops it. */
export type RunController = ControllerLoop;

/**
 * startRunController runs runSteps inside log.submit at the earliest next fire time, after appends
 * that can start a run, and every RUN_INTERVAL_MS. Only a leader's submit succeeds.
 */
export function startRunController(log: EventLog, logger: Logger): RunController {
  const memo = new FireMemo();
  return startControllerLoop(log, logger, {
    what: 'run controller',
    intervalMs: RUN_INTERVAL_MS,
    idle: () => !log.isLeader || log.state.templates.size === 0,
    wakesOn: (events) => wakesRuns(log.state, events),
    decide: (state, now) => {
      const { events, wakeAt } = runSteps(state, now, memo);
      return { events, result: wakeAt };
    },
  });
}
