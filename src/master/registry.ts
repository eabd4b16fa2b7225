// MasterRegistry lists the masters of an HA cell for `muster cell status`: each master puts
// `${prefix}/masters/${masterId}` = {url} under a lease of its own with the election's TTL, so a
// master that dies drops out of the list within about that long. It is its own lease, not the
// election's: LeaderElection keeps its lease to itself, and a standby has none. The list is only
// for operators; nothing depends on it being exact.

import { Etcd3, type Lease } from 'etcd3';
import type { Logger } from '../log/index.js';
import type { LeaderInfo } from './leader.js';

/** MasterEntry is one master of the cell as the registry lists it. */
export interface MasterEntry {
  masterId: string;
  url: string;
  leading: boolean;
}

export interface MasterRegistryOptions {
  endpoints: readonly string[];
  /** The cell's prefix in etcd (the store's and the election's). */
  prefix: string;
  self: { masterId: string; url: string };
  ttlSecs: number;
  logger: Logger;
  /** leader tells which entry leads. */
  leader: () => LeaderInfo | undefined;
}

/** MAX_MASTERS bounds the list read back; a cell has 3, 5 or 7 masters. */
const MAX_MASTERS = 64;
/** MAX_URL_CHARS bounds a URL read from etcd. */
const MAX_URL_CHARS = 1024;
/** CALL_TIMEOUT_MS bounds one etcd request, so that a hung etcd cannot stall the refresh. */
const CALL_TIMEOUT_MS = 2000;

export class MasterRegistry {
  private readonly client: Etcd3;
  private readonly dir: string;
  private lease: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private known: { masterId: string; url: string }[] = [];
  private refreshing = false;
  private closed = false;

  constructor(private readonly options: MasterRegistryOptions) {
    this.dir = `${options.prefix.replace(/\/+$/, '')}/masters/`;
    this.client = new Etcd3({
      hosts: [...options.endpoints],
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }),
    });
  }

  /** start registers this master and refreshes the list every TTL, in the background. */
  start(): void {
    this.register();
    this.timer = setInterval(() => this.refresh(), this.options.ttlSecs * 1000);
    this.timer.unref();
    this.refresh();
  }

  /** masters is the list as last read, this master included even before its entry is read back. */
  masters(): MasterEntry[] {
    const leader = this.options.leader();
    const all = this.known.some((m) => m.masterId === this.options.self.masterId) ? this.known : [...this.known, this.options.self];
    return all.map((m) => ({ masterId: m.masterId, url: m.url, leading: m.masterId === leader?.masterId }));
  }

  /** close stops refreshing and revokes the lease, which removes this master's entry. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    try {
      await this.lease?.revoke();
    } catch {
      // The entry ends with the lease's TTL anyway.
    }
    this.client.close();
  }

  /** register puts our entry under a fresh lease; a lost lease (etcd was unreachable) registers again. */
  private register(): void {
    if (this.closed) return;
    const lease = this.client.lease(this.options.ttlSecs);
    this.lease = lease;
    lease.on('lost', () => {
      if (this.closed || this.lease !== lease) return;
      this.options.logger.debug('the registry lease was lost; registering again');
      setTimeout(() => this.register(), 1000).unref();
    });
    lease
      .put(`${this.dir}${this.options.self.masterId}`)
      .value(JSON.stringify({ url: this.options.self.url }))
      .exec()
      .catch((e: unknown) => this.options.logger.debug('could not register this master', { error: e instanceof Error ? e.message : String(e) }));
  }

  private refresh(): void {
    if (this.refreshing || this.closed) return;
    this.refreshing = true;
    this.client
      .getAll()
      .prefix(this.dir)
      .limit(MAX_MASTERS)
      .strings()
      .then((entries) => {
        const list: { masterId: string; url: string }[] = [];
        for (const [key, value] of Object.entries(entries)) {
          const url = urlOf(value);
          if (url !== undefined) list.push({ masterId: key.slice(this.dir.length), url });
        }
        this.known = list.sort((a, b) => a.url.localeCompare(b.url));
      })
      .catch((e: unknown) => this.options.logger.debug('could not read the masters', { error: e instanceof Error ? e.message : String(e) }))
      .finally(() => (this.refreshing = false));
  }
}

function urlOf(value: string): string | undefined {
  try {
    const v = JSON.parse(value) as { url?: unknown };
    return typeof v.url === 'string' && v.url.length <= MAX_URL_CHARS ? v.url : undefined;
  } catch {
    return undefined;
  }
}
