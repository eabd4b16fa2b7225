// The DNS server: UDP and TCP on one port, answering names in the domain from the cell state
// (records.ts) and relaying the rest to forward resolvers, or refusing them.
//
// Bad input costs bounded work and no state: a packet is read once in place (wire.ts), a datagram
// over 4096 bytes or one too short for a header is dropped, a response (QR set) is dropped so that
// two servers cannot be made to answer each other forever. The only per-client state is a TCP
// connection (capped, with an idle timeout, its buffer at most one message) and a forwarded query
// (capped; over the cap it is answered SERVFAIL at once).

import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from '../../log/index.js';
import type { CellState, LoggedEvent } from '../state/index.js';
import { Answers, Zone } from './records.js';
import { encodeAnswer, encodeRefusal, isInternetClass, readQuery, RCODE, Shuffler, TCP_MAX, TYPE, UDP_MAX, UDP_MIN, type Query } from './wire.js';

export interface DnsOptions {
  /** address to listen on (the master's --host) */
  host: string;
  /** 0 picks a free port (the same one for UDP and TCP) */
  port: number;
  /** default 'muster' */
  domain: string;
  /** default 5 */
  ttlSecs: number;
  /** resolvers 'ip' or 'ip:port' for names outside the domain; empty: REFUSED */
  forward: string[];
  /** the leader's or a following standby's state */
  state: () => CellState;
  /** master URLs (http://host:port); the leader's is in all */
  masters: () => { leader?: string; all: string[] };
  /** this master's advertised address (for ns1.DOMAIN's A record) */
  self: string;
  logger: Logger;
  /**
   * A number that moves whenever the state changes: the event log's appliedIndex. Answers are
   * cached per (name, type) until it moves, and it is the SOA's serial. Without it nothing is
   * cached (every query reads the state) and the serial is the time.
   */
  stateIndex?: () => number;
  /**
   * The event log's onAppended (each batch of events once durable, the state already folded). With
   * it, a job's cached answers outlive changes to other jobs: they are made again only after an
   * event touches their job (or could touch every job: an agent's, a host's, a framework's, an
   * update's). Without it, any change makes every answer again.
   */
  onAppended?: (listener: (events: readonly LoggedEvent[]) => void) => () => void;
  /** The event log's onReloaded (a standby replaced its state): every answer is made again. */
  onReloaded?: (listener: () => void) => () => void;
  /** The least time between rebuilds of the agent and framework names after the state moved (default 1000 ms). */
  indexRefreshMs?: number;
  /** Seed of the answers' shuffle (default: from the clock). */
  seed?: number;
  /** TCP connections open at once (default 256); more are refused by the kernel's accept. */
  maxTcpConnections?: number;
  /** A TCP connection idle this long is closed (default 10 s). */
  tcpIdleMs?: number;
  /** How long a forwarded query waits for the resolvers, all together (default 2000 ms). */
  forwardTimeoutMs?: number;
}

export interface DnsServer {
  port: number;
  close(): Promise<void>;
}

/** MAX_FORWARDS bounds the forwarded queries waiting for an answer at once. */
export const MAX_FORWARDS = 1024;
/** A TCP client this far behind in reading its answers is cut off. */
const MAX_TCP_UNSENT = 1024 * 1024;

/**
 * Responder answers one message. It is synchronous except for forwarded queries, whose answer
 * comes through reply later (or never, for a dropped packet).
 */
export class Responder {
  readonly answers: Answers;
  private readonly shuffler: Shuffler;
  private readonly out = Buffer.allocUnsafe(TCP_MAX);
  private failures = 0;

  constructor(
    readonly o: DnsOptions,
    private readonly forwarder: Forwarder | undefined,
  ) {
    this.answers = new Answers(new Zone(o));
    this.shuffler = new Shuffler(o.seed ?? Date.now());
  }

  /** respond answers msg; tcp: the answer may be up to 64 KiB and is never truncated. */
  respond(msg: Buffer, tcp: boolean, reply: (answer: Buffer) => void): void {
    let answer: Buffer | undefined;
    try {
      answer = this.answer(msg, tcp, reply);
    } catch (e) {
      // A bug, not bad input (bad input is refused above): answer SERVFAIL and keep serving.
      if (this.failures++ % 1000 === 0) this.o.logger.error('DNS query failed', { error: e instanceof Error ? e.stack : String(e), failures: this.failures });
      if (msg.length >= 12 && (msg[2]! & 0x80) === 0) {
        answer = Buffer.from(this.out.subarray(0, encodeRefusal(this.out, msg, { id: msg.readUInt16BE(0), flags: msg.readUInt16BE(2), rcode: RCODE.SERVFAIL })));
      }
    }
    if (answer !== undefined) reply(answer);
  }

  private answer(msg: Buffer, tcp: boolean, reply: (answer: Buffer) => void): Buffer | undefined {
    const p = readQuery(msg);
    if (p.kind === 'drop') return undefined;
    if (p.kind === 'refuse') return this.copy(encodeRefusal(this.out, msg, p));
    const q = p.query;
    const limit = tcp ? TCP_MAX : q.edns ? Math.min(Math.max(q.udpSize, UDP_MIN), UDP_MAX) : UDP_MIN;
    const encode = { limit, truncate: !tcp, ra: this.forwarder !== undefined, shuffler: this.shuffler };
    if (q.edns && q.ednsVersion > 0) {
      // BADVERS: an OPT of version 0 and extended rcode 1, no records (RFC 6891 6.1.3).
      return this.copy(encodeAnswer(this.out, msg, q, { rcode: 0, aa: false, answers: [], shuffle: false }, encode));
    }
    if (!isInternetClass(q) || q.qtype === TYPE.AXFR || q.qtype === TYPE.IXFR) return this.refuse(msg, q, RCODE.REFUSED);
    const a = this.answers.answer(msg, q);
    if (a === 'outside') {
      if (this.forwarder === undefined) return this.refuse(msg, q, RCODE.REFUSED);
      this.forwarder.forward(msg, q, reply);
      return undefined;
    }
    return this.copy(encodeAnswer(this.out, msg, q, a, encode));
  }

  private refuse(msg: Buffer, q: Query, rcode: number): Buffer {
    return this.copy(encodeRefusal(this.out, msg, { id: q.id, flags: q.flags, rcode, query: q }));
  }

  /** copy: the answer leaves the scratch buffer, which the next query writes over. */
  private copy(length: number): Buffer {
    const answer = Buffer.allocUnsafe(length);
    this.out.copy(answer, 0, 0, length);
    return answer;
  }
}

/** Resolver is a forward resolver's address. */
interface Resolver {
  host: string;
  port: number;
  family: 4 | 6;
}

/** parseResolver reads 'ip', 'ip:port', '[ipv6]:port' or a bare IPv6 literal. */
export function parseResolver(text: string): Resolver {
  const bad = (): Error => new Error(`the DNS forward resolver "${text}" is not valid: give an IP address, optionally with :PORT (e.g. 8.8.8.8, 10.0.0.2:5353, [::1]:53)`);
  let host = text;
  let port = 53;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket !== null) {
    host = bracket[1] ?? '';
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (net.isIPv4(text.split(':')[0] ?? '') && text.split(':').length === 2) {
    host = text.split(':')[0] ?? '';
    port = Number(text.split(':')[1]);
  }
  const family = net.isIPv4(host) ? 4 : net.isIPv6(host) ? 6 : 0;
  if (family === 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw bad();
  return { host, port, family };
}

interface Forward {
  clientId: number;
  query: Buffer;
  questionEnd: number;
  tried: number;
  timer: NodeJS.Timeout;
  reply: (answer: Buffer) => void;
}

/**
 * Forwarder relays queries for names outside the domain over UDP: to the first resolver, then,
 * when it has not answered in its share of the timeout, to the next; the first answer from any
 * resolver asked goes back (with the client's id), and none in time is SERVFAIL.
 */
export class Forwarder {
  private readonly pending = new Map<number, Forward>();
  private readonly sockets: { 4?: dgram.Socket; 6?: dgram.Socket } = {};
  private nextId: number;
  private readonly step: number;
  private closed = false;

  constructor(
    private readonly resolvers: Resolver[],
    timeoutMs: number,
    private readonly logger: Logger,
  ) {
    this.step = Math.max(1, Math.floor(timeoutMs / resolvers.length));
    this.nextId = (Date.now() * 7919) & 0xffff;
  }

  forward(msg: Buffer, q: Query, reply: (answer: Buffer) => void): void {
    if (this.closed || this.pending.size >= MAX_FORWARDS) {
      reply(servfail(msg, q));
      return;
    }
    let id = this.nextId;
    for (let i = 0; this.pending.has(id) && i < 0x10000; i++) id = (id + 1) & 0xffff;
    this.nextId = (id + 1) & 0xffff;
    const query = Buffer.from(msg);
    query.writeUInt16BE(id, 0);
    const f: Forward = { clientId: q.id, query, questionEnd: q.questionEnd, tried: 0, reply, timer: setTimeout(() => this.next(id), this.step) };
    f.timer.unref();
    this.pending.set(id, f);
    this.send(f);
  }

  private send(f: Forward): void {
    const r = this.resolvers[f.tried] as Resolver;
    f.tried++;
    this.socket(r.family).send(f.query, r.port, r.host);
  }

  private next(id: number): void {
    const f = this.pending.get(id);
    if (f === undefined) return;
    if (f.tried < this.resolvers.length) {
      f.timer = setTimeout(() => this.next(id), this.step);
      f.timer.unref();
      this.send(f);
      return;
    }
    this.pending.delete(id);
    const q = readQuery(f.query);
    const answer = q.kind === 'query' ? servfail(f.query, q.query) : undefined;
    if (answer !== undefined) {
      answer.writeUInt16BE(f.clientId, 0);
      f.reply(answer);
    }
  }

  private socket(family: 4 | 6): dgram.Socket {
    let s = this.sockets[family];
    if (s === undefined) {
      s = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
      s.on('message', (msg, rinfo) => this.received(msg, rinfo));
      s.on('error', (err) => this.logger.warn('DNS forwarding socket failed', { error: err.message }));
      s.unref();
      this.sockets[family] = s;
    }
    return s;
  }

  /** received takes an answer only from a resolver asked, for a query waiting, with its question. */
  private received(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12 || (msg[2]! & 0x80) === 0) return;
    const id = msg.readUInt16BE(0);
    const f = this.pending.get(id);
    if (f === undefined) return;
    let asked = false;
    for (let i = 0; i < f.tried; i++) {
      const r = this.resolvers[i] as Resolver;
      if (r.port === rinfo.port && net.isIP(rinfo.address) !== 0 && sameAddress(r.host, rinfo.address)) asked = true;
    }
    if (!asked || msg.length < f.questionEnd || msg.compare(f.query, 12, f.questionEnd, 12, f.questionEnd) !== 0) return;
    this.pending.delete(id);
    clearTimeout(f.timer);
    msg.writeUInt16BE(f.clientId, 0);
    f.reply(msg);
  }

  close(): void {
    this.closed = true;
    for (const f of this.pending.values()) clearTimeout(f.timer);
    this.pending.clear();
    for (const s of [this.sockets[4], this.sockets[6]]) s?.close();
  }
}

function sameAddress(a: string, b: string): boolean {
  return a === b || a === b.replace(/^::ffff:/, '');
}

function servfail(msg: Buffer, q: Query): Buffer {
  const out = Buffer.allocUnsafe(q.questionEnd);
  return out.subarray(0, encodeRefusal(out, msg, { id: q.id, flags: q.flags, rcode: RCODE.SERVFAIL, query: q }));
}

/** startDnsServer listens on host:port over UDP and TCP (the same port) and answers until closed. */
export async function startDnsServer(o: DnsOptions): Promise<DnsServer> {
  const resolvers = o.forward.map(parseResolver);
  const forwarder = resolvers.length > 0 ? new Forwarder(resolvers, o.forwardTimeoutMs ?? 2000, o.logger) : undefined;
  const responder = new Responder(o, forwarder);
  const stopAppended = o.onAppended?.((events) => responder.answers.track(events));
  const stopReloaded = o.onReloaded?.(() => responder.answers.reset());
  const family = net.isIPv6(o.host) ? 'udp6' : 'udp4';
  const sockets = new Set<net.Socket>();
  const maxTcp = o.maxTcpConnections ?? 256;
  const idleMs = o.tcpIdleMs ?? 10_000;

  const tcpServer = net.createServer((sock) => serveTcp(sock, responder, idleMs, sockets));
  tcpServer.maxConnections = maxTcp;
  tcpServer.on('error', (err) => o.logger.warn('DNS TCP server failed', { error: err.message }));

  // Port 0: the UDP socket picks one, and TCP takes the same; a few tries if TCP finds it taken.
  let udp: dgram.Socket | undefined;
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    const socket = dgram.createSocket({ type: family });
    try {
      await bindUdp(socket, o.port, o.host);
      port = socket.address().port;
      await listenTcp(tcpServer, port, o.host);
      udp = socket;
      break;
    } catch (e) {
      socket.close();
      if (o.port !== 0 || attempt >= 5 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
        forwarder?.close();
        stopAppended?.();
        stopReloaded?.();
        throw new Error(`the DNS server cannot listen on ${o.host}:${o.port}: ${(e as Error).message}`);
      }
    }
  }
  try {
    udp.setRecvBufferSize(4 * 1024 * 1024);
  } catch {
    // The kernel's limit stands.
  }
  const socket = udp;
  socket.on('message', (msg, rinfo) => {
    if (msg.length > UDP_MAX) return;
    responder.respond(msg, false, (answer) => socket.send(answer, rinfo.port, rinfo.address));
  });
  socket.on('error', (err) => o.logger.warn('DNS UDP socket failed', { error: err.message }));
  o.logger.info('DNS server listening', { host: o.host, port, domain: o.domain, forward: o.forward });

  let closing: Promise<void> | undefined;
  return {
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        forwarder?.close();
        stopAppended?.();
        stopReloaded?.();
        for (const s of sockets) s.destroy();
        socket.close(() => tcpServer.close(() => resolve()));
      })),
  };
}

function bindUdp(socket: dgram.Socket, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port, address: host, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

function listenTcp(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (e: Error): void => reject(e);
    server.once('error', failed);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', failed);
      resolve();
    });
  });
}

/**
 * serveTcp answers a connection's messages (2-byte length, then the message) in order, as many
 * as it sends. Only the message being read is buffered; a client that does not read its answers
 * is cut off once they pile up.
 */
function serveTcp(sock: net.Socket, responder: Responder, idleMs: number, sockets: Set<net.Socket>): void {
  sockets.add(sock);
  sock.setNoDelay(true);
  sock.setTimeout(idleMs, () => sock.destroy());
  sock.on('close', () => sockets.delete(sock));
  sock.on('error', () => sock.destroy());
  let held: Buffer = Buffer.alloc(0);
  const reply = (answer: Buffer): void => {
    if (sock.destroyed) return;
    if (sock.writableLength > MAX_TCP_UNSENT) {
      sock.destroy();
      return;
    }
    const frame = Buffer.allocUnsafe(2 + answer.length);
    frame.writeUInt16BE(answer.length, 0);
    answer.copy(frame, 2);
    sock.write(frame);
  };
  sock.on('data', (chunk: Buffer) => {
    let buf = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
    while (buf.length >= 2 && !sock.destroyed) {
      const n = buf.readUInt16BE(0);
      if (buf.length < 2 + n) break;
      responder.respond(buf.subarray(2, 2 + n), true, reply);
      buf = buf.subarray(2 + n);
    }
    // Keep at most one partial message, copied so that the chunk it came in can go.
    held = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  });
}
