// Host maintenance commands: drain or activate hosts by hostname, checked against the agents the
// event is appended beside; one unknown name refuses the whole request.

import { MusterError } from '../../core/index.js';
import { authorize, type Caller } from '../auth/index.js';
import type { Decision } from '../eventlog.js';
import type { CellState, Event, HostMode } from '../state/index.js';

/** setMaintenance puts the hosts not in the mode already into it (a host drained again keeps its first `since`). */
export function setMaintenance(state: CellState, now: number, caller: Caller, hostnames: readonly string[], mode: HostMode): Decision<void> {
  authorize(state, caller, 'host:drain', '*');
  const known = new Set<string>();
  for (const a of state.agents.values()) known.add(a.hostname);
  const unknown = hostnames.filter((h) => !known.has(h));
  if (unknown.length > 0) {
    const shown = unknown.slice(0, 5).join(', ') + (unknown.length > 5 ? ` and ${unknown.length - 5} more` : '');
    throw new MusterError('AGENT_NOT_FOUND', `no agent has the hostname ${shown}; see muster host status`, {
      details: { hostnames: unknown.slice(0, 100) },
    });
  }
  // Draining a host again keeps its first `since`: the drain has been going on since then.
  const changed = hostnames.filter((h) => (mode === 'DRAINING') !== state.maintenance.has(h));
  const events: Event[] = changed.length === 0 ? [] : [{ type: 'HostMaintenance', at: now, hostnames: changed, mode }];
  return { events, result: undefined };
}
