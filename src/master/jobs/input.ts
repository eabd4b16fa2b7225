// The scheduler's input, built from the cell state. The master's job scheduler, `muster job plan`
// and the benchmarks all build it here, so that each asks the placement code the same question.

import { isTerminal, parseJobKey, requestOf, subtract, type Resources } from '../../core/index.js';
import type { AgentSlot, Offer, PendingTask, RunningTask, Tier } from '../../scheduler/index.js';
import type { AgentRecord, CellState, JobRecord, TaskRecord } from '../state/index.js';

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
export function pendingTaskOf(job: JobRecord, instance: number, request = requestOf(job.spec)): PendingTask {
  const inst = job.instances[instance];
  const spec = job.spec;
  const tier: Tier = spec.tier;
  return {
    key: `${job.key}/${instance}`,
    job: job.key,
    instance,
    role: parseJobKey(job.key).role,
    request,
    constraints: spec.constraints,
    tier,
    priority: spec.priority,
    spreadBy: spreadByOf(spec),
    mayPreempt: tier === 'preferred' && inst?.preempted !== true && (inst?.awaitingVictims ?? []).length === 0,
  };
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
  for (const job of state.jobs.values()) {
    if (job.state !== 'ACTIVE') continue;
    let any = false;
    for (const inst of job.instances) {
      if (inst.state !== 'PENDING') continue;
      if (inst.notBefore > now) later(inst.notBefore);
      else any = true;
    }
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
      out.push(pendingTaskOf(job, inst.instance, request));
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

/** runningOnAgent: the non-terminal tasks on an agent. */
export function runningOnAgent(state: CellState, agentId: string): RunningTask[] {
  const agent = state.agents.get(agentId);
  if (agent === undefined) return [];
  const out: RunningTask[] = [];
  for (const id of agent.taskIds) {
    const task = state.tasks.get(id);
    if (task === undefined) continue;
    const r = runningTaskOf(state, task);
    if (r !== undefined) out.push(r);
  }
  return out;
}
