// EventLog is the master's write path: commands become events, events are applied to the in-memory
// state, written to the store in batches (group commit), and only then does anyone learn of them.
//
// A command's decide() runs against the current state, so validation sees every earlier command,
// and its events are applied at once, so the next command sees them too. Its promise resolves
// when the batch holding its events is durable; callers answer clients and talk to agents only
// after that. The in-memory state may thus be a few milliseconds ahead of the disk, but nothing
// leaves the process before the disk has it. If a write fails the state can no longer be trusted:
// the log turns fatal, refuses every command, and the master exits to reload from the store.

import { MusterError } from '../core/index.js';
import type { Logger } from '../log/index.js';
import { apply, deserializeState, emptyState, serializeState, type CellState, type Event, type LoggedEvent } from './state/index.js';
import type { Store } from './store/index.js';

export interface Decision<T> {
  events: Event[];
  result: T;
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

export type AppendListener = (events: readonly LoggedEvent[]) => void;

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
  private readonly listeners = new Set<AppendListener>();
  private readonly fatalListeners = new Set<(e: Error) => void>();
  /** Count of events and batches written since start, for /metrics and the benchmark. */
  readonly stats = { events: 0, batches: 0 };

  private constructor(
    readonly state: CellState,
    index: number,
    snapshotIndex: number,
    private readonly store: Store,
    private readonly options: { snapshotEvery: number; logger: Logger; now: () => number },
  ) {
    this.index = index;
    this.durableIndex = index;
    this.snapshotIndex = snapshotIndex;
  }

  /** open loads the latest snapshot and replays the events after it. */
  static async open(
    store: Store,
    options: { snapshotEvery: number; logger: Logger; now?: () => number },
  ): Promise<EventLog> {
    const loaded = await store.load();
    const state = loaded.snapshot === undefined ? emptyState() : deserializeState(loaded.snapshot.data);
    let index = loaded.snapshot?.index ?? 0;
    for (const { index: i, event } of loaded.events) {
      apply(state, event);
      index = i;
    }
    options.logger.info('log loaded', {
      store: store.description,
      snapshot: loaded.snapshot?.index ?? 0,
      replayed: loaded.events.length,
      index,
    });
    return new EventLog(state, index, loaded.snapshot?.index ?? 0, store, { now: Date.now, ...options });
  }

  get lastIndex(): number {
    return this.durableIndex;
  }

  now(): number {
    return this.options.now();
  }

  /**
   * submit runs decide() against the current state; its events are applied and appended, and the
   * promise resolves with decide's result once they are durable. A MusterError thrown by decide
   * rejects the command and changes nothing.
   */
  submit<T>(decide: (state: CellState, now: number) => Decision<T>): Promise<T> {
    if (this.fatal !== undefined) {
      return Promise.reject(new MusterError('UNAVAILABLE', 'the master cannot write its log; it is restarting', { retryable: true }));
    }
    let decision: Decision<T>;
    try {
      decision = decide(this.state, this.options.now());
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    if (decision.events.length === 0) return Promise.resolve(decision.result);
    for (const event of decision.events) {
      apply(this.state, event);
      this.batch.push({ index: ++this.index, event });
    }
    return new Promise<T>((resolve, reject) => {
      this.waiters.push({ resolve: () => resolve(decision.result), reject });
      this.schedule();
    });
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
    try {
      await this.store.append(
        first,
        batch.map((e) => e.event),
      );
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      this.fatal = err;
      this.options.logger.error('cannot append to the log; the master must restart', { error: err.message });
      for (const w of [...waiters, ...this.waiters]) {
        w.reject(new MusterError('UNAVAILABLE', 'the master cannot write its log; it is restarting', { retryable: true }));
      }
      this.waiters = [];
      this.batch = [];
      this.flushing = false;
      for (const l of this.fatalListeners) l(err);
      return;
    }
    this.durableIndex = (batch[batch.length - 1] as LoggedEvent).index;
    this.stats.events += batch.length;
    this.stats.batches++;
    for (const w of waiters) w.resolve();
    for (const l of this.listeners) {
      try {
        l(batch);
      } catch (e) {
        this.options.logger.error('append listener failed', { error: e instanceof Error ? e.message : String(e) });
      }
    }
    // A snapshot must be the state at exactly its index: take it only when nothing is in flight.
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
}
