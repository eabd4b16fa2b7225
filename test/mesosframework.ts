// A scheduler written against the raw Mesos v1 HTTP API in JSON, as a framework author would with
// nothing but an HTTP client: SUBSCRIBE on one connection read as a RecordIO stream, every other
// call a POST of its own carrying Mesos-Stream-Id. The tests drive the master through it.

import { request, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { RecordIODecoder } from '../src/protocol/index.js';
import { trustingDispatcher } from '../src/tls/index.js';
import { waitFor } from './wait.js';

/** MesosEvent is one event off the stream, as JSON. */
export type MesosEvent = { type: string } & Record<string, unknown>;

export interface Answer {
  status: number;
  body: string;
}

export class RawScheduler {
  readonly events: MesosEvent[] = [];
  /** 307s followed to the leader. */
  redirects = 0;
  frameworkId = '';
  streamId = '';
  private res: IncomingMessage | undefined;
  private ended = false;

  /** The master it talks to: the one given, or the leader a standby's 307 sent it to. */
  private master: string;
  /** The CA (PEM) an https:// master's certificate chains to, as a framework over TLS is given. */
  private readonly ca: string | undefined;
  /** Authorization for a master with authentication: the token, as a bearer credential. */
  private readonly auth: Record<string, string>;

  constructor(master: string, options: { ca?: string; token?: string } = {}) {
    this.master = master;
    this.ca = options.ca;
    this.auth = options.token === undefined ? {} : { Authorization: `Bearer ${options.token}` };
  }

  /**
   * subscribe opens the stream with this framework_info and waits for SUBSCRIBED (or ERROR). A
   * standby answers 307 with the leader in Location (protocol-relative, as Mesos sends it): the
   * scheduler follows it, and sends its later calls there too.
   */
  async subscribe(frameworkInfo: Record<string, unknown>): Promise<MesosEvent> {
    const body = JSON.stringify({ type: 'SUBSCRIBE', ...(frameworkInfo['id'] === undefined ? {} : { framework_id: frameworkInfo['id'] }), subscribe: { framework_info: frameworkInfo } });
    for (let hops = 0; ; hops++) {
      const url = new URL('/api/v1/scheduler', this.master);
      this.res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = requestTo(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...this.auth } }, this.ca, resolve);
        req.on('error', reject);
        req.end(body);
      });
      const location = this.res.headers.location;
      if (this.res.statusCode !== 307 || location === undefined || hops >= 3) break;
      this.res.resume();
      this.redirects++;
      this.master = new URL(location, url).origin;
    }
    if (this.res.statusCode !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of this.res) chunks.push(c as Buffer);
      throw new Error(`SUBSCRIBE answered ${this.res.statusCode}: ${Buffer.concat(chunks).toString()}`);
    }
    this.streamId = String(this.res.headers['mesos-stream-id'] ?? '');
    const decoder = new RecordIODecoder();
    this.res.on('data', (chunk: Buffer) => {
      for (const e of decoder.push(chunk)) this.events.push(e as MesosEvent);
    });
    this.res.on('end', () => (this.ended = true));
    this.res.on('error', () => (this.ended = true));
    const first = await this.next((e) => e.type === 'SUBSCRIBED' || e.type === 'ERROR', 'SUBSCRIBED');
    if (first.type === 'SUBSCRIBED') this.frameworkId = ((first['subscribed'] as { framework_id: { value: string } }).framework_id).value;
    return first;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** disconnect drops the stream, as a scheduler process that dies would. */
  disconnect(): void {
    this.res?.destroy();
  }

  /** call POSTs one call (framework_id filled in) with the stream id; body and headers may be overridden. */
  async call(type: string, fields: Record<string, unknown> = {}, headers: Record<string, string | undefined> = {}): Promise<Answer> {
    const body = JSON.stringify({ type, framework_id: { value: this.frameworkId }, ...fields });
    return post(this.master, body, { 'Content-Type': 'application/json', 'Mesos-Stream-Id': this.streamId, ...this.auth, ...headers }, this.ca);
  }

  /** url is the master it talks to now. */
  get url(): string {
    return this.master;
  }

  /** next waits for the first event (from `from` on) that matches, and returns it. */
  async next(match: (e: MesosEvent) => boolean, what: string, options: { from?: number; timeoutMs?: number } = {}): Promise<MesosEvent> {
    return waitFor(() => this.events.slice(options.from ?? 0).find(match), { what: `${what} on the scheduler stream`, timeoutMs: options.timeoutMs ?? 30_000, intervalMs: 50 });
  }

  /** updates: the UPDATE events' statuses so far. */
  statuses(): Status[] {
    return this.events.filter((e) => e.type === 'UPDATE').map((e) => (e['update'] as { status: Status }).status);
  }

  /** nextOffer waits for an OFFERS event from `from` on and returns its first offer. */
  async nextOffer(from = 0): Promise<Offer> {
    const e = await this.next((x) => x.type === 'OFFERS', 'OFFERS', { from });
    const offer = (e['offers'] as { offers: Offer[] }).offers[0];
    if (offer === undefined) throw new Error('an OFFERS event without offers');
    return offer;
  }

  /** waitStatus waits for an UPDATE of a task into a state, and acknowledges it when it carries a uuid. */
  async waitStatus(taskId: string, state: string, options: { ack?: boolean } = {}): Promise<Status> {
    const s = await waitFor(() => this.statuses().find((x) => x.task_id.value === taskId && x.state === state), { what: `${taskId} to be ${state} on the stream`, timeoutMs: 30_000, intervalMs: 50 });
    if (options.ack !== false && s.uuid !== undefined) {
      const a = await this.call('ACKNOWLEDGE', { acknowledge: { agent_id: s.agent_id, task_id: s.task_id, uuid: s.uuid } });
      if (a.status !== 202) throw new Error(`ACKNOWLEDGE answered ${a.status}: ${a.body}`);
    }
    return s;
  }
}

export interface Offer {
  id: { value: string };
  agent_id: { value: string };
  hostname: string;
  resources: { name: string; type: string; scalar?: { value: number }; ranges?: { range: { begin: number; end: number }[] } }[];
  allocation_info?: { role: string };
}

export interface Status {
  task_id: { value: string };
  state: string;
  agent_id?: { value: string };
  uuid?: string;
  reason?: string;
  message?: string;
  source?: string;
}

/** requestTo starts a node:http request, or a node:https one trusting ca for an https:// URL. */
function requestTo(url: URL, options: RequestOptions, ca: string | undefined, onResponse: (res: IncomingMessage) => void): ClientRequest {
  if (url.protocol !== 'https:') return request(url, options, onResponse);
  return httpsRequest(url, ca === undefined ? options : { ...options, ca }, onResponse);
}

/** post sends a raw body to /api/v1/scheduler with the given headers (undefined ones left out), trusting ca for an https:// master. */
export async function post(master: string, body: string, headers: Record<string, string | undefined>, ca?: string): Promise<Answer> {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) clean[k] = v;
  const url = new URL('/api/v1/scheduler', master);
  const dispatcher = ca === undefined || url.protocol !== 'https:' ? {} : { dispatcher: await trustingDispatcher(ca) };
  // Bytes, not a string: fetch would add a Content-Type of its own to a string body.
  const res = await fetch(url, { method: 'POST', headers: clean, body: Buffer.from(body), signal: AbortSignal.timeout(10_000), ...dispatcher });
  return { status: res.status, body: await res.text() };
}

/** launch is an ACCEPT of one offer with one command task of cpus and mem. */
export function launch(offer: Offer, taskId: string, cmd: string, cpus = 0.1, mem = 32, filters?: { refuse_seconds: number }): Record<string, unknown> {
  return {
    accept: {
      offer_ids: [offer.id],
      operations: [
        {
          type: 'LAUNCH',
          launch: {
            task_infos: [
              {
                name: taskId,
                task_id: { value: taskId },
                agent_id: offer.agent_id,
                resources: [
                  { name: 'cpus', type: 'SCALAR', scalar: { value: cpus } },
                  { name: 'mem', type: 'SCALAR', scalar: { value: mem } },
                ],
                command: { value: cmd },
              },
            ],
          },
        },
      ],
      ...(filters === undefined ? {} : { filters }),
    },
  };
}

/**
 * OperatorStream is an operator API SUBSCRIBE (POST /api/v1), as a dashboard would hold one: the
 * events as they come, SUBSCRIBED first.
 */
export class OperatorStream {
  readonly events: MesosEvent[] = [];
  private res: IncomingMessage | undefined;

  static async open(master: string): Promise<OperatorStream> {
    const s = new OperatorStream();
    s.res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(new URL('/api/v1', master), { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' } }, resolve);
      req.on('error', reject);
      req.end(JSON.stringify({ type: 'SUBSCRIBE' }));
    });
    if (s.res.statusCode !== 200) throw new Error(`operator SUBSCRIBE answered ${s.res.statusCode}`);
    const decoder = new RecordIODecoder();
    s.res.on('data', (chunk: Buffer) => {
      for (const e of decoder.push(chunk)) s.events.push(e as MesosEvent);
    });
    return s;
  }

  async next(match: (e: MesosEvent) => boolean, what: string): Promise<MesosEvent> {
    return waitFor(() => this.events.find(match), { what: `${what} on the operator stream`, timeoutMs: 30_000, intervalMs: 50 });
  }

  close(): void {
    this.res?.destroy();
  }
}
