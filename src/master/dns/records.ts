// Records: what each name in the domain holds, read from the cell state when asked. Jobs are looked
// up directly (a job's key is its name's labels), so a name costs a few map lookups and follows the
// state the moment it changes; which instances are ready is discovery.ts's answer, the same the
// endpoints API gives. The names that would need a walk of the state (agents by host and address,
// external frameworks' tasks, which roles and envs exist) come from indexes built on demand, rebuilt
// after the state moved but at most once per refreshMs, so a flood of queries during a storm of
// events cannot turn into a rebuild per query.
//
// Answers encodes each (name, type)'s records once and keeps them until the state's index moves
// (the event log's appliedIndex); a query then costs a map lookup, a shuffle and a few copies.

import type { CellState, Event, LoggedEvent, TaskRecord } from '../state/index.js';
import { endpointOf, liveJob, readyEndpoints } from '../discovery.js';
import { agentIdTail, domainFrag, hostOfUrl, ipFamily, ipv6Bytes, reverseLabels, sanitizeLabel, taskHash, writeIPv4 } from './names.js';
import { addressBody, aRecord, encodeName, labelsOf, nameKey, nameRecord, soaRecord, srvRecord, TYPE, RCODE, type Answer, type Query, type Rr } from './wire.js';

/** ZoneOptions: what the records are made from. */
export interface ZoneOptions {
  domain: string;
  ttlSecs: number;
  state: () => CellState;
  masters: () => { leader?: string; all: string[] };
  self: string;
  /** A number that moves whenever the state changes (the event log's appliedIndex); absent: nothing is cached. */
  stateIndex?: () => number;
  /** The least time between two rebuilds of an index after the state moved (default 1000 ms). */
  indexRefreshMs?: number;
  now?: () => number;
}

/** Service is one SRV record: a port on a target name (labels, domain included) and the target's addresses. */
export interface Service {
  port: number;
  target: string[];
  addresses: string[];
}

/** NameRecords is what one name holds. */
export interface NameRecords {
  /** The name exists (with records or names below it): NODATA rather than NXDOMAIN for a type it lacks. */
  exists: boolean;
  /** IPv4 and IPv6 literals, deduplicated. */
  addresses: string[];
  services: Service[];
  /** PTR targets (labels, domain included). */
  pointers: string[][];
  /** The domain's apex: SOA and NS. */
  apex: boolean;
  /** Made from the masters' list, which is not in the state: not cached. */
  volatile: boolean;
  /**
   * The job (ROLE/ENV/NAME) whose records these are, existing or not, when nothing else in the
   * state contributes to the name: the answer stays good until an event touches that job (or one
   * that could touch every job, such as an agent's).
   */
  job?: string;
}

function empty(): NameRecords {
  return { exists: false, addresses: [], services: [], pointers: [], apex: false, volatile: false };
}

/** Indexes are the names that need a walk of the state, keyed by their labels joined with '.' (domain excluded). */
interface Indexes {
  builtAt: number;
  version: number | undefined;
  /** ROLE and ENV.ROLE of live jobs, for empty non-terminals. */
  jobParents: Set<string>;
  /** HOST.agent names, framework task names and the empty non-terminals above them. */
  names: Map<string, NameRecords>;
  /** Reverse names (in-addr.arpa, ip6.arpa) of agents' addresses. */
  reverse: Map<string, NameRecords>;
  /** Every reachable agent's address. */
  agents: string[];
}

export class Zone {
  readonly domain: string[];
  private indexes: Indexes | undefined;
  private readonly now: () => number;

  constructor(readonly o: ZoneOptions) {
    this.domain = domainLabels(o.domain);
    this.now = o.now ?? Date.now;
  }

  /** version is the state's index, or undefined when the caller gave no way to read it. */
  version(): number | undefined {
    return this.o.stateIndex?.();
  }

  /**
   * find says what a name holds: labels lowercased, leftmost first, the domain included. 'outside':
   * a name neither in the domain nor the reverse name of an agent's address.
   */
  find(labels: readonly string[]): NameRecords | 'outside' {
    const d = this.domain.length;
    const n = labels.length;
    if (!this.inDomainName(labels)) {
      const last = labels[n - 1];
      if (last === 'arpa' && (labels[n - 2] === 'in-addr' || labels[n - 2] === 'ip6')) {
        const r = this.index().reverse.get(labels.join('.'));
        if (r !== undefined) return r;
      }
      return 'outside';
    }
    const rel = labels.slice(0, n - d);
    // Every name made here is of sanitised labels: one with a '.' (legal on the wire) is none of them.
    for (const l of rel) if (l.includes('.')) return empty();
    return this.inDomain(rel);
  }

  /** inDomainName: the name (lowercased labels) is the domain or below it. */
  inDomainName(labels: readonly string[]): boolean {
    const d = this.domain.length;
    const n = labels.length;
    if (n < d) return false;
    for (let i = 0; i < d; i++) if (labels[n - d + i] !== this.domain[i]) return false;
    return true;
  }

  private inDomain(rel: string[]): NameRecords {
    const r = empty();
    const n = rel.length;
    if (n === 0) {
      r.exists = r.apex = true;
      return r;
    }
    const first = rel[0] as string;
    if (n === 1) this.special(first, r);
    if (n === 2 && (first === '_leader') && (rel[1] === '_tcp' || rel[1] === '_udp')) this.leaderService(r);
    if (n === 1 && (first === '_tcp' || first === '_udp')) r.exists = true;
    this.job(rel, r);
    // The indexes hold the roles and envs (one or two labels), HOST.agent names and frameworks'
    // tasks' names: a job's name in a cell without frameworks need not look (nor cause a rebuild).
    const last = rel[n - 1];
    let named: NameRecords | undefined;
    if (n <= 2 || last === 'agent' || last === 'slave' || this.o.state().frameworks.size > 0) {
      const ix = this.index();
      const key = rel.join('.');
      if (n <= 2 && ix.jobParents.has(key)) r.exists = true;
      named = ix.names.get(key);
      if (named !== undefined) merge(r, named);
    }
    if (named === undefined && n >= 3 && n <= 5) r.job = `${rel[n - 1]}/${rel[n - 2]}/${rel[n - 3]}`;
    return r;
  }

  /** special: the names of the cell itself (leader, master, ns1, agent). */
  private special(label: string, r: NameRecords): void {
    switch (label) {
      case 'leader': {
        r.exists = r.volatile = true;
        const leader = this.o.masters().leader;
        const h = leader === undefined ? undefined : hostOfUrl(leader);
        if (h !== undefined) addAddress(r, h.host);
        return;
      }
      case 'master': {
        r.exists = r.volatile = true;
        for (const m of this.o.masters().all) {
          const h = hostOfUrl(m);
          if (h !== undefined) addAddress(r, h.host);
        }
        return;
      }
      case 'ns1': {
        r.exists = true;
        const h = hostOfUrl(this.o.self);
        addAddress(r, h?.host ?? this.o.self);
        return;
      }
      case 'agent':
      case 'slave':
        r.exists = true;
        for (const a of this.index().agents) addAddress(r, a);
        return;
    }
  }

  private leaderService(r: NameRecords): void {
    r.exists = r.volatile = true;
    const leader = this.o.masters().leader;
    const h = leader === undefined ? undefined : hostOfUrl(leader);
    if (h === undefined) return;
    const s: Service = { port: h.port, target: ['leader', ...this.domain], addresses: [] };
    if (ipFamily(h.host) !== 0) s.addresses.push(h.host);
    r.services.push(s);
  }

  /** job: NAME.ENV.ROLE, N.NAME.ENV.ROLE, _PORT._tcp.NAME.ENV.ROLE and _tcp.NAME.ENV.ROLE. */
  private job(rel: string[], r: NameRecords): void {
    const n = rel.length;
    if (n < 3 || n > 5) return;
    const state = this.o.state();
    const job = liveJob(state, rel[n - 1] as string, rel[n - 2] as string, rel[n - 3] as string);
    if (job === undefined) return;
    const first = rel[0] as string;
    if (n === 3) {
      r.exists = true;
      for (const e of readyEndpoints(state, job)) addAddress(r, e.address);
      return;
    }
    if (n === 4 && first === '_tcp') {
      if (job.spec.resources.ports.length > 0) r.exists = true;
      return;
    }
    if (n === 4) {
      if (!/^(0|[1-9][0-9]{0,5})$/.test(first)) return;
      const instance = Number(first);
      if (instance >= job.instances.length) return;
      r.exists = true;
      const taskId = job.instances[instance]?.taskId;
      const task = taskId === undefined ? undefined : state.tasks.get(taskId);
      if (task === undefined) return;
      const e = endpointOf(state, task, state.agents.get(task.agentId), job.spec.health !== undefined);
      if (e.ready) addAddress(r, e.address);
      return;
    }
    if (rel[1] !== '_tcp' || !first.startsWith('_')) return;
    const port = first.slice(1);
    if (!job.spec.resources.ports.includes(port)) return;
    r.exists = true;
    const parent = rel.slice(2);
    for (const e of readyEndpoints(state, job)) {
      const number = e.ports[port];
      if (number === undefined) continue;
      const s: Service = { port: number, target: [String(e.instance), ...parent, ...this.domain], addresses: [] };
      if (ipFamily(e.address) !== 0) s.addresses.push(e.address);
      r.services.push(s);
    }
  }

  /** index: the names that need a walk of the state, rebuilt when the state moved and refreshMs passed. */
  private index(): Indexes {
    const version = this.version();
    const now = this.now();
    const ix = this.indexes;
    if (ix !== undefined && (version !== undefined ? ix.version === version : false)) return ix;
    if (ix !== undefined && now - ix.builtAt < (this.o.indexRefreshMs ?? 1000)) return ix;
    this.indexes = this.build(version, now);
    return this.indexes;
  }

  private build(version: number | undefined, now: number): Indexes {
    const state = this.o.state();
    const ix: Indexes = { builtAt: now, version, jobParents: new Set(), names: new Map(), reverse: new Map(), agents: [] };
    for (const job of state.jobs.values()) {
      if (job.state === 'KILLED') continue;
      const [role, env] = job.key.split('/');
      ix.jobParents.add(`${role}`);
      ix.jobParents.add(`${env}.${role}`);
    }
    const domain = this.domain;
    const seenAgents = new Set<string>();
    for (const a of state.agents.values()) {
      if (a.reachable && !seenAgents.has(a.address)) {
        seenAgents.add(a.address);
        ix.agents.push(a.address);
      }
      const host = domainFrag(a.hostname);
      if (host.length === 0) continue;
      const rel = [...host, 'agent'];
      addAddress(nameIn(ix.names, rel), a.address);
      const reverse = reverseLabels(a.address);
      if (reverse !== undefined) {
        const key = reverse.join('.');
        let r = ix.reverse.get(key);
        if (r === undefined) ix.reverse.set(key, (r = { ...empty(), exists: true }));
        const target = [...rel, ...domain];
        if (!r.pointers.some((p) => p.join('.') === target.join('.'))) r.pointers.push(target);
      }
    }
    this.frameworkNames(state, ix.names);
    return ix;
  }

  /**
   * frameworkNames adds Mesos-DNS's names for external frameworks' running tasks: T.F, T-H-S.F and
   * both under .slave (A, the agent's address: a task's address is its agent's here), and
   * _T._tcp.F, _T._udp.F and both under .slave (SRV to T-H-S.F.slave, one per task port).
   */
  private frameworkNames(state: CellState, names: Map<string, NameRecords>): void {
    for (const f of state.frameworks.values()) {
      const fname = domainFrag(f.name);
      if (fname.length === 0) continue;
      for (const taskId of f.taskIds) {
        const task = state.tasks.get(taskId);
        if (task === undefined) continue;
        const agent = state.agents.get(task.agentId);
        const e = endpointOf(state, task, agent, task.healthy !== undefined);
        if (!e.ready) continue;
        const t = sanitizeLabel(task.launch?.name ?? '');
        if (t === '') continue;
        const canonical = `${t}-${taskHash(task.launch?.externalId ?? task.taskId)}-${agentIdTail(task.agentId)}`;
        for (const sub of [[], ['slave']]) {
          addAddress(nameIn(names, [t, ...fname, ...sub]), e.address);
          addAddress(nameIn(names, [canonical, ...fname, ...sub]), e.address);
        }
        const target = [canonical, ...fname, 'slave', ...this.domain];
        for (const port of portsOf(task)) {
          for (const proto of ['_tcp', '_udp']) {
            for (const sub of [[], ['slave']]) {
              const r = nameIn(names, [`_${t}`, proto, ...fname, ...sub]);
              r.services.push({ port, target, addresses: ipFamily(e.address) !== 0 ? [e.address] : [] });
            }
          }
        }
      }
    }
  }
}

/** MAX_TASK_PORTS bounds the SRV records one framework task makes (a task may hold a wide range). */
const MAX_TASK_PORTS = 64;

/** portsOf: a framework task's host ports, from its ports resource (as Mesos-DNS takes them), then its named ports. */
function portsOf(task: TaskRecord): number[] {
  const out = new Set<number>();
  for (const r of task.resources.ports) {
    for (let p = r.begin; p <= r.end && out.size < MAX_TASK_PORTS; p++) out.add(p);
  }
  for (const p of Object.values(task.ports)) if (out.size < MAX_TASK_PORTS) out.add(p);
  return [...out];
}

/** touchedJobs: the jobs an event can change the DNS answers of, or 'every'. */
function touchedJobs(state: CellState, event: Event): readonly string[] | 'every' {
  switch (event.type) {
    case 'TokenCreated':
    case 'TokenRevoked':
    case 'PolicySet':
    case 'PolicyDeleted':
    case 'QuotaSet':
      return [];
    case 'JobCreated':
      return [event.spec.job];
    case 'RunStarted':
      return [event.run.key, ...(event.run.prune ?? [])];
    case 'RunSkipped':
    case 'RunsSuspended':
      return [];
    case 'KillRequested':
      return [event.job];
    case 'JobsPruned':
      return event.jobs;
    case 'TasksLaunched': {
      const out: string[] = [];
      for (const t of event.tasks) {
        if (t.frameworkId !== undefined) return 'every';
        out.push(t.job);
      }
      return out;
    }
    case 'TaskStatusUpdated': {
      const task = state.tasks.get(event.status.taskId);
      return task === undefined || task.frameworkId !== undefined ? 'every' : [task.job];
    }
    default:
      return 'every';
  }
}

/** nameIn finds or makes a name in an index, and marks the names above it as existing. */
function nameIn(names: Map<string, NameRecords>, rel: string[]): NameRecords {
  const key = rel.join('.');
  let r = names.get(key);
  if (r === undefined) {
    names.set(key, (r = { ...empty(), exists: true }));
    for (let i = 1; i < rel.length; i++) {
      const parent = rel.slice(i).join('.');
      if (!names.has(parent)) names.set(parent, { ...empty(), exists: true });
    }
  }
  return r;
}

function merge(into: NameRecords, from: NameRecords): void {
  into.exists ||= from.exists;
  for (const a of from.addresses) if (!into.addresses.includes(a)) into.addresses.push(a);
  into.services.push(...from.services);
  into.pointers.push(...from.pointers);
}

/** addAddress adds an IPv4 or IPv6 literal once; anything else (a host name) cannot be an A or AAAA record. */
function addAddress(r: NameRecords, address: string): void {
  if (ipFamily(address) !== 0 && !r.addresses.includes(address)) r.addresses.push(address);
}

/** domainLabels checks and splits the domain option ("muster", "cell.example."). */
export function domainLabels(domain: string): string[] {
  const labels = domain.toLowerCase().replace(/\.$/, '').split('.');
  for (const l of labels) {
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(l)) {
      throw new Error(`the DNS domain "${domain}" is not valid: each label must be 1-63 letters, digits or '-'`);
    }
  }
  return labels;
}

/** addressBytes: the 4 or 16 bytes of an address literal. */
function addressBytes(address: string): Buffer {
  if (ipFamily(address) === 4) {
    const b = Buffer.allocUnsafe(4);
    writeIPv4(address, b, 0);
    return b;
  }
  return ipv6Bytes(address);
}

/** A cached answer: its records, the state index it was made at, and the job it depends on alone. */
interface Cached {
  version: number;
  answer: Answer;
  job: string | undefined;
  /** Answers.tick when it was made. */
  tick: number;
}

/** MAX_TRACKED_JOBS bounds the jobs whose last change is remembered; past it every answer starts over. */
const MAX_TRACKED_JOBS = 200_000;

/** CACHE_MAX bounds the cached (name, type) answers; past it the cache starts over. */
export const CACHE_MAX = 100_000;

/**
 * Answers turns questions into answers (records.ts's names, wire.ts's records), caching each
 * (name, type)'s answer until the state's index moves.
 */
export class Answers {
  /** Per query type, by the name's lowercased wire bytes. */
  private readonly cache = new Map<number, Map<string, Cached>>();
  /**
   * Change tracking from the log's events (track()): a job's answers stay good while no event
   * touched it, though the state's index moved. tick counts the batches seen; touched is the tick
   * of each job's last change, everyAt the tick of the last change that may touch any job.
   */
  private tracking = false;
  private tick = 1;
  private everyAt = 0;
  private readonly touched = new Map<string, number>();
  private soaCache: { serial: number; rr: Rr } | undefined;
  private readonly ttl: number;
  private readonly nsName: Buffer;
  private readonly rname: Buffer;

  constructor(readonly zone: Zone) {
    this.ttl = Math.max(0, Math.floor(zone.o.ttlSecs));
    this.nsName = encodeName(['ns1', ...zone.domain]);
    this.rname = encodeName(['root', 'ns1', ...zone.domain]);
  }

  /** answer: the answer to q (read from buf), or 'outside' for a name this server has no authority over. */
  answer(buf: Buffer, q: Query): Answer | 'outside' {
    const version = this.zone.version();
    let key: string | undefined;
    let byName: Map<string, Cached> | undefined;
    if (version !== undefined) {
      key = nameKey(buf, q);
      byName = this.cache.get(q.qtype);
      if (byName === undefined) this.cache.set(q.qtype, (byName = new Map<string, Cached>()));
      const hit = byName.get(key);
      if (hit !== undefined && (hit.version === version || this.unchanged(hit))) return hit.answer;
    }
    const labels = labelsOf(buf, q);
    const found = this.zone.find(labels);
    if (found === 'outside') return 'outside';
    const inDomain = this.zone.inDomainName(labels);
    const answer = this.build(found, q, inDomain ? labels.length - this.zone.domain.length : -1);
    if (byName !== undefined && key !== undefined && version !== undefined && !found.volatile) {
      if (byName.size >= CACHE_MAX) byName.clear();
      byName.set(key, { version, answer, job: found.job, tick: this.tick });
    }
    return answer;
  }

  /** unchanged: an answer made at an older state index that no event since can have changed. */
  private unchanged(hit: Cached): boolean {
    return this.tracking && hit.job !== undefined && hit.tick >= this.everyAt && hit.tick >= (this.touched.get(hit.job) ?? 0);
  }

  /**
   * track is told each batch of events the state applied (the event log's onAppended), and notes
   * which jobs they touched. Events about tokens, policies and quotas touch none; a task's status,
   * a launch, a kill, a job's creation or pruning touch their jobs; any other event (an agent's, a
   * host's, a framework's, an update's) may touch any job's answer, and all start over.
   */
  track(events: readonly LoggedEvent[]): void {
    this.tracking = true;
    const tick = ++this.tick;
    const state = this.zone.o.state();
    const every = (): void => {
      this.everyAt = tick;
      this.touched.clear();
    };
    for (const { event } of events) {
      const jobs = touchedJobs(state, event);
      if (jobs === 'every') {
        every();
        return;
      }
      for (const job of jobs) this.touched.set(job, tick);
    }
    if (this.touched.size > MAX_TRACKED_JOBS) every();
  }

  /** reset: the state was replaced (a standby loaded it again): every answer starts over. */
  reset(): void {
    this.everyAt = ++this.tick;
    this.touched.clear();
  }

  /** build encodes a name's records of the asked type; relCount is how many labels precede the domain (-1: a reverse name). */
  private build(r: NameRecords, q: Query, relCount: number): Answer {
    const qtype = q.qtype;
    const ttl = this.ttl;
    const answers: Rr[] = [];
    const any = qtype === TYPE.ANY;
    if (qtype === TYPE.A || qtype === TYPE.AAAA || any) {
      for (const a of r.addresses) {
        const fam = ipFamily(a);
        if (any || (fam === 4) === (qtype === TYPE.A)) answers.push(aRecord(ttl, addressBytes(a)));
      }
    }
    if (qtype === TYPE.SRV || any) {
      for (const s of r.services) {
        answers.push(srvRecord(ttl, { priority: 0, weight: 1, port: s.port, target: encodeName(s.target), extra: s.addresses.map((a) => addressBody(ttl, addressBytes(a))) }));
      }
    }
    if (qtype === TYPE.PTR || any) for (const p of r.pointers) answers.push(nameRecord(TYPE.PTR, ttl, encodeName(p)));
    if (r.apex && (qtype === TYPE.NS || any)) {
      const self = hostOfUrl(this.zone.o.self)?.host ?? this.zone.o.self;
      const extra = ipFamily(self) !== 0 ? [addressBody(ttl, addressBytes(self))] : [];
      answers.push(nameRecord(TYPE.NS, ttl, this.nsName, extra));
    }
    if (r.apex && (qtype === TYPE.SOA || any)) answers.push(this.soa());
    // The domain's labels start after the question's first relCount labels.
    const domainAt = relCount > 0 ? (q.labels[relCount] ?? 12) : 12;
    if (answers.length > 0) return { rcode: RCODE.NOERROR, aa: true, answers, shuffle: answers.length > 1 };
    // A reverse name outside the domain has no SOA of ours to give.
    const soa = relCount >= 0 ? this.soa() : undefined;
    const a: Answer = { rcode: r.exists ? RCODE.NOERROR : RCODE.NXDOMAIN, aa: true, answers, shuffle: false };
    if (soa !== undefined) {
      a.soa = soa;
      a.soaOwner = domainAt;
    }
    return a;
  }

  /** soa: the domain's SOA; its serial is the state's index (or the time, in seconds, without one). */
  soa(): Rr {
    const serial = (this.zone.version() ?? Math.floor(Date.now() / 1000)) >>> 0;
    if (this.soaCache?.serial === serial) return this.soaCache.rr;
    const ttl = this.ttl;
    const rr = soaRecord(ttl, { mname: this.nsName, rname: this.rname, serial, refresh: 60, retry: 600, expire: 86400, minimum: ttl });
    this.soaCache = { serial, rr };
    return rr;
  }
}
