// The master's RouterAuth: who a request comes from, and what a browser page must not do.
//
// Bearer tokens are never sent by a browser on its own (no cookies here), so a page elsewhere
// cannot call a master with authentication as its user. A master running open has no such guard:
// there, a write from another origin and a Host the master does not answer to (DNS rebinding: a
// name of the attacker's that resolves to 127.0.0.1) are refused.

import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { MusterError } from '../../core/index.js';
import type { CellState } from '../state/index.js';
import { authorize, OPEN, type RouterAuth } from './permissions.js';
import { callerOf, secretOf } from './tokens.js';

export interface MasterAuthOptions {
  readonly state: () => CellState;
  readonly now: () => number;
  /** Authentication is on. */
  readonly enabled: boolean;
  /** Host names a master running open answers to, besides loopback names and IP literals. */
  readonly allowedHosts: readonly string[];
}

export function masterAuth(options: MasterAuthOptions): RouterAuth {
  const allowed = new Set(options.allowedHosts.map((h) => h.toLowerCase()));
  return {
    authenticate(req) {
      if (!options.enabled) return OPEN;
      const given = secretOf(req.headers.authorization);
      if (given === undefined) {
        throw new MusterError('UNAUTHENTICATED', 'this master needs a token: send "Authorization: Bearer TOKEN" (the CLI reads MUSTER_TOKEN or ~/.config/muster/config.yaml)');
      }
      return callerOf(options.state(), given.secret, options.now());
    },
    authorize(caller, action, role) {
      authorize(options.state(), caller, action, role);
    },
    checkOrigin(req) {
      const method = req.method ?? 'GET';
      const writes = method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
      if (writes && crossOrigin(req)) {
        throw new MusterError('FORBIDDEN', 'a request from a web page of another origin may not change the cell');
      }
      if (!options.enabled) {
        const host = hostName(req.headers.host);
        if (host !== undefined && !isLoopbackOrIp(host) && !allowed.has(host)) {
          throw new MusterError('FORBIDDEN', `this master runs without authentication and answers only to loopback names and IP addresses, not to "${host.slice(0, 100)}" (add it with --allowed-host)`);
        }
      }
    },
  };
}

/** crossOrigin: the browser says the request comes from a page of another site or origin than the one it is sent to. */
function crossOrigin(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  if (origin === 'null') return true;
  try {
    return new URL(origin).host.toLowerCase() !== (req.headers.host ?? '').toLowerCase();
  } catch {
    return true;
  }
}

/** hostName is the Host header's name, without its port or brackets. */
function hostName(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  const h = header.toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') < 0 ? undefined : h.indexOf(']'));
  const colon = h.lastIndexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

function isLoopbackOrIp(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || isIP(host) !== 0;
}
