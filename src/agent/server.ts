// The agent's own HTTP server (port 5051): health, state, sandbox files (browse, read, download),
// metrics, and POST /exec (a command inside a running task, streamed back). Apart from exec it is
// read-only: everything that changes the agent's tasks comes from the master over the link.
// /exec and /files/* need the agent's API token (apitoken.ts) as a bearer credential, else 401:
// tasks on this machine reach the port too. /health, /state and /metrics are open. With a
// certificate (muster agent --tls-cert) the port serves HTTPS only.

import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { MusterError } from '../core/index.js';
import type { Logger } from '../log/index.js';
import { METRICS_CONTENT_TYPE } from '../metrics/index.js';
import { bearerMatches } from './apitoken.js';
import { browseSandbox, contentDisposition, openDownload, readFileChunk } from './files.js';
import type { TaskRow } from './tasks.js';

/** AgentRoutes is what the server needs to know about the agent. */
export interface AgentRoutes {
  workDir: string;
  /** The token /exec and /files/* require as `Authorization: Bearer <token>`. */
  apiToken: string;
  agentId(): string | undefined;
  tasks(): TaskRow[];
  isActive(taskId: string): boolean;
  metrics(): Promise<string> | string;
  /** exec answers POST /exec itself: its answer is a stream. */
  exec(req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;
}

/** AgentServer is a listening server; close() also ends open keep-alive connections. */
export interface AgentServer {
  port: number;
  close(): Promise<void>;
}

/** startServer listens on host:port (0 picks a free port) and resolves with the real port. */
export async function startServer(options: { host: string; port: number; routes: AgentRoutes; logger: Logger; tls?: { cert: string; key: string } }): Promise<AgentServer> {
  const { routes, logger } = options;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    // Judged on the path as the routes see it (URL resolves "/health/../files/read" to /files/read).
    const pathname = pathOf(req);
    if (!OPEN_PATHS.has(pathname) && !bearerMatches(req.headers.authorization, routes.apiToken)) {
      const e = new MusterError('UNAUTHENTICATED', `${pathname.slice(0, 100)} needs the agent's API token as "Authorization: Bearer <token>"; the master sends it`);
      res.setHeader('www-authenticate', 'Bearer realm="muster-agent"');
      req.resume();
      send(res, { status: e.status, json: e.toBody() }, logger);
      return;
    }
    if (req.method === 'POST' && pathname === '/exec') {
      routes.exec(req, res).catch((err: unknown) => {
        if (!(err instanceof MusterError)) logger.error('exec failed', { error: err });
        const e = err instanceof MusterError ? err : new MusterError('INTERNAL', 'the agent failed to run the command');
        if (!res.headersSent) send(res, { status: e.status, json: e.toBody() }, logger);
        else res.end();
      });
      return;
    }
    handle(req, routes).then(
      (answer) => send(res, answer, logger),
      (err: unknown) => {
        if (!(err instanceof MusterError)) logger.error('request failed', { url: req.url?.slice(0, 200), error: err });
        const e = err instanceof MusterError ? err : new MusterError('INTERNAL', 'the agent failed to answer');
        send(res, { status: e.status, json: e.toBody() }, logger);
      },
    );
  };
  const server: http.Server = options.tls === undefined ? http.createServer(handler) : https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger.error('agent HTTP server error', { error: err }));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * OPEN_PATHS need no token: what they show (ids, states, figures) is no way into a task. Every other
 * path does, /exec and /files/* first; an unknown one answers 401 rather than 404 without it.
 */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/health', '/state', '/metrics']);

function pathOf(req: http.IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://agent').pathname;
  } catch {
    return '/';
  }
}

/** Answer is what a route returns: JSON, text, or a file to stream (a download). */
type Answer =
  | { status: number; json: unknown }
  | { status: number; text: string; contentType: string }
  | { status: number; stream: Readable; size: number; name: string };

async function handle(req: http.IncomingMessage, routes: AgentRoutes): Promise<Answer> {
  const url = new URL(req.url ?? '/', 'http://agent');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    throw new MusterError('METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed; the agent's API is read-only`);
  }
  switch (url.pathname) {
    case '/health':
      return { status: 200, json: withAgentId({ ok: true }, routes.agentId()) };
    case '/state':
      return { status: 200, json: withAgentId({}, routes.agentId(), { tasks: routes.tasks() }) };
    case '/files/browse':
      return { status: 200, json: await browseSandbox(url.searchParams, routes) };
    case '/files/read':
      return { status: 200, json: await readFileChunk(url.searchParams, routes) };
    case '/files/download': {
      const file = await openDownload(url.searchParams, routes);
      return { status: 200, stream: file.stream, size: file.size, name: file.name };
    }
    case '/metrics':
      return { status: 200, text: await routes.metrics(), contentType: METRICS_CONTENT_TYPE };
    default:
      throw new MusterError('NOT_FOUND', `no such path ${url.pathname.slice(0, 100)} on the agent`);
  }
}

/** withAgentId puts agentId in when there is one: JSON has no undefined, and we do not send null. */
function withAgentId(head: Record<string, unknown>, agentId: string | undefined, tail: Record<string, unknown> = {}): Record<string, unknown> {
  return agentId === undefined ? { ...head, ...tail } : { ...head, agentId, ...tail };
}

function send(res: http.ServerResponse, answer: Answer, logger: Logger): void {
  if ('stream' in answer) {
    res.writeHead(answer.status, {
      'content-type': 'application/octet-stream',
      'content-length': answer.size,
      'content-disposition': contentDisposition(answer.name),
      'x-content-type-options': 'nosniff',
    });
    if (res.req.method === 'HEAD') {
      answer.stream.destroy();
      res.end();
      return;
    }
    // pipeline closes the file when the client goes away; a failure half-way can only cut the
    // body short, which the client sees against content-length.
    pipeline(answer.stream, res, (err) => {
      if (err !== undefined && err !== null && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') {
        logger.warn('download failed part-way', { url: res.req.url?.slice(0, 200), error: err });
      }
    });
    return;
  }
  const body = 'json' in answer ? JSON.stringify(answer.json) : answer.text;
  const type = 'json' in answer ? 'application/json; charset=utf-8' : answer.contentType;
  res.writeHead(answer.status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
