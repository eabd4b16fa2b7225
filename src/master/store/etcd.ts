// EtcdStore keeps the master's log in etcd, so that several masters share it and a standby can
// take over (issue #5). Every key lives under one prefix P:
//
//   P/head                       the last committed log index, in decimal ("0" when absent)
//   P/log/<index, 20 digits>     one event's JSON, or "parts:{"parts":n,"bytes":b}" for a big one
//   P/logparts/<index>/<n>       the pieces of a big event (n zero-padded to 6 digits)
//   P/snapshot                   the latest snapshot's manifest {index, parts, bytes, id}
//   P/snapshots/<id>/<n>         the pieces of that snapshot
//   P/append                     a nonce of the last append, to recognise a retried commit
//
// etcd refuses requests over 1.5 MiB and transactions of more than 128 operations, so a write is
// cut into transactions of at most TXN_BYTES of keys and values and TXN_OPS operations. An append
// writes its log keys in as many transactions as needed, each guarded by `head` still being
// firstIndex-1 (and by the fence), then moves `head` in one last small guarded transaction (folded
// into the first when everything fits in one). Only keys at or below `head` are ever read, so an
// append cut short leaves nothing visible, and the next append overwrites what it left behind.
//
// Big events go to logparts/, not under log/<index>/: reads page through log/ by key count, and a
// page must not sweep megabytes of pieces along. Events above INLINE_BYTES are split, so a page of
// LOG_PAGE log keys stays within the client's receive limit.
//
// Fencing: with setFence(), every write transaction also requires that an absolute key (the
// leader key of the election) still holds this master's value; a deposed or cut-off leader's
// writes are refused with NOT_LEADER and change nothing.
//
// Reads are taken at one etcd revision (the one `head` was read at), so a snapshot that truncates
// the log meanwhile cannot tear a load or a follow; etcd keeps old revisions until compaction.

import { randomUUID } from 'node:crypto';
import { Etcd3, GRPCUnavailableError, type IKeyValue, type IRequestOp } from 'etcd3';
import type { ComparatorBuilder, IOperation } from 'etcd3';
import { MusterError } from '../../core/index.js';
import type { Event, LoggedEvent } from '../state/index.js';
import type { Loaded, Store } from './store.js';

/** TXN_BYTES bounds the keys and values of one transaction, well under etcd's 1.5 MiB request limit. */
const TXN_BYTES = 1024 * 1024;
/** TXN_OPS stays under etcd's default --max-txn-ops of 128, leaving room for the head puts. */
const TXN_OPS = 120;
/** PART_BYTES is the size of one piece of a big event or snapshot: a piece and its key fit a transaction. */
const PART_BYTES = TXN_BYTES - 4096;
/** INLINE_BYTES is the largest event kept whole in its log key. */
const INLINE_BYTES = 64 * 1024;
/** LOG_PAGE log keys are read per request: at most LOG_PAGE × INLINE_BYTES = 32 MiB. */
const LOG_PAGE = 512;
/** MAX_RECEIVE_BYTES is the client's gRPC receive limit, above the largest page. */
const MAX_RECEIVE_BYTES = 64 * 1024 * 1024;
/** MAX_EVENT_BYTES bounds one event; nothing the master logs comes near it. */
const MAX_EVENT_BYTES = 64 * 1024 * 1024;
/** MAX_SNAPSHOT_BYTES bounds a snapshot, far under etcd's default 2 GiB backend quota. */
const MAX_SNAPSHOT_BYTES = 512 * 1024 * 1024;
/** CALL_TIMEOUT_MS bounds one etcd request; the client retries a timed-out one up to three times. */
const CALL_TIMEOUT_MS = 2000;
/** FOLLOW_RETRY_MS spaces a follower's retries after a failed read (etcd unreachable). */
const FOLLOW_RETRY_MS = 500;

const PARTS_MARK = 'parts:';

/** Fence names the key (absolute, not under the prefix) and value that every write requires. */
export interface Fence {
  key: string;
  value: string;
}

export interface EtcdStoreOptions {
  /** Client URLs of the etcd members, e.g. ["http://127.0.0.1:2379"]; the client fails over among them. */
  endpoints: readonly string[];
  /** The key prefix, e.g. "muster" (no leading or trailing slash). */
  prefix: string;
  /** For logs and `cell status`; defaults to an etcd:// URL built from the endpoints and prefix. */
  description?: string;
}

/** snapshotBytes checks a snapshot's index and size (for saveSnapshot and restore) and encodes it. */
function snapshotBytes(what: string, index: number, data: string): Buffer {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new MusterError('INVALID_ARGUMENT', `${what} at ${index}: the index must be a non-negative integer`);
  }
  const bytes = Buffer.from(data, 'utf8');
  if (bytes.length > MAX_SNAPSHOT_BYTES) {
    throw new MusterError('PAYLOAD_TOO_LARGE', `a snapshot of ${bytes.length} bytes exceeds the limit of ${MAX_SNAPSHOT_BYTES}`);
  }
  return bytes;
}

/** Follower is a running follow(); close stops it. */
export interface Follower {
  close(): void;
}

interface SnapshotManifest {
  index: number;
  parts: number;
  bytes: number;
  id: string;
}

interface Put {
  key: string;
  value: Buffer;
}

type Compare = [key: string, column: 'Value' | 'Version' | 'Mod', cmp: '==', value: string | number];

const pad20 = (n: number): string => String(n).padStart(20, '0');
const pad6 = (n: number): string => String(n).padStart(6, '0');

export class EtcdStore implements Store {
  readonly description: string;
  private readonly client: Etcd3;
  private readonly prefix: string;
  private fence: Fence | undefined;
  private readonly followers = new Set<Follower>();
  private closed = false;

  constructor(options: EtcdStoreOptions) {
    if (options.endpoints.length === 0) throw new MusterError('INVALID_ARGUMENT', 'an etcd store needs at least one endpoint');
    if (options.prefix === '') throw new MusterError('INVALID_ARGUMENT', 'an etcd store needs a non-empty key prefix');
    this.prefix = options.prefix;
    this.description =
      options.description ??
      `etcd://${options.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',')}/${options.prefix}`;
    this.client = new Etcd3({
      hosts: [...options.endpoints],
      grpcOptions: { 'grpc.max_receive_message_length': MAX_RECEIVE_BYTES },
      dialTimeout: 5000,
      // etcd holds a write that reaches a member without a leader for its whole request timeout
      // (5 s + 2 elections) when the leader dies; a shorter deadline lets the client's retry try
      // another member after the new election instead. Watches are streams and have none.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }),
    });
  }

  /**
   * setFence makes every later write require that fence.key holds fence.value (the leader key and
   * this master's value); undefined writes unfenced (a single master, tests).
   */
  setFence(fence: Fence | undefined): void {
    this.fence = fence === undefined ? undefined : { ...fence };
  }

  async load(): Promise<Loaded> {
    const { rev, head } = await this.readHead();
    const manifest = await this.readManifest(rev);
    const from = manifest?.index ?? 0;
    const events = head > from ? await this.readEvents(from, head, rev) : [];
    const loaded: Loaded = { events };
    if (manifest !== undefined) loaded.snapshot = { index: manifest.index, data: await this.readSnapshotData(manifest, rev) };
    return loaded;
  }

  async append(firstIndex: number, events: readonly Event[]): Promise<void> {
    if (!Number.isSafeInteger(firstIndex) || firstIndex < 1) {
      throw new MusterError('INVALID_ARGUMENT', `log append at ${firstIndex}: the index must be a positive integer`);
    }
    const puts: Put[] = [];
    events.forEach((event, i) => puts.push(...this.eventPuts(firstIndex + i, event)));
    const lastIndex = firstIndex + events.length - 1;
    const nonce = randomUUID();
    const headPuts: Put[] = [
      { key: this.key('head'), value: Buffer.from(String(lastIndex)) },
      { key: this.key('append'), value: Buffer.from(nonce) },
    ];
    const guard: Compare =
      firstIndex === 1 ? [this.key('head'), 'Version', '==', 0] : [this.key('head'), 'Value', '==', String(firstIndex - 1)];
    const batches = packTxns(puts);
    const last = batches[batches.length - 1];
    if (last === undefined) {
      // Nothing to write, but a wrong index still rejects, as the contract wants.
      if (!(await this.write(`log append at ${firstIndex}`, [guard], [], []))) {
        await this.explainRefusal(`log append at ${firstIndex}`, firstIndex - 1);
      }
      return;
    }
    // Most appends are a tick's few events: then one transaction writes them and moves head.
    if (batches.length === 1 && fits(last, headPuts)) last.push(...headPuts);
    else batches.push(headPuts);
    for (let b = 0; b < batches.length; b++) {
      const ok = await this.write(`log append at ${firstIndex}`, [guard], batches[b] ?? [], []);
      if (ok) continue;
      const final = b === batches.length - 1;
      await this.explainRefusal(`log append at ${firstIndex}`, firstIndex - 1, final ? { lastIndex, nonce } : undefined);
      // explainRefusal resolves only when the final transaction had in fact committed (a retry).
      return;
    }
  }

  async saveSnapshot(index: number, data: string): Promise<void> {
    const bytes = snapshotBytes('snapshot', index, data);
    const { rev, head } = await this.readHead();
    if (index > head) throw new MusterError('CONFLICT', `snapshot at ${index} but the log ends at ${head}`);
    const current = await this.readManifestKv(rev);
    const currentIndex = current === undefined ? -1 : parseManifest(current.value).index;
    // An older snapshot than the stored one changes nothing, as with SQLite (load keeps the newest).
    if (index < currentIndex) return;

    const id = randomUUID();
    const pieces = split(bytes, PART_BYTES);
    const partPuts = pieces.map((p, n) => ({ key: this.key(`snapshots/${id}/${pad6(n)}`), value: p }));
    for (const batch of packTxns(partPuts)) {
      if (!(await this.write(`snapshot at ${index}`, [], batch, []))) await this.explainRefusal(`snapshot at ${index}`, undefined);
    }
    const manifest: SnapshotManifest = { index, parts: pieces.length, bytes: bytes.length, id };
    const guard: Compare =
      current === undefined ? [this.key('snapshot'), 'Version', '==', 0] : [this.key('snapshot'), 'Mod', '==', current.mod_revision];
    // One transaction publishes the snapshot, truncates the log up to it and drops every other
    // snapshot's pieces (the previous one's, and any left by a save cut short).
    const deletes: IOperation[] = [
      this.client.delete().inRange(rangeOf(this.key('log/'), this.key(`log/${pad20(index + 1)}`))),
      this.client.delete().inRange(rangeOf(this.key('logparts/'), this.key(`logparts/${pad20(index + 1)}`))),
      this.client.delete().inRange(rangeOf(this.key('snapshots/'), this.key(`snapshots/${id}/`))),
      this.client.delete().inRange(rangeOf(this.key(`snapshots/${id}0`), this.key('snapshots0'))),
    ];
    const put = [{ key: this.key('snapshot'), value: Buffer.from(JSON.stringify(manifest)) }];
    if (await this.write(`snapshot at ${index}`, [guard], put, deletes)) return;
    // A retried commit finds its own manifest published.
    const now = await this.readManifest(undefined);
    if (now?.id === id) return;
    await this.explainRefusal(`snapshot at ${index}`, undefined);
    throw new MusterError('CONFLICT', `snapshot at ${index}: another snapshot was saved meanwhile`);
  }

  /**
   * restore seeds an empty store with a snapshot (`muster cell snapshot restore`): its pieces are
   * written as saveSnapshot writes them, then one transaction, guarded by there being neither a
   * head nor a snapshot, publishes the manifest and moves head to index, so that appends continue
   * at index+1. A store with a log or a snapshot is refused with CONFLICT; pieces left by a restore
   * cut short are invisible and dropped by the next one.
   */
  async restore(index: number, data: string): Promise<void> {
    const bytes = snapshotBytes('restore', index, data);
    // Checked first as well as in the final guard, so that a store in use is refused before
    // megabytes of pieces are written beside its log.
    await this.refuseUnlessEmpty();
    const id = randomUUID();
    const pieces = split(bytes, PART_BYTES);
    const partPuts = pieces.map((p, n) => ({ key: this.key(`snapshots/${id}/${pad6(n)}`), value: p }));
    for (const batch of packTxns(partPuts)) {
      if (!(await this.write(`restore at ${index}`, [], batch, []))) await this.explainRefusal(`restore at ${index}`, undefined);
    }
    const manifest: SnapshotManifest = { index, parts: pieces.length, bytes: bytes.length, id };
    const puts: Put[] = [{ key: this.key('snapshot'), value: Buffer.from(JSON.stringify(manifest)) }];
    // append(1) expects no head at all; any later index expects head to hold the one before it.
    if (index > 0) puts.push({ key: this.key('head'), value: Buffer.from(String(index)) });
    const guards: Compare[] = [
      [this.key('head'), 'Version', '==', 0],
      [this.key('snapshot'), 'Version', '==', 0],
    ];
    const deletes: IOperation[] = [
      this.client.delete().inRange(rangeOf(this.key('log/'), this.key(`log/${pad20(index + 1)}`))),
      this.client.delete().inRange(rangeOf(this.key('logparts/'), this.key(`logparts/${pad20(index + 1)}`))),
      this.client.delete().inRange(rangeOf(this.key('snapshots/'), this.key(`snapshots/${id}/`))),
      this.client.delete().inRange(rangeOf(this.key(`snapshots/${id}0`), this.key('snapshots0'))),
    ];
    if (await this.write(`restore at ${index}`, guards, puts, deletes)) return;
    // A retried commit finds its own manifest published.
    if ((await this.readManifest(undefined))?.id === id) return;
    await this.refuseUnlessEmpty();
    // Still empty: the fence refused it (a restore is offline and unfenced, so hardly ever).
    await this.explainRefusal(`restore at ${index}`, undefined);
  }

  /** refuseUnlessEmpty throws CONFLICT when the store holds a log or a snapshot. */
  private async refuseUnlessEmpty(): Promise<void> {
    const { rev, head } = await this.readHead();
    const manifest = await this.readManifest(rev);
    if (head === 0 && manifest === undefined) return;
    const what = manifest === undefined ? `its log reaches index ${head}` : `it holds a snapshot at index ${manifest.index}`;
    throw new MusterError('CONFLICT', `the store ${this.description} is not empty (${what}); restore only into a new, empty store`);
  }

  /**
   * follow calls onEvents with the events after afterIndex, in order and gapless, as they are
   * appended (a standby master keeps its state hot with it). It reads once at the start, then on
   * every change of head. onError gets a fault that stops the follower: CONFLICT when the events it
   * needed were truncated by a snapshot (the standby must load() again), INTERNAL for a corrupt
   * log. An unreachable etcd (UNAVAILABLE) is retried, not reported.
   */
  follow(afterIndex: number, onEvents: (events: LoggedEvent[]) => void, onError?: (err: MusterError) => void): Follower {
    let delivered = afterIndex;
    let stopped = false;
    let running = false;
    let again = false;
    let retry: NodeJS.Timeout | undefined;
    const watcherP = this.client.watch().key(this.key('head')).create();

    const pump = async (): Promise<void> => {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          const { rev, head } = await this.readHead();
          if (stopped || head <= delivered) continue;
          const manifest = await this.readManifest(rev);
          if (manifest !== undefined && manifest.index > delivered) {
            throw new MusterError(
              'CONFLICT',
              `the follower at ${delivered} fell behind the snapshot at ${manifest.index}: load the store again`,
            );
          }
          const events = await this.readEvents(delivered, head, rev);
          if (stopped) return;
          delivered = head;
          onEvents(events);
        } while (again && !stopped);
      } catch (e) {
        if (!(e instanceof MusterError) || e.code !== 'UNAVAILABLE') {
          follower.close();
          onError?.(e instanceof MusterError ? e : new MusterError('INTERNAL', `following the log: ${String(e)}`, { cause: e }));
          return;
        }
        // etcd unreachable or a member changing: try again shortly, the watch may stay quiet.
        if (!stopped) retry ??= setTimeout(() => {
          retry = undefined;
          void pump();
        }, FOLLOW_RETRY_MS);
      } finally {
        running = false;
      }
    };

    const follower: Follower = {
      close: () => {
        if (stopped) return;
        stopped = true;
        if (retry !== undefined) clearTimeout(retry);
        this.followers.delete(follower);
        watcherP.then((w) => w.cancel()).catch(() => undefined);
      },
    };
    this.followers.add(follower);
    watcherP.then(
      (w) => {
        w.on('put', () => void pump());
        // After a reconnect the watch resumes, but a catch-up read costs little and misses nothing.
        w.on('connected', () => void pump());
        w.on('error', () => void pump());
        void pump();
      },
      (e: unknown) => {
        if (stopped) return;
        follower.close();
        onError?.(unavailable(this.description, 'watching the log', e));
      },
    );
    return follower;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const f of [...this.followers]) f.close();
    this.client.close();
    return Promise.resolve();
  }

  private key(rest: string): string {
    return `${this.prefix}/${rest}`;
  }

  /** eventPuts lays out one event: whole in its log key, or in pieces behind a small manifest. */
  private eventPuts(index: number, event: Event): Put[] {
    const json = Buffer.from(JSON.stringify(event), 'utf8');
    const key = this.key(`log/${pad20(index)}`);
    if (json.length <= INLINE_BYTES) return [{ key, value: json }];
    if (json.length > MAX_EVENT_BYTES) {
      throw new MusterError('PAYLOAD_TOO_LARGE', `event ${index} is ${json.length} bytes, over the limit of ${MAX_EVENT_BYTES}`);
    }
    const pieces = split(json, PART_BYTES);
    const puts = pieces.map((p, n) => ({ key: this.key(`logparts/${pad20(index)}/${pad6(n)}`), value: p }));
    puts.push({ key, value: Buffer.from(PARTS_MARK + JSON.stringify({ parts: pieces.length, bytes: json.length })) });
    return puts;
  }

  /**
   * write commits one transaction: puts and deletes if the compares (and the fence) hold. It
   * resolves false when they do not.
   */
  private async write(what: string, compares: Compare[], puts: Put[], deletes: IOperation[]): Promise<boolean> {
    const all = [...compares];
    if (this.fence !== undefined) all.push([this.fence.key, 'Value', '==', this.fence.value]);
    const ops: (IOperation | IRequestOp)[] = [...puts.map((p) => this.client.put(p.key).value(p.value)), ...deletes];
    const res = await this.etcd(what, () => this.txn(all).then(...ops).commit());
    return res.succeeded;
  }

  private txn(compares: Compare[]): ComparatorBuilder {
    const [first, ...rest] = compares;
    // etcd3 starts a transaction with a comparison; one that always holds stands in for none.
    let b = first === undefined ? this.client.if(this.key('head'), 'Mod', '>', -1) : this.client.if(...first);
    for (const c of rest) b = b.and(...c);
    return b;
  }

  /**
   * explainRefusal finds why a guarded write was refused and throws it: NOT_LEADER when the fence
   * no longer holds, CONFLICT when head is not expectHead. For an append's final transaction
   * (retry), it resolves instead when head and the nonce show that the commit did happen: the
   * client retries a request whose answer was lost.
   */
  private async explainRefusal(
    what: string,
    expectHead: number | undefined,
    retry?: { lastIndex: number; nonce: string },
  ): Promise<void> {
    const fence = this.fence;
    if (fence !== undefined) {
      const value = await this.etcd(what, () => this.client.get(fence.key).string());
      if (value !== fence.value) {
        throw new MusterError('NOT_LEADER', `${what} refused: this master no longer holds ${fence.key}`, { retryable: false });
      }
    }
    const { head } = await this.readHead();
    if (retry !== undefined && head === retry.lastIndex) {
      const nonce = await this.etcd(what, () => this.client.get(this.key('append')).string());
      if (nonce === retry.nonce) return;
    }
    if (expectHead !== undefined && head !== expectHead) {
      throw new MusterError('CONFLICT', `log append at ${expectHead + 1} but the log ends at ${head}`);
    }
    throw new MusterError('CONFLICT', `${what} refused: the log changed meanwhile`);
  }

  private async readHead(): Promise<{ rev: string; head: number }> {
    const res = await this.etcd('reading the log head', () => this.client.get(this.key('head')).exec());
    const kv = res.kvs[0];
    const head = kv === undefined ? 0 : Number(kv.value.toString());
    if (!Number.isSafeInteger(head) || head < 0) throw corrupt(`the log head is "${kv?.value.toString() ?? ''}"`);
    return { rev: res.header.revision, head };
  }

  private async readManifestKv(rev: string | undefined): Promise<IKeyValue | undefined> {
    const get = this.client.get(this.key('snapshot'));
    if (rev !== undefined) get.revision(rev);
    const res = await this.etcd('reading the snapshot', () => get.exec());
    return res.kvs[0];
  }

  private async readManifest(rev: string | undefined): Promise<SnapshotManifest | undefined> {
    const kv = await this.readManifestKv(rev);
    return kv === undefined ? undefined : parseManifest(kv.value);
  }

  private async readSnapshotData(m: SnapshotManifest, rev: string): Promise<string> {
    const pieces: Buffer[] = [];
    for (let n = 0; n < m.parts; n++) pieces.push(await this.readPiece(this.key(`snapshots/${m.id}/${pad6(n)}`), rev));
    const all = Buffer.concat(pieces);
    if (all.length !== m.bytes) throw corrupt(`snapshot ${m.id} has ${all.length} bytes, its manifest says ${m.bytes}`);
    return all.toString('utf8');
  }

  private async readPiece(key: string, rev: string): Promise<Buffer> {
    const res = await this.etcd('reading the log', () => this.client.get(key).revision(rev).exec());
    const kv = res.kvs[0];
    if (kv === undefined) throw corrupt(`${key} is missing`);
    return kv.value;
  }

  /** readEvents reads the events (from, to] at revision rev, in pages, checking that none is missing. */
  private async readEvents(from: number, to: number, rev: string): Promise<LoggedEvent[]> {
    const events: LoggedEvent[] = [];
    const end = this.key(`log/${pad20(to + 1)}`);
    let start = this.key(`log/${pad20(from + 1)}`);
    let expect = from + 1;
    for (;;) {
      const page = await this.etcd('reading the log', () =>
        this.client.getAll().inRange({ start, end }).limit(LOG_PAGE).revision(rev).exec(),
      );
      for (const kv of page.kvs) {
        const index = Number(kv.key.toString().slice(this.key('log/').length));
        if (index !== expect) {
          throw new MusterError('CONFLICT', `the log has a gap: event ${expect} is missing before ${index}`);
        }
        events.push({ index, event: await this.decodeEvent(index, kv.value, rev) });
        expect++;
      }
      const lastKv = page.kvs[page.kvs.length - 1];
      if (!page.more || lastKv === undefined) break;
      start = `${lastKv.key.toString()}\0`;
    }
    if (expect !== to + 1) throw new MusterError('CONFLICT', `the log has a gap: event ${expect} is missing (head ${to})`);
    return events;
  }

  private async decodeEvent(index: number, value: Buffer, rev: string): Promise<Event> {
    let json = value;
    if (value.subarray(0, PARTS_MARK.length).toString() === PARTS_MARK) {
      const m = parseJson(value.subarray(PARTS_MARK.length), `event ${index}'s manifest`) as { parts?: unknown; bytes?: unknown };
      const parts = m.parts;
      const bytes = m.bytes;
      if (!isCount(parts, MAX_EVENT_BYTES / PART_BYTES + 1) || !isCount(bytes, MAX_EVENT_BYTES)) {
        throw corrupt(`event ${index}'s manifest is malformed`);
      }
      const pieces: Buffer[] = [];
      for (let n = 0; n < parts; n++) pieces.push(await this.readPiece(this.key(`logparts/${pad20(index)}/${pad6(n)}`), rev));
      json = Buffer.concat(pieces);
      if (json.length !== bytes) throw corrupt(`event ${index} has ${json.length} bytes, its manifest says ${bytes}`);
    }
    return parseJson(json, `event ${index}`) as Event;
  }

  /** etcd runs one client call, turning the client's failures into a retryable UNAVAILABLE. */
  private async etcd<T>(what: string, call: () => Promise<T>): Promise<T> {
    if (this.closed) throw new MusterError('UNAVAILABLE', `${what}: the store ${this.description} is closed`);
    try {
      return await call();
    } catch (e) {
      if (e instanceof MusterError) throw e;
      throw unavailable(this.description, what, e);
    }
  }
}

/** packTxns cuts puts into transactions of at most TXN_BYTES and TXN_OPS, keeping their order. */
function packTxns(puts: Put[]): Put[][] {
  const txns: Put[][] = [];
  let cur: Put[] = [];
  let bytes = 0;
  for (const p of puts) {
    const size = p.key.length + p.value.length;
    if (cur.length > 0 && (bytes + size > TXN_BYTES || cur.length + 1 > TXN_OPS)) {
      txns.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(p);
    bytes += size;
  }
  if (cur.length > 0) txns.push(cur);
  return txns;
}

function fits(txn: Put[], more: Put[]): boolean {
  const size = (ps: Put[]): number => ps.reduce((n, p) => n + p.key.length + p.value.length, 0);
  return txn.length + more.length <= TXN_OPS && size(txn) + size(more) <= TXN_BYTES;
}

function split(b: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0; at < b.length; at += size) pieces.push(b.subarray(at, at + size));
  return pieces;
}

function rangeOf(start: string, end: string): { start: string; end: string } {
  return { start, end };
}

function isCount(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
}

function parseJson(b: Buffer, what: string): unknown {
  try {
    return JSON.parse(b.toString('utf8'));
  } catch (e) {
    throw corrupt(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

function parseManifest(b: Buffer): SnapshotManifest {
  const m = parseJson(b, 'the snapshot manifest') as Partial<SnapshotManifest>;
  if (
    !isCount(m.index, Number.MAX_SAFE_INTEGER) ||
    !isCount(m.parts, MAX_SNAPSHOT_BYTES / PART_BYTES + 1) ||
    !isCount(m.bytes, MAX_SNAPSHOT_BYTES) ||
    typeof m.id !== 'string' ||
    !/^[0-9a-f-]{1,64}$/.test(m.id)
  ) {
    throw corrupt('the snapshot manifest is malformed');
  }
  return { index: m.index, parts: m.parts, bytes: m.bytes, id: m.id };
}

function corrupt(message: string): MusterError {
  return new MusterError('INTERNAL', `the etcd store is corrupt: ${message}`);
}

function unavailable(description: string, what: string, e: unknown): MusterError {
  const message = e instanceof Error ? e.message : String(e);
  return new MusterError('UNAVAILABLE', `${what} in ${description} failed: ${message}`, {
    retryable: true,
    cause: e,
    details: { unreachable: e instanceof GRPCUnavailableError },
  });
}
