// The scheduler's input, built from the cell state. The master's job scheduler, `muster job plan`
// and the benchmarks all build it here, so that each asks the placement code the same question.

import { isTerminal, parseJobKey, placementConstraints, requestOf, subtract, type PortRange, type Resources } from '../../core/index.js';
import { AgentTable, type AgentSlot, type Offer, type PendingTask, type RunningTask, type Tier } from '../../scheduler/index.js';
import { budgetLeft, isInMotion, specAt, type AgentRecord, type CellState, type Event, type JobRecord, type LoggedEvent, type TaskRecord } from '../state/index.js';

/** Slack is what an agent's non-revocable tasks reserve and do not use: revocable tasks may run in it. */
export interface Slack {
  readonly cpusMilli: number;
  readonly memMiB: number;
}

export const NO_SLACK: Slack = Object.freeze({ cpusMilli: 0, memMiB: 0 });

/** spreadByOf: jobs created before spreadBy existed have none in their logged spec, and spread by host. */
function spreadByOf(spec: { readonly spreadBy?: string }): string {
  return spec.spreadBy ?? 'host';
}

/** pendingTaskOf is one pending instance as the scheduler sees it. */
export function pendingTaskOf(job: JobRecord, instance: number, request = requestOf(job.spec), state?: CellState): PendingTask {
  const inst = job.instances[instance];
  // An instance an update moves to another version asks for what that version's config asks.
  const spec = specAt(job, inst?.version);
  if (spec !== job.spec) request = requestOf(spec);
  const tier: Tier = spec.tier;
  const victim = inst?.awaitingVictims?.[0];
  const waitingOn = victim === undefined ? undefined : state?.tasks.get(victim)?.agentId;
  const task: PendingTask = {
    key: `${job.key}/${instance}`,
    job: job.key,
    instance,
    role: parseJobKey(job.key).role,
    request,
    constraints: placementConstraints(spec),
    tier,
    priority: spec.priority,
    spreadBy: spreadByOf(spec),
    mayPreempt: tier === 'preferred' && inst?.preempted !== true && (inst?.awaitingVictims ?? []).length === 0,
  };
  return waitingOn === undefined ? task : { ...task, waitingOn };
}

/**
 * pendingTasks lists the pending instances past their backoff, most important first: tier, then
 * priority, then the older job, then the instance. `later` hears of each backoff still running.
 * With limit, only the first limit tasks are built (a pass takes at most that many).
 *
 * Every sort key but the instance belongs to the job, so the jobs with ready instances are sorted
 * and their instances walked in order: the same list as sorting every task, but a cell with a
 * million pending tasks costs a scan of its instances and a sort of its jobs, not a million
 * objects sorted on every pass.
 */
export function pendingTasks(
  state: CellState,
  now: number,
  later: (at: number) => void = () => undefined,
  limit = Number.POSITIVE_INFINITY,
): PendingTask[] {
  const ready: JobRecord[] = [];
  for (const key of state.pendingJobs) {
    const job = state.jobs.get(key);
    if (job?.state !== 'ACTIVE') {
      state.pendingJobs.delete(key);
      continue;
    }
    let any = false;
    let pending = false;
    for (const inst of job.instances) {
      if (inst.state !== 'PENDING') continue;
      pending = true;
      if (inst.notBefore > now) later(inst.notBefore);
      else any = true;
    }
    // The index is derived state: forgetting a job with nothing pending changes no decision.
    if (!pending) state.pendingJobs.delete(key);
    if (any) ready.push(job);
  }
  ready.sort(
    (a, b) =>
      TIER_ORDER[b.spec.tier] - TIER_ORDER[a.spec.tier] ||
      b.spec.priority - a.spec.priority ||
      a.createdAt - b.createdAt ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
  const out: PendingTask[] = [];
  for (const job of ready) {
    const request = requestOf(job.spec);
    for (const inst of job.instances) {
      if (inst.state !== 'PENDING' || inst.notBefore > now) continue;
      if (out.length >= limit) return out;
      out.push(pendingTaskOf(job, inst.instance, request, state));
    }
  }
  return out;
}

const TIER_ORDER: Readonly<Record<Tier, number>> = { preferred: 2, preemptible: 1, revocable: 0 };

/** gpuFreeOf is the free milli of each of an agent's GPU devices. */
export function gpuFreeOf(agent: AgentRecord): number[] {
  const devices = Math.max(0, Math.floor(agent.resources.gpus));
  const out = new Array<number>(devices);
  for (let d = 0; d < devices; d++) out[d] = Math.max(0, 1000 - (agent.gpuUsed?.[d] ?? 0));
  return out;
}

/**
 * agentSlot is one agent as placement sees it. free is what the offer holds when it was offered,
 * else what the state says is free (for preemption and explanation only: no offerId).
 */
export function agentSlot(state: CellState, agent: AgentRecord, offer: Offer | undefined, slack: Slack): AgentSlot {
  const held = agent.revocableUsed ?? NO_SLACK;
  const free: Resources = offer?.resources ?? subtract(agent.resources, agent.used);
  const slot: AgentSlot = {
    agentId: agent.agentId,
    hostname: agent.hostname,
    attributes: agent.attributes,
    total: agent.resources,
    free,
    gpuFree: gpuFreeOf(agent),
    revocable: { cpusMilli: Math.max(0, slack.cpusMilli - held.cpusMilli), memMiB: Math.max(0, slack.memMiB - held.memMiB) },
    draining: state.maintenance.has(agent.hostname),
  };
  return offer === undefined ? slot : { ...slot, offerId: offer.offerId };
}

/**
 * agentSlots: every reachable agent that `usable` admits, offered ones with their offer. With
 * offers undefined (a plan), every such agent counts as offered its free resources.
 */
export function agentSlots(
  state: CellState,
  offers: ReadonlyMap<string, Offer> | undefined,
  slackOf: (agentId: string) => Slack,
  usable: (agentId: string) => boolean = () => true,
): AgentSlot[] {
  const out: AgentSlot[] = [];
  for (const a of state.agents.values()) {
    if (!a.reachable || !usable(a.agentId)) continue;
    let offer = offers?.get(a.agentId);
    if (offers === undefined) {
      offer = { offerId: `plan-${a.agentId}`, frameworkId: 'plan', agentId: a.agentId, hostname: a.hostname, attributes: a.attributes, resources: subtract(a.resources, a.used) };
    }
    out.push(agentSlot(state, a, offer, slackOf(a.agentId)));
  }
  return out;
}

/** runningTaskOf is a non-terminal task as limits, spread and preemption see it. */
export function runningTaskOf(state: CellState, task: TaskRecord): RunningTask | undefined {
  if (isTerminal(task.state)) return undefined;
  const spec = state.jobs.get(task.job)?.spec;
  return {
    taskId: task.taskId,
    job: task.job,
    instance: task.instance,
    role: parseJobKey(task.job).role,
    agentId: task.agentId,
    tier: spec?.tier ?? 'preferred',
    priority: spec?.priority ?? 0,
    resources: task.resources,
    gpus: task.gpus ?? [],
    killing: task.kill !== undefined,
  };
}

/** runningOfJob: the non-terminal tasks of a job's instances, the current ones only. */
export function runningOfJob(state: CellState, jobKey: string): RunningTask[] {
  const job = state.jobs.get(jobKey);
  if (job === undefined) return [];
  const out: RunningTask[] = [];
  for (const inst of job.instances) {
    if (inst.taskId === undefined) continue;
    const task = state.tasks.get(inst.taskId);
    if (task === undefined || task.state === 'TASK_UNREACHABLE') continue;
    const r = runningTaskOf(state, task);
    if (r !== undefined) out.push(r);
  }
  return out;
}

/**
 * runningOnAgent: the non-terminal tasks on an agent. With budgets (a map kept for one scheduling
 * pass), each task of a preferred service that is serving carries how many more of its job may be
 * taken down now (its disruption budget, state/budget.ts), which preemption keeps to; the budget
 * of a job is worked out once per pass, as it walks the job's instances.
 */
export function runningOnAgent(state: CellState, agentId: string, budgets?: Map<string, number>): RunningTask[] {
  const agent = state.agents.get(agentId);
  if (agent === undefined) return [];
  const out: RunningTask[] = [];
  for (const id of agent.taskIds) {
    const task = state.tasks.get(id);
    if (task === undefined) continue;
    const r = runningTaskOf(state, task);
    if (r === undefined) continue;
    const job = budgets === undefined || r.tier !== 'preferred' ? undefined : state.jobs.get(task.job);
    if (budgets !== undefined && job?.spec.kind === 'service' && job.instances[task.instance]?.taskId === task.taskId && !isInMotion(state, job, task.instance)) {
      let left = budgets.get(job.key);
      if (left === undefined) budgets.set(job.key, (left = Math.max(0, budgetLeft(state, job))));
      out.push({ ...r, disruptable: left });
    } else {
      out.push(r);
    }
  }
  return out;
}

/** What an agent's slot was built from: when none of it changed, the slot still holds. */
interface SlotSource {
  readonly used: Resources;
  readonly resources: Resources;
  readonly attributes: Readonly<Record<string, string>>;
  readonly hostname: string;
  readonly revocableUsed: Slack | undefined;
  readonly draining: boolean;
  readonly slack: Slack;
  readonly offer: Resources | undefined;
  /** The id of the offer it came from; undefined outside an offer cycle (a plan) or without one. */
  readonly offerId: string | undefined;
}

/** sameResources: equal amounts and the same port ranges (undefined equals only undefined). */
export function sameResources(a: Resources | undefined, b: Resources | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  if (a.cpusMilli !== b.cpusMilli || a.memMiB !== b.memMiB || a.diskMiB !== b.diskMiB || a.gpus !== b.gpus) return false;
  if (a.ports === b.ports) return true;
  if (a.ports.length !== b.ports.length) return false;
  for (let i = 0; i < a.ports.length; i++) {
    const x = a.ports[i] as PortRange;
    const y = b.ports[i] as PortRange;
    if (x.begin !== y.begin || x.end !== y.end) return false;
  }
  return true;
}

/**
 * AgentSlotCache keeps the scheduler's AgentTable in step with the cell state from one pass to the
 * next, so that a pass costs what its tasks cost, not what the cell has.
 *
 * It is told which agents changed: `watch(log)` marks the agents each appended event touches (a
 * task launched on one or ended there, an agent registered or lost), and the master marks those
 * whose usage (hence slack) changed, or all of them when an agent connects or disconnects. A
 * refresh then rebuilds only the marked agents' slots, after checking each against what it was
 * built from (apply() gives an agent a new `used` object whenever a task lands on it or leaves it).
 * Without marks (markAll, or a cache that watches nothing) every agent is checked: a walk over
 * them comparing a few fields. The table is built again from scratch when the set of agents
 * changes, which is rare.
 *
 * A slot keeps the offer id of the pass that built it: placements name agents, not offers.
 */
export class AgentSlotCache {
  #table: AgentTable | undefined;
  #ids: string[] = [];
  #sources: SlotSource[] = [];
  /** Agents marked changed since the last refresh; undefined: check them all. */
  #dirty: Set<string> | undefined;
  /** Slots built in the last refresh, for tests and metrics. */
  rebuilt = 0;

  /** The seed of the agents' visiting order; each pass still seeds where its classes start. */
  constructor(private readonly seed = 1) {}

  /**
   * watch marks the agents each durable event touches. Only a cache that watches keeps a dirty
   * set: one that does not checks every agent on each refresh.
   */
  watch(log: { onAppended(listener: (batch: readonly LoggedEvent[]) => void): () => void; readonly state: CellState }): () => void {
    this.#dirty = undefined;
    const touched = new Set<string>();
    const off = log.onAppended((batch) => {
      for (const { event } of batch) {
        if (!agentsTouchedBy(log.state, event, touched)) {
          this.markAll();
          return;
        }
      }
      for (const id of touched) this.markDirty(id);
      touched.clear();
    });
    this.#watching = true;
    return () => {
      off();
      this.#watching = false;
      this.#dirty = undefined;
    };
  }

  #watching = false;

  /** markDirty: the agent's slot may be out of date (its usage changed, say). */
  markDirty(agentId: string): void {
    if (!this.#watching) return;
    (this.#dirty ??= new Set()).add(agentId);
  }

  /** markAll: check every agent at the next refresh (an agent connected or disconnected). */
  markAll(): void {
    this.#dirty = undefined;
    this.#all = true;
  }

  #all = true;

  /** refresh returns the table for the state now; arguments as agentSlots. */
  refresh(
    state: CellState,
    offers: ReadonlyMap<string, Offer> | undefined,
    slackOf: (agentId: string) => Slack,
    usable: (agentId: string) => boolean = () => true,
  ): AgentTable {
    this.rebuilt = 0;
    const table = this.#table;
    if (table !== undefined && this.#watching && !this.#all) {
      const dirty = this.#dirty;
      this.#dirty = undefined;
      if (dirty === undefined || this.#updateSome(table, dirty, state, offers, slackOf, usable)) return table;
    } else if (table !== undefined && this.#update(table, state, offers, slackOf, usable)) {
      this.#all = false;
      return table;
    }
    this.#all = false;
    this.#dirty = undefined;

    const agents: AgentRecord[] = [];
    const sources: SlotSource[] = [];
    for (const a of state.agents.values()) {
      if (!a.reachable || !usable(a.agentId)) continue;
      agents.push(a);
      sources.push(sourceOf(state, a, offers, slackOf));
    }
    const slots = agents.map((a, i) => slotOf(state, a, sources[i] as SlotSource));
    this.rebuilt = slots.length;
    this.#table = new AgentTable(slots, this.seed);
    this.#ids = agents.map((a) => a.agentId);
    this.#sources = sources;
    return this.#table;
  }

  /** #updateSome brings the marked agents up to date; false if the set of agents changed. */
  #updateSome(
    table: AgentTable,
    dirty: ReadonlySet<string>,
    state: CellState,
    offers: ReadonlyMap<string, Offer> | undefined,
    slackOf: (agentId: string) => Slack,
    usable: (agentId: string) => boolean,
  ): boolean {
    for (const id of dirty) {
      const a = state.agents.get(id);
      const k = table.index.get(id);
      const included = a !== undefined && a.reachable && usable(id);
      if (k === undefined || a === undefined || !included) {
        if (k === undefined && !included) continue; // neither in the table nor wanted there
        return false;
      }
      const next = sourceOf(state, a, offers, slackOf);
      table.set(k, slotOf(state, a, next));
      this.#sources[k] = next;
      this.rebuilt++;
    }
    return true;
  }

  /** #update brings the table's changed agents up to date; false if the set of agents changed. */
  #update(
    table: AgentTable,
    state: CellState,
    offers: ReadonlyMap<string, Offer> | undefined,
    slackOf: (agentId: string) => Slack,
    usable: (agentId: string) => boolean,
  ): boolean {
    const draining = state.maintenance.size > 0;
    let k = 0;
    for (const a of state.agents.values()) {
      if (!a.reachable || !usable(a.agentId)) continue;
      if (this.#ids[k] !== a.agentId) return false;
      const src = this.#sources[k] as SlotSource;
      const offered = offers?.get(a.agentId);
      const offer = offers === undefined ? freeOf(a) : offered?.resources;
      const slack = slackOf(a.agentId);
      if (
        src.used !== a.used ||
        src.resources !== a.resources ||
        src.attributes !== a.attributes ||
        src.hostname !== a.hostname ||
        src.revocableUsed !== a.revocableUsed ||
        src.draining !== (draining && state.maintenance.has(a.hostname)) ||
        src.slack.cpusMilli !== slack.cpusMilli ||
        src.slack.memMiB !== slack.memMiB ||
        !sameResources(src.offer, offer) ||
        src.offerId !== offered?.offerId
      ) {
        const next = sourceOf(state, a, offers, slackOf);
        table.set(k, slotOf(state, a, next));
        this.#sources[k] = next;
        this.rebuilt++;
      }
      k++;
    }
    return k === this.#ids.length;
  }
}

/**
 * agentsTouchedBy adds to `into` the agents whose slots an event may change, or returns false when
 * it cannot tell (an agent registered or was lost, hosts changed maintenance, or a task it cannot
 * find any more ended): the cache then checks every agent.
 */
export function agentsTouchedBy(state: CellState, event: Event, into: Set<string>): boolean {
  switch (event.type) {
    case 'TasksLaunched':
      for (const t of event.tasks) into.add(t.agentId);
      return true;
    case 'TaskStatusUpdated': {
      const task = state.tasks.get(event.status.taskId);
      if (task !== undefined) {
        into.add(task.agentId);
        return true;
      }
      // Ended and forgotten with its job: its agent is unknown from here.
      return !isTerminal(event.status.state);
    }
    case 'JobCreated':
    case 'RunStarted':
    case 'RunSkipped':
    case 'RunsSuspended':
    case 'KillRequested':
    case 'QuotaSet':
    case 'TasksPreempted':
    case 'FrameworkRegistered':
    case 'FrameworkRemoved':
    case 'FrameworkTasksKilled':
    case 'StatusAcknowledged':
    case 'TokenCreated':
    case 'TokenRevoked':
    case 'PolicySet':
    case 'PolicyDeleted':
    case 'UpdateStarted':
    case 'UpdateInstancesActed':
    case 'UpdateStatusChanged':
    case 'JobsPruned':
      // Kills change nothing until the tasks end; that end is its own event. An ended task a
      // framework acknowledges (or leaves behind) had given its agent back its resources already.
      // Access control touches no agent.
      return true;
    case 'AgentRegistered':
    case 'AgentUnreachable':
    case 'UnreachableReplaced':
    case 'HostMaintenance':
      return false;
  }
}

function sourceOf(state: CellState, a: AgentRecord, offers: ReadonlyMap<string, Offer> | undefined, slackOf: (agentId: string) => Slack): SlotSource {
  return {
    used: a.used,
    resources: a.resources,
    attributes: a.attributes,
    hostname: a.hostname,
    revocableUsed: a.revocableUsed,
    draining: state.maintenance.has(a.hostname),
    slack: slackOf(a.agentId),
    offer: offers === undefined ? freeOf(a) : offers.get(a.agentId)?.resources,
    offerId: offers?.get(a.agentId)?.offerId,
  };
}

function slotOf(state: CellState, a: AgentRecord, s: SlotSource): AgentSlot {
  // Placements name the offer they use, which the master checks at accept; a pass outside the
  // offer cycle (the simulator, a test) has the agent's free resources under a local name.
  const offer: Offer | undefined =
    s.offer === undefined
      ? undefined
      : { offerId: s.offerId ?? `${a.agentId}-free`, frameworkId: 'muster', agentId: a.agentId, hostname: a.hostname, attributes: a.attributes, resources: s.offer };
  return agentSlot(state, a, offer, s.slack);
}

/**
 * freeOf is an agent's total less what its tasks hold, computed once per `used` object: the same
 * `used` gives the same object, so the slot cache sees it unchanged and a pass allocates nothing
 * for an agent nothing happened on.
 */
const freeOfUsed = new WeakMap<Resources, { resources: Resources; free: Resources }>();
export function freeOf(a: AgentRecord): Resources {
  const hit = freeOfUsed.get(a.used);
  if (hit !== undefined && hit.resources === a.resources) return hit.free;
  const free = subtract(a.resources, a.used);
  freeOfUsed.set(a.used, { resources: a.resources, free });
  return free;
}
