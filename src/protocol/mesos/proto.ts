// The application/x-protobuf media type of the Mesos v1 scheduler API. A protobuf Call decodes to
// the very plain object a JSON body parses to (snake_case names, enums as strings, 64-bit ints as
// numbers, bytes as base64), and an Event goes out from the plain object the event builders make,
// so parseCall and the builders serve both media types and the master never sees the difference.
//
// The messages are mesos.proto's (Mesos's field numbers, a subset of its fields); a field it leaves
// out is skipped as unknown, as Mesos skips one it does not know.

import { createRequire } from 'node:module';
import type * as Protobuf from 'protobufjs';
import type { IConversionOptions, Type } from 'protobufjs';
import { MESOS_PROTO } from './mesos-proto.js';
import type { Event } from './types.js';

/** The largest protobuf Call decodeCall reads, in bytes; Muster's bound, not Mesos's. */
export const MAX_PROTOBUF_CALL_BYTES = 16 * 1024 * 1024;

export type DecodeResult = { ok: true; value: unknown } | { ok: false; message: string };

/** MesosTypes are the two top-level messages of the scheduler API. */
export interface MesosTypes {
  call: Type;
  event: Type;
}

let types: MesosTypes | undefined;

/**
 * protobufjs is loaded the first time a protobuf call or event is handled, not when this module is:
 * the CLI imports the protocol package and must start without it (test/bin.test.ts), and most
 * masters never see a protobuf client.
 */
let lib: typeof Protobuf | undefined;
function protobuf(): typeof Protobuf {
  lib ??= createRequire(import.meta.url)('protobufjs') as typeof Protobuf;
  return lib;
}

/**
 * mesosTypes parses mesos.proto on first use and keeps it: most masters never see a protobuf
 * client, and the parse is the one cost of this media type worth deferring.
 */
export function mesosTypes(): MesosTypes {
  if (types === undefined) {
    const { root } = protobuf().parse(MESOS_PROTO, { keepCase: true });
    root.resolveAll();
    types = { call: root.lookupType('mesos.v1.Call'), event: root.lookupType('mesos.v1.Event') };
  }
  return types;
}

// Mesos's JSON mapping: enums by name, int64 as numbers, bytes as base64, only the fields the
// sender set (proto2 keeps presence), no empty repeated fields (parseCall reads absent as []).
const JSON_MAPPING: IConversionOptions = { enums: String, longs: Number, bytes: String, defaults: false, arrays: false };

/**
 * decodeCall reads one protobuf Call (a request body) into the plain object parseCall takes. It
 * never throws: a body over MAX_PROTOBUF_CALL_BYTES, bytes that are not a Call, or a Call missing a
 * required field is { ok: false, message }, which the HTTP layer answers with 400, as Mesos answers
 * a body it cannot parse.
 */
export function decodeCall(bytes: Uint8Array): DecodeResult {
  if (bytes.byteLength > MAX_PROTOBUF_CALL_BYTES) {
    return { ok: false, message: `The protobuf Call is ${bytes.byteLength} bytes, more than the ${MAX_PROTOBUF_CALL_BYTES} Muster reads` };
  }
  return decode(mesosTypes().call, bytes, 'Call');
}

/** decodeEvent reads one protobuf Event (a RecordIO record's payload) into its plain object. */
export function decodeEvent(bytes: Uint8Array): DecodeResult {
  return decode(mesosTypes().event, bytes, 'Event');
}

/**
 * encodeEvent is the protobuf bytes of one event, unframed: the caller frames it as a RecordIO
 * record. It throws only for an event missing a field the proto requires, a bug in its builder.
 */
export function encodeEvent(event: Event): Buffer {
  const type = mesosTypes().event;
  const bytes = type.encode(type.fromObject(event)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function decode(type: Type, bytes: Uint8Array, name: string): DecodeResult {
  try {
    const value = type.toObject(type.decode(bytes), JSON_MAPPING);
    dropUnknownEnums(type, value);
    return { ok: true, value };
  } catch (err) {
    // protobufjs throws on truncated or malformed input and on a missing required field; nesting
    // deep enough to exhaust the stack (unknown groups) lands here too, as a RangeError.
    const why = err instanceof Error ? err.message : String(err);
    return { ok: false, message: `Failed to parse the body into a ${name} protobuf: ${why}` };
  }
}

/**
 * dropUnknownEnums removes enum fields whose number the proto does not name, which toObject leaves
 * as numbers. Mesos (proto2 C++) keeps such a value as an unknown field, so the field reads as
 * unset; removing it does the same here, and parseCall then treats it as its JSON twin: an optional
 * field unset, a required one missing.
 */
function dropUnknownEnums(type: Type, object: Record<string, unknown>): void {
  for (const field of type.fieldsArray) {
    const value = object[field.name];
    if (value === undefined) continue;
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf().Enum) {
      if (Array.isArray(value)) {
        const known = value.filter((v) => typeof v === 'string');
        if (known.length === 0) delete object[field.name];
        else object[field.name] = known;
      } else if (typeof value !== 'string') {
        delete object[field.name];
      }
    } else if (resolved instanceof protobuf().Type) {
      for (const child of Array.isArray(value) ? (value as unknown[]) : [value]) {
        dropUnknownEnums(resolved, child as Record<string, unknown>);
      }
    }
  }
}
