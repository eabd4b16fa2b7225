// Routes for agents: GET /api/v1/agents (sortable, filterable, paged: the UI's agents page on a cell
// of thousands) and GET /api/v1/agents/:agentId. The cell view lists every agent too; these are
// for when a page of them is enough.

import { MusterError } from '../../core/index.js';
import type { AgentList, AgentView } from '../../protocol/index.js';
import { agentView, type ViewContext } from '../views.js';
import { compareText, listParam, pageInfo, pageOf, parsePage, textParam } from './paging.js';
import { sendJson, type Router } from './router.js';

/** AGENT_SORTS are the orders ?sort= takes; "-" before one reverses it. */
const AGENT_SORTS: Record<string, (a: AgentView, b: AgentView) => number> = {
  hostname: (a, b) => compareText(a.hostname, b.hostname) || compareText(a.agentId, b.agentId),
  state: (a, b) => compareText(a.state, b.state) || compareText(a.hostname, b.hostname),
  tasks: (a, b) => a.taskCount - b.taskCount || compareText(a.hostname, b.hostname),
  cpus: (a, b) => share(a, 'cpus') - share(b, 'cpus') || compareText(a.hostname, b.hostname),
  mem: (a, b) => share(a, 'mem') - share(b, 'mem') || compareText(a.hostname, b.hostname),
  registered: (a, b) => a.registeredAt - b.registeredAt || compareText(a.hostname, b.hostname),
};

/** share is the part of an agent's cpus or mem in use, 0 to 1. */
function share(a: AgentView, r: 'cpus' | 'mem'): number {
  const total = r === 'cpus' ? a.total.cpus : a.total.mem;
  const used = r === 'cpus' ? a.used.cpus : a.used.mem;
  return total > 0 ? used / total : 0;
}

export function addAgentRoutes(router: Router, deps: { view: () => ViewContext }): void {
  router.add('GET', '/api/v1/agents', ({ res, url }) => {
    const ctx = deps.view();
    const q = textParam(url, 'q')?.toLowerCase();
    const states = listParam(url, 'state');
    const sortParam = textParam(url, 'sort', 32) ?? 'hostname';
    const desc = sortParam.startsWith('-');
    const compare = AGENT_SORTS[desc ? sortParam.slice(1) : sortParam];
    if (compare === undefined) {
      throw new MusterError('INVALID_ARGUMENT', `?sort= must be one of ${Object.keys(AGENT_SORTS).join(', ')} (with - before it to reverse), not ${JSON.stringify(sortParam)}`, { details: { field: 'sort' } });
    }
    const page = parsePage(url);
    const matching: AgentView[] = [];
    for (const a of ctx.state.agents.values()) {
      if (q !== undefined && !matchesText(a.hostname, a.agentId, a.address, a.attributes, q)) continue;
      const v = agentView(ctx, a);
      if (states !== undefined && !states.has(v.state)) continue;
      matching.push(v);
    }
    matching.sort(desc ? (a, b) => compare(b, a) : compare);
    const answer: AgentList = { agents: pageOf(matching, page), ...pageInfo(matching.length, page) };
    sendJson(res, 200, answer);
  });

  router.add('GET', '/api/v1/agents/:agentId', ({ res, params }) => {
    const ctx = deps.view();
    const a = ctx.state.agents.get(params['agentId'] ?? '');
    if (a === undefined) throw new MusterError('NOT_FOUND', `no agent ${JSON.stringify((params['agentId'] ?? '').slice(0, 80))}; see muster cell status`);
    sendJson(res, 200, agentView(ctx, a));
  });
}

/** matchesText: q (lower case) is part of the agent's hostname, id, address, or one of its attributes ("rack:r1"). */
function matchesText(hostname: string, agentId: string, address: string, attributes: Record<string, string>, q: string): boolean {
  if (hostname.toLowerCase().includes(q) || agentId.toLowerCase().includes(q) || address.includes(q)) return true;
  return Object.entries(attributes).some(([k, v]) => `${k}:${v}`.toLowerCase().includes(q));
}
