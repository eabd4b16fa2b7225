// The launch command: what a framework's ACCEPT becomes. A framework (the built-in one in process,
// an external one over the Mesos API) answers offers with launches on them; the master, and only
// the master, checks each against the offer it names and against the state, turns the survivors
// into events, appends them, and then sends LAUNCH. A framework never appends a launch itself.
//
// Two checks, in two places, for two reasons:
// - checkOffer (before the append, against the offer book): the offer is outstanding and held by
//   this framework, the task is on the offer's agent, and the tasks launched on one offer fit in
//   it together (cpus, mem, disk, GPUs, and distinct ports from its ranges). A framework's bug
//   cannot then overcommit an agent or take another framework's offer.
// - launchEvents (inside the append, against the state it is appended to): the instance is still
//   pending and the victims still alive, so that anything awaited between decision and append
//   cannot launch an instance twice.

import { isTerminal, type Resources } from '../../core/index.js';
import type { Offer } from '../../scheduler/index.js';
import type { CellState, Event, LaunchedTask, PreemptionRecord } from '../state/index.js';

/** Launch is one task a framework launches on one of its offers. */
export interface Launch {
  readonly offerId: string;
  readonly task: LaunchedTask;
}

/** AcceptRequest is a framework's answer to its offers: launches, and (built-in framework) preemptions. */
export interface AcceptRequest {
  readonly frameworkId: string;
  readonly launches: readonly Launch[];
  readonly preemptions: readonly PreemptionRecord[];
  /** Revocable tasks to kill because the slack they run on is taken back. */
  readonly reclaimed: readonly string[];
}

/** Refused is a launch the master would not take, and why (for the log and the framework). */
export interface Refused {
  readonly taskId: string;
  readonly agentId: string;
  readonly reason: string;
}

/**
 * checkOffers keeps the launches that name an offer the framework holds on the task's agent and
 * that fit in it together with the others on the same offer; the rest are refused with the reason.
 * offerOn is the offer outstanding to the framework on an agent (one at most: an agent's
 * resources are never in two offers).
 */
export function checkOffers(
  frameworkId: string,
  launches: readonly Launch[],
  offerOn: (agentId: string) => Offer | undefined,
): { accepted: Launch[]; refused: Refused[] } {
  const accepted: Launch[] = [];
  const refused: Refused[] = [];
  // What the launches accepted so far take of each offer.
  const taken = new Map<string, { cpusMilli: number; memMiB: number; diskMiB: number; gpus: number; ports: Set<number> }>();
  for (const l of launches) {
    const t = l.task;
    const offer = offerOn(t.agentId);
    if (offer === undefined || offer.offerId !== l.offerId || offer.frameworkId !== frameworkId) {
      refused.push({ taskId: t.taskId, agentId: t.agentId, reason: `offer ${l.offerId} on agent ${t.agentId} is not outstanding to framework ${frameworkId}` });
      continue;
    }
    let used = taken.get(l.offerId);
    if (used === undefined) {
      used = { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: new Set() };
      taken.set(l.offerId, used);
    }
    const why = exceeds(offer.resources, used, t);
    if (why !== undefined) {
      refused.push({ taskId: t.taskId, agentId: t.agentId, reason: `offer ${l.offerId}: ${why}` });
      continue;
    }
    // A revocable task's cpus and mem come from the agent's slack, not from the offer.
    if (t.revocable !== true) {
      used.cpusMilli += t.resources.cpusMilli;
      used.memMiB += t.resources.memMiB;
    }
    used.diskMiB += t.resources.diskMiB;
    used.gpus += t.resources.gpus;
    for (const p of Object.values(t.ports)) used.ports.add(p);
    accepted.push(l);
  }
  return { accepted, refused };
}

/** exceeds says what of the offer a task would take beyond what is left of it, or undefined if it fits. */
function exceeds(
  offer: Resources,
  used: { cpusMilli: number; memMiB: number; diskMiB: number; gpus: number; ports: ReadonlySet<number> },
  t: LaunchedTask,
): string | undefined {
  const r = t.resources;
  if (t.revocable !== true) {
    if (used.cpusMilli + r.cpusMilli > offer.cpusMilli) return `cpus ${(used.cpusMilli + r.cpusMilli) / 1000} exceed the ${offer.cpusMilli / 1000} offered`;
    if (used.memMiB + r.memMiB > offer.memMiB) return `mem ${used.memMiB + r.memMiB} MiB exceeds the ${offer.memMiB} MiB offered`;
  }
  if (used.diskMiB + r.diskMiB > offer.diskMiB) return `disk ${used.diskMiB + r.diskMiB} MiB exceeds the ${offer.diskMiB} MiB offered`;
  // GPU devices are whole numbers or milli shares; compare in milli so shares add exactly.
  if (Math.round((used.gpus + r.gpus) * 1000) > Math.round(offer.gpus * 1000)) return `gpus ${used.gpus + r.gpus} exceed the ${offer.gpus} offered`;
  for (const p of Object.values(t.ports)) {
    if (used.ports.has(p)) return `port ${p} is taken by another task on the same offer`;
    if (!offer.ports.some((range) => p >= range.begin && p <= range.end)) return `port ${p} is not in the offered ranges`;
  }
  return undefined;
}

/**
 * launchEvents is the decision inside the append: the launches whose instance is still pending
 * (and whose agent is known and reachable), the preemptions whose preemptor still waits, and the
 * reclaimed tasks still alive, as events. Nothing is launched twice however long the caller took.
 */
export function launchEvents(
  s: CellState,
  at: number,
  req: Pick<AcceptRequest, 'launches' | 'preemptions' | 'reclaimed'>,
): { events: Event[]; launched: LaunchedTask[]; victims: number } {
  const launched: LaunchedTask[] = [];
  for (const { task } of req.launches) {
    if (s.jobs.get(task.job)?.instances[task.instance]?.state !== 'PENDING') continue;
    if (s.agents.get(task.agentId)?.reachable !== true) continue;
    if (s.tasks.has(task.taskId)) continue;
    launched.push(task);
  }
  const preemptions = req.preemptions.filter((p) => s.jobs.get(p.job)?.instances[p.instance]?.state === 'PENDING');
  const reclaimed = req.reclaimed.filter((id) => {
    const t = s.tasks.get(id);
    return t !== undefined && !isTerminal(t.state) && t.kill === undefined;
  });
  const events: Event[] = [];
  if (launched.length > 0) events.push({ type: 'TasksLaunched', at, tasks: launched });
  if (preemptions.length > 0 || reclaimed.length > 0) events.push({ type: 'TasksPreempted', at, preemptions, reclaimed });
  return { events, launched, victims: preemptions.reduce((n, p) => n + p.victims.length, 0) + reclaimed.length };
}
