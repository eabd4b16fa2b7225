// Router: the master's routes as a table of method, path pattern and handler. Small on purpose:
// the API is a handful of resources, and a table reads better than a framework's conventions.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { MusterError, isErrorCode } from '../../core/index.js';
import type { Logger } from '../../log/index.js';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
}

export type RouteHandler = (ctx: RouteContext) => Promise<void> | void;

interface Route {
  method: string;
  /** The path as registered ("/api/v1/jobs/:role/:env/:name"): what metrics label a request with. */
  path: string;
  pattern: RegExp;
  names: string[];
  handler: RouteHandler;
}

/**
 * AnsweredRequest is what a RequestObserver learns of each request once its answer is done (or cut
 * off): the route's pattern rather than the raw path, so that ids in paths cannot make a metric's
 * label set unbounded ("unmatched" when no route took it), and the whole time taken, which for a
 * stream (events, the agent link, exec) is the stream's life.
 */
export interface AnsweredRequest {
  method: string;
  route: string;
  status: number;
  seconds: number;
}

export class Router {
  private readonly routes: Route[] = [];

  constructor(
    private readonly logger: Logger,
    private readonly observe?: (request: AnsweredRequest) => void,
  ) {}

  /** add registers a route; path segments ":name" capture one URL segment. */
  add(method: string, path: string, handler: RouteHandler): this {
    const names: string[] = [];
    const source = path
      .split('/')
      .map((seg) => {
        if (seg.startsWith(':')) {
          names.push(seg.slice(1));
          return '([^/]+)';
        }
        return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    this.routes.push({ method, path, pattern: new RegExp(`^${source}$`), names, handler });
    return this;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let route = 'unmatched';
    const observe = this.observe;
    if (observe !== undefined) {
      const start = performance.now();
      res.once('close', () => observe({ method: req.method ?? '', route, status: res.statusCode, seconds: (performance.now() - start) / 1000 }));
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://muster.invalid');
    } catch {
      sendError(res, new MusterError('INVALID_ARGUMENT', 'the request URL is not valid'));
      return;
    }
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.pattern.exec(url.pathname);
      if (m === null) continue;
      pathMatched = true;
      if (r.method !== req.method && !(r.method === 'GET' && req.method === 'HEAD')) continue;
      route = r.path;
      const params: Record<string, string> = {};
      try {
        r.names.forEach((name, i) => (params[name] = decodeParam(name, m[i + 1] ?? '')));
        await r.handler({ req, res, url, params });
      } catch (e) {
        if (!(e instanceof MusterError)) {
          this.logger.error('request failed', { method: req.method, path: url.pathname, error: e instanceof Error ? e.stack : String(e) });
        }
        if (!res.headersSent) sendError(res, e);
        else res.end();
      }
      return;
    }
    if (pathMatched) sendError(res, new MusterError('METHOD_NOT_ALLOWED', `${req.method ?? '?'} is not allowed on ${url.pathname}`));
    else sendError(res, new MusterError('NOT_FOUND', `no such resource: ${url.pathname}`));
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** sendError answers with the error body of DESIGN.md; an unexpected error is an INTERNAL one. */
export function sendError(res: ServerResponse, e: unknown): void {
  const err =
    e instanceof MusterError
      ? e
      : new MusterError('INTERNAL', 'the master failed to handle the request; see its log');
  sendJson(res, err.status, err.toBody());
}

export { readBody, readJson } from '../body.js';

/** errorFromBody turns another Muster daemon's error answer back into a MusterError. */
export function errorFromBody(status: number, body: unknown, fallback: string): MusterError {
  const err = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (err !== undefined && isErrorCode(err.code) && typeof err.message === 'string') return new MusterError(err.code, err.message);
  return new MusterError(status === 404 ? 'NOT_FOUND' : 'INTERNAL', `${fallback} (HTTP ${status})`);
}

/** decodeParam decodes one path parameter; a malformed %-escape is the client's mistake (400), not ours. */
function decodeParam(name: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new MusterError('INVALID_ARGUMENT', `the ${name} in the request path is not validly %-encoded`);
  }
}
