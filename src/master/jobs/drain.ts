// The drain controller: the loop that moves service instances off draining hosts. What to move is
// decided by commands/drain.ts against the state it is appended to; this only decides when to ask.

import type { Logger } from '../../log/index.js';
import { drainHosts } from '../commands/drain.js';
import type { EventLog } from '../eventlog.js';

/** DRAIN_INTERVAL_MS: how often the controller looks again without an append (a backoff ending, a health check turning). */
export const DRAIN_INTERVAL_MS = 1000;

/** DrainController is the running drain loop; close stops it. */
export interface DrainController {
  close(): void;
}

/**
 * startDrainController runs drainHosts inside log.submit after each append (coalesced, so a burst
 * of status updates costs one look) and every DRAIN_INTERVAL_MS. Deciding inside submit means it
 * decides against the state as it is, never twice for the same kill; and since it emits only when
 * there is something to kill, its own events lead to one more look that finds nothing.
 */
export function startDrainController(log: EventLog, logger: Logger): DrainController {
  let scheduled = false;
  let closed = false;
  const run = (): void => {
    scheduled = false;
    if (closed || log.state.maintenance.size === 0) return;
    log
      .submit(drainHosts)
      .catch((e: unknown) => {
        // The log refuses commands only when it is failing, and then the master restarts.
        logger.warn('drain controller could not move instances', { error: e instanceof Error ? e.message : String(e) });
      });
  };
  const kick = (): void => {
    if (scheduled || closed) return;
    scheduled = true;
    setImmediate(run);
  };
  const stopListening = log.onAppended(kick);
  const timer = setInterval(kick, DRAIN_INTERVAL_MS);
  timer.unref();
  kick();
  return {
    close(): void {
      closed = true;
      stopListening();
      clearInterval(timer);
    },
  };
}
