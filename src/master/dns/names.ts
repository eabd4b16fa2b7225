// Names: how the things in the cell become DNS labels, as Mesos-DNS makes them (so that tools
// written for it find the same names here), and the reverse names of addresses for PTR records.
// Mesos-DNS: records/labels/labels.go (RFC1123, DomainFrag) and records/generator.go (hashString,
// slaveIDTail); REFERENCE.md §3.1-3.2.

import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/** MAX_LABEL is the longest a DNS label may be (RFC 1035 2.3.4). */
export const MAX_LABEL = 63;
/** MAX_NAME is the longest a name may be on the wire, its length bytes and root label included. */
export const MAX_NAME = 255;

/**
 * sanitizeLabel mangles a name into one RFC 1123 label as Mesos-DNS's labels.RFC1123 does: ASCII
 * letters lowercased, digits kept, '-', '.' and '_' become '-', every other character dropped;
 * leading and trailing '-' trimmed; at most 63 characters (when the cut leaves a trailing '-', what
 * follows it is pulled in, as trimCut does). An empty result names nothing.
 */
export function sanitizeLabel(name: string): string {
  let mapped = '';
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) mapped += String.fromCharCode(c + 32);
    else if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) mapped += name[i];
    else if (c === 45 || c === 46 || c === 95) mapped += '-';
  }
  return trimCut(mapped);
}

function trimCut(label: string): string {
  const trim = label.replace(/^-+/, '');
  const size = Math.min(trim.length, MAX_LABEL);
  const head = trim.slice(0, size).replace(/-+$/, '');
  if (head.length === size) return head;
  const tail = trim.slice(size).replace(/^-+/, '');
  return head + tail.slice(0, size - head.length);
}

/**
 * domainFrag mangles a dotted name (a framework's, a host's) into labels as Mesos-DNS's
 * labels.DomainFrag does: split on '.', each part sanitised, empty parts dropped.
 */
export function domainFrag(name: string): string[] {
  const out: string[] = [];
  for (const part of name.split('.')) {
    const label = sanitizeLabel(part);
    if (label !== '') out.push(label);
  }
  return out;
}

const ZBASE32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

/**
 * taskHash is Mesos-DNS's hashString: the first 5 characters of the z-base-32 encoding of the
 * SHA-1 of a task id (the first 25 bits), the H of the canonical name T-H-S.
 */
export function taskHash(taskId: string): string {
  const sum = createHash('sha1').update(taskId).digest();
  const bits = sum.readUInt32BE(0);
  let out = '';
  for (let i = 0; i < 5; i++) out += ZBASE32[(bits >>> (27 - 5 * i)) & 31];
  return out;
}

/** agentIdTail is Mesos-DNS's slaveIDTail: the part of an agent id after its last '-', lowercased. */
export function agentIdTail(agentId: string): string {
  return agentId.slice(agentId.lastIndexOf('-') + 1).toLowerCase();
}

/** IpFamily of an address literal: 4, 6, or 0 for anything else (a host name cannot be an A or AAAA record). */
export function ipFamily(address: string): 0 | 4 | 6 {
  if (isIPv4(address)) return 4;
  if (isIPv6(address)) return 6;
  return 0;
}

/** ipv4Bytes writes an IPv4 literal's 4 bytes into out at offset. */
export function writeIPv4(address: string, out: Buffer, offset: number): void {
  const parts = address.split('.');
  for (let i = 0; i < 4; i++) out[offset + i] = Number(parts[i]);
}

/** ipv6Bytes is an IPv6 literal's 16 bytes (a trailing dotted IPv4 part and a zone are understood). */
export function ipv6Bytes(address: string): Buffer {
  const out = Buffer.alloc(16);
  let text = address;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const words: number[] = [];
  const tailWords = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const p of part.split(':')) {
      if (p.includes('.')) {
        const b = p.split('.').map(Number);
        out.push(((b[0] ?? 0) << 8) | (b[1] ?? 0), ((b[2] ?? 0) << 8) | (b[3] ?? 0));
      } else out.push(parseInt(p, 16));
    }
    return out;
  };
  const gap = text.indexOf('::');
  if (gap < 0) words.push(...tailWords(text));
  else {
    const left = tailWords(text.slice(0, gap));
    const right = tailWords(text.slice(gap + 2));
    words.push(...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right);
  }
  for (let i = 0; i < 8; i++) out.writeUInt16BE(words[i] ?? 0, i * 2);
  return out;
}

/**
 * reverseLabels are the labels of an address's reverse name, below in-addr.arpa or ip6.arpa:
 * 10.0.0.5 → [5, 0, 0, 10, in-addr, arpa]. Undefined for a name that is not an address literal.
 */
export function reverseLabels(address: string): string[] | undefined {
  const family = ipFamily(address);
  if (family === 4) return [...address.split('.').reverse(), 'in-addr', 'arpa'];
  if (family === 6) {
    const hex = ipv6Bytes(address).toString('hex');
    return [...hex.split('').reverse(), 'ip6', 'arpa'];
  }
  return undefined;
}

/** hostOfUrl is the host of a URL (http://HOST:PORT) or HOST:PORT, brackets of an IPv6 literal removed. */
export function hostOfUrl(url: string): { host: string; port: number } | undefined {
  const text = url.includes('://') ? url : `http://${url}`;
  try {
    const u = new URL(text);
    const port = u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port);
    return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port };
  } catch {
    return undefined;
  }
}
