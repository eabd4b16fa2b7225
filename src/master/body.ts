// Reading request bodies, bounded before anything is parsed: every HTTP entry of the master (the
// REST API, the agent link, the Mesos APIs) reads through these. A body is refused, with the
// connection closed behind the answer, when it is larger than its route allows (413), when it has
// not arrived whole within BODY_LIMITS.deadlineMs (a client trickling it byte by byte), or when it
// comes as a media type the route does not take (415: a browser's form or text/plain POST is never
// a call). JSON is checked for depth, and where asked for size, by one linear scan before
// JSON.parse builds anything.

import type { IncomingMessage } from 'node:http';
import { MusterError, quoted, type ErrorCode } from '../core/index.js';

/** BODY_LIMITS apply to every body the master reads. */
export const BODY_LIMITS = {
  /** A body must arrive whole within this long of the route starting to read it. */
  deadlineMs: 10_000,
  /** Nesting of JSON arrays and objects; no call of the API needs more than a handful. */
  jsonDepth: 32,
} as const;

/** JSON_TYPE is the media type of every JSON body of the API. */
export const JSON_TYPE = 'application/json';

export interface ReadBodyOptions {
  /** text (the default) or the raw bytes. */
  as?: 'text' | 'buffer';
  /** The media types the route takes; absent: the route checks Content-Type itself (the Mesos APIs do, as Mesos does). */
  types?: readonly string[];
  /** How long the body may take to arrive (default BODY_LIMITS.deadlineMs). */
  deadlineMs?: number;
}

/**
 * readBody reads a request body up to limit bytes (as text, or raw bytes); a larger body is refused
 * with 413, a slower one with 400, one of a media type not in options.types with 415.
 */
export async function readBody(req: IncomingMessage, limit: number, options?: 'text' | ReadBodyOptions): Promise<string>;
export async function readBody(req: IncomingMessage, limit: number, options: 'buffer' | (ReadBodyOptions & { as: 'buffer' })): Promise<Buffer>;
export async function readBody(req: IncomingMessage, limit: number, options: 'text' | 'buffer' | ReadBodyOptions = {}): Promise<string | Buffer> {
  const opts: ReadBodyOptions = typeof options === 'string' ? { as: options } : options;
  if (opts.types !== undefined) mediaTypeOf(req, opts.types);
  const body = await collect(req, limit, opts.deadlineMs ?? BODY_LIMITS.deadlineMs);
  return opts.as === 'buffer' ? body : body.toString('utf8');
}

export interface JsonLimits {
  /** Nesting of arrays and objects (default BODY_LIMITS.jsonDepth). */
  depth?: number;
  /** Values: every array, object, and item or member of one, counts one (default: only the byte limit bounds them). */
  values?: number;
}

/**
 * readJson reads and parses a JSON body, sent as application/json; an empty body is {}. The text
 * is checked against limits before it is parsed.
 */
export async function readJson(req: IncomingMessage, limit: number, limits: JsonLimits & { deadlineMs?: number } = {}): Promise<unknown> {
  const text = await readBody(req, limit, { types: [JSON_TYPE], ...(limits.deadlineMs === undefined ? {} : { deadlineMs: limits.deadlineMs }) });
  if (text.trim() === '') return {};
  return parseJson(text, { ...limits, what: 'the request body', code: 'INVALID_ARGUMENT' });
}

/**
 * parseJson parses JSON text once a linear scan has found it within limits: JSON.parse itself is
 * fast and iterative, but what is built from a value 10,000 levels deep or with 100,000 members
 * (schemas, error messages, the log) need not be.
 */
export function parseJson(text: string, options: JsonLimits & { what: string; code: ErrorCode }): unknown {
  const depth = options.depth ?? BODY_LIMITS.jsonDepth;
  const problem = jsonShapeProblem(text, depth, options.values ?? Infinity);
  if (problem !== undefined) throw new MusterError(options.code, `${options.what} cannot be read: ${problem}`);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new MusterError(options.code, `${options.what} is not valid JSON: ${(e as Error).message.slice(0, 200)}`);
  }
}

/**
 * jsonShapeProblem scans JSON text once, outside strings, counting the nesting of [ and { and the
 * values they hold (each opening and each comma starts one), and says which limit it crosses first.
 * Malformed text is left to JSON.parse, which says where.
 */
export function jsonShapeProblem(text: string, maxDepth: number, maxValues: number): string | undefined {
  let depth = 0;
  let values = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // Skip the string: to the next quote that no backslash escapes.
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c /* \ */) i++;
        else if (s === 0x22) break;
      }
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > maxDepth) return `it is nested deeper than ${maxDepth} levels`;
      if (++values > maxValues) return `it has more than ${maxValues} values`;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    } else if (c === 0x2c /* , */) {
      if (++values > maxValues) return `it has more than ${maxValues} values`;
    }
  }
  return undefined;
}

/**
 * mediaTypeOf returns the request's media type (lower case, without parameters) when it is one of
 * types, and refuses any other with 415. No Content-Type is taken only without a body: a DELETE,
 * or a POST that asks for the default.
 */
export function mediaTypeOf(req: IncomingMessage, types: readonly string[]): string | undefined {
  const header = req.headers['content-type'];
  const list = types.join(', ');
  if (header === undefined || header.trim() === '') {
    if (!hasBody(req)) return undefined;
    throw new MusterError('UNSUPPORTED_MEDIA_TYPE', `the request has a body but no Content-Type; send it as ${list}`, { details: { accepted: types } });
  }
  const type = (header.split(';')[0] ?? '').trim().toLowerCase();
  if (types.includes(type)) return type;
  throw new MusterError('UNSUPPORTED_MEDIA_TYPE', `the request body is sent as ${list}, not ${quoted(header)}`, { details: { accepted: types } });
}

/** hasBody: the request declares a body (a length above 0, or chunks). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) !== 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * collect gathers the body, refusing it as soon as it is over limit or late. A refused body is not
 * read any further: the connection is closed once the answer is written (see hangUp).
 */
function collect(req: IncomingMessage, limit: number, deadlineMs: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) {
    hangUp(req);
    return Promise.reject(new MusterError('PAYLOAD_TOO_LARGE', `the request body of ${declared} bytes is over the limit of ${limit}`, { details: { limit } }));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onGone);
    };
    const refuse = (err: MusterError): void => {
      finish();
      req.pause();
      hangUp(req);
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) refuse(new MusterError('PAYLOAD_TOO_LARGE', `the request body is over the limit of ${limit} bytes`, { details: { limit } }));
      else chunks.push(chunk);
    };
    const onEnd = (): void => {
      finish();
      resolve(Buffer.concat(chunks, size));
    };
    const onGone = (): void => {
      if (req.complete) return;
      finish();
      reject(new MusterError('INVALID_ARGUMENT', 'the client closed the connection before the request body was whole'));
    };
    const timer = setTimeout(() => {
      const secs = deadlineMs / 1000;
      refuse(new MusterError('INVALID_ARGUMENT', `the request body did not arrive within ${secs}s (${size} bytes came); send it whole, at once`, { details: { deadlineSecs: secs } }));
    }, deadlineMs);
    timer.unref();
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onGone);
  });
}

/**
 * hangUp deals with the rest of a request whose body is refused. Node would keep reading (and
 * discarding) it for as long as the client sends, so a client trickling a body would hold its
 * connection until the server's requestTimeout: the rest is read and thrown away for LINGER_MS at
 * most, then the connection is closed. A client that was merely busy writing a large body reads
 * the answer (not a reset connection), and once its body is all in, the connection is as good as
 * any other: it stays open for the client's next request (closing it then would fail that request
 * on a keep-alive client, which has no reason to think the connection is going away).
 */
function hangUp(req: IncomingMessage): void {
  const socket = req.socket;
  const linger = setTimeout(() => socket.destroy(), LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
  req.once('end', () => clearTimeout(linger));
  req.resume();
}

/** LINGER_MS is how long a refused body is still read (and discarded) after the answer. */
const LINGER_MS = 2000;
