// External frameworks: schedulers outside the master that speak the Mesos v1 scheduler API
// (POST /api/v1/scheduler, http/scheduler.ts). This module is their side of the master:
//
// - Registration is in the log (FrameworkRegistered / FrameworkRemoved): a master that restarts or
//   takes over knows every framework and its tasks, and counts each one's failover timeout from
//   when it started to lead.
// - Offers: the offer cycle allocates among the built-in framework and the connected external ones
//   (hierarchical DRF) and hands the latter's offers here; the OfferBook holds them (ids, holder,
//   decline filters, suppression, timeouts) until ACCEPT, DECLINE, RESCIND or expiry.
// - ACCEPT: the book checks the offers (outstanding, the framework's, one agent); each LAUNCH's task
//   is checked (resources inside the offers, a task id not in use); commands/launch.ts checks them
//   against the offer and decides the events inside the append; LAUNCH goes to the agent once the
//   append is durable. A task refused is answered with TASK_ERROR (invalid) or TASK_DROPPED (offer
//   gone), as Mesos does.
// - Status updates: each one recorded for a framework task is sent with its uuid and re-sent (every
//   RESEND_SECS, and at once on a re-subscription) until the framework acknowledges it; the ack is
//   an event, so the obligation survives a master restart or failover.

import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { add, EMPTY, MusterError, toView, type Resources } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import { frameRecord, mesos, type TaskInfo } from '../../protocol/index.js';
import type { AllocatorFramework, Offer } from '../../scheduler/index.js';
import type { AgentLinks } from '../agents/index.js';
import { acknowledgeStatus, DEFAULT_TASK_ROLE, frameworkTaskOf, killFrameworkTask, launchFrameworkTasks, registerFramework, removeFramework } from '../commands/frameworks.js';
import { checkOffers, type Launch } from '../commands/launch.js';
import type { EventLog } from '../eventlog.js';
import type { CellState, Event, FrameworkRecord, FrameworkRegistration, LaunchedTask, TaskRecord } from '../state/index.js';
import { authorize, MASTER, type Caller } from '../auth/index.js';
import type { OfferBook } from './book.js';
import type { ExternalOffers } from './types.js';

/** How often unacknowledged status updates are sent again. */
export const RESEND_SECS = 10;
/** The most a framework's event stream may hold unread before the master closes it (a slow or stuck reader). */
export const MAX_STREAM_BUFFER_BYTES = 16 * 1024 * 1024;

interface Session {
  readonly frameworkId: string;
  readonly streamId: string;
  readonly res: ServerResponse;
  readonly heartbeat: NodeJS.Timeout;
  /** Frames one event in the media type the framework asked for. */
  readonly encode: (event: mesos.Event) => Buffer;
}

/** EventEncoding is the media type of a framework's stream: JSON records, or protobuf messages. */
export type EventEncoding = 'json' | 'protobuf';

function encoderOf(encoding: EventEncoding): (event: mesos.Event) => Buffer {
  return encoding === 'protobuf' ? (e) => frameRecord(mesos.encodeProtobufEvent(e)) : (e) => mesos.encodeEvent(e);
}

export interface ExternalFrameworksOptions {
  readonly masterId: string;
  readonly logger: Logger;
  /** The master's one offer book, shared with the offer cycle (which books every offer in it). */
  readonly book: OfferBook;
  readonly heartbeatSecs?: number;
  /** The most a stream may hold unread before it is closed; MAX_STREAM_BUFFER_BYTES by default. */
  readonly maxStreamBufferBytes?: number;
  /** The leading master's address for SUBSCRIBED's master_info. */
  readonly masterInfo: () => mesos.MasterInfo | undefined;
  /** Asks the offer cycle for a pass (a framework subscribed or revived). */
  readonly kick: () => void;
  /** An agent's resources came back from an external framework (declined, expired): offer them again. */
  readonly release: (agentId: string) => void;
}

export class ExternalFrameworks implements ExternalOffers {
  readonly book: OfferBook;
  private readonly sessions = new Map<string, Session>();
  /** When each known framework without a session lost it (or this master began to lead). */
  private readonly disconnectedAt = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private readonly offAppended: () => void;
  private lastResend = 0;
  private closed = false;

  constructor(
    private readonly log: EventLog,
    private readonly links: Pick<AgentLinks, 'send' | 'launch'> & Partial<Pick<AgentLinks, 'expect' | 'unexpect'>>,
    private readonly options: ExternalFrameworksOptions,
  ) {
    this.book = options.book;
    const now = log.now();
    for (const id of log.state.frameworks.keys()) this.disconnectedAt.set(id, now);
    this.offAppended = log.onAppended((batch) => {
      for (const { event } of batch) this.forward(event);
    });
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    this.offAppended();
    clearInterval(this.timer);
    for (const s of this.sessions.values()) this.endSession(s, undefined);
  }

  isConnected(frameworkId: string): boolean {
    return this.sessions.has(frameworkId);
  }

  // ---- the offer cycle's side ------------------------------------------------------------------

  candidates(now: number): AllocatorFramework[] {
    const out: AllocatorFramework[] = [];
    const state = this.log.state;
    for (const s of this.sessions.values()) {
      const f = state.frameworks.get(s.frameworkId);
      if (f === undefined) continue;
      out.push({
        frameworkId: f.frameworkId,
        role: f.roles[0] ?? '*',
        // What is offered counts as held, as in Mesos: a framework sitting on offers is not poor.
        allocated: add(allocatedOf(f), this.book.offeredScalars(f.frameworkId)),
        suppressed: this.book.isSuppressed(f.frameworkId),
        declined: this.book.declinedFor(f.frameworkId, now),
      });
    }
    return out;
  }

  offer(offers: readonly Offer[]): void {
    if (offers.length === 0) return;
    const byFramework = new Map<string, Offer[]>();
    for (const o of offers) {
      const list = byFramework.get(o.frameworkId) ?? [];
      list.push(o);
      byFramework.set(o.frameworkId, list);
    }
    const state = this.log.state;
    for (const [frameworkId, list] of byFramework) {
      const role = state.frameworks.get(frameworkId)?.roles[0] ?? '*';
      this.send(
        frameworkId,
        mesos.offers(
          list.map((o) => {
            const agent = state.agents.get(o.agentId);
            const agentAddress = agent === undefined ? undefined : { ip: agent.address, port: agent.port };
            return mesos.offer({ id: o.offerId, frameworkId, agentId: o.agentId, hostname: o.hostname, resources: o.resources, role, attributes: o.attributes, ...(agentAddress === undefined ? {} : { agentAddress }) });
          }),
        ),
      );
    }
  }

  rescinded(offers: readonly Offer[]): void {
    for (const o of offers) this.send(o.frameworkId, mesos.rescind(o.offerId));
  }

  // ---- calls ---------------------------------------------------------------------------------

  /**
   * subscribe registers a framework (new, or again with its id), durably, then opens its stream on
   * res: SUBSCRIBED first, then every update it has not acknowledged. A newer subscription of the
   * same framework ends the older stream with ERROR "Framework failed over", as Mesos does.
   */
  async subscribe(call: Extract<mesos.Call, { type: 'SUBSCRIBE' }>, res: ServerResponse, encoding: EventEncoding, caller: Caller): Promise<void> {
    const encode = encoderOf(encoding);
    const info = call.subscribe.framework_info;
    const given = info.id?.value ?? call.framework_id?.value;
    if (given !== undefined && call.framework_id !== undefined && info.id !== undefined && call.framework_id.value !== info.id.value) {
      throw new MusterError('INVALID_ARGUMENT', "'framework_id' differs from 'subscribe.framework_info.id'");
    }
    const roles = mesos.frameworkRoles(info);
    const frameworkId = given ?? randomUUID();
    const registration: FrameworkRegistration = {
      frameworkId,
      name: info.name,
      user: info.user,
      roles,
      failoverTimeoutSecs: info.failover_timeout,
      checkpoint: info.checkpoint,
      capabilities: info.capabilities.map((c) => c.type),
      ...(info.principal === undefined ? {} : { principal: info.principal }),
      ...(info.hostname === undefined ? {} : { hostname: info.hostname }),
      ...(info.webui_url === undefined ? {} : { webuiUrl: info.webui_url }),
    };
    const registered = await this.log.submit((s, at) => registerFramework(s, at, caller, registration, given === undefined), caller.principal);
    if (registered === 'unknown') {
      // A framework the master removed (torn down, or past its failover timeout) cannot come back.
      writeStreamHead(res, randomUUID(), encoding);
      res.end(encode(mesos.error(`Framework ${frameworkId} is not known: it has been removed, or never subscribed`)));
      return;
    }
    if (this.closed) throw new MusterError('NOT_LEADER', 'this master stopped leading; retry at the leader');

    const old = this.sessions.get(frameworkId);
    if (old !== undefined) this.endSession(old, 'Framework failed over');
    const streamId = randomUUID();
    writeStreamHead(res, streamId, encoding);
    const heartbeatSecs = this.options.heartbeatSecs ?? mesos.DEFAULT_HEARTBEAT_SECS;
    const heartbeat = setInterval(() => this.send(frameworkId, mesos.heartbeat()), heartbeatSecs * 1000);
    heartbeat.unref();
    const session: Session = { frameworkId, streamId, res, heartbeat, encode };
    this.sessions.set(frameworkId, session);
    this.disconnectedAt.delete(frameworkId);
    if (call.subscribe.suppressed_roles.length > 0) this.book.suppress(frameworkId);
    res.on('close', () => {
      if (this.sessions.get(frameworkId) !== session) return;
      this.endSession(session, undefined);
      this.disconnectedAt.set(frameworkId, this.log.now());
      this.options.logger.info('framework disconnected', { frameworkId });
    });
    res.write(encode(mesos.subscribed(frameworkId, heartbeatSecs, this.options.masterInfo())));
    this.options.logger.info(given === undefined ? 'framework subscribed' : 'framework subscribed again', { frameworkId, name: info.name });
    this.resendUnacked(frameworkId);
    this.options.kick();
  }

  /**
   * call handles every call but SUBSCRIBE, from a framework with a live stream whose id it names
   * (400 or 403 otherwise, as Mesos answers).
   */
  async call(c: Exclude<mesos.Call, { type: 'SUBSCRIBE' }>, streamId: string | undefined, caller: Caller): Promise<void> {
    const frameworkId = c.framework_id.value;
    if (streamId === undefined) throw new MusterError('INVALID_ARGUMENT', "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
    const f = this.log.state.frameworks.get(frameworkId);
    if (f === undefined) throw new MusterError('INVALID_ARGUMENT', 'Framework cannot be found');
    // Only a caller that may register frameworks as its role may speak for it (its stream id is not a credential).
    authorize(this.log.state, caller, 'framework:register', f.roles[0] ?? '*');
    const session = this.sessions.get(frameworkId);
    if (session === undefined) throw new MusterError('FORBIDDEN', 'Framework is not subscribed');
    if (session.streamId !== streamId) {
      throw new MusterError('INVALID_ARGUMENT', `The stream ID '${streamId}' included in this request didn't match the stream ID currently associated with framework ID ${frameworkId}`);
    }
    const now = this.log.now();
    switch (c.type) {
      case 'TEARDOWN':
        await this.remove(frameworkId, 'torn down by the framework', caller);
        return;
      case 'ACCEPT':
        await this.accept(frameworkId, c.accept, now);
        return;
      case 'DECLINE':
        for (const o of this.book.decline(frameworkId, c.decline.offer_ids.map((i) => i.value), c.decline.filters.refuse_seconds, now)) this.options.release(o.agentId);
        return;
      case 'REVIVE':
        this.book.revive(frameworkId);
        this.options.kick();
        return;
      case 'SUPPRESS':
        this.book.suppress(frameworkId);
        for (const o of this.book.rescindFramework(frameworkId)) {
          this.send(frameworkId, mesos.rescind(o.offerId));
          this.options.release(o.agentId);
        }
        return;
      case 'KILL':
        await this.kill(frameworkId, c.kill.task_id.value);
        return;
      case 'ACKNOWLEDGE':
        await this.acknowledge(frameworkId, c.acknowledge);
        return;
      case 'RECONCILE':
        this.reconcile(frameworkId, c.reconcile.tasks.map((t) => t.task_id.value));
        return;
      case 'UPDATE_FRAMEWORK':
      case 'SHUTDOWN':
      case 'MESSAGE':
      case 'REQUEST':
      case 'ACCEPT_INVERSE_OFFERS':
      case 'DECLINE_INVERSE_OFFERS':
      case 'ACKNOWLEDGE_OPERATION_STATUS':
      case 'RECONCILE_OPERATIONS':
        // No custom executors, inverse offers or operations beyond LAUNCH here: accepted and
        // ignored, as Mesos's allocator ignores REQUEST.
        return;
    }
  }

  /** remove tears a framework down: its offers rescinded, its tasks killed, its stream ended. */
  async remove(frameworkId: string, message: string, caller: Caller = MASTER): Promise<void> {
    await this.log.submit((s, at) => removeFramework(s, at, caller, frameworkId, message), caller === MASTER ? undefined : caller.principal);
    for (const o of this.book.forget(frameworkId)) this.options.release(o.agentId);
    const session = this.sessions.get(frameworkId);
    if (session !== undefined) this.endSession(session, `Framework removed: ${message}`);
    this.disconnectedAt.delete(frameworkId);
    this.options.logger.info('framework removed', { frameworkId, message });
  }

  private async accept(frameworkId: string, accept: mesos.Accept, now: number): Promise<void> {
    const ids = accept.offer_ids.map((i) => i.value);
    const tasks: mesos.TaskInfo[] = [];
    for (const op of accept.operations) {
      if (op.type === 'LAUNCH') tasks.push(...op.launch.task_infos);
      else if (op.type === 'LAUNCH_GROUP') tasks.push(...op.launch_group.task_group.tasks);
    }
    const taken = this.book.accept(frameworkId, ids, now);
    if (!taken.ok) {
      // Mesos drops the tasks of an ACCEPT whose offers are not valid, and says so per task.
      for (const t of tasks) this.sendStatus(frameworkId, { taskId: t.task_id.value, state: 'TASK_DROPPED', reason: 'REASON_INVALID_OFFERS', message: taken.message, source: 'SOURCE_MASTER' });
      return;
    }
    const offer = taken.offers[0];
    if (offer === undefined) return;
    const state = this.log.state;
    const f = state.frameworks.get(frameworkId);
    const launches: Launch[] = [];
    const seen = new Set<string>();
    for (const t of tasks) {
      const made = frameworkTaskOf(state, f, offer, t, seen);
      if (typeof made === 'string') {
        this.sendStatus(frameworkId, { taskId: t.task_id.value, state: 'TASK_ERROR', reason: 'REASON_TASK_INVALID', message: made, source: 'SOURCE_MASTER' });
        continue;
      }
      seen.add(t.task_id.value);
      launches.push({ offerId: offer.offerId, task: made });
    }
    const { accepted, refused } = checkOffers(frameworkId, launches, (agentId) => (agentId === offer.agentId ? offer : undefined));
    for (const r of refused) {
      const l = launches.find((x) => x.task.taskId === r.taskId);
      this.sendStatus(frameworkId, { taskId: l?.task.launch?.externalId ?? r.taskId, state: 'TASK_ERROR', reason: 'REASON_TASK_INVALID', message: r.reason, source: 'SOURCE_MASTER' });
    }
    const appended = this.log.submit((s, at) => launchFrameworkTasks(s, at, accepted.map((l) => l.task)));
    // Decided and applied already: on their way from here (see AgentLinks.expect).
    const expected = accepted.map((l) => ({ agentId: l.task.agentId, taskId: l.task.taskId }));
    this.links.expect?.(expected);
    let committed: Awaited<typeof appended>;
    try {
      committed = await appended;
    } catch (err) {
      this.links.unexpect?.(expected);
      throw err;
    }
    for (const t of committed) {
      const info = taskInfoOf(state, t);
      if (info !== undefined) this.links.launch(t.agentId, info);
    }
    // What the tasks left of the offer is declined with the ACCEPT's filters, as in Mesos.
    this.book.filterAfterAccept(frameworkId, offer.agentId, accept.filters.refuse_seconds, now);
    this.options.release(offer.agentId);
  }

  private async kill(frameworkId: string, externalId: string): Promise<void> {
    const found = await this.log.submit((s, at) => killFrameworkTask(s, at, frameworkId, externalId));
    if (found === 'unknown') {
      // Mesos answers a kill of a task it does not know with TASK_LOST from the master.
      this.sendStatus(frameworkId, { taskId: externalId, state: 'TASK_LOST', reason: 'REASON_RECONCILIATION', message: 'Attempted to kill an unknown task', source: 'SOURCE_MASTER' });
    }
  }

  private async acknowledge(frameworkId: string, ack: mesos.Acknowledge): Promise<void> {
    await this.log.submit((s, at) => acknowledgeStatus(s, at, frameworkId, ack.task_id.value, ack.uuid));
  }

  /** reconcile sends the latest state of the tasks named (all of the framework's when none), not to be acknowledged. */
  private reconcile(frameworkId: string, externalIds: readonly string[]): void {
    const state = this.log.state;
    const f = state.frameworks.get(frameworkId);
    if (f === undefined) return;
    const ids = externalIds.length === 0 ? [...f.byExternalId.keys()] : externalIds;
    for (const externalId of ids) {
      const taskId = f.byExternalId.get(externalId);
      const task = taskId === undefined ? undefined : state.tasks.get(taskId);
      if (task === undefined) {
        this.sendStatus(frameworkId, { taskId: externalId, state: 'TASK_LOST', reason: 'REASON_RECONCILIATION', message: 'Reconciliation: Task is unknown', source: 'SOURCE_MASTER' });
        continue;
      }
      this.sendStatus(frameworkId, {
        ...statusOf(task, undefined),
        source: 'SOURCE_MASTER',
        reason: 'REASON_RECONCILIATION',
        message: 'Reconciliation: Latest task state',
      });
    }
  }

  // ---- what the master tells frameworks --------------------------------------------------------

  /** forward sends each recorded status update of a framework task to its framework. */
  private forward(event: Event): void {
    if (event.type !== 'TaskStatusUpdated' && event.type !== 'AgentUnreachable') return;
    const state = this.log.state;
    if (event.type === 'TaskStatusUpdated') {
      const task = state.tasks.get(event.status.taskId);
      if (task?.frameworkId === undefined || task.unacked === undefined) return;
      this.sendStatus(task.frameworkId, statusOf(task, task.unacked));
      return;
    }
    // The master's own update: the agent's tasks are unreachable (not acknowledged; reconcile asks again).
    for (const id of state.agents.get(event.agentId)?.taskIds ?? []) {
      const task = state.tasks.get(id);
      if (task?.frameworkId === undefined) continue;
      this.sendStatus(task.frameworkId, { ...statusOf(task, undefined), source: 'SOURCE_MASTER' });
    }
    // And, as Mesos's master does when it removes an agent, every framework hears that it is lost.
    const lost = mesos.failure({ agentId: event.agentId });
    for (const id of this.sessions.keys()) this.send(id, lost);
  }

  private resendUnacked(frameworkId: string): void {
    const state = this.log.state;
    for (const id of state.frameworks.get(frameworkId)?.taskIds ?? []) {
      const task = state.tasks.get(id);
      if (task?.unacked !== undefined) this.sendStatus(frameworkId, statusOf(task, task.unacked));
    }
  }

  private tick(): void {
    const now = this.log.now();
    for (const o of this.book.expire(now)) {
      this.send(o.frameworkId, mesos.rescind(o.offerId));
      this.options.release(o.agentId);
    }
    if (now - this.lastResend >= RESEND_SECS * 1000) {
      this.lastResend = now;
      for (const id of this.sessions.keys()) this.resendUnacked(id);
    }
    // A framework away past its failover timeout is removed, and its tasks killed.
    for (const [id, since] of this.disconnectedAt) {
      const f = this.log.state.frameworks.get(id);
      if (f === undefined) {
        this.disconnectedAt.delete(id);
        continue;
      }
      if (now - since >= f.failoverTimeoutSecs * 1000) {
        this.disconnectedAt.delete(id);
        this.remove(id, `did not subscribe again within its failover timeout of ${f.failoverTimeoutSecs} s`).catch((e: unknown) =>
          this.options.logger.error('removing a framework failed', { frameworkId: id, error: String(e) }),
        );
      }
    }
  }

  private sendStatus(frameworkId: string, status: mesos.TaskStatusInput): void {
    this.send(frameworkId, mesos.update(status));
  }

  /**
   * send writes one event to the framework's stream. A framework that does not read its stream
   * would have the master buffer for it without end: past MAX_STREAM_BUFFER_BYTES unread, the
   * stream is closed, as a disconnection (its offers go back, its tasks keep running for its
   * failover timeout, its unacknowledged updates are sent again when it subscribes again).
   */
  private send(frameworkId: string, event: mesos.Event): void {
    const s = this.sessions.get(frameworkId);
    if (s === undefined || s.res.writableEnded) return;
    if (s.res.writableLength > (this.options.maxStreamBufferBytes ?? MAX_STREAM_BUFFER_BYTES)) {
      this.options.logger.warn('framework is not reading its event stream; closing it', { frameworkId, buffered: s.res.writableLength });
      s.res.destroy();
      return;
    }
    s.res.write(s.encode(event));
  }

  private endSession(s: Session, error: string | undefined): void {
    clearInterval(s.heartbeat);
    if (this.sessions.get(s.frameworkId) === s) this.sessions.delete(s.frameworkId);
    for (const o of this.book.rescindFramework(s.frameworkId)) this.options.release(o.agentId);
    if (!s.res.writableEnded) {
      if (error !== undefined) s.res.write(s.encode(mesos.error(error)));
      s.res.end();
    }
  }
}

function writeStreamHead(res: ServerResponse, streamId: string, encoding: EventEncoding): void {
  res.writeHead(200, { 'Content-Type': encoding === 'protobuf' ? 'application/x-protobuf' : 'application/json', 'Mesos-Stream-Id': streamId, 'Cache-Control': 'no-cache' });
  res.flushHeaders();
}

/** allocatedOf is what a framework's live tasks hold, for DRF (kept by apply()). */
function allocatedOf(f: FrameworkRecord): Resources {
  return f.used ?? EMPTY;
}

/** statusOf is a framework task's latest status as the framework sees it (its own task id). */
function statusOf(task: TaskRecord, uuid: string | undefined): mesos.TaskStatusInput {
  const reason = task.reason === undefined ? undefined : mesos.mesosReason(task.reason);
  return {
    taskId: task.launch?.externalId ?? task.taskId,
    state: task.state,
    agentId: task.agentId,
    source: 'SOURCE_EXECUTOR',
    timestampMs: task.endedAt ?? task.startedAt ?? task.launchedAt,
    ...(uuid === undefined ? {} : { uuid }),
    ...(reason === undefined ? {} : { reason }),
    ...(task.message === undefined ? {} : { message: task.message }),
    ...(task.healthy === undefined ? {} : { healthy: task.healthy }),
  };
}

/** taskInfoOf is what the agent is sent to run a framework's task. */
export function taskInfoOf(state: CellState, t: LaunchedTask): TaskInfo | undefined {
  const l = t.launch;
  const f = t.frameworkId === undefined ? undefined : state.frameworks.get(t.frameworkId);
  if (l === undefined || f === undefined) return undefined;
  const role = t.job.split('/')[0] ?? DEFAULT_TASK_ROLE;
  return {
    taskId: t.taskId,
    job: t.job,
    instance: 0,
    kind: 'batch',
    role,
    resources: toView(t.resources),
    ports: t.ports,
    processes: [{ name: 'main', cmd: l.cmd }],
    env: { ...l.env, MESOS_TASK_ID: l.externalId, MESOS_FRAMEWORK_ID: f.frameworkId },
    killGraceSecs: l.killGraceSecs,
  };
}

