// CellState is the master's whole durable state: what apply() builds from the log. It is plain
// data in Maps, mutated only by apply(); everything else reads it.

import { add, EMPTY, isTerminal, type JobSpec, type Resources, type TaskReason, type TaskState } from '../../core/index.js';
import type { JobState, InstanceState } from '../../protocol/index.js';
import type { AgentRegistration, FrameworkRegistration, HostMode, LaunchedTask, PolicyRecord, RoleQuota, TokenRecord } from './events.js';
import type { RunsRecord } from './runs.js';
import { isActiveUpdate, type ConfigVersion, type UpdateRecord } from './updates.js';

export interface AgentRecord extends AgentRegistration {
  registeredAt: number;
  /** False from AgentUnreachable until the agent registers again. */
  reachable: boolean;
  /**
   * What its non-terminal tasks hold, kept by apply() so a scheduling pass need not add it up.
   * Revocable tasks count here only with their disk, ports and GPUs: their cpus and mem are in
   * revocableUsed, held in slack rather than in the agent's reservable capacity.
   */
  used: Resources;
  /** cpus and mem its revocable tasks hold (absent in snapshots from before revocable tasks: none). */
  revocableUsed?: { cpusMilli: number; memMiB: number };
  /** Milli of each GPU device its tasks hold, by device index (absent or short: 0). */
  gpuUsed?: number[];
  /** Its non-terminal tasks. */
  taskIds: Set<string>;
}

/** KillIntent records that the master asked for a task to end, and what should follow. */
export interface KillIntent {
  at: number;
  reason: TaskReason;
  /** The instance runs again as a new task once this one ended. */
  restart: boolean;
  /** It was preempted for this pending instance, which waits for it to end (see InstanceRecord.awaitingVictims). */
  preemptedFor?: { job: string; instance: number };
}

export interface TaskRecord extends LaunchedTask {
  state: TaskState;
  reason?: TaskReason;
  message?: string;
  healthy?: boolean;
  /** When its health check last turned healthy (absent: not healthy now): an update's watch counts from here. */
  healthyAt?: number;
  /** The job config version it runs (absent: the job's version when it was launched was 1). */
  version?: number;
  launchedAt: number;
  /** First TASK_RUNNING: restart backoff measures how long a task ran from here. */
  startedAt?: number;
  endedAt?: number;
  /** uuid of the last status recorded, so an agent's retry of it is acknowledged, not recorded twice. */
  lastUuid?: string;
  kill?: KillIntent;
  /** When it became TASK_UNREACHABLE (its agent went silent); absent once it is heard of again. */
  unreachableAt?: number;
  /**
   * Its state before it became unreachable: what its agent last told the master. An agent that
   * returns with the task running puts it back to this state (its later updates follow), never to a
   * state from a report older than an update the master recorded meanwhile.
   */
  reachableState?: TaskState;
  /**
   * Its (terminal) state is the master's own guess (TASK_LOST for a task its agent did not report),
   * not its agent's word: a terminal status its agent reports later replaces it.
   */
  guessed?: boolean;
  /**
   * An external framework's task: the uuid of its latest status update that the framework has not
   * acknowledged yet. The master re-sends it until it does; an ended task is kept until then.
   */
  unacked?: string;
}

/** FrameworkRecord is an external framework the master knows, connected or not. */
export interface FrameworkRecord extends FrameworkRegistration {
  registeredAt: number;
  /** When it last subscribed again. */
  reregisteredAt?: number;
  /** Its tasks the master keeps (running, or ended and not yet acknowledged). */
  taskIds: Set<string>;
  /** Its task ids (the framework's own) to the master's. */
  byExternalId: Map<string, string>;
  /** What its live tasks hold, kept by apply() for fair sharing (absent from older snapshots: recomputed on load). */
  used?: Resources;
}

export interface InstanceRecord {
  instance: number;
  state: InstanceState;
  /** The current task, or the last one when the instance is pending or ended. */
  taskId?: string;
  /** Older tasks of this instance still kept (bounded), oldest first. */
  previousTaskIds: string[];
  /** How many tasks this instance has had. */
  runs: number;
  /** batch: failed runs counted against maxTaskFailures; service: quick failures in a row (backoff). */
  failures: number;
  /** When pending: not placed before this time (ms); restart backoff sets it in the future. */
  notBefore: number;
  /** Pending because it was preempted: it may not preempt in turn (no cascades). Cleared at launch. */
  preempted?: boolean;
  /** Victims being killed to make room for it: it waits for them and preempts no more. Cleared at launch. */
  awaitingVictims?: string[];
  /** The job config version its next (or current) task runs; absent: the job's version (see specOf). */
  version?: number;
}

export interface JobRecord {
  key: string;
  spec: JobSpec;
  state: JobState;
  createdAt: number;
  endedAt?: number;
  /** Why it ended, for a person (killed by whom, which instance failed). */
  endReason?: string;
  instances: InstanceRecord[];
  /** The version of spec (absent: 1, from before versions). spec is the config last rolled out whole. */
  version?: number;
  /** Its config versions, oldest first, bounded (absent: only spec, version 1). */
  versions?: ConfigVersion[];
  /** Its active update's id. */
  activeUpdate?: string;
  /** Its updates' ids, oldest first (bounded like its versions). */
  updateIds?: string[];
  /** A cron or dependent job (a template, with no instances of its own): its runs. */
  runs?: RunsRecord;
  /** A run: the cron or dependent job it is a run of, and its number. */
  parent?: string;
  run?: number;
}

/** MaintenanceRecord is a host an operator put in maintenance. */
export interface MaintenanceRecord {
  hostname: string;
  mode: Exclude<HostMode, 'ACTIVE'>;
  since: number;
}

/** QuotaRecord is a role's quota as last set. */
export interface QuotaRecord {
  role: string;
  quota: RoleQuota;
  setAt: number;
}

export interface CellState {
  agents: Map<string, AgentRecord>;
  jobs: Map<string, JobRecord>;
  tasks: Map<string, TaskRecord>;
  /** Quotas by role; a role not here is unlimited. */
  quotas: Map<string, QuotaRecord>;
  /** Hosts in maintenance, by hostname; a host not here is ACTIVE. */
  maintenance: Map<string, MaintenanceRecord>;
  /** External frameworks (Mesos v1 scheduler API), by id. */
  frameworks: Map<string, FrameworkRecord>;
  /**
   * Tasks the master has asked to end that have not ended yet: the KILLs it owes agents. Derived
   * from tasks (kept by apply, rebuilt on load) so that resending them costs no scan of every task.
   */
  killing: Set<string>;
  /**
   * Jobs that may have pending instances: every job whose instance became pending is added by
   * apply; the scheduler's scan drops those it finds with none. Derived (rebuilt on load), so a
   * pass over a cell of 10,000 running jobs looks only at the few with work.
   */
  pendingJobs: Set<string>;
  /** Agents whose revocable tasks hold any cpus or mem (derived): the ones reclaim looks at. */
  revocableAgents: Set<string>;
  /** Access tokens by accessor id, revoked ones included (for the audit). */
  tokens: Map<string, TokenRecord>;
  /** The live (not revoked) tokens' accessor ids by secret hash (derived): a call's token is one lookup. */
  tokenByHash: Map<string, string>;
  /** Policies by name. */
  policies: Map<string, PolicyRecord>;
  /** Jobs' updates by id, active and ended (ended ones are pruned with their job or by age). */
  updates: Map<string, UpdateRecord>;
  /** The ids of the active updates (derived): what the update controller looks at. */
  activeUpdates: Set<string>;
  /** The latest calls that changed the cell, oldest first, at most AUDIT_KEPT: who did what. */
  audit: AuditEntry[];
  /** The cron and dependent jobs (derived): what the run controller looks at. */
  templates: Set<string>;
}

/** AuditEntry is one recorded change and who caused it. */
export interface AuditEntry {
  at: number;
  by: string;
  /** The event's type: what was done. */
  action: string;
  /** What it was done to: a job, role, host, framework, token or policy, where the event names one. */
  subject?: string;
}

/** How many audit entries the state keeps (the oldest go first). */
export const AUDIT_KEPT = 10_000;

export function emptyState(): CellState {
  return {
    agents: new Map(),
    jobs: new Map(),
    tasks: new Map(),
    quotas: new Map(),
    maintenance: new Map(),
    frameworks: new Map(),
    killing: new Set(),
    pendingJobs: new Set(),
    revocableAgents: new Set(),
    tokens: new Map(),
    tokenByHash: new Map(),
    policies: new Map(),
    updates: new Map(),
    activeUpdates: new Set(),
    audit: [],
    templates: new Set(),
  };
}

/**
 * prunePendingJobs drops from state.pendingJobs the jobs with no pending instance left (or gone,
 * or no longer active). The index is derived: pruning it changes no decision, only what a scan
 * must look at.
 */
export function prunePendingJobs(state: CellState): void {
  for (const key of state.pendingJobs) {
    const job = state.jobs.get(key);
    if (job?.state !== 'ACTIVE' || !job.instances.some((i) => i.state === 'PENDING')) state.pendingJobs.delete(key);
  }
}

/** How many ended tasks of one instance are kept for `task list --all` and the UI. */
export const KEPT_TASKS_PER_INSTANCE = 5;

interface SnapshotDoc {
  version: 1;
  agents: (Omit<AgentRecord, 'taskIds'> & { taskIds: string[] })[];
  jobs: JobRecord[];
  tasks: TaskRecord[];
  /** Absent from snapshots written before quotas existed: no role had one. */
  quotas?: QuotaRecord[];
  /** Absent from snapshots written before host maintenance existed. */
  maintenance?: MaintenanceRecord[];
  /** Absent from snapshots written before external frameworks existed. */
  frameworks?: (Omit<FrameworkRecord, 'taskIds' | 'byExternalId'> & { taskIds: string[]; byExternalId: [string, string][] })[];
  /** Absent from snapshots written before access control existed. */
  tokens?: TokenRecord[];
  policies?: PolicyRecord[];
  audit?: AuditEntry[];
  /** Absent from snapshots written before updates existed. */
  updates?: UpdateRecord[];
}

/** serializeState writes a snapshot: JSON, Maps and Sets as arrays. */
export function serializeState(state: CellState): string {
  const doc: SnapshotDoc = {
    version: 1,
    agents: [...state.agents.values()].map((a) => ({ ...a, taskIds: [...a.taskIds] })),
    jobs: [...state.jobs.values()],
    tasks: [...state.tasks.values()],
    quotas: [...state.quotas.values()],
    maintenance: [...state.maintenance.values()],
    frameworks: [...state.frameworks.values()].map((f) => ({ ...f, taskIds: [...f.taskIds], byExternalId: [...f.byExternalId] })),
    tokens: [...state.tokens.values()],
    policies: [...state.policies.values()],
    audit: state.audit,
    updates: [...state.updates.values()],
  };
  return JSON.stringify(doc);
}

export function deserializeState(text: string): CellState {
  const doc = JSON.parse(text) as SnapshotDoc;
  if (doc.version !== 1) throw new Error(`snapshot version ${String(doc.version)} is not supported`);
  const state = emptyState();
  for (const a of doc.agents) {
    state.agents.set(a.agentId, { ...a, taskIds: new Set(a.taskIds) });
    const held = a.revocableUsed;
    if (held !== undefined && (held.cpusMilli > 0 || held.memMiB > 0)) state.revocableAgents.add(a.agentId);
  }
  for (const j of doc.jobs) {
    state.jobs.set(j.key, j);
    if (j.runs !== undefined) state.templates.add(j.key);
    if (j.instances.some((i) => i.state === 'PENDING')) state.pendingJobs.add(j.key);
  }
  for (const t of doc.tasks) {
    state.tasks.set(t.taskId, t);
    if (t.kill !== undefined && !isTerminal(t.state)) state.killing.add(t.taskId);
  }
  for (const q of doc.quotas ?? []) state.quotas.set(q.role, q);
  for (const m of doc.maintenance ?? []) state.maintenance.set(m.hostname, m);
  for (const t of doc.tokens ?? []) {
    state.tokens.set(t.accessorId, t);
    if (t.revokedAt === undefined) state.tokenByHash.set(t.secretHash, t.accessorId);
  }
  for (const p of doc.policies ?? []) state.policies.set(p.name, p);
  state.audit = doc.audit ?? [];
  for (const u of doc.updates ?? []) {
    state.updates.set(u.id, u);
    if (isActiveUpdate(u.status)) state.activeUpdates.add(u.id);
  }
  for (const f of doc.frameworks ?? []) {
    let used = EMPTY;
    for (const id of f.taskIds) {
      const t = state.tasks.get(id);
      if (t !== undefined && !isTerminal(t.state)) used = add(used, t.resources);
    }
    state.frameworks.set(f.frameworkId, { ...f, taskIds: new Set(f.taskIds), byExternalId: new Map(f.byExternalId), used });
  }
  return state;
}
