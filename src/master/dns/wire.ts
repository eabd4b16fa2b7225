// Wire: reading a query and writing an answer, by hand on the hot path. dns-packet (which the
// tests and the forwarder's checks use) decodes into objects and encodes without compression;
// here a query is read in place, with every bound checked before a byte is read, and an answer is
// the question copied back, then records whose owner is a 2-byte pointer to it and whose
// type..rdata part was encoded once and cached (records.ts), so answering costs a few copies.
// Nothing here throws on any input: a packet is read or refused.

import { MAX_LABEL, MAX_NAME } from './names.js';

export const TYPE = { A: 1, NS: 2, SOA: 6, PTR: 12, AAAA: 28, SRV: 33, OPT: 41, IXFR: 251, AXFR: 252, ANY: 255 } as const;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const CLASS_IN = 1;
const CLASS_ANY = 255;

/** The classic UDP limit, and the most this server takes or sends in one datagram (EDNS0). */
export const UDP_MIN = 512;
export const UDP_MAX = 4096;
/** The most a message over TCP may hold (its 2-byte length). */
export const TCP_MAX = 65535;

/** Query is what one packet asks, read in place; its name stays in the packet. */
export interface Query {
  id: number;
  /** The header's flags word as sent. */
  flags: number;
  opcode: number;
  /** Where the question's name ends (its qtype follows). */
  nameEnd: number;
  /** Where the question ends: bytes 12..questionEnd are copied into the answer. */
  questionEnd: number;
  qtype: number;
  qclass: number;
  /** Offsets of the name's labels (their length bytes), leftmost first. */
  labels: number[];
  /** The query carried an OPT record (EDNS0). */
  edns: boolean;
  /** The client's UDP payload size (512 without EDNS). */
  udpSize: number;
  ednsVersion: number;
}

/**
 * Parsed is what readQuery makes of a packet: a query, a refusal with the rcode to answer (the
 * header's id is known), or 'drop' (too short to have an id, or a response).
 */
export type Parsed = { kind: 'query'; query: Query } | { kind: 'refuse'; id: number; flags: number; rcode: number; query?: Query } | { kind: 'drop' };

const DROP: Parsed = { kind: 'drop' };

/**
 * readQuery reads a packet's header, its one question and an OPT record if it has one. Bounded:
 * it reads each byte at most once (names are walked without following pointers).
 */
export function readQuery(buf: Buffer, len: number = buf.length): Parsed {
  if (len < 12) return DROP;
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if ((flags & 0x8000) !== 0) return DROP;
  const opcode = (flags >> 11) & 0xf;
  const qdcount = buf.readUInt16BE(4);
  if (qdcount !== 1) return refusal(id, flags, opcode !== 0 ? RCODE.NOTIMP : RCODE.FORMERR);
  // The question's name: plain labels only (a pointer could only point back into the header).
  const labels: number[] = [];
  let at = 12;
  for (;;) {
    if (at >= len) return refusal(id, flags, RCODE.FORMERR);
    const l = buf[at] as number;
    if (l === 0) break;
    if ((l & 0xc0) !== 0 || l > MAX_LABEL) return refusal(id, flags, RCODE.FORMERR);
    labels.push(at);
    at += 1 + l;
    if (at - 12 + 1 > MAX_NAME) return refusal(id, flags, RCODE.FORMERR);
  }
  const nameEnd = at + 1;
  if (nameEnd + 4 > len) return refusal(id, flags, RCODE.FORMERR);
  const query: Query = {
    id,
    flags,
    opcode,
    nameEnd,
    questionEnd: nameEnd + 4,
    qtype: buf.readUInt16BE(nameEnd),
    qclass: buf.readUInt16BE(nameEnd + 2),
    labels,
    edns: false,
    udpSize: UDP_MIN,
    ednsVersion: 0,
  };
  if (opcode !== 0) return { kind: 'refuse', id, flags, rcode: RCODE.NOTIMP, query };
  // Skip the answer and authority records a query should not have, then look for OPT.
  const counts = [buf.readUInt16BE(6) + buf.readUInt16BE(8), buf.readUInt16BE(10)] as const;
  at = query.questionEnd;
  for (let section = 0; section < 2; section++) {
    for (let i = 0; i < counts[section]!; i++) {
      const nameAt = at;
      at = skipName(buf, at, len);
      if (at < 0 || at + 10 > len) return refusal(id, flags, RCODE.FORMERR);
      const type = buf.readUInt16BE(at);
      const rdlen = buf.readUInt16BE(at + 8);
      if (section === 1 && type === TYPE.OPT) {
        if (query.edns || buf[nameAt] !== 0) return refusal(id, flags, RCODE.FORMERR);
        query.edns = true;
        query.udpSize = Math.max(UDP_MIN, buf.readUInt16BE(at + 2));
        query.ednsVersion = buf[at + 5] as number;
      }
      at += 10 + rdlen;
      if (at > len) return refusal(id, flags, RCODE.FORMERR);
    }
  }
  return { kind: 'query', query };
}

function refusal(id: number, flags: number, rcode: number): Parsed {
  return { kind: 'refuse', id, flags, rcode };
}

/** skipName returns the offset after a name (plain labels ending in 0, or a pointer), or -1. */
function skipName(buf: Buffer, at: number, len: number): number {
  for (let seen = 0; at < len && seen <= MAX_NAME; ) {
    const l = buf[at] as number;
    if (l === 0) return at + 1;
    if ((l & 0xc0) === 0xc0) return at + 2 <= len ? at + 2 : -1;
    if ((l & 0xc0) !== 0) return -1;
    at += 1 + l;
    seen += 1 + l;
  }
  return -1;
}

/** isInternetClass: the question is of class IN (or ANY); any other class is refused. */
export function isInternetClass(q: Query): boolean {
  return q.qclass === CLASS_IN || q.qclass === CLASS_ANY;
}

/** nameKey is the question's name lowercased (ASCII) as a latin1 string of its wire bytes: a cache key. */
export function nameKey(buf: Buffer, q: Query): string {
  for (let i = 12; i < q.nameEnd; i++) {
    const c = buf[i] as number;
    if ((c >= 65 && c <= 90) || c >= 128) return lowered(buf, q.nameEnd);
  }
  return buf.toString('latin1', 12, q.nameEnd);
}

function lowered(buf: Buffer, end: number): string {
  let key = '';
  for (let i = 12; i < end; i++) {
    const c = buf[i] as number;
    key += String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c);
  }
  return key;
}

/** labelsOf reads the question's labels, lowercased, leftmost first. */
export function labelsOf(buf: Buffer, q: Query): string[] {
  return q.labels.map((at) => buf.toString('latin1', at + 1, at + 1 + (buf[at] as number)).toLowerCase());
}

/**
 * Rr is one record ready to be written: its owner is written by the encoder, body is its type,
 * class, TTL, rdata length and rdata. A record that names another (an SRV's target, an NS) may
 * carry that name's address record (extra, its body without an owner), written in the additional
 * section with a pointer to the name in this record's rdata (at offset target of body).
 */
export interface Rr {
  body: Buffer;
  target?: number;
  targetLength?: number;
  extra?: Buffer[];
}

/** encodeName writes a name's labels (no compression) and its root label. */
export function encodeName(labels: readonly string[]): Buffer {
  let size = 1;
  for (const l of labels) size += 1 + Buffer.byteLength(l, 'latin1');
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const l of labels) {
    out[at] = l.length;
    out.write(l, at + 1, 'latin1');
    at += 1 + l.length;
  }
  out[at] = 0;
  return out;
}

/** rrBody encodes a record's type..rdata part. */
function rrBody(type: number, ttl: number, rdata: Buffer): Buffer {
  const out = Buffer.allocUnsafe(10 + rdata.length);
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(CLASS_IN, 2);
  out.writeUInt32BE(ttl >>> 0, 4);
  out.writeUInt16BE(rdata.length, 8);
  rdata.copy(out, 10);
  return out;
}

export function aRecord(ttl: number, bytes: Buffer): Rr {
  return { body: rrBody(bytes.length === 4 ? TYPE.A : TYPE.AAAA, ttl, bytes) };
}

export function srvRecord(ttl: number, o: { priority: number; weight: number; port: number; target: Buffer; extra?: Buffer[] }): Rr {
  const rdata = Buffer.allocUnsafe(6 + o.target.length);
  rdata.writeUInt16BE(o.priority, 0);
  rdata.writeUInt16BE(o.weight, 2);
  rdata.writeUInt16BE(o.port, 4);
  o.target.copy(rdata, 6);
  const rr: Rr = { body: rrBody(TYPE.SRV, ttl, rdata), target: 16, targetLength: o.target.length };
  if (o.extra !== undefined && o.extra.length > 0) rr.extra = o.extra;
  return rr;
}

/** nameRecord is a record whose rdata is one name: PTR, NS. */
export function nameRecord(type: number, ttl: number, name: Buffer, extra?: Buffer[]): Rr {
  const rr: Rr = { body: rrBody(type, ttl, name), target: 10, targetLength: name.length };
  if (extra !== undefined && extra.length > 0) rr.extra = extra;
  return rr;
}

export function soaRecord(ttl: number, o: { mname: Buffer; rname: Buffer; serial: number; refresh: number; retry: number; expire: number; minimum: number }): Rr {
  const rdata = Buffer.allocUnsafe(o.mname.length + o.rname.length + 20);
  o.mname.copy(rdata, 0);
  o.rname.copy(rdata, o.mname.length);
  let at = o.mname.length + o.rname.length;
  for (const v of [o.serial, o.refresh, o.retry, o.expire, o.minimum]) {
    rdata.writeUInt32BE(v >>> 0, at);
    at += 4;
  }
  return { body: rrBody(TYPE.SOA, ttl, rdata) };
}

/** addressBody is the body of an A or AAAA record, for an Rr's extra. */
export function addressBody(ttl: number, bytes: Buffer): Buffer {
  return rrBody(bytes.length === 4 ? TYPE.A : TYPE.AAAA, ttl, bytes);
}

/** Answer is what the server decided; encodeAnswer writes it. */
export interface Answer {
  rcode: number;
  /** Authoritative (a name in the domain). */
  aa: boolean;
  answers: readonly Rr[];
  /** Write the answers in a random order. */
  shuffle: boolean;
  /** The SOA for a negative answer, its owner at this offset of the question name (the domain). */
  soa?: Rr;
  soaOwner?: number;
}

/** The OPT record every EDNS answer carries: root owner, UDP_MAX as our payload size, version 0. */
const OPT = Buffer.from([0, 0, TYPE.OPT, UDP_MAX >> 8, UDP_MAX & 0xff, 0, 0, 0, 0, 0, 0]);
const OPT_BADVERS = Buffer.from([0, 0, TYPE.OPT, UDP_MAX >> 8, UDP_MAX & 0xff, 1, 0, 0, 0, 0, 0]);

/** Shuffle's generator: xorshift32, seeded once; a shuffle needs no more than that. */
export class Shuffler {
  private s: number;
  private order = new Uint32Array(64);

  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }

  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }

  /** permutation of 0..n-1 (valid until the next call). */
  permutation(n: number, shuffle: boolean): Uint32Array {
    if (this.order.length < n) this.order = new Uint32Array(Math.max(n, this.order.length * 2));
    const o = this.order;
    for (let i = 0; i < n; i++) o[i] = i;
    if (shuffle) {
      for (let i = n - 1; i > 0; i--) {
        const j = this.next() % (i + 1);
        const t = o[i] as number;
        o[i] = o[j] as number;
        o[j] = t;
      }
    }
    return o;
  }
}

/**
 * encodeAnswer writes the answer to q into out (at least `limit` bytes long) and returns its length.
 * limit is the largest message allowed: over UDP the client's size, and when the whole answer does
 * not fit, TC is set and only the header, the question and the OPT go; over TCP (truncate false) as
 * many records as fit go, and the additional section only when all of it fits.
 */
export function encodeAnswer(out: Buffer, req: Buffer, q: Query, a: Answer, o: { limit: number; truncate: boolean; ra: boolean; shuffler: Shuffler }): number {
  const opt = q.edns ? (q.ednsVersion > 0 ? OPT_BADVERS : OPT) : undefined;
  const rcode = q.edns && q.ednsVersion > 0 ? 0 : a.rcode;
  const room = o.limit - (opt?.length ?? 0);
  const header = (ancount: number, nscount: number, arcount: number, tc: boolean): void => {
    out.writeUInt16BE(q.id, 0);
    const flags = 0x8000 | (q.flags & 0x7900) | (a.aa ? 0x0400 : 0) | (tc ? 0x0200 : 0) | (o.ra ? 0x0080 : 0) | (rcode & 0xf);
    out.writeUInt16BE(flags, 2);
    out.writeUInt16BE(1, 4);
    out.writeUInt16BE(ancount, 6);
    out.writeUInt16BE(nscount, 8);
    out.writeUInt16BE(arcount, 10);
  };
  let at = req.copy(out, 12, 12, q.questionEnd) + 12;
  const n = a.answers.length;
  const order = o.shuffler.permutation(n, a.shuffle && n > 1);
  let written = 0;
  let full = false;
  // Where each written record's target name is, for the pointers of its additional records.
  let extras = 0;
  for (let i = 0; i < n; i++) {
    const rr = a.answers[order[i] as number] as Rr;
    if (at + 2 + rr.body.length > room) {
      full = true;
      break;
    }
    out[at] = 0xc0;
    out[at + 1] = 12;
    rr.body.copy(out, at + 2);
    if (rr.extra !== undefined) extras++;
    at += 2 + rr.body.length;
    written++;
  }
  if (full && o.truncate) {
    at = q.questionEnd;
    header(0, 0, opt === undefined ? 0 : 1, true);
    if (opt !== undefined) at += opt.copy(out, at);
    return at;
  }
  let nscount = 0;
  if (a.soa !== undefined && at + 2 + a.soa.body.length <= room) {
    const p = 0xc000 | (a.soaOwner ?? 12);
    out.writeUInt16BE(p, at);
    a.soa.body.copy(out, at + 2);
    at += 2 + a.soa.body.length;
    nscount = 1;
  }
  // The additional section: each written record's extras, owner a pointer to its target name.
  let arcount = 0;
  if (extras > 0 && !full) {
    const mark = at;
    let pos = q.questionEnd;
    for (let i = 0; i < written && !full; i++) {
      const rr = a.answers[order[i] as number] as Rr;
      const start = pos + 2;
      pos += 2 + rr.body.length;
      if (rr.extra === undefined || rr.target === undefined) continue;
      const target = start + rr.target;
      for (const body of rr.extra) {
        const owner = target < 0x4000 ? 2 : (rr.targetLength ?? 0);
        if (at + owner + body.length > room) {
          full = true;
          break;
        }
        if (target < 0x4000) out.writeUInt16BE(0xc000 | target, at);
        else rr.body.copy(out, at, rr.target, rr.target + (rr.targetLength ?? 0));
        body.copy(out, at + owner);
        at += owner + body.length;
        arcount++;
      }
    }
    // Additional records are a courtesy: all of them or none.
    if (full) {
      at = mark;
      arcount = 0;
    }
  }
  if (opt !== undefined) {
    at += opt.copy(out, at);
    arcount++;
  }
  header(written, nscount, arcount, false);
  return at;
}

/** encodeRefusal writes a header-only answer with rcode (the question too, where it was read). */
export function encodeRefusal(out: Buffer, req: Buffer, p: { id: number; flags: number; rcode: number; query?: Query }): number {
  const q = p.query;
  out.writeUInt16BE(p.id, 0);
  out.writeUInt16BE(0x8000 | (p.flags & 0x7900) | (p.rcode & 0xf), 2);
  out.writeUInt16BE(q === undefined ? 0 : 1, 4);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(0, 10);
  if (q === undefined) return 12;
  return req.copy(out, 12, 12, q.questionEnd) + 12;
}
