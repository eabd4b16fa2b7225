// Reading request bodies, bounded before anything is parsed: every HTTP entry of the master (the
// REST API, the agent link, the Mesos APIs) reads through these.

import type { IncomingMessage } from 'node:http';
import { MusterError } from '../core/index.js';

/** readBody reads a request body up to limit bytes (as text, or raw bytes); larger bodies are refused with 413. */
export async function readBody(req: IncomingMessage, limit: number): Promise<string>;
export async function readBody(req: IncomingMessage, limit: number, as: 'buffer'): Promise<Buffer>;
export async function readBody(req: IncomingMessage, limit: number, as: 'text' | 'buffer' = 'text'): Promise<string | Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) {
    throw new MusterError('PAYLOAD_TOO_LARGE', `the request body of ${declared} bytes is over the limit of ${limit}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new MusterError('PAYLOAD_TOO_LARGE', `the request body is over the limit of ${limit} bytes`);
    chunks.push(buf);
  }
  const body = Buffer.concat(chunks);
  return as === 'buffer' ? body : body.toString('utf8');
}

/** readJson reads and parses a JSON body; an empty body is {}. */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const text = await readBody(req, limit);
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new MusterError('INVALID_ARGUMENT', `the request body is not valid JSON: ${(e as Error).message}`);
  }
}
