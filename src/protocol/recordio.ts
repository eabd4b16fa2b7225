// RecordIO is Mesos's framing for event streams: "<decimal length>\n<that many bytes of JSON>".
// The decoder is fed chunks as they arrive; it is on the hot path of every agent and framework
// stream, so it keeps the partial record as raw buffers and concatenates once per record.

/** MAX_RECORD_BYTES bounds one record: a peer cannot make us buffer without limit. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

export function encodeRecord(value: unknown): Buffer {
  return frameRecord(Buffer.from(JSON.stringify(value), 'utf8'));
}

/** frameRecord frames bytes already encoded (JSON, or a protobuf message) as one record. */
export function frameRecord(body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`${body.length}\n`, 'ascii'), body]);
}

export class RecordIOError extends Error {
  override readonly name = 'RecordIOError';
}

/**
 * RecordIODecoder turns a byte stream into records. push() returns the records completed by the
 * chunk (already JSON-parsed); a malformed length or an oversized record throws RecordIOError.
 */
export class RecordIODecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Length of the record being read, or -1 while reading its length line. */
  private want = -1;
  private header = '';

  constructor(private readonly maxRecordBytes = MAX_RECORD_BYTES) {}

  push(chunk: Buffer): unknown[] {
    const out: unknown[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (this.want < 0) {
        const nl = chunk.indexOf(0x0a, offset);
        const end = nl < 0 ? chunk.length : nl;
        this.header += chunk.toString('ascii', offset, end);
        if (this.header.length > 20) throw new RecordIOError('RecordIO length line is too long');
        if (nl < 0) return out;
        offset = nl + 1;
        if (!/^\d+$/.test(this.header)) throw new RecordIOError(`RecordIO length "${this.header.slice(0, 20)}" is not a number`);
        this.want = Number(this.header);
        this.header = '';
        if (this.want > this.maxRecordBytes) {
          throw new RecordIOError(`RecordIO record of ${this.want} bytes is over the limit of ${this.maxRecordBytes}`);
        }
      }
      const take = Math.min(this.want - this.buffered, chunk.length - offset);
      if (take > 0) {
        this.chunks.push(chunk.subarray(offset, offset + take));
        this.buffered += take;
        offset += take;
      }
      if (this.buffered === this.want) {
        const body = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.buffered);
        this.chunks = [];
        this.buffered = 0;
        this.want = -1;
        try {
          out.push(JSON.parse(body.toString('utf8')) as unknown);
        } catch {
          throw new RecordIOError('RecordIO record is not valid JSON');
        }
      }
    }
    return out;
  }

  /** pending: bytes of an unfinished record are buffered (the stream ended mid-record if so). */
  get pending(): boolean {
    return this.want >= 0 || this.header.length > 0;
  }
}
