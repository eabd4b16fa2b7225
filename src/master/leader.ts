// LeaderElection chooses one master among several that share an etcd cluster: whoever creates the
// leader key, bound to its own lease, leads until the lease ends (it resigns, it dies, or it is cut
// off). It is the "Leadership" half of HA masters; the etcd Store fences every append with fence().
//
// Why a leader steps down before etcd says so: a leader cut off from etcd (its members stopped, a
// partition, or this process SIGSTOPped and just woken) cannot learn whether its lease still holds.
// etcd starts the lease's clock again when it RECEIVES a keepalive, which is no earlier than when we
// SENT it; so the lease holds at least until (send time of the last answered keepalive) + ttl, and
// may end right then. We therefore stop claiming leadership at send time + ttl × 2/3: the last third
// is the margin for clocks that run at different rates (etcd's and ours) and for the time a caller
// needs between asking fence() and acting on it. The check runs on a short timer, on every keepalive
// answer, and synchronously inside fence(), epoch() and isLeader(), so that code which wakes up after
// a SIGSTOP learns it is deposed before it can act, whatever timer happens to run first.

import { randomUUID } from 'node:crypto';
import { Etcd3, EtcdLeaseInvalidError, type IKeyValue, type Lease, type Watcher } from 'etcd3';
import { MusterError } from '../core/index.js';
import type { Logger } from '../log/index.js';

/** LeaderInfo names the master that leads now and the epoch of its term. */
export interface LeaderInfo {
  masterId: string;
  url: string;
  /** epoch is the leader key's create revision in etcd: it only grows from one leader to the next. */
  epoch: number;
}

/**
 * Fence is what a write must be guarded by: the transaction compares the value of key with value,
 * which carries a nonce unique to this term, so a deposed leader's writes can never match.
 */
export interface Fence {
  key: string;
  value: string;
}

export interface LeaderElectionOptions {
  /** endpoints are etcd client URLs, e.g. ["http://127.0.0.1:2379", …]. */
  endpoints: readonly string[];
  /** prefix is the cell's root in etcd, e.g. "/muster"; the leader key is `${prefix}/leader`. */
  prefix: string;
  candidate: { masterId: string; url: string };
  /** ttlSecs is the lease TTL in whole seconds (etcd's unit); default 2. */
  ttlSecs?: number;
  logger: Logger;
}

/** DEFAULT_TTL_SECS: failover within a few seconds, without deposing a leader for one slow keepalive. */
export const DEFAULT_TTL_SECS = 2;
const MAX_TTL_SECS = 600;
/** Bounds what a candidate may store in the leader key (etcd's request limit is 1.5 MiB). */
const MAX_FIELD_CHARS = 1024;
/** At most this many keepalives in flight: a hung etcd must not pile up streams. */
const MAX_KEEPALIVES_IN_FLIGHT = 4;
/** At most this many old leases waiting to be revoked (each one expires by itself anyway). */
const MAX_PENDING_REVOKES = 16;

interface StoredValue {
  masterId: string;
  url: string;
  nonce: string;
}

/** Term is one stretch of leadership, from winning the key to being deposed or resigning. */
interface Term {
  readonly lease: Lease;
  readonly epoch: number;
  readonly value: string;
  readonly nonce: string;
  /** confirmedAt: performance.now() when the last keepalive that etcd answered was sent. */
  confirmedAt: number;
  inFlight: number;
  readonly timers: NodeJS.Timeout[];
  readonly ended: () => void;
}

type Attempt = { won: true } | { won: false; revision: number };

export class LeaderElection {
  private readonly client: Etcd3;
  private readonly key: string;
  private readonly candidate: { masterId: string; url: string };
  private readonly ttlSecs: number;
  private readonly stepDownMs: number;
  private readonly logger: Logger;

  private term: Term | undefined;
  private known: LeaderInfo | undefined;
  private watcher: Watcher | undefined;
  /** deletes counts the leader key's deletions seen by the watch, to not sleep through a vacancy. */
  private deletes = 0;
  private readonly pendingRevokes = new Set<Lease>();
  private running: Promise<void> | undefined;
  /** termEnded resolves when the current term ends; the campaign waits on it while leading. */
  private termEnded: Promise<void> = Promise.resolve();
  private closed = false;
  private wake: (() => void) | undefined;

  private readonly electedListeners = new Set<(epoch: number) => void>();
  private readonly deposedListeners = new Set<(reason: string) => void>();
  private readonly leaderListeners = new Set<(leader: LeaderInfo | undefined) => void>();

  constructor(options: LeaderElectionOptions) {
    const ttl = options.ttlSecs ?? DEFAULT_TTL_SECS;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECS) {
      throw new MusterError('INVALID_ARGUMENT', `Cannot elect a leader: the lease TTL must be a whole number of seconds from 1 to ${MAX_TTL_SECS}, got ${ttl}`);
    }
    if (options.endpoints.length === 0) throw new MusterError('INVALID_ARGUMENT', 'Cannot elect a leader: no etcd endpoints were given');
    const { masterId, url } = options.candidate;
    if (masterId === '' || masterId.length > MAX_FIELD_CHARS || url.length > MAX_FIELD_CHARS) {
      throw new MusterError('INVALID_ARGUMENT', `Cannot elect a leader: the master id must be 1 to ${MAX_FIELD_CHARS} characters and the URL at most ${MAX_FIELD_CHARS}`);
    }
    this.ttlSecs = ttl;
    this.stepDownMs = (ttl * 1000 * 2) / 3;
    this.key = `${options.prefix.replace(/\/+$/, '')}/leader`;
    this.candidate = { masterId, url };
    this.logger = options.logger;
    this.client = new Etcd3({
      hosts: [...options.endpoints],
      // Every unary call is bounded, so that a paused etcd cannot stall the campaign forever.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + this.callTimeoutMs() }),
    });
  }

  /** start begins campaigning (and watching who leads) in the background; close() ends it. */
  start(): void {
    if (this.running !== undefined || this.closed) return;
    this.running = this.campaign();
  }

  /** isLeader tells whether this candidate leads now (and steps down first if its lease may have ended). */
  isLeader(): boolean {
    return this.check();
  }

  /** epoch is this candidate's term number while it leads, else undefined. */
  epoch(): number | undefined {
    return this.check() ? this.term?.epoch : undefined;
  }

  /** fence is what guards the leader's writes while it leads, else undefined. */
  fence(): Fence | undefined {
    const term = this.check() ? this.term : undefined;
    return term === undefined ? undefined : { key: this.key, value: term.value };
  }

  /**
   * leaseDeadline is the performance.now() time after which the lease may have ended, judged from
   * the last answered keepalive; undefined when not leading. We step down well before it.
   */
  leaseDeadline(): number | undefined {
    const term = this.check() ? this.term : undefined;
    return term === undefined ? undefined : term.confirmedAt + this.ttlSecs * 1000;
  }

  /** leader is who leads now as far as this candidate knows (from its watch), for redirects. */
  leader(): LeaderInfo | undefined {
    this.check();
    return this.known === undefined ? undefined : { ...this.known };
  }

  /** onElected: called with the epoch each time this candidate wins. */
  onElected(fn: (epoch: number) => void): () => void {
    this.electedListeners.add(fn);
    return () => this.electedListeners.delete(fn);
  }

  /** onDeposed: called once per term when it ends (cut off, lease lost, or "resigned" by close()). */
  onDeposed(fn: (reason: string) => void): () => void {
    this.deposedListeners.add(fn);
    return () => this.deposedListeners.delete(fn);
  }

  /** onLeaderChange: called whenever leader() changes (another master, a new epoch, or none). */
  onLeaderChange(fn: (leader: LeaderInfo | undefined) => void): () => void {
    this.leaderListeners.add(fn);
    return () => this.leaderListeners.delete(fn);
  }

  /** close resigns: stops claiming, deletes the leader key if it is ours, revokes the lease. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const term = this.term;
    if (term !== undefined) this.endTerm(term, 'resigned');
    this.wake?.();
    await this.running;
    if (term !== undefined) {
      try {
        await this.client.if(this.key, 'Value', '==', term.value).then(this.client.delete().key(this.key)).commit();
      } catch (e) {
        this.logger.warn('could not delete the leader key on resigning; it ends with the lease', { error: e });
      }
      this.revokeLater(term.lease);
    }
    await this.revokePending();
    await this.cancelWatch();
    this.client.close();
  }

  /**
   * abandon stops everything without a word to etcd, as if the process died: no resignation, no
   * revoke; the lease runs out on its own. For failover tests, and for a master that must exit now.
   */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    const term = this.term;
    if (term !== undefined) {
      this.term = undefined;
      for (const t of term.timers) clearInterval(t);
      term.lease.release();
      term.ended();
    }
    this.wake?.();
    void this.cancelWatch().finally(() => this.client.close());
  }

  /** cancelWatch detaches the leader watch, waiting at most one call timeout for etcd to confirm. */
  private async cancelWatch(): Promise<void> {
    const watcher = this.watcher;
    if (watcher === undefined) return;
    this.watcher = undefined;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      watcher.cancel().catch(() => undefined),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.callTimeoutMs()))),
    ]);
    clearTimeout(timer);
  }

  /** campaign loops until close(): try to create the key; lead until deposed, or wait for a vacancy. */
  private async campaign(): Promise<void> {
    let backoffMs = 100;
    while (!this.closed) {
      try {
        await this.revokePending();
        const deletesBefore = this.deletes;
        const attempt = await this.attempt();
        if (this.watcher === undefined && !this.closed) {
          // Watch from just after the attempt's revision: no put or delete falls in between.
          this.openWatch(attempt.won ? this.term?.epoch ?? 0 : attempt.revision);
        }
        backoffMs = 100;
        if (attempt.won) {
          await this.untilTermEnds();
        } else if (this.deletes === deletesBefore) {
          // The watch wakes us when the key goes; the poll covers a watch that silently broke.
          await this.sleep(this.ttlSecs * 1000);
        }
      } catch (e) {
        if (this.closed) break;
        this.logger.warn('leader election: etcd call failed, retrying', { error: e, retryInMs: backoffMs });
        await this.sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, this.ttlSecs * 1000);
      }
    }
  }

  /** attempt grants a fresh lease and creates the leader key with it, if no one holds the key. */
  private async attempt(): Promise<Attempt> {
    const lease = this.client.lease(this.ttlSecs, { autoKeepAlive: false });
    const sentAt = performance.now();
    try {
      const leaseId = await lease.grant();
      const nonce = randomUUID();
      const stored: StoredValue = { ...this.candidate, nonce };
      const value = JSON.stringify(stored);
      const res = await this.client
        .if(this.key, 'Create', '==', 0)
        .then(this.client.put(this.key).value(value).lease(leaseId))
        .else(this.client.get(this.key))
        .commit();
      const revision = Number(res.header.revision);
      if (!res.succeeded) {
        this.revokeLater(lease);
        this.setKnown(res.responses[0]?.response_range.kvs[0]);
        return { won: false, revision };
      }
      if (this.closed || performance.now() - sentAt >= this.stepDownMs) {
        // Won, but too late to trust (closing, or etcd answered so slowly the lease may be ending).
        this.revokeLater(lease);
        return { won: false, revision };
      }
      this.beginTerm({ lease, epoch: revision, value, nonce, confirmedAt: sentAt });
      return { won: true };
    } catch (e) {
      this.revokeLater(lease);
      throw e;
    }
  }

  private beginTerm(t: { lease: Lease; epoch: number; value: string; nonce: string; confirmedAt: number }): void {
    let ended = (): void => undefined;
    const endedPromise = new Promise<void>((resolve) => (ended = resolve));
    const ttlMs = this.ttlSecs * 1000;
    const term: Term = { ...t, inFlight: 0, timers: [], ended: () => ended() };
    this.termEnded = endedPromise;
    this.term = term;
    // Four keepalives per TTL: two chances to be answered before the step-down point at 2/3.
    term.timers.push(setInterval(() => this.keepalive(term), ttlMs / 4));
    term.timers.push(setInterval(() => this.check(), Math.min(100, ttlMs / 10)));
    t.lease.on('lost', (err) => this.depose(term, `the lease was lost: ${err.message}`));
    this.logger.info('elected leader', { masterId: this.candidate.masterId, epoch: term.epoch, ttlSecs: this.ttlSecs });
    this.emit(this.electedListeners, term.epoch);
    this.setKnown({ masterId: this.candidate.masterId, url: this.candidate.url, epoch: term.epoch });
  }

  private async untilTermEnds(): Promise<void> {
    await this.termEnded;
  }

  private keepalive(term: Term): void {
    if (this.term !== term || term.inFlight >= MAX_KEEPALIVES_IN_FLIGHT) return;
    term.inFlight++;
    const sentAt = performance.now();
    void term.lease
      .keepaliveOnce({ deadline: Date.now() + this.stepDownMs })
      .then(
        () => {
          // Judge the old confirmation first: an answer read late (after a SIGSTOP) must not
          // extend a term that has already run out.
          if (this.check() && this.term === term) term.confirmedAt = Math.max(term.confirmedAt, sentAt);
        },
        (e: unknown) => {
          if (e instanceof EtcdLeaseInvalidError) this.depose(term, 'etcd says the lease has expired');
          else this.logger.debug('lease keepalive failed', { error: e });
        },
      )
      .finally(() => term.inFlight--);
  }

  /** check deposes the leader if its last answered keepalive is too old; tells whether it still leads. */
  private check(): boolean {
    const term = this.term;
    if (term === undefined) return false;
    const silentMs = performance.now() - term.confirmedAt;
    if (silentMs < this.stepDownMs) return true;
    this.depose(term, `no keepalive answered for ${Math.round(silentMs)} ms; the ${this.ttlSecs} s lease may be ending`);
    return false;
  }

  private depose(term: Term, reason: string): void {
    if (this.term !== term) return;
    this.endTerm(term, reason);
    this.revokeLater(term.lease);
  }

  /** revokeLater queues a lease we no longer use; the campaign revokes it before its next try. */
  private revokeLater(lease: Lease): void {
    this.pendingRevokes.add(lease);
    if (this.pendingRevokes.size > MAX_PENDING_REVOKES) {
      const oldest = this.pendingRevokes.values().next().value;
      if (oldest !== undefined) this.pendingRevokes.delete(oldest);
    }
  }

  /** endTerm stops claiming leadership at once, then tells the listeners. */
  private endTerm(term: Term, reason: string): void {
    this.term = undefined;
    for (const t of term.timers) clearInterval(t);
    term.lease.removeAllListeners('lost');
    if (this.known?.masterId === this.candidate.masterId && this.known.epoch === term.epoch) this.setKnown(undefined);
    if (reason === 'resigned') this.logger.info('resigned as leader', { epoch: term.epoch });
    else this.logger.warn('stepped down as leader', { epoch: term.epoch, reason });
    this.emit(this.deposedListeners, reason);
    term.ended();
  }

  private async revokePending(): Promise<void> {
    for (const lease of [...this.pendingRevokes]) {
      try {
        await lease.revoke({ deadline: Date.now() + this.callTimeoutMs() });
        this.pendingRevokes.delete(lease);
      } catch (e) {
        // It expires by itself; revoking only frees the key sooner.
        this.logger.debug('could not revoke an old lease', { error: e });
        return;
      }
    }
  }

  /**
   * openWatch follows the leader key from afterRevision on. It does not wait for etcd to confirm the
   * watch (that may never come if etcd goes away; the client reconnects and resumes by itself).
   */
  private openWatch(afterRevision: number): void {
    const watcher = this.client.watch().key(this.key).startRevision(String(afterRevision + 1)).watcher();
    watcher.on('put', (kv) => this.setKnown(kv));
    watcher.on('delete', () => {
      this.deletes++;
      this.setKnown(undefined);
      this.wake?.();
    });
    watcher.on('disconnected', (e) => {
      // A watcher left attached after close() would have the client reconnect forever (and keep
      // the process alive); detaching while disconnected is immediate.
      if (this.closed) void watcher.cancel().catch(() => undefined);
      else this.logger.debug('leader watch disconnected', { error: e });
    });
    watcher.on('error', (e) => this.logger.debug('leader watch failed', { error: e }));
    this.watcher = watcher;
  }

  /** setKnown records who leads, from a key-value in etcd, our own win, or nobody. */
  private setKnown(from: IKeyValue | LeaderInfo | undefined): void {
    let next: LeaderInfo | undefined;
    if (from !== undefined && 'masterId' in from) {
      next = from;
    } else if (from !== undefined) {
      const stored = parseStored(from.value.toString());
      if (stored === undefined) {
        this.logger.warn('the leader key holds something that is not a candidate', { key: this.key });
      } else if (stored.masterId === this.candidate.masterId && stored.nonce !== this.term?.nonce) {
        // Our own claim from an ended term (its lease not yet gone): we are not the leader.
        next = undefined;
      } else {
        next = { masterId: stored.masterId, url: stored.url, epoch: Number(from.create_revision) };
      }
    }
    const prev = this.known;
    if (prev?.masterId === next?.masterId && prev?.epoch === next?.epoch && prev?.url === next?.url) return;
    this.known = next;
    this.emit(this.leaderListeners, next === undefined ? undefined : { ...next });
  }

  private emit<T>(listeners: Set<(value: T) => void>, value: T): void {
    for (const fn of [...listeners]) {
      try {
        fn(value);
      } catch (e) {
        this.logger.error('a leader election listener threw', { error: e });
      }
    }
  }

  /** sleep waits ms, or less if the watch sees the key deleted or close() is called. */
  private async sleep(ms: number): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
    this.wake = undefined;
  }

  private callTimeoutMs(): number {
    return Math.max(1000, this.ttlSecs * 1000);
  }
}

function parseStored(text: string): StoredValue | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null) return undefined;
    const { masterId, url, nonce } = v as Record<string, unknown>;
    if (typeof masterId !== 'string' || typeof url !== 'string' || typeof nonce !== 'string') return undefined;
    return { masterId, url, nonce };
  } catch {
    return undefined;
  }
}
