// Leadership over HTTP for HA masters (issue #5). A standby serves only what says where the leader
// is (and its own health and metrics); everything else, agent SUBSCRIBE included, is answered with
// 307 to the same path on the leader, "Location: //host:port/path?query" as Mesos does, so that
// clients keep their scheme. With no leader known it answers 503 NOT_LEADER: a client retries, or
// tries the next master it knows.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { MusterError } from '../../core/index.js';
import type { LeaderInfo } from '../leader.js';
import { sendError, sendJson, type Router } from './router.js';

/** Leadership is what the HTTP layer asks about who leads. */
export interface Leadership {
  readonly self: { readonly masterId: string; readonly url: string };
  /** leading: this master leads and acts (its log is promoted); a single SQLite master always does. */
  leading(): boolean;
  /** leader: who leads as far as this master knows; undefined while nobody does. */
  leader(): LeaderInfo | undefined;
}

/** LeaderView is the body of GET /api/v1/leader. */
export interface LeaderView {
  leader: LeaderInfo | null;
  self: { masterId: string; url: string; leading: boolean };
}

/** STANDBY_ROUTES are served by every master, leading or not ("METHOD path"; HEAD counts as GET). */
const STANDBY_ROUTES = new Set(['GET /health', 'GET /metrics', 'GET /api/v1/leader', 'GET /master/redirect', 'GET /api/v1/acl/whoami']);

/**
 * answerAsStandby answers a request that a master which does not lead must not serve: 307 to the
 * leader, or 503 NOT_LEADER when no other leader is known (which includes the moment between
 * winning the election and taking over the log: this master is the leader but cannot serve yet).
 * It returns false, answering nothing, when this master leads or the route is one every master serves.
 */
export function answerAsStandby(l: Leadership, req: IncomingMessage, res: ServerResponse): boolean {
  if (l.leading()) return false;
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? '');
  const path = pathOf(req.url);
  if (STANDBY_ROUTES.has(`${method} ${path}`)) return false;
  const leader = l.leader();
  if (leader === undefined || leader.masterId === l.self.masterId) {
    sendError(res, new MusterError('NOT_LEADER', 'no leader is known yet; retry'));
    return true;
  }
  const target = req.url?.startsWith('/') === true ? req.url : '/';
  redirect(res, `//${hostOf(leader.url)}${target}`);
  return true;
}

/** addLeaderRoutes adds GET /api/v1/leader and GET /master/redirect, served by every master. */
export function addLeaderRoutes(router: Router, l: Leadership): void {
  router.add('GET', '/api/v1/leader', ({ res }) => {
    const leader = l.leader();
    const body: LeaderView = { leader: leader ?? null, self: { ...l.self, leading: l.leading() } };
    sendJson(res, 200, body);
  }, { public: true });
  router.add('GET', '/master/redirect', ({ res }) => {
    const leader = l.leader();
    if (leader === undefined) throw new MusterError('NOT_LEADER', 'no leader is known yet; retry');
    redirect(res, `//${hostOf(leader.url)}/`);
  }, { public: true });
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(307, { Location: location, 'Content-Length': 0 });
  res.end();
}

/** hostOf is the host:port of a master's URL; a URL that does not parse is taken as a host:port. */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  }
}

function pathOf(url: string | undefined): string {
  const q = (url ?? '/').indexOf('?');
  return q < 0 ? (url ?? '/') : (url ?? '/').slice(0, q);
}
