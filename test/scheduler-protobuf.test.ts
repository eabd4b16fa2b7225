// The Mesos v1 scheduler API in application/x-protobuf, with real processes: a scheduler that
// speaks only protobuf (its calls encoded with Mesos's message definitions, its stream RecordIO of
// protobuf Events) subscribes, launches a command task on an offer and hears it finish, as Mesos's
// own C++ and Java scheduler libraries do.

import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { mesos } from '../src/protocol/index.js';
import { mesosTypes } from '../src/protocol/mesos/proto.js';
import { cell, waitFor } from './harness.js';
import { launch, type Offer, type Status } from './mesosframework.js';

const PROTOBUF = 'application/x-protobuf';

/** encodeCall is a plain call (the JSON mapping) as protobuf bytes, as a protobuf client sends it. */
function encodeCall(call: Record<string, unknown>): Buffer {
  const { call: Call } = mesosTypes();
  return Buffer.from(Call.encode(Call.fromObject(call)).finish());
}

/** RawRecords splits a RecordIO byte stream into records without reading them. */
class RawRecords {
  private buf = Buffer.alloc(0);
  readonly records: Buffer[] = [];
  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl < 0) return;
      const len = Number(this.buf.subarray(0, nl).toString('ascii'));
      if (this.buf.length < nl + 1 + len) return;
      this.records.push(this.buf.subarray(nl + 1, nl + 1 + len));
      this.buf = this.buf.subarray(nl + 1 + len);
    }
  }
}

test('a scheduler speaking protobuf subscribes, launches a task on an offer and acknowledges its updates', async (t) => {
  const c = cell(t);
  const { master } = await c.startCell(1);
  const url = new URL('/api/v1/scheduler', master.url);
  const subscribe = encodeCall({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'root', name: 'protobuf-scheduler', roles: ['test'], capabilities: [{ type: 'MULTI_ROLE' }], failover_timeout: 60 } } });
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'Content-Type': PROTOBUF, Accept: PROTOBUF } }, resolve);
    req.on('error', reject);
    req.end(subscribe);
  });
  t.after(() => res.destroy());
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], PROTOBUF);
  const streamId = String(res.headers['mesos-stream-id']);
  const raw = new RawRecords();
  res.on('data', (chunk: Buffer) => raw.push(chunk));
  const events = (): { type: string; [k: string]: unknown }[] =>
    raw.records.map((r) => {
      const d = mesos.decodeProtobufEvent(r);
      assert.ok(d.ok, 'every record is a protobuf Event');
      return d.value as { type: string };
    });
  const subscribed = await waitFor(() => events().find((e) => e.type === 'SUBSCRIBED'), { what: 'SUBSCRIBED' });
  const frameworkId = (subscribed['subscribed'] as { framework_id: { value: string } }).framework_id.value;
  const offersEvent = await waitFor(() => events().find((e) => e.type === 'OFFERS'), { what: 'OFFERS' });
  const offer = (offersEvent['offers'] as { offers: Offer[] }).offers[0];
  assert.ok(offer !== undefined);
  assert.ok(offer.resources.some((r) => r.name === 'cpus' && (r.scalar?.value ?? 0) > 0));

  const call = async (body: Record<string, unknown>): Promise<number> => {
    const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': PROTOBUF, 'Mesos-Stream-Id': streamId }, body: encodeCall({ framework_id: { value: frameworkId }, ...body }) });
    await r.arrayBuffer();
    return r.status;
  };
  assert.equal(await call({ type: 'ACCEPT', ...launch(offer, 'pb-1', 'echo protobuf; sleep 0.2') }), 202);
  const statuses = (): Status[] => events().filter((e) => e.type === 'UPDATE').map((e) => (e['update'] as { status: Status }).status);
  for (const state of ['TASK_RUNNING', 'TASK_FINISHED']) {
    const s = await waitFor(() => statuses().find((x) => x.task_id.value === 'pb-1' && x.state === state), { what: `pb-1 ${state}` });
    assert.ok(s.uuid !== undefined);
    assert.equal(await call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: s.agent_id, task_id: s.task_id, uuid: s.uuid } }), 202);
  }
  await waitFor(async () => ((await (await fetch(`${master.url}/api/v1/frameworks`)).json()) as { frameworks: { frameworkId: string; tasks: number }[] }).frameworks, {
    what: 'every update acknowledged',
    until: (fs) => fs.some((f) => f.frameworkId === frameworkId && f.tasks === 0),
  });
  // Bytes that are not a Call: 400, and nothing changes.
  const garbage = await fetch(url, { method: 'POST', headers: { 'Content-Type': PROTOBUF, 'Mesos-Stream-Id': streamId }, body: Buffer.from([0xff, 0xff, 0xff, 0x01]) });
  assert.equal(garbage.status, 400);
  assert.match(await garbage.text(), /Failed to parse/);
});
