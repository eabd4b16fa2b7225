// Views turn the cell state into the REST API's shapes (protocol/api.ts). Read-only.

import { liveRuns, nextRunAt } from './runviews.js';
import { EMPTY, add, isTerminal, toView, type TaskState } from '../core/index.js';
import type {
  FrameworkSummaryView,
  AgentState,
  AgentView,
  CellView,
  InstanceView,
  JobSummary,
  JobView,
  PendingInstanceView,
  TaskUsageView,
  TaskView,
  WhyPendingView,
} from '../protocol/index.js';
import type { WhyPending } from '../scheduler/index.js';
import { replaceDueAt } from './jobs/lifecycle.js';
import type { AgentRecord, CellState, InstanceRecord, JobRecord, TaskRecord } from './state/index.js';

export interface ViewContext {
  state: CellState;
  now: number;
  isConnected(agentId: string): boolean;
  lastSeenAt(agentId: string): number | undefined;
  pendingReason(job: string, instance: number): string | undefined;
  /**
   * pendingWhy is the scheduler's whole answer for an instance the last pass could not place.
   * Optional so that contexts built before it (tests) still type-check; absent, views show no why.
   */
  pendingWhy?: (job: string, instance: number) => WhyPending | undefined;
  /** The latest usage its agent reported for a running task (memory only, not in the log). */
  usageOf(taskId: string): TaskUsageView | undefined;
  /** An external framework has a live subscription (absent: none shows as connected). */
  frameworkConnected?: (frameworkId: string) => boolean;
}

export function taskView(ctx: ViewContext, t: TaskRecord): TaskView {
  const agent = ctx.state.agents.get(t.agentId);
  const v: TaskView = {
    taskId: t.taskId,
    job: t.job,
    instance: t.instance,
    framework: t.frameworkId ?? 'muster',
    agentId: t.agentId,
    hostname: agent?.hostname ?? '',
    address: agent?.address ?? '',
    state: t.state,
    ports: t.ports,
    resources: toView(t.resources),
    launchedAt: t.launchedAt,
    killRequested: t.kill !== undefined,
  };
  if (t.launch !== undefined) {
    v.name = t.launch.name;
    v.frameworkTaskId = t.launch.externalId;
  }
  if (t.reason !== undefined) v.reason = t.reason;
  if (t.message !== undefined) v.message = t.message;
  if (t.healthy !== undefined) v.healthy = t.healthy;
  const usage = ctx.usageOf(t.taskId);
  if (usage !== undefined) v.usage = { cpuSecs: usage.cpuSecs, memBytes: usage.memBytes, diskBytes: usage.diskBytes, timestamp: usage.timestamp };
  if (t.startedAt !== undefined) v.startedAt = t.startedAt;
  if (t.endedAt !== undefined) v.endedAt = t.endedAt;
  return v;
}

function instanceView(ctx: ViewContext, job: JobRecord, inst: InstanceRecord): InstanceView {
  const v: InstanceView = { instance: inst.instance, state: inst.state, failures: inst.failures, runs: inst.runs };
  const task = inst.taskId === undefined ? undefined : ctx.state.tasks.get(inst.taskId);
  if (task !== undefined) v.task = taskView(ctx, task);
  const replaceAt = task === undefined ? undefined : replaceDueAt(ctx.state, task);
  if (replaceAt !== undefined) v.replaceAt = replaceAt;
  v.version = instanceVersion(job, inst, task);
  if (inst.state === 'PENDING') {
    const p = pendingInstanceView(ctx, job, inst);
    v.notBefore = inst.notBefore;
    v.pendingReason = p.reason;
    if (p.why !== undefined) v.why = p.why;
  }
  return v;
}

/** instanceVersion: the config version an instance runs: its live task's, or the one it will run next. */
export function instanceVersion(job: JobRecord, inst: InstanceRecord, task: TaskRecord | undefined): number {
  if (inst.state === 'ACTIVE' && task !== undefined) return task.version ?? 1;
  return inst.version ?? job.version ?? 1;
}

/** pendingInstanceView says why a pending instance is not running: its backoff, or the scheduler's answer. */
export function pendingInstanceView(ctx: ViewContext, job: JobRecord, inst: InstanceRecord): PendingInstanceView {
  if (inst.notBefore > ctx.now) {
    const n = inst.failures;
    const reason = `restart backoff: waits ${Math.ceil((inst.notBefore - ctx.now) / 1000)}s more after ${n} quick failure${n === 1 ? '' : 's'} in a row`;
    return { job: job.key, instance: inst.instance, reason };
  }
  const v: PendingInstanceView = {
    job: job.key,
    instance: inst.instance,
    reason: ctx.pendingReason(job.key, inst.instance) ?? 'waiting for the next scheduling pass',
  };
  const why = ctx.pendingWhy?.(job.key, inst.instance);
  if (why !== undefined) v.why = whyPendingView(why);
  return v;
}

/** whyPendingView copies the scheduler's answer into the API's shape. */
export function whyPendingView(why: WhyPending): WhyPendingView {
  const v: WhyPendingView = {
    summary: why.summary,
    filters: why.filters.map((f) => ({ filter: f.filter, detail: f.detail, agents: f.agents })),
    changes: [...why.changes],
  };
  if (why.nearest !== undefined) v.nearest = { agentId: why.nearest.agentId, hostname: why.nearest.hostname, lacks: why.nearest.lacks };
  return v;
}

export function jobSummary(ctx: ViewContext, job: JobRecord): JobSummary {
  const taskStates: Partial<Record<TaskState | 'PENDING', number>> = {};
  for (const inst of job.instances) {
    let key: TaskState | 'PENDING' | undefined;
    if (inst.state === 'PENDING') key = 'PENDING';
    else if (inst.taskId !== undefined) key = ctx.state.tasks.get(inst.taskId)?.state;
    if (key !== undefined) taskStates[key] = (taskStates[key] ?? 0) + 1;
  }
  const v: JobSummary = {
    job: job.key,
    kind: job.spec.kind,
    state: job.state,
    tier: job.spec.tier,
    priority: job.spec.priority,
    instanceCount: job.instances.length,
    taskStates,
    createdAt: job.createdAt,
    version: job.version ?? 1,
  };
  if (job.endedAt !== undefined) v.endedAt = job.endedAt;
  if (job.endReason !== undefined) v.endReason = job.endReason;
  const u = job.activeUpdate === undefined ? undefined : ctx.state.updates.get(job.activeUpdate);
  if (u !== undefined) v.update = { id: u.id, status: u.status, kind: u.kind };
  if (job.parent !== undefined) v.parent = job.parent;
  if (job.run !== undefined) v.run = job.run;
  if (job.runs !== undefined) {
    const next = nextRunAt(job);
    if (next !== undefined) v.nextRunAt = next;
    v.currentRuns = liveRuns(ctx.state, job);
  }
  return v;
}

export function jobView(ctx: ViewContext, job: JobRecord): JobView {
  return { ...jobSummary(ctx, job), spec: job.spec, instances: job.instances.map((i) => instanceView(ctx, job, i)) };
}

/** agentState: unreachable (timed out), or reachable and connected or between connections. */
export function agentState(ctx: ViewContext, a: AgentRecord): AgentState {
  if (!a.reachable) return 'UNREACHABLE';
  return ctx.isConnected(a.agentId) ? 'CONNECTED' : 'DISCONNECTED';
}

export function agentView(ctx: ViewContext, a: AgentRecord): AgentView {
  const v: AgentView = {
    agentId: a.agentId,
    hostname: a.hostname,
    address: a.address,
    port: a.port,
    state: agentState(ctx, a),
    attributes: a.attributes,
    total: toView(a.resources),
    used: toView(a.used),
    taskCount: a.taskIds.size,
    registeredAt: a.registeredAt,
  };
  const seen = ctx.lastSeenAt(a.agentId);
  if (seen !== undefined) v.lastSeenAt = seen;
  if (a.isolation !== undefined) v.isolation = a.isolation;
  return v;
}

/**
 * TASK_STATES_MAX_AGE_MS: on a big cell, the count of tasks by state is made again at most this often.
 * Counting reads every live task record (1,000,000 in a big cell: half a second of the event loop,
 * the records being scattered in memory), where the rest of the cell view reads the instances
 * only; a cell page refreshed on every event would otherwise keep the master busy counting.
 */
const TASK_STATES_MAX_AGE_MS = 2000;
/** Counting that took less than this is done again whenever the log moved: a small cell's counts are always current. */
const TASK_STATES_CHEAP_MS = 20;
const taskStatesCache = new WeakMap<CellState, { logIndex: number; at: number; costMs: number; counts: Partial<Record<TaskState, number>> }>();

/**
 * liveTaskStates counts the live (not terminal) tasks by state, external frameworks' too (cached, see
 * above). One pass over the task map, in its order: three times faster than looking up each
 * instance's task.
 */
function liveTaskStates(state: CellState, logIndex: number, now: number): Partial<Record<TaskState, number>> {
  const hit = taskStatesCache.get(state);
  if (hit !== undefined && (hit.logIndex === logIndex || (hit.costMs >= TASK_STATES_CHEAP_MS && now - hit.at < TASK_STATES_MAX_AGE_MS))) return hit.counts;
  const started = performance.now();
  const counts = new Map<TaskState, number>();
  for (const t of state.tasks.values()) {
    if (!isTerminal(t.state)) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
  }
  const out = Object.fromEntries(counts) as Partial<Record<TaskState, number>>;
  taskStatesCache.set(state, { logIndex, at: now, costMs: performance.now() - started, counts: out });
  return out;
}

export function cellView(
  ctx: ViewContext,
  info: { masterId: string; version: string; startedAt: number; logIndex: number } & Pick<CellView, 'masters' | 'leader' | 'epoch' | 'etcd' | 'authentication'>,
): CellView {
  let total = EMPTY;
  let used = EMPTY;
  const agents: AgentView[] = [];
  const agentStates: Partial<Record<AgentState, number>> = {};
  for (const a of ctx.state.agents.values()) {
    const view = agentView(ctx, a);
    agents.push(view);
    agentStates[view.state] = (agentStates[view.state] ?? 0) + 1;
    if (!a.reachable) continue;
    total = add(total, { ...a.resources, ports: [] });
    used = add(used, { ...a.used, ports: [] });
  }
  let taskCount = 0;
  let pendingCount = 0;
  for (const job of ctx.state.jobs.values()) {
    for (const inst of job.instances) {
      if (inst.state === 'ACTIVE') taskCount++;
      else if (inst.state === 'PENDING') pendingCount++;
    }
  }
  const taskStates = { ...liveTaskStates(ctx.state, info.logIndex, ctx.now), ...(pendingCount > 0 ? { PENDING: pendingCount } : {}) };
  const frameworks: FrameworkSummaryView[] = [];
  for (const f of ctx.state.frameworks.values()) {
    frameworks.push({ frameworkId: f.frameworkId, name: f.name, connected: ctx.frameworkConnected?.(f.frameworkId) ?? false, tasks: f.taskIds.size });
  }
  return {
    ...info,
    agents,
    total: toView(total),
    used: toView(used),
    jobCount: ctx.state.jobs.size,
    taskCount,
    pendingCount,
    frameworks,
    taskStates,
    agentStates,
  };
}
