// The master link: the agent's long-lived SUBSCRIBE stream and its calls (UPDATE, HEARTBEAT) to
// the master. The stream is one POST whose response never ends; it must survive hours, masters that
// restart, standbys that redirect to the leader, and networks that drop packets without a reset. So:
// every master in the list is tried in turn with a capped backoff, redirects are followed, and a
// watchdog drops a stream that has been silent for three heartbeat intervals.

import http from 'node:http';
import https from 'node:https';
import { isErrorCode, MusterError } from '../core/index.js';
import type { Logger } from '../log/index.js';
import { AGENT_API_PATH, RecordIODecoder } from '../protocol/index.js';
import { certificateProblem } from '../tls/index.js';
import type { AgentCall, AgentEvent, AgentInfo, ReconciledTask, RunningTask, TaskStatus, TaskUsage } from '../protocol/index.js';

/** Subscribed is the content of a SUBSCRIBED event. */
export type Subscribed = Extract<AgentEvent, { type: 'SUBSCRIBED' }>['subscribed'];

export interface LinkOptions {
  masters: string[];
  /** The id persisted from an earlier run, sent with the first SUBSCRIBE. */
  agentId: string | undefined;
  /** subscription is asked for the agent's info and tasks at every (re)subscribe. */
  subscription(): { agent: AgentInfo; tasks: RunningTask[]; busyPorts?: string };
  onSubscribed(subscribed: Subscribed): void;
  /** The bearer secret of every call (the agent's credential, or a join token before it has one); undefined: none. */
  bearer?: () => string | undefined;
  /** The CA (PEM text) https:// masters' certificates must chain to (default: the system's CAs). */
  ca?: string;
  /** onEvent gets LAUNCH, KILL, ACKNOWLEDGED and SHUTDOWN events, in stream order. */
  onEvent(event: AgentEvent): void;
  /** reconcile lists every task the agent holds, for the RECONCILE it sends every interval the master asks for. */
  reconcile?: () => ReconciledTask[];
  logger: Logger;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

const MAX_REDIRECTS = 5;
/** How many stream events the agent handles in one turn of its event loop (see subscribeAt). */
const EVENTS_PER_TURN = 64;
/** How long a master has to answer a SUBSCRIBE with its first event. */
const SUBSCRIBE_TIMEOUT_MS = 10_000;
/** How long one UPDATE or HEARTBEAT call may take. */
const CALL_TIMEOUT_MS = 10_000;
/** STOPPING is a courtesy: a master slow to take it must not hold up a person's Ctrl-C for long. */
const STOPPING_TIMEOUT_MS = 2_000;
/** Bound on the body of an error answer that we read. */
const MAX_ERROR_BODY = 64 * 1024;
/** NEXT_MASTER_DELAY_MS: the pause before trying the next master of the list after one failed. */
const NEXT_MASTER_DELAY_MS = 100;
/** FAST_RECONNECT_WINDOW_MS: how long after losing its master the agent does not back off further. */
const FAST_RECONNECT_WINDOW_MS = 15_000;

/** Reconcile intervals are clamped to this range, for the same reason. */
const MIN_RECONCILE_SECS = 1;
const MAX_RECONCILE_SECS = 24 * 3600;

/** Heartbeat intervals outside this range are a master's bug; we clamp rather than spin or sleep for days. */
const MIN_HEARTBEAT_SECS = 0.05;
const MAX_HEARTBEAT_SECS = 3600;

/** normalizeMasterUrl accepts "http://h:5050", "https://h" or a bare "h:5050" (http is assumed). */
export function normalizeMasterUrl(text: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new MusterError('INVALID_ARGUMENT', `master URL "${text}" is not a URL like http://127.0.0.1:5050`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MusterError('INVALID_ARGUMENT', `master URL "${text}" must use http or https`);
  }
  return new URL(AGENT_API_PATH, url);
}

/**
 * redirectTarget resolves a Location against the URL that answered it. Mesos masters send a
 * scheme-relative "//host:port/..." which new URL() resolves with the original scheme. A Location
 * that names another path only says where the leader is; we still talk to its agent endpoint.
 */
export function redirectTarget(from: URL, location: string): URL {
  const to = new URL(location, from);
  if (to.protocol !== 'http:' && to.protocol !== 'https:') throw new Error(`redirect to unsupported URL ${location}`);
  return to.pathname === AGENT_API_PATH ? to : new URL(AGENT_API_PATH, to);
}

/** warnNotSubscribed logs why a SUBSCRIBE failed; a refused certificate in one line that says what to do. */
function warnNotSubscribed(logger: Logger, master: URL, err: unknown): void {
  const tls = certificateProblem(err);
  if (tls === undefined) {
    logger.warn('cannot subscribe to the master', { master: master.origin, error: err });
    return;
  }
  const fix = tls.kind === 'untrusted' ? "; give the cell's CA with --tls-ca FILE" : '';
  logger.warn(`cannot subscribe to the master: its certificate ${tls.why} (${tls.code})${fix}`, { master: master.origin });
}

/** MasterLink keeps the agent subscribed to the leading master. */
export class MasterLink {
  private readonly masters: URL[];
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent: https.Agent;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private closed = false;
  private loop: Promise<void> | undefined;
  private id: string | undefined;
  /** The agent endpoint of the master whose stream we hold, once SUBSCRIBED: where calls go. */
  private leader: URL | undefined;
  /** drop ends the current SUBSCRIBE stream with a reason (the watchdog, a 404, close()). */
  private drop: ((why: Error) => void) | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  /** The master's heartbeat interval, from SUBSCRIBED: our heartbeat period and watchdog unit. */
  private heartbeatSecs = 1;
  private heartbeatInFlight = false;
  /** The highest leader epoch subscribed under (HA masters); a stream under a lower one is refused. */
  private highestEpoch = 0;
  /** The current stream's session (from SUBSCRIBED) and the events read on it since: a report's place in the stream. */
  private streamSession: string | undefined;
  private seen = 0;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private reconcileInFlight = false;

  constructor(private readonly options: LinkOptions) {
    if (options.masters.length === 0) throw new MusterError('INVALID_ARGUMENT', 'the agent needs at least one master URL');
    this.masters = options.masters.map(normalizeMasterUrl);
    this.httpsAgent = new https.Agent({ keepAlive: true, ...(options.ca === undefined ? {} : { ca: options.ca }) });
    this.id = options.agentId;
    this.initialBackoffMs = options.initialBackoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 5000;
  }

  /** agentId: the id the master gave us (or the persisted one, before the first SUBSCRIBED). */
  get agentId(): string | undefined {
    return this.id;
  }

  /** subscribed: a stream is open and the master has answered it with SUBSCRIBED. */
  get subscribed(): boolean {
    return this.leader !== undefined;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** resubscribe drops the stream; the loop subscribes again at once. */
  resubscribe(why: string): void {
    if (this.drop === undefined) return;
    this.options.logger.warn('dropping the master stream to subscribe again', { why });
    this.drop(new Error(why));
  }

  /** update sends one status update; resolves when the master has received it (not acknowledged). */
  async update(status: TaskStatus): Promise<void> {
    const agentId = this.id;
    if (!this.subscribed || agentId === undefined) throw new Error('not subscribed to a master');
    await this.call({ type: 'UPDATE', agentId, update: { status } });
  }

  /**
   * usage reports what the tasks consume and which ports other programs hold; a report lost to a
   * dropped link is simply superseded by the next.
   */
  async usage(tasks: TaskUsage[], busyPorts?: string): Promise<void> {
    const agentId = this.id;
    if (!this.subscribed || agentId === undefined) return;
    await this.call({ type: 'USAGE', agentId, usage: { tasks, ...(busyPorts === undefined ? {} : { busyPorts }) } });
  }

  /**
   * stopping tells the master that this agent is stopping, so it offers it nothing more; best
   * effort, bounded: an agent without a master stops all the same.
   */
  async stopping(): Promise<void> {
    const agentId = this.id;
    if (!this.subscribed || agentId === undefined) return;
    await this.call({ type: 'STOPPING', agentId }, STOPPING_TIMEOUT_MS);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.drop?.(new Error('the agent is closing'));
    this.wake?.();
    await this.loop;
    this.endSession();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** run is the subscribe loop; it never rejects and ends only with close(). */
  private async run(): Promise<void> {
    const { logger } = this.options;
    let index = 0;
    let backoff = this.initialBackoffMs;
    /** Masters tried in a row without a subscription since the last success or full pass. */
    let failedInPass = 0;
    /** When the last subscription ended: the leader just went, and a new one comes within seconds. */
    let lostAt = Number.NEGATIVE_INFINITY;
    while (!this.closed) {
      const master = this.masters[index % this.masters.length] as URL;
      let subscribed = false;
      try {
        subscribed = await this.session(master);
      } catch (err) {
        if (!this.closed) warnNotSubscribed(logger, master, err);
      }
      this.endSession();
      if (this.closed) break;
      // A master that had us subscribed is probably the leader still: retry it first and soon.
      if (subscribed) {
        backoff = this.initialBackoffMs;
        failedInPass = 0;
        lostAt = Date.now();
        await this.sleep(backoff);
        continue;
      }
      index++;
      failedInPass++;
      // The next master in the list is tried almost at once: after a leader dies the agent must
      // find the new one within a failover, not after a backoff that doubled at each dead or
      // standby master on the way. Only a whole pass over the list without success backs off.
      if (failedInPass < this.masters.length) {
        await this.sleep(Math.min(backoff, NEXT_MASTER_DELAY_MS));
        continue;
      }
      failedInPass = 0;
      await this.sleep(backoff);
      // Right after losing a master the agent keeps polling at the first pace: a failover elects a
      // new leader within a few seconds, and a doubled wait would miss it by as much again.
      if (Date.now() - lostAt > FAST_RECONNECT_WINDOW_MS) backoff = Math.min(backoff * 2, this.maxBackoffMs);
    }
  }

  /** session subscribes at one master, following redirects; resolves when its stream ends. */
  private async session(master: URL): Promise<boolean> {
    let target = master;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const outcome = await this.subscribeAt(target);
      if (outcome.redirect === undefined) return outcome.subscribed;
      this.options.logger.info('following the master redirect', { from: target.origin, to: outcome.redirect.origin });
      target = outcome.redirect;
    }
    throw new Error(`more than ${MAX_REDIRECTS} redirects`);
  }

  private subscribeAt(target: URL): Promise<{ subscribed: boolean; redirect?: URL }> {
    const { logger } = this.options;
    return new Promise((resolve, reject) => {
      let subscribed = false;
      let settled = false;
      const finish = (err: unknown): void => {
        if (settled) return;
        settled = true;
        this.endSession();
        if (!subscribed) {
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (!this.closed) logger.warn('lost the master stream', { master: target.origin, error: err });
        resolve({ subscribed: true });
      };

      const call: AgentCall = { type: 'SUBSCRIBE', subscribe: this.subscribeBody() };
      const req = this.request(target, { accept: 'application/recordio' });
      // finish first, so the reason logged is ours and not the socket error the destroy causes.
      const drop = (why: Error): void => {
        finish(why);
        req.destroy();
      };
      this.drop = drop;
      this.armWatchdog(SUBSCRIBE_TIMEOUT_MS, 'the master did not answer the SUBSCRIBE');
      // An error answer is being read: its message, not the close that follows it, is the reason.
      let refusal = false;
      req.on('error', finish);
      req.on('close', () => {
        if (!refusal) finish(new Error('the connection closed'));
      });
      req.on('response', (res) => {
        res.on('error', finish);
        const status = res.statusCode ?? 0;
        refusal = status !== 200 && (status < 300 || status >= 400);
        if (status >= 300 && status < 400) {
          res.resume();
          const location = res.headers.location;
          if (location === undefined) {
            finish(new Error(`the master answered ${status} without a Location`));
            return;
          }
          try {
            const redirect = redirectTarget(target, location);
            settled = true;
            this.endSession();
            req.destroy();
            resolve({ subscribed: false, redirect });
          } catch (err) {
            finish(err);
          }
          return;
        }
        if (status !== 200) {
          readBody(res).then(
            (text) => finish(new Error(`the master refused the SUBSCRIBE: ${describeAnswer(status, text)}`)),
            finish,
          );
          return;
        }
        const decoder = new RecordIODecoder();
        // Events are handled EVENTS_PER_TURN at a time, in order, with a turn of the event loop
        // between: a burst of a thousand LAUNCHes must not hold the loop that heartbeats need.
        // The stream is paused while a backlog waits, so that the master's side buffers it.
        const inbox: unknown[] = [];
        let next = 0;
        let draining = false;
        const drain = (): void => {
          draining = false;
          for (let n = 0; n < EVENTS_PER_TURN && next < inbox.length; n++) {
            if (settled) {
              inbox.length = 0;
              next = 0;
              return;
            }
            const event = inbox[next++];
            this.seen++;
            this.dispatch(event);
          }
          if (next < inbox.length) {
            draining = true;
            setImmediate(drain);
            return;
          }
          inbox.length = 0;
          next = 0;
          res.resume();
        };
        res.on('data', (chunk: Buffer) => {
          let events: unknown[];
          try {
            events = decoder.push(chunk);
          } catch (err) {
            drop(err instanceof Error ? err : new Error(String(err)));
            return;
          }
          for (const event of events) {
            if (settled) return;
            if (!subscribed) {
              const sub = subscribedOf(event);
              if (sub === undefined) {
                drop(new Error('the first event on the stream was not SUBSCRIBED'));
                return;
              }
              // A master that answers under an older epoch than one we followed was deposed since
              // (it has not learnt it yet): take no command from it and look for the leader elsewhere.
              if (sub.epoch !== undefined && sub.epoch < this.highestEpoch) {
                drop(new Error(`the master's epoch ${sub.epoch} is older than epoch ${this.highestEpoch} subscribed under before`));
                return;
              }
              subscribed = true;
              this.onSubscribed(target, sub);
            } else {
              this.armWatchdog(this.heartbeatMs() * 3, 'no event from the master for 3 heartbeat intervals');
              inbox.push(event);
            }
          }
          if (inbox.length - next > EVENTS_PER_TURN) res.pause();
          if (!draining && next < inbox.length) drain();
        });
        res.on('end', () => finish(new Error('the master ended the stream')));
        res.on('close', () => finish(new Error('the stream closed')));
      });
      req.end(JSON.stringify(call));
    });
  }

  private subscribeBody(): { agent: AgentInfo; tasks: RunningTask[]; busyPorts?: string } {
    const body = this.options.subscription();
    const agent: AgentInfo = { ...body.agent };
    if (this.id !== undefined) agent.agentId = this.id;
    return { ...body, agent };
  }

  private heartbeatMs(): number {
    return this.heartbeatSecs * 1000;
  }

  private onSubscribed(target: URL, sub: Subscribed): void {
    const { logger } = this.options;
    this.id = sub.agentId;
    this.leader = target;
    if (sub.epoch !== undefined) this.highestEpoch = Math.max(this.highestEpoch, sub.epoch);
    const secs = Number(sub.heartbeatIntervalSecs);
    this.heartbeatSecs = Number.isFinite(secs) ? Math.min(Math.max(secs, MIN_HEARTBEAT_SECS), MAX_HEARTBEAT_SECS) : 1;
    logger.info('subscribed to the master', { master: target.origin, agentId: sub.agentId, masterId: sub.masterId });
    this.armWatchdog(this.heartbeatMs() * 3, 'no event from the master for 3 heartbeat intervals');
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.sendHeartbeat(), this.heartbeatMs());
    this.streamSession = sub.session;
    this.seen = 0;
    clearInterval(this.reconcileTimer);
    if (sub.session !== undefined && this.options.reconcile !== undefined) {
      const secs = Math.min(Math.max(sub.reconcileIntervalSecs ?? 30, MIN_RECONCILE_SECS), MAX_RECONCILE_SECS);
      this.reconcileTimer = setInterval(() => this.sendReconcile(), secs * 1000);
    }
    try {
      this.options.onSubscribed(sub);
    } catch (err) {
      logger.error('handling SUBSCRIBED failed', { error: err });
    }
  }

  private sendHeartbeat(): void {
    const agentId = this.id;
    // One heartbeat at a time: a slow master must not pile up calls at every tick.
    if (agentId === undefined || !this.subscribed || this.heartbeatInFlight) return;
    this.heartbeatInFlight = true;
    this.call({ type: 'HEARTBEAT', agentId })
      .catch((err: unknown) => this.options.logger.debug('heartbeat call failed', { error: err }))
      .finally(() => (this.heartbeatInFlight = false));
  }

  /**
   * sendReconcile reports every task the agent holds, with the stream position it was written at,
   * so that the master heals any divergence (a status it missed, a task it lost track of).
   */
  private sendReconcile(): void {
    const agentId = this.id;
    const session = this.streamSession;
    const list = this.options.reconcile;
    if (agentId === undefined || session === undefined || list === undefined || !this.subscribed || this.reconcileInFlight) return;
    this.reconcileInFlight = true;
    this.call({ type: 'RECONCILE', agentId, reconcile: { session, seen: this.seen, tasks: list() } })
      .catch((err: unknown) => this.options.logger.debug('reconcile call failed', { error: err }))
      .finally(() => (this.reconcileInFlight = false));
  }

  private dispatch(event: unknown): void {
    const { logger } = this.options;
    const type = typeof event === 'object' && event !== null ? (event as { type?: unknown }).type : undefined;
    switch (type) {
      case 'HEARTBEAT':
        return;
      case 'LAUNCH':
      case 'KILL':
      case 'ACKNOWLEDGED':
      case 'SHUTDOWN':
        try {
          this.options.onEvent(event as AgentEvent);
        } catch (err) {
          logger.error('handling an event from the master failed', { type, error: err });
        }
        return;
      default:
        logger.warn('ignoring an unknown event from the master', { type: typeof type === 'string' ? type.slice(0, 64) : typeof type });
    }
  }

  /** call posts UPDATE or HEARTBEAT to the leader; a master that forgot us makes us subscribe again. */
  private async call(call: AgentCall, timeoutMs = CALL_TIMEOUT_MS): Promise<void> {
    const target = this.leader;
    if (target === undefined) throw new Error('not subscribed to a master');
    const { status, text } = await this.post(target, call, timeoutMs);
    if (status === 200 || status === 202) return;
    const code = errorCodeOf(text);
    if (status === 404 && code === 'AGENT_NOT_FOUND') this.resubscribe('the master does not know this agent');
    else if (status === 401 || status === 403) this.resubscribe(`the master refused this agent's credential: ${describeAnswer(status, text)}`);
    else if (status >= 300 && status < 400) this.resubscribe('the master is no longer the leader');
    throw new Error(`the master answered ${call.type} with ${describeAnswer(status, text)}`);
  }

  private post(target: URL, call: AgentCall, timeoutMs: number): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = this.request(target, { accept: 'application/json' });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs / 1000}s`)));
      req.on('error', reject);
      req.on('response', (res) => {
        readBody(res).then((text) => resolve({ status: res.statusCode ?? 0, text }), reject);
      });
      req.end(JSON.stringify(call));
    });
  }

  private request(target: URL, headers: Record<string, string>): http.ClientRequest {
    const secure = target.protocol === 'https:';
    const bearer = this.options.bearer?.();
    const options: http.RequestOptions = {
      method: 'POST',
      agent: secure ? this.httpsAgent : this.httpAgent,
      headers: { 'content-type': 'application/json', ...headers, ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }) },
    };
    return secure ? https.request(target, options) : http.request(target, options);
  }

  private armWatchdog(ms: number, why: string): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.resubscribe(why), ms);
  }

  /** endSession forgets the stream and stops the timers that belong to it. */
  private endSession(): void {
    clearTimeout(this.watchdog);
    clearInterval(this.heartbeat);
    clearInterval(this.reconcileTimer);
    this.watchdog = undefined;
    this.heartbeat = undefined;
    this.reconcileTimer = undefined;
    this.streamSession = undefined;
    this.drop = undefined;
    this.leader = undefined;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}

function subscribedOf(event: unknown): Subscribed | undefined {
  const e = event as { type?: unknown; subscribed?: Partial<Subscribed> } | null;
  if (typeof e !== 'object' || e === null || e.type !== 'SUBSCRIBED' || typeof e.subscribed !== 'object' || e.subscribed === null) {
    return undefined;
  }
  const { agentId, heartbeatIntervalSecs, masterId, epoch, credential, session, reconcileIntervalSecs } = e.subscribed;
  if (typeof agentId !== 'string' || agentId.length === 0 || agentId.length > 256) return undefined;
  return {
    agentId,
    heartbeatIntervalSecs: typeof heartbeatIntervalSecs === 'number' ? heartbeatIntervalSecs : 1,
    masterId: typeof masterId === 'string' ? masterId : '',
    ...(typeof epoch === 'number' && Number.isSafeInteger(epoch) && epoch >= 0 ? { epoch } : {}),
    ...(typeof credential === 'string' && credential.length <= 256 ? { credential } : {}),
    ...(typeof session === 'string' && session.length > 0 && session.length <= 64 ? { session } : {}),
    ...(typeof reconcileIntervalSecs === 'number' && Number.isFinite(reconcileIntervalSecs) ? { reconcileIntervalSecs } : {}),
  };
}

/** readBody reads a small answer, bounded so a broken master cannot fill our memory. */
function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      if (size >= MAX_ERROR_BODY) return;
      chunks.push(chunk);
      size += chunk.length;
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8').slice(0, MAX_ERROR_BODY)));
    res.on('error', reject);
  });
}

function errorCodeOf(text: string): string | undefined {
  try {
    const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    return isErrorCode(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

function describeAnswer(status: number, text: string): string {
  try {
    const error = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    if (error !== undefined && typeof error.message === 'string') return `${status} ${String(error.code)}: ${error.message}`;
  } catch {
    // Not our error format: show the start of the body instead.
  }
  return `${status} ${text.slice(0, 200)}`;
}
