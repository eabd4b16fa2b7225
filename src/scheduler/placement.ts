// Placement is first fit: tasks in the order given (the caller orders them by priority), each on the
// first offer, in the order given, whose remaining resources hold it and whose agent passes its
// constraints. What a task takes is subtracted from the offer at once, so the tasks after it see
// what is left. Scoring, spreading and sampling belong to a later, cleverer pass; this one is
// correct, deterministic and cheap.

import { allocate, satisfies, subtract, takePorts } from '../core/index.js';
import type { Resources } from '../core/index.js';
import { checkConstraint, LimitCounts, limitValueOf, parseConstraints } from './constraints.js';
import type { Constraint } from './constraints.js';
import { whyNot } from './explain.js';
import type { Attributes, Offer, PendingTask, Placement, PlacementInput, PlacementResult, Unplaced } from './types.js';

/**
 * Shape is what decides where a task can go: its request, its constraints and, when it has a limit
 * constraint, its job (limits count a job's tasks). Jobs of like tasks and no limits share a shape. Tasks of one shape share their parsed constraints, their explanation and a cursor.
 *
 * The cursor is why first fit stays linear for jobs of many identical tasks. Within a pass offers
 * only lose resources and limit counts only grow, so an offer that turned a task away turns away
 * every later task of the same shape. The next task of the shape may start where the last one
 * landed; once one finds no offer, the rest are unplaced without a search.
 */
interface Shape {
  readonly constraints: readonly Constraint[];
  /** Index of the first offer that may still hold a task of this shape; offers.length: none. */
  cursor: number;
  explanation: string | undefined;
}

const NO_ATTRIBUTES: Attributes = Object.freeze({});

function shapeKey(t: PendingTask): string {
  const r = t.request;
  let job = '';
  for (const v of Object.values(t.constraints)) if (v.startsWith('limit:')) job = t.job;
  return `${job}\u0000${r.cpusMilli}\u0000${r.memMiB}\u0000${r.diskMiB}\u0000${r.gpus}\u0000${r.ports.length}\u0000${JSON.stringify(t.constraints)}`;
}

/**
 * exhausted: the offer cannot hold any task that asks for cpus and mem, as every task of a valid
 * job does. Such offers are skipped without a look.
 */
function exhausted(r: Resources): boolean {
  return r.cpusMilli <= 0 || r.memMiB <= 0;
}

/**
 * onePerAgent keeps the first offer of each agent, with what it has left, for whyNot to count each
 * agent once. Offers are one per agent nearly always; then the arrays are returned as they are.
 */
function onePerAgent(offers: readonly Offer[], remaining: readonly Resources[]): { agents: readonly Offer[]; free: readonly Resources[] } {
  const seen = new Set<string>();
  for (const o of offers) seen.add(o.agentId);
  if (seen.size === offers.length) return { agents: offers, free: remaining };
  seen.clear();
  const agents: Offer[] = [];
  const free: Resources[] = [];
  for (let i = 0; i < offers.length; i++) {
    const o = offers[i] as Offer;
    if (seen.has(o.agentId)) continue;
    seen.add(o.agentId);
    agents.push(o);
    free.push(remaining[i] as Resources);
  }
  return { agents, free };
}

/** place assigns tasks to offers by first fit; for those it cannot place it says why. */
export function place(input: PlacementInput): PlacementResult {
  const { tasks, offers } = input;
  const n = offers.length;
  const remaining: Resources[] = offers.map((o) => o.resources);

  // live[i] leads, by way of path compression, to the first offer at or after i that is not
  // exhausted; live[n] === n ends the walk. Many distinct jobs on a nearly full cell then do not
  // each step over the same full offers one by one.
  const live = new Int32Array(n + 1);
  for (let i = 0; i <= n; i++) live[i] = i < n && exhausted(remaining[i] as Resources) ? i + 1 : i;
  const nextLive = (from: number): number => {
    let j = from;
    while (live[j] !== j) j = live[j] as number;
    let k = from;
    while (k !== j) {
      const step = live[k] as number;
      live[k] = j;
      k = step;
    }
    return j;
  };

  // One shape per distinct task; and the attributes each job has limits on, so that the tasks
  // already placed, and those placed now, are counted once per attribute however many shapes ask.
  const shapes = new Map<string, Shape>();
  const shapeOfTask: Shape[] = [];
  const limitAttributes = new Map<string, string[]>();
  for (const t of tasks) {
    const key = shapeKey(t);
    let shape = shapes.get(key);
    if (shape === undefined) {
      shape = { constraints: parseConstraints(t.constraints), cursor: 0, explanation: undefined };
      shapes.set(key, shape);
      for (const c of shape.constraints) {
        if (c.kind !== 'limit') continue;
        const attrs = limitAttributes.get(t.job);
        if (attrs === undefined) limitAttributes.set(t.job, [c.attribute]);
        else if (!attrs.includes(c.attribute)) attrs.push(c.attribute);
      }
    }
    shapeOfTask.push(shape);
  }

  const counts = new LimitCounts();
  for (const p of input.placed) {
    const attrs = limitAttributes.get(p.job);
    if (attrs === undefined) continue;
    const agent = { agentId: p.agentId, attributes: input.agents.get(p.agentId) ?? NO_ATTRIBUTES };
    for (const a of attrs) {
      const v = limitValueOf(agent, a);
      if (v !== undefined) counts.add(p.job, a, v);
    }
  }

  const placements: Placement[] = [];
  const unplacedAt: number[] = [];
  for (let ti = 0; ti < tasks.length; ti++) {
    const task = tasks[ti] as PendingTask;
    const shape = shapeOfTask[ti] as Shape;
    const req = task.request;
    const skip = req.cpusMilli > 0 && req.memMiB > 0;

    let chosen = -1;
    let ports: number[] | undefined;
    for (let i = skip ? nextLive(shape.cursor) : shape.cursor; i < n; i = skip ? nextLive(i + 1) : i + 1) {
      const free = remaining[i] as Resources;
      if (!satisfies(free, req)) continue;
      const offer = offers[i] as Offer;
      let ok = true;
      for (const c of shape.constraints) {
        if (!checkConstraint(c, offer, task.job, counts).ok) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      ports = takePorts(free.ports, req.ports.length);
      if (ports === undefined) continue; // satisfies counted the ports; kept for the type's sake
      chosen = i;
      break;
    }
    if (chosen < 0 || ports === undefined) {
      shape.cursor = n;
      unplacedAt.push(ti);
      continue;
    }
    shape.cursor = chosen;

    const offer = offers[chosen] as Offer;
    const used = allocate(req, ports);
    const left = subtract(remaining[chosen] as Resources, used);
    remaining[chosen] = left;
    if (exhausted(left)) live[chosen] = chosen + 1;

    const named: Record<string, number> = {};
    for (let p = 0; p < req.ports.length; p++) named[req.ports[p] as string] = ports[p] as number;
    placements.push({ key: task.key, offerId: offer.offerId, agentId: offer.agentId, ports: named, resources: used });

    const attrs = limitAttributes.get(task.job);
    if (attrs !== undefined) {
      for (const a of attrs) {
        const v = limitValueOf(offer, a);
        if (v !== undefined) counts.add(task.job, a, v);
      }
    }
  }

  // Explained once the pass is done, once per shape: the state the pass ended in is what a person
  // looking at the pending task will find.
  const unplaced: Unplaced[] = [];
  if (unplacedAt.length === 0) return { placements, unplaced };
  const { agents, free } = onePerAgent(offers, remaining);
  for (const ti of unplacedAt) {
    const task = tasks[ti] as PendingTask;
    const shape = shapeOfTask[ti] as Shape;
    shape.explanation ??= whyNot({ job: task.job, request: task.request, constraints: shape.constraints, agents, free, counts });
    unplaced.push({ key: task.key, reason: shape.explanation });
  }
  return { placements, unplaced };
}
