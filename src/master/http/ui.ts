// The web UI: the single-page app that scripts/bundle-ui.mjs builds from src/ui/ into dist/ui/,
// served by every master (a standby answers with 307 to the leader before it gets here, as Mesos's
// UI does). Its files are public: they hold no data, and the app asks for a token before it reads
// any. The app routes with the history API, so a page's own address (/jobs/web/prod/hello) is
// answered with index.html when a browser asks for it (Accept: text/html); an API client asking
// the same path for JSON gets the 404 it always got.
//
// The files are found from this module's own path, so that a clone in any directory, run from the
// compiled tree (dist/src/master/http/) or the bundled command (dist/bin/chunks/), serves them.

import { existsSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { MusterError } from '../../core/index.js';
import type { Router } from './router.js';

/** UI_PAGES are the app's own addresses: each is answered with index.html to a browser. */
export const UI_PAGES = [
  '/',
  '/login',
  '/cell',
  '/agents',
  '/agents/:agentId',
  '/jobs',
  '/jobs/:role',
  '/jobs/:role/:env',
  '/jobs/:role/:env/:name',
  '/tasks',
  '/tasks/:taskId',
  '/frameworks',
  '/roles',
  '/hosts',
  '/audit',
] as const;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
};

/** ASSET is a file name the bundle writes (app.js, app.css, app.js.map): no path, no dot files. */
const ASSET = /^[a-z0-9][a-z0-9._-]{0,63}$/i;

interface Loaded {
  mtimeMs: number;
  body: Buffer;
  gzipped: Buffer;
}

/** findUiDir looks for dist/ui/index.html above this module: dist/src/master/http/ or dist/bin/chunks/. */
export function findUiDir(from: string = dirname(fileURLToPath(import.meta.url))): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    for (const candidate of [join(dir, 'ui'), join(dir, 'dist', 'ui')]) {
      if (existsSync(join(candidate, 'index.html'))) return candidate;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

export function addUiRoutes(router: Router, options: { dir?: string } = {}): void {
  const dir = options.dir ?? findUiDir();
  const cache = new Map<string, Loaded>();

  /** load reads a file of the bundle, gzipped once, again only when a rebuild changed it. */
  const load = (name: string): Loaded | undefined => {
    if (dir === undefined) return undefined;
    const path = join(dir, name);
    let mtimeMs: number;
    try {
      const st = statSync(path);
      if (!st.isFile()) return undefined;
      mtimeMs = st.mtimeMs;
    } catch {
      return undefined;
    }
    const hit = cache.get(name);
    if (hit !== undefined && hit.mtimeMs === mtimeMs) return hit;
    const body = readFileSync(path);
    const loaded = { mtimeMs, body, gzipped: gzipSync(body, { level: 9 }) };
    cache.set(name, loaded);
    return loaded;
  };

  const send = (req: IncomingMessage, res: ServerResponse, name: string, cacheControl: string): boolean => {
    const file = load(name);
    if (file === undefined) return false;
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? file.gzipped : file.body;
    const ext = /\.[a-z]+$/.exec(name)?.[0] ?? '';
    res.writeHead(200, {
      'Content-Type': TYPES[ext] ?? 'application/octet-stream',
      'Content-Length': body.length,
      'Cache-Control': cacheControl,
      'X-Content-Type-Options': 'nosniff',
      Vary: 'Accept-Encoding',
      ...(gzip ? { 'Content-Encoding': 'gzip' } : {}),
      ...(ext === '.html' ? { 'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'", 'X-Frame-Options': 'DENY' } : {}),
    });
    res.end(body);
    return true;
  };

  const page = ({ req, res }: { req: IncomingMessage; res: ServerResponse }, path: string): void => {
    const accept = String(req.headers.accept ?? '');
    // An API client asking one of the app's addresses for JSON: the 404 it got before the UI.
    if (path !== '/' && !accept.includes('text/html') && !accept.includes('*/*')) {
      throw new MusterError('NOT_FOUND', `no such resource: ${path}; the API is under /api/v1`);
    }
    if (send(req, res, 'index.html', 'no-cache')) return;
    const text = 'The web UI is not built: run `npm run build` (scripts/bundle-ui.mjs), then reload.\n';
    res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  for (const path of UI_PAGES) router.add('GET', path, (ctx) => page(ctx, ctx.url.pathname), { public: true });

  // The bundle's files: index.html names them with ?v=<hash>, so a browser may keep them for good.
  router.add('GET', '/ui/:file', ({ req, res, params, url }) => {
    const name = params['file'] ?? '';
    if (!ASSET.test(name) || name === 'index.html' || !send(req, res, name, url.searchParams.has('v') ? 'public, max-age=31536000, immutable' : 'no-cache')) {
      throw new MusterError('NOT_FOUND', `no such file of the web UI: ${name.slice(0, 80)}`);
    }
  }, { public: true });
}
