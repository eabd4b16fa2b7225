// OfferCycle runs allocation passes: it works out each connected agent's free resources from the
// state, has the allocator (pure, in scheduler/) turn them into offers, and hands each framework
// its offers. The built-in job scheduler is an in-process framework: it gets offers as objects
// and answers them before the pass ends, so an offer never outlives its pass and free resources
// are always recomputed from durable state. External frameworks (Mesos v1 API) come later.

import { EMPTY } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import { allocate, type AllocatorAgent, type Offer } from '../../scheduler/index.js';
import type { AgentLinks } from '../agents/index.js';
import { freeOf } from '../jobs/index.js';
import type { EventLog } from '../eventlog.js';

/** InProcessFramework is a framework living inside the master. */
export interface InProcessFramework {
  readonly frameworkId: string;
  readonly role: string;
  /** wantsOffers: it has work it could place now (else it is left out, as Mesos's SUPPRESS). */
  wantsOffers(now: number): boolean;
  /** resourceOffers uses what it can of the offers; whatever it does not launch is declined. */
  resourceOffers(offers: Offer[], now: number): Promise<void>;
  /** nextWakeAt: when it will next want offers without anything else happening (backoff), if ever. */
  nextWakeAt(): number | undefined;
}

export class OfferCycle {
  private running = false;
  private again = false;
  private kicked = false;
  private offerSeq = 0;
  private wake: NodeJS.Timeout | undefined;
  private readonly interval: NodeJS.Timeout;
  private closed = false;
  /** Passes run and offers made, for /metrics. */
  readonly stats = { passes: 0, offers: 0 };

  constructor(
    private readonly log: EventLog,
    private readonly links: AgentLinks,
    private readonly frameworks: readonly InProcessFramework[],
    private readonly options: { masterId: string; logger: Logger; roleWeights?: ReadonlyMap<string, number> },
  ) {
    // A slow heartbeat of passes covers anything a kick might miss (e.g. an agent connecting).
    this.interval = setInterval(() => this.kick(), 1000);
    this.interval.unref();
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
    clearInterval(this.interval);
    if (this.wake !== undefined) clearTimeout(this.wake);
  }

  private async pass(): Promise<void> {
    if (this.running || this.closed) return;
    this.running = true;
    try {
      const now = this.log.now();
      const wanting = this.frameworks.filter((f) => f.wantsOffers(now));
      if (wanting.length > 0) await this.offer(wanting, now);
      this.armWake();
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    }
  }

  private async offer(frameworks: readonly InProcessFramework[], now: number): Promise<void> {
    const state = this.log.state;
    const agents: AllocatorAgent[] = [];
    for (const a of state.agents.values()) {
      if (!a.reachable || !this.links.isConnected(a.agentId)) continue;
      agents.push({ agentId: a.agentId, hostname: a.hostname, attributes: a.attributes, total: a.resources, free: freeOf(a) });
    }
    if (agents.length === 0) {
      // Nothing to offer: every framework gets an empty round so it can say why its work waits.
      for (const f of frameworks) await f.resourceOffers([], now);
      return;
    }
    const offers = allocate({
      agents,
      frameworks: frameworks.map((f) => ({ frameworkId: f.frameworkId, role: f.role, allocated: EMPTY, suppressed: false, declined: new Map() })),
      roleWeights: this.options.roleWeights ?? new Map(),
      now,
      nextOfferId: () => `${this.options.masterId}-O${++this.offerSeq}`,
    });
    this.stats.passes++;
    this.stats.offers += offers.length;
    for (const f of frameworks) {
      await f.resourceOffers(
        offers.filter((o) => o.frameworkId === f.frameworkId),
        now,
      );
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
