// Store is where the master's log lives. One interface, one contract test suite, several
// implementations (SQLite now; etcd for HA masters later).

import type { Event, LoggedEvent } from '../state/index.js';

export interface Loaded {
  /** The latest snapshot: the serialized state after applying every event up to index. */
  snapshot?: { index: number; data: string };
  /** The events after the snapshot, in order, gapless. */
  events: LoggedEvent[];
}

export interface Store {
  /** Describes the store for logs and `cell status`, e.g. "sqlite:/var/lib/muster/master.db". */
  readonly description: string;
  load(): Promise<Loaded>;
  /**
   * append writes events at indexes firstIndex, firstIndex+1, ... in one durable transaction. It
   * resolves only once they would survive a crash, and rejects (writing nothing) if firstIndex is
   * not the next index of the log.
   */
  append(firstIndex: number, events: readonly Event[]): Promise<void>;
  /** saveSnapshot stores a snapshot at index and drops the events up to it. */
  saveSnapshot(index: number, data: string): Promise<void>;
  close(): Promise<void>;
}
