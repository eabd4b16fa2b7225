// The cell's frameworks for operators: GET /api/v1/frameworks lists the built-in framework "muster"
// and every external one (connected or within its failover timeout), with what each holds;
// POST /api/v1/frameworks/:id/teardown removes an external framework and kills its tasks.

import { add, EMPTY, isTerminal, MusterError, toView, type Resources } from '../../core/index.js';
import type { FrameworkList, FrameworkView, OfferView } from '../../protocol/index.js';
import type { BookedOffer } from '../frameworks/book.js';
import type { ExternalFrameworks } from '../frameworks/external.js';
import type { EventLog } from '../eventlog.js';
import { sendJson, type Router } from './router.js';

export interface FrameworkRouteDeps {
  readonly log: EventLog;
  /** The leader's external frameworks; undefined on a standby (it answers from its followed state). */
  readonly externals: () => ExternalFrameworks | undefined;
  /** The leader's, for teardown (throws NOT_LEADER elsewhere). */
  readonly leading: () => ExternalFrameworks;
  /** A framework's outstanding offers in the leader's offer book; none on a standby. */
  readonly offers?: (frameworkId: string) => readonly BookedOffer[];
}

/** MAX_OFFERS_SHOWN bounds the offers listed per framework (offerCount says how many there are). */
const MAX_OFFERS_SHOWN = 100;

function withOffers(v: FrameworkView, offers: readonly BookedOffer[] | undefined): FrameworkView {
  if (offers === undefined) return v;
  v.offerCount = offers.length;
  v.offers = offers.slice(0, MAX_OFFERS_SHOWN).map((o) => {
    const view: OfferView = { offerId: o.offerId, agentId: o.agentId, hostname: o.hostname, resources: toView(o.resources), offeredAt: o.offeredAt };
    if (o.expiresAt !== undefined) view.expiresAt = o.expiresAt;
    return view;
  });
  return v;
}

export function addFrameworkRoutes(router: Router, deps: FrameworkRouteDeps): void {
  router.add('GET', '/api/v1/frameworks', ({ res }) => {
    const state = deps.log.state;
    const externals = deps.externals();
    const frameworks: FrameworkView[] = [];
    for (const f of state.frameworks.values()) {
      // What its live tasks hold, kept by apply().
      const used = f.used ?? EMPTY;
      const v: FrameworkView = {
        frameworkId: f.frameworkId,
        name: f.name,
        builtIn: false,
        connected: externals?.isConnected(f.frameworkId) ?? false,
        roles: [...f.roles],
        user: f.user,
        failoverTimeoutSecs: f.failoverTimeoutSecs,
        registeredAt: f.registeredAt,
        tasks: f.taskIds.size,
        used: toView(used),
      };
      if (f.principal !== undefined) v.principal = f.principal;
      if (f.hostname !== undefined) v.hostname = f.hostname;
      if (f.webuiUrl !== undefined) v.webuiUrl = f.webuiUrl;
      if (f.reregisteredAt !== undefined) v.reregisteredAt = f.reregisteredAt;
      frameworks.push(withOffers(v, deps.offers?.(f.frameworkId)));
    }
    let builtInUsed: Resources = EMPTY;
    let builtInTasks = 0;
    for (const t of state.tasks.values()) {
      if (t.frameworkId !== undefined || isTerminal(t.state)) continue;
      builtInUsed = add(builtInUsed, t.resources);
      builtInTasks++;
    }
    frameworks.unshift(withOffers({ frameworkId: 'muster', name: 'muster', builtIn: true, connected: true, roles: ['*'], tasks: builtInTasks, used: toView(builtInUsed) }, deps.offers?.('muster')));
    const answer: FrameworkList = { frameworks };
    sendJson(res, 200, answer);
  });
  router.add('POST', '/api/v1/frameworks/:id/teardown', async ({ res, params, caller }) => {
    const id = params['id'] ?? '';
    if (id === 'muster') throw new MusterError('INVALID_ARGUMENT', 'the built-in framework "muster" cannot be torn down; kill its jobs instead');
    if (!deps.log.state.frameworks.has(id)) throw new MusterError('NOT_FOUND', `no framework ${id}; \`muster framework list\` shows the frameworks`);
    await deps.leading().remove(id, 'torn down by an operator', caller);
    sendJson(res, 200, { frameworkId: id, removed: true });
  });
}
