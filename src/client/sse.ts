// Server-Sent Events, read from a fetch body. The master streams one SSE message per log event
// (`id:`, `event:`, `data:`); only the parts of the format it uses are read here, but the parser
// follows the spec's line rules (CR, LF or CRLF; comments; multi-line data) so that a proxy in
// between cannot break it.

/** SseMessage is one dispatched message: the last id seen, its event type and its data lines joined. */
export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * SseParser turns chunks of text into messages. It is a class rather than a generator so that the
 * reader can feed it whatever the network hands over, split anywhere, even inside a line.
 */
export class SseParser {
  private buffer = '';
  private lastId: string | undefined;
  private event = '';
  private data: string[] = [];
  /** The reconnection delay the server asked for (the `retry` field), in ms; undefined until it does. */
  retryMs: number | undefined;

  /** push parses a chunk and returns the messages it completed. */
  push(chunk: string): SseMessage[] {
    this.buffer += chunk;
    const out: SseMessage[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      // A lone CR at the end may be the first half of CRLF: wait for the next chunk to know.
      if (m === null || (m[0] === '\r' && m.index === this.buffer.length - 1)) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const message = this.line(line);
      if (message !== undefined) out.push(message);
    }
    return out;
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return undefined;
      }
      const message = { id: this.lastId, event: this.event === '' ? 'message' : this.event, data: this.data.join('\n') };
      this.event = '';
      this.data = [];
      return message;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
    return undefined;
  }
}
