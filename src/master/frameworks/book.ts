// OfferBook is the master's one record of the offers it has out: which framework holds each, on
// which agent, since when and until when, and what each framework asked of future offers (decline
// filters, SUPPRESS). The allocator decides who gets an agent; the book makes sure an offer is used
// once, by the framework it was made to, and that an agent's resources are never in two outstanding
// offers at once (so two frameworks cannot both launch on the same free cpus).
//
// It is bookkeeping only, as Aurora's offer manager would be without its executor: no timers, no
// I/O; the caller passes the time (ms) into every call that depends on it and sends the RESCINDs
// for what rescindAgent(), rescindFramework() and expire() return.
//
// Refuse filters follow Mesos's Filters.refuse_seconds: 5 s when absent or negative, at most a year,
// none at 0. A framework's filters are per agent; REVIVE clears them all.

import { add, EMPTY, gpusToMilli, type Resources } from '../../core/index.js';
import type { Offer } from '../../scheduler/index.js';

/** BookedOffer is an outstanding offer as the book holds it. */
export interface BookedOffer extends Offer {
  /** When the offer was made (ms). */
  readonly offeredAt: number;
  /** When it times out (ms): from then it cannot be accepted or declined, and expire() takes it. Absent: never. */
  readonly expiresAt?: number;
}

/** AcceptErrorCode says why an ACCEPT's offers were refused; stable, for the framework's error reply. */
export type AcceptErrorCode = 'NO_OFFERS' | 'DUPLICATE_OFFER' | 'OFFER_NOT_FOUND' | 'OFFER_NOT_YOURS' | 'OFFERS_ON_DIFFERENT_AGENTS';

export type AcceptResult =
  | { readonly ok: true; readonly offers: readonly BookedOffer[] }
  | { readonly ok: false; readonly code: AcceptErrorCode; readonly message: string };

/** DEFAULT_REFUSE_SECONDS is how long a decline keeps an agent from a framework when it does not say (Mesos's default). */
export const DEFAULT_REFUSE_SECONDS = 5;

/** MAX_REFUSE_SECONDS caps a refuse filter at a year, as Mesos does: "forever" is a REVIVE away, not a leak. */
export const MAX_REFUSE_SECONDS = 31_536_000;

/**
 * MAX_FILTERS bounds the decline filters one framework may hold, so that a framework declining
 * offers of agents that come and go cannot grow the master's memory without end. Far above any
 * cell's agent count (one filter per agent is the most a steady cell needs).
 */
export const MAX_FILTERS = 100_000;

/**
 * refuseMs turns a refuse_seconds figure into how long the filter lasts in ms: absent, negative or
 * not a number → the default; above a year → a year; 0 → 0 (no filter).
 */
export function refuseMs(refuseSeconds: number | undefined): number {
  const seconds = refuseSeconds === undefined || Number.isNaN(refuseSeconds) || refuseSeconds < 0 ? DEFAULT_REFUSE_SECONDS : refuseSeconds;
  return Math.ceil(Math.min(seconds, MAX_REFUSE_SECONDS) * 1000);
}

export interface OfferBookOptions {
  /** An offer not answered this long after it was made times out (Mesos's --offer_timeout). Absent: never. */
  readonly offerTimeoutMs?: number;
  /** The most decline filters one framework holds; MAX_FILTERS by default. */
  readonly maxFilters?: number;
}

/** FrameworkState is what a framework asked of future offers. */
interface FrameworkState {
  suppressed: boolean;
  /** Decline filters: agentId → until (ms). In the order they were last extended, oldest first. */
  readonly filters: Map<string, number>;
  /** No filter ends before this (a lower bound): until then there is nothing to prune. */
  nextExpiry: number;
}

const NO_FILTERS: ReadonlyMap<string, number> = new Map();
const NO_OFFERS: ReadonlyMap<string, BookedOffer> = new Map();

export class OfferBook {
  private readonly byId = new Map<string, BookedOffer>();
  /**
   * frameworkId → agentId → offer (an agent is in one offer at most, so this is as unique as the
   * offer id); a framework with no offers has no entry.
   */
  private readonly byFramework = new Map<string, Map<string, BookedOffer>>();
  /** frameworkId → the scalars of its outstanding offers, kept as offers come and go (gpus in milli, exact). */
  private readonly sums = new Map<string, { cpusMilli: number; memMiB: number; diskMiB: number; gpusMilli: number }>();
  /** agentId → its one outstanding offer. */
  private readonly byAgent = new Map<string, BookedOffer>();
  /** Frameworks that suppressed or hold filters; the others have no entry. */
  private readonly frameworks = new Map<string, FrameworkState>();
  private readonly offerTimeoutMs: number | undefined;
  private readonly maxFilters: number;

  constructor(options: OfferBookOptions = {}) {
    const { offerTimeoutMs, maxFilters = MAX_FILTERS } = options;
    if (offerTimeoutMs !== undefined && !(Number.isFinite(offerTimeoutMs) && offerTimeoutMs > 0)) {
      throw new Error(`OfferBook: offerTimeoutMs must be a positive number of ms, not ${offerTimeoutMs}`);
    }
    if (!(Number.isInteger(maxFilters) && maxFilters > 0)) throw new Error(`OfferBook: maxFilters must be a positive integer, not ${maxFilters}`);
    this.offerTimeoutMs = offerTimeoutMs;
    this.maxFilters = maxFilters;
  }

  /** size is the number of outstanding offers. */
  get size(): number {
    return this.byId.size;
  }

  /**
   * add books new offers made at `now` and returns them as booked. It throws, booking none of
   * them, if an offer id is already booked or given twice, or if an agent already has an
   * outstanding offer or is in two of them: the allocator must only offer what is not out (a bug
   * otherwise, not a framework's mistake). Offers booked with `expires: false` never time out: an
   * in-process framework answers its offers within the pass that makes them.
   */
  add(offers: readonly Offer[], now: number, expires = true): BookedOffer[] {
    const ids = new Set<string>();
    const agents = new Set<string>();
    for (const o of offers) {
      if (this.byId.has(o.offerId) || ids.has(o.offerId)) throw new Error(`OfferBook: offer ${o.offerId} is already booked`);
      const out = this.byAgent.get(o.agentId);
      if (out !== undefined) {
        throw new Error(`OfferBook: agent ${o.agentId} is already in offer ${out.offerId} to framework ${out.frameworkId}; cannot offer it again in ${o.offerId}`);
      }
      if (agents.has(o.agentId)) throw new Error(`OfferBook: agent ${o.agentId} is in two offers of one batch (${o.offerId} and another)`);
      ids.add(o.offerId);
      agents.add(o.agentId);
    }
    const booked: BookedOffer[] = [];
    for (const o of offers) {
      const b: BookedOffer = this.offerTimeoutMs === undefined || !expires ? { ...o, offeredAt: now } : { ...o, offeredAt: now, expiresAt: now + this.offerTimeoutMs };
      this.byId.set(b.offerId, b);
      this.byAgent.set(b.agentId, b);
      let mine = this.byFramework.get(b.frameworkId);
      if (mine === undefined) {
        mine = new Map();
        this.byFramework.set(b.frameworkId, mine);
      }
      mine.set(b.agentId, b);
      this.count(b, 1);
      booked.push(b);
    }
    return booked;
  }

  /** get is the outstanding offer of that id (timed out but not yet expired ones included), if any. */
  get(offerId: string): BookedOffer | undefined {
    return this.byId.get(offerId);
  }

  /**
   * accept takes the offers an ACCEPT names out of the book and returns them, if all of them are
   * outstanding (not timed out at `now`), made to this framework, named once and on one agent
   * (Mesos: the operations of one ACCEPT run on one agent). Otherwise it says what is wrong with
   * the first offer at fault and changes nothing: the offers stay out until declined, rescinded or
   * timed out.
   */
  accept(frameworkId: string, offerIds: readonly string[], now: number): AcceptResult {
    if (offerIds.length === 0) return { ok: false, code: 'NO_OFFERS', message: 'ACCEPT names no offers' };
    const seen = new Set<string>();
    const offers: BookedOffer[] = [];
    for (const id of offerIds) {
      if (seen.has(id)) return { ok: false, code: 'DUPLICATE_OFFER', message: `ACCEPT names offer ${id} more than once` };
      seen.add(id);
      const o = this.live(id, now);
      if (o === undefined) {
        return { ok: false, code: 'OFFER_NOT_FOUND', message: `offer ${id} is not outstanding: unknown, already accepted or declined, rescinded, or timed out` };
      }
      if (o.frameworkId !== frameworkId) return { ok: false, code: 'OFFER_NOT_YOURS', message: `offer ${id} was not made to framework ${frameworkId}` };
      offers.push(o);
    }
    const agentId = (offers[0] as BookedOffer).agentId;
    const other = offers.find((o) => o.agentId !== agentId);
    if (other !== undefined) {
      return {
        ok: false,
        code: 'OFFERS_ON_DIFFERENT_AGENTS',
        message: `ACCEPT names offers on agents ${agentId} and ${other.agentId}; the offers of one ACCEPT must all be on one agent`,
      };
    }
    for (const o of offers) this.remove(o);
    return { ok: true, offers };
  }

  /**
   * decline takes the named offers of this framework out of the book and keeps each one's agent
   * from the framework for refuseSeconds (see refuseMs). Ids that are not this framework's
   * outstanding offers are ignored, as Mesos does: a late DECLINE of a rescinded offer is no error.
   * It returns the offers declined.
   */
  decline(frameworkId: string, offerIds: readonly string[], refuseSeconds: number | undefined, now: number): BookedOffer[] {
    const declined: BookedOffer[] = [];
    for (const id of offerIds) {
      const o = this.live(id, now);
      if (o === undefined || o.frameworkId !== frameworkId) continue;
      this.remove(o);
      this.refuse(frameworkId, o.agentId, refuseSeconds, now);
      declined.push(o);
    }
    return declined;
  }

  /**
   * filterAfterAccept keeps an agent from a framework for refuseSeconds after an ACCEPT: what the
   * ACCEPT's operations left unused goes back declined, with the ACCEPT's filters (Mesos).
   */
  filterAfterAccept(frameworkId: string, agentId: string, refuseSeconds: number | undefined, now: number): void {
    this.refuse(frameworkId, agentId, refuseSeconds, now);
  }

  /** suppress: the framework wants no offers until it revives (SUPPRESS). Its outstanding offers stay. */
  suppress(frameworkId: string): void {
    this.stateOf(frameworkId).suppressed = true;
  }

  /** revive: the framework wants offers again, from every agent: suppression and all its decline filters go (REVIVE). */
  revive(frameworkId: string): void {
    this.frameworks.delete(frameworkId);
  }

  isSuppressed(frameworkId: string): boolean {
    return this.frameworks.get(frameworkId)?.suppressed ?? false;
  }

  /**
   * declinedFor is the framework's live decline filters at `now`, agentId → until (ms), for the
   * allocator. Filters that have ended are dropped here. The map is the book's own: read it before
   * the book changes.
   */
  declinedFor(frameworkId: string, now: number): ReadonlyMap<string, number> {
    const s = this.frameworks.get(frameworkId);
    if (s === undefined) return NO_FILTERS;
    this.prune(s, now);
    return s.filters;
  }

  /** rescindAgent takes the agent's offer out of the book (agent gone, disconnected, or its resources needed) and returns it. */
  rescindAgent(agentId: string): BookedOffer[] {
    const o = this.byAgent.get(agentId);
    if (o === undefined) return [];
    this.remove(o);
    return [o];
  }

  /**
   * rescindFramework takes the framework's offers out of the book (framework disconnected or
   * gone) and returns them. Its filters and suppression stay, for when it comes back; forget()
   * drops those too.
   */
  rescindFramework(frameworkId: string): BookedOffer[] {
    const mine = this.byFramework.get(frameworkId);
    if (mine === undefined) return [];
    const out = [...mine.values()];
    for (const o of out) this.remove(o);
    return out;
  }

  /** forget drops all the book knows of a framework that is gone for good, and returns the offers it held. */
  forget(frameworkId: string): BookedOffer[] {
    this.frameworks.delete(frameworkId);
    return this.rescindFramework(frameworkId);
  }

  /** expire takes the offers timed out at `now` out of the book and returns them, to be rescinded. */
  expire(now: number): BookedOffer[] {
    if (this.offerTimeoutMs === undefined) return [];
    const out: BookedOffer[] = [];
    for (const o of this.byId.values()) if (o.expiresAt !== undefined && o.expiresAt <= now) out.push(o);
    for (const o of out) this.remove(o);
    return out;
  }

  /** outstanding is the framework's offers in the book (timed out but not yet expired ones included). */
  outstanding(frameworkId: string): BookedOffer[] {
    return [...this.heldBy(frameworkId).values()];
  }

  /**
   * heldBy is the framework's outstanding offers by agent id: the book's own map, which changes
   * as the book does (read it, do not keep it).
   */
  heldBy(frameworkId: string): ReadonlyMap<string, BookedOffer> {
    return this.byFramework.get(frameworkId) ?? NO_OFFERS;
  }

  /** offeredOn is the agent's outstanding offer, if any: its resources are not free to offer again. */
  offeredOn(agentId: string): BookedOffer | undefined {
    return this.byAgent.get(agentId);
  }

  /**
   * offeredScalars is what offeredResources is without the ports, kept as offers come and go: what
   * the allocator weighs a framework by at every pass costs nothing however many offers it holds.
   */
  offeredScalars(frameworkId: string): Resources {
    const s = this.sums.get(frameworkId);
    return s === undefined ? EMPTY : { cpusMilli: s.cpusMilli, memMiB: s.memMiB, diskMiB: s.diskMiB, gpus: s.gpusMilli / 1000, ports: [] };
  }

  /** offeredResources is the sum of the framework's outstanding offers, which count as allocated to it. */
  offeredResources(frameworkId: string): Resources {
    let sum = EMPTY;
    const mine = this.byFramework.get(frameworkId);
    if (mine !== undefined) for (const o of mine.values()) sum = add(sum, o.resources);
    return sum;
  }

  /** live is the offer of that id if it may still be answered at `now`. */
  private live(offerId: string, now: number): BookedOffer | undefined {
    const o = this.byId.get(offerId);
    if (o === undefined || (o.expiresAt !== undefined && o.expiresAt <= now)) return undefined;
    return o;
  }

  private remove(o: BookedOffer): void {
    this.byId.delete(o.offerId);
    if (this.byAgent.get(o.agentId) === o) this.byAgent.delete(o.agentId);
    const mine = this.byFramework.get(o.frameworkId);
    if (mine === undefined) return;
    if (mine.get(o.agentId) === o) {
      mine.delete(o.agentId);
      this.count(o, -1);
    }
    if (mine.size === 0) {
      this.byFramework.delete(o.frameworkId);
      this.sums.delete(o.frameworkId);
    }
  }

  private count(o: Offer, sign: 1 | -1): void {
    let s = this.sums.get(o.frameworkId);
    if (s === undefined) {
      s = { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpusMilli: 0 };
      this.sums.set(o.frameworkId, s);
    }
    s.cpusMilli += sign * o.resources.cpusMilli;
    s.memMiB += sign * o.resources.memMiB;
    s.diskMiB += sign * o.resources.diskMiB;
    s.gpusMilli += sign * gpusToMilli(o.resources.gpus);
  }

  private stateOf(frameworkId: string): FrameworkState {
    let s = this.frameworks.get(frameworkId);
    if (s === undefined) {
      s = { suppressed: false, filters: new Map(), nextExpiry: Infinity };
      this.frameworks.set(frameworkId, s);
    }
    return s;
  }

  /**
   * refuse keeps the agent from the framework until now + refuseMs(refuseSeconds); a longer filter
   * already there stays (every filter filters). At the bound, filters that have ended go first,
   * then the one extended longest ago: losing a filter only means an offer comes sooner.
   */
  private refuse(frameworkId: string, agentId: string, refuseSeconds: number | undefined, now: number): void {
    const ms = refuseMs(refuseSeconds);
    if (ms <= 0) return;
    const until = now + ms;
    const s = this.stateOf(frameworkId);
    const had = s.filters.get(agentId);
    if (had !== undefined) {
      if (had >= until) return;
      s.filters.delete(agentId);
    } else if (s.filters.size >= this.maxFilters) {
      this.prune(s, now);
      if (s.filters.size >= this.maxFilters) {
        const oldest = s.filters.keys().next();
        if (oldest.done !== true) s.filters.delete(oldest.value);
      }
    }
    s.filters.set(agentId, until);
    if (until < s.nextExpiry) s.nextExpiry = until;
  }

  /** prune drops the framework's filters that have ended at `now` (none before nextExpiry). */
  private prune(s: FrameworkState, now: number): void {
    if (now < s.nextExpiry) return;
    let next = Infinity;
    for (const [agentId, until] of s.filters) {
      if (until <= now) s.filters.delete(agentId);
      else if (until < next) next = until;
    }
    s.nextExpiry = next;
  }
}
