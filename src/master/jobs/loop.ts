// A controller loop: the master's own decisions that follow the log (host drains, updates) run
// inside log.submit, so each decides against the state as it is and never twice for the same
// thing. The loop looks again after appends that may matter (coalesced, so a burst of status
// updates costs one look), every interval, and at the time a decision asks to be woken.

import type { Logger } from '../../log/index.js';
import type { Decision, EventLog } from '../eventlog.js';
import type { CellState, LoggedEvent } from '../state/index.js';

/** ControllerLoop is a running loop; close stops it. */
export interface ControllerLoop {
  close(): void;
}

export interface ControllerLoopOptions {
  /** What the loop does, for the warning should the log refuse it. */
  what: string;
  intervalMs: number;
  /** Nothing to decide now (a look is skipped without a submit). */
  idle: () => boolean;
  /** The appends that should wake it (default: every one). */
  wakesOn?: (events: readonly LoggedEvent[]) => boolean;
  /** The decision; its result, if any, is when to look again (ms since epoch). */
  decide: (state: CellState, now: number) => Decision<number | undefined>;
}

export function startControllerLoop(log: EventLog, logger: Logger, o: ControllerLoopOptions): ControllerLoop {
  let scheduled = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const run = (): void => {
    scheduled = false;
    if (closed || o.idle()) return;
    log
      .submit(o.decide)
      .then((wakeAt) => {
        if (wakeAt === undefined || closed) return;
        clearTimeout(timer);
        // Beyond the interval the interval's own look comes first; setTimeout takes at most 2^31-1 ms
        // (a yearly cron time is further) and fires at once past that.
        timer = setTimeout(kick, Math.min(Math.max(0, wakeAt - log.now()) + 5, o.intervalMs));
        timer.unref();
      })
      .catch((e: unknown) => {
        // The log refuses commands only when it is failing (then the master restarts) or no longer leads.
        logger.warn(`${o.what}: could not decide`, { error: e instanceof Error ? e.message : String(e) });
      });
  };
  const kick = (): void => {
    if (scheduled || closed) return;
    scheduled = true;
    setImmediate(run);
  };
  const stopListening = log.onAppended((events) => {
    if (o.wakesOn === undefined || o.wakesOn(events)) kick();
  });
  const interval = setInterval(kick, o.intervalMs);
  interval.unref();
  kick();
  return {
    close(): void {
      closed = true;
      stopListening();
      clearInterval(interval);
      clearTimeout(timer);
    },
  };
}
