// Router: the master's routes as a table of method, path pattern and handler. Small on purpose:
// the API is a handful of resources, and a table reads better than a framework's conventions.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { MusterError, isErrorCode } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import { ANONYMOUS, OPEN, type Action, type Caller, type RouterAuth } from '../auth/index.js';

export type { RouterAuth } from '../auth/index.js';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  /** Who makes the call (OPEN on a master without authentication). */
  caller: Caller;
}

export type RouteHandler = (ctx: RouteContext) => Promise<void> | void;

/**
 * RouteOptions say what a route asks of its caller. `public`: nothing (health, where the leader
 * is); `selfAuthenticated`: the handler checks its own credential (the agent link); `permission`: a
 * read the route table checks (writes are checked where they become events, master/commands/).
 * Without any, any authenticated caller may call it.
 */
export interface RouteOptions {
  readonly public?: boolean;
  readonly selfAuthenticated?: boolean;
  readonly permission?: { readonly action: Action; readonly role: (ctx: Omit<RouteContext, 'caller'>) => string };
}

interface Route {
  method: string;
  /** The path as registered ("/api/v1/jobs/:role/:env/:name"): what metrics label a request with. */
  path: string;
  pattern: RegExp;
  names: string[];
  handler: RouteHandler;
  options: RouteOptions;
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
  private auth: RouterAuth | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly observe?: (request: AnsweredRequest) => void,
  ) {}

  /** useAuth makes every route not public check its caller. */
  useAuth(auth: RouterAuth): this {
    this.auth = auth;
    return this;
  }

  /**
   * permit sets what a route registered earlier asks of its caller (its RouteOptions, merged): the
   * master's table of read permissions lives in one place (master.ts), beside the routes' own
   * modules. A route not registered is a mistake in that table: it throws.
   */
  permit(method: string, path: string, options: RouteOptions): this {
    const route = this.routes.find((r) => r.method === method && r.path === path);
    if (route === undefined) throw new Error(`Router.permit: no route ${method} ${path}`);
    route.options = { ...route.options, ...options };
    return this;
  }

  /** add registers a route; path segments ":name" capture one URL segment. */
  add(method: string, path: string, handler: RouteHandler, options: RouteOptions = {}): this {
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
    this.routes.push({ method, path, pattern: new RegExp(`^${source}$`), names, handler, options });
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
        const caller = this.callerOf(r, { req, res, url, params });
        await r.handler({ req, res, url, params, caller });
      } catch (e) {
        if (!(e instanceof MusterError)) {
          this.logger.error('request failed', { method: req.method, path: url.pathname, error: e instanceof Error ? e.stack : String(e) });
        }
        if (!res.headersSent) {
          if (e instanceof MusterError && e.code === 'UNAUTHENTICATED') res.setHeader('WWW-Authenticate', challengeFor(url.pathname));
          sendError(res, e);
        } else res.end();
      }
      return;
    }
    if (pathMatched) sendError(res, new MusterError('METHOD_NOT_ALLOWED', `${req.method ?? '?'} is not allowed on ${url.pathname}`));
    else sendError(res, new MusterError('NOT_FOUND', `no such resource: ${url.pathname}`));
  }

  /** callerOf checks the request against the route's options: origin, credential, read permission. */
  private callerOf(r: Route, ctx: Omit<RouteContext, 'caller'>): Caller {
    const auth = this.auth;
    if (auth === undefined) return OPEN;
    auth.checkOrigin(ctx.req);
    if (r.options.public === true || r.options.selfAuthenticated === true) return ANONYMOUS;
    const caller = auth.authenticate(ctx.req);
    const p = r.options.permission;
    if (p !== undefined) auth.authorize(caller, p.action, p.role(ctx));
    return caller;
  }
}

/**
 * challengeFor is the WWW-Authenticate of a 401: Basic on the Mesos APIs, whose clients send Basic
 * credentials (the token as the password), Bearer elsewhere.
 */
function challengeFor(path: string): string {
  return path.startsWith('/api/v1/scheduler') || path === '/api/v1' || path === '/api/v1/' || path.startsWith('/master/')
    ? 'Basic realm="mesos-master-scheduler"'
    : 'Bearer realm="muster"';
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
