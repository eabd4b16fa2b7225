// GET /api/v1/events streams the log as Server-Sent Events: one message per event, its log index
// as the SSE id. A client that reconnects sends the last id it saw (Last-Event-ID, as EventSource
// does) or asks for ?since=N, and gets every event after it: first the ones it missed, read from
// the store, then the live ones, with no gap and no duplicate. Where the store no longer holds
// them (a snapshot truncated the log past that index), or the index is beyond the log's head (a
// client of another cell, or of a store restored from an older snapshot), it gets one `reset`
// message instead: its view cannot be patched, it must read the state again.
//
// The latest events are kept in memory (RecentEvents), so the usual resume, a client reconnecting
// after a blip, is served without reading the store; only an older index costs a store read.
//
// A client too slow to keep up is dropped rather than let the master buffer without bound; it
// reconnects with the last id it has and reads what it missed from the store.

import type { ServerResponse } from 'node:http';
import { MusterError } from '../../core/index.js';
import type { EventResetView, EventView } from '../../protocol/index.js';
import type { EventLog } from '../eventlog.js';
import type { Event, LoggedEvent } from '../state/index.js';
import type { Router } from './router.js';

const MAX_BUFFERED = 8 * 1024 * 1024;
const KEEPALIVE_MS = 15_000;
/** RETRY_MS is the reconnection delay the stream asks of its clients (the SSE `retry` field). */
const RETRY_MS = 2000;

/** RECENT_EVENTS is how many of the latest events each master keeps for resuming streams. */
export const RECENT_EVENTS = 4096;

/**
 * RecentEvents holds the last events appended (or followed, on a standby), gapless, in a ring. A
 * batch that does not follow the last one (a standby reloaded from a snapshot) starts it over.
 */
export class RecentEvents {
  private readonly ring: (LoggedEvent | undefined)[];
  /** Index of the oldest event held, and how many are held. */
  private first = 0;
  private count = 0;

  constructor(readonly capacity = RECENT_EVENTS) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new MusterError('INVALID_ARGUMENT', 'recentEvents must be a positive whole number');
    this.ring = new Array<LoggedEvent | undefined>(capacity);
  }

  add(batch: readonly LoggedEvent[]): void {
    for (const e of batch) {
      if (this.count > 0 && e.index !== this.first + this.count) this.count = 0;
      if (this.count === 0) this.first = e.index;
      this.ring[e.index % this.capacity] = e;
      if (this.count === this.capacity) this.first++;
      else this.count++;
    }
  }

  /** after returns the events after index, or undefined when some of them are not held. */
  after(index: number): LoggedEvent[] | undefined {
    if (this.count === 0 || index < this.first - 1 || index >= this.first + this.count) return undefined;
    const out: LoggedEvent[] = [];
    for (let i = index + 1; i < this.first + this.count; i++) out.push(this.ring[i % this.capacity] as LoggedEvent);
    return out;
  }
}

export function addEventRoutes(router: Router, log: EventLog, recentEvents = RECENT_EVENTS): void {
  const recent = new RecentEvents(recentEvents);
  log.onAppended((batch) => recent.add(batch));
  router.add('GET', '/api/v1/events', async ({ req, res, url }) => {
    const since = resumeIndex(req.headers['last-event-id'], url.searchParams.getAll('since'));
    let closed = false;
    /** The highest index written to this stream: anything at or below it is not written again. */
    let sent = log.lastIndex;
    /**
     * Live batches wait here while the history is read. Subscribing before reading is what closes
     * the race: an event appended after the subscription is held here, one appended before it is
     * already in the store when the read starts; one may be in both, and the index drops the copy.
     */
    let held: LoggedEvent[] | undefined = since === undefined ? undefined : [];
    const write = (events: readonly LoggedEvent[]): void => {
      if (closed) return;
      if (res.writableLength > MAX_BUFFERED) {
        res.end();
        return;
      }
      let out = '';
      for (const { index, event } of events) {
        if (index <= sent) continue;
        const view: EventView = { index, ...redacted(event) };
        out += `id: ${index}\nevent: ${event.type}\ndata: ${JSON.stringify(view)}\n\n`;
        sent = index;
      }
      if (out !== '') res.write(out);
    };
    const stop = log.onAppended((batch) => {
      if (held !== undefined) held.push(...batch);
      else write(batch);
    });
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    const close = (): void => {
      closed = true;
      clearInterval(keepalive);
      stop();
    };
    req.socket.on('close', close);
    res.on('close', close);

    let reset: EventResetView | undefined;
    let history: LoggedEvent[] = [];
    const kept = since === undefined || since === log.lastIndex ? undefined : recent.after(since);
    if (since !== undefined && (since === log.lastIndex || kept !== undefined)) {
      // Resumed from memory, in this same turn: nothing can have been appended since the subscription.
      sent = since;
      history = kept ?? [];
    } else if (since !== undefined) {
      let read: Awaited<ReturnType<EventLog['readSince']>>;
      try {
        read = await log.readSince(since);
      } catch (e) {
        close();
        throw e;
      }
      if (closed) return;
      // The log's head is what the store holds or what this master has told listeners of, whichever is further.
      const head = Math.max(read.headIndex, log.lastIndex);
      reset = resetFor(since, read.snapshotIndex, head);
      if (reset === undefined) {
        sent = since;
        history = read.events;
      } else {
        sent = head;
      }
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    res.write(`retry: ${RETRY_MS}\n: muster events after index ${sent}\n\n`);
    if (reset !== undefined) writeReset(res, reset);
    write(history);
    const waiting = held ?? [];
    held = undefined;
    write(waiting);
  });
}

/**
 * resumeIndex reads where a client resumes: Last-Event-ID wins over ?since (a browser's
 * EventSource reconnects to the same URL, ?since included, with the id it saw last). Undefined: the
 * client starts at the head. A value that is not a whole number is the client's mistake (400).
 */
export function resumeIndex(lastEventId: string | string[] | undefined, since: readonly string[]): number | undefined {
  if (Array.isArray(lastEventId)) {
    throw new MusterError('INVALID_ARGUMENT', 'the Last-Event-ID header is given more than once', { details: { field: 'Last-Event-ID' } });
  }
  // An empty id is what an SSE client holds when it has seen none: it starts at the head.
  if (lastEventId !== undefined && lastEventId.trim() !== '') return logIndex(lastEventId.trim(), 'the Last-Event-ID header', 'Last-Event-ID');
  if (since.length > 1) throw new MusterError('INVALID_ARGUMENT', 'since is given more than once', { details: { field: 'since' } });
  const first = since[0];
  return first === undefined ? undefined : logIndex(first, 'since', 'since');
}

function logIndex(text: string, what: string, field: string): number {
  const n = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new MusterError('INVALID_ARGUMENT', `${what} must be a log index (a whole number from 0), not "${text.slice(0, 40)}"`, {
      details: { field },
    });
  }
  return n;
}

/** resetFor says why the events after since cannot be streamed, or undefined when they can. */
function resetFor(since: number, snapshotIndex: number, head: number): EventResetView | undefined {
  if (since < snapshotIndex) {
    return {
      index: head,
      since,
      firstIndex: snapshotIndex + 1,
      reason: 'TRUNCATED',
      message: `the log no longer holds the events after ${since}: a snapshot at ${snapshotIndex} replaced them; read the state again`,
    };
  }
  if (since > head) {
    return {
      index: head,
      since,
      firstIndex: snapshotIndex + 1,
      reason: 'AHEAD',
      message: `the log ends at ${head}, before ${since}: this is not the log that index came from; read the state again`,
    };
  }
  return undefined;
}

/** writeReset sends the reset message; its id is the head, so a client that reconnects after it resumes there. */
function writeReset(res: ServerResponse, reset: EventResetView): void {
  res.write(`id: ${reset.index}\nevent: reset\ndata: ${JSON.stringify(reset)}\n\n`);
}

/**
 * redacted is an event as the stream shows it: without the hashes of token secrets and agent
 * credentials. A hash cannot be used to call the master, but it has no reader outside the master.
 */
function redacted(event: Event): Event {
  if (event.type === 'TokenCreated') {
    return { ...event, token: { ...event.token, secretHash: '' } };
  }
  if (event.type === 'AgentRegistered' && event.agent.credentialHash !== undefined) {
    const { credentialHash: _hash, ...agent } = event.agent;
    return { ...event, agent };
  }
  return event;
}
