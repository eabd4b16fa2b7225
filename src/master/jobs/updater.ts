// The update controller: moves every active update along, one decision at a time, as events. For
// each update it judges the instances it works on (updated once the new task has run, and been
// healthy where the job has a health check, for watchSecs; failed past maxPerInstanceFailures or
// at progressDeadlineSecs), then decides the update's own fate (rolled forward or back, rolling
// back or failed past maxFailedInstances, waiting for a canary's promotion) and what to start next
// (a batch, or a queue's free places), within the job's disruption budget.
//
// It decides inside log.submit, against the state as it is, so nothing is decided twice; and from
// the state alone (every count is in the log), so a master that restarts or takes over carries on
// exactly where its predecessor stopped. The same loop prunes ended jobs and updates past the
// retention (JobsPruned).

import type { Logger } from '../../log/index.js';
import type { EventLog } from '../eventlog.js';
import { startControllerLoop, type ControllerLoop } from './loop.js';
import {
  actionFor,
  budgetLeft,
  isInMotion,
  scopeOf,
  specAt,
  targetVersion,
  type CellState,
  type Event,
  type JobRecord,
  type UpdateAction,
  type UpdateInstanceRecord,
  type UpdateRecord,
} from '../state/index.js';

/** How often the controller looks again without an append (a watch ending, a deadline passing). */
export const UPDATE_INTERVAL_MS = 1000;
/** How often it looks for ended jobs and updates to prune. */
export const PRUNE_INTERVAL_MS = 60_000;

type Verdict = { status: 'SUCCEEDED' } | { status: 'FAILED'; message: string };

/**
 * updateSteps: the events that move every active update one step, and when to look again (the
 * earliest watch or deadline ending). Pure and idempotent: against the state its events produce it
 * returns nothing more until time or the cell moves.
 */
export function updateSteps(state: CellState, now: number): { events: Event[]; wakeAt?: number } {
  const events: Event[] = [];
  let wakeAt: number | undefined;
  const wake = (at: number): void => {
    if (wakeAt === undefined || at < wakeAt) wakeAt = at;
  };
  for (const id of [...state.activeUpdates].sort()) {
    const u = state.updates.get(id);
    const job = u === undefined ? undefined : state.jobs.get(u.job);
    if (u === undefined || job?.state !== 'ACTIVE') continue;
    events.push(...stepUpdate(state, job, u, now, wake));
  }
  return wakeAt === undefined ? { events } : { events, wakeAt };
}

function stepUpdate(state: CellState, job: JobRecord, u: UpdateRecord, now: number, wake: (at: number) => void): Event[] {
  const s = u.settings;
  const scope = scopeOf(u);
  const verdicts = new Map<number, Verdict>();
  // 1. Judge what is in flight, in every active status: a paused update forgets nothing.
  for (const i of u.working) {
    const ui = u.instances[i];
    if (ui?.status !== 'WORKING') continue;
    const v = judge(state, job, u, ui, now, wake);
    if (v !== undefined) verdicts.set(i, v);
  }
  const events: Event[] = [];
  if (verdicts.size > 0) {
    const actions: UpdateAction[] = [];
    for (const [instance, v] of verdicts) {
      actions.push({ instance, action: actionFor(u.direction, v.status), ...(v.status === 'FAILED' ? { message: v.message } : {}) });
    }
    events.push({ type: 'UpdateInstancesActed', at: now, id: u.id, actions });
  }
  const isIdle = (i: number): boolean => u.instances[i]?.status === 'IDLE';
  const failedNow = [...verdicts.entries()].filter(([, v]) => v.status === 'FAILED');
  const failed = u.failed + failedNow.length;

  if (u.status === 'AWAITING_PROMOTION') {
    const after = s.autoPromoteSecs;
    if (after !== undefined && u.canariesDoneAt !== undefined) {
      const at = u.canariesDoneAt + after * 1000;
      if (now >= at) events.push({ type: 'UpdateStatusChanged', at: now, id: u.id, status: 'ROLLING_FORWARD', message: `canaries healthy for ${after}s: promoted` });
      else wake(at);
    }
    return events;
  }
  if (u.status !== 'ROLLING_FORWARD' && u.status !== 'ROLLING_BACK') return events;

  // 2. The update's fate.
  if (failed > s.maxFailedInstances) {
    const last = failedNow[failedNow.length - 1];
    const why = last === undefined ? `${failed} instances failed` : `instance ${last[0]} failed: ${last[1].status === 'FAILED' ? last[1].message : ''}`;
    const back = u.direction === 'forward' && s.rollbackOnFailure && u.kind !== 'restart';
    events.push({ type: 'UpdateStatusChanged', at: now, id: u.id, status: back ? 'ROLLING_BACK' : 'FAILED', message: `${why} (more than maxFailedInstances ${s.maxFailedInstances})` });
    return events;
  }
  // Instances are started in scope order: the idle ones are the scope from `started` on.
  const idleCount = scope.length - u.started;
  const working = u.working.length - verdicts.size;
  if (idleCount === 0 && working === 0) {
    events.push({ type: 'UpdateStatusChanged', at: now, id: u.id, status: u.direction === 'forward' ? 'ROLLED_FORWARD' : 'ROLLED_BACK' });
    return events;
  }
  const nextIdle = (n: number): number[] => scope.slice(u.started, u.started + Math.max(0, n));
  // 3. Canaries first: once they are updated, the update waits for its promotion.
  let limit = Number.POSITIVE_INFINITY;
  if (u.direction === 'forward' && !u.promoted && s.canary > 0) {
    if (u.started >= s.canary) {
      if (working === 0) {
        const canaries = scope.slice(0, u.started);
        const how = s.autoPromoteSecs === undefined ? `promote it with: muster update promote ${u.job}` : `it promotes itself after ${s.autoPromoteSecs}s of health`;
        events.push({ type: 'UpdateStatusChanged', at: now, id: u.id, status: 'AWAITING_PROMOTION', message: `canar${canaries.length === 1 ? 'y' : 'ies'} ${canaries.join(', ')} updated; ${how}` });
      }
      return events;
    }
    limit = s.canary - u.started;
  }
  // 4. What to start: the rest of the current batch (the budget may have held some back), or a new batch.
  let candidates: number[] = [];
  let newBatch: number[] | undefined;
  const current = u.batches[u.batches.length - 1];
  const waitingInBatch = current?.filter(isIdle) ?? [];
  if (s.strategy === 'queue' && u.direction === 'forward') {
    const room = (s.batchSizes[0] ?? 1) - working;
    if (room > 0) newBatch = candidates = nextIdle(Math.min(room, limit));
  } else if (waitingInBatch.length > 0) {
    candidates = waitingInBatch;
  } else if (working === 0) {
    if (u.direction === 'back') {
      newBatch = (u.backPlan?.[u.batches.length] ?? []).filter(isIdle);
    } else {
      const canaryBatch = s.canary > 0 ? 1 : 0;
      const k = Math.max(0, u.batches.length - canaryBatch);
      const size = Number.isFinite(limit) ? limit : (s.batchSizes[Math.min(k, s.batchSizes.length - 1)] ?? 1);
      newBatch = nextIdle(size);
    }
    candidates = newBatch;
  }
  // 5. Within the disruption budget: an instance serving now is taken down only while the budget
  // has room; one that is down anyway (pending, crashing) costs nothing to replace. The budget
  // walks every instance of the job: worked out only when there is something to start.
  let left: number | undefined;
  const starts: UpdateAction[] = [];
  for (const i of candidates) {
    const serving = i < job.instances.length && job.instances[i]?.state === 'ACTIVE' && !isInMotion(state, job, i) && i < job.spec.instances;
    if (serving) {
      left ??= budgetLeft(state, job);
      if (left <= 0) break;
      left--;
    }
    starts.push({ instance: i, action: actionFor(u.direction, 'WORKING') });
  }
  if (starts.length > 0 || (newBatch !== undefined && newBatch.length > 0)) {
    const ev: Event = { type: 'UpdateInstancesActed', at: now, id: u.id, actions: starts };
    if (newBatch !== undefined && newBatch.length > 0) ev.newBatch = newBatch;
    events.push(ev);
  }
  return events;
}

/** judge: whether an instance in flight has succeeded or failed in this direction, or is still going (then when to look again). */
function judge(state: CellState, job: JobRecord, u: UpdateRecord, ui: UpdateInstanceRecord, now: number, wake: (at: number) => void): Verdict | undefined {
  const s = u.settings;
  const target = targetVersion(u, ui);
  const inst = job.instances[ui.instance];
  const since = ui.workingAt ?? now;
  const deadline = since + s.progressDeadlineSecs * 1000;
  if (target === undefined) {
    // To be gone: done once its task has ended.
    if (inst === undefined || (inst.state !== 'ACTIVE' && inst.state !== 'PENDING')) return { status: 'SUCCEEDED' };
    if (now >= deadline) return { status: 'FAILED', message: `its task did not end within progressDeadlineSecs ${s.progressDeadlineSecs}` };
    wake(deadline);
    return undefined;
  }
  if (ui.failures > s.maxPerInstanceFailures) {
    const last = inst?.taskId === undefined ? undefined : state.tasks.get(inst.taskId);
    const how = last?.message ?? last?.reason ?? last?.state ?? '';
    return { status: 'FAILED', message: `its new task failed ${ui.failures} time${ui.failures === 1 ? '' : 's'} (more than maxPerInstanceFailures ${s.maxPerInstanceFailures})${how === '' ? '' : `: ${how}`}` };
  }
  const task = inst?.taskId === undefined ? undefined : state.tasks.get(inst.taskId);
  const isNew = task !== undefined && task.taskId !== ui.fromTask && task.launchedAt >= since && task.kill === undefined && (task.version ?? 1) === target;
  const checked = specAt(job, target).health !== undefined;
  if (isNew && inst?.state === 'ACTIVE' && task.state === 'TASK_RUNNING' && (!checked || task.healthy === true)) {
    const ready = Math.max(task.startedAt ?? task.launchedAt, checked ? (task.healthyAt ?? now) : 0);
    const done = ready + s.watchSecs * 1000;
    if (now >= done) return { status: 'SUCCEEDED' };
    wake(done);
    return undefined;
  }
  if (now >= deadline) {
    return { status: 'FAILED', message: `not running${checked ? ' and healthy' : ''} within progressDeadlineSecs ${s.progressDeadlineSecs}` };
  }
  wake(deadline);
  return undefined;
}

/** pruneSteps: a JobsPruned for ended jobs and updates older than the retention, if any. */
export function pruneSteps(state: CellState, now: number, retentionMs: number): Event[] {
  const jobs: string[] = [];
  const updates: string[] = [];
  for (const job of state.jobs.values()) {
    // A run is kept as long as its cron or dependent job keeps it in its history (see planRun).
    if (job.parent !== undefined && state.jobs.has(job.parent)) continue;
    if (job.state !== 'ACTIVE' && job.state !== 'KILLING' && job.endedAt !== undefined && now - job.endedAt >= retentionMs) jobs.push(job.key);
  }
  const gone = new Set(jobs);
  for (const u of state.updates.values()) {
    if (!state.activeUpdates.has(u.id) && !gone.has(u.job) && now - u.lastModifiedAt >= retentionMs) updates.push(u.id);
  }
  return jobs.length === 0 && updates.length === 0 ? [] : [{ type: 'JobsPruned', at: now, jobs: jobs.sort(), updates: updates.sort() }];
}

/**
 * movesUpdates: the event may move an active update: an update's own event, a change to a task or
 * an instance of a job that has one, or a change to agents or hosts (which may take any down).
 */
export function movesUpdates(state: CellState, event: Event): boolean {
  const active = (key: string): boolean => state.jobs.get(key)?.activeUpdate !== undefined;
  switch (event.type) {
    case 'UpdateStarted':
    case 'UpdateInstancesActed':
    case 'UpdateStatusChanged':
    case 'AgentUnreachable':
    case 'UnreachableReplaced':
    case 'HostMaintenance':
    case 'TasksPreempted':
      return true;
    case 'TaskStatusUpdated': {
      const task = state.tasks.get(event.status.taskId);
      return task === undefined || active(task.job);
    }
    case 'TasksLaunched':
      return event.tasks.some((t) => active(t.job));
    case 'KillRequested':
      return active(event.job);
    default:
      return false;
  }
}

/** UpdateController is the running update loop; close stops it. */
export type UpdateController = ControllerLoop;

/**
 * startUpdateController runs updateSteps inside log.submit after each append that can move an
 * update (a cell busy with other jobs costs it nothing), at the earliest time a watch or deadline
 * ends, and every UPDATE_INTERVAL_MS; pruneSteps every PRUNE_INTERVAL_MS. Only a leader's submit
 * succeeds, so a standby's loop decides nothing.
 */
export function startUpdateController(log: EventLog, logger: Logger, options: { retentionSecs: number }): UpdateController {
  let lastPrune = 0;
  const pruneDue = (): boolean => log.now() - lastPrune >= PRUNE_INTERVAL_MS;
  return startControllerLoop(log, logger, {
    what: 'update controller',
    intervalMs: UPDATE_INTERVAL_MS,
    idle: () => !log.isLeader || (log.state.activeUpdates.size === 0 && !pruneDue()),
    wakesOn: (events) => log.state.activeUpdates.size > 0 && events.some((e) => movesUpdates(log.state, e.event)),
    decide: (state, now) => {
      const { events, wakeAt } = updateSteps(state, now);
      if (pruneDue()) {
        lastPrune = now;
        events.push(...pruneSteps(state, now, options.retentionSecs * 1000));
      }
      return { events, result: wakeAt };
    },
  });
}
