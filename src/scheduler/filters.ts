// Filters decide whether a task may go on an agent, one small check per concern, in a fixed order:
// draining, dedicated, the job's value constraints, its limits, then resources. Placement stops at
// the first rejection; explanation counts each agent under the first filter that turns it away (and
// under every resource it lacks), so the two always agree.
//
// Tasks are checked as classes: every pending task with the same request, constraints, tier, role
// and job (limits and spread count per job) is the same question, parsed once.

import { GPU_MILLI, type GpuRequest } from './gpus.js';
import { checkConstraint, LimitCounts, parseConstraints, type Constraint } from './constraints.js';
import type { AgentSlot, PendingTask, Tier } from './types.js';
import type { ResourceRequest, Resources } from '../core/index.js';
import { countPorts } from '../core/index.js';

/** The attribute that reserves an agent for one role (Aurora's dedicated machines). */
export const DEDICATED_ATTRIBUTE = 'dedicated';

export type FilterName = 'draining' | 'dedicated' | 'constraint' | 'limit' | 'cpus' | 'mem' | 'disk' | 'gpus' | 'ports' | 'revocable';

/** Rejection is why one filter turned a task away from one agent. */
export interface Rejection {
  readonly filter: FilterName;
  /** "rack is not r1", "host limit:1 reached", "dedicated to role ml", "host is draining". */
  readonly detail: string;
}

/** TaskClass is everything about a pending task that decides where it may go. */
export interface TaskClass {
  /** Equal for tasks that are the same question (see classKey). */
  readonly key: string;
  readonly job: string;
  readonly role: string;
  readonly tier: Tier;
  readonly priority: number;
  readonly request: ResourceRequest;
  readonly gpu: GpuRequest | undefined;
  readonly spreadBy: string;
  readonly constraints: readonly Constraint[];
  /** Value constraints (equals, oneOf, notEqual, invalid), in written order. */
  readonly values: readonly Constraint[];
  readonly limits: readonly Extract<Constraint, { kind: 'limit' }>[];
}

/**
 * classKey: tasks with the same key are interchangeable for placement. The job is part of it
 * because limits and spread count a job's own tasks.
 */
export function classKey(t: PendingTask): string {
  const r = t.request;
  return `${t.job}\u0000${t.tier}\u0000${t.priority}\u0000${r.cpusMilli}\u0000${r.memMiB}\u0000${r.diskMiB}\u0000${r.gpus}\u0000${r.ports.length}\u0000${t.spreadBy}\u0000${JSON.stringify(t.constraints)}`;
}

/** gpuRequestOfTask: whole devices for gpus ≥ 1, a milli share of one device for 0 < gpus < 1. */
export function gpuRequestOfTask(gpus: number): GpuRequest | undefined {
  if (gpus <= 0) return undefined;
  if (gpus < 1) return { milli: Math.round(gpus * GPU_MILLI) };
  return { whole: Math.round(gpus) };
}

export function classOf(t: PendingTask, key: string = classKey(t)): TaskClass {
  const constraints = parseConstraints(t.constraints);
  return {
    key,
    job: t.job,
    role: t.role,
    tier: t.tier,
    priority: t.priority,
    request: t.request,
    gpu: gpuRequestOfTask(t.request.gpus),
    spreadBy: t.spreadBy,
    constraints,
    values: constraints.filter((c) => c.kind !== 'limit'),
    limits: constraints.filter((c): c is Extract<Constraint, { kind: 'limit' }> => c.kind === 'limit'),
  };
}

const DRAINING: Rejection = Object.freeze({ filter: 'draining', detail: 'host is draining' });
const dedicatedRejections = new Map<string, Rejection>();

/**
 * staticReject checks what does not change within a pass: draining, dedicated, value constraints.
 * Placement may cache its answer per class and agent for the whole pass.
 */
export function staticReject(cls: TaskClass, agent: AgentSlot): Rejection | undefined {
  if (agent.draining) return DRAINING;
  const dedicated = Object.hasOwn(agent.attributes, DEDICATED_ATTRIBUTE) ? agent.attributes[DEDICATED_ATTRIBUTE] : undefined;
  if (dedicated !== undefined && dedicated !== cls.role) {
    let r = dedicatedRejections.get(dedicated);
    if (r === undefined) {
      r = Object.freeze({ filter: 'dedicated', detail: `dedicated to role ${dedicated}` });
      if (dedicatedRejections.size < 10_000) dedicatedRejections.set(dedicated, r);
    }
    return r;
  }
  for (const c of cls.values) {
    const r = checkConstraint(c, agent, cls.job, EMPTY_COUNTS);
    if (!r.ok) return { filter: 'constraint', detail: r.reason };
  }
  return undefined;
}

const EMPTY_COUNTS = new LimitCounts();

/** limitReject checks the job's limit constraints against the tasks counted so far. */
export function limitReject(cls: TaskClass, agent: AgentSlot, counts: LimitCounts): Rejection | undefined {
  for (const c of cls.limits) {
    const r = checkConstraint(c, agent, cls.job, counts);
    if (!r.ok) return { filter: 'limit', detail: r.reason };
  }
  return undefined;
}

/** gpuFitsDevices: the devices can hold the request (whole: enough wholly free devices; share: one device with room). */
export function gpuFitsDevices(gpuFree: ArrayLike<number>, gpu: GpuRequest | undefined): boolean {
  if (gpu === undefined) return true;
  if ('whole' in gpu) {
    let n = 0;
    for (let d = 0; d < gpuFree.length; d++) if ((gpuFree[d] as number) >= GPU_MILLI && ++n >= gpu.whole) return true;
    return false;
  }
  for (let d = 0; d < gpuFree.length; d++) if ((gpuFree[d] as number) >= gpu.milli) return true;
  return false;
}

/**
 * AgentFree is what an agent has for one task as resource filters see it: the regular free amount,
 * the GPU devices, and the revocable cpus and mem. Preemption passes an agent's free plus its
 * victims' resources.
 */
export interface AgentFree {
  readonly free: Resources;
  readonly gpuFree: readonly number[];
  readonly revocable: { readonly cpusMilli: number; readonly memMiB: number };
}

/**
 * resourceShortfalls lists the resources the agent lacks for the class, [] when it fits. A
 * revocable task takes cpus and mem from the revocable amount (filter "revocable" when short) and
 * disk, ports and GPUs from the regular free amount.
 */
export function resourceShortfalls(cls: TaskClass, a: AgentFree): FilterName[] {
  const out: FilterName[] = [];
  const req = cls.request;
  if (cls.tier === 'revocable') {
    if (a.revocable.cpusMilli < req.cpusMilli || a.revocable.memMiB < req.memMiB) out.push('revocable');
  } else {
    if (a.free.cpusMilli < req.cpusMilli) out.push('cpus');
    if (a.free.memMiB < req.memMiB) out.push('mem');
  }
  if (a.free.diskMiB < req.diskMiB) out.push('disk');
  if (!gpuFitsDevices(a.gpuFree, cls.gpu)) out.push('gpus');
  if (req.ports.length > 0 && countPorts(a.free.ports) < req.ports.length) out.push('ports');
  return out;
}

/** fitsResources: resourceShortfalls is empty, without building the list. */
export function fitsResources(cls: TaskClass, a: AgentFree): boolean {
  const req = cls.request;
  if (cls.tier === 'revocable') {
    if (a.revocable.cpusMilli < req.cpusMilli || a.revocable.memMiB < req.memMiB) return false;
  } else if (a.free.cpusMilli < req.cpusMilli || a.free.memMiB < req.memMiB) return false;
  if (a.free.diskMiB < req.diskMiB) return false;
  if (req.ports.length > 0 && countPorts(a.free.ports) < req.ports.length) return false;
  return gpuFitsDevices(a.gpuFree, cls.gpu);
}
