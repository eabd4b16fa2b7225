// MasterRegistry lists the masters of an HA cell for `muster cell status`: each master puts
// `${prefix}/masters/${masterId}` = {url} under a lease of its own with the election's TTL, so a
// master that dies drops out of the list within about that long. It is its own lease, not the
// election's: LeaderElection keeps its lease to itself, and a standby has none. The list is only
// for operators; nothing depends on it being exact.

import { Etcd3, type Lease } from 'etcd3';
import type { Logger } from '../log/index.js';
import type { EtcdMemberView } from '../protocol/index.js';
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
/** HEALTH_TIMEOUT_MS bounds a health probe: `cell status` waits for it, and a stopped member never answers. */
const HEALTH_TIMEOUT_MS = 800;
/** HEALTH_CACHE_MS: probes within this long of the last share its answer, so that polling clients cost etcd little. */
const HEALTH_CACHE_MS = 1000;
/** MAX_PROBE_BYTES bounds what is read of an answer to a probe. */
const MAX_PROBE_BYTES = 64 * 1024;

export class MasterRegistry {
  private readonly client: Etcd3;
  private readonly dir: string;
  private lease: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private known: { masterId: string; url: string }[] = [];
  private refreshing = false;
  private closed = false;
  private health: { at: number; members: Promise<EtcdMemberView[]> } | undefined;

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

  /**
   * etcdHealth probes every etcd endpoint of the store, each on its own: the client library's pool
   * would answer from whichever member it reaches, and an operator wants to see the one that is down.
   * Probes run in parallel, each within HEALTH_TIMEOUT_MS, and are shared for HEALTH_CACHE_MS.
   */
  etcdHealth(): Promise<EtcdMemberView[]> {
    const now = Date.now();
    if (this.health === undefined || now - this.health.at >= HEALTH_CACHE_MS) {
      this.health = { at: now, members: Promise.all(this.options.endpoints.map(probeMember)) };
    }
    return this.health.members;
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

/**
 * probeMember asks one etcd member for /health (is it healthy, with a raft leader) and, through the
 * JSON gateway, for its maintenance status (is it the raft leader). It never throws: a member that
 * cannot be asked is reported unhealthy with the reason.
 */
async function probeMember(endpoint: string): Promise<EtcdMemberView> {
  const base = endpoint.replace(/\/+$/, '');
  const [health, status] = await Promise.allSettled([
    probeJson(`${base}/health`, 'GET'),
    probeJson(`${base}/v3/maintenance/status`, 'POST'),
  ]);
  const view: EtcdMemberView = { endpoint: base, healthy: false };
  if (status.status === 'fulfilled') {
    const s = status.value as { leader?: unknown; header?: { member_id?: unknown } };
    // 64-bit member ids come as decimal strings from the gateway; compare them as given.
    const self = s.header?.member_id;
    if ((typeof s.leader === 'string' || typeof s.leader === 'number') && (typeof self === 'string' || typeof self === 'number')) {
      view.leader = String(s.leader) === String(self);
    }
  }
  if (health.status === 'rejected') {
    view.error = reasonOf(health.reason);
    return view;
  }
  const h = health.value as { health?: unknown; reason?: unknown };
  view.healthy = h.health === true || h.health === 'true';
  if (!view.healthy) view.error = typeof h.reason === 'string' && h.reason !== '' ? h.reason.slice(0, 200) : 'the member says it is not healthy';
  return view;
}

/** probeJson fetches a small JSON answer within HEALTH_TIMEOUT_MS; /health answers 503 with a JSON body when unhealthy. */
async function probeJson(url: string, method: 'GET' | 'POST'): Promise<unknown> {
  const res = await fetch(url, { method, signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS), ...(method === 'POST' ? { body: '{}' } : {}) });
  const text = await res.text();
  if (text.length > MAX_PROBE_BYTES) throw new Error(`an answer of ${text.length} bytes from ${url}`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`HTTP ${res.status} from ${url}, not JSON`);
  }
}

function reasonOf(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${HEALTH_TIMEOUT_MS} ms`;
  // fetch hides the socket error (ECONNREFUSED, …) in its cause.
  const cause = (e as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : e.message;
}
