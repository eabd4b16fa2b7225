// The drain controller: the loop that moves service instances off draining hosts. What to move is
// decided by commands/drain.ts against the state it is appended to; this only decides when to ask.

import type { Logger } from '../../log/index.js';
import { drainHosts } from '../commands/drain.js';
import type { EventLog } from '../eventlog.js';
import { startControllerLoop, type ControllerLoop } from './loop.js';

/** DRAIN_INTERVAL_MS: how often the controller looks again without an append (a backoff ending, a health check turning). */
export const DRAIN_INTERVAL_MS = 1000;

/** DrainController is the running drain loop; close stops it. */
export type DrainController = ControllerLoop;

/**
 * startDrainController runs drainHosts inside log.submit after each append and every
 * DRAIN_INTERVAL_MS, while any host is in maintenance. Since it emits only when there is something
 * to kill, its own events lead to one more look that finds nothing.
 */
export function startDrainController(log: EventLog, logger: Logger): DrainController {
  return startControllerLoop(log, logger, {
    what: 'drain controller',
    intervalMs: DRAIN_INTERVAL_MS,
    idle: () => log.state.maintenance.size === 0,
    decide: (state, now) => ({ events: drainHosts(state, now).events, result: undefined }),
  });
}
