// waitFor polls until something holds. Tests use it to wait, never to judge speed: the timeout only
// bounds a hang, and when it fires the error says what was awaited and the last thing seen.

import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';

export interface WaitOptions<T> {
  /** What is awaited, for the error: "3 instances of web/prod/hello to be TASK_RUNNING". */
  what: string;
  /** Holds when the wait is over; without it, any value other than undefined, null and false ends it. */
  until?: (value: T) => boolean;
  timeoutMs?: number;
  intervalMs?: number;
}

/** describe is a short, readable form of the last value (or error) seen. */
export function describe(value: unknown): string {
  const text = value instanceof Error ? `${value.name}: ${value.message}` : inspect(value, { depth: 6, breakLength: 120 });
  return text.length > 4000 ? `${text.slice(0, 4000)} ...` : text;
}

/**
 * waitFor calls probe until until(value) holds (or, without until, until it returns a value other
 * than undefined, null or false) and returns that value. A probe that throws is retried: the master
 * may be restarting. On timeout it throws naming what it waited for and the last value or error.
 */
export async function waitFor<T>(probe: () => T | Promise<T>, options: WaitOptions<T> & { until: (value: T) => boolean }): Promise<T>;
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  options: Omit<WaitOptions<T>, 'until'>,
): Promise<Exclude<T, undefined | null | false>>;
export async function waitFor<T>(probe: () => T | Promise<T>, options: WaitOptions<T>): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 200;
  const until = options.until ?? ((v: T) => v !== undefined && v !== null && v !== false);
  const deadline = Date.now() + timeoutMs;
  let last: unknown = '(nothing yet)';
  for (;;) {
    try {
      const value = await probe();
      last = value;
      if (until(value)) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${options.what}; last seen: ${describe(last)}`);
    }
    await sleep(intervalMs);
  }
}

/** settle waits a fixed time, for checks that something does NOT happen (an instance not restarted). */
export async function settle(ms: number): Promise<void> {
  await sleep(ms);
}
