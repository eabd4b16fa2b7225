// EventLoopDelay measures how long the master's event loop goes without turning: the promise that
// no request blocks it for more than 50 ms (a blocked loop answers no one, acknowledges no agent,
// sends no heartbeat) made checkable. node's monitorEventLoopDelay times a timer due every
// RESOLUTION_MS; the longest gap between two of its ticks is an upper bound on the longest stretch
// anything held the loop (give or take the timer's own granularity; an idle loop shows about
// RESOLUTION_MS). Each second that longest gap is taken and the timer's histogram started again.
//
// The loop belongs to the process, not to a master: one monitor serves every master in the process
// (tests start several), started on first use and never stopped, its timers unref'd. The masters'
// metrics hear each second's figure through weak references, so a master that is gone is forgotten.

import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** RESOLUTION_MS is the period of the timer whose lateness is measured. */
export const RESOLUTION_MS = 5;
/** WINDOW_SECS is how far back maxSeconds() looks. */
export const WINDOW_SECS = 60;

type SecondListener = (maxSeconds: number) => void;

class EventLoopDelay {
  private readonly histogram: IntervalHistogram;
  /** The longest gap of each of the last WINDOW_SECS seconds, in seconds, oldest first. */
  private readonly seconds: number[] = [];
  private readonly listeners = new Set<WeakRef<SecondListener>>();

  constructor() {
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.histogram.enable();
    setInterval(() => this.tick(), 1000).unref();
  }

  /** onSecond calls listener each second with that second's longest gap, as long as listener itself is kept alive elsewhere. */
  onSecond(listener: SecondListener): void {
    this.listeners.add(new WeakRef(listener));
  }

  /** maxSeconds is the longest gap over the last WINDOW_SECS seconds, the second under way included. */
  maxSeconds(): number {
    let max = this.current();
    for (const s of this.seconds) if (s > max) max = s;
    return max;
  }

  /** current is the longest gap since the last tick (0 before the timer has ticked twice). */
  private current(): number {
    return this.histogram.count === 0 ? 0 : this.histogram.max / 1e9;
  }

  private tick(): void {
    const max = this.current();
    this.histogram.reset();
    this.seconds.push(max);
    if (this.seconds.length > WINDOW_SECS) this.seconds.shift();
    for (const ref of this.listeners) {
      const listener = ref.deref();
      if (listener === undefined) this.listeners.delete(ref);
      else listener(max);
    }
  }
}

let monitor: EventLoopDelay | undefined;

/** eventLoopDelay is the process's monitor, started on first use. */
export function eventLoopDelay(): EventLoopDelay {
  monitor ??= new EventLoopDelay();
  return monitor;
}

export type { EventLoopDelay };
