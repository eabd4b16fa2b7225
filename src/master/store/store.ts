// Store is where the master's log lives. One interface, one contract test suite, several
// implementations (SQLite now; etcd for HA masters later).

import type { MusterError } from '../../core/index.js';
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
  /**
   * restore seeds an empty store with a snapshot taken elsewhere (`muster cell snapshot restore`):
   * load() then returns it and appends continue at index+1. A store that holds any event or
   * snapshot is refused with CONFLICT and left as it was, so that a restore never mixes two cells.
   * Optional only until every Store in the tree (test wrappers included) forwards it; SqliteStore
   * and EtcdStore have it.
   */
  restore(index: number, data: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * FollowableStore is a store that several masters share, whose standbys follow the leader's log
 * (EtcdStore). follow calls onEvents with the events after afterIndex, in order and gapless, as
 * they are appended; onError gets the fault that stopped it: CONFLICT when a snapshot truncated the
 * events it needed (load again and follow from there). close stops it; nothing is delivered after.
 */
export interface FollowableStore extends Store {
  follow(
    afterIndex: number,
    onEvents: (events: LoggedEvent[]) => void,
    onError?: (err: MusterError) => void,
  ): { close(): void };
}
