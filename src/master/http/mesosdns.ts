// Mesos-DNS's HTTP API on the master's port, for tools written against it: GET /v1/version,
// /v1/hosts/{host} (A and AAAA), /v1/services/{service} (SRV), in its exact shapes (REFERENCE.md
// §3.6, mesos-dns docs/docs/http.md). The names are the DNS server's (master/dns), looked up in the
// same state, so the two never disagree. /v1/hosts/{host}/ports is answered 501 as Mesos-DNS does;
// /v1/config, /v1/enumerate and /v1/axfr are not served.

import { liveJob } from '../discovery.js';
import { Zone, type ZoneOptions } from '../dns/index.js';
import type { CellState } from '../state/index.js';
import { sendJson, type RouteContext, type Router } from './router.js';

export interface MesosDnsDeps {
  state: () => CellState;
  /** master URLs (http://host:port); the leader's is in all */
  masters: () => { leader?: string; all: string[] };
  /** this master's advertised address (ns1.DOMAIN) */
  self: string;
  /** the DNS domain (default 'muster') */
  domain?: string;
  /** Muster's version, shown as the Version of /v1/version. */
  version: string;
  /** The event log's appliedIndex (see DnsOptions.stateIndex). */
  stateIndex?: () => number;
}

const MESOS_DNS_URL = 'https://github.com/mesosphere/mesos-dns';

/** addMesosDnsRoutes serves /v1/version, /v1/hosts/:host and /v1/services/:service; reading names asks job:read. */
export function addMesosDnsRoutes(router: Router, deps: MesosDnsDeps): void {
  const o: ZoneOptions = { domain: deps.domain ?? 'muster', ttlSecs: 0, state: deps.state, masters: deps.masters, self: deps.self };
  if (deps.stateIndex !== undefined) o.stateIndex = deps.stateIndex;
  const zone = new Zone(o);
  const role = (param: string) => ({ params }: Omit<RouteContext, 'caller'>): string => roleOfName(zone, deps.state(), params[param] ?? '');

  router.add('GET', '/v1/version', ({ res }) => sendJson(res, 200, { Service: 'Mesos-DNS', Version: deps.version, URL: MESOS_DNS_URL }), { public: true });

  router.add(
    'GET',
    '/v1/hosts/:host',
    ({ res, params }) => {
      const { name, labels } = fqdn(params['host'] ?? '');
      const found = labels === undefined ? 'outside' : zone.find(labels);
      const out = found === 'outside' ? [] : found.addresses.map((ip) => ({ host: name, ip }));
      sendJson(res, 200, out.length > 0 ? out : [{ host: '', ip: '' }]);
    },
    { permission: { action: 'job:read', role: role('host') } },
  );

  router.add(
    'GET',
    '/v1/hosts/:host/ports',
    ({ res }) => {
      res.writeHead(501, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('To be implemented...');
    },
    { permission: { action: 'job:read', role: role('host') } },
  );

  router.add(
    'GET',
    '/v1/services/:service',
    ({ res, params }) => {
      const { name, labels } = fqdn(params['service'] ?? '');
      const found = labels === undefined ? 'outside' : zone.find(labels);
      const out =
        found === 'outside'
          ? []
          : found.services.map((s) => ({ service: name, host: `${s.target.join('.')}.`, ip: s.addresses[0] ?? '', port: String(s.port) }));
      sendJson(res, 200, out.length > 0 ? out : [{ service: '', host: '', ip: '', port: '' }]);
    },
    { permission: { action: 'job:read', role: role('service') } },
  );
}

/** fqdn lowercases a name and adds the trailing dot, as Mesos-DNS does; labels undefined for a name no record can have. */
function fqdn(raw: string): { name: string; labels: string[] | undefined } {
  const name = raw.toLowerCase().endsWith('.') ? raw.toLowerCase() : `${raw.toLowerCase()}.`;
  const labels = name.slice(0, -1).split('.');
  const ok = name.length <= 254 && labels.every((l) => l.length > 0 && l.length <= 63);
  return { name, labels: ok ? labels : undefined };
}

/**
 * roleOfName is the role whose job a name belongs to (NAME.ENV.ROLE, N.NAME.ENV.ROLE,
 * _PORT._tcp.NAME.ENV.ROLE), for the permission check; any other name is checked against every
 * role ("*"), so that a caller that may not read everything learns nothing of what exists.
 */
function roleOfName(zone: Zone, state: CellState, raw: string): string {
  const { labels } = fqdn(raw);
  if (labels === undefined || !zone.inDomainName(labels)) return '*';
  const rel = labels.slice(0, labels.length - zone.domain.length);
  const n = rel.length;
  if (n < 3 || n > 5) return '*';
  const [role, env, name] = [rel[n - 1] as string, rel[n - 2] as string, rel[n - 3] as string];
  return liveJob(state, role, env, name) !== undefined ? role : '*';
}
