// EventLog is the master's write path: commands become events, events are applied to the in-memory
// state, written to the store in batches (group commit), and only then does anyone learn of them.
//
// A command's decide() runs against the current state, so validation sees every earlier command,
// and its events are applied at once, so the next command sees them too. Its promise resolves
// when the batch holding its events is durable; callers answer clients and talk to agents only
// after that. The in-memory state may thus be a few milliseconds ahead of the disk, but nothing
// leaves the process before the disk has it. If a write fails the state can no longer be trusted:
// the log turns fatal, refuses every command, and the master exits to reload from the store.
//
// With HA masters (issue #5) several masters share one store. A standby opens its log with
// openStandby(): it follows what the leader appends, applying each batch and telling the same
// listeners, so its views, event stream and caches are hot when it takes over, and it refuses
// every command with NOT_LEADER. promote() makes it the leader. There is no demote(): a leader that
// loses its lease (or whose fenced append is refused) cannot trust its state, which may be ahead of
// the store, so the master exits, as a deposed Mesos master does, and comes back as a standby.

import { performance } from 'node:perf_hooks';
import { MusterError } from '../core/index.js';
import type { Logger } from '../log/index.js';
import { apply, deserializeState, emptyState, serializeState, type CellState, type Event, type LoggedEvent } from './state/index.js';
import type { FollowableStore, Loaded, Store } from './store/index.js';

export interface Decision<T> {
  events: Event[];
  result: T;
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

export type AppendListener = (events: readonly LoggedEvent[]) => void;

export interface EventLogOptions {
  snapshotEvery: number;
  logger: Logger;
  now?: () => number;
  /** onAppend is told how long each durable append of a batch took, in seconds (for /metrics). */
  onAppend?: (seconds: number) => void;
}

export interface StandbyOptions extends EventLogOptions {
  /** leaderHint names the leader for NOT_LEADER messages ("http://m1:5050"); undefined when unknown. */
  leaderHint?: () => string | undefined;
}

/** RELOAD_ATTEMPTS bounds a standby's tries to load the store again while etcd is unreachable. */
const RELOAD_ATTEMPTS = 60;
/** RELOAD_RETRY_MS spaces those tries: together about a minute before the master gives up and exits. */
const RELOAD_RETRY_MS = 1000;

/** Standby is what a log opened by openStandby() holds until promote(). */
interface Standby {
  readonly store: FollowableStore;
  readonly leaderHint: (() => string | undefined) | undefined;
  follower: { close(): void } | undefined;
  /** A reload after falling behind a snapshot, in progress; it never rejects. */
  reloading: Promise<void> | undefined;
  /** Set by promote(): stop following and reloading, promote() reads the rest itself. */
  stopping: boolean;
}

interface LoadedState {
  state: CellState;
  index: number;
  snapshotIndex: number;
}

/** loadState reads the latest snapshot and replays the events after it. */
async function loadState(store: Store): Promise<LoadedState & { replayed: number }> {
  return stateOf(await store.load());
}

function stateOf(loaded: Loaded): LoadedState & { replayed: number } {
  const state = loaded.snapshot === undefined ? emptyState() : deserializeState(loaded.snapshot.data);
  let index = loaded.snapshot?.index ?? 0;
  for (const { index: i, event } of loaded.events) {
    apply(state, event);
    index = i;
  }
  return { state, index, snapshotIndex: loaded.snapshot?.index ?? 0, replayed: loaded.events.length };
}

/**
 * replaceState makes target hold what source holds, in place: every Map and Set of target is
 * cleared and refilled, anything else replaced. Other parts of the master keep references to the
 * one CellState (and its Maps), so a standby that reloads must not swap the object. It walks the
 * object's own fields rather than naming them, so a field added to CellState needs no change here.
 */
export function replaceState(target: CellState, source: CellState): void {
  const to = target as unknown as Record<string, unknown>;
  const from = source as unknown as Record<string, unknown>;
  for (const key of Object.keys(to)) if (!(key in from)) Reflect.deleteProperty(to, key);
  for (const [key, value] of Object.entries(from)) {
    const current = to[key];
    if (value instanceof Map && current instanceof Map) {
      const into = current as Map<unknown, unknown>;
      into.clear();
      for (const [k, v] of value as Map<unknown, unknown>) into.set(k, v);
    } else if (value instanceof Set && current instanceof Set) {
      const into = current as Set<unknown>;
      into.clear();
      for (const v of value as Set<unknown>) into.add(v);
    } else {
      to[key] = value;
    }
  }
}

export class EventLog {
  /** Index of the last event applied (durable or in the batch being written). */
  private index: number;
  private durableIndex: number;
  private snapshotIndex: number;
  private batch: LoggedEvent[] = [];
  private waiters: Waiter[] = [];
  private flushing = false;
  private scheduled = false;
  private fatal: Error | undefined;
  /** Defined while this master is a standby (openStandby, until promote). */
  private standby: Standby | undefined;
  private promoting: Promise<void> | undefined;
  private readonly listeners = new Set<AppendListener>();
  private readonly reloadListeners = new Set<() => void>();
  private readonly fatalListeners = new Set<(e: Error) => void>();
  /** Count of events and batches written since start, for /metrics and the benchmark. */
  readonly stats = { events: 0, batches: 0 };

  private constructor(
    readonly state: CellState,
    index: number,
    snapshotIndex: number,
    private readonly store: Store,
    private readonly options: { snapshotEvery: number; logger: Logger; now: () => number; onAppend?: (seconds: number) => void },
  ) {
    this.index = index;
    this.durableIndex = index;
    this.snapshotIndex = snapshotIndex;
  }

  /** open loads the latest snapshot and replays the events after it. */
  static async open(store: Store, options: EventLogOptions): Promise<EventLog> {
    const { state, index, snapshotIndex, replayed } = await loadState(store);
    options.logger.info('log loaded', { store: store.description, snapshot: snapshotIndex, replayed, index });
    return new EventLog(state, index, snapshotIndex, store, { now: Date.now, ...options });
  }

  /**
   * openStandby loads the log like open(), then follows the store: every batch the leader appends
   * is applied here and handed to the onAppended listeners. submit() refuses with NOT_LEADER until
   * promote(). A standby never writes, snapshots included.
   */
  static async openStandby(store: FollowableStore, options: StandbyOptions): Promise<EventLog> {
    const { state, index, snapshotIndex, replayed } = await loadState(store);
    options.logger.info('log loaded as a standby', { store: store.description, snapshot: snapshotIndex, replayed, index });
    const { leaderHint, ...rest } = options;
    const log = new EventLog(state, index, snapshotIndex, store, { now: Date.now, ...rest });
    const standby: Standby = { store, leaderHint, follower: undefined, reloading: undefined, stopping: false };
    log.standby = standby;
    log.follow(standby);
    return log;
  }

  get lastIndex(): number {
    return this.durableIndex;
  }

  /**
   * appliedIndex is the index of the last event in `state`, durable or in the batch being written:
   * read together with the state in one synchronous step, the two always match.
   */
  get appliedIndex(): number {
    return this.index;
  }

  /** isLeader is false on a standby until promote() completes; a log opened with open() leads. */
  get isLeader(): boolean {
    return this.standby === undefined;
  }

  /**
   * promote makes a standby the leader: it stops following, applies what was committed after
   * lastIndex, and from then on submit() appends at lastIndex+1. The caller must have set the
   * store's fence to its own leadership first, so that a promotion that is already stale cannot
   * write. On a leader, or a second time, it does nothing. If the store cannot be read it rejects
   * and the log stays a standby, following again.
   */
  promote(): Promise<void> {
    const standby = this.standby;
    if (standby === undefined) return Promise.resolve();
    this.promoting ??= this.takeOver(standby);
    return this.promoting;
  }

  /** onReloaded: called after a standby replaced its state from a fresh load (it fell behind a snapshot). */
  onReloaded(listener: () => void): () => void {
    this.reloadListeners.add(listener);
    return () => this.reloadListeners.delete(listener);
  }

  now(): number {
    return this.options.now();
  }

  /**
   * submit runs decide() against the current state; its events are applied and appended, and the
   * promise resolves with decide's result once they are durable. A MusterError thrown by decide
   * rejects the command and changes nothing. `by` is the principal of the call the command came
   * from: each of its events records it (the audit); the master's own commands pass none.
   */
  submit<T>(decide: (state: CellState, now: number) => Decision<T>, by?: string): Promise<T> {
    if (this.fatal !== undefined) return Promise.reject(this.refusal());
    if (this.standby !== undefined) {
      const leader = this.standby.leaderHint?.();
      const where = leader === undefined || leader === '' ? 'not known yet' : leader;
      return Promise.reject(new MusterError('NOT_LEADER', `this master is a standby; the leader is ${where}`, { retryable: true }));
    }
    let decision: Decision<T>;
    try {
      decision = decide(this.state, this.options.now());
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    if (decision.events.length === 0) return Promise.resolve(decision.result);
    for (const event of decision.events) {
      if (by !== undefined && event.by === undefined) event.by = by;
      apply(this.state, event);
      this.batch.push({ index: ++this.index, event });
    }
    return new Promise<T>((resolve, reject) => {
      this.waiters.push({ resolve: () => resolve(decision.result), reject });
      this.schedule();
    });
  }

  /**
   * readSince reads from the store the durable events after index, for an event stream that resumes
   * (GET /api/v1/events with Last-Event-ID). snapshotIndex is where the stored log now begins:
   * the events up to it were folded into a snapshot and are gone. headIndex is the last index
   * stored. Events appended while it reads may or may not be included: a caller that must miss
   * none subscribes with onAppended first and drops what it already has by index.
   */
  async readSince(index: number): Promise<{ snapshotIndex: number; headIndex: number; events: LoggedEvent[] }> {
    const loaded = await this.store.load();
    const snapshotIndex = loaded.snapshot?.index ?? 0;
    const last = loaded.events[loaded.events.length - 1];
    return { snapshotIndex, headIndex: last?.index ?? snapshotIndex, events: loaded.events.filter((e) => e.index > index) };
  }

  /** onAppended: called with each batch once it is durable, in log order. */
  onAppended(listener: AppendListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onFatal(listener: (e: Error) => void): void {
    this.fatalListeners.add(listener);
  }

  /** flushed resolves once everything submitted so far is durable (used at shutdown). */
  async flushed(): Promise<void> {
    while ((this.batch.length > 0 || this.flushing) && this.fatal === undefined) {
      await new Promise((r) => setImmediate(r));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    // setImmediate, not a microtask: every request handled in this turn of the event loop joins
    // the batch, so a burst of status updates costs one fsync.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.batch.length === 0) return;
    this.flushing = true;
    const batch = this.batch;
    const waiters = this.waiters;
    this.batch = [];
    this.waiters = [];
    const first = (batch[0] as LoggedEvent).index;
    const start = performance.now();
    try {
      await this.store.append(
        first,
        batch.map((e) => e.event),
      );
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      this.fatal = err;
      this.options.logger.error(
        deposed(err) ? 'another master leads now; this one must exit' : 'cannot append to the log; the master must restart',
        { error: err.message },
      );
      for (const w of [...waiters, ...this.waiters]) w.reject(this.refusal());
      this.waiters = [];
      this.batch = [];
      this.flushing = false;
      for (const l of this.fatalListeners) l(err);
      return;
    }
    this.options.onAppend?.((performance.now() - start) / 1000);
    this.durableIndex = (batch[batch.length - 1] as LoggedEvent).index;
    this.stats.events += batch.length;
    this.stats.batches++;
    for (const w of waiters) w.resolve();
    this.notify(batch);
    // Only a leader gets here (a standby's submit() refuses), so a standby never snapshots.
    // A snapshot must be the state at exactly its index: take it only when nothing is in flight.
    // Serializing a big state blocks the event loop for a second or more, so it first lets what
    // this append woke run (the scheduler pass that places ten thousand cron runs just started):
    // if that submits, the snapshot waits for a quieter append, up to twice the interval.
    const due = this.durableIndex - this.snapshotIndex;
    if (this.batch.length === 0 && due >= this.options.snapshotEvery && due < 2 * this.options.snapshotEvery) {
      await new Promise((r) => setImmediate(r));
    }
    if (this.batch.length === 0 && this.durableIndex - this.snapshotIndex >= this.options.snapshotEvery) {
      try {
        await this.store.saveSnapshot(this.durableIndex, serializeState(this.state));
        this.snapshotIndex = this.durableIndex;
        this.options.logger.info('snapshot taken', { index: this.durableIndex });
      } catch (e) {
        this.options.logger.warn('snapshot failed; the log keeps growing until the next one', {
          error: e instanceof Error ? e.message : String(e),
        });
      }
    }
    this.flushing = false;
    if (this.batch.length > 0) this.schedule();
  }

  /** refusal is the error a fatal log answers with: NOT_LEADER once deposed, else UNAVAILABLE. */
  private refusal(): MusterError {
    if (this.fatal !== undefined && deposed(this.fatal)) {
      return new MusterError('NOT_LEADER', 'this master is no longer the leader; it is restarting as a standby', { retryable: true });
    }
    return new MusterError('UNAVAILABLE', 'the master cannot write its log; it is restarting', { retryable: true });
  }

  private notify(batch: readonly LoggedEvent[]): void {
    for (const l of this.listeners) {
      try {
        l(batch);
      } catch (e) {
        this.options.logger.error('append listener failed', { error: e instanceof Error ? e.message : String(e) });
      }
    }
  }

  /** turnFatal stops a standby that can no longer keep its state true to the log; the master exits. */
  private turnFatal(err: Error, why: string): void {
    if (this.fatal !== undefined) return;
    this.fatal = err;
    if (this.standby !== undefined) {
      this.standby.follower?.close();
      this.standby.follower = undefined;
    }
    this.options.logger.error(why, { error: err.message });
    for (const l of this.fatalListeners) l(err);
  }

  private follow(standby: Standby): void {
    standby.follower = standby.store.follow(
      this.index,
      (events) => this.applyFollowed(standby, events),
      (err) => this.followFailed(standby, err),
    );
  }

  private applyFollowed(standby: Standby, events: readonly LoggedEvent[]): void {
    if (this.standby !== standby || standby.stopping || this.fatal !== undefined) return;
    // follow() starts after this.index and is gapless; the checks only guard the state against a
    // store that breaks that promise.
    const fresh = events.filter((e) => e.index > this.index);
    if (fresh.length === 0) return;
    try {
      this.applyInOrder(fresh);
    } catch (e) {
      this.turnFatal(e instanceof Error ? e : new Error(String(e)), 'a standby cannot apply the log; the master must restart');
      return;
    }
    this.durableIndex = this.index;
    this.notify(fresh);
  }

  /** applyInOrder applies events that must start at index+1 and be gapless. */
  private applyInOrder(events: readonly LoggedEvent[]): void {
    for (const { index, event } of events) {
      if (index !== this.index + 1) {
        throw new MusterError('INTERNAL', `the log has a gap: event ${index} follows ${this.index}`);
      }
      apply(this.state, event);
      this.index = index;
    }
  }

  private followFailed(standby: Standby, err: MusterError): void {
    if (this.standby !== standby || standby.stopping || this.fatal !== undefined) return;
    standby.follower?.close();
    standby.follower = undefined;
    if (err.code !== 'CONFLICT') {
      this.turnFatal(err, 'a standby cannot follow the log; the master must restart');
      return;
    }
    this.options.logger.warn('the standby fell behind a snapshot; loading the store again', { index: this.index, error: err.message });
    standby.reloading = this.reload(standby);
  }

  /** reload loads the store again, replaces the state in place and follows from the new index. */
  private async reload(standby: Standby): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let loaded: LoadedState;
      try {
        loaded = await loadState(standby.store);
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        if (standby.stopping) return;
        if (err instanceof MusterError && err.code === 'UNAVAILABLE' && attempt < RELOAD_ATTEMPTS) {
          await new Promise((r) => setTimeout(r, RELOAD_RETRY_MS));
          continue;
        }
        this.turnFatal(err, 'a standby cannot load the log again; the master must restart');
        return;
      }
      // promote() reads the store itself once it stops us.
      if (standby.stopping || this.fatal !== undefined) return;
      this.replaceWith(loaded);
      this.follow(standby);
      return;
    }
  }

  private replaceWith(loaded: LoadedState): void {
    replaceState(this.state, loaded.state);
    this.index = loaded.index;
    this.durableIndex = loaded.index;
    this.snapshotIndex = loaded.snapshotIndex;
    this.options.logger.info('log reloaded', { index: loaded.index, snapshot: loaded.snapshotIndex });
    for (const l of this.reloadListeners) {
      try {
        l();
      } catch (e) {
        this.options.logger.error('reload listener failed', { error: e instanceof Error ? e.message : String(e) });
      }
    }
  }

  private async takeOver(standby: Standby): Promise<void> {
    standby.stopping = true;
    standby.follower?.close();
    standby.follower = undefined;
    await standby.reloading;
    if (this.fatal !== undefined) throw this.refusal();
    // The fence was set before promote(), so the old leader can no longer append: what load()
    // returns now is the whole log, and our first append is guarded by head being lastIndex.
    let catchUp: LoggedEvent[] = [];
    try {
      const loaded = await standby.store.load();
      const snapshotIndex = loaded.snapshot?.index ?? 0;
      if (snapshotIndex > this.index) {
        this.replaceWith(stateOf(loaded));
      } else {
        catchUp = loaded.events.filter((e) => e.index > this.index);
        this.snapshotIndex = Math.max(this.snapshotIndex, snapshotIndex);
      }
    } catch (e) {
      // Still a standby: follow again so the state stays hot, and let the caller decide.
      standby.stopping = false;
      this.promoting = undefined;
      if (this.fatal === undefined) this.follow(standby);
      throw e;
    }
    try {
      this.applyInOrder(catchUp);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      this.turnFatal(err, 'a standby cannot apply the log; the master must restart');
      throw err;
    }
    this.durableIndex = this.index;
    this.standby = undefined;
    if (catchUp.length > 0) this.notify(catchUp);
    this.options.logger.info('promoted to leader', { index: this.index });
  }
}

/** deposed: a write was refused because another master holds the leadership (the store's fence). */
function deposed(err: Error): boolean {
  return err instanceof MusterError && err.code === 'NOT_LEADER';
}
