// Update commands: start an update of a running service to a new config (or a rolling restart, or
// a scale), and the verbs a person steers it with (pause, resume, abort, promote, rollback). Each
// is decided against the state it is appended to and refused, changing nothing, with an error that
// names what to fix. The update's progress is jobs/updater.ts's; the state it folds, state/apply.ts.

import { MusterError, hasRuns, parseJobKey, updateSettings, type JobSpec } from '../../core/index.js';
import type { FieldChangeView, JobDiffView, UpdateKind, UpdateStatus } from '../../protocol/index.js';
import { authorize, type Caller } from '../auth/index.js';
import type { Decision } from '../eventlog.js';
import { apiAmount, checkQuota, isActiveUpdate, specAt, updateMayMove, type CellState, type JobRecord, type UpdateRecord, type UpdateStart } from '../state/index.js';
import { findJob } from './find.js';
import { checkRunFields } from './runs.js';

/** UpdateRequest is a start of an update: the new config, optionally a scope of instances and a message. */
export interface UpdateRequest {
  key: string;
  /** The new config; absent for a rolling restart. */
  spec?: JobSpec;
  kind: UpdateKind;
  /** Only these instances are worked on (the rest keep what they run). */
  instances?: number[];
  message?: string;
  /** The update's id (made by the caller, so the decision stays a function of its input). */
  id: string;
}

/** The fields that say how a job is changed, not what its tasks run: changing them alone replaces no task. */
const NOT_TASK_FIELDS = new Set(['instances', 'update']);

/**
 * diffJob is what an update of the job to spec would do: the fields that change, and each
 * instance's fate. An instance runs its own version's config (an aborted update leaves a job
 * mixed), so each is compared with the new config on its own.
 */
export function diffJob(job: JobRecord, spec: JobSpec): JobDiffView {
  const add: number[] = [];
  const remove: number[] = [];
  const change: number[] = [];
  const unchanged: number[] = [];
  const count = Math.max(job.instances.length, spec.instances);
  const sameAs = new Map<number, boolean>();
  for (let i = 0; i < count; i++) {
    const inst = job.instances[i];
    const exists = inst !== undefined && inst.state !== 'KILLED';
    const wanted = i < spec.instances;
    if (!exists && wanted) add.push(i);
    else if (exists && !wanted) remove.push(i);
    else if (exists && wanted) {
      const v = inst.version ?? job.version ?? 1;
      let same = sameAs.get(v);
      if (same === undefined) {
        same = fieldChanges(specAt(job, v), spec).every((c) => NOT_TASK_FIELDS.has(topField(c.field)));
        sameAs.set(v, same);
      }
      (same ? unchanged : change).push(i);
    }
  }
  return { job: job.key, fromVersion: job.version ?? 1, fields: fieldChanges(job.spec, spec), add, remove, change, unchanged };
}

function topField(field: string): string {
  const m = /^[^.[]+/.exec(field);
  return m === null ? field : m[0];
}

/** fieldChanges lists the fields that differ between two configs, as a person writes them (processes[0].cmd). */
export function fieldChanges(a: unknown, b: unknown, path = ''): FieldChangeView[] {
  if (Object.is(a, b)) return [];
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (Array.isArray(a) && Array.isArray(b)) {
    const out: FieldChangeView[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const p = `${path}[${i}]`;
      if (i >= a.length) out.push({ field: p, to: b[i] });
      else if (i >= b.length) out.push({ field: p, from: a[i] });
      else out.push(...fieldChanges(a[i], b[i], p));
    }
    return out;
  }
  if (isObj(a) && isObj(b)) {
    const out: FieldChangeView[] = [];
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])]) {
      const p = path === '' ? k : `${path}.${k}`;
      if (!(k in b) || b[k] === undefined) {
        if (a[k] !== undefined) out.push({ field: p, from: a[k] });
      } else if (!(k in a) || a[k] === undefined) out.push({ field: p, to: b[k] });
      else out.push(...fieldChanges(a[k], b[k], p));
    }
    return out;
  }
  return [{ field: path === '' ? '(config)' : path, from: a, to: b }];
}

/** nextVersion: a job's versions are numbered 1, 2, … and never reused, pruned or not. */
function nextVersion(state: CellState, job: JobRecord): number {
  let max = job.version ?? 1;
  for (const v of job.versions ?? []) max = Math.max(max, v.version);
  for (const id of job.updateIds ?? []) max = Math.max(max, state.updates.get(id)?.to ?? 0);
  return max + 1;
}

/** activeUpdateOf: the job's active update, if it has one. */
export function activeUpdateOf(state: CellState, job: JobRecord): UpdateRecord | undefined {
  return job.activeUpdate === undefined ? undefined : state.updates.get(job.activeUpdate);
}

/** latestUpdateOf: the job's active update, or else its latest. */
export function latestUpdateOf(state: CellState, job: JobRecord): UpdateRecord | undefined {
  const id = job.activeUpdate ?? job.updateIds?.[job.updateIds.length - 1];
  return id === undefined ? undefined : state.updates.get(id);
}

/**
 * startUpdate: the UpdateStarted of an update of a running service to request.spec (an update or
 * a scale), or of a rolling restart of its instances. Refused: no such job (404), not a running
 * service, another update active (409 naming it), a config for another job or of another kind
 * (400 naming the field), instances outside the job, or a role over quota. An update that would
 * change nothing starts nothing, and says so.
 */
export function startUpdate(state: CellState, now: number, caller: Caller, request: UpdateRequest): Decision<{ update?: string; diff: JobDiffView; noop: boolean }> {
  const { key } = request;
  authorize(state, caller, 'job:write', parseJobKey(key).role);
  const job = findJob(state, key);
  if (job.state !== 'ACTIVE') {
    throw new MusterError('CONFLICT', `job ${key} is ${job.state}: only a running job can be updated`, { details: { state: job.state } });
  }
  if (job.runs !== undefined) return updateTemplate(state, now, job, request);
  if (job.spec.kind !== 'service') {
    throw new MusterError('INVALID_ARGUMENT', `job ${key} is a ${job.spec.kind} job: only services are updated in place (a batch job runs to its end; create it anew)`, {
      details: { field: 'kind' },
    });
  }
  const active = activeUpdateOf(state, job);
  if (active !== undefined) {
    throw new MusterError('CONFLICT', `job ${key} has an active update ${active.id} (${active.status}); wait for it, or abort or roll it back first`, {
      details: { update: active.id, status: active.status },
    });
  }
  const spec = request.spec ?? job.spec;
  if (spec.job !== key) {
    throw new MusterError('INVALID_ARGUMENT', `field "job": the config is for ${spec.job}, not ${key}`, { details: { field: 'job' } });
  }
  if (spec.kind !== job.spec.kind) {
    throw new MusterError('INVALID_ARGUMENT', `field "kind": job ${key} is a ${job.spec.kind}; an update cannot make it a ${spec.kind}`, { details: { field: 'kind' } });
  }
  const diff = diffJob(job, spec);
  const restart = request.kind === 'restart';
  const live = (i: number): boolean => {
    const s = job.instances[i]?.state;
    return s === 'ACTIVE' || s === 'PENDING';
  };
  let scope: { instance: number; change: 'add' | 'remove' | 'change' | 'restart'; initial?: number }[];
  const versionOf = (i: number): number => job.instances[i]?.version ?? job.version ?? 1;
  if (restart) {
    scope = job.instances.filter((i) => live(i.instance)).map((i) => ({ instance: i.instance, change: 'restart' as const, initial: versionOf(i.instance) }));
  } else {
    scope = [
      ...diff.add.map((i) => ({ instance: i, change: 'add' as const })),
      ...diff.change.map((i) => ({ instance: i, change: 'change' as const, initial: versionOf(i) })),
      ...diff.remove.map((i) => ({ instance: i, change: 'remove' as const, initial: versionOf(i) })),
    ];
  }
  if (request.instances !== undefined) {
    const count = Math.max(job.instances.length, spec.instances);
    const outside = request.instances.find((i) => i >= count);
    if (outside !== undefined) {
      throw new MusterError('INVALID_ARGUMENT', `field "instances": job ${key} has no instance ${outside}, before or after the update (0-${count - 1})`, {
        details: { field: 'instances' },
      });
    }
    const wanted = new Set(request.instances);
    scope = scope.filter((s) => wanted.has(s.instance));
  }
  if (!restart) {
    const refusal = checkQuota(state, spec);
    if (refusal !== undefined) {
      throw new MusterError('QUOTA_EXCEEDED', `cannot update job ${key}: ${refusal.message}; see muster quota get ${refusal.role}`, {
        details: { role: refusal.role, shortfalls: refusal.shortfalls.map((s) => ({ resource: s.resource, quota: apiAmount(s.resource, s.quota), needs: apiAmount(s.resource, s.needs) })) },
      });
    }
  }
  const specChanged = diff.fields.length > 0;
  if (scope.length === 0 && !specChanged) return { events: [], result: { diff, noop: true } };
  const from = job.version ?? 1;
  const to = restart ? from : nextVersion(state, job);
  const settings = updateSettings(spec, Math.max(1, spec.instances));
  if (restart) settings.rollbackOnFailure = false;
  const start: UpdateStart = {
    id: request.id,
    job: key,
    kind: request.kind,
    from,
    to,
    instanceCount: spec.instances,
    settings,
    instances: scope,
    relabel: restart ? [] : diff.unchanged,
    ...(restart ? {} : { spec }),
    ...(request.message === undefined ? {} : { message: request.message }),
  };
  return { events: [{ type: 'UpdateStarted', at: now, update: start }], result: { update: request.id, diff, noop: false } };
}

/**
 * updateTemplate: a cron or dependent job's new config is its whole update: its next run uses it,
 * and a run going is left alone (Aurora's replaceCronTemplate). The update starts and rolls
 * forward in one append, so `update start --wait` and the job's history read as for any job.
 */
function updateTemplate(state: CellState, now: number, job: JobRecord, request: UpdateRequest): Decision<{ update?: string; diff: JobDiffView; noop: boolean }> {
  const key = job.key;
  if (request.kind === 'restart' || request.spec === undefined) {
    throw new MusterError('INVALID_ARGUMENT', `job ${key} has no instances of its own to restart: start a run with muster cron start ${key}`);
  }
  const spec = request.spec;
  if (spec.job !== key) throw new MusterError('INVALID_ARGUMENT', `field "job": the config is for ${spec.job}, not ${key}`, { details: { field: 'job' } });
  if (spec.kind !== job.spec.kind) {
    throw new MusterError('INVALID_ARGUMENT', `field "kind": job ${key} is a ${job.spec.kind}; an update cannot make it a ${spec.kind}`, { details: { field: 'kind' } });
  }
  if (!hasRuns(spec)) {
    throw new MusterError('INVALID_ARGUMENT', `field "after": job ${key} runs after other jobs; an update cannot make it a plain batch job (kill it and create one)`, { details: { field: 'after' } });
  }
  if (request.instances !== undefined) {
    throw new MusterError('INVALID_ARGUMENT', `field "instances": job ${key}'s runs take the whole config; an update of some instances does not apply`, { details: { field: 'instances' } });
  }
  checkRunFields(state, spec);
  const diff: JobDiffView = { job: key, fromVersion: job.version ?? 1, fields: fieldChanges(job.spec, spec), add: [], remove: [], change: [], unchanged: [] };
  if (diff.fields.length === 0) return { events: [], result: { diff, noop: true } };
  const to = nextVersion(state, job);
  const start: UpdateStart = {
    id: request.id,
    job: key,
    kind: request.kind,
    from: job.version ?? 1,
    to,
    instanceCount: spec.instances,
    settings: updateSettings(spec, Math.max(1, spec.instances)),
    instances: [],
    relabel: [],
    spec,
    ...(request.message === undefined ? {} : { message: request.message }),
  };
  return {
    events: [
      { type: 'UpdateStarted', at: now, update: start },
      { type: 'UpdateStatusChanged', at: now, id: request.id, status: 'ROLLED_FORWARD', message: 'the next run uses the new config; a run going is left alone' },
    ],
    result: { update: request.id, diff, noop: false },
  };
}

/** UpdateVerb is what a person may ask of a job's update. */
export type UpdateVerb = 'pause' | 'resume' | 'abort' | 'rollback' | 'promote';

/**
 * steerUpdate: the status change a verb asks for, refused (409 with the current status) where the
 * update's state does not allow it. rollback also takes the job's latest update when it was
 * aborted or failed, so a half-updated job is one command from its old config.
 */
export function steerUpdate(state: CellState, now: number, caller: Caller, key: string, verb: UpdateVerb, message?: string): Decision<{ update: string; status: UpdateStatus }> {
  authorize(state, caller, 'job:write', parseJobKey(key).role);
  const job = findJob(state, key);
  const u = verb === 'rollback' ? latestUpdateOf(state, job) : activeUpdateOf(state, job);
  if (u === undefined) {
    throw new MusterError('NOT_FOUND', `job ${key} has no active update${verb === 'rollback' ? ' or update to roll back' : ''}; see muster update list`);
  }
  const to = targetOf(u, verb);
  const refuse = (why: string): never => {
    throw new MusterError('CONFLICT', `update ${u.id} of ${key} is ${u.status}: ${why}`, { details: { update: u.id, status: u.status } });
  };
  if (to === undefined || !updateMayMove(u.status, to)) {
    const allowed: Record<UpdateVerb, string> = {
      pause: 'only a rolling update can be paused',
      resume: 'only a paused update can be resumed',
      abort: 'only an active update can be aborted',
      rollback: u.status === 'ROLLED_FORWARD' || u.status === 'ROLLED_BACK' ? 'it has ended; start an update to the config you want' : 'it is rolling back already',
      promote: 'only an update waiting for its canaries to be promoted can be promoted',
    };
    return refuse(allowed[verb]);
  }
  if (verb === 'rollback' && u.kind === 'restart') return refuse('a rolling restart has nothing to roll back to');
  if (verb === 'rollback' && !isActiveUpdate(u.status) && ((job.version ?? 1) !== u.from || job.state !== 'ACTIVE')) {
    return refuse('the job has changed since; start an update to the config you want');
  }
  if (verb === 'rollback' && !isActiveUpdate(u.status) && activeUpdateOf(state, job) !== undefined) return refuse('the job has another active update');
  return {
    events: [{ type: 'UpdateStatusChanged', at: now, id: u.id, status: to, message: message ?? `${verb} by ${caller.principal ?? 'a caller'}` }],
    result: { update: u.id, status: to },
  };
}

function targetOf(u: UpdateRecord, verb: UpdateVerb): UpdateStatus | undefined {
  switch (verb) {
    case 'pause':
      return u.status === 'ROLLING_BACK' ? 'ROLL_BACK_PAUSED' : u.status === 'ROLLING_FORWARD' || u.status === 'AWAITING_PROMOTION' ? 'ROLL_FORWARD_PAUSED' : undefined;
    case 'resume':
      return u.status === 'ROLL_BACK_PAUSED' ? 'ROLLING_BACK' : u.status === 'ROLL_FORWARD_PAUSED' ? 'ROLLING_FORWARD' : undefined;
    case 'abort':
      return isActiveUpdate(u.status) ? 'ABORTED' : undefined;
    case 'rollback':
      return u.direction === 'forward' ? 'ROLLING_BACK' : undefined;
    case 'promote':
      return u.status === 'AWAITING_PROMOTION' ? 'ROLLING_FORWARD' : undefined;
  }
}
