// startAgent wires the agent together: the work dir, what it detects, the process containerizer,
// the task table, the status updates, its HTTP server and its link to the master. Each part is in
// its own file; this one only decides the order of start and stop.

import os from 'node:os';
import { DOCKER_ATTRIBUTE, DOCKER_BRIDGE_ATTRIBUTE, formatRanges, formatResources, isTaskReason, MusterError, toView, VERSION, type TaskReason } from '../core/index.js';
import { createLogger } from '../log/index.js';
import type { AgentEvent } from '../protocol/index.js';
import { checkServerTls } from '../tls/index.js';
import { loadApiToken } from './apitoken.js';
import { readCredential, saveCredential } from './credential.js';
import { taskDir } from './checkpoint.js';
import { Containerizers, DockerContainerizer, ProcessContainerizer, type DockerAvailability } from './containerizers/index.js';
import { advertiseAddress, detectAttributes, detectResources } from './detect.js';
import { serveExec } from './exec.js';
import { SandboxGc } from './gc.js';
import { Isolator } from './isolation/index.js';
import { MasterLink } from './link.js';
import { AgentMetrics } from './metrics.js';
import { ResourceMonitor } from './monitor.js';
import type { AgentHandle, AgentOptions } from './options.js';
import { startServer, type AgentServer } from './server.js';
import { StatusUpdates } from './statusupdates.js';
import { Tasks } from './tasks.js';
import { prepareWorkDir, readAgentId, workDirProblems, writeAgentId } from './workdir.js';

const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
/** Where the Docker daemon listens unless --docker-socket says otherwise. */
const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
const DEFAULT_RETENTION_SECS = 7 * 24 * 3600;


/** How long close({killTasks}) waits for the master to acknowledge the tasks' terminal updates. */
const CLOSE_ACK_WAIT_MS = 2000;

/** startAgent starts an agent and resolves once it serves HTTP; it subscribes to the master in the background. */
export async function startAgent(opts: AgentOptions): Promise<AgentHandle> {
  const logger = opts.logger ?? createLogger('agent');
  const startedAt = Date.now();
  if (opts.tls !== undefined) checkServerTls(opts.tls);

  const workDir = prepareWorkDir(opts.workDir);
  const apiToken = loadApiToken(workDir);
  let credential = readCredential(workDir);
  const hostname = opts.hostname ?? os.hostname();
  const attributes = detectAttributes(opts.attributes === undefined ? { hostname } : { hostname, flag: opts.attributes });
  const resources = await detectResources(
    opts.resources === undefined ? { workDir, logger } : { workDir, flag: opts.resources, logger },
  );
  const address = advertiseAddress(opts);

  const isolator = await Isolator.create({
    ...(opts.cgroupRoot === undefined ? {} : { cgroupRoot: opts.cgroupRoot }),
    ...(opts.roleUsers === undefined ? {} : { roleUsers: opts.roleUsers }),
    ...(opts.taskUser === undefined ? {} : { taskUser: opts.taskUser }),
    ...(opts.roleUidRange === undefined ? {} : { uidRange: opts.roleUidRange }),
    ...(opts.uidClaimsDir === undefined ? {} : { uidClaimsDir: opts.uidClaimsDir }),
    workDir,
    allowRootTasks: opts.allowRootTasks === true,
    disabled: opts.isolation === 'none',
    logger: logger.child('isolation'),
  });
  for (const problem of workDirProblems(workDir, { otherUsers: isolator.mode !== 'none' })) {
    logger.warn(problem, { workDir });
  }
  const kinds = opts.containerizers ?? ['process'];
  const logMaxBytes = opts.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES;
  const logMaxFiles = opts.logMaxFiles ?? 5;
  const docker = kinds.includes('docker')
    ? new DockerContainerizer({
        workDir,
        socketPath: opts.dockerSocket ?? DEFAULT_DOCKER_SOCKET,
        allowedVolumes: opts.dockerVolumes ?? [],
        ...(opts.dockerBridge === undefined ? {} : { bridgeNetwork: opts.dockerBridge }),
        logMaxBytes,
        logMaxFiles,
        agentId: () => masterLink.agentId,
        // The scheduler places docker tasks by these attributes: tell the master at once.
        onAvailability: (a) => {
          setDockerAttributes(a);
          if (linkStarted) masterLink.resubscribe(a.up ? 'the docker daemon answers again' : 'the docker daemon does not answer');
        },
        logger: logger.child('docker'),
      })
    : undefined;
  const containerizer = new Containerizers(
    kinds.includes('process') ? new ProcessContainerizer({ workDir, isolator, logMaxBytes, logMaxFiles, logger: logger.child('containerizer') }) : undefined,
    docker,
  );
  let linkStarted = false;
  function setDockerAttributes(a: DockerAvailability): void {
    attributes[DOCKER_ATTRIBUTE] = a.up ? 'up' : 'down';
    // While the daemon is down nothing is placed here anyway (docker: down); its bridge is kept as
    // last seen, so that a bridge job can still be created in a cell whose daemons are all down.
    if (!a.up) return;
    if (a.bridge) attributes[DOCKER_BRIDGE_ATTRIBUTE] = 'up';
    else delete attributes[DOCKER_BRIDGE_ATTRIBUTE];
  }
  if (docker !== undefined) setDockerAttributes(await docker.start());
  // A registry of this agent's own (muster dev runs an agent beside its master, tests run several);
  // it reads the parts below only when scraped, once they all exist.
  const metrics = new AgentMetrics(() => ({
    tasksByState: table.countByState(),
    launches: table.launches,
    updatesSent: updates.sent,
    updatesAcknowledged: updates.acknowledged,
    updatesPending: updates.pending().length,
    launchesQueued: table.queuedLaunches,
    healthCheckFailures: table.healthCheckFailures,
    subscribed: masterLink.subscribed,
    uptimeSecs: (Date.now() - startedAt) / 1000,
    isolation: isolator.mode,
    // The monitor keeps an ended task's last figures until its next pass: show running tasks only.
    usage: monitor.usage().filter((u) => table.isRunning(u.taskId)),
    jobOf: (taskId) => table.info(taskId)?.job,
  }));
  // updates, table and masterLink refer to each other through callbacks that run only once all
  // three exist (the link starts last), so the later consts are initialised by then.
  const updates: StatusUpdates = new StatusUpdates({
    send: (status) => masterLink.update(status),
    onAcknowledged: (status) => table.acknowledged(status),
    taskDir: (taskId) => taskDir(workDir, taskId),
    logger: logger.child('updates'),
  });
  const table: Tasks = new Tasks({
    workDir,
    host: address,
    ports: resources.ports,
    gpus: resources.gpus,
    containerizer,
    updates,
    logger,
    reportBusyPorts: (busy) => masterLink.usage([], formatRanges(busy)),
    onStarted: (seconds) => metrics.observeTaskStart(seconds),
    ...(opts.launchConcurrency === undefined ? {} : { launchConcurrency: opts.launchConcurrency }),
  });
  const monitor = new ResourceMonitor({
    workDir,
    containerizer,
    running: () => table.runningTasks(),
    limit: (taskId, limitation) => table.limit(taskId, limitation),
    report: (usage) => masterLink.usage(usage, formatRanges(table.busyPorts())),
    usageIntervalSecs: opts.usageIntervalSecs ?? 10,
    diskIntervalSecs: opts.diskWatchIntervalSecs ?? 15,
    logger: logger.child('monitor'),
  });
  const gc = new SandboxGc({
    workDir,
    retentionSecs: opts.sandboxRetentionSecs ?? DEFAULT_RETENTION_SECS,
    isActive: (taskId) => table.isActive(taskId),
    logger: logger.child('gc'),
  });

  let server: AgentServer | undefined;
  let persistedId = readAgentId(workDir, logger);
  let closing: Promise<void> | undefined;

  const masterLink: MasterLink = new MasterLink({
    masters: opts.masters,
    agentId: persistedId,
    subscription: () => ({
      agent: {
        hostname,
        address,
        port: server?.port ?? opts.port,
        resources: toView(resources),
        attributes,
        version: VERSION,
        isolation: isolator.description,
        apiToken,
        ...(opts.tls === undefined ? {} : { tls: true }),
      },
      tasks: table.running(),
      busyPorts: formatRanges(table.busyPorts()),
    }),
    // The credential once the agent has an id it was issued for; the join token to get them.
    bearer: () => (persistedId !== undefined && credential !== undefined ? credential : opts.joinToken),
    onSubscribed: (sub) => {
      if (sub.credential !== undefined) {
        // Saved before the id: an id on disk always comes with the credential the master holds for it.
        try {
          saveCredential(workDir, sub.credential);
          credential = sub.credential;
        } catch (err) {
          logger.error('cannot keep the credential the master issued; the agent will have to join again', { error: err });
        }
      }
      if (sub.agentId !== persistedId) {
        try {
          writeAgentId(workDir, sub.agentId);
          persistedId = sub.agentId;
        } catch (err) {
          logger.error('cannot persist the agent id; a restart will register as a new agent', { error: err });
        }
      }
      // The master may have lost what it had not acknowledged: send every queue's head again.
      updates.resendAll();
    },
    onEvent: (event) => onEvent(event),
    reconcile: () => table.reconcileList(),
    ...(opts.masterCa === undefined ? {} : { ca: opts.masterCa }),
    logger: logger.child('link'),
  });

  // What a previous agent left is recovered before we subscribe, so that SUBSCRIBE reports it.
  await table.recover();

  try {
    server = await startServer({
      host: opts.host,
      port: opts.port,
      logger: logger.child('http'),
      ...(opts.tls === undefined ? {} : { tls: opts.tls }),
      routes: {
        workDir,
        apiToken,
        agentId: () => masterLink.agentId,
        tasks: () => table.rows(),
        isActive: (taskId) => table.isActive(taskId),
        exec: (req, res) =>
          serveExec(req, res, {
            containerizer,
            isRunning: (taskId) => table.isRunning(taskId),
            stateOf: (taskId) => table.stateOf(taskId),
            environmentOf: (taskId) => {
              const info = table.info(taskId);
              return info === undefined ? undefined : table.environmentOf(info);
            },
            logger: logger.child('exec'),
          }),
        metrics: () => metrics.render(),
      },
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new MusterError('INVALID_ARGUMENT', `Cannot listen on ${opts.host}:${opts.port}: ${code}`, { cause: err });
  }
  const httpServer = server;
  masterLink.start();
  linkStarted = true;
  monitor.start();
  gc.start();
  const url = `${opts.tls === undefined ? 'http' : 'https'}://${address.includes(':') ? `[${address}]` : address}:${httpServer.port}`;
  logger.info('agent started', {
    url,
    workDir,
    isolation: isolator.description,
    resources: formatResources(resources),
    attributes: Object.entries(attributes)
      .map(([k, v]) => `${k}:${v}`)
      .join(';'),
  });

  function onEvent(event: AgentEvent): void {
    switch (event.type) {
      case 'LAUNCH':
        table.launch((event as { launch?: { task?: unknown } }).launch?.task);
        return;
      case 'KILL': {
        const kill = (event as { kill?: Record<string, unknown> }).kill ?? {};
        const taskId = kill['taskId'];
        if (typeof taskId !== 'string' || taskId.length === 0 || taskId.length > 256) {
          logger.warn('ignoring a KILL without a valid task id');
          return;
        }
        const grace = kill['gracePeriodSecs'];
        const options: { graceSecs?: number; reason?: TaskReason } = {};
        if (typeof grace === 'number' && Number.isFinite(grace) && grace >= 0) options.graceSecs = grace;
        if (isTaskReason(kill['reason'])) options.reason = kill['reason'];
        table.kill(taskId, options);
        return;
      }
      case 'ACKNOWLEDGED': {
        const ack = (event as { acknowledged?: Record<string, unknown> }).acknowledged ?? {};
        const taskId = ack['taskId'];
        const uuid = ack['uuid'];
        if (typeof taskId !== 'string' || typeof uuid !== 'string' || !updates.acknowledge(taskId, uuid)) {
          // A duplicate acknowledgement of an update we resent: harmless.
          logger.debug('ignoring an acknowledgement that matches no pending update', { task: String(taskId).slice(0, 256) });
        }
        return;
      }
      case 'SHUTDOWN': {
        const message = (event as { shutdown?: { message?: unknown } }).shutdown?.message;
        logger.warn('the master asked the agent to shut down', { message: typeof message === 'string' ? message.slice(0, 1000) : '' });
        close({ killTasks: true }).catch((err: unknown) => logger.error('shutting down failed', { error: err }));
        return;
      }
      default:
        return;
    }
  }

  async function stop(killTasks: boolean): Promise<void> {
    monitor.stop();
    await gc.stop();
    if (killTasks) {
      // The master first hears that we stop, so it does not launch on us the instances we end.
      await masterLink.stopping().catch((err: unknown) => logger.warn('cannot tell the master that the agent is stopping', { error: err }));
      await table.killAll();
      if (!(await updates.drained(CLOSE_ACK_WAIT_MS))) {
        logger.warn('stopping with status updates the master has not acknowledged', { pending: updates.pending().length });
      }
      await table.settled();
      docker?.detach();
    } else {
      // The tasks run on under their supervisors; the next agent reattaches to them.
      table.stopHealthChecks();
      containerizer.detach();
    }
    await masterLink.close();
    updates.close();
    // Leave no empty cgroup behind; with tasks left running it stays, as it must.
    isolator.removeRootIfEmpty();
    await httpServer.close();
    logger.info('agent stopped');
  }

  function close(options: { killTasks?: boolean } = {}): Promise<void> {
    closing ??= stop(options.killTasks === true);
    return closing;
  }

  return {
    url,
    port: httpServer.port,
    agentId: () => masterLink.agentId,
    close,
  };
}
