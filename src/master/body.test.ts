import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { MusterError } from '../core/index.js';
import { jsonShapeProblem, mediaTypeOf, parseJson, readBody, readJson } from './body.js';

/** A server whose one route reads a JSON body of at most 1 KiB, with a deadline of 300 ms, and answers what it read or the error. */
let url = '';
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const read = req.url === '/text' ? readBody(req, 1024, { types: ['text/yaml'], deadlineMs: 300 }) : readJson(req, 1024, { deadlineMs: 300, depth: 4, values: 20 });
  read.then(
    (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ body })),
    (e: unknown) => {
      const err = e instanceof MusterError ? e : new MusterError('INTERNAL', String(e));
      res.writeHead(err.status, { 'content-type': 'application/json' }).end(JSON.stringify(err.toBody()));
    },
  );
});
before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

async function post(path: string, body: string | undefined, headers: Record<string, string> = {}): Promise<{ status: number; code?: string; message?: string; body?: unknown }> {
  const res = await fetch(url + path, { method: 'POST', headers, ...(body === undefined ? {} : { body }) });
  const answer = (await res.json()) as { body?: unknown; error?: { code: string; message: string } };
  return { status: res.status, ...(answer.error === undefined ? { body: answer.body } : { code: answer.error.code, message: answer.error.message }) };
}

test('readJson takes application/json, with or without parameters, and an empty body without a type', async () => {
  assert.deepEqual(await post('/', '{"a":1}', { 'content-type': 'application/json' }), { status: 200, body: { a: 1 } });
  assert.deepEqual(await post('/', '[1]', { 'content-type': 'Application/JSON; charset=utf-8' }), { status: 200, body: [1] });
  assert.deepEqual(await post('/', undefined), { status: 200, body: {} });
});

test('a body of another media type, or of none, is refused with 415 naming the accepted types', async () => {
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/yaml']) {
    const r = await post('/', '{"a":1}', { 'content-type': type });
    assert.equal(r.status, 415, type);
    assert.match(r.message ?? '', /sent as application\/json, not/, type);
  }
  // A form's POST is refused even empty: it always says its type, and no call is sent as one.
  assert.equal((await post('/', '', { 'content-type': 'application/x-www-form-urlencoded' })).status, 415);
  const untyped = await new Promise<number>((resolve, reject) => {
    const req = request(`${url}/`, { method: 'POST', agent: false, headers: { 'content-length': '7' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end('{"a":1}');
  });
  assert.equal(untyped, 415);
  assert.equal((await post('/text', 'a: 1', { 'content-type': 'text/yaml' })).status, 200);
  assert.equal((await post('/text', 'a: 1', { 'content-type': 'application/json' })).status, 415);
});

test('a body over the limit is refused with 413, declared or streamed', async () => {
  assert.equal((await post('/', JSON.stringify({ a: 'x'.repeat(2000) }), { 'content-type': 'application/json' })).status, 413);
  const streamed = await new Promise<number>((resolve, reject) => {
    const req = request(`${url}/`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => undefined);
    for (let i = 0; i < 10; i++) req.write('x'.repeat(512));
    req.end();
    setTimeout(() => reject(new Error('no answer')), 5000).unref();
  });
  assert.equal(streamed, 413);
});

test('a body that trickles in is refused at the deadline, and its connection closed', async () => {
  const start = performance.now();
  const { status, closedAfterMs } = await new Promise<{ status: number; closedAfterMs: number }>((resolve, reject) => {
    let status = 0;
    const req = request(`${url}/`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': '100' } });
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      res.resume();
    });
    const drip = setInterval(() => req.write(' '), 20);
    req.on('error', () => undefined);
    req.on('close', () => {
      clearInterval(drip);
      resolve({ status, closedAfterMs: performance.now() - start });
    });
    setTimeout(() => reject(new Error('the connection stayed open')), 5000).unref();
  });
  assert.equal(status, 400);
  assert.ok(closedAfterMs >= 290 && closedAfterMs < 2000, `closed after ${closedAfterMs} ms`);
});

test('parseJson refuses JSON nested too deep or with too many values before parsing it, naming the limit', () => {
  const refused = (text: string, message: RegExp): void => {
    assert.throws(() => parseJson(text, { depth: 4, values: 20, what: 'the body', code: 'INVALID_ARGUMENT' }), (e: unknown) => e instanceof MusterError && e.code === 'INVALID_ARGUMENT' && message.test(e.message));
  };
  refused('[[[[[1]]]]]', /the body cannot be read: it is nested deeper than 4 levels/);
  refused(`[${Array(30).fill(1).join(',')}]`, /more than 20 values/);
  refused('{"a": }', /the body is not valid JSON/);
  assert.deepEqual(parseJson('{"a": "[[[[[[[[,,,,,,,,,,,,,,,,,,,,,,,,\\"[[[["}', { depth: 4, values: 20, what: 'x', code: 'INVALID_ARGUMENT' }), { a: '[[[[[[[[,,,,,,,,,,,,,,,,,,,,,,,,"[[[[' });
  const start = performance.now();
  assert.match(jsonShapeProblem('['.repeat(1_000_000), 32, Infinity) ?? '', /deeper than 32/);
  assert.equal(jsonShapeProblem(JSON.stringify({ s: 'x'.repeat(1 << 20) }), 32, Infinity), undefined);
  // A bound on a blow-up (a quadratic scan of a megabyte takes minutes), not a timing goal: generous under load.
  assert.ok(performance.now() - start < 2000);
});

test('mediaTypeOf returns the type without parameters, and nothing for a request without body or type', () => {
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
  assert.equal(mediaTypeOf(req({ 'content-type': 'text/YAML; charset=utf-8', 'content-length': '3' }), ['text/yaml']), 'text/yaml');
  assert.equal(mediaTypeOf(req({}), ['application/json']), undefined);
  assert.equal(mediaTypeOf(req({ 'content-length': '0' }), ['application/json']), undefined);
  assert.throws(() => mediaTypeOf(req({ 'transfer-encoding': 'chunked' }), ['application/json']), /has a body but no Content-Type/);
});
