// nodeFetch is fetch for a short-lived process: the same contract for the requests MusterClient
// reads whole (a JSON answer), sent with node:http or node:https. Node's own fetch loads and
// compiles its implementation (undici) on first use, about 100 ms of CPU: more than the rest of a
// `muster job list`. The CLI passes nodeFetch to its client; event streams, exec and downloads
// still use fetch.
//
// It fails the way fetch fails, so that the client's handling of errors is the same for both: a
// connection that cannot be made or breaks is a TypeError whose cause carries the code
// (ECONNREFUSED…, or a refused certificate's: UNABLE_TO_VERIFY_LEAF_SIGNATURE…); an aborted request
// rejects with the signal's reason. An https:// request trusts init.ca (PEM) when given, else the
// system's CAs.

import { request as httpRequest } from 'node:http';
import type { IncomingMessage, RequestOptions } from 'node:http';

/** AnswerHeaders is the part of fetch's Headers the client reads. */
class AnswerHeaders {
  constructor(private readonly raw: IncomingMessage['headers']) {}

  get(name: string): string | null {
    const value = this.raw[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }
}

/**
 * Answer is the part of fetch's Response that MusterClient reads of an answer it reads whole:
 * status, headers, the body as text, and cancelling it (a redirect's body is not read).
 */
class Answer {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly url: string;
  readonly headers: AnswerHeaders;
  readonly body: { cancel(): Promise<void> };
  private readonly message: IncomingMessage;
  private readonly signal: AbortSignal | undefined;

  constructor(message: IncomingMessage, url: string, signal: AbortSignal | undefined) {
    this.message = message;
    this.signal = signal;
    this.status = message.statusCode ?? 0;
    this.statusText = message.statusMessage ?? '';
    this.ok = this.status >= 200 && this.status < 300;
    this.url = url;
    this.headers = new AnswerHeaders(message.headers);
    this.body = {
      cancel: () => {
        message.destroy();
        return Promise.resolve();
      },
    };
  }

  /** text reads the whole body; an abort meanwhile rejects with the signal's reason, as fetch does. */
  text(): Promise<string> {
    const message = this.message;
    const signal = this.signal;
    return new Promise((resolve, reject) => {
      if (signal?.aborted === true) {
        message.destroy();
        reject(signal.reason as Error);
        return;
      }
      const chunks: Buffer[] = [];
      const onAbort = (): void => {
        message.destroy();
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      message.on('data', (chunk: Buffer) => chunks.push(chunk));
      message.once('end', () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
      // A body cut short ends in 'error', or in a 'close' without 'end': the promise settles once.
      const broken = (err?: Error): void => {
        signal?.removeEventListener('abort', onAbort);
        reject(new TypeError('terminated', { cause: err ?? new Error('the connection closed before the end of the body') }));
      };
      message.once('error', broken);
      message.once('close', () => {
        if (!message.complete) broken();
      });
    });
  }
}

/**
 * nodeFetch sends one request over node:http or node:https and resolves with its answer once the
 * headers are in; redirects are the caller's (the client follows them itself).
 */
export async function nodeFetch(url: URL, init: RequestInit & { ca?: string }): Promise<Response> {
  const secure = url.protocol === 'https:';
  if (url.protocol !== 'http:' && !secure) {
    const { ca: _ca, ...rest } = init;
    return fetch(url, rest);
  }
  // node:https (and node:tls, node:crypto under it) only for an https:// master: ~15 ms of a short command.
  const httpsRequest = secure ? (await import('node:https')).request : undefined;
  const signal = init.signal ?? undefined;
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const headers: Record<string, string> = { ...(init.headers as Record<string, string> | undefined) };
    const body = typeof init.body === 'string' ? Buffer.from(init.body, 'utf8') : undefined;
    if (body !== undefined) headers['content-length'] = String(body.length);
    const options: RequestOptions & { ca?: string } = { method: init.method ?? 'GET', headers };
    if (secure && init.ca !== undefined) options.ca = init.ca;
    const req = httpsRequest !== undefined ? httpsRequest(url, options) : httpRequest(url, options);
    const onAbort = (): void => {
      req.destroy();
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.once('response', (message) => {
      signal?.removeEventListener('abort', onAbort);
      // The client reads the status, the headers and the text of the body, nothing else of a Response.
      resolve(new Answer(message, url.href, signal) as unknown as Response);
    });
    req.once('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted === true) reject(signal.reason as Error);
      else reject(new TypeError('fetch failed', { cause: err }));
    });
    req.end(body);
  });
}
