// Views of updates and config versions: the REST API's shapes (protocol/updates.ts). Read-only.

import type { ConfigVersionView, JobHistoryView, UpdateInstanceView, UpdateSummaryView, UpdateView } from '../protocol/index.js';
import { scopeOf, type CellState, type JobRecord, type UpdateRecord } from './state/index.js';
import { instanceVersion } from './views.js';

function done(u: UpdateRecord): number {
  let n = 0;
  for (const i of scopeOf(u)) if (u.instances[i]?.status === 'SUCCEEDED') n++;
  return n;
}

export function updateSummary(u: UpdateRecord): UpdateSummaryView {
  const v: UpdateSummaryView = {
    id: u.id,
    job: u.job,
    kind: u.kind,
    status: u.status,
    fromVersion: u.from,
    toVersion: u.to,
    createdAt: u.createdAt,
    lastModifiedAt: u.lastModifiedAt,
    total: scopeOf(u).length,
    done: done(u),
    failed: u.failed,
  };
  if (u.by !== undefined) v.by = u.by;
  if (u.message !== undefined) v.message = u.message;
  return v;
}

/** versionsOf: which version each instance of the job runs now. */
export function versionsOf(state: CellState, job: JobRecord): Record<string, number> {
  const out: Record<string, number> = {};
  for (const inst of job.instances) {
    if (inst.state !== 'ACTIVE' && inst.state !== 'PENDING') continue;
    const task = inst.taskId === undefined ? undefined : state.tasks.get(inst.taskId);
    out[inst.instance] = instanceVersion(job, inst, task);
  }
  return out;
}

export function updateView(state: CellState, u: UpdateRecord): UpdateView {
  const job = state.jobs.get(u.job);
  const scope = scopeOf(u);
  const instances: UpdateInstanceView[] = scope.map((i) => {
    const ui = u.instances[i];
    const inst = job?.instances[i];
    const v: UpdateInstanceView = { instance: i, change: ui?.change ?? 'change', status: ui?.status ?? 'IDLE', failures: ui?.failures ?? 0 };
    if (job !== undefined && inst !== undefined && (inst.state === 'ACTIVE' || inst.state === 'PENDING')) {
      v.version = instanceVersion(job, inst, inst.taskId === undefined ? undefined : state.tasks.get(inst.taskId));
    }
    if (ui?.workingAt !== undefined) v.workingAt = ui.workingAt;
    if (ui?.message !== undefined) v.message = ui.message;
    return v;
  });
  const planned = u.direction === 'back' ? (u.backPlan?.length ?? 0) : plannedBatches(u, scope.length);
  const view: UpdateView = {
    ...updateSummary(u),
    settings: { ...u.settings },
    instances,
    versions: job === undefined ? {} : versionsOf(state, job),
    batch: u.batches.length,
    batches: Math.max(planned, u.batches.length),
    events: u.events,
    instanceEvents: u.instanceEvents,
  };
  if (u.direction === 'forward' && !u.promoted && u.settings.canary > 0) view.canaries = scope.slice(0, u.settings.canary);
  return view;
}

/** plannedBatches: how many batches a forward update takes in all (a canary is a batch of its own). */
function plannedBatches(u: UpdateRecord, total: number): number {
  const s = u.settings;
  if (s.strategy === 'queue') return Math.ceil(total / Math.max(1, s.batchSizes[0] ?? 1));
  let left = total;
  let n = 0;
  if (s.canary > 0) {
    left -= s.canary;
    n++;
  }
  for (let k = 0; left > 0; k++) {
    left -= Math.max(1, s.batchSizes[Math.min(k, s.batchSizes.length - 1)] ?? 1);
    n++;
  }
  return n;
}

export function jobHistoryView(state: CellState, job: JobRecord, withSpecs: boolean): JobHistoryView {
  const running = versionsOf(state, job);
  const byVersion = new Map<number, number[]>();
  for (const [i, v] of Object.entries(running)) {
    const list = byVersion.get(v) ?? [];
    list.push(Number(i));
    byVersion.set(v, list);
  }
  const versions: ConfigVersionView[] = (job.versions ?? [{ version: job.version ?? 1, spec: job.spec, at: job.createdAt, cause: 'create' as const }]).map((v) => {
    const out: ConfigVersionView = { version: v.version, at: v.at, cause: v.cause, instances: byVersion.get(v.version) ?? [] };
    if (v.by !== undefined) out.by = v.by;
    if (v.message !== undefined) out.message = v.message;
    if (v.updateId !== undefined) out.updateId = v.updateId;
    if (withSpecs) out.spec = v.spec;
    return out;
  });
  const updates = (job.updateIds ?? []).map((id) => state.updates.get(id)).filter((u): u is UpdateRecord => u !== undefined).map(updateSummary);
  return { job: job.key, version: job.version ?? 1, versions, updates };
}
