// Job commands: a request to create a job, or to kill or restart instances, checked against the
// state it will be appended to and turned into events, in one place for every caller (the REST API
// today; an access check goes here too). Each returns the Decision EventLog.submit takes: the
// events to append and the answer; a refusal is a MusterError naming what to fix.

import { MusterError, parseJobKey, placementConstraints, requestOf, type JobSpec, type TaskReason } from '../../core/index.js';
import type { JobCreated, JobInstancesAnswer } from '../../protocol/index.js';
import { neverFits, type AgentCapacity } from '../../scheduler/index.js';
import { authorize, type Caller } from '../auth/index.js';
import type { Decision } from '../eventlog.js';
import { findJob } from './find.js';
import { checkRunFields } from './runs.js';
import { startUpdate } from './updates.js';

export { findJob };
import { apiAmount, checkQuota, type CellState, type Event, type JobRecord } from '../state/index.js';

/** createJob: a new job, refused if one of that name is active or being killed, can never fit, or would exceed its role's quota. */
export function createJob(state: CellState, now: number, caller: Caller, spec: JobSpec): Decision<JobCreated> {
  authorize(state, caller, 'job:write', parseJobKey(spec.job).role);
  const existing = state.jobs.get(spec.job);
  if (existing?.state === 'ACTIVE') {
    throw new MusterError('JOB_EXISTS', `job ${spec.job} already exists; kill it first or choose another name`);
  }
  if (existing?.state === 'KILLING') {
    throw new MusterError('JOB_EXISTS', `job ${spec.job} is being killed; create it again once its tasks have ended`);
  }
  checkRunFields(state, spec);
  const why = neverFits(requestOf(spec), placementConstraints(spec, true), agentsForFit(state), parseJobKey(spec.job).role, spec.tier);
  if (why !== undefined) {
    throw new MusterError('UNSATISFIABLE', `job ${spec.job} can never run in this cell: ${why}`, { details: { field: 'resources' } });
  }
  // Checked here, in the same decide as the JobCreated, so that two jobs racing for the last of
  // a quota cannot both be created.
  const refusal = checkQuota(state, spec);
  if (refusal !== undefined) {
    throw new MusterError('QUOTA_EXCEEDED', `cannot create job ${spec.job}: ${refusal.message}; see muster quota get ${refusal.role}`, {
      details: {
        role: refusal.role,
        shortfalls: refusal.shortfalls.map((s) => ({
          resource: s.resource,
          quota: apiAmount(s.resource, s.quota),
          used: apiAmount(s.resource, s.used),
          needs: apiAmount(s.resource, s.needs),
        })),
      },
    });
  }
  return { events: [{ type: 'JobCreated', at: now, spec }], result: { job: spec.job, instances: spec.instances } };
}

/** killInstances: stop instances of a job (all when none are named), to run again (restart) or not. */
export function killInstances(
  state: CellState,
  now: number,
  caller: Caller,
  request: { key: string; asked: number[] | undefined; restart: boolean; updateId?: string },
): Decision<JobInstancesAnswer> {
  const { key, asked, restart } = request;
  authorize(state, caller, 'job:write', parseJobKey(key).role);
  const job = findJob(state, key);
  if (job.runs !== undefined) return killTemplate(state, now, job, asked, restart);
  // A service restarts as a rolling restart: an update that replaces each instance's task in the
  // job's batches, within its disruption budget, watched like any update.
  if (restart && job.spec.kind === 'service' && job.state === 'ACTIVE' && request.updateId !== undefined) {
    for (const i of asked ?? []) {
      if (i >= job.instances.length) {
        throw new MusterError('INSTANCE_NOT_FOUND', `job ${key} has no instance ${i}; its instances are 0-${job.instances.length - 1}`);
      }
    }
    const decision = startUpdate(state, now, caller, { key, kind: 'restart', id: request.updateId, ...(asked === undefined ? {} : { instances: asked }) });
    const started = decision.events[0];
    const instances = started?.type === 'UpdateStarted' ? started.update.instances.map((i) => i.instance).sort((a, b) => a - b) : [];
    return { events: decision.events, result: { job: key, instances, ...(decision.result.update === undefined ? {} : { update: decision.result.update }) } };
  }
  for (const i of asked ?? []) {
    if (i >= job.instances.length) {
      throw new MusterError('INSTANCE_NOT_FOUND', `job ${key} has no instance ${i}; its instances are 0-${job.instances.length - 1}`);
    }
  }
  let instances = asked ?? job.instances.map((i) => i.instance);
  if (restart) {
    if (job.state !== 'ACTIVE') {
      throw new MusterError('CONFLICT', `job ${key} is ${job.state}; only an active job's instances can be restarted`);
    }
    instances = instances.filter((i) => {
      const s = job.instances[i]?.state;
      return s === 'ACTIVE' || s === 'PENDING';
    });
  }
  const reason: TaskReason = restart ? 'REASON_INSTANCE_RESTARTED' : 'REASON_KILLED_BY_USER';
  const wholeJob = !restart && (asked === undefined || new Set(asked).size === job.instances.length);
  return {
    events: instances.length === 0 && !wholeJob ? [] : [{ type: 'KillRequested', at: now, job: key, instances, restart, wholeJob, reason }],
    result: { job: key, instances },
  };
}


/**
 * killTemplate: a cron or dependent job is killed whole, with its runs going (no run starts from
 * then on); it has no instances of its own to name, and a restart of it is a new run (cron start).
 */
function killTemplate(state: CellState, now: number, job: JobRecord, asked: number[] | undefined, restart: boolean): Decision<JobInstancesAnswer> {
  if (restart) {
    throw new MusterError('INVALID_ARGUMENT', `job ${job.key} is a ${job.spec.kind === 'cron' ? 'cron' : 'dependent'} job: start a run now with muster cron start ${job.key}, or restart a run's job`);
  }
  if (asked !== undefined && asked.length > 0) {
    throw new MusterError('INSTANCE_NOT_FOUND', `job ${job.key} has no instances of its own: its runs do (${job.key}--N); kill a run's job, or the whole job`);
  }
  if (job.state !== 'ACTIVE') return { events: [], result: { job: job.key, instances: [] } };
  const events: Event[] = [{ type: 'KillRequested', at: now, job: job.key, instances: [], restart: false, wholeJob: true, reason: 'REASON_KILLED_BY_USER' }];
  for (const r of job.runs?.records ?? []) {
    const run = state.jobs.get(r.key);
    if (run?.state !== 'ACTIVE') continue;
    events.push({ type: 'KillRequested', at: now, job: r.key, instances: run.instances.map((i) => i.instance), restart: false, wholeJob: true, reason: 'REASON_JOB_KILLED', message: `its job ${job.key} was killed` });
  }
  return { events, result: { job: job.key, instances: [] } };
}

/** agentsForFit: the agents a new job is judged against: the reachable ones, or all if none is. */
function agentsForFit(state: CellState): AgentCapacity[] {
  const all = [...state.agents.values()];
  const reachable = all.filter((a) => a.reachable);
  return (reachable.length > 0 ? reachable : all).map((a) => ({ agentId: a.agentId, hostname: a.hostname, attributes: a.attributes, total: a.resources }));
}
