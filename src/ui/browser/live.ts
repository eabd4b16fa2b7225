// The live cell: one event stream per tab (GET /api/v1/events), resumed with Last-Event-ID after a
// blip so that nothing is missed, instead of polling. Pages subscribe with what they care about and
// read their data again (at most every so often) when a matching event comes; the timeline keeps
// the latest events. A reset (the master cannot replay what was missed) makes every page read again.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { EventView } from '../../protocol/index.js';
import { api, onSessionChange } from './session.js';

export type Connection = 'connecting' | 'live' | 'disconnected';

const TIMELINE = 200;
let connection: Connection = 'connecting';
let controller: AbortController | undefined;
let lastIndex: number | undefined;
/** The cell's other masters (HA), where a person can go when this one is gone. */
let otherMasters: string[] = [];
const recent: EventView[] = [];
const eventListeners = new Set<(e: EventView | undefined) => void>();
const connectionListeners = new Set<(c: Connection) => void>();

function setConnection(c: Connection): void {
  if (c === connection) return;
  connection = c;
  for (const l of connectionListeners) l(c);
}

function deliver(e: EventView | undefined): void {
  if (e !== undefined) {
    lastIndex = e.index;
    recent.push(e);
    if (recent.length > TIMELINE) recent.splice(0, recent.length - TIMELINE);
  }
  for (const l of eventListeners) l(e);
}

/** startLive opens the stream (again, after a login), from the log index the master is at now. */
export function startLive(): void {
  controller?.abort();
  const c = new AbortController();
  controller = c;
  setConnection('connecting');
  const run = async (): Promise<void> => {
    const client = api();
    for (;;) {
      if (c.signal.aborted) return;
      try {
        // The first connection asks for live events only: every page reads its data again once the
        // stream is live (useLive), which covers what happened before. Later ones resume from the
        // last event seen (Last-Event-ID), so nothing is missed across a blip or a failover.
        await client.events(deliver, c.signal, {
          ...(lastIndex === undefined ? {} : { since: lastIndex }),
          reconnect: true,
          onConnection: (up) => {
            setConnection(up ? 'live' : 'disconnected');
            if (up) learnMasters();
          },
          // Missed events cannot be replayed: every page reads its data again.
          onReset: () => deliver(undefined),
        });
        return;
      } catch {
        // Not allowed (a token without job:read on every role), or a refusal: say so, try again later.
        setConnection('disconnected');
        await new Promise((r) => setTimeout(r, 5000));
      }
    }
  };
  void run();
}

onSessionChange(() => startLive());

/** learnMasters reads the cell's masters in the background, for the banner when this one goes away. */
function learnMasters(): void {
  api()
    .cellSummary()
    .then(
      (cell) => (otherMasters = (cell.masters ?? []).map((m) => m.url).filter((u) => u !== location.origin)),
      () => undefined,
    );
}

export function useConnection(): Connection {
  const [c, setC] = useState(connection);
  useEffect(() => {
    connectionListeners.add(setC);
    setC(connection);
    return () => void connectionListeners.delete(setC);
  }, []);
  return c;
}

/** useTimeline is the latest events, newest first, kept current. */
export function useTimeline(max = 50): EventView[] {
  const [, setTick] = useState(0);
  useEffect(() => {
    const on = (): void => setTick((n) => n + 1);
    eventListeners.add(on);
    return () => void eventListeners.delete(on);
  }, []);
  return recent.slice(-max).reverse();
}

/**
 * useLive calls refresh when an event for which matches() is true arrives (every event when
 * matches is absent, and always after a reset or a reconnect), at most once per minGapMs: a burst
 * of a thousand task updates is one read, not a thousand.
 */
export function useLive(refresh: () => void, opts: { matches?: (e: EventView, text: string) => boolean; minGapMs?: number } = {}): void {
  const ref = useRef({ refresh, opts });
  ref.current = { refresh, opts };
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last = 0;
    const fire = (): void => {
      timer = undefined;
      last = Date.now();
      ref.current.refresh();
    };
    const schedule = (): void => {
      if (timer !== undefined) return;
      const gap = ref.current.opts.minGapMs ?? 300;
      timer = setTimeout(fire, Math.max(0, last + gap - Date.now()));
    };
    const onEvent = (e: EventView | undefined): void => {
      const m = ref.current.opts.matches;
      if (e === undefined || m === undefined || m(e, JSON.stringify(e))) schedule();
    };
    const onConnection = (c: Connection): void => {
      if (c === 'live') schedule();
    };
    eventListeners.add(onEvent);
    connectionListeners.add(onConnection);
    return () => {
      eventListeners.delete(onEvent);
      connectionListeners.delete(onConnection);
      if (timer !== undefined) clearTimeout(timer);
    };
  }, []);
}

/**
 * otherMastersNow: the other masters of an HA cell. The page cannot ask them itself (another origin:
 * its Content-Security-Policy and the API's lack of CORS forbid it), but the browser can go there: a
 * standby answers the same page with 307 to the new leader.
 */
export function otherMastersNow(): readonly string[] {
  return otherMasters;
}
