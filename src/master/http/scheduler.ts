// POST /api/v1/scheduler: the Mesos v1 scheduler API, for frameworks outside the master. This is
// the HTTP side only: media types, the stream id header and Mesos's status codes; what a call does
// is frameworks/external.ts's. Errors are answered as Mesos does, with a text body a person can
// read (clients look at the status).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { MusterError } from '../../core/index.js';
import { mesos } from '../../protocol/index.js';
import type { Caller } from '../auth/index.js';
import type { ExternalFrameworks } from '../frameworks/external.js';
import { readBody, type Router } from './router.js';

/** MAX_CALL_BYTES bounds one call's body: an ACCEPT of 10,000 tasks fits. */
export const MAX_CALL_BYTES = 16 * 1024 * 1024;

export function addSchedulerRoutes(router: Router, externals: () => ExternalFrameworks): void {
  router.add('POST', '/api/v1/scheduler', async ({ req, res, caller }) => {
    try {
      await handle(req, res, caller, externals());
    } catch (e) {
      if (res.headersSent) {
        res.end();
        return;
      }
      const err = e instanceof MusterError ? e : new MusterError('INTERNAL', 'the master failed to handle the call; see its log');
      answer(res, err.status, err.message);
    }
  });
}

const JSON_TYPE = 'application/json';
const PROTOBUF_TYPE = 'application/x-protobuf';

/**
 * responseType is the media type the answer and the stream's events are in: the Accept header's
 * first of JSON or protobuf that it allows (a wildcard takes the request's own type), or undefined
 * when it allows neither (406). No Accept: the request's type.
 */
function responseType(accept: string | undefined, requestType: string): string | undefined {
  if (accept === undefined || accept.trim() === '') return requestType;
  for (const part of accept.split(',')) {
    const media = part.split(';')[0]?.trim().toLowerCase();
    if (media === JSON_TYPE || media === PROTOBUF_TYPE) return media;
    if (media === '*/*' || media === 'application/*') return requestType;
  }
  return undefined;
}

async function handle(req: IncomingMessage, res: ServerResponse, caller: Caller, externals: ExternalFrameworks): Promise<void> {
  const type = req.headers['content-type'];
  if (type === undefined) return answer(res, 400, "Expecting 'Content-Type' to be present");
  const media = type.split(';')[0]?.trim().toLowerCase() ?? '';
  if (media !== JSON_TYPE && media !== PROTOBUF_TYPE) return answer(res, 415, `Expecting 'Content-Type' of ${JSON_TYPE} or ${PROTOBUF_TYPE}, not '${type}'`);
  const accept = req.headers.accept;
  const encoding = responseType(accept, media);
  if (encoding === undefined) return answer(res, 406, `Expecting 'Accept' to allow ${JSON_TYPE} or ${PROTOBUF_TYPE}, not '${accept ?? ''}'`);
  let body: unknown;
  const raw = await readBody(req, MAX_CALL_BYTES, 'buffer');
  if (media === PROTOBUF_TYPE) {
    const decoded = mesos.decodeProtobufCall(raw);
    if (!decoded.ok) return answer(res, 400, decoded.message);
    body = decoded.value;
  } else {
    try {
      body = JSON.parse(raw.toString('utf8')) as unknown;
    } catch (e) {
      return answer(res, 400, `Failed to parse the body as JSON: ${(e as Error).message}`);
    }
  }
  const parsed = mesos.parseCall(body);
  if (!parsed.ok) return answer(res, 400, `Failed to validate scheduler::Call: ${parsed.message}`);
  const streamHeader = req.headers['mesos-stream-id'];
  const streamId = Array.isArray(streamHeader) ? streamHeader[0] : streamHeader;
  const call = parsed.call;
  if (call.type === 'SUBSCRIBE') {
    if (streamId !== undefined) return answer(res, 400, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
    await externals.subscribe(call, res, encoding === PROTOBUF_TYPE ? 'protobuf' : 'json', caller);
    return;
  }
  await externals.call(call, streamId, caller);
  res.writeHead(202, { 'Content-Length': 0 });
  res.end();
}

function answer(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(message) });
  res.end(message);
}
