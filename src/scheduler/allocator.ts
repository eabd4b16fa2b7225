// The allocator hands out resource offers as Mesos's does: each agent's free resources, all of
// them, to one framework, chosen by hierarchical Dominant Resource Fairness (Ghodsi et al., NSDI
// 2011), the two levels of Mesos's sorters. First the role: the one whose largest share of any one
// resource of the cell (summed over its frameworks), divided by its weight, is the smallest, except
// that a role still below its quota guarantee goes before every role that is not. Then, inside that
// role, its framework of smallest dominant share. Roles first means a role does not gain by running
// more frameworks: two frameworks of one role share what one would have had.
//
// What is offered counts as allocated at once, to the framework and its role, so one pass over many
// agents spreads them between roles and frameworks instead of giving every agent to the poorest.
// Only roles with a framework that may take the agent (not suppressed, no live decline filter for
// it) compete for it: a role that wants nothing does not hold an agent back from the others.

import { gpusToMilli, type Resources } from '../core/index.js';
import type { AllocatorFramework, AllocatorInput, Offer, PendingTask } from './types.js';

/** SCALARS are the resources dominant share is taken over; ports are not a share of anything. */
const SCALARS = 4;

/**
 * scalar is one resource as an integer (gpus in milli), so that sums over frameworks are exact and
 * do not depend on the order frameworks come in: a share tie stays a tie.
 */
function scalar(r: Resources, k: number): number {
  switch (k) {
    case 0:
      return r.cpusMilli;
    case 1:
      return r.memMiB;
    case 2:
      return r.diskMiB;
    default:
      return gpusToMilli(r.gpus);
  }
}

/** hasFree: something positive to offer. Negative scalars are overcommit, not a gift. */
function hasFree(r: Resources): boolean {
  return r.cpusMilli > 0 || r.memMiB > 0 || r.diskMiB > 0 || r.gpus > 0 || r.ports.length > 0;
}

/** eligible: the framework wants offers and has no live decline filter for the agent. */
function eligible(f: AllocatorFramework, agentId: string, now: number): boolean {
  if (f.suppressed) return false;
  const until = f.declined.get(agentId);
  return until === undefined || until <= now;
}

/** weightOf: a role's weight; missing or not a positive number: 1. */
function weightOf(weights: ReadonlyMap<string, number>, role: string): number {
  const w = weights.get(role);
  return w !== undefined && Number.isFinite(w) && w > 0 ? w : 1;
}

/**
 * allocate offers each agent's free resources to one framework: of the roles with a framework
 * that may take the agent, those below their quota guarantee first, then the lowest weighted
 * dominant share, ties to the lower role name; inside that role, the framework of lowest dominant
 * share, ties to the lower frameworkId. Agents are taken in the given order, an agent no framework
 * may have is skipped; the same input gives the same offers, whatever the order of frameworks.
 * Role weights default to 1; one that is not a positive number counts as 1. It costs
 * O(agents × frameworks).
 */
export function allocate(input: AllocatorInput): Offer[] {
  const { agents, frameworks, now } = input;

  const total = new Float64Array(SCALARS);
  for (const a of agents) for (let k = 0; k < SCALARS; k++) total[k] = (total[k] as number) + scalar(a.total, k);
  const dominantOf = (held: Float64Array, at: number): number => {
    let dominant = 0;
    for (let k = 0; k < SCALARS; k++) {
      const t = total[k] as number;
      if (t <= 0) continue;
      const s = (held[at + k] as number) / t;
      if (s > dominant) dominant = s;
    }
    return dominant;
  };

  // Roles are numbered as they first appear; each framework points at its role's number.
  const roleNumber = new Map<string, number>();
  const roleOf = new Int32Array(frameworks.length);
  for (let fi = 0; fi < frameworks.length; fi++) {
    const role = (frameworks[fi] as AllocatorFramework).role;
    let ri = roleNumber.get(role);
    if (ri === undefined) {
      ri = roleNumber.size;
      roleNumber.set(role, ri);
    }
    roleOf[fi] = ri;
  }
  const roles = [...roleNumber.keys()];

  const fwHeld = new Float64Array(frameworks.length * SCALARS);
  const fwShare = new Float64Array(frameworks.length);
  const roleHeld = new Float64Array(roles.length * SCALARS);
  for (let fi = 0; fi < frameworks.length; fi++) {
    const f = frameworks[fi] as AllocatorFramework;
    const ri = roleOf[fi] as number;
    for (let k = 0; k < SCALARS; k++) {
      const v = scalar(f.allocated, k);
      fwHeld[fi * SCALARS + k] = v;
      roleHeld[ri * SCALARS + k] = (roleHeld[ri * SCALARS + k] as number) + v;
    }
    fwShare[fi] = dominantOf(fwHeld, fi * SCALARS);
  }

  // A quota figure of 0 names no guarantee for that resource (a quota leaves out what it does not limit).
  const quota = new Float64Array(roles.length * SCALARS);
  const roleWeight = new Float64Array(roles.length);
  const roleShare = new Float64Array(roles.length);
  const underQuota = new Uint8Array(roles.length);
  const rescore = (ri: number): void => {
    roleShare[ri] = dominantOf(roleHeld, ri * SCALARS) / (roleWeight[ri] as number);
    let under = 0;
    for (let k = 0; k < SCALARS; k++) {
      const q = quota[ri * SCALARS + k] as number;
      if (q > 0 && (roleHeld[ri * SCALARS + k] as number) < q) under = 1;
    }
    underQuota[ri] = under;
  };
  for (let ri = 0; ri < roles.length; ri++) {
    const role = roles[ri] as string;
    roleWeight[ri] = weightOf(input.roleWeights, role);
    const q = input.quotas?.get(role);
    if (q !== undefined) for (let k = 0; k < SCALARS; k++) quota[ri * SCALARS + k] = scalar(q, k);
    rescore(ri);
  }

  // before: framework fi goes before framework b, by role first and then inside the role. One scan
  // of the frameworks per agent finds the best of both levels at once: the order is total.
  const before = (fi: number, b: number): boolean => {
    const ri = roleOf[fi] as number;
    const rb = roleOf[b] as number;
    if (ri !== rb) {
      if (underQuota[ri] !== underQuota[rb]) return (underQuota[ri] as number) > (underQuota[rb] as number);
      const s = roleShare[ri] as number;
      const t = roleShare[rb] as number;
      return s < t || (s === t && (roles[ri] as string) < (roles[rb] as string));
    }
    const s = fwShare[fi] as number;
    const t = fwShare[b] as number;
    return s < t || (s === t && (frameworks[fi] as AllocatorFramework).frameworkId < (frameworks[b] as AllocatorFramework).frameworkId);
  };

  const offers: Offer[] = [];
  for (const agent of agents) {
    if (!hasFree(agent.free)) continue;
    let best = -1;
    for (let fi = 0; fi < frameworks.length; fi++) {
      if (!eligible(frameworks[fi] as AllocatorFramework, agent.agentId, now)) continue;
      if (best < 0 || before(fi, best)) best = fi;
    }
    if (best < 0) continue;
    const f = frameworks[best] as AllocatorFramework;
    offers.push({
      offerId: input.nextOfferId(),
      frameworkId: f.frameworkId,
      agentId: agent.agentId,
      hostname: agent.hostname,
      attributes: agent.attributes,
      resources: agent.free,
    });
    const ri = roleOf[best] as number;
    for (let k = 0; k < SCALARS; k++) {
      const v = scalar(agent.free, k);
      fwHeld[best * SCALARS + k] = (fwHeld[best * SCALARS + k] as number) + v;
      roleHeld[ri * SCALARS + k] = (roleHeld[ri * SCALARS + k] as number) + v;
    }
    fwShare[best] = dominantOf(fwHeld, best * SCALARS);
    rescore(ri);
  }
  return offers;
}

// ---- fair order of pending tasks ------------------------------------------------------------------

/** DrfOrderInput is what the fair order of pending tasks weighs them by. */
export interface DrfOrderInput {
  /** What each role's tasks hold now. */
  readonly allocatedByRole: ReadonlyMap<string, Resources>;
  /** The cell's total, for shares. */
  readonly total: Resources;
  /** Role weights; missing or not a positive number: 1. */
  readonly roleWeights: ReadonlyMap<string, number>;
}

/** RoleQueue is one role's tasks of one tier, in their given order, and the role's share. */
interface RoleQueue {
  readonly role: string;
  readonly tasks: PendingTask[];
  next: number;
  share: number;
}

function queueBefore(a: RoleQueue, b: RoleQueue): boolean {
  return a.share < b.share || (a.share === b.share && a.role < b.role);
}

/**
 * drfOrder orders pending tasks for placement: tiers stay in the order given (preferred, then
 * preemptible, then revocable; the caller sorts by tier and priority), and within a tier the roles
 * take turns by weighted dominant share (DRF): the role whose largest share of any one resource of
 * the cell (cpus, mem, disk, gpus), divided by its weight, is the smallest goes next, ties to the
 * lower role name. Each task's request counts as allocated to its role as it is ordered, so a role
 * that holds everything still lets a newcomer through, and weights 1 and 3 take turns about 1:3.
 * A role's own tasks keep their given order.
 */
export function drfOrder(tasks: readonly PendingTask[], input: DrfOrderInput): PendingTask[] {
  const total = new Float64Array(SCALARS);
  for (let k = 0; k < SCALARS; k++) total[k] = scalar(input.total, k);
  const allocated = new Map<string, Float64Array>();
  const allocatedOf = (role: string): Float64Array => {
    let a = allocated.get(role);
    if (a === undefined) {
      a = new Float64Array(SCALARS);
      const held = input.allocatedByRole.get(role);
      if (held !== undefined) for (let k = 0; k < SCALARS; k++) a[k] = scalar(held, k);
      allocated.set(role, a);
    }
    return a;
  };
  const shareOf = (role: string): number => {
    const a = allocatedOf(role);
    let dominant = 0;
    for (let k = 0; k < SCALARS; k++) {
      const t = total[k] as number;
      if (t <= 0) continue;
      const s = (a[k] as number) / t;
      if (s > dominant) dominant = s;
    }
    return dominant / weightOf(input.roleWeights, role);
  };

  const out: PendingTask[] = [];
  let i = 0;
  while (i < tasks.length) {
    // One tier at a time: the run of tasks of the same tier.
    const tier = (tasks[i] as PendingTask).tier;
    const queues = new Map<string, RoleQueue>();
    for (; i < tasks.length && (tasks[i] as PendingTask).tier === tier; i++) {
      const t = tasks[i] as PendingTask;
      let q = queues.get(t.role);
      if (q === undefined) {
        q = { role: t.role, tasks: [], next: 0, share: 0 };
        queues.set(t.role, q);
      }
      q.tasks.push(t);
    }
    // A min-heap of roles by share: many roles cost log(roles) per task, not roles.
    const heap: RoleQueue[] = [];
    for (const q of queues.values()) {
      q.share = shareOf(q.role);
      heap.push(q);
      let c = heap.length - 1;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!queueBefore(heap[c] as RoleQueue, heap[p] as RoleQueue)) break;
        [heap[c], heap[p]] = [heap[p] as RoleQueue, heap[c] as RoleQueue];
        c = p;
      }
    }
    while (heap.length > 0) {
      const q = heap[0] as RoleQueue;
      const t = q.tasks[q.next++] as PendingTask;
      out.push(t);
      const a = allocatedOf(q.role);
      a[0] = (a[0] as number) + t.request.cpusMilli;
      a[1] = (a[1] as number) + t.request.memMiB;
      a[2] = (a[2] as number) + t.request.diskMiB;
      a[3] = (a[3] as number) + gpusToMilli(t.request.gpus);
      q.share = shareOf(q.role);
      if (q.next >= q.tasks.length) {
        const last = heap.pop() as RoleQueue;
        if (heap.length === 0) break;
        heap[0] = last;
      }
      // Sift the root down: its share only grew (or it was replaced by the last leaf).
      let c = 0;
      for (;;) {
        const l = 2 * c + 1;
        if (l >= heap.length) break;
        const r = l + 1;
        const m = r < heap.length && queueBefore(heap[r] as RoleQueue, heap[l] as RoleQueue) ? r : l;
        if (!queueBefore(heap[m] as RoleQueue, heap[c] as RoleQueue)) break;
        [heap[c], heap[m]] = [heap[m] as RoleQueue, heap[c] as RoleQueue];
        c = m;
      }
    }
  }
  return out;
}
