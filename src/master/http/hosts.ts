// Routes for host maintenance: /api/v1/hosts... Draining a host is one HostMaintenance event: from
// then on the scheduler places nothing new there, and the drain controller (jobs/drain.ts) moves
// its service instances elsewhere in batches. Activating it makes it a host like any other again.

import { MusterError, isTerminal } from '../../core/index.js';
import type { HostModeView, HostView, HostsAnswer } from '../../protocol/index.js';
import { setMaintenance } from '../commands/hosts.js';
import type { Caller } from '../auth/index.js';
import type { EventLog } from '../eventlog.js';
import type { CellState, HostMode } from '../state/index.js';
import { readJson, sendJson, type Router } from './router.js';

/** MAX_HOSTS_PER_REQUEST bounds one drain or activate, so that one event stays small. */
export const MAX_HOSTS_PER_REQUEST = 1000;

/** MAX_HOSTNAME_LENGTH is DNS's bound on a full hostname. */
export const MAX_HOSTNAME_LENGTH = 255;

/** HOSTNAME is what agents may be called: DNS names, with underscores, as `--hostname` allows. */
const HOSTNAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;

// Each name is at most 255 characters and quoted: 1000 of them fit in well under 512 KiB.
const MAX_BODY_BYTES = 512 * 1024;

export interface HostRoutesDeps {
  log: EventLog;
}

export function addHostRoutes(router: Router, deps: HostRoutesDeps): void {
  const { log } = deps;

  router.add('GET', '/api/v1/hosts', ({ res }) => {
    const answer: HostsAnswer = { hosts: hostViews(log.state) };
    sendJson(res, 200, answer);
  });

  router.add('POST', '/api/v1/hosts/drain', async ({ req, res, caller }) => {
    sendJson(res, 200, await setMode(log, caller, parseHostsRequest(await readJson(req, MAX_BODY_BYTES)), 'DRAINING'));
  });

  router.add('POST', '/api/v1/hosts/activate', async ({ req, res, caller }) => {
    sendJson(res, 200, await setMode(log, caller, parseHostsRequest(await readJson(req, MAX_BODY_BYTES)), 'ACTIVE'));
  });
}

/**
 * setMode commits one HostMaintenance event for the hosts not in the mode already, and answers
 * with every host named as it is then. The names are checked against the agents inside submit,
 * so that a host is known at the moment it is drained; one unknown name refuses the whole request.
 */
async function setMode(log: EventLog, caller: Caller, hostnames: string[], mode: HostMode): Promise<HostsAnswer> {
  await log.submit((state, now) => setMaintenance(state, now, caller, hostnames, mode), caller.principal);
  // Once durable, the state holds the new modes (applied at submit): the answer shows them.
  return { hosts: hostViews(log.state, new Set(hostnames)) };
}

/**
 * hostViews lists the hosts (every hostname an agent registered with, and every host in
 * maintenance), sorted by name, or only those in `only`. A host's figures add up all its agents.
 */
export function hostViews(state: CellState, only?: ReadonlySet<string>): HostView[] {
  const hosts = new Map<string, { agentIds: string[]; tasks: number; services: number }>();
  const entry = (hostname: string): { agentIds: string[]; tasks: number; services: number } => {
    let e = hosts.get(hostname);
    if (e === undefined) {
      e = { agentIds: [], tasks: 0, services: 0 };
      hosts.set(hostname, e);
    }
    return e;
  };
  for (const agent of state.agents.values()) {
    if (only !== undefined && !only.has(agent.hostname)) continue;
    const e = entry(agent.hostname);
    e.agentIds.push(agent.agentId);
    for (const id of agent.taskIds) {
      const task = state.tasks.get(id);
      if (task === undefined || isTerminal(task.state)) continue;
      e.tasks++;
      if (state.jobs.get(task.job)?.spec.kind === 'service') e.services++;
    }
  }
  for (const hostname of state.maintenance.keys()) {
    if (only === undefined || only.has(hostname)) entry(hostname);
  }
  return [...hosts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([hostname, e]) => {
      const record = state.maintenance.get(hostname);
      const mode: HostModeView = record === undefined ? 'ACTIVE' : e.tasks === 0 ? 'DRAINED' : 'DRAINING';
      const view: HostView = { hostname, agentIds: e.agentIds.sort(), mode, tasks: e.tasks, services: e.services };
      if (record !== undefined) view.since = record.since;
      return view;
    });
}

function invalid(field: string, message: string): MusterError {
  return new MusterError('INVALID_ARGUMENT', `field "${field}": ${message}`, { details: { field } });
}

/**
 * parseHostsRequest validates the body of drain and activate: {"hostnames": [...]}, one to
 * MAX_HOSTS_PER_REQUEST hostnames, each a hostname of at most MAX_HOSTNAME_LENGTH characters.
 * A name given twice counts once.
 */
export function parseHostsRequest(body: unknown): string[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new MusterError('INVALID_ARGUMENT', 'the body must be an object like {"hostnames": ["host-1", "host-2"]}');
  }
  const doc = body as Record<string, unknown>;
  const unknown = Object.keys(doc).find((k) => k !== 'hostnames');
  if (unknown !== undefined) throw invalid(unknown.slice(0, 64), 'unknown field; the body names only hostnames');
  const names = doc['hostnames'];
  if (!Array.isArray(names)) throw invalid('hostnames', 'must be a list of hostnames, e.g. ["host-1"]');
  if (names.length === 0) throw invalid('hostnames', 'must name at least one host');
  if (names.length > MAX_HOSTS_PER_REQUEST) throw invalid('hostnames', `names ${names.length} hosts; at most ${MAX_HOSTS_PER_REQUEST} at a time`);
  const out = new Set<string>();
  names.forEach((name: unknown, i) => {
    if (typeof name !== 'string') throw invalid(`hostnames[${i}]`, 'must be a string');
    if (name.length > MAX_HOSTNAME_LENGTH) throw invalid(`hostnames[${i}]`, `is ${name.length} characters; a hostname has at most ${MAX_HOSTNAME_LENGTH}`);
    if (!HOSTNAME.test(name)) throw invalid(`hostnames[${i}]`, `"${name}" is not a hostname: letters, digits, ".", "-" and "_"`);
    out.add(name);
  });
  return [...out];
}
