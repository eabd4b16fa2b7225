// OfferCycle runs allocation passes: it works out each connected agent's free resources from the
// state, has the allocator (pure, in scheduler/) turn them into offers, and hands each framework
// its offers. The built-in job scheduler is an in-process framework: it gets offers as objects
// and answers them before the pass ends, with launches that name the offers they use. The cycle,
// not the framework, checks each launch against its offer (commands/launch.ts), appends what
// passes, and only then sends LAUNCH: an offer is used once, and a framework cannot launch beyond
// what it was offered. External frameworks (Mesos v1 API) come later.
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
import type { AgentRecord } from '../state/index.js';
import type { ExternalOffers } from './external.js';
import type { AcceptOutcome, InProcessFramework } from './types.js';

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
  /** The offers outstanding to each framework, by agent id. */
  private outstanding = new Map<string, Map<string, Offer>>();
  /**
   * Passes run, offers made, declined (answered without a launch on them; each offer counted once,
   * though it is handed over again at each pass it stays outstanding) and rescinded (withdrawn
   * because their agent disconnected, became unreachable, was removed or is stopping), for /metrics.
   */
  readonly stats = { passes: 0, offers: 0, declined: 0, rescinded: 0, refused: 0 };
  /** Offers already counted as declined. */
  private readonly declined = new WeakSet<Offer>();
  /** Agents launched on during the framework call under way (undefined outside one). */
  private launchedOn: Set<string> | undefined;

  constructor(
    private readonly log: EventLog,
    private readonly links: Pick<AgentLinks, 'isOfferable' | 'busyPortsOf' | 'send'>,
    private readonly frameworks: readonly InProcessFramework[],
    private readonly options: { masterId: string; logger: Logger; roleWeights?: ReadonlyMap<string, number>; external?: ExternalOffers },
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
      const wanting = this.frameworks.filter((f) => f.wantsOffers(now));
      const external = this.options.external?.candidates(now).filter((f) => !f.suppressed) ?? [];
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

  private async offer(frameworks: readonly InProcessFramework[], external: readonly AllocatorFramework[], now: number): Promise<void> {
    const state = this.log.state;
    const dirty = this.dirty;
    this.dirty = new Set();
    const agents: AllocatorAgent[] = [];
    const offers = this.options.external;
    const offerable = (id: string): boolean => {
      const a = state.agents.get(id);
      return a !== undefined && a.reachable && this.links.isOfferable(id);
    };
    // An agent gone is rescinded from every framework; one whose resources an external framework
    // holds an offer for stays with it (until accept, decline, rescind or timeout): never two offers.
    const consider = (a: AgentRecord): void => {
      if (offers?.holds(a.agentId) === true) return;
      agents.push(allocatorAgentOf(a, this.links.busyPortsOf(a.agentId)));
    };
    // The in-process frameworks' offers withdrawn for this pass, by framework and agent: an agent
    // offered again to the same framework with the same resources keeps its offer (and id), so
    // that a framework's view of its offers (its slot cache) stays valid across passes.
    let replaced = new Map<string, Map<string, Offer>>();
    if (dirty === undefined) {
      for (const held of this.outstanding.values()) for (const id of held.keys()) if (!offerable(id)) this.stats.rescinded++;
      replaced = this.outstanding;
      this.outstanding = new Map();
      for (const a of state.agents.values()) {
        if (a.reachable && this.links.isOfferable(a.agentId)) consider(a);
        else if (offers !== undefined) this.stats.rescinded += offers.rescindAgent(a.agentId);
      }
    } else {
      for (const id of dirty) {
        const gone = !offerable(id);
        for (const [frameworkId, held] of this.outstanding) {
          const o = held.get(id);
          if (o === undefined) continue;
          held.delete(id);
          if (gone) this.stats.rescinded++;
          let stash = replaced.get(frameworkId);
          if (stash === undefined) {
            stash = new Map<string, Offer>();
            replaced.set(frameworkId, stash);
          }
          stash.set(id, o);
        }
        if (gone && offers !== undefined) this.stats.rescinded += offers.rescindAgent(id);
        const a = state.agents.get(id);
        if (a !== undefined && !gone) consider(a);
      }
    }
    // Frameworks not offered to in the last pass (they did not want offers) start from every agent.
    const fresh = frameworks.some((f) => !this.outstanding.has(f.frameworkId));
    if (fresh && dirty !== undefined) {
      this.dirty = undefined;
      return this.offer(frameworks, external, now);
    }
    const builtIn = external.length > 0 ? this.builtInShare(now) : EMPTY;
    const made = agents.length === 0 ? [] : allocate({
      agents,
      frameworks: [...frameworks.map((f) => ({ frameworkId: f.frameworkId, role: f.role, allocated: builtIn, suppressed: false, declined: new Map<string, number>() })), ...external],
      roleWeights: this.options.roleWeights ?? new Map(),
      now,
      nextOfferId: () => `${this.options.masterId}-O${++this.offerSeq}`,
    });
    this.stats.passes++;
    this.stats.offers += made.length;
    const inProcess = new Set(frameworks.map((f) => f.frameworkId));
    const toExternal = made.filter((o) => !inProcess.has(o.frameworkId));
    if (toExternal.length > 0) offers?.offer(toExternal, now);
    for (const o of made) {
      if (!inProcess.has(o.frameworkId)) continue;
      let offers = this.outstanding.get(o.frameworkId);
      if (offers === undefined) {
        offers = new Map();
        this.outstanding.set(o.frameworkId, offers);
      }
      const before = replaced.get(o.frameworkId)?.get(o.agentId);
      offers.set(o.agentId, before !== undefined && sameResources(before.resources, o.resources) ? before : o);
    }
    for (const f of frameworks) {
      let offers = this.outstanding.get(f.frameworkId);
      if (offers === undefined) {
        offers = new Map();
        this.outstanding.set(f.frameworkId, offers);
      }
      const launchedOn = new Set<string>();
      this.launchedOn = launchedOn;
      try {
        const answer = f.resourceOffers(offers, now);
        if (answer !== undefined) await this.accept(f, offers, answer);
      } finally {
        this.launchedOn = undefined;
      }
      for (const [agentId, o] of offers) {
        if (launchedOn.has(agentId) || this.declined.has(o)) continue;
        this.declined.add(o);
        this.stats.declined++;
      }
    }
  }

  private async accept(f: InProcessFramework, offers: Map<string, Offer>, answer: AcceptRequest): Promise<void> {
    const outcome = await commitAnswer(this.log, this.links, this.options.logger, f, offers, answer);
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
 * commitAnswer commits a framework's answer to its offers (by agent id): launches on offers it does
 * not hold, or beyond them, are refused; the rest, with its preemptions, become events in one
 * append (launchEvents decides against the state appended to); each offer launched on is used up
 * (removed from offers); LAUNCH goes out once the append is durable. The framework hears the outcome.
 */
export async function commitAnswer(
  log: EventLog,
  links: Pick<AgentLinks, 'send'>,
  logger: Logger,
  f: InProcessFramework,
  offers: Map<string, Offer>,
  answer: AcceptRequest,
): Promise<AcceptOutcome> {
  const { accepted, refused } = checkOffers(f.frameworkId, answer.launches, (agentId) => offers.get(agentId));
  const committed = await log.submit((s, at) => {
    const d = launchEvents(s, at, { launches: accepted, preemptions: answer.preemptions, reclaimed: answer.reclaimed });
    return { events: d.events, result: d };
  });
  // An offer is used once: what is left of the agent is offered again at the next pass.
  for (const t of committed.launched) offers.delete(t.agentId);
  const state = log.state;
  for (const t of committed.launched) {
    const info = f.taskInfo(state, t);
    if (info === undefined) continue;
    if (!links.send(t.agentId, { type: 'LAUNCH', launch: { task: info } })) {
      // The agent's stream dropped after the offer: when it re-subscribes without this task the
      // task is marked lost and the instance placed again.
      logger.warn('agent not connected for LAUNCH', { taskId: t.taskId, agentId: t.agentId });
    }
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
