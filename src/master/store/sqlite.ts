// SqliteStore keeps the log in one SQLite file (better-sqlite3, WAL, synchronous=FULL so that a
// committed append survives power loss, not just a process crash). better-sqlite3 is synchronous:
// an append is durable when the call returns, and the master batches events per tick so that one
// fsync serves many of them (group commit).

import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { MusterError } from '../../core/index.js';
import type { Event, LoggedEvent } from '../state/index.js';
import type { Loaded, Store } from './store.js';

export class SqliteStore implements Store {
  readonly description: string;
  private readonly db: Database.Database;
  private readonly insert: Database.Statement<[number, string]>;
  private readonly lastIndex: Database.Statement<[], { idx: number | null }>;
  private readonly appendTx: (firstIndex: number, events: readonly Event[]) => void;

  constructor(path: string) {
    const file = resolve(path);
    this.description = `sqlite:${file}`;
    try {
      mkdirSync(dirname(file), { recursive: true });
      this.db = new Database(file);
    } catch (e) {
      throw new MusterError('INVALID_ARGUMENT', `cannot open the store ${file}: ${(e as Error).message}`, { cause: e });
    }
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS events (idx INTEGER PRIMARY KEY, data TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS snapshots (idx INTEGER PRIMARY KEY, data TEXT NOT NULL);
    `);
    this.insert = this.db.prepare('INSERT INTO events (idx, data) VALUES (?, ?)');
    this.lastIndex = this.db.prepare(
      'SELECT MAX(idx) AS idx FROM (SELECT MAX(idx) AS idx FROM events UNION ALL SELECT MAX(idx) AS idx FROM snapshots)',
    );
    this.appendTx = this.db.transaction((firstIndex: number, events: readonly Event[]) => {
      const last = this.lastIndex.get()?.idx ?? 0;
      if (firstIndex !== last + 1) {
        throw new MusterError('CONFLICT', `log append at ${firstIndex} but the log ends at ${last}`);
      }
      let idx = firstIndex;
      for (const e of events) this.insert.run(idx++, JSON.stringify(e));
    });
  }

  load(): Promise<Loaded> {
    const snap = this.db.prepare('SELECT idx, data FROM snapshots ORDER BY idx DESC LIMIT 1').get() as
      | { idx: number; data: string }
      | undefined;
    const from = snap?.idx ?? 0;
    const rows = this.db.prepare('SELECT idx, data FROM events WHERE idx > ? ORDER BY idx').all(from) as {
      idx: number;
      data: string;
    }[];
    const events: LoggedEvent[] = [];
    let expect = from + 1;
    for (const r of rows) {
      if (r.idx !== expect) {
        return Promise.reject(new MusterError('INTERNAL', `the log has a gap: event ${expect} is missing before ${r.idx}`));
      }
      events.push({ index: r.idx, event: JSON.parse(r.data) as Event });
      expect++;
    }
    const loaded: Loaded = { events };
    if (snap !== undefined) loaded.snapshot = { index: snap.idx, data: snap.data };
    return Promise.resolve(loaded);
  }

  append(firstIndex: number, events: readonly Event[]): Promise<void> {
    try {
      this.appendTx(firstIndex, events);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  saveSnapshot(index: number, data: string): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('INSERT OR REPLACE INTO snapshots (idx, data) VALUES (?, ?)').run(index, data);
      this.db.prepare('DELETE FROM snapshots WHERE idx < ?').run(index);
      this.db.prepare('DELETE FROM events WHERE idx <= ?').run(index);
    })();
    return Promise.resolve();
  }

  restore(index: number, data: string): Promise<void> {
    if (!Number.isSafeInteger(index) || index < 0) {
      return Promise.reject(new MusterError('INVALID_ARGUMENT', `restore at ${index}: the index must be a non-negative integer`));
    }
    try {
      // One transaction: the emptiness check and the write cannot be split by a master starting on the file.
      this.db.transaction(() => {
        const { events, snapshots } = this.db
          .prepare('SELECT (SELECT COUNT(*) FROM events) AS events, (SELECT COUNT(*) FROM snapshots) AS snapshots')
          .get() as { events: number; snapshots: number };
        if (events > 0 || snapshots > 0) {
          const last = this.lastIndex.get()?.idx ?? 0;
          throw new MusterError(
            'CONFLICT',
            `the store ${this.description} is not empty (its log reaches index ${last}); restore only into a new, empty store`,
          );
        }
        this.db.prepare('INSERT INTO snapshots (idx, data) VALUES (?, ?)').run(index, data);
      })();
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }
}
