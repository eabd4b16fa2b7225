// `muster job plan`: POST /api/v1/jobs/plan answers what creating (or replacing) a job would do in
// the cell as it is now: where each instance would land, whom it would preempt, and why the rest
// would stay pending. It runs the master's own scheduler on a copy of the question the master asks
// each pass, with the planned job added, and writes nothing: the log is untouched.

import { authorize } from '../auth/index.js';
import { add, requestOf, type JobSpec, type Resources } from '../../core/index.js';
import type {
  JobPlanView,
  PlannedPendingView,
  PlannedPlacementView,
  PlannedPreemptionView,
} from '../../protocol/index.js';
import { GPU_MILLI, place, TIER_RANK, type AgentSlot, type PendingTask, type PlacementOptions, type RunningTask } from '../../scheduler/index.js';
import type { EventLog } from '../eventlog.js';
import { agentSlots, pendingTaskOf, pendingTasks, runningOfJob, runningOnAgent, type Slack } from '../jobs/index.js';
import { checkQuota, type CellState, type InstanceRecord, type JobRecord } from '../state/index.js';
import { whyPendingView } from '../views.js';
import { readJobSpec, type JobPolicy } from './jobs.js';
import { sendJson, type Router } from './router.js';

/**
 * PLAN_PREEMPTION_BUDGET is how many victims one plan may pick. The master preempts at most its
 * rate limit per pass, but it keeps going pass after pass, so a plan shows every preemption the job
 * would cause in the end rather than the first pass's share; it is bounded all the same.
 */
export const PLAN_PREEMPTION_BUDGET = 1000;

export interface PlanRoutesDeps {
  log: EventLog;
  policy: JobPolicy;
  /** The options the master's job scheduler places with (seed, weights, sampling). */
  placementOptions: () => PlacementOptions;
  /** Slack of each agent: what revocable tasks may use. */
  slackOf: (agentId: string) => Slack;
  /** Only connected agents get offers, so only they count for a plan. */
  isConnected: (agentId: string) => boolean;
}

export function addPlanRoutes(router: Router, deps: PlanRoutesDeps): void {
  router.add('POST', '/api/v1/jobs/plan', async ({ req, res, url, caller }) => {
    // Parsed and validated exactly as a create is, so a plan refuses what a create would refuse.
    const spec = await readJobSpec(req, url, deps.policy);
    const log = deps.log;
    // A plan changes nothing, but shows the cell's agents and the role's neighbours: a read.
    authorize(log.state, caller, 'job:read', spec.job.split('/')[0] ?? '*');
    const view = planJob(log.state, spec, {
      now: log.now(),
      options: deps.placementOptions(),
      slackOf: deps.slackOf,
      isConnected: deps.isConnected,
    });
    sendJson(res, 200, view);
  });
}

export interface PlanContext {
  now: number;
  options: PlacementOptions;
  slackOf: (agentId: string) => Slack;
  isConnected: (agentId: string) => boolean;
}

/**
 * planJob places the job of spec in the cell of state as the master would now, among the tasks
 * already pending there, and reports the job's own outcomes. A job that exists is planned as its
 * replacement: what its current tasks hold counts as free and they neither limit nor spread it.
 * It reads state and never changes it.
 */
export function planJob(state: CellState, spec: JobSpec, ctx: PlanContext): JobPlanView {
  const key = spec.job;
  const old = state.jobs.get(key);
  const existing = old !== undefined && (old.state === 'ACTIVE' || old.state === 'KILLING');
  const record = plannedRecord(spec, ctx.now);
  const request = requestOf(spec);
  const planned = record.instances.map((i) => pendingTaskOf(record, i.instance, request));
  const others = pendingTasks(state, ctx.now).filter((t) => t.job !== key);
  const tasks = withPlanned(others, planned);

  const oldTasks = existing ? runningOfJob(state, key) : [];
  // Disruption budgets of the jobs preemption looks at, as the scheduling pass keeps them.
  const budgets = new Map<string, number>();
  const agents = agentSlots(state, undefined, ctx.slackOf, ctx.isConnected).map((slot) => freedOf(state, slot, oldTasks));
  const result = place({
    tasks,
    agents,
    runningOf: (job) => (job === key ? [] : runningOfJob(state, job)),
    runningOn: (agentId) => runningOnAgent(state, agentId, budgets).filter((t) => t.job !== key),
    options: { ...ctx.options, preemptionBudget: PLAN_PREEMPTION_BUDGET },
  });

  const instanceOf = new Map(planned.map((t) => [t.key, t.instance]));
  const hostnameOf = (agentId: string): string => state.agents.get(agentId)?.hostname ?? agentId;
  const done = new Set<number>();
  const placements: PlannedPlacementView[] = [];
  for (const p of result.placements) {
    const instance = instanceOf.get(p.key);
    if (instance === undefined) continue;
    done.add(instance);
    placements.push({
      instance,
      agentId: p.agentId,
      hostname: hostnameOf(p.agentId),
      ports: { ...p.ports },
      gpus: p.gpus.map((g) => ({ device: g.device, milli: g.milli })),
      revocable: p.revocable,
    });
  }
  const preemptions: PlannedPreemptionView[] = [];
  for (const p of result.preemptions) {
    const instance = instanceOf.get(p.key);
    if (instance === undefined) continue;
    done.add(instance);
    preemptions.push({
      instance,
      agentId: p.agentId,
      hostname: hostnameOf(p.agentId),
      victims: p.victims.map((taskId) => {
        const t = state.tasks.get(taskId);
        return { taskId, job: t?.job ?? '', instance: t?.instance ?? -1 };
      }),
    });
  }
  const pending: PlannedPendingView[] = [];
  for (const u of result.unplaced) {
    const instance = instanceOf.get(u.key);
    if (instance === undefined || done.has(instance)) continue;
    done.add(instance);
    pending.push({ instance, reason: u.reason, why: whyPendingView(u.why) });
  }
  // place() answers for every task it is given; this only keeps the plan whole should it not.
  for (const t of planned) {
    if (done.has(t.instance)) continue;
    const summary = 'not reached by the scheduler in this pass';
    pending.push({ instance: t.instance, reason: summary, why: { summary, filters: [], changes: [] } });
  }
  const byInstance = (a: { instance: number }, b: { instance: number }): number => a.instance - b.instance;
  const view: JobPlanView = {
    job: key,
    existing,
    placements: placements.sort(byInstance),
    preemptions: preemptions.sort(byInstance),
    pending: pending.sort(byInstance),
  };
  const refusal = checkQuota(state, spec);
  // The same words as the create's QUOTA_EXCEEDED error, so that a plan says what a create would.
  if (refusal !== undefined) view.quota = `cannot create job ${key}: ${refusal.message}; see muster quota get ${refusal.role}`;
  return view;
}

/** plannedRecord is the job as JobCreated would make it, every instance pending: in memory only. */
function plannedRecord(spec: JobSpec, now: number): JobRecord {
  const instances: InstanceRecord[] = [];
  for (let i = 0; i < spec.instances; i++) {
    instances.push({ instance: i, state: 'PENDING', previousTaskIds: [], runs: 0, failures: 0, notBefore: now });
  }
  return { key: spec.job, spec, state: 'ACTIVE', createdAt: now, instances };
}

/**
 * withPlanned puts the planned tasks where the master's order would: after every pending task of a
 * higher or equal tier and priority (those are older than a job created now), before the rest.
 */
function withPlanned(ordered: readonly PendingTask[], planned: readonly PendingTask[]): PendingTask[] {
  const first = planned[0];
  if (first === undefined) return [...ordered];
  const rank = TIER_RANK[first.tier];
  let at = ordered.findIndex((t) => TIER_RANK[t.tier] < rank || (TIER_RANK[t.tier] === rank && t.priority < first.priority));
  if (at < 0) at = ordered.length;
  return [...ordered.slice(0, at), ...planned, ...ordered.slice(at)];
}

/**
 * freedOf gives back to an agent what the replaced job's tasks hold there: a revocable task's cpus
 * and mem to the slack it runs in, everything else (and its GPU shares) to the free resources.
 */
function freedOf(state: CellState, slot: AgentSlot, oldTasks: readonly RunningTask[]): AgentSlot {
  let free: Resources = slot.free;
  let gpuFree: number[] | undefined;
  let revocable = slot.revocable;
  for (const t of oldTasks) {
    if (t.agentId !== slot.agentId) continue;
    if (state.tasks.get(t.taskId)?.revocable === true) {
      free = add(free, { ...t.resources, cpusMilli: 0, memMiB: 0 });
      revocable = { cpusMilli: revocable.cpusMilli + t.resources.cpusMilli, memMiB: revocable.memMiB + t.resources.memMiB };
    } else {
      free = add(free, t.resources);
    }
    for (const g of t.gpus) {
      gpuFree ??= [...slot.gpuFree];
      const now = gpuFree[g.device];
      if (now !== undefined) gpuFree[g.device] = Math.min(GPU_MILLI, now + g.milli);
    }
  }
  if (free === slot.free && gpuFree === undefined) return slot;
  return { ...slot, free, revocable, gpuFree: gpuFree ?? slot.gpuFree };
}
