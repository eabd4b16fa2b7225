// GET /api/v1/snapshot: the leader's state as `muster cell snapshot save` keeps it, the body
// {"index": N, "data": "<serializeState>"} that `muster cell snapshot restore` seeds a new store
// with. Standbys never get here: they answer 307 to the leader before routing.
//
// A big cell's state is hundreds of MB of JSON. The body is written in pieces as the socket takes
// them, escaping one piece of the state at a time, so that the master holds the state's one string
// and a piece, never a second, escaped copy of it.

import type { ServerResponse } from 'node:http';
import type { EventLog } from '../eventlog.js';
import { serializeState } from '../state/index.js';
import type { Router } from './router.js';

/** PIECE_CHARS is how much of the state is escaped and written at a time. */
const PIECE_CHARS = 1024 * 1024;

/** LOG_INDEX_HEADER carries the snapshot's log index, so that a client knows it before reading the body. */
export const LOG_INDEX_HEADER = 'x-muster-log-index';

export interface SnapshotRoutesDeps {
  log: EventLog;
}

export function addSnapshotRoutes(router: Router, deps: SnapshotRoutesDeps): void {
  const { log } = deps;

  router.add('GET', '/api/v1/snapshot', async ({ req, res }) => {
    // Wait for what is being written, so the backup holds nothing the log might still lose; then
    // take the state and the index of its last event in one synchronous step, so they match even
    // if another command applied an event after the flush.
    await log.flushed();
    const index = log.appliedIndex;
    const data = serializeState(log.state);
    res.writeHead(200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-store',
      [LOG_INDEX_HEADER]: String(index),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await writeSnapshotBody(res, index, data);
  });
}

/**
 * writeSnapshotBody writes {"index": index, "data": data} as JSON, escaping data a piece at a time
 * and waiting for the socket to drain between pieces. It stops early, quietly, if the client goes.
 */
export async function writeSnapshotBody(res: ServerResponse, index: number, data: string): Promise<void> {
  if (!(await put(res, `{"index":${index},"data":"`))) return;
  for (let at = 0; at < data.length; ) {
    let end = Math.min(at + PIECE_CHARS, data.length);
    // Keep a surrogate pair in one piece: escaped apart, each half would come back as a lone one.
    const last = data.charCodeAt(end - 1);
    if (end < data.length && last >= 0xd800 && last <= 0xdbff) end--;
    if (!(await put(res, JSON.stringify(data.slice(at, end)).slice(1, -1)))) return;
    at = end;
  }
  if (await put(res, '"}')) res.end();
}

/** put writes text, waiting for 'drain' when the socket's buffer is full; false once the client is gone. */
function put(res: ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  if (res.write(text)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
