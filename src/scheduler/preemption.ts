// Preemption finds room for a preferred task that no agent fits by killing lower tasks, as Borg and
// Aurora do, and keeps it from running away:
// - a victim is lower than the preemptor: of a lower tier (revocable < preemptible < preferred),
//   or of the same role and tier with a lower priority. A role's priorities order its own tasks
//   only; they never let one team's job kill another team's production task;
// - no cascades: only tasks with mayPreempt look for victims, and the master gives it to no task
//   that was itself preempted or already waits for victims;
// - a budget (the master's rate limit) caps the victims of one call;
// - a victim is chosen once per call, and the room its preemptor needs is kept aside, so that two
//   preemptors never count on the same room.
//
// On each agent that passes the task's static and limit filters the victims are added greedily,
// cheapest first: the lowest tier, then the lowest priority, and within those the smallest task
// that alone makes the preemptor fit, else the one that covers most of what is still lacking.
// Agents are compared by the cost of their victims, lexicographically:
//   (highest victim tier, highest victim priority, number of victims, cpus freed)
// the cheapest wins, ties going to the earlier agent of the seeded order.

import { add, countPorts, portsToRanges, subtractRanges, takePorts } from '../core/index.js';
import type { Resources } from '../core/index.js';
import { limitValueOf, type LimitCounts } from './constraints.js';
import { fitsResources, limitReject, resourceShortfalls, staticReject } from './filters.js';
import type { AgentFree, FilterName, TaskClass } from './filters.js';
import { chooseDevices, GPU_MILLI } from './gpus.js';
import { TIER_RANK } from './types.js';
import type { AgentSlot, PendingTask, Preemption, RunningTask } from './types.js';

/** PreemptInput is what preemption looks at once the placement pass is over. */
export interface PreemptInput {
  /** The tasks left unplaced, in placement order, each with its class. */
  readonly pending: readonly { readonly task: PendingTask; readonly cls: TaskClass }[];
  readonly agents: readonly AgentSlot[];
  /** What each agent has left, by index; preemption replaces an agent's entry as it keeps room aside. */
  readonly free: AgentFree[];
  /** Agent indexes in the order ties are broken by. */
  readonly order: ArrayLike<number>;
  readonly counts: LimitCounts;
  readonly runningOn: (agentId: string) => readonly RunningTask[];
  /** At most this many victims in all. */
  readonly budget: number;
}

/** Cost of a set of victims: compared lexicographically, lower is cheaper. */
export type Cost = readonly [tier: number, priority: number, victims: number, cpus: number];

/** cheaper: cost a is lower than cost b. */
export function cheaper(a: Cost, b: Cost): boolean {
  for (let i = 0; i < 4; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x !== y) return x < y;
  }
  return false;
}

/** isLower: the running task may be preempted for the class (a lower tier, or same role and tier and a lower priority). */
export function isLower(victim: RunningTask, cls: TaskClass): boolean {
  const v = TIER_RANK[victim.tier];
  const p = TIER_RANK[cls.tier];
  if (v < p) return true;
  return v === p && victim.role === cls.role && victim.priority < cls.priority;
}

/** withVictim is what the agent has once the victim is gone: revocable tasks hold cpus and mem in slack. */
export function withVictim(f: AgentFree, victim: RunningTask): AgentFree {
  const r = victim.resources;
  const revocable = victim.tier === 'revocable';
  const back: Resources = revocable ? { ...r, cpusMilli: 0, memMiB: 0 } : r;
  let gpuFree = f.gpuFree;
  if (victim.gpus.length > 0) {
    const g = [...f.gpuFree];
    for (const s of victim.gpus) if (s.device >= 0 && s.device < g.length) g[s.device] = Math.min(GPU_MILLI, (g[s.device] as number) + s.milli);
    gpuFree = g;
  }
  return {
    free: add(f.free, back),
    gpuFree,
    revocable: revocable ? { cpusMilli: f.revocable.cpusMilli + r.cpusMilli, memMiB: f.revocable.memMiB + r.memMiB } : f.revocable,
  };
}

/** withTask is what the agent has left once the task's request is kept aside for it. */
export function withTask(f: AgentFree, cls: TaskClass): AgentFree {
  const req = cls.request;
  const revocable = cls.tier === 'revocable';
  const ports = takePorts(f.free.ports, req.ports.length) ?? [];
  let gpuFree = f.gpuFree;
  if (cls.gpu !== undefined) {
    const milli = 'whole' in cls.gpu ? GPU_MILLI : cls.gpu.milli;
    const g = [...f.gpuFree];
    for (const d of chooseDevices(g, cls.gpu, 'pack') ?? []) g[d] = (g[d] as number) - milli;
    gpuFree = g;
  }
  return {
    free: {
      cpusMilli: f.free.cpusMilli - (revocable ? 0 : req.cpusMilli),
      memMiB: f.free.memMiB - (revocable ? 0 : req.memMiB),
      diskMiB: f.free.diskMiB - req.diskMiB,
      gpus: f.free.gpus - req.gpus,
      ports: subtractRanges(f.free.ports, portsToRanges(ports)),
    },
    gpuFree,
    revocable: revocable ? { cpusMilli: f.revocable.cpusMilli - req.cpusMilli, memMiB: f.revocable.memMiB - req.memMiB } : f.revocable,
  };
}

/**
 * coverage is how much of what the agent lacks the victim would give back, 0 when nothing: for each
 * resource short, the fraction of the shortfall covered (1 for GPUs and ports it frees any of).
 */
function coverage(cls: TaskClass, f: AgentFree, short: readonly FilterName[], victim: RunningTask): number {
  const req = cls.request;
  const r = victim.resources;
  const slack = victim.tier === 'revocable';
  const part = (have: number, need: number, give: number): number => (give <= 0 ? 0 : Math.min(1, give / Math.max(1, need - have)));
  let c = 0;
  for (const k of short) {
    switch (k) {
      case 'cpus':
        if (!slack) c += part(f.free.cpusMilli, req.cpusMilli, r.cpusMilli);
        break;
      case 'mem':
        if (!slack) c += part(f.free.memMiB, req.memMiB, r.memMiB);
        break;
      case 'revocable':
        if (slack) c += part(f.revocable.cpusMilli, req.cpusMilli, r.cpusMilli) + part(f.revocable.memMiB, req.memMiB, r.memMiB);
        break;
      case 'disk':
        c += part(f.free.diskMiB, req.diskMiB, r.diskMiB);
        break;
      case 'gpus':
        if (victim.gpus.length > 0) c += 1;
        break;
      case 'ports':
        if (countPorts(r.ports) > 0) c += 1;
        break;
      default:
        break;
    }
  }
  return c;
}

/** byCheapness orders victims: lowest tier, then lowest priority, then fewest cpus, then mem, then id. */
function byCheapness(a: RunningTask, b: RunningTask): number {
  return (
    TIER_RANK[a.tier] - TIER_RANK[b.tier] ||
    a.priority - b.priority ||
    a.resources.cpusMilli - b.resources.cpusMilli ||
    a.resources.memMiB - b.resources.memMiB ||
    (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0)
  );
}

/** Choice is the victims chosen on one agent, their cost and what the agent then has. */
export interface Choice {
  readonly victims: readonly RunningTask[];
  readonly cost: Cost;
  readonly free: AgentFree;
}

/**
 * victimsOn picks the cheapest victims among running that make the class fit on an agent with
 * free, at most max of them; undefined when none will do or when it fits without any.
 */
export function victimsOn(
  cls: TaskClass,
  free: AgentFree,
  running: readonly RunningTask[],
  options: { readonly taken: ReadonlySet<string>; readonly max: number; readonly disrupted?: ReadonlyMap<string, number> },
): Choice | undefined {
  if (options.max <= 0 || fitsResources(cls, free)) return undefined;
  // A job whose disruption budget is spent (counting victims this pass took already) gives none.
  const mayDisrupt = (r: RunningTask): boolean => r.disruptable === undefined || r.disruptable - (options.disrupted?.get(r.job) ?? 0) > 0;
  const candidates = running.filter((r) => !r.killing && !options.taken.has(r.taskId) && isLower(r, cls) && mayDisrupt(r)).sort(byCheapness);
  let f = free;
  const chosen: RunningTask[] = [];
  let tier = 0;
  let priority = -Infinity;
  let cpus = 0;
  let i = 0;
  while (!fitsResources(cls, f)) {
    if (chosen.length >= options.max || i >= candidates.length) return undefined;
    // The cheapest level left: victims of the same tier and priority cost alike.
    const first = candidates[i] as RunningTask;
    let end = i;
    while (end < candidates.length && TIER_RANK[(candidates[end] as RunningTask).tier] === TIER_RANK[first.tier] && (candidates[end] as RunningTask).priority === first.priority) end++;
    const short = resourceShortfalls(cls, f);
    let pick = -1;
    let most = 0;
    for (let j = i; j < end; j++) {
      const c = candidates[j] as RunningTask;
      const cover = coverage(cls, f, short, c);
      if (cover <= 0) continue;
      // Candidates are in size order, so the first one that completes the fit is the smallest.
      if (fitsResources(cls, withVictim(f, c))) {
        pick = j;
        break;
      }
      if (cover > most) {
        most = cover;
        pick = j;
      }
    }
    if (pick < 0) {
      i = end; // nobody at this level helps: on to the next level
      continue;
    }
    const v = candidates[pick] as RunningTask;
    candidates.splice(pick, 1);
    chosen.push(v);
    f = withVictim(f, v);
    const rank = TIER_RANK[v.tier];
    if (rank > tier || (rank === tier && v.priority > priority)) {
      tier = rank;
      priority = v.priority;
    }
    if (v.tier !== 'revocable') cpus += v.resources.cpusMilli;
  }
  if (chosen.length === 0) return undefined;
  return { victims: chosen, cost: [tier, priority, chosen.length, cpus], free: f };
}

/**
 * preempt chooses, for each pending task that may preempt, the agent where the cheapest victims make
 * it fit, within the budget. A class that found no room for one task finds none for its next ones
 * (victims and room only get used up), so it is not searched again.
 */
export function preempt(input: PreemptInput): Preemption[] {
  const out: Preemption[] = [];
  let budget = input.budget;
  if (budget <= 0) return out;
  const taken = new Set<string>();
  const disrupted = new Map<string, number>();
  const runningCache = new Map<string, readonly RunningTask[]>();
  const hopeless = new Set<TaskClass>();
  const runningOn = (agentId: string): readonly RunningTask[] => {
    let r = runningCache.get(agentId);
    if (r === undefined) {
      r = input.runningOn(agentId);
      runningCache.set(agentId, r);
    }
    return r;
  };
  for (const { task, cls } of input.pending) {
    if (budget <= 0) break;
    if (!task.mayPreempt || cls.tier !== 'preferred' || hopeless.has(cls)) continue;
    let best: Choice | undefined;
    let bestAt = -1;
    for (let k = 0; k < input.order.length; k++) {
      const i = input.order[k] as number;
      const agent = input.agents[i] as AgentSlot;
      if (staticReject(cls, agent) !== undefined || limitReject(cls, agent, input.counts) !== undefined) continue;
      const running = runningOn(agent.agentId);
      if (running.length === 0) continue;
      const c = victimsOn(cls, input.free[i] as AgentFree, running, { taken, max: budget, disrupted });
      if (c !== undefined && (best === undefined || cheaper(c.cost, best.cost))) {
        best = c;
        bestAt = i;
      }
    }
    if (best === undefined) {
      hopeless.add(cls);
      continue;
    }
    const agent = input.agents[bestAt] as AgentSlot;
    for (const v of best.victims) {
      taken.add(v.taskId);
      if (v.disruptable !== undefined) disrupted.set(v.job, (disrupted.get(v.job) ?? 0) + 1);
    }
    budget -= best.victims.length;
    input.free[bestAt] = withTask(best.free, cls);
    // The task will land there: a second task of its job must see the limit taken.
    for (const c of cls.limits) {
      const value = limitValueOf(agent, c.attribute);
      if (value !== undefined) input.counts.add(cls.job, c.attribute, value);
    }
    out.push({ key: task.key, agentId: agent.agentId, victims: best.victims.map((v) => v.taskId) });
  }
  return out;
}
