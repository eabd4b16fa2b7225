import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecordIODecoder, RecordIOError, encodeRecord } from './recordio.js';

test('RecordIO round-trips records split at every byte boundary', () => {
  const records = [{ type: 'HEARTBEAT' }, { type: 'LAUNCH', text: 'héllo ✓ '.repeat(50) }, {}];
  const wire = Buffer.concat(records.map(encodeRecord));
  for (let split = 1; split < 40; split += 7) {
    const d = new RecordIODecoder();
    const out: unknown[] = [];
    for (let i = 0; i < wire.length; i += split) out.push(...d.push(wire.subarray(i, i + split)));
    assert.deepEqual(out, records);
    assert.equal(d.pending, false);
  }
});

test('RecordIODecoder refuses a bad length, an oversized record and invalid JSON', () => {
  assert.throws(() => new RecordIODecoder().push(Buffer.from('abc\n{}')), RecordIOError);
  assert.throws(() => new RecordIODecoder(10).push(Buffer.from('11\n')), /over the limit/);
  assert.throws(() => new RecordIODecoder().push(Buffer.from('3\n{{{')), /not valid JSON/);
  assert.throws(() => new RecordIODecoder().push(Buffer.from('1'.repeat(30))), /too long/);
});
