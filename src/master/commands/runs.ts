// Run commands: start a run of a cron or dependent job now, suspend and resume one, and the checks
// its config gets at create and update (its parents exist and can end; no cycle). The start of a
// run is decided here for every cause, a person's or the run controller's (jobs/cron.ts), so that
// concurrency, quota and history are applied alike.

import { CRON_DEFAULTS, MusterError, hasRuns, owedFires, parseJobKey, runJobKey, type JobSpec, type OwedFires } from '../../core/index.js';
import type { JobGraphView, RunStartedView, RunTrigger } from '../../protocol/index.js';
import { authorize, type Caller } from '../auth/index.js';
import type { Decision } from '../eventlog.js';
import { checkQuota, isRunLive, type QuotaLedger, type CellState, type Event, type JobRecord, type ParentRun } from '../state/index.js';
import { findJob } from './find.js';

/** runSpecOf is the config of a template's run `n`: its own, as a batch job of the run's key. */
export function runSpecOf(template: JobRecord, n: number): JobSpec {
  const spec: JobSpec = { ...template.spec, job: runJobKey(template.key, n), kind: 'batch' };
  delete spec.cron;
  delete spec.after;
  delete spec.onParentFailure;
  delete spec.runHistory;
  return spec;
}

/** RunCause is why a run would start. */
export interface RunCause {
  trigger: RunTrigger;
  scheduledAt?: number;
  owed?: OwedFires;
  parents?: ParentRun[];
}

/** RunPlan is the start of a run as decided: its events, or why it cannot start now. */
export type RunPlan = { events: Event[]; started: RunStartedView } | { refusal: string; code: 'CONFLICT' | 'QUOTA_EXCEEDED' };

/**
 * planRun decides a run of a template now: refused while one runs under concurrency forbid, or
 * over its role's quota; under replace, the runs going are killed first (their KILLs and the new
 * run's pending tasks are one append: the scheduler places the new run as they free room).
 */
export function planRun(state: CellState, now: number, template: JobRecord, cause: RunCause, ledger?: QuotaLedger): RunPlan {
  const runs = template.runs;
  if (runs === undefined) return { refusal: `job ${template.key} is not a cron or dependent job`, code: 'CONFLICT' };
  const live = runs.records.filter((r) => isRunLive(state, r.key));
  const concurrency = template.spec.cron?.concurrency ?? CRON_DEFAULTS.concurrency;
  const events: Event[] = [];
  const number = runs.next;
  if (live.length > 0 && concurrency === 'forbid') {
    const r = live[live.length - 1] as (typeof live)[number];
    return { refusal: `run ${r.number} (${r.key}) is still going and concurrency is forbid`, code: 'CONFLICT' };
  }
  const spec = runSpecOf(template, number);
  const refusal = checkQuota(state, spec, ledger);
  if (refusal !== undefined) return { refusal: `quota: ${refusal.message}`, code: 'QUOTA_EXCEEDED' };
  ledger?.add(state, spec);
  const replaced: string[] = [];
  if (concurrency === 'replace') {
    for (const r of live) {
      const job = state.jobs.get(r.key);
      if (job?.state !== 'ACTIVE') continue;
      replaced.push(r.key);
      events.push({
        type: 'KillRequested',
        at: now,
        job: r.key,
        instances: job.instances.map((i) => i.instance),
        restart: false,
        wholeJob: true,
        reason: 'REASON_JOB_KILLED',
        message: `replaced by run ${number} (concurrency replace)`,
      });
    }
  }
  // Ended runs beyond the history go with this start; a run still going is never forgotten.
  const keep = template.spec.runHistory ?? CRON_DEFAULTS.runHistory;
  const ended = runs.records.filter((r) => !isRunLive(state, r.key) && !replaced.includes(r.key));
  const prune = ended.slice(0, Math.max(0, ended.length - keep + 1)).map((r) => r.key);
  events.push({
    type: 'RunStarted',
    at: now,
    run: {
      job: template.key,
      number,
      key: spec.job,
      trigger: cause.trigger,
      spec,
      version: template.version ?? 1,
      ...(cause.scheduledAt === undefined ? {} : { scheduledAt: cause.scheduledAt }),
      ...(cause.owed === undefined ? {} : { owed: cause.owed }),
      ...(cause.parents === undefined ? {} : { parents: cause.parents }),
      ...(prune.length === 0 ? {} : { prune }),
      ...(replaced.length === 0 ? {} : { replaced }),
    },
  });
  return { events, started: { job: template.key, run: number, key: spec.job, ...(replaced.length === 0 ? {} : { replaced }) } };
}

/** templateOf: the cron or dependent job of a key, or a refusal naming what it is instead. */
function templateOf(state: CellState, key: string): JobRecord {
  const job = findJob(state, key);
  if (job.runs === undefined) {
    const hint = job.parent === undefined ? '' : `; it is run ${job.run ?? '?'} of ${job.parent}`;
    throw new MusterError('INVALID_ARGUMENT', `job ${key} is a ${job.spec.kind} job, not a cron or dependent job${hint}`, { details: { field: 'job' } });
  }
  if (job.state !== 'ACTIVE') throw new MusterError('CONFLICT', `job ${key} is ${job.state}`, { details: { state: job.state } });
  return job;
}

/** startRunNow: `muster cron start`: a run now, whatever the schedule, under the job's concurrency policy. */
export function startRunNow(state: CellState, now: number, caller: Caller, key: string): Decision<RunStartedView> {
  authorize(state, caller, 'job:write', parseJobKey(key).role);
  const template = templateOf(state, key);
  const plan = planRun(state, now, template, { trigger: 'manual' });
  if ('refusal' in plan) throw new MusterError(plan.code, `cannot start a run of ${key}: ${plan.refusal}`);
  return { events: plan.events, result: plan.started };
}

/** suspendRuns: stop (or resume) a job's scheduled and triggered runs; runs going are left alone. Times while suspended are skipped, not owed. */
export function suspendRuns(state: CellState, now: number, caller: Caller, key: string, suspended: boolean): Decision<{ job: string; suspended: boolean }> {
  authorize(state, caller, 'job:write', parseJobKey(key).role);
  const template = templateOf(state, key);
  const runs = template.runs;
  if (runs === undefined || runs.suspended === suspended) return { events: [], result: { job: key, suspended } };
  const cron = template.spec.cron;
  const skipped = !suspended && cron !== undefined ? owedFires(cron.schedule, cron.timezone ?? 'UTC', runs.lastScheduledAt, now) : undefined;
  return {
    events: [{ type: 'RunsSuspended', at: now, job: key, suspended, ...(skipped === undefined ? {} : { skipped }) }],
    result: { job: key, suspended },
  };
}

/**
 * checkRunFields refuses (400 naming the field) a cron or dependent job whose parents do not exist,
 * cannot end (a service), are runs themselves, or would close a cycle; `spec` replaces the state's
 * job of its key, if any.
 */
export function checkRunFields(state: CellState, spec: JobSpec): void {
  if (!hasRuns(spec)) return;
  const after = spec.after ?? [];
  for (const [i, parent] of after.entries()) {
    const field = `after[${i}]`;
    const job = state.jobs.get(parent);
    if (job === undefined || job.state === 'KILLING' || job.state === 'KILLED') {
      throw new MusterError('INVALID_JOB', `field "${field}": no job ${parent} to run after; create it first`, { details: { field } });
    }
    if (job.spec.kind === 'service') {
      throw new MusterError('INVALID_JOB', `field "${field}": ${parent} is a service, which never ends; a job runs after batch and cron jobs`, { details: { field } });
    }
    if (job.parent !== undefined) {
      throw new MusterError('INVALID_JOB', `field "${field}": ${parent} is run ${job.run ?? '?'} of ${job.parent}; name ${job.parent} instead`, { details: { field } });
    }
  }
  const cycle = findCycle(state, spec);
  if (cycle !== undefined) {
    throw new MusterError('INVALID_JOB', `field "after": the jobs would run after each other in a cycle: ${cycle.join(' → ')}`, { details: { field: 'after', cycle } });
  }
}

/** parentsOf: the jobs a job runs after, with `spec` standing in for its own key. */
function parentsOf(state: CellState, spec: JobSpec, key: string): readonly string[] {
  if (key === spec.job) return spec.after ?? [];
  const job = state.jobs.get(key);
  return job === undefined || job.state === 'KILLED' ? [] : (job.spec.after ?? []);
}

/** findCycle: a path from spec's job back to itself through after:, if one exists (each job listed once, the first again at the end). */
export function findCycle(state: CellState, spec: JobSpec): string[] | undefined {
  const start = spec.job;
  const seen = new Set<string>();
  // Depth-first through parents; the graph is small (a job has at most 32 parents).
  const walk = (key: string, path: string[]): string[] | undefined => {
    for (const parent of parentsOf(state, spec, key)) {
      if (parent === start) return [...path, parent];
      if (seen.has(parent)) continue;
      seen.add(parent);
      const found = walk(parent, [...path, parent]);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  const found = walk(start, [start]);
  // Written in the order jobs run: a → b → a, each after the one before.
  return found?.reverse();
}

/** childrenOf: the jobs that run after `key` (an index built per call: graphs are looked at rarely). */
function childrenIndex(state: CellState): Map<string, string[]> {
  const index = new Map<string, string[]>();
  for (const key of state.templates) {
    const job = state.jobs.get(key);
    if (job === undefined || job.state === 'KILLED') continue;
    for (const parent of job.spec.after ?? []) {
      let list = index.get(parent);
      if (list === undefined) index.set(parent, (list = []));
      list.push(key);
    }
  }
  return index;
}

/** jobGraph is the graph of jobs connected to `key` through after:, both ways, at most `limit` jobs. */
export function jobGraph(state: CellState, key: string, limit = 1000): JobGraphView {
  findJob(state, key);
  const children = childrenIndex(state);
  const nodes = new Map<string, JobGraphView['nodes'][number]>();
  const edges: JobGraphView['edges'] = [];
  const queue = [key];
  while (queue.length > 0 && nodes.size < limit) {
    const k = queue.shift() as string;
    if (nodes.has(k)) continue;
    const job = state.jobs.get(k);
    if (job === undefined) {
      nodes.set(k, { job: k, missing: true });
      continue;
    }
    const last = job.runs?.lastEnded?.outcome;
    nodes.set(k, { job: k, kind: job.spec.kind, state: job.state, ...(last === undefined ? {} : { lastOutcome: last }) });
    // Each job adds the edges from its parents, once, when it is visited.
    for (const parent of job.state === 'KILLED' ? [] : (job.spec.after ?? [])) {
      edges.push({ from: parent, to: k });
      queue.push(parent);
    }
    queue.push(...(children.get(k) ?? []));
  }
  return { job: key, nodes: [...nodes.values()].sort((a, b) => a.job.localeCompare(b.job)), edges };
}
