// startMaster wires the master together: the store and the event log, the agent link, the offer
// cycle with the built-in job scheduler, and the HTTP server that serves them all on one port.

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { CRON_DEFAULTS, MusterError, VERSION, isTerminal } from '../core/index.js';
import { createLogger, type Logger } from '../log/index.js';
import { METRICS_CONTENT_TYPE } from '../metrics/index.js';
import { AgentLinks } from './agents/index.js';
import { EventLog } from './eventlog.js';
import { DEFAULT_TTL_SECS, LeaderElection } from './leader.js';
import { ExternalFrameworks } from './frameworks/external.js';
import { hashSecret, masterAuth, newSecret } from './auth/index.js';
import { bootstrapToken } from './commands/acl.js';
import { OfferBook } from './frameworks/book.js';
import { addAclRoutes } from './http/acl.js';
import { OfferCycle } from './frameworks/offers.js';
import { addSchedulerRoutes } from './http/scheduler.js';
import { addFrameworkRoutes } from './http/frameworks.js';
import { addMesosStateRoutes } from './http/mesosstate.js';
import { mesos } from '../protocol/index.js';
import { addEventRoutes } from './http/events.js';
import { addExecRoutes } from './http/exec.js';
import { addFileRoutes } from './http/files.js';
import { addEndpointRoutes } from './http/endpoints.js';
import { addMesosDnsRoutes } from './http/mesosdns.js';
import { addJobRoutes, taskRoleOf, type JobPolicy } from './http/jobs.js';
import { startDnsServer } from './dns/index.js';
import { addUpdateRoutes } from './http/updates.js';
import { addRunRoutes } from './http/runs.js';
import { startUpdateController, type UpdateController } from './jobs/updater.js';
import { startRunController, type RunController } from './jobs/cron.js';
import { addLeaderRoutes, answerAsStandby, type Leadership } from './http/leader.js';
import { MasterMetrics } from './http/metrics.js';
import { addPlanRoutes, PLAN_PREEMPTION_BUDGET } from './http/plan.js';
import { addHostRoutes } from './http/hosts.js';
import { addQuotaRoutes } from './http/quotas.js';
import { addSnapshotRoutes } from './http/snapshot.js';
import { Router, sendJson } from './http/router.js';
import { addUiRoutes } from './http/ui.js';
import { addAgentRoutes } from './http/agents.js';
import { TaskHistory, addTaskHistoryRoutes } from './http/taskhistory.js';
import { MusterFramework, startDrainController, type DrainController } from './jobs/index.js';
import { SCHEDULING_LIMITS, schedulingOptionsOf, type MasterHandle, type MasterOptions } from './options.js';
import type { LoggedEvent } from './state/index.js';
import { MasterRegistry } from './registry.js';
import { EtcdStore, openStore, parseEtcdUrl } from './store/index.js';
import { checkServerTls, trustingDispatcher } from '../tls/index.js';
import { cellView, type ViewContext } from './views.js';

/**
 * permitReads is the table of what the reads ask of their caller, beyond a valid token (writes are
 * checked where they become events, in master/commands/). Lists (jobs, tasks) leave out what the
 * caller may not read instead; the cell, hosts, quotas, frameworks and /metrics need a token only.
 */
function permitReads(router: Router, log: EventLog): void {
  const taskRole = ({ params }: { params: Record<string, string> }): string => taskRoleOf(log.state, params['taskId'] ?? '');
  const everyRole = (): string => '*';
  router.permit('GET', '/api/v1/tasks/:taskId/history', { permission: { action: 'job:read', role: taskRole } });
  for (const path of ['/api/v1/tasks/:taskId/logs', '/api/v1/tasks/:taskId/files', '/api/v1/tasks/:taskId/files/read', '/api/v1/tasks/:taskId/files/download']) {
    router.permit('GET', path, { permission: { action: 'task:logs', role: taskRole } });
  }
  router.permit('POST', '/api/v1/tasks/:taskId/exec', { permission: { action: 'task:exec', role: taskRole } });
  // The event stream and the Mesos views carry every role's jobs and tasks.
  router.permit('GET', '/api/v1/events', { permission: { action: 'job:read', role: everyRole } });
  for (const path of ['/master/state', '/master/state.json', '/state', '/state.json', '/master/state-summary', '/master/frameworks', '/master/slaves', '/metrics/snapshot']) {
    router.permit('GET', path, { permission: { action: 'job:read', role: everyRole } });
  }
  router.permit('POST', '/api/v1', { permission: { action: 'job:read', role: everyRole } });
  router.permit('POST', '/api/v1/', { permission: { action: 'job:read', role: everyRole } });
  router.permit('GET', '/api/v1/snapshot', { permission: { action: 'cell:admin', role: everyRole } });
  router.permit('GET', '/version', { public: true });
}

/** The parts of a master that act on the cell; a standby has none until it is elected and promoted. */
interface Acting {
  readonly links: AgentLinks;
  readonly framework: MusterFramework;
  readonly cycle: OfferCycle;
  readonly externals: ExternalFrameworks;
  readonly drain: DrainController;
  readonly updater: UpdateController;
  readonly runs: RunController;
  readonly stopKillHook: () => void;
  /** Every outstanding offer, to the built-in framework or an external one (the UI's frameworks page). */
  readonly book: OfferBook;
}

/** How long ended jobs and updates are kept by default (--job-retention). */
const DEFAULT_JOB_RETENTION_SECS = 86_400;

/** MAX_LEADER_TTL_SECS: LeaderElection's own bound; a longer lease would make failover pointless anyway. */
const MAX_LEADER_TTL_SECS = 600;

/** The DNS server's domain and TTL unless --dns-domain and --dns-ttl say otherwise. */
const DEFAULT_DNS_DOMAIN = 'muster';
const DEFAULT_DNS_TTL_SECS = 5;

export async function startMaster(opts: MasterOptions): Promise<MasterHandle> {
  const logger = opts.logger ?? createLogger('master');
  validate(opts);
  const store = openStore(opts.store);
  // An etcd store is shared by several masters: this one starts as a standby and acts only once
  // elected. A SQLite store has one master, which leads from the start, as before.
  const ha = store instanceof EtcdStore ? store : undefined;
  let election: LeaderElection | undefined;
  // A registry of this master's own: several masters in one process (tests) keep apart.
  const metrics = new MasterMetrics();
  const onAppend = (seconds: number): void => metrics.observeLogAppend(seconds);
  let log: EventLog;
  try {
    log =
      ha === undefined
        ? await EventLog.open(store, { snapshotEvery: opts.snapshotEvery, logger, onAppend })
        : await EventLog.openStandby(ha, { snapshotEvery: opts.snapshotEvery, logger, onAppend, leaderHint: () => election?.leader()?.url });
  } catch (e) {
    await store.close();
    throw e;
  }
  const masterId = randomUUID();
  const startedAt = Date.now();
  /** When this master began to lead (its start, for a single master), for Mesos's elected_time. */
  let electedAt: number | undefined = ha === undefined ? startedAt : undefined;
  const scheduling = schedulingOptionsOf(opts);
  let acting: Acting | undefined;
  let stopping = false;
  const authOn = opts.auth === true;
  const dnsDomain = opts.dnsDomain ?? DEFAULT_DNS_DOMAIN;
  /** The host others reach this master at (ns1.DOMAIN's address): known before the server listens. */
  const advertisedHost = opts.advertiseUrl === undefined ? opts.host : hostOfUrl(opts.advertiseUrl);
  /** mastersForDns: the leader's and every master's URL, for leader.DOMAIN and master.DOMAIN. */
  const mastersForDns = (): { leader?: string; all: string[] } => {
    const leader = election === undefined ? self.url : election.leader()?.url;
    const all = registry?.masters().map((m) => m.url) ?? [self.url];
    return leader === undefined ? { all } : { leader, all };
  };
  /** The DNS server, once it runs (after the HTTP server listens). */
  let dns: { port: number; close(): Promise<void> } | undefined;

  /**
   * bootstrap makes the first management token when a cell with authentication has none, once: the
   * leader that finds the log without tokens does, and its secret is shown this once (only its hash
   * is in the log). A cell whose tokens were all revoked gets none: revoking the last is a choice.
   */
  const bootstrap = (): void => {
    if (!authOn || log.state.tokens.size > 0) return;
    const secret = newSecret();
    log
      .submit((s, now) => bootstrapToken(s, now, { accessorId: randomUUID(), secretHash: hashSecret(secret) }), 'master')
      .then((token) => {
        if (token === undefined) return;
        if (opts.onBootstrapToken !== undefined) opts.onBootstrapToken(secret);
        else logger.warn('bootstrap token made; it is shown this once, keep it (muster acl token create makes others)', { token: secret });
      })
      .catch((e: unknown) => logger.error('could not make the bootstrap token', { error: e instanceof Error ? e.message : String(e) }));
  };

  /**
   * act starts the parts that talk to agents and place tasks. Built at promotion, not at start, so
   * that the agent timeout counts from when this master began to lead, not from when it started.
   */
  const act = (epoch: number | undefined): Acting => {
    const current = election;
    const links = new AgentLinks(log, {
      masterId,
      heartbeatSecs: opts.heartbeatSecs,
      agentTimeoutSecs: opts.agentTimeoutSecs,
      logger: logger.child('agents'),
      ...(current === undefined ? {} : { mayAct: () => current.isLeader() }),
      authenticate: authOn,
      ...(epoch === undefined ? {} : { epoch }),
      ...(opts.reconcileIntervalSecs === undefined ? {} : { reconcileIntervalSecs: opts.reconcileIntervalSecs }),
      onReconciled: (divergences) => metrics.observeReconciliation(divergences),
    });
    const framework = new MusterFramework(log, links, {
      logger: logger.child('scheduler'),
      scheduling,
      onPass: (seconds) => metrics.observeSchedulingPass(seconds),
    });
    // The external frameworks and the offer cycle ask each other for passes and offers.
    // Every offer, to the built-in framework or an external one, is in this one book.
    const book = new OfferBook(opts.offerTimeoutSecs === undefined ? {} : { offerTimeoutMs: opts.offerTimeoutSecs * 1000 });
    const ref: { cycle?: OfferCycle } = {};
    const externals = new ExternalFrameworks(log, links, {
      masterId,
      logger: logger.child('frameworks'),
      book,
      masterInfo: () => schedulerMasterInfo(self.url, masterId),
      kick: () => ref.cycle?.kick(),
      release: (agentId) => ref.cycle?.release(agentId),
    });
    const cycle = new OfferCycle(log, links, [framework], { masterId, logger: logger.child('allocator'), book, roleWeights: scheduling.roleWeights, external: externals });
    ref.cycle = cycle;
    links.onAgentChange((agentId) => {
      framework.agentChanged(agentId);
      cycle.agentChanged(agentId);
    });
    const stopKillHook = log.onAppended(() => {
      cycle.kick();
      // A kill just written (by a user, or by a failed batch job) goes out now, not on the next tick;
      // state.killing is small and each task's KILL is rate-limited, so this costs next to nothing.
      links.sendOwedKills();
    });
    const drain = startDrainController(log, logger.child('drain'));
    const updater = startUpdateController(log, logger.child('update'), { retentionSecs: opts.jobRetentionSecs ?? DEFAULT_JOB_RETENTION_SECS });
    const runs = startRunController(log, logger.child('cron'));
    bootstrap();
    return { links, framework, cycle, externals, drain, updater, runs, stopKillHook, book };
  };
  const stopActing = (): void => {
    if (acting === undefined) return;
    acting.stopKillHook();
    acting.drain.close();
    acting.updater.close();
    acting.runs.close();
    acting.cycle.close();
    acting.externals.close();
    acting.links.close();
  };
  const leading = (): Acting => {
    if (acting === undefined) throw new MusterError('NOT_LEADER', 'this master does not lead; retry at the leader');
    return acting;
  };
  if (ha === undefined) acting = act(undefined);
  log.onAppended((batch) => logEvents(logger, batch));

  const view = (): ViewContext => ({
    state: log.state,
    now: log.now(),
    isConnected: (id) => acting?.links.isConnected(id) ?? false,
    lastSeenAt: (id) => acting?.links.lastSeenAt(id),
    pendingReason: (job, i) => acting?.framework.pendingReason(job, i),
    pendingWhy: (job, i) => acting?.framework.pendingWhy(job, i),
    usageOf: (taskId) => acting?.links.usageOf(taskId),
    frameworkConnected: (id) => acting?.externals.isConnected(id) ?? false,
  });
  // self.url is known once the server listens (the port may be 0).
  const self = { masterId, url: '' };
  const leadership: Leadership = {
    self,
    leading: () => acting !== undefined && (election === undefined || election.isLeader()),
    leader: () => (election === undefined ? { masterId, url: self.url, epoch: 0 } : election.leader()),
  };
  const info = () => {
    const leader = election === undefined ? undefined : election.leader();
    return {
      masterId,
      version: VERSION,
      startedAt,
      logIndex: log.lastIndex,
      authentication: authOn ? ('tokens' as const) : ('open' as const),
      ...(leader === undefined ? {} : { leader: leader.url, epoch: leader.epoch }),
      ...(election === undefined ? {} : { masters: registry?.masters() ?? [] }),
      ...(dns === undefined ? {} : { dns: { port: dns.port, domain: dnsDomain } }),
    };
  };
  let registry: MasterRegistry | undefined;
  metrics.attach({
    log,
    startedAt,
    leading: () => leadership.leading(),
    epoch: () => election?.leader()?.epoch ?? 0,
    isConnected: (id) => acting?.links.isConnected(id) ?? false,
    frameworkConnected: (id) => acting?.externals.isConnected(id) ?? false,
    offers: () => acting?.cycle.stats,
    launched: () => acting?.framework.launched ?? 0,
    queuedLaunches: () => acting?.links.queuedLaunches() ?? 0,
  });

  const router = new Router(logger.child('http'), (answered) => metrics.observeRequest(answered));
  router.useAuth(masterAuth({ state: () => log.state, now: () => log.now(), enabled: authOn, allowedHosts: opts.allowedHosts ?? [] }));
  router.add('GET', '/health', ({ res }) => sendJson(res, 200, { ok: true, masterId, version: VERSION, leading: leadership.leading() }), { public: true });
  addLeaderRoutes(router, leadership);
  addAclRoutes(router, { log, open: () => !authOn });
  router.add('GET', '/api/v1/cell', async ({ res, url }) => {
    // etcd's health is asked for when the view is built (shared for a second), not polled forever.
    const etcd = await registry?.etcdHealth();
    const cell = cellView(view(), { ...info(), ...(etcd === undefined ? {} : { etcd }) });
    // ?agents=false: the figures without the list of every agent (the UI's cell page on a large cell).
    sendJson(res, 200, url.searchParams.get('agents') === 'false' ? { ...cell, agents: [] } : cell);
  });
  addAgentRoutes(router, { view });
  // Each task's recent states, remembered from the events applied (memory only, as usage is).
  const taskHistory = new TaskHistory();
  log.onAppended((batch) => taskHistory.record(batch));
  addTaskHistoryRoutes(router, { history: taskHistory, known: (id) => log.state.tasks.has(id) });
  router.add('POST', '/api/v1/agent', ({ req, res }) => leading().links.handle(req, res), { selfAuthenticated: true });
  const policy: JobPolicy = {
    dockerVolumes: opts.dockerVolumes ?? [],
    cronMinIntervalSecs: opts.cronMinIntervalSecs ?? CRON_DEFAULTS.minIntervalSecs,
    cronTimezone: opts.cronTimezone ?? 'UTC',
  };
  addJobRoutes(router, { log, view, policy });
  addEndpointRoutes(router, { log });
  // Mesos-DNS's HTTP API, for tools written for it: the same names the DNS server answers.
  addMesosDnsRoutes(router, {
    state: () => log.state,
    stateIndex: () => log.appliedIndex,
    masters: () => mastersForDns(),
    self: advertisedHost,
    domain: dnsDomain,
    version: VERSION,
  });
  addUpdateRoutes(router, log, policy);
  addRunRoutes(router, log);
  addQuotaRoutes(router, { log });
  addSnapshotRoutes(router, { log });
  addHostRoutes(router, { log });
  addPlanRoutes(router, {
    policy,
    log,
    placementOptions: () => leading().framework.placementOptions(PLAN_PREEMPTION_BUDGET),
    slackOf: (id) => leading().links.slackOf(id),
    isConnected: (id) => acting?.links.isConnected(id) ?? false,
  });
  // Agents' API tokens live in the acting leader's links, in memory only.
  // So are the agents' word that their port serves TLS; the master's --tls-ca verifies them.
  const agentCalls = {
    apiTokenOf: (agentId: string): string | undefined => acting?.links.apiTokenOf(agentId),
    tlsOf: (agentId: string): boolean => acting?.links.tlsOf(agentId) ?? false,
    ...(opts.agentCa === undefined ? {} : { agentDispatcher: await trustingDispatcher(opts.agentCa) }),
  };
  addFileRoutes(router, { log, logger: logger.child('files'), ...agentCalls });
  addExecRoutes(router, { log, logger: logger.child('exec'), ...agentCalls });
  addEventRoutes(router, log, opts.recentEvents);
  addSchedulerRoutes(router, () => leading().externals);
  addFrameworkRoutes(router, { log, externals: () => acting?.externals, leading: () => leading().externals, offers: (id) => acting?.book.outstanding(id) ?? [] });
  // The Mesos operator API and the legacy /master/state that existing tools (mesos-dns, dashboards) read.
  addMesosStateRoutes(router, {
    state: () => log.state,
    masterId,
    selfUrl: () => self.url,
    leader: () => leadership.leader(),
    startedAt,
    electedAt: () => (leadership.leading() ? electedAt : undefined),
    isConnected: (id) => acting?.links.isConnected(id) ?? false,
    frameworkConnected: (id) => acting?.externals.isConnected(id) ?? false,
    version: VERSION,
    ...(opts.roleWeights === undefined ? {} : { roleWeights: opts.roleWeights }),
    now: () => log.now(),
    onAppended: (fn) => log.onAppended(fn),
  });
  // The web UI at / and its pages' addresses (dist/ui/, built by scripts/bundle-ui.mjs).
  addUiRoutes(router);
  router.add('GET', '/metrics', async ({ res }) => {
    const text = await metrics.render();
    res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE });
    res.end(text);
  });
  permitReads(router, log);

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const refused = opts.tls?.clientCa === undefined ? undefined : refusedClientCertificate(req);
    if (refused !== undefined) {
      req.resume();
      sendJson(res, refused.status, refused.toBody());
      return;
    }
    // A standby serves only where-is-the-leader, health and metrics; the rest goes to the leader.
    if (answerAsStandby(leadership, req, res)) return;
    router.handle(req, res).catch((e: unknown) => logger.error('request handler failed', { error: String(e) }));
  };
  // One handler whatever the transport: REST, the agent link, the Mesos APIs and the status page
  // are all served over HTTPS when the master has a certificate.
  const server: Server =
    opts.tls === undefined
      ? createServer(handler)
      : createHttpsServer(
          {
            cert: opts.tls.cert,
            key: opts.tls.key,
            // Asked for, not required: tokens stay the identity, and a client without a certificate is served.
            ...(opts.tls.clientCa === undefined ? {} : { ca: opts.tls.clientCa, requestCert: true, rejectUnauthorized: false }),
          },
          handler,
        );
  // A client has 15 s for its headers and 60 s for its whole request (bodies have their own, shorter
  // deadline: body.ts): node's defaults (60 s, 300 s) let a slow client hold a connection far longer.
  // Streams are answers, not requests, so they run as long as they like.
  server.headersTimeout = 15_000;
  server.requestTimeout = 60_000;
  try {
    await listen(server, opts.port, opts.host);
  } catch (e) {
    stopActing();
    await store.close();
    throw e;
  }
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  const url = `${opts.tls === undefined ? 'http' : 'https'}://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
  self.url = opts.advertiseUrl?.replace(/\/+$/, '') ?? url;

  // Every master answers DNS, a standby from the state it follows: a resolver may list them all.
  if (opts.dnsPort !== undefined) {
    try {
      dns = await startDnsServer({
        host: opts.host,
        port: opts.dnsPort,
        domain: dnsDomain,
        ttlSecs: opts.dnsTtlSecs ?? DEFAULT_DNS_TTL_SECS,
        forward: opts.dnsForward ?? [],
        state: () => log.state,
        // Answers are cached per name until the log moves on: a standby's follows the leader's.
        stateIndex: () => log.appliedIndex,
        // With the events, a job's cached answers are made again only when an event touches it.
        onAppended: (listener) => log.onAppended(listener),
        onReloaded: (listener) => log.onReloaded(listener),
        masters: () => mastersForDns(),
        self: advertisedHost,
        logger: logger.child('dns'),
      });
    } catch (e) {
      stopActing();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
      const code = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
      throw new MusterError('INVALID_ARGUMENT', `cannot serve DNS on ${opts.host}:${opts.dnsPort} (${code}): give another --dns-port, or --no-dns`, { cause: e });
    }
  }

  if (ha !== undefined) {
    const { endpoints, prefix } = parseEtcdUrl(opts.store);
    const ttlSecs = opts.leaderTtlSecs ?? DEFAULT_TTL_SECS;
    const e = new LeaderElection({ endpoints, prefix, candidate: { masterId, url: self.url }, ttlSecs, logger: logger.child('leader') });
    election = e;
    e.onElected((epoch) => {
      takeOver(ha, e, epoch).catch((err: unknown) => {
        logger.error('exiting: elected, but could not take over the log', { error: err instanceof Error ? err.message : String(err) });
        process.exit(1);
      });
    });
    e.onDeposed((reason) => {
      if (stopping) return;
      // As a deposed Mesos master does: its state may be ahead of the log and its agents are
      // following another leader; the process supervisor starts it again as a standby.
      logger.error(`exiting: deposed as leader (${reason})`, { masterId, reason });
      process.exit(1);
    });
    e.onLeaderChange((leader) => {
      if (leader === undefined) logger.warn('no leader is known');
      else logger.info('leader', { masterId: leader.masterId, url: leader.url, epoch: leader.epoch, self: leader.masterId === masterId });
    });
    registry = new MasterRegistry({ endpoints, prefix, self: { masterId, url: self.url }, ttlSecs, logger: logger.child('registry'), leader: () => e.leader() });
    registry.start();
    e.start();
  }

  /** takeOver fences the store with this term, promotes the log and starts acting. */
  async function takeOver(etcd: EtcdStore, e: LeaderElection, epoch: number): Promise<void> {
    const fence = e.fence();
    // Deposed already: onDeposed has been told and ends the process.
    if (fence === undefined || stopping) return;
    etcd.setFence(fence);
    await log.promote();
    if (stopping || !e.isLeader()) return;
    acting = act(epoch);
    electedAt = Date.now();
    logger.info(`elected leader, epoch ${epoch}`, { masterId, epoch, logIndex: log.lastIndex, agents: log.state.agents.size, jobs: log.state.jobs.size });
    acting.cycle.kick();
  }

  logger.info(ha === undefined ? 'master started' : 'master started as a standby', {
    masterId,
    url: self.url,
    ...(opts.tls === undefined ? {} : { tls: opts.tls.clientCa === undefined ? 'on' : 'on, client certificates of --tls-client-ca accepted' }),
    store: store.description,
    logIndex: log.lastIndex,
    agents: log.state.agents.size,
    jobs: log.state.jobs.size,
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopping = true;
      stopActing();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await dns?.close();
      await log.flushed();
      // Resigning deletes the leader key, so a standby takes over now rather than after the TTL.
      await registry?.close();
      await election?.close();
      await store.close();
      logger.info('master stopped');
    })();
    return closing;
  };
  log.onFatal((err) => {
    if (err instanceof MusterError && err.code === 'NOT_LEADER') {
      if (stopping) return;
      // Fenced out: another master leads. Exit at once, sending nothing more to agents.
      logger.error('exiting: the log refused a write, another master leads', { error: err.message });
      process.exit(1);
    }
    // The in-memory state is ahead of a log that failed: only a restart from the store is safe.
    logger.error('exiting: the log cannot be written');
    void close().finally(() => process.exit(1));
  });
  acting?.cycle.kick();
  return { url, port, ...(dns === undefined ? {} : { dnsPort: dns.port }), close };
}

/** hostOfUrl is the host of a URL, without the brackets of an IPv6 literal. */
function hostOfUrl(url: string): string {
  return new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
}

/**
 * refusedClientCertificate: with --tls-client-ca, a client that presented a certificate that CA did
 * not sign (or one expired) is refused, as nginx's "ssl_verify_client optional" does; a client that
 * presented none goes on to the token check.
 */
function refusedClientCertificate(req: IncomingMessage): MusterError | undefined {
  const socket = req.socket as TLSSocket;
  if (socket.authorized || typeof socket.getPeerCertificate !== 'function') return undefined;
  const peer = socket.getPeerCertificate();
  if (peer === null || Object.keys(peer).length === 0) return undefined;
  const why = socket.authorizationError instanceof Error ? socket.authorizationError.message : String(socket.authorizationError ?? 'not verified');
  return new MusterError('UNAUTHENTICATED', `the client certificate was refused: it is not signed by this master's --tls-client-ca (${why}); send none, or one of the cell's CA`);
}

/** logEvents writes the events an operator wants in the master's log, one line each. */
function logEvents(logger: Logger, batch: readonly LoggedEvent[]): void {
  for (const { event: e } of batch) {
    switch (e.type) {
      case 'JobCreated':
        logger.info('job created', { job: e.spec.job, kind: e.spec.kind, instances: e.spec.instances });
        break;
      case 'KillRequested':
        logger.info(e.restart ? 'restart requested' : 'kill requested', { job: e.job, instances: e.instances.join(','), reason: e.reason });
        break;
      case 'TasksLaunched':
        for (const t of e.tasks) logger.info('task launched', { taskId: t.taskId, agentId: t.agentId });
        break;
      case 'TaskStatusUpdated':
        if (isTerminal(e.status.state) || e.status.state === 'TASK_RUNNING') {
          logger.info('task status', { taskId: e.status.taskId, state: e.status.state, reason: e.status.reason, message: e.status.message });
        }
        break;
      case 'AgentUnreachable':
        logger.warn('agent marked unreachable', { agentId: e.agentId, message: e.message, waiting: e.waiting?.length ?? 0 });
        break;
      case 'UnreachableReplaced':
        logger.info('replacing instances of an unreachable agent', { tasks: Object.keys(e.outcomes).join(',') });
        break;
      case 'QuotaSet':
        logger.info(e.quota === undefined ? 'quota removed' : 'quota set', { role: e.role, ...(e.quota ?? {}) });
        break;
      case 'TasksPreempted':
        for (const p of e.preemptions) logger.info('tasks preempted', { job: p.job, instance: p.instance, agentId: p.agentId, victims: p.victims.join(',') });
        if (e.reclaimed.length > 0) logger.info('revocable tasks reclaimed', { tasks: e.reclaimed.join(',') });
        break;
      case 'HostMaintenance':
        logger.info(e.mode === 'ACTIVE' ? 'hosts activated' : 'hosts draining', { hosts: e.hostnames.join(',') });
        break;
      case 'AgentRegistered':
        break;
    }
  }
}

function validate(opts: MasterOptions): void {
  const positive = (v: number, flag: string): void => {
    if (!Number.isFinite(v) || v <= 0) throw new MusterError('INVALID_ARGUMENT', `${flag} must be a positive number of seconds`);
  };
  positive(opts.agentTimeoutSecs, '--agent-timeout');
  if (opts.offerTimeoutSecs !== undefined) positive(opts.offerTimeoutSecs, '--offer-timeout');
  positive(opts.heartbeatSecs, '--heartbeat');
  if (opts.heartbeatSecs * 2 > opts.agentTimeoutSecs) {
    throw new MusterError('INVALID_ARGUMENT', `--heartbeat ${opts.heartbeatSecs} must be at most half of --agent-timeout ${opts.agentTimeoutSecs}`);
  }
  validateHa(opts);
  if (opts.tls !== undefined) checkServerTls(opts.tls);
  if (!Number.isInteger(opts.snapshotEvery) || opts.snapshotEvery < 1) {
    throw new MusterError('INVALID_ARGUMENT', 'snapshotEvery must be a positive whole number');
  }
  validateScheduling(opts);
}

/** validateHa checks the HA flags: they only mean something with an etcd store. */
function validateHa(opts: MasterOptions): void {
  const etcd = opts.store.startsWith('etcd://');
  if (opts.leaderTtlSecs !== undefined) {
    if (!etcd) throw new MusterError('INVALID_ARGUMENT', '--leader-ttl needs HA masters: give --store etcd://HOST:PORT,.../PREFIX');
    const ttl = opts.leaderTtlSecs;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_LEADER_TTL_SECS) {
      throw new MusterError('INVALID_ARGUMENT', `--leader-ttl must be a whole number of seconds from 1 to ${MAX_LEADER_TTL_SECS}, not ${ttl}`);
    }
  }
  if (opts.advertiseUrl !== undefined) {
    if (!etcd) throw new MusterError('INVALID_ARGUMENT', '--advertise-url needs HA masters: give --store etcd://HOST:PORT,.../PREFIX');
    let u: URL | undefined;
    try {
      u = new URL(opts.advertiseUrl);
    } catch {
      u = undefined;
    }
    if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.host === '' || u.pathname !== '/' || u.search !== '' || u.hash !== '' || opts.advertiseUrl.length > 1024) {
      throw new MusterError('INVALID_ARGUMENT', `--advertise-url "${opts.advertiseUrl}" must be http://HOST:PORT (or https://), with no path`);
    }
  }
}

/** validateScheduling checks the scheduling flags, each with a one-line reason naming the flag. */
function validateScheduling(opts: MasterOptions): void {
  const L = SCHEDULING_LIMITS;
  const wholeAtMost = (v: number | undefined, max: number, flag: string, min: number): void => {
    if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) {
      throw new MusterError('INVALID_ARGUMENT', `${flag} must be a whole number from ${min} to ${max}, not ${v}`);
    }
  };
  wholeAtMost(opts.sampleSize, L.sampleSize, '--sample-size', 0);
  wholeAtMost(opts.preemptionsPerMinute, L.preemptionsPerMinute, '--preemptions-per-minute', 0);
  wholeAtMost(opts.maxTasksPerPass, L.maxTasksPerPass, 'maxTasksPerPass', 1);
  const weight = (v: unknown, what: string, flag: string, min: 'zero' | 'positive'): void => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (min === 'positive' && v === 0) || v > L.weight) {
      throw new MusterError('INVALID_ARGUMENT', `${flag}: the weight of ${what} must be a number ${min === 'zero' ? 'from 0' : 'above 0 and up'} to ${L.weight}, not ${String(v)}`);
    }
  };
  if (opts.scoreWeights !== undefined) {
    const known = new Set(['fit', 'spread', 'gpu']);
    for (const name of Object.keys(opts.scoreWeights)) {
      if (!known.has(name)) throw new MusterError('INVALID_ARGUMENT', `--score-weights: unknown weight "${name}"; the weights are fit, spread and gpu`);
    }
    for (const name of known) weight((opts.scoreWeights as unknown as Record<string, unknown>)[name], name, '--score-weights', 'zero');
  }
  if (opts.roleWeights !== undefined) {
    const roles = Object.keys(opts.roleWeights);
    if (roles.length > L.roles) throw new MusterError('INVALID_ARGUMENT', `--role-weights: at most ${L.roles} roles`);
    for (const role of roles) weight(opts.roleWeights[role], `role ${role}`, '--role-weights', 'positive');
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (e.code === 'EADDRINUSE') reject(new MusterError('INVALID_ARGUMENT', `port ${port} on ${host} is in use; pick another with --port`));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') reject(new MusterError('INVALID_ARGUMENT', `cannot listen on ${host}: no such local address`));
      else reject(e);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/** schedulerMasterInfo is the master_info of SUBSCRIBED: this master's id and address. */
function schedulerMasterInfo(url: string, masterId: string): ReturnType<typeof mesos.masterInfo> | undefined {
  if (url === '') return undefined;
  const u = new URL(url);
  return mesos.masterInfo({ id: masterId, hostname: u.hostname, ip: u.hostname, port: Number(u.port), version: VERSION });
}
