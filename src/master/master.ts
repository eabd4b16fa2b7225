// startMaster wires the master together: the store and the event log, the agent link, the offer
// cycle with the built-in job scheduler, and the HTTP server that serves them all on one port.

import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { MusterError, VERSION, isTerminal } from '../core/index.js';
import { createLogger, type Logger } from '../log/index.js';
import { AgentLinks } from './agents/index.js';
import { EventLog } from './eventlog.js';
import { OfferCycle } from './frameworks/offers.js';
import { addEventRoutes } from './http/events.js';
import { addExecRoutes } from './http/exec.js';
import { addFileRoutes } from './http/files.js';
import { addJobRoutes } from './http/jobs.js';
import { renderMetrics } from './http/metrics.js';
import { addPlanRoutes, PLAN_PREEMPTION_BUDGET } from './http/plan.js';
import { addHostRoutes } from './http/hosts.js';
import { addQuotaRoutes } from './http/quotas.js';
import { Router, sendJson } from './http/router.js';
import { renderStatusPage } from './http/statuspage.js';
import { MusterFramework, startDrainController } from './jobs/index.js';
import { SCHEDULING_LIMITS, schedulingOptionsOf, type MasterHandle, type MasterOptions } from './options.js';
import type { LoggedEvent } from './state/index.js';
import { openStore } from './store/index.js';
import { cellView, type ViewContext } from './views.js';

export async function startMaster(opts: MasterOptions): Promise<MasterHandle> {
  const logger = opts.logger ?? createLogger('master');
  validate(opts);
  const store = openStore(opts.store);
  let log: EventLog;
  try {
    log = await EventLog.open(store, { snapshotEvery: opts.snapshotEvery, logger });
  } catch (e) {
    await store.close();
    throw e;
  }
  const masterId = randomUUID();
  const startedAt = Date.now();
  const links = new AgentLinks(log, { masterId, heartbeatSecs: opts.heartbeatSecs, agentTimeoutSecs: opts.agentTimeoutSecs, logger: logger.child('agents') });
  const scheduling = schedulingOptionsOf(opts);
  const framework = new MusterFramework(log, links, { logger: logger.child('scheduler'), scheduling });
  const cycle = new OfferCycle(log, links, [framework], { masterId, logger: logger.child('allocator'), roleWeights: scheduling.roleWeights });
  links.onAgentChange((agentId) => {
    framework.agentChanged(agentId);
    cycle.agentChanged(agentId);
  });
  log.onAppended(() => {
    cycle.kick();
    // A kill just written (by a user, or by a failed batch job) goes out now, not on the next tick;
    // state.killing is small and each task's KILL is rate-limited, so this costs next to nothing.
    links.sendOwedKills();
  });
  log.onAppended((batch) => logEvents(logger, batch));
  const drain = startDrainController(log, logger.child('drain'));

  const view = (): ViewContext => ({
    state: log.state,
    now: log.now(),
    isConnected: (id) => links.isConnected(id),
    lastSeenAt: (id) => links.lastSeenAt(id),
    pendingReason: (job, i) => framework.pendingReason(job, i),
    pendingWhy: (job, i) => framework.pendingWhy(job, i),
    usageOf: (taskId) => links.usageOf(taskId),
  });
  const info = () => ({ masterId, version: VERSION, startedAt, logIndex: log.lastIndex });

  const router = new Router(logger.child('http'));
  router.add('GET', '/health', ({ res }) => sendJson(res, 200, { ok: true, masterId, version: VERSION }));
  router.add('GET', '/api/v1/cell', ({ res }) => sendJson(res, 200, cellView(view(), info())));
  router.add('POST', '/api/v1/agent', ({ req, res }) => links.handle(req, res));
  addJobRoutes(router, { log, view });
  addQuotaRoutes(router, { log });
  addHostRoutes(router, { log });
  addPlanRoutes(router, {
    log,
    placementOptions: () => framework.placementOptions(PLAN_PREEMPTION_BUDGET),
    slackOf: (id) => links.slackOf(id),
    isConnected: (id) => links.isConnected(id),
  });
  addFileRoutes(router, { log, logger: logger.child('files') });
  addExecRoutes(router, { log, logger: logger.child('exec') });
  addEventRoutes(router, log);
  router.add('GET', '/', ({ res }) => {
    const html = renderStatusPage(view(), { ...info(), store: store.description });
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(html) });
    res.end(html);
  });
  router.add('GET', '/metrics', ({ res }) => {
    const text = renderMetrics(log.state, {
      logIndex: log.lastIndex,
      eventsAppended: log.stats.events,
      batchesAppended: log.stats.batches,
      allocationPasses: cycle.stats.passes,
      offersMade: cycle.stats.offers,
      tasksLaunched: framework.launched,
      connectedAgents: [...log.state.agents.keys()].filter((id) => links.isConnected(id)).length,
      uptimeSecs: Math.round((Date.now() - startedAt) / 1000),
    });
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(text);
  });

  const server = createServer((req, res) => {
    router.handle(req, res).catch((e: unknown) => logger.error('request handler failed', { error: String(e) }));
  });
  try {
    await listen(server, opts.port, opts.host);
  } catch (e) {
    drain.close();
    links.close();
    cycle.close();
    await store.close();
    throw e;
  }
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
  logger.info('master started', { masterId, url, store: store.description, logIndex: log.lastIndex, agents: log.state.agents.size, jobs: log.state.jobs.size });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      drain.close();
      cycle.close();
      links.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await log.flushed();
      await store.close();
      logger.info('master stopped');
    })();
    return closing;
  };
  log.onFatal(() => {
    // The in-memory state is ahead of a log that failed: only a restart from the store is safe.
    logger.error('exiting: the log cannot be written');
    void close().finally(() => process.exit(1));
  });
  cycle.kick();
  return { url, port, close };
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
        logger.warn('agent marked unreachable', { agentId: e.agentId, message: e.message });
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
  positive(opts.heartbeatSecs, '--heartbeat');
  if (opts.heartbeatSecs * 2 > opts.agentTimeoutSecs) {
    throw new MusterError('INVALID_ARGUMENT', `--heartbeat ${opts.heartbeatSecs} must be at most half of --agent-timeout ${opts.agentTimeoutSecs}`);
  }
  if (!Number.isInteger(opts.snapshotEvery) || opts.snapshotEvery < 1) {
    throw new MusterError('INVALID_ARGUMENT', 'snapshotEvery must be a positive whole number');
  }
  validateScheduling(opts);
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
