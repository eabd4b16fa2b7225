// EventLoopDelay measures how long a daemon's event loop goes without turning: the promise that
// no request (on a master) or launch (on an agent) blocks it for more than 50 ms (a blocked loop
// answers no one, acknowledges no update, sends no heartbeat) made checkable. A timer due every RESOLUTION_MS notes, at each tick, the
// time since the last one (the gap: an upper bound on how long anything held the loop, give or
// take the timer's own granularity; an idle loop shows about RESOLUTION_MS) and the CPU time the
// process used meanwhile. The smaller of the two is the block: time the loop spent working without
// turning. The difference matters on a busy host: a master the kernel does not run for 80 ms shows
// an 80 ms gap, which its clients feel, but no block, which no request of its own caused.
//
// Each second the longest gap and the longest block are taken and started again. The loop belongs
// to the process, not to a master: one monitor serves every master in the process (tests start
// several), started on first use and never stopped, its timers unref'd. The masters' metrics hear
// each second's figures through weak references, so a master that is gone is forgotten.

import { performance } from 'node:perf_hooks';

/** RESOLUTION_MS is the period of the timer whose ticks are measured. */
export const RESOLUTION_MS = 5;
/** WINDOW_SECS is how far back the maxima look. */
export const WINDOW_SECS = 60;

/** LoopSecond is one second's longest gap between ticks and longest block, in seconds. */
export interface LoopSecond {
  readonly gap: number;
  readonly block: number;
}

type SecondListener = (second: LoopSecond) => void;

class EventLoopDelay {
  private lastTick = performance.now();
  private lastCpu = process.cpuUsage();
  private gap = 0;
  private block = 0;
  /** The last WINDOW_SECS seconds, oldest first. */
  private readonly seconds: LoopSecond[] = [];
  private readonly listeners = new Set<WeakRef<SecondListener>>();

  constructor() {
    setInterval(() => this.tick(), RESOLUTION_MS).unref();
    setInterval(() => this.endSecond(), 1000).unref();
  }

  /** onSecond calls listener each second with that second's figures, as long as listener itself is kept alive elsewhere. */
  onSecond(listener: SecondListener): void {
    this.listeners.add(new WeakRef(listener));
  }

  /** max is the longest gap and the longest block over the last WINDOW_SECS seconds, the second under way included. */
  max(): LoopSecond {
    let gap = this.gap;
    let block = this.block;
    for (const s of this.seconds) {
      if (s.gap > gap) gap = s.gap;
      if (s.block > block) block = s.block;
    }
    return { gap, block };
  }

  private tick(): void {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const gapMs = now - this.lastTick;
    // CPU time counts every thread of the process; the gap bounds it to what the loop can have spent.
    const blockMs = Math.min(gapMs, (cpu.user - this.lastCpu.user + cpu.system - this.lastCpu.system) / 1000);
    this.lastTick = now;
    this.lastCpu = cpu;
    if (gapMs / 1000 > this.gap) this.gap = gapMs / 1000;
    if (blockMs / 1000 > this.block) this.block = blockMs / 1000;
  }

  private endSecond(): void {
    const second = { gap: this.gap, block: this.block };
    this.gap = 0;
    this.block = 0;
    this.seconds.push(second);
    if (this.seconds.length > WINDOW_SECS) this.seconds.shift();
    for (const ref of this.listeners) {
      const listener = ref.deref();
      if (listener === undefined) this.listeners.delete(ref);
      else listener(second);
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
