// GET /api/v1/endpoints/:role/:env/:name: where a job's instances run and which of them a client
// may be sent to now, as discovery.ts decides it (the DNS server asks the same question there, so
// a name and this API never disagree). With ?watch it is a stream of Server-Sent Events: the whole
// view at once, then the whole view again each time it changes, for a load balancer or a client
// library to follow a service without polling.
//
// The view is compared after each batch of the event log is applied, so a change reaches a watcher
// as soon as it is durable. Each message is the whole view rather than a patch: a watcher that
// reconnects, or falls behind, needs nothing but the latest one. So a slow reader is not cut off
// as the event stream's is: while its socket is backed up nothing more is queued, and once it
// drains it gets the view as it is then (the views it missed in between are of no use to it).
//
// Only the leader serves it (a standby redirects, as for every API call); a leader that is deposed
// exits, which ends the stream, and the client connects again and is sent to the new leader, whose
// first message is the whole view.

import type { ServerResponse } from 'node:http';
import { MusterError, formatJobKey, parseJobKey } from '../../core/index.js';
import type { EndpointView, EndpointsView } from '../../protocol/index.js';
import { findJob } from '../commands/jobs.js';
import { endpointsOf, liveJob, type Endpoint } from '../discovery.js';
import type { EventLog } from '../eventlog.js';
import type { CellState } from '../state/index.js';
import { sendJson, type Router } from './router.js';

/** KEEPALIVE_MS: a comment this often keeps proxies and idle timeouts from closing a quiet watch. */
const KEEPALIVE_MS = 15_000;
/** RETRY_MS is the reconnection delay the stream asks of its clients (the SSE `retry` field). */
const RETRY_MS = 2000;

export interface EndpointRoutesDeps {
  log: EventLog;
}

export function addEndpointRoutes(router: Router, deps: EndpointRoutesDeps): void {
  const { log } = deps;
  router.add(
    'GET',
    '/api/v1/endpoints/:role/:env/:name',
    ({ req, res, url, params }) => {
      const key = formatJobKey(parseJobKey(`${params['role'] ?? ''}/${params['env'] ?? ''}/${params['name'] ?? ''}`));
      const first = endpointsView(log.state, key, findJob(log.state, key).version ?? 1);
      if (!wantsWatch(url.searchParams.getAll('watch'))) {
        sendJson(res, 200, first);
        return;
      }
      let version = first.version;
      let sent = '';
      let closed = false;
      const send = (): void => {
        if (closed) return;
        const view = endpointsView(log.state, key, version);
        version = view.version;
        const text = JSON.stringify(view);
        // Backed up: 'drain' calls send again, with the view as it is by then.
        if (text === sent || res.writableNeedDrain) return;
        sent = text;
        res.write(`id: ${log.lastIndex}\nevent: endpoints\ndata: ${text}\n\n`);
      };
      const stopAppended = log.onAppended(send);
      const stopReloaded = log.onReloaded(send);
      const keepalive = setInterval(() => {
        if (!res.writableNeedDrain) res.write(': keepalive\n\n');
      }, KEEPALIVE_MS);
      keepalive.unref();
      const close = (): void => {
        if (closed) return;
        closed = true;
        clearInterval(keepalive);
        stopAppended();
        stopReloaded();
      };
      req.socket.on('close', close);
      res.on('close', close);
      res.on('drain', send);
      writeHead(res, key);
      send();
    },
    { permission: { action: 'job:read', role: ({ params }) => params['role'] ?? '' } },
  );
}

function writeHead(res: ServerResponse, key: string): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
  res.write(`retry: ${RETRY_MS}\n: muster endpoints of ${key}\n\n`);
}

/**
 * endpointsView is the view of a job's endpoints now. A job that is gone (pruned while watched) or
 * killed has none; version is then the last one seen, so that a watch's messages stay comparable.
 */
export function endpointsView(state: CellState, key: string, lastVersion: number): EndpointsView {
  const record = state.jobs.get(key);
  const version = record?.version ?? (record === undefined ? lastVersion : 1);
  const [role = '', env = '', name = ''] = key.split('/');
  const job = liveJob(state, role, env, name);
  return { job: key, version, instances: job === undefined ? [] : endpointsOf(state, job).map(endpointView) };
}

/** endpointView is an endpoint as the API shows it: the agent's id is the master's business. */
function endpointView(e: Endpoint): EndpointView {
  const v: EndpointView = { instance: e.instance, taskId: e.taskId, host: e.host, address: e.address, ports: e.ports, state: e.state, ready: e.ready };
  if (e.healthy !== undefined) v.healthy = e.healthy;
  if (e.why !== undefined) v.why = e.why;
  return v;
}

/** wantsWatch reads ?watch: present without a value, or true/1, asks for the stream; false/0 or absent do not. */
export function wantsWatch(values: readonly string[]): boolean {
  if (values.length === 0) return false;
  if (values.length > 1) throw new MusterError('INVALID_ARGUMENT', 'watch is given more than once', { details: { field: 'watch' } });
  const v = (values[0] ?? '').toLowerCase();
  if (v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new MusterError('INVALID_ARGUMENT', `watch must be true or false, not "${v.slice(0, 40)}"`, { details: { field: 'watch' } });
}
