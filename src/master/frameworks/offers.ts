// OfferCycle runs allocation passes: it works out each connected agent's free resources from the
// state, has the allocator (pure, in scheduler/) turn them into offers, books every offer in the
// master's one OfferBook, and hands each framework its offers. The built-in job scheduler is an
// in-process framework: it gets offers as objects and answers them before the pass ends, with
// launches that name the offers they use. The cycle, not the framework, checks each launch against
// its offer (commands/launch.ts), appends what passes, and only then sends LAUNCH: an offer is used
// once, and a framework cannot launch beyond what it was offered. External frameworks (Mesos v1
// API, external.ts) get their offers sent and answer them later, through the same book.
//
// An agent whose resources are in an outstanding offer is not offered again until the offer is
// used, declined, rescinded or times out: the book refuses a second offer of it. The in-process
// frameworks' offers are withdrawn and made again at every pass that looks at their agent (keeping
// the offer id when the resources are the same); an external framework's stay with it. When a role
// below its quota guarantee wants offers and every agent is out in offers to roles that are not,
// the cycle rescinds enough of those to meet the guarantee (Mesos rescinds for quota headroom too).
//
// Allocation is incremental, as Mesos's is between its batch allocations: a pass re-offers only
// the agents something happened on since the last (a task landed there or ended, read from the
// appended events), and keeps the other offers as they were, since their agents' free resources
// have not changed. Every agent is allocated again at the first pass, when agents connect,
// disconnect, register or are lost, and once a second. A pass on a cell of 10,000 agents then costs
// what changed, not 10,000 offers.

import { add, EMPTY, subtract, subtractRanges, type PortRange, type Resources } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import { allocate, type AllocatorAgent, type AllocatorFramework, type Offer } from '../../scheduler/index.js';
import type { AgentLinks } from '../agents/index.js';
import { checkOffers, launchEvents, type AcceptRequest } from '../commands/launch.js';
import { agentsTouchedBy, freeOf, sameResources } from '../jobs/input.js';
import type { EventLog } from '../eventlog.js';
import type { AgentRecord, CellState, LaunchedTask } from '../state/index.js';
import type { BookedOffer, OfferBook } from './book.js';
import type { AcceptOutcome, ExternalOffers, InProcessFramework } from './types.js';

export type { InProcessFramework } from './types.js';

/** How old the built-in frameworks' share may be when external frameworks' offers are weighed against it. */
const BUILT_IN_SHARE_MS = 250;

export class OfferCycle {
  private running = false;
  private again = false;
  private kicked = false;
  private offerSeq = 0;
  private wake: NodeJS.Timeout | undefined;
  private readonly interval: NodeJS.Timeout;
  private closed = false;
  private readonly offAppended: () => void;
  /** Agents to allocate again at the next pass; undefined: all of them. */
  private dirty: Set<string> | undefined = undefined;
  /** The in-process frameworks offered to at the last pass (the others start from every agent). */
  private readonly offeredLastPass = new Set<string>();
  /**
   * Offers withdrawn from an in-process framework that stopped wanting offers, by agent: made again
   * with the same id when it wants offers again and nothing changed on the agent.
   */
  private readonly parked = new Map<string, BookedOffer>();
  /**
   * Agents the last pass that looked at them offered to no one (nobody wanted them): a framework
   * that comes back wanting offers is offered these at once, without a pass over every agent.
   */
  private readonly idle = new Set<string>();
  /**
   * Passes run, offers made, declined (answered without a launch on them; each offer counted once,
   * though it is handed over again at each pass it stays outstanding), rescinded (withdrawn because
   * their agent disconnected, became unreachable, was removed or is stopping, or for quota) and
   * launches refused, for /metrics.
   */
  readonly stats = { passes: 0, offers: 0, declined: 0, rescinded: 0, refused: 0 };
  /** The offer last counted as declined on each agent (one counts once, however many passes it stays out). */
  private readonly declinedOn = new Map<string, string>();
  /** Agents launched on during the framework call under way (undefined outside one). */
  private launchedOn: Set<string> | undefined;

  constructor(
    private readonly log: EventLog,
    private readonly links: Pick<AgentLinks, 'isOfferable' | 'busyPortsOf' | 'send' | 'launch'> & Partial<Pick<AgentLinks, 'expect' | 'unexpect'>>,
    private readonly frameworks: readonly InProcessFramework[],
    private readonly options: {
      masterId: string;
      logger: Logger;
      /** The master's one offer book, shared with the external frameworks. */
      book: OfferBook;
      roleWeights?: ReadonlyMap<string, number>;
      external?: ExternalOffers;
    },
  ) {
    // A slow heartbeat of passes covers anything a kick might miss (e.g. an agent connecting), and
    // allocates every agent again.
    this.interval = setInterval(() => {
      this.markAll();
      this.kick();
    }, 1000);
    this.interval.unref();
    this.offAppended = log.onAppended((batch) => {
      if (this.launchedOn !== undefined) {
        for (const { event } of batch) if (event.type === 'TasksLaunched') for (const t of event.tasks) this.launchedOn.add(t.agentId);
      }
      if (this.dirty === undefined) return;
      for (const { event } of batch) {
        if (!agentsTouchedBy(log.state, event, this.dirty)) {
          this.markAll();
          return;
        }
      }
    });
  }

  get book(): OfferBook {
    return this.options.book;
  }

  /** agentChanged: agents connected or disconnected (no id), so every agent is allocated again. */
  agentChanged(agentId?: string): void {
    // Usage reports (an id) change no reservation, so no offer.
    if (agentId === undefined) this.markAll();
  }

  private markAll(): void {
    this.dirty = undefined;
  }

  /**
   * builtInShare is what the in-process frameworks' tasks hold, for DRF against external ones: the
   * agents' use less the external frameworks'. A walk over every agent, so it is taken again at most
   * every BUILT_IN_SHARE_MS: a share a quarter of a second old weighs offers as well as an exact one.
   */
  private builtInShare(now: number): Resources {
    if (this.builtIn !== undefined && now - this.builtIn.at < BUILT_IN_SHARE_MS) return this.builtIn.share;
    const state = this.log.state;
    let share = EMPTY;
    for (const a of state.agents.values()) if (a.reachable) share = add(share, a.used);
    for (const f of state.frameworks.values()) if (f.used !== undefined) share = subtract(share, f.used);
    this.builtIn = { at: now, share };
    return share;
  }

  private builtIn: { at: number; share: Resources } | undefined;

  /** release: an agent's resources came back from a framework (declined, timed out): offer them again. */
  release(agentId: string): void {
    this.dirty?.add(agentId);
    this.kick();
  }

  /** kick asks for a pass soon; many kicks in one turn make one pass. */
  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.kicked) return;
    this.kicked = true;
    setImmediate(() => {
      this.kicked = false;
      this.pass().catch((e: unknown) => this.options.logger.error('allocation pass failed', { error: e instanceof Error ? e.stack : String(e) }));
    });
  }

  close(): void {
    this.closed = true;
    this.offAppended();
    clearInterval(this.interval);
    if (this.wake !== undefined) clearTimeout(this.wake);
  }

  private async pass(): Promise<void> {
    if (this.running || this.closed) return;
    this.running = true;
    try {
      const now = this.log.now();
      const external = this.options.external?.candidates(now).filter((f) => !f.suppressed) ?? [];
      const wanting: InProcessFramework[] = [];
      for (const f of this.frameworks) {
        if (f.wantsOffers(now)) wanting.push(f);
        // Its offers go back only for a framework that could use them: with none, keeping them
        // costs nothing and spares a pass over them when it wants offers again.
        else if (external.length > 0) this.withdrawAll(f.frameworkId);
      }
      if (wanting.length > 0 || external.length > 0) await this.offer(wanting, external, now);
      this.armWake();
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    }
  }

  /**
   * withdrawAll takes back the offers of an in-process framework that wants none now (as a
   * SUPPRESS would): its agents are free for the external frameworks at once, not at the next full
   * pass.
   */
  private withdrawAll(frameworkId: string): void {
    if (!this.offeredLastPass.delete(frameworkId)) return;
    for (const o of this.book.rescindFramework(frameworkId)) {
      this.parked.set(o.agentId, o);
      this.dirty?.add(o.agentId);
    }
  }

  private async offer(frameworks: readonly InProcessFramework[], external: readonly AllocatorFramework[], now: number): Promise<void> {
    // A framework not offered to at the last pass (it did not want offers) is offered the agents no
    // one holds: those its withdrawn offers were on that no one took, and any others left idle.
    if (this.dirty !== undefined && frameworks.some((f) => !this.offeredLastPass.has(f.frameworkId))) for (const id of this.idle) this.dirty.add(id);
    const state = this.log.state;
    const book = this.book;
    const dirty = this.dirty;
    this.dirty = new Set();
    const inProcess = new Set(this.frameworks.map((f) => f.frameworkId));
    const offerable = (id: string): boolean => {
      const a = state.agents.get(id);
      return a !== undefined && a.reachable && this.links.isOfferable(id);
    };
    // The in-process frameworks' offers on the agents looked at are withdrawn, to be made again:
    // an agent offered again to the same framework with the same resources keeps its offer (and
    // id), so that a framework's view of its offers (its slot cache) stays valid across passes.
    const replaced = new Map<string, BookedOffer>();
    const withdraw = (agentId: string): void => {
      const o = book.offeredOn(agentId);
      if (o === undefined) return;
      const gone = !offerable(agentId);
      if (inProcess.has(o.frameworkId)) {
        book.rescindAgent(agentId);
        if (gone) {
          this.stats.rescinded++;
          this.declinedOn.delete(agentId);
        } else replaced.set(agentId, o);
      } else if (gone) {
        // An agent gone is rescinded from the external framework holding it.
        this.rescindExternal(book.rescindAgent(agentId));
      }
    };
    for (const [agentId, o] of this.parked) if (offerable(agentId)) replaced.set(agentId, o);
    this.parked.clear();
    const ids = dirty ?? state.agents.keys();
    for (const id of ids) withdraw(id);
    if (dirty === undefined) {
      // Offers on agents the state no longer has at all (removed) go too.
      for (const f of this.frameworks) for (const id of [...book.heldBy(f.frameworkId).keys()]) if (!state.agents.has(id)) withdraw(id);
    }
    // Quota rescinds are weighed once a second, at the passes that look at every agent: the
    // in-process offers were all withdrawn above, so only external frameworks' offers can block a role.
    const quotas = quotaGuarantees(state, external);
    if (quotas !== undefined && dirty === undefined) this.rescindForQuota(state, external, quotas, now);
    // An agent whose resources an external framework holds an offer for stays with it (until
    // accept, decline, rescind or timeout): never two offers.
    const agents: AllocatorAgent[] = [];
    const consider = (a: AgentRecord | undefined): void => {
      if (a !== undefined && a.reachable && book.offeredOn(a.agentId) === undefined && this.links.isOfferable(a.agentId)) {
        agents.push(allocatorAgentOf(a, this.links.busyPortsOf(a.agentId)));
      }
    };
    if (dirty === undefined) for (const a of state.agents.values()) consider(a);
    else for (const id of dirty) consider(state.agents.get(id));
    const builtIn = external.length > 0 ? this.builtInShare(now) : EMPTY;
    const made =
      agents.length === 0
        ? []
        : allocate({
            agents,
            frameworks: [...frameworks.map((f) => ({ frameworkId: f.frameworkId, role: f.role, allocated: builtIn, suppressed: false, declined: new Map<string, number>() })), ...external],
            roleWeights: this.options.roleWeights ?? new Map(),
            ...(quotas === undefined ? {} : { quotas }),
            now,
            nextOfferId: () => `${this.options.masterId}-O${++this.offerSeq}`,
          });
    this.stats.passes++;
    this.stats.offers += made.length;
    if (dirty === undefined) this.idle.clear();
    else for (const id of dirty) this.idle.delete(id);
    for (const a of agents) this.idle.add(a.agentId);
    for (const o of made) this.idle.delete(o.agentId);
    const toExternal: Offer[] = [];
    const toInProcess: Offer[] = [];
    for (const o of made) {
      if (!inProcess.has(o.frameworkId)) {
        toExternal.push(o);
        continue;
      }
      const before = replaced.get(o.agentId);
      if (before !== undefined && before.frameworkId === o.frameworkId && sameResources(before.resources, o.resources)) {
        toInProcess.push(before);
        replaced.delete(o.agentId);
      } else toInProcess.push(o);
    }
    book.add(toInProcess, now, false);
    if (toExternal.length > 0) this.options.external?.offer(book.add(toExternal, now), now);
    this.offeredLastPass.clear();
    for (const f of frameworks) {
      this.offeredLastPass.add(f.frameworkId);
      const launchedOn = new Set<string>();
      this.launchedOn = launchedOn;
      const offers = book.heldBy(f.frameworkId);
      try {
        const answer = f.resourceOffers(offers, now);
        if (answer !== undefined) await this.accept(f, answer);
      } finally {
        this.launchedOn = undefined;
      }
      for (const [agentId, o] of book.heldBy(f.frameworkId)) {
        if (launchedOn.has(agentId) || this.declinedOn.get(agentId) === o.offerId) continue;
        this.declinedOn.set(agentId, o.offerId);
        this.stats.declined++;
      }
    }
  }

  /**
   * rescindForQuota: a role below its quota guarantee whose frameworks want offers, with no agent
   * left to offer it because external frameworks of roles at or above their guarantee hold them,
   * gets offers rescinded from those frameworks (the largest first) until what is rescinded covers
   * its shortfall. Only agents the role's frameworks may take (no decline filter) are rescinded.
   */
  private rescindForQuota(state: CellState, external: readonly AllocatorFramework[], quotas: ReadonlyMap<string, Resources>, now: number): void {
    const book = this.book;
    const roleOf = new Map(external.map((f) => [f.frameworkId, f.role]));
    let free: boolean | undefined;
    const held = new Map<string, Resources>();
    for (const f of external) held.set(f.role, add(held.get(f.role) ?? EMPTY, f.allocated));
    for (const [role, quota] of quotas) {
      const mine = held.get(role) ?? EMPTY;
      const short = shortfall(quota, mine);
      if (short === undefined) continue;
      const takers = external.filter((f) => f.role === role);
      // Offers of roles not below their own guarantee, that a framework of this role may take.
      const victims: BookedOffer[] = [];
      for (const f of external) {
        if (f.role === role) continue;
        const q = quotas.get(f.role);
        if (q !== undefined && shortfall(q, held.get(f.role) ?? EMPTY) !== undefined) continue;
        for (const o of book.heldBy(f.frameworkId).values()) {
          if (takers.some((t) => (t.declined.get(o.agentId) ?? 0) <= now)) victims.push(o);
        }
      }
      if (victims.length === 0) continue;
      // Only when nothing else is free: an agent no one holds goes to the role at this pass anyway.
      free ??= [...state.agents.values()].some((a) => a.reachable && book.offeredOn(a.agentId) === undefined && this.links.isOfferable(a.agentId) && hasScalar(freeOf(a)));
      if (free) return;
      victims.sort((a, b) => b.resources.cpusMilli - a.resources.cpusMilli || b.resources.memMiB - a.resources.memMiB);
      let covered = EMPTY;
      const taken: BookedOffer[] = [];
      for (const o of victims) {
        if (shortfall(short, covered) === undefined) break;
        covered = add(covered, o.resources);
        taken.push(o);
      }
      for (const o of taken) {
        this.rescindExternal(book.rescindAgent(o.agentId));
        const r = roleOf.get(o.frameworkId);
        if (r !== undefined) held.set(r, subtract(held.get(r) ?? EMPTY, o.resources));
      }
      this.options.logger.info('offers rescinded for a quota guarantee', { role, offers: taken.length });
    }
  }

  private rescindExternal(offers: readonly BookedOffer[]): void {
    if (offers.length === 0) return;
    this.stats.rescinded += offers.length;
    this.options.external?.rescinded(offers);
  }

  private async accept(f: InProcessFramework, answer: AcceptRequest): Promise<void> {
    const outcome = await commitAnswer(this.log, this.links, this.options.logger, f, this.book, answer);
    this.stats.refused += outcome.refused.length;
    // A launch refused for an offer the framework no longer holds means its view of that agent
    // is out of date: have it look again, and try once more at the next pass.
    if (outcome.refused.length > 0) {
      for (const r of outcome.refused) f.offerChanged?.(r.agentId);
      this.again = true;
    }
  }

  /** armWake sets a timer for the earliest backoff to expire, so a restart is not late by a tick. */
  private armWake(): void {
    let at: number | undefined;
    for (const f of this.frameworks) {
      const w = f.nextWakeAt();
      if (w !== undefined && (at === undefined || w < at)) at = w;
    }
    if (this.wake !== undefined) clearTimeout(this.wake);
    this.wake = undefined;
    if (at === undefined) return;
    this.wake = setTimeout(() => this.kick(), Math.max(0, at - this.log.now()) + 5);
    this.wake.unref();
  }
}

/**
 * quotaGuarantees is the quota of each external framework's role, as the allocator's guarantees;
 * undefined when none has one. (The built-in framework, role "*", applies its roles' quotas itself,
 * as limits on what their production jobs hold.)
 */
function quotaGuarantees(state: CellState, external: readonly AllocatorFramework[]): Map<string, Resources> | undefined {
  if (state.quotas.size === 0 || external.length === 0) return undefined;
  let out: Map<string, Resources> | undefined;
  for (const f of external) {
    const q = state.quotas.get(f.role);
    if (q === undefined) continue;
    out ??= new Map();
    out.set(f.role, { ...EMPTY, cpusMilli: q.quota.cpusMilli ?? 0, memMiB: q.quota.memMiB ?? 0, diskMiB: q.quota.diskMiB ?? 0, gpus: q.quota.gpus ?? 0 });
  }
  return out;
}

/** shortfall is what `held` lacks of `quota` in each resource the quota names (above 0), or undefined if nothing. */
function shortfall(quota: Resources, held: Resources): Resources | undefined {
  const lack = (q: number, h: number): number => (q > 0 && h < q ? q - h : 0);
  const s = { ...EMPTY, cpusMilli: lack(quota.cpusMilli, held.cpusMilli), memMiB: lack(quota.memMiB, held.memMiB), diskMiB: lack(quota.diskMiB, held.diskMiB), gpus: lack(quota.gpus, held.gpus) };
  return hasScalar(s) ? s : undefined;
}

function hasScalar(r: Resources): boolean {
  return r.cpusMilli > 0 || r.memMiB > 0 || r.diskMiB > 0 || r.gpus > 0;
}

/**
 * commitAnswer commits a framework's answer to its offers in the book: launches on offers it does
 * not hold, or beyond them, are refused; the rest, with its preemptions, become events in one
 * append (launchEvents decides against the state appended to); each offer launched on is used up
 * (taken out of the book); LAUNCH goes out once the append is durable. The framework hears the outcome.
 */
export async function commitAnswer(
  log: EventLog,
  links: Pick<AgentLinks, 'launch'> & Partial<Pick<AgentLinks, 'expect' | 'unexpect'>>,
  logger: Logger,
  f: InProcessFramework,
  book: OfferBook,
  answer: AcceptRequest,
): Promise<AcceptOutcome> {
  const { accepted, refused } = checkOffers(f.frameworkId, answer.launches, (agentId) => book.offeredOn(agentId));
  let decided: readonly LaunchedTask[] = [];
  const appended = log.submit((s, at) => {
    const d = launchEvents(s, at, { launches: accepted, preemptions: answer.preemptions, reclaimed: answer.reclaimed });
    decided = d.launched;
    return { events: d.events, result: d };
  });
  // The state has the tasks now (submit decides and applies at once): they are on their way from
  // here, not only once the append is durable (see AgentLinks.expect).
  links.expect?.(decided);
  let committed: Awaited<typeof appended>;
  try {
    committed = await appended;
  } catch (err) {
    links.unexpect?.(decided);
    throw err;
  }
  // An offer is used once: what is left of the agent is offered again at the next pass.
  const now = log.now();
  for (const t of committed.launched) {
    const o = book.offeredOn(t.agentId);
    if (o !== undefined && o.frameworkId === f.frameworkId) book.accept(f.frameworkId, [o.offerId], now);
  }
  const state = log.state;
  for (const t of committed.launched) {
    const info = f.taskInfo(state, t);
    if (info === undefined) continue;
    // Paced per agent, and kept while the agent has no stream: it goes out when the agent is back.
    links.launch(t.agentId, info);
  }
  const outcome: AcceptOutcome = { launched: committed.launched, victims: committed.victims, refused };
  f.accepted(outcome);
  return outcome;
}

/**
 * allocatorAgentOf is the allocator's view of an agent, made again only when the agent changed
 * (apply() gives it a new `used` when a task lands or leaves, new facts when it registers, and its
 * link a new busy-ports array when it reports one): a pass over 10,000 agents then allocates
 * nothing for the ones nothing happened on. Ports other programs hold on the machine are not free.
 */
interface AllocatorAgentCache {
  used: Resources;
  resources: Resources;
  attributes: object;
  hostname: string;
  busy: readonly PortRange[] | undefined;
  view: AllocatorAgent;
}
const allocatorAgents = new WeakMap<AgentRecord, AllocatorAgentCache>();
function allocatorAgentOf(a: AgentRecord, busy: readonly PortRange[] | undefined): AllocatorAgent {
  const hit = allocatorAgents.get(a);
  if (hit !== undefined && hit.used === a.used && hit.resources === a.resources && hit.attributes === a.attributes && hit.hostname === a.hostname && hit.busy === busy) {
    return hit.view;
  }
  let free = freeOf(a);
  if (busy !== undefined && busy.length > 0) free = { ...free, ports: subtractRanges(free.ports, busy) };
  const view: AllocatorAgent = { agentId: a.agentId, hostname: a.hostname, attributes: a.attributes, total: a.resources, free };
  allocatorAgents.set(a, { used: a.used, resources: a.resources, attributes: a.attributes, hostname: a.hostname, busy, view });
  return view;
}
