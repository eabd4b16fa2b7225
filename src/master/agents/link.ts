// AgentLinks is the master's end of the agent link: one long-lived RecordIO stream per agent
// carrying LAUNCH, KILL, ACKNOWLEDGED and HEARTBEAT, and the calls agents make (SUBSCRIBE, UPDATE,
// HEARTBEAT). It records what agents report as events and acknowledges a status update only after
// it is durable, so an agent retries until the master cannot forget it.

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MusterError, formatRanges, isTerminal, parseRanges, type PortRange, type Resources } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import { encodeRecord, type AgentCall, type AgentEvent, type ReconcileReport, type TaskInfo, type TaskStatus, type TaskUsage } from '../../protocol/index.js';
import type { EventLog } from '../eventlog.js';
import { readJson } from '../body.js';
import { hashSecret, secretOf } from '../auth/index.js';
import { checkAgentCredential, markUnreachable, reconcileAgent, recordStatus, registerAgent, replaceUnreachable, type Divergences } from '../commands/agents.js';
import { nextReplaceAt } from '../commands/status.js';
import { killGraceSecs, type AgentRecord } from '../state/index.js';
import { AGENT_CALL_LIMITS, parseAgentCall, resourcesOf, type AgentInfo, type RunningTask } from './calls.js';

const MIB = 1024 * 1024;

/**
 * SLACK_SAFETY is the share of the measured slack that revocable tasks may take. Usage is sampled
 * every few seconds and a task's load moves between samples; keeping a fifth back means a task that
 * grows towards its reservation usually finds the room there before the next sample reclaims
 * revocable work, rather than contending with it.
 */
const SLACK_SAFETY = 0.8;

/** Slack is what an agent's non-revocable tasks reserve and do not use (see slackOf). */
export interface AgentSlack {
  readonly cpusMilli: number;
  readonly memMiB: number;
}
const MAX_STREAM_BUFFER = 16 * 1024 * 1024;

/**
 * LAUNCH pacing: at most a window of launches per agent are outstanding (sent, neither running nor
 * ended yet); the rest wait in the master, in order, and go out as the agent confirms earlier ones.
 * The window starts small and grows by one at each confirmation (doubling per round trip, as TCP's
 * slow start), to a bound: an agent that starts tasks quickly soon has many in flight, and a storm
 * of a thousand launches never lands on one agent at once, where it would starve the agent's event
 * loop of the time its heartbeats need.
 */
const INITIAL_LAUNCH_WINDOW = 32;
const MAX_LAUNCH_WINDOW = 512;

/** LaunchPacer is one agent's LAUNCH window and queue. */
class LaunchPacer {
  window = INITIAL_LAUNCH_WINDOW;
  /** Launches sent on the agent's current stream and not confirmed yet, with the stream position of each. */
  readonly outstanding = new Map<string, number>();
  /** Launches not sent yet, oldest first. */
  readonly queue = new Map<string, TaskInfo>();
  /** Launches decided and in the state, whose append is not durable yet: queued once it is (see expect). */
  readonly expected = new Set<string>();

  get idle(): boolean {
    return this.queue.size === 0 && this.outstanding.size === 0 && this.expected.size === 0;
  }
}

/** Default reconcile interval: how often each agent reports what it holds (see reconcileAgent). */
export const DEFAULT_RECONCILE_INTERVAL_SECS = 30;

export interface AgentLinksOptions {
  masterId: string;
  heartbeatSecs: number;
  agentTimeoutSecs: number;
  logger: Logger;
  /**
   * mayAct is asked synchronously before every send to an agent; false sends nothing. An HA leader
   * passes its election's isLeader(), so that a leader just woken from a SIGSTOP past its lease
   * sends nothing before the master learns it was deposed and exits.
   */
  mayAct?: () => boolean;
  /** epoch is the leader's term (HA masters), sent in SUBSCRIBED so agents refuse older leaders. */
  epoch?: number;
  /**
   * Agents are trusted, not believed: an agent joins with a join token and is issued a credential of
   * its own, and every call for an agent id must bear that agent's credential (commands/agents.ts).
   * Off (a master running open): every agent is believed.
   */
  authenticate?: boolean;
  /** How often agents send RECONCILE (default DEFAULT_RECONCILE_INTERVAL_SECS). */
  reconcileIntervalSecs?: number;
  /** onReconciled hears what each reconciliation found (for /metrics). */
  onReconciled?: (divergences: Divergences) => void;
}

/** AgentConnection is one subscribed agent's open stream. */
class AgentConnection {
  private readonly heartbeat: NodeJS.Timeout;
  closed = false;
  /** This stream's id, sent in SUBSCRIBED: a RECONCILE report names the stream it counts events of. */
  readonly session = randomBytes(8).toString('hex');
  /** Events written after SUBSCRIBED: the stream position an agent's report is compared with. */
  seq = 0;

  constructor(
    readonly agentId: string,
    private readonly res: ServerResponse,
    heartbeatSecs: number,
    private readonly mayAct: () => boolean,
  ) {
    this.heartbeat = setInterval(() => this.send({ type: 'HEARTBEAT' }), heartbeatSecs * 1000);
    this.heartbeat.unref();
  }

  /**
   * send writes one event; false if the stream is gone (the agent will re-subscribe). An agent
   * that stops reading is cut off rather than let the master buffer for it without bound: it
   * re-subscribes and is reconciled, which loses nothing.
   */
  send(event: AgentEvent): boolean {
    if (this.closed || !this.mayAct()) return false;
    if (this.res.writableLength > MAX_STREAM_BUFFER) {
      this.close();
      return false;
    }
    this.res.write(encodeRecord(event));
    if (event.type !== 'SUBSCRIBED') this.seq++;
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.res.end();
  }
}

export class AgentLinks {
  private readonly connections = new Map<string, AgentConnection>();
  /** When each agent was last heard from; survives disconnects so the timeout can run. */
  private readonly lastSeen = new Map<string, number>();
  private readonly startedAt: number;
  private readonly timer: NodeJS.Timeout;
  private readonly lastKillSent = new Map<string, number>();
  private readonly changeListeners = new Set<(agentId: string | undefined) => void>();
  /** Agents that said STOPPING on their current session. */
  private readonly stopping = new Set<string>();
  /** Ports of each agent's ranges held by other programs on its machine, from its reports. */
  private readonly busy = new Map<string, PortRange[]>();
  /** slackOf's answers, by agent, with what they were computed from. */
  private readonly slackCache = new Map<string, { used: Resources; reports: number; slack: AgentSlack }>();
  /** Usage reports received from each agent: a new one makes its slack worth computing again. */
  private readonly usageReports = new Map<string, number>();
  private readonly usage = new Map<string, TaskUsage>();
  /** CPU use of each task between its last two samples, in cores: Δ cpuSecs / Δ seconds. */
  private readonly cpuRate = new Map<string, number>();
  /**
   * Each agent's API token, from its latest SUBSCRIBE: the credential of the master's calls to the
   * agent's /exec and /files/*. In memory only: never in the log, an answer or a log line.
   */
  private readonly apiTokens = new Map<string, string>();
  /** The agents whose port serves HTTPS, from their latest SUBSCRIBE (like the API token, not in the log). */
  private readonly tlsAgents = new Set<string>();
  /** Each agent's LAUNCH window and queue. */
  private readonly pacers = new Map<string, LaunchPacer>();
  /** Tallies for /metrics and `cell status`: reconciliations run, and what they found. */
  readonly reconcileStats = { reconciliations: 0, missing: 0, state: 0, unwanted: 0 };
  /** A replacement of unreachable instances is being appended: the tick does not start another. */
  private replacing = false;
  /**
   * Agents whose SUBSCRIBE is being registered: no LAUNCH goes out on their old stream meanwhile
   * (the registration counted it unsent), and the timer does not take their silence for absence.
   */
  private readonly subscribing = new Set<string>();

  constructor(
    private readonly log: EventLog,
    private readonly options: AgentLinksOptions,
  ) {
    this.startedAt = log.now();
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  /**
   * onAgentChange hears of what the log does not record: an agent's usage report (its slack may
   * have moved: the agent's id), or an agent connecting or disconnecting (undefined).
   */
  onAgentChange(listener: (agentId: string | undefined) => void): void {
    this.changeListeners.add(listener);
  }

  private changed(agentId: string | undefined): void {
    for (const l of this.changeListeners) l(agentId);
  }

  /** apiTokenOf: the agent's API token, for `Authorization: Bearer`; undefined for an agent that sent none. */
  apiTokenOf(agentId: string): string | undefined {
    return this.apiTokens.get(agentId);
  }

  /** tlsOf: the agent said at its latest SUBSCRIBE that its port serves HTTPS. */
  tlsOf(agentId: string): boolean {
    return this.tlsAgents.has(agentId);
  }

  isConnected(agentId: string): boolean {
    return this.connections.has(agentId);
  }

  lastSeenAt(agentId: string): number | undefined {
    return this.lastSeen.get(agentId);
  }

  /** send delivers an event to a connected agent; false if it has no stream now. */
  send(agentId: string, event: AgentEvent): boolean {
    return this.connections.get(agentId)?.send(event) ?? false;
  }

  /**
   * launch sends a task's LAUNCH once the agent's window has room (see LaunchPacer); until then,
   * and while the agent has no stream, it waits here, in order. A task that ends or is to be killed
   * meanwhile is dropped from the queue (its KILL goes out; the agent answers it as unknown).
   */
  launch(agentId: string, task: TaskInfo): void {
    const pacer = this.pacerOf(agentId);
    pacer.expected.delete(task.taskId);
    pacer.queue.set(task.taskId, task);
    this.flushLaunches(agentId);
  }

  /**
   * expect is told of launches as soon as they are decided (the state has them, STAGING), before
   * their append is durable and launch() is called: a reconciliation or a SUBSCRIBE meanwhile must
   * count them on their way, not lost. unexpect undoes it for an append that failed.
   */
  expect(tasks: readonly { agentId: string; taskId: string }[]): void {
    for (const t of tasks) this.pacerOf(t.agentId).expected.add(t.taskId);
  }

  unexpect(tasks: readonly { agentId: string; taskId: string }[]): void {
    for (const t of tasks) {
      const pacer = this.pacers.get(t.agentId);
      pacer?.expected.delete(t.taskId);
      if (pacer?.idle === true) this.pacers.delete(t.agentId);
    }
  }

  private pacerOf(agentId: string): LaunchPacer {
    let pacer = this.pacers.get(agentId);
    if (pacer === undefined) {
      pacer = new LaunchPacer();
      this.pacers.set(agentId, pacer);
    }
    return pacer;
  }

  /** queuedLaunches: how many LAUNCHes wait for their agents' windows (for /metrics). */
  queuedLaunches(): number {
    let n = 0;
    for (const p of this.pacers.values()) n += p.queue.size;
    return n;
  }

  private flushLaunches(agentId: string): void {
    const pacer = this.pacers.get(agentId);
    const conn = this.connections.get(agentId);
    if (pacer === undefined || conn === undefined || conn.closed || this.subscribing.has(agentId)) return;
    const state = this.log.state;
    for (const [taskId, info] of pacer.queue) {
      if (pacer.outstanding.size >= pacer.window) break;
      pacer.queue.delete(taskId);
      const task = state.tasks.get(taskId);
      if (task === undefined || isTerminal(task.state) || task.kill !== undefined || task.agentId !== agentId) continue;
      if (!conn.send({ type: 'LAUNCH', launch: { task: info } })) {
        pacer.queue.set(taskId, info);
        return;
      }
      pacer.outstanding.set(taskId, conn.seq);
    }
    if (pacer.idle) this.pacers.delete(agentId);
  }

  /** confirmLaunch: the agent reported the task running, or ended: its place in the window frees, and the window grows. */
  private confirmLaunch(agentId: string, taskId: string): void {
    const pacer = this.pacers.get(agentId);
    if (pacer?.outstanding.delete(taskId) !== true) return;
    pacer.window = Math.min(MAX_LAUNCH_WINDOW, pacer.window + 1);
    this.flushLaunches(agentId);
  }

  /** inFlight: the task's LAUNCH has not reached the agent as of a report that had seen `seen` events of the current stream. */
  private inFlight(agentId: string, taskId: string, seen: number): boolean {
    const pacer = this.pacers.get(agentId);
    if (pacer === undefined) return false;
    if (pacer.queue.has(taskId) || pacer.expected.has(taskId)) return true;
    const at = pacer.outstanding.get(taskId);
    return at !== undefined && at > seen;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The credential is checked before the body is read: a caller without one costs no parse.
    const bearerHash = this.options.authenticate === true ? bearerHashOf(req) : undefined;
    if (this.options.authenticate === true && bearerHash === undefined) {
      throw new MusterError('UNAUTHENTICATED', 'an agent call must bear the agent\'s credential, or a join token to join with');
    }
    const call = await parseAgentCall(await readJson(req, AGENT_CALL_LIMITS.bytes, { values: AGENT_CALL_LIMITS.jsonValues }));
    if (call.type !== 'SUBSCRIBE' && this.options.authenticate === true) checkAgentCredential(this.log.state, call.agentId, bearerHash);
    switch (call.type) {
      case 'SUBSCRIBE':
        await this.subscribe(call.subscribe.agent, call.subscribe.tasks, call.subscribe.busyPorts, req, res, bearerHash);
        return;
      case 'UPDATE':
        await this.update(call.agentId, call.update.status);
        res.writeHead(202).end();
        return;
      case 'HEARTBEAT':
        this.seen(call.agentId);
        res.writeHead(202).end();
        return;
      case 'USAGE':
        this.seen(call.agentId);
        if (call.usage.busyPorts !== undefined) this.recordBusyPorts(call.agentId, call.usage.busyPorts);
        this.recordUsage(call.agentId, call.usage.tasks);
        res.writeHead(202).end();
        return;
      case 'RECONCILE':
        this.seen(call.agentId);
        await this.reconcile(call.agentId, call.reconcile);
        res.writeHead(202).end();
        return;
      case 'STOPPING':
        this.seen(call.agentId);
        if (!this.stopping.has(call.agentId)) {
          this.stopping.add(call.agentId);
          this.options.logger.info('agent stopping: offering it nothing more', { agentId: call.agentId });
          this.changed(call.agentId);
        }
        res.writeHead(202).end();
        return;
    }
  }

  /**
   * isOfferable: the agent is connected and has not said it is stopping. Only such agents are
   * offered: a stopping agent would refuse every launch (TASK_DROPPED), and the instances its stop
   * ended would be launched on it again and again.
   */
  isOfferable(agentId: string): boolean {
    return this.connections.has(agentId) && !this.stopping.has(agentId);
  }

  /** busyPortsOf: ports of the agent's ranges that other programs on its machine hold, by its last report. */
  busyPortsOf(agentId: string): readonly PortRange[] | undefined {
    return this.busy.get(agentId);
  }

  /** recordBusyPorts keeps what the agent reported (in memory, like usage); a change re-offers the agent. */
  private recordBusyPorts(agentId: string, text: string): void {
    const ranges = parseRanges(text, 'busyPorts');
    const prev = this.busy.get(agentId);
    if (prev !== undefined && formatRanges(prev) === formatRanges(ranges)) return;
    if (ranges.length === 0) this.busy.delete(agentId);
    else this.busy.set(agentId, ranges);
    if (prev !== undefined || ranges.length > 0) {
      this.options.logger.info('ports held by other programs on the agent', { agentId, ports: formatRanges(ranges) });
      this.changed(agentId);
    }
  }

  /** usageOf is the latest usage an agent reported for a task it still runs. */
  usageOf(taskId: string): TaskUsage | undefined {
    const usage = this.usage.get(taskId);
    if (usage === undefined) return undefined;
    const task = this.log.state.tasks.get(taskId);
    if (task === undefined || isTerminal(task.state)) {
      this.usage.delete(taskId);
      this.cpuRate.delete(taskId);
      return undefined;
    }
    return usage;
  }

  /**
   * slackOf estimates what revocable tasks may use on an agent: over its non-revocable live tasks
   * with a measured cpu rate, the sum of what each reserves and does not use (never below 0 per
   * task: one task's overuse does not eat another's slack), times a safety factor. An agent whose
   * tasks have no two samples yet has none: without figures nothing is lent.
   */
  slackOf(agentId: string): AgentSlack {
    const state = this.log.state;
    const agent = state.agents.get(agentId);
    if (agent === undefined) return { cpusMilli: 0, memMiB: 0 };
    // Asked for every agent on every scheduling pass: kept until the agent's tasks change (a new
    // `used`) or it reports usage again, so a pass does not walk every task of the cell.
    const cached = this.slackCache.get(agentId);
    const reports = this.usageReports.get(agentId) ?? 0;
    if (cached !== undefined && cached.used === agent.used && cached.reports === reports) return cached.slack;
    const slack = this.computeSlack(agent);
    this.slackCache.set(agentId, { used: agent.used, reports, slack });
    return slack;
  }

  private computeSlack(agent: AgentRecord): AgentSlack {
    const state = this.log.state;
    let cpusMilli = 0;
    let memMiB = 0;
    for (const taskId of agent.taskIds) {
      const rate = this.cpuRate.get(taskId);
      const usage = this.usage.get(taskId);
      if (rate === undefined || usage === undefined) continue;
      const task = state.tasks.get(taskId);
      if (task === undefined || task.revocable === true || isTerminal(task.state)) continue;
      cpusMilli += Math.max(0, task.resources.cpusMilli - rate * 1000);
      memMiB += Math.max(0, task.resources.memMiB - usage.memBytes / MIB);
    }
    return { cpusMilli: Math.floor(cpusMilli * SLACK_SAFETY), memMiB: Math.floor(memMiB * SLACK_SAFETY) };
  }

  /** hasUsage: some task on the agent has a measured cpu rate, so its slack is an estimate, not a blank. */
  hasUsage(agentId: string): boolean {
    const agent = this.log.state.agents.get(agentId);
    if (agent === undefined) return false;
    for (const taskId of agent.taskIds) if (this.cpuRate.has(taskId)) return true;
    return false;
  }

  /**
   * recordUsage keeps what an agent measured, in memory only: usage is a gauge that the next
   * report replaces, and writing it to the log would bloat it for nothing. An agent may only
   * report on tasks the master placed on it.
   */
  private recordUsage(agentId: string, tasks: TaskUsage[]): void {
    this.usageReports.set(agentId, (this.usageReports.get(agentId) ?? 0) + 1);
    this.changed(agentId);
    for (const u of tasks) {
      const task = this.log.state.tasks.get(u.taskId);
      if (task === undefined || task.agentId !== agentId || isTerminal(task.state)) continue;
      if (!Number.isFinite(u.cpuSecs) || !Number.isFinite(u.memBytes) || !Number.isFinite(u.timestamp) || u.cpuSecs < 0 || u.memBytes < 0) continue;
      const prev = this.usage.get(u.taskId);
      // A rate needs two samples in time order; a counter that went back (a restarted process tree)
      // starts over from this sample.
      if (prev !== undefined && u.timestamp > prev.timestamp && u.cpuSecs >= prev.cpuSecs) {
        this.cpuRate.set(u.taskId, (u.cpuSecs - prev.cpuSecs) / ((u.timestamp - prev.timestamp) / 1000));
      } else if (prev !== undefined && u.timestamp > prev.timestamp) {
        this.cpuRate.delete(u.taskId);
      }
      if (prev === undefined || u.timestamp >= prev.timestamp) this.usage.set(u.taskId, u);
    }
    // Forget tasks that ended; bounded by the number of live tasks.
    if (this.usage.size > this.log.state.tasks.size) {
      for (const id of this.usage.keys()) {
        if (!this.log.state.tasks.has(id)) {
          this.usage.delete(id);
          this.cpuRate.delete(id);
        }
      }
    }
  }

  private seen(agentId: string): void {
    if (!this.connections.has(agentId)) {
      throw new MusterError('AGENT_NOT_FOUND', `agent ${agentId} is not subscribed; subscribe again`);
    }
    this.lastSeen.set(agentId, this.log.now());
  }

  /**
   * subscribe registers the agent (again) and reconciles what it runs with what the master
   * believes: tasks it no longer has are lost, tasks of an unreachable spell it still runs are
   * taken back if their instance was not replaced meanwhile, and tasks nobody wants are killed.
   */
  private async subscribe(
    info: AgentInfo,
    reported: RunningTask[],
    busyPorts: string | undefined,
    req: IncomingMessage,
    res: ServerResponse,
    bearerHash: string | undefined,
  ): Promise<void> {
    const resources = resourcesOf(info);
    // The token and the TLS flag stay here: what registerAgent sees may reach the log.
    const { apiToken, tls, ...described } = info;
    // A credential to issue, should the agent be joining now: only its hash can reach the log.
    const secret = this.options.authenticate === true ? `mac_${randomBytes(32).toString('base64url')}` : undefined;
    const access = secret === undefined ? undefined : { bearerHash, fresh: { secret, hash: hashSecret(secret) } };
    // LAUNCHes still queued for the agent (or decided, on their way to the queue) were never sent:
    // not having them is no loss. Until the new stream is in place, none goes out on the old one.
    const pacer = info.agentId === undefined ? undefined : this.pacers.get(info.agentId);
    const unsent = new Set([...(pacer?.queue.keys() ?? []), ...(pacer?.expected ?? [])]);
    if (info.agentId !== undefined) {
      this.subscribing.add(info.agentId);
      this.lastSeen.set(info.agentId, this.log.now());
    }
    let registered: Awaited<ReturnType<typeof registerAgent>['result']>;
    try {
      registered = await this.log.submit((state, now) => registerAgent(state, now, described, resources, reported, access, unsent));
    } finally {
      if (info.agentId !== undefined) this.subscribing.delete(info.agentId);
    }
    const { agentId, kills, credential } = registered;
    if (apiToken === undefined) this.apiTokens.delete(agentId);
    else this.apiTokens.set(agentId, apiToken);
    if (tls === true) this.tlsAgents.add(agentId);
    else this.tlsAgents.delete(agentId);

    this.connections.get(agentId)?.close();
    // A new session: whatever the agent said before (stopping, busy ports) is replaced by this one.
    this.stopping.delete(agentId);
    this.busy.delete(agentId);
    if (busyPorts !== undefined) this.recordBusyPorts(agentId, busyPorts);
    res.writeHead(200, { 'Content-Type': 'application/recordio', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    const conn = new AgentConnection(agentId, res, this.options.heartbeatSecs, this.options.mayAct ?? (() => true));
    this.connections.set(agentId, conn);
    this.changed(undefined);
    this.lastSeen.set(agentId, this.log.now());
    const onClose = (): void => {
      conn.close();
      if (this.connections.get(agentId) === conn) {
        this.connections.delete(agentId);
        this.stopping.delete(agentId);
        this.changed(undefined);
        this.options.logger.info('agent disconnected', { agentId });
      }
    };
    req.socket.on('close', onClose);
    res.on('error', onClose);
    conn.send({
      type: 'SUBSCRIBED',
      subscribed: {
        agentId,
        heartbeatIntervalSecs: this.options.heartbeatSecs,
        masterId: this.options.masterId,
        ...(this.options.epoch === undefined ? {} : { epoch: this.options.epoch }),
        ...(credential === undefined ? {} : { credential }),
        session: conn.session,
        reconcileIntervalSecs: this.options.reconcileIntervalSecs ?? DEFAULT_RECONCILE_INTERVAL_SECS,
      },
    });
    this.options.logger.info('agent subscribed', { agentId, hostname: info.hostname, address: `${info.address}:${info.port}`, tasks: reported.length });
    for (const k of kills) {
      this.options.logger.info('killing a task the master does not want', { agentId, taskId: k.taskId });
      conn.send({ type: 'KILL', kill: { taskId: k.taskId, gracePeriodSecs: k.grace, reason: 'REASON_TASK_KILLED' } });
    }
    this.sendOwedKills(agentId);
    // A new stream: what was outstanding on the old one was reconciled above; the window starts again.
    const paced = this.pacers.get(agentId);
    if (paced !== undefined) {
      paced.outstanding.clear();
      paced.window = INITIAL_LAUNCH_WINDOW;
      this.flushLaunches(agentId);
    }
  }

  /** reconcile heals what an agent's report shows the master and the agent disagree on (see reconcileAgent). */
  private async reconcile(agentId: string, report: ReconcileReport): Promise<void> {
    const conn = this.connections.get(agentId);
    // A report of another stream counts events the master cannot match: the next one will do.
    if (conn === undefined || conn.session !== report.session) return;
    const { divergences, kills } = await this.log.submit((state, now) => reconcileAgent(state, now, agentId, report, (taskId) => this.inFlight(agentId, taskId, report.seen)));
    const { reconcileStats: stats } = this;
    stats.reconciliations++;
    stats.missing += divergences.missing;
    stats.state += divergences.state;
    stats.unwanted += divergences.unwanted;
    const found = divergences.missing + divergences.state + divergences.unwanted;
    if (found > 0) this.options.logger.warn('reconciliation found the master and the agent apart; healed', { agentId, ...divergences });
    this.options.onReconciled?.(divergences);
    for (const k of kills) {
      this.send(agentId, { type: 'KILL', kill: { taskId: k.taskId, gracePeriodSecs: k.grace, reason: 'REASON_RECONCILIATION' } });
    }
    for (const t of report.tasks) if (t.state === 'TASK_RUNNING' || isTerminal(t.state)) this.confirmLaunch(agentId, t.taskId);
    // A launch the master has given up on (lost, killed) holds no place in the window any more.
    const pacer = this.pacers.get(agentId);
    if (pacer !== undefined) {
      const state = this.log.state;
      for (const taskId of pacer.outstanding.keys()) {
        const task = state.tasks.get(taskId);
        if (task === undefined || isTerminal(task.state) || task.kill !== undefined) pacer.outstanding.delete(taskId);
      }
      this.flushLaunches(agentId);
    }
  }

  /** update records a status update once and acknowledges it (again, for a retry) after it is durable. */
  private async update(agentId: string, status: TaskStatus): Promise<void> {
    this.seen(agentId);
    const { outcome, kill } = await this.log.submit((state, now) => recordStatus(state, now, agentId, status));
    if (outcome === 'backwards') this.options.logger.warn('ignoring a status update that would move a task backwards', { taskId: status.taskId, to: status.state });
    this.send(agentId, { type: 'ACKNOWLEDGED', acknowledged: { taskId: status.taskId, uuid: status.uuid } });
    if (status.state === 'TASK_RUNNING' || isTerminal(status.state)) this.confirmLaunch(agentId, status.taskId);
    if (kill) {
      this.send(agentId, { type: 'KILL', kill: { taskId: status.taskId, gracePeriodSecs: 5, reason: 'REASON_TASK_UNKNOWN' } });
    }
  }

  /**
   * sendOwedKills (re)sends KILL for every task the master asked to end that has not ended,
   * at most every few seconds per task: KILL is idempotent on the agent, and a lost one must not
   * leave a task running.
   */
  sendOwedKills(onlyAgent?: string): void {
    const state = this.log.state;
    const now = this.log.now();
    for (const taskId of state.killing) {
      const task = state.tasks.get(taskId);
      if (task === undefined || task.kill === undefined) continue;
      if (onlyAgent !== undefined && task.agentId !== onlyAgent) continue;
      // A LAUNCH not sent yet is not sent at all; the KILL still goes, and the agent answers it.
      this.pacers.get(task.agentId)?.queue.delete(taskId);
      const last = this.lastKillSent.get(taskId);
      if (onlyAgent === undefined && last !== undefined && now - last < 5000) continue;
      const sent = this.send(task.agentId, {
        type: 'KILL',
        kill: { taskId, gracePeriodSecs: killGraceSecs(state, task.job, task), reason: task.kill.reason },
      });
      if (sent) this.lastKillSent.set(taskId, now);
    }
    for (const id of this.lastKillSent.keys()) if (!state.killing.has(id)) this.lastKillSent.delete(id);
  }

  /** tick marks silent agents unreachable and resends owed kills. */
  private tick(): void {
    const now = this.log.now();
    const timeoutMs = this.options.agentTimeoutSecs * 1000;
    for (const agent of this.log.state.agents.values()) {
      if (!agent.reachable || this.subscribing.has(agent.agentId)) continue;
      const last = this.lastSeen.get(agent.agentId) ?? this.startedAt;
      if (now - last <= timeoutMs) continue;
      const silentSecs = Math.round((now - last) / 1000);
      this.options.logger.warn('agent unreachable', { agentId: agent.agentId, hostname: agent.hostname, silentSecs });
      this.connections.get(agent.agentId)?.close();
      this.connections.delete(agent.agentId);
      this.stopping.delete(agent.agentId);
      this.changed(undefined);
      this.log
        .submit((state, at) => markUnreachable(state, at, agent.agentId, `agent ${agent.hostname} has not been heard from for ${silentSecs}s`))
        .catch((e: unknown) => this.options.logger.error('cannot mark agent unreachable', { error: String(e) }));
    }
    this.replaceDue(now);
    this.sendOwedKills();
  }

  /** replaceDue moves on the instances of unreachable agents that have waited out their jobs' replaceAfterSecs. */
  private replaceDue(now: number): void {
    if (this.replacing) return;
    const due = nextReplaceAt(this.log.state);
    if (due === undefined || due > now) return;
    this.replacing = true;
    this.log
      .submit((state, at) => replaceUnreachable(state, at))
      .then((n) => {
        if (n > 0) this.options.logger.info('replaced instances whose agent stayed unreachable', { instances: n });
      })
      .catch((e: unknown) => this.options.logger.error('cannot replace unreachable instances', { error: String(e) }))
      .finally(() => (this.replacing = false));
  }

  close(): void {
    clearInterval(this.timer);
    for (const conn of this.connections.values()) conn.close();
    this.connections.clear();
  }
}

export type { AgentCall };

/** bearerHashOf is the hash of the request's bearer secret; undefined when it carries none. */
function bearerHashOf(req: IncomingMessage): string | undefined {
  const given = secretOf(req.headers.authorization);
  return given === undefined ? undefined : hashSecret(given.secret);
}
