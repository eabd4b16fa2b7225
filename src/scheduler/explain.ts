// Explanation answers "why is this task pending?" as Borg's and Kubernetes' schedulers do: how many
// agents each filter turned the task away from, the agent that came closest and what it lacks, and
// the smallest changes to the job that would let it run now, e.g.
//   no agent fits: rack is not r1 on 2 agents; insufficient mem on 7 agents (needs 4GiB, most free 1GiB)
//   nearest: agent-3 lacks 512MiB mem; changes: ask for at most 3.5GiB mem (fits 2 agents)
//
// An agent is counted under the first filter of the chain that rejects it, in the order placement
// checks them (filters.ts): draining, dedicated, value constraints, limits, then resources. The
// resource filter counts the agent under every resource it lacks, as Kubernetes' NodeResourcesFit
// does: a task short of both cpus and mem needs both changed. The sentence lists value constraints,
// then resources, then limits, then draining and dedicated hosts: the job's own choices first.
//
// It runs once per unplaced class over every agent of the cell (10,000 or more), so the loop over
// agents allocates nothing: constraint checks return ready-made results, resources are compared as
// numbers in scratch arrays, and the sentences are written once at the end.

import { countPorts, formatMiB, milliToCpus, MusterError } from '../core/index.js';
import type { ResourceRequest, Resources } from '../core/index.js';
import { checkConstraint, LimitCounts } from './constraints.js';
import type { AgentView, Constraint } from './constraints.js';
import { classOf, DEDICATED_ATTRIBUTE, gpuRequestOfTask } from './filters.js';
import type { AgentFree, FilterName, TaskClass } from './filters.js';
import { GPU_MILLI } from './gpus.js';
import type { AgentSlot, Attributes, FilterCount, Tier, WhyPending } from './types.js';

/** ExplainInput is one unplaced class and every agent, with what each had left when the pass ended. */
export interface ExplainInput {
  readonly cls: TaskClass;
  readonly agents: readonly AgentSlot[];
  /** By index of agents: what each agent had left when the pass ended. */
  readonly free: readonly AgentFree[];
  /** Limit counts at the end of the pass. */
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

/** FITS_NOW is the answer for a class some agent could hold: placement passed it over (not offered, sampled out). */
export const FITS_NOW = 'an agent fits it now; it was not placed in this pass';

/** MAX_AGENTS bounds one explanation; a cell is far smaller. */
export const MAX_AGENTS = 1_000_000;

/** MAX_CHANGES is how many changes an explanation suggests. */
export const MAX_CHANGES = 4;

/** Dedicated roles named one by one; more are summed up, so a sentence stays a sentence. */
const MAX_DEDICATED_ROLES = 8;

// Resource dimensions, compared as numbers: cpus in milli, mem and disk in MiB, gpus in milli (see
// gpuHave), ports by count.
const CPUS = 0;
const MEM = 1;
const DISK = 2;
const GPUS = 3;
const PORTS = 4;
const DIMS = 5;
const DIM_NAMES = ['cpus', 'mem', 'disk', 'gpus', 'ports'] as const satisfies readonly FilterName[];
const CPUS_OR_MEM = (1 << CPUS) | (1 << MEM);

/** JudgedAgent is what the tally looks at: an AgentSlot, or an AgentCapacity that is never draining. */
interface JudgedAgent extends AgentView {
  readonly draining?: boolean;
}

interface TallyOptions {
  /** Words the resource figure: "most free" for a pass, "the largest agent has" for totals. */
  readonly best: string;
  /** Whether dedicated agents of another role turn the task away (the legacy whyNot knows no role). */
  readonly judgeDedicated: boolean;
}

/** Tally is what one pass over the agents found, before any sentence is written. */
interface Tally {
  readonly fits: boolean;
  /** The sentence's parts, in the sentence's order. */
  readonly parts: string[];
  readonly filters: FilterCount[];
  readonly nearest: WhyPending['nearest'];
  readonly changes: string[];
}

/**
 * explain is the whole answer for an unplaced class, from the state the pass ended in: every agent
 * that turned the class away still does, since a pass only uses resources up and adds to limit
 * counts.
 */
export function explain(input: ExplainInput): WhyPending {
  const { cls, agents, free, counts } = input;
  if (agents.length !== free.length) {
    throw new MusterError('INVALID_ARGUMENT', `explain got ${agents.length} agents but ${free.length} free amounts; they go by index`);
  }
  if (agents.length > MAX_AGENTS) throw new MusterError('INVALID_ARGUMENT', `explain got ${agents.length} agents; at most ${MAX_AGENTS}`);
  if (agents.length === 0) return { summary: NO_OFFERS, filters: [], changes: [] };
  const t = tally(cls, agents, free, counts, { best: 'most free', judgeDedicated: true });
  if (t.fits) return { summary: FITS_NOW, filters: t.filters, changes: [] };
  const why: WhyPending = { summary: `no agent fits: ${t.parts.join('; ')}`, filters: t.filters, changes: t.changes };
  return t.nearest === undefined ? why : { ...why, nearest: t.nearest };
}

/**
 * neverFits is the reason a task could not run on any agent even with the cell empty (its request
 * beyond every agent's total, its constraints matched by none, every agent dedicated to another
 * role), or undefined if some agent could hold it, or if there are no agents to judge by. The master
 * refuses such a job at once instead of leaving it pending forever; the sentence names the largest
 * agent's figures. Draining does not count: a drained host comes back. Revocable tasks are judged
 * by totals too, the most slack could ever be. Without a role, dedicated agents are not judged.
 */
export function neverFits(
  request: ResourceRequest,
  constraints: Readonly<Record<string, string>>,
  agents: readonly AgentCapacity[],
  role?: string,
  tier?: Tier,
): string | undefined {
  if (agents.length === 0) return undefined;
  const unique = [...new Map(agents.map((a) => [a.agentId, a])).values()];
  if (unique.length > MAX_AGENTS) throw new MusterError('INVALID_ARGUMENT', `neverFits got ${unique.length} agents; at most ${MAX_AGENTS}`);
  const cls = classOf(
    {
      key: '',
      job: '',
      instance: 0,
      role: role ?? '',
      request,
      constraints,
      tier: tier ?? 'preferred',
      priority: 0,
      spreadBy: 'host',
      mayPreempt: false,
    },
    '',
  );
  const free = unique.map((a) => emptyAgentFree(a.total));
  const t = tally(cls, unique, free, new LimitCounts(), { best: 'the largest agent has', judgeDedicated: role !== undefined });
  return t.fits ? undefined : `no agent can ever fit it: ${t.parts.join('; ')}`;
}

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

/**
 * whyNot is explain's sentence for callers that know no tiers, roles or GPU devices: a preferred
 * task, GPUs counted as whole devices. Kept for the first-fit placement until its rewrite lands.
 */
export function whyNot(input: WhyNotInput): string {
  if (input.agents.length !== input.free.length) {
    throw new MusterError('INVALID_ARGUMENT', `whyNot got ${input.agents.length} agents but ${input.free.length} free amounts`);
  }
  if (input.agents.length === 0) return NO_OFFERS;
  const cls: TaskClass = {
    key: '',
    job: input.job,
    role: '',
    tier: 'preferred',
    priority: 0,
    request: input.request,
    gpu: gpuRequestOfTask(input.request.gpus),
    spreadBy: 'host',
    constraints: input.constraints,
    values: input.constraints.filter((c) => c.kind !== 'limit'),
    limits: input.constraints.filter((c): c is Extract<Constraint, { kind: 'limit' }> => c.kind === 'limit'),
  };
  const free = input.free.map((r) => emptyAgentFree(r));
  const t = tally(cls, input.agents, free, input.counts, { best: 'most free', judgeDedicated: false });
  return t.fits ? FITS_NOW : `no agent fits: ${t.parts.join('; ')}`;
}

/** emptyAgentFree reads an amount as an agent with nothing running: whole devices, slack = cpus and mem. */
function emptyAgentFree(r: Resources): AgentFree {
  const whole = Math.min(Math.max(0, Math.floor(r.gpus)), MAX_DEVICES_JUDGED);
  const gpuFree = new Array<number>(whole).fill(GPU_MILLI);
  const part = Math.round((r.gpus - Math.floor(r.gpus)) * GPU_MILLI);
  if (part > 0 && whole < MAX_DEVICES_JUDGED) gpuFree.push(part);
  return { free: r, gpuFree, revocable: { cpusMilli: r.cpusMilli, memMiB: r.memMiB } };
}

/** More devices than any machine has; bounds the arrays built from a reported gpus figure. */
const MAX_DEVICES_JUDGED = 1024;

/** gpuMilliNeeded is a GPU request in milli: whole devices × 1000, or the share. */
function gpuMilliNeeded(cls: TaskClass): number {
  const g = cls.gpu;
  if (g === undefined) return 0;
  return 'whole' in g ? g.whole * GPU_MILLI : g.milli;
}

/**
 * gpuHave is an agent's GPUs in the request's terms, in milli: its wholly free devices × 1000, or,
 * with none wholly free, the most any one device has. have ≥ need exactly when gpuFitsDevices says
 * the devices hold the request, and a smaller request of `have` would fit.
 */
function gpuHave(gpuFree: readonly number[]): number {
  let whole = 0;
  let most = 0;
  for (let d = 0; d < gpuFree.length; d++) {
    const f = gpuFree[d] as number;
    if (f >= GPU_MILLI) whole++;
    else if (f > most) most = f;
  }
  return whole > 0 ? whole * GPU_MILLI : most;
}

/** fillHave writes what the agent has of each dimension; slack: cpus and mem come from revocable resources. */
function fillHave(out: Float64Array, a: AgentFree, slack: boolean, need: Float64Array): void {
  out[CPUS] = slack ? a.revocable.cpusMilli : a.free.cpusMilli;
  out[MEM] = slack ? a.revocable.memMiB : a.free.memMiB;
  out[DISK] = a.free.diskMiB;
  // Both loops below walk lists; skip them when the class asks for none.
  out[GPUS] = (need[GPUS] as number) > 0 ? gpuHave(a.gpuFree) : 0;
  out[PORTS] = (need[PORTS] as number) > 0 ? countPorts(a.free.ports) : 0;
}

/** lackMask has bit d set for each dimension the agent has less of than the class needs (as resourceShortfalls). */
function lackMask(need: Float64Array, have: Float64Array): number {
  let mask = 0;
  for (let d = 0; d < DIMS; d++) {
    const n = need[d] as number;
    if (n > 0 && (have[d] as number) < n) mask |= 1 << d;
  }
  return mask;
}

/** soleDim is the one dimension of a one-bit mask, or -1 when it has more bits. */
function soleDim(mask: number): number {
  for (let d = 0; d < DIMS; d++) if (mask === 1 << d) return d;
  return -1;
}

function dedicatedOf(agent: JudgedAgent): string | undefined {
  return Object.hasOwn(agent.attributes, DEDICATED_ATTRIBUTE) ? agent.attributes[DEDICATED_ATTRIBUTE] : undefined;
}

function bump(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}

/**
 * tally walks the agents once, counting each under the first filter that rejects it, and gathers
 * for the agents that pass all but resources what nearest and changes need. A second walk happens
 * only for a change of several resources at once, over the agents the first walk marked.
 */
function tally(cls: TaskClass, agents: readonly JudgedAgent[], free: readonly AgentFree[], counts: LimitCounts, opts: TallyOptions): Tally {
  const slack = cls.tier === 'revocable';
  const need = new Float64Array(DIMS);
  need[CPUS] = cls.request.cpusMilli;
  need[MEM] = cls.request.memMiB;
  need[DISK] = cls.request.diskMiB;
  need[GPUS] = gpuMilliNeeded(cls);
  need[PORTS] = cls.request.ports.length;
  const have = new Float64Array(DIMS);
  const other = new Float64Array(DIMS);

  const constraints: readonly Constraint[] = [...cls.values, ...cls.limits];
  const nValues = cls.values.length;
  let draining = 0;
  const dedicated = new Map<string, number>();
  const valueReasons = new Map<string, number>();
  const limitReasons = new Map<string, number>();
  const short = new Float64Array(DIMS);
  const mostFree = new Float64Array(DIMS).fill(-1);
  let revShort = 0;
  let revMostCpus = -1;
  let revMostMem = -1;
  // Per constraint: agents that would fit were it dropped alone.
  const dropFits = new Float64Array(constraints.length);
  // Per dimension: the most an agent lacking only it has, and how many agents have that much.
  const soleMost = new Float64Array(DIMS).fill(-1);
  const soleAtMost = new Float64Array(DIMS);
  let otherTierFits = 0;
  let fits = false;
  let nearest = -1;
  let nearestGap = Infinity;
  let nearestMask = 0;
  // Agents that pass every filter but resources: the second walk looks at these only.
  const passed = new Uint8Array(agents.length);

  for (let i = 0; i < agents.length; i++) {
    const agent = agents[i] as JudgedAgent;
    const a = free[i] as AgentFree;
    if (agent.draining === true) {
      draining++;
      continue;
    }
    if (opts.judgeDedicated) {
      const role = dedicatedOf(agent);
      if (role !== undefined && role !== cls.role) {
        bump(dedicated, role);
        continue;
      }
    }
    // Every constraint is checked, not only up to the first rejection, to know whether dropping
    // one alone would do; two rejections already say no.
    let failing = 0;
    let failIndex = -1;
    for (let k = 0; k < constraints.length && failing < 2; k++) {
      const r = checkConstraint(constraints[k] as Constraint, agent, cls.job, counts);
      if (r.ok) continue;
      if (failing === 0) bump(k < nValues ? valueReasons : limitReasons, r.reason);
      failing++;
      failIndex = k;
    }
    if (failing > 1) continue;
    fillHave(have, a, slack, need);
    const mask = lackMask(need, have);
    if (failing === 1) {
      if (mask === 0) dropFits[failIndex] = (dropFits[failIndex] as number) + 1;
      continue;
    }
    if (mask === 0) {
      fits = true;
      continue;
    }
    passed[i] = 1;
    let gap = 0;
    for (let d = 0; d < DIMS; d++) {
      if ((mask & (1 << d)) === 0) continue;
      const h = have[d] as number;
      const n = need[d] as number;
      gap += (n - h) / n;
      if (slack && (CPUS_OR_MEM & (1 << d)) !== 0) continue;
      short[d] = (short[d] as number) + 1;
      if (h > (mostFree[d] as number)) mostFree[d] = h;
    }
    if (slack && (mask & CPUS_OR_MEM) !== 0) {
      revShort++;
      if (a.revocable.cpusMilli > revMostCpus) revMostCpus = a.revocable.cpusMilli;
      if (a.revocable.memMiB > revMostMem) revMostMem = a.revocable.memMiB;
    }
    if (gap < nearestGap) {
      nearestGap = gap;
      nearest = i;
      nearestMask = mask;
    }
    const d = soleDim(mask);
    if (d >= 0) {
      const h = have[d] as number;
      if (h > (soleMost[d] as number)) {
        soleMost[d] = h;
        soleAtMost[d] = 1;
      } else if (h === soleMost[d]) soleAtMost[d] = (soleAtMost[d] as number) + 1;
    }
    fillHave(other, a, !slack, need);
    if (lackMask(need, other) === 0) otherTierFits++;
  }

  // ---- the sentence and the filter counts ----
  const filters: FilterCount[] = [];
  const parts: string[] = [];
  const counted = (n: number): string => `on ${plural(n, 'agent', 'agents')}`;
  if (draining > 0) filters.push({ filter: 'draining', detail: 'host is draining', agents: draining });
  const dedicatedCounts = dedicatedFilters(dedicated);
  filters.push(...dedicatedCounts);
  for (const [detail, n] of valueReasons) {
    filters.push({ filter: 'constraint', detail, agents: n });
    parts.push(`${detail} ${counted(n)}`);
  }
  const resourceCounts: FilterCount[] = [];
  if (revShort > 0) {
    const detail =
      `needs ${amount(CPUS, need[CPUS])} and ${amount(MEM, need[MEM])}, ` +
      `${opts.best} ${amount(CPUS, revMostCpus)} and ${amount(MEM, revMostMem)}`;
    resourceCounts.push({ filter: 'revocable', detail, agents: revShort });
    parts.push(`insufficient revocable cpus and mem ${counted(revShort)} (${detail})`);
  }
  for (let d = 0; d < DIMS; d++) {
    const n = short[d] as number;
    if (n === 0) continue;
    const detail = `needs ${amount(d, need[d] as number)}, ${opts.best} ${amount(d, mostFree[d] as number)}`;
    resourceCounts.push({ filter: DIM_NAMES[d] as FilterName, detail, agents: n });
    parts.push(`insufficient ${DIM_NAMES[d] as string} ${counted(n)} (${detail})`);
  }
  for (const [detail, n] of limitReasons) {
    filters.push({ filter: 'limit', detail, agents: n });
    parts.push(`${detail} ${counted(n)}`);
  }
  filters.push(...resourceCounts);
  if (draining > 0) parts.push(`host is draining ${counted(draining)}`);
  for (const f of dedicatedCounts) parts.push(`${f.detail} ${counted(f.agents)}`);

  if (fits) return { fits, parts, filters, nearest: undefined, changes: [] };

  // ---- nearest and changes ----
  let near: WhyPending['nearest'];
  const options: { text: string; fits: number; rank: number }[] = [];
  if (nearest >= 0) {
    const agent = agents[nearest] as JudgedAgent;
    fillHave(have, free[nearest] as AgentFree, slack, need);
    const lacks: string[] = [];
    for (let d = 0; d < DIMS; d++) if ((nearestMask & (1 << d)) !== 0) lacks.push(`${amount(d, (need[d] as number) - (have[d] as number))}${suffix(d)}`);
    near = { agentId: agent.agentId, hostname: agent.hostname ?? agent.agentId, lacks: andList(lacks) };
  }
  let soleFits = 0;
  for (let d = 0; d < DIMS; d++) {
    const n = soleAtMost[d] as number;
    const most = soleMost[d] as number;
    // A task asks for some cpus and mem: zero of either is no request at all.
    if (n === 0 || (most <= 0 && (d === CPUS || d === MEM))) continue;
    soleFits += n;
    const text = most <= 0 ? `ask for no ${DIM_NAMES[d] as string}` : `ask for at most ${amount(d, most)}${suffix(d)}`;
    options.push({ text: `${text} (fits ${plural(n, 'agent', 'agents')})`, fits: n, rank: 0 });
  }
  if (soleFits === 0 && nearest >= 0 && soleDim(nearestMask) < 0) {
    const combined = combinedChange(need, have, nearestMask, agents.length, (i) => passed[i] === 1, (i, out) => fillHave(out, free[i] as AgentFree, slack, need));
    if (combined !== undefined) options.push({ ...combined, rank: 1 });
  }
  if (otherTierFits > 0) {
    const text = slack
      ? `run in tier preemptible (fits ${plural(otherTierFits, 'agent', 'agents')})`
      : `run in tier revocable (fits ${plural(otherTierFits, 'agent', 'agents')} on slack)`;
    options.push({ text, fits: otherTierFits, rank: 2 });
  }
  for (let k = 0; k < constraints.length; k++) {
    const n = dropFits[k] as number;
    if (n === 0) continue;
    const c = constraints[k] as Constraint;
    options.push({ text: `drop the constraint ${c.attribute}: ${constraintText(c)} (fits ${plural(n, 'agent', 'agents')})`, fits: n, rank: 3 });
  }
  // Most useful first: the change that opens the most agents, then the smaller kind of change.
  options.sort((x, y) => y.fits - x.fits || x.rank - y.rank);
  const changes = options.slice(0, MAX_CHANGES).map((o) => o.text);
  return { fits, parts, filters, nearest: near, changes };
}

/**
 * combinedChange asks for at most the nearest agent's figures of every resource it lacks (`have`
 * holds them), counting the agents that would then fit; undefined when it would ask for no cpus or
 * mem.
 */
function combinedChange(
  need: Float64Array,
  have: Float64Array,
  mask: number,
  agentCount: number,
  passed: (i: number) => boolean,
  fill: (i: number, out: Float64Array) => void,
): { text: string; fits: number } | undefined {
  const ask = Float64Array.from(need);
  const words: string[] = [];
  for (let d = 0; d < DIMS; d++) {
    if ((mask & (1 << d)) === 0) continue;
    const h = have[d] as number;
    if (h <= 0 && (d === CPUS || d === MEM)) return undefined;
    ask[d] = h;
    words.push(`${amount(d, h)}${suffix(d)}`);
  }
  const scratch = new Float64Array(DIMS);
  let n = 0;
  for (let i = 0; i < agentCount; i++) {
    if (!passed(i)) continue;
    fill(i, scratch);
    if (lackMask(ask, scratch) === 0) n++;
  }
  return n === 0 ? undefined : { text: `ask for at most ${andList(words)} (fits ${plural(n, 'agent', 'agents')})`, fits: n };
}

/** dedicatedFilters counts dedicated agents per role, summing up the roles past the first few. */
function dedicatedFilters(dedicated: Map<string, number>): FilterCount[] {
  const out: FilterCount[] = [];
  let restRoles = 0;
  let restAgents = 0;
  for (const [role, n] of dedicated) {
    if (out.length < MAX_DEDICATED_ROLES) out.push({ filter: 'dedicated', detail: `dedicated to role ${role}`, agents: n });
    else {
      restRoles++;
      restAgents += n;
    }
  }
  if (restRoles > 0) out.push({ filter: 'dedicated', detail: `dedicated to ${plural(restRoles, 'other role', 'other roles')}`, agents: restAgents });
  return out;
}

/** constraintText writes a constraint back as the job config has it: "r1", "a|b", "!windows", "limit:1". */
function constraintText(c: Constraint): string {
  switch (c.kind) {
    case 'equals':
      return c.value;
    case 'oneOf':
      return c.values.join('|');
    case 'notEqual':
      return `!${c.values.join('|')}`;
    case 'limit':
      return `limit:${c.limit}`;
    case 'invalid':
      return c.text;
  }
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * exactMiB writes MiB as formatMiB does when that is exact, else in MiB: a figure to ask for must
 * not round up past what the agent has (1500MiB is not "1.5GiB").
 */
function exactMiB(mib: number): string {
  return mib < 1024 || (mib * 10) % 1024 === 0 ? formatMiB(mib) : `${mib}MiB`;
}

/** amount writes n of dimension d as a person reads it: "1.5 cpus", "4GiB", "0.5 gpus", "2 ports". */
function amount(d: number, n: number): string {
  switch (d) {
    case CPUS:
      return plural(milliToCpus(n), 'cpu', 'cpus');
    case MEM:
    case DISK:
      return exactMiB(n);
    case GPUS:
      return plural(n / GPU_MILLI, 'gpu', 'gpus');
    default:
      return plural(n, 'port', 'ports');
  }
}

/** suffix names mem and disk after their figure ("512MiB mem"); the others name themselves. */
function suffix(d: number): string {
  return d === MEM ? ' mem' : d === DISK ? ' disk' : '';
}

/** andList joins "a", "b", "c" as "a, b and c". */
function andList(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1] as string}`;
}
