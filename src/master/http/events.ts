// GET /api/v1/events streams the log as Server-Sent Events: one message per event, its log index
// as the SSE id. A client too slow to keep up is dropped rather than let the master buffer without
// bound; it reconnects and reads the state again.

import type { EventView } from '../../protocol/index.js';
import type { EventLog } from '../eventlog.js';
import type { Router } from './router.js';

const MAX_BUFFERED = 8 * 1024 * 1024;

export function addEventRoutes(router: Router, log: EventLog): void {
  router.add('GET', '/api/v1/events', ({ req, res }) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    res.write(`retry: 2000\n: muster events from index ${log.lastIndex + 1}\n\n`);
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), 15_000);
    keepalive.unref();
    const stop = log.onAppended((batch) => {
      if (res.writableLength > MAX_BUFFERED) {
        res.end();
        return;
      }
      let out = '';
      for (const { index, event } of batch) {
        const view: EventView = { index, ...event };
        out += `id: ${index}\nevent: ${event.type}\ndata: ${JSON.stringify(view)}\n\n`;
      }
      res.write(out);
    });
    const close = (): void => {
      clearInterval(keepalive);
      stop();
    };
    req.socket.on('close', close);
    res.on('close', close);
  });
}
