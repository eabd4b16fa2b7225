// The allocator hands out resource offers as Mesos's does: each agent's free resources, all of
// them, to one framework, chosen by Dominant Resource Fairness (Ghodsi et al., NSDI 2011): the
// framework whose largest share of any one resource of the cell, divided by its role's weight, is
// the smallest. What is offered counts as allocated at once, so one pass over many agents spreads
// them between frameworks instead of giving every agent to the poorest.
//
// This is flat DRF over frameworks; the hierarchy of DESIGN.md (roles first, quota guarantees,
// then frameworks inside a role) is for a later issue. With one framework per role, as now, the
// two agree.

import type { Resources } from '../core/index.js';
import type { AllocatorFramework, AllocatorInput, Offer } from './types.js';

/** SCALARS are the resources dominant share is taken over; ports are not a share of anything. */
const SCALARS = 4;

function scalar(r: Resources, k: number): number {
  switch (k) {
    case 0:
      return r.cpusMilli;
    case 1:
      return r.memMiB;
    case 2:
      return r.diskMiB;
    default:
      return r.gpus;
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

/**
 * allocate offers each agent's free resources to the eligible framework of lowest weighted
 * dominant share, ties going to the lower frameworkId. Agents are taken in the given order,
 * an agent no framework may have is skipped; the same input gives the same offers.
 * Role weights default to 1; one that is not a positive number counts as 1.
 */
export function allocate(input: AllocatorInput): Offer[] {
  const { agents, frameworks, now } = input;

  const total = new Float64Array(SCALARS);
  for (const a of agents) for (let k = 0; k < SCALARS; k++) total[k] = (total[k] as number) + scalar(a.total, k);

  const allocated = new Float64Array(frameworks.length * SCALARS);
  const weight = new Float64Array(frameworks.length);
  const share = new Float64Array(frameworks.length);
  const shareOf = (fi: number): number => {
    let dominant = 0;
    for (let k = 0; k < SCALARS; k++) {
      const t = total[k] as number;
      if (t <= 0) continue;
      const s = (allocated[fi * SCALARS + k] as number) / t;
      if (s > dominant) dominant = s;
    }
    return dominant / (weight[fi] as number);
  };
  for (let fi = 0; fi < frameworks.length; fi++) {
    const f = frameworks[fi] as AllocatorFramework;
    for (let k = 0; k < SCALARS; k++) allocated[fi * SCALARS + k] = scalar(f.allocated, k);
    const w = input.roleWeights.get(f.role);
    weight[fi] = w !== undefined && Number.isFinite(w) && w > 0 ? w : 1;
    share[fi] = shareOf(fi);
  }

  const offers: Offer[] = [];
  for (const agent of agents) {
    if (!hasFree(agent.free)) continue;
    let best = -1;
    for (let fi = 0; fi < frameworks.length; fi++) {
      const f = frameworks[fi] as AllocatorFramework;
      if (!eligible(f, agent.agentId, now)) continue;
      if (best < 0) {
        best = fi;
        continue;
      }
      const s = share[fi] as number;
      const b = share[best] as number;
      if (s < b || (s === b && f.frameworkId < (frameworks[best] as AllocatorFramework).frameworkId)) best = fi;
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
    for (let k = 0; k < SCALARS; k++) {
      allocated[best * SCALARS + k] = (allocated[best * SCALARS + k] as number) + scalar(agent.free, k);
    }
    share[best] = shareOf(best);
  }
  return offers;
}
