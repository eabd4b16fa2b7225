// Explanation answers "why is this task pending?" in one sentence a person can act on, as Borg's
// and Kubernetes' schedulers do: how many agents each filter turned the task away from, and for
// resources how far off the best agent was, e.g.
//   no agent fits: insufficient mem on 2 agents (needs 4GiB, most free 1GiB); rack limit:1 reached on 3 agents
//
// An agent is counted under the first filter of the chain that rejects it: value constraints, then
// limits, then resources. Constraints come first because they are the job's own choice: "rack
// limit:1 reached" is the truth even on agents that are also full. The resource filter counts the
// agent under every resource it lacks, as Kubernetes' NodeResourcesFit does: a task short of both
// cpus and mem needs both changed. The sentence lists value constraints, then resources, then limits.

import { countPorts, formatMiB, milliToCpus } from '../core/index.js';
import type { ResourceRequest, Resources } from '../core/index.js';
import { checkConstraint, LimitCounts, parseConstraints } from './constraints.js';
import type { AgentView, Constraint } from './constraints.js';
import type { Attributes } from './types.js';

/** WhyNotInput is one task and the agents it was tried on, with what each has free now. */
export interface WhyNotInput {
  readonly job: string;
  readonly request: ResourceRequest;
  readonly constraints: readonly Constraint[];
  /** The agents tried, each once (offers will do when no agent has two). */
  readonly agents: readonly AgentView[];
  /** What each of agents has free, by the same index. */
  readonly free: readonly Resources[];
  /** Tasks per job per attribute value, for limit constraints. */
  readonly counts: LimitCounts;
}

/** AgentCapacity is an agent with its total resources; an AllocatorAgent is one. */
export interface AgentCapacity {
  readonly agentId: string;
  readonly hostname?: string;
  readonly attributes: Attributes;
  readonly total: Resources;
}

/** NO_OFFERS is the reason when there was nothing to try the task on. */
export const NO_OFFERS = 'no agent has free resources to offer';

const RESOURCE_KINDS = ['cpus', 'mem', 'disk', 'gpus', 'ports'] as const;
type ResourceKind = (typeof RESOURCE_KINDS)[number];

/** scalarOf reads one scalar resource of a request or an amount: the two share these fields. */
function scalarOf(r: ResourceRequest | Resources, kind: Exclude<ResourceKind, 'ports'>): number {
  switch (kind) {
    case 'cpus':
      return r.cpusMilli;
    case 'mem':
      return r.memMiB;
    case 'disk':
      return r.diskMiB;
    case 'gpus':
      return r.gpus;
  }
}

/** needOf: how much of a kind a request asks for; ports by their number of names. */
const needOf = (r: ResourceRequest, kind: ResourceKind): number => (kind === 'ports' ? r.ports.length : scalarOf(r, kind));
/** haveOf: how much of a kind an amount holds; ports by counting the ranges. */
const haveOf = (r: Resources, kind: ResourceKind): number => (kind === 'ports' ? countPorts(r.ports) : scalarOf(r, kind));

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function formatAmount(kind: ResourceKind, n: number): string {
  switch (kind) {
    case 'cpus':
      return plural(milliToCpus(n), 'cpu', 'cpus');
    case 'mem':
    case 'disk':
      return formatMiB(n);
    case 'gpus':
      return plural(n, 'gpu', 'gpus');
    case 'ports':
      return plural(n, 'port', 'ports');
  }
}

/**
 * tally counts the rejections of one task over the agents and returns the parts of the sentence,
 * or an empty list when some agent would take the task. `best` words the resource figure: "most
 * free" for a pass, "the largest agent has" for a cell's totals.
 */
function tally(input: WhyNotInput, best: string): string[] {
  const { job, request, agents, free, counts } = input;
  const values = input.constraints.filter((c) => c.kind !== 'limit');
  const limits = input.constraints.filter((c) => c.kind === 'limit');
  const need = RESOURCE_KINDS.map((kind) => needOf(request, kind));
  const shortOn = RESOURCE_KINDS.map(() => 0);
  const mostFree = RESOURCE_KINDS.map(() => -Infinity);
  const valueReasons = new Map<string, number>();
  const limitReasons = new Map<string, number>();
  let fits = false;

  // An explanation looks at every agent for every distinct pending task: keep the body light.
  agents: for (let i = 0; i < agents.length; i++) {
    const agent = agents[i] as AgentView;
    for (const c of values) {
      const r = checkConstraint(c, agent, job, counts);
      if (!r.ok) {
        valueReasons.set(r.reason, (valueReasons.get(r.reason) ?? 0) + 1);
        continue agents;
      }
    }
    for (const c of limits) {
      const r = checkConstraint(c, agent, job, counts);
      if (!r.ok) {
        limitReasons.set(r.reason, (limitReasons.get(r.reason) ?? 0) + 1);
        continue agents;
      }
    }
    const has = free[i] as Resources;
    let lacking = false;
    for (let k = 0; k < RESOURCE_KINDS.length; k++) {
      const n = need[k] as number;
      if (n <= 0) continue;
      const have = haveOf(has, RESOURCE_KINDS[k] as ResourceKind);
      if (have >= n) continue;
      shortOn[k] = (shortOn[k] as number) + 1;
      if (have > (mostFree[k] as number)) mostFree[k] = have;
      lacking = true;
    }
    if (!lacking) fits = true;
  }
  if (fits) return [];

  const parts: string[] = [];
  for (const [reason, n] of valueReasons) parts.push(`${reason} on ${plural(n, 'agent', 'agents')}`);
  for (let k = 0; k < RESOURCE_KINDS.length; k++) {
    const kind = RESOURCE_KINDS[k] as ResourceKind;
    const n = shortOn[k] as number;
    if (n === 0) continue;
    const needs = formatAmount(kind, need[k] as number);
    parts.push(`insufficient ${kind} on ${plural(n, 'agent', 'agents')} (needs ${needs}, ${best} ${formatAmount(kind, mostFree[k] as number)})`);
  }
  for (const [reason, n] of limitReasons) parts.push(`${reason} on ${plural(n, 'agent', 'agents')}`);
  return parts;
}

/**
 * whyNot is the sentence for a task that was not placed, from the state the pass ended in: every
 * agent that turned the task away still does, since a pass only uses resources up and adds tasks
 * to limit counts.
 */
export function whyNot(input: WhyNotInput): string {
  if (input.agents.length === 0) return NO_OFFERS;
  const parts = tally(input, 'most free');
  // Only a caller that asks about a task that fits lands here; say so rather than invent a reason.
  if (parts.length === 0) return 'an agent fits it now; it was not placed in this pass';
  return `no agent fits: ${parts.join('; ')}`;
}

/**
 * neverFits is the reason a task could not run on any agent even with the cell empty (its request
 * beyond every agent's total, or its constraints matched by none), or undefined if some agent could
 * hold it, or if there are no agents to judge by. The master refuses such a job at once instead of
 * leaving it pending forever; the sentence names the largest agent's figures.
 */
export function neverFits(
  request: ResourceRequest,
  constraints: Readonly<Record<string, string>>,
  agents: readonly AgentCapacity[],
): string | undefined {
  if (agents.length === 0) return undefined;
  const unique = [...new Map(agents.map((a) => [a.agentId, a])).values()];
  const parts = tally(
    {
      job: '',
      request,
      constraints: parseConstraints(constraints),
      agents: unique,
      free: unique.map((a) => a.total),
      counts: new LimitCounts(),
    },
    'the largest agent has',
  );
  return parts.length === 0 ? undefined : `no agent can ever fit it: ${parts.join('; ')}`;
}
