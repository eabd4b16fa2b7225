// The web UI's entry: bundled by scripts/bundle-ui.mjs into dist/ui/app.js, loaded by index.html.

import { render } from 'preact';
import { App } from './app.js';
import { startLive } from './browser/live.js';
import { interceptLinks } from './browser/router.js';

// The client reads streamed bodies with for await; browsers that cannot iterate a ReadableStream get it here.
const proto = ReadableStream.prototype as unknown as Record<symbol, unknown>;
if (typeof proto[Symbol.asyncIterator] !== 'function') {
  proto[Symbol.asyncIterator] = async function* (this: ReadableStream<unknown>) {
    const reader = this.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  };
}

interceptLinks();
startLive();
const root = document.getElementById('app');
if (root !== null) {
  root.textContent = '';
  render(<App />, root);
}
