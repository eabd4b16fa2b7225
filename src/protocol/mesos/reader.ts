// Reader applies Mesos's JSON mapping (stout's protobuf.hpp, the parser behind every Mesos JSON
// endpoint) to a body that arrived untrusted, checking and bounding each field before anything uses
// it. The rules, Mesos's own:
//   - a field name Mesos does not know is ignored; JSON null means the field is unset;
//   - a numeric field may be a JSON number or a string holding one ("5", "2.5");
//   - a bool may be true/false or "true"/"false"; bytes are base64 strings;
//   - enums are strings: an unknown value of an optional field reads as unset, of a required one
//     is an error;
//   - a repeated field takes an array (null elements skipped) or a single value as a one-element list.
// Muster adds bounds (string lengths, list lengths, finite numbers, no NUL in what reaches exec)
// so that one request cannot make the master hold or pass on more than it means to.

import { LIMITS } from './limits.js';
import type { ID } from './types.js';

/**
 * FieldError is a bad field: field is its path (accept.operations[0].launch.task_infos[2].name) and
 * message a sentence naming it. The parser throws it from deep in the descent and parseCall turns
 * it into an answer at the top; it never escapes this folder.
 */
export class FieldError extends Error {
  override readonly name = 'FieldError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** StringRule bounds one string field. */
export interface StringRule {
  /** Longest accepted, in UTF-16 code units. */
  readonly max: number;
  /** Refuse NUL: the string reaches exec (argv, environment), where NUL cannot be passed. */
  readonly noNul?: boolean;
}

export const UINT32_MAX = 0xffff_ffff;

/** Longest numeric string read: enough for any double Mesos would print. */
const MAX_NUMBER_CHARS = 64;
/** A JSON number: what Mesos's own parser accepts inside a string for a numeric field. */
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
/** Standard base64 (RFC 4648 §4), padding optional, as stout's base64::decode reads it. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

function readId(r: Reader): ID {
  const value = r.string('value', { max: LIMITS.idChars });
  if (value === '') throw new FieldError(r.at('value'), `${r.at('value')} must not be empty`);
  if (CONTROL.test(value)) throw new FieldError(r.at('value'), `${r.at('value')} must not contain control characters`);
  return { value };
}

export function fieldPath(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    case 'object':
      return 'an object';
    default:
      return typeof v;
  }
}

function isObject(v: unknown): v is Readonly<Record<string, unknown>> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** readObject: v must be a JSON object; path names it in the error. */
export function readObject(v: unknown, path: string): Reader {
  if (!isObject(v)) throw new FieldError(path, `${path === '' ? 'The body' : path} must be a JSON object, not ${describe(v)}`);
  return new Reader(v, path);
}

function checkString(v: unknown, path: string, rule: StringRule): string {
  if (typeof v !== 'string') throw new FieldError(path, `${path} must be a string, not ${describe(v)}`);
  if (v.length > rule.max) throw new FieldError(path, `${path} is ${v.length} characters long; at most ${rule.max} are accepted`);
  if (rule.noNul === true && v.includes('\u0000')) throw new FieldError(path, `${path} must not contain a NUL character`);
  return v;
}

function checkNumber(v: unknown, path: string): number {
  let n: number;
  if (typeof v === 'number') {
    n = v;
  } else if (typeof v === 'string') {
    if (v.length > MAX_NUMBER_CHARS || !JSON_NUMBER.test(v)) {
      throw new FieldError(path, `${path} must be a number; "${v.slice(0, MAX_NUMBER_CHARS)}" is not one`);
    }
    n = Number(v);
  } else {
    throw new FieldError(path, `${path} must be a number, not ${describe(v)}`);
  }
  if (!Number.isFinite(n)) throw new FieldError(path, `${path} must be a finite number`);
  return n;
}

function checkInteger(v: unknown, path: string, min: number, max: number): number {
  const n = checkNumber(v, path);
  if (!Number.isInteger(n)) throw new FieldError(path, `${path} must be a whole number, not ${n}`);
  if (n < min || n > max) throw new FieldError(path, `${path} must lie within ${min}…${max}, not ${n}`);
  return n;
}

/** checkBytes decodes a base64 field and returns it re-encoded in canonical (padded) form. */
function checkBytes(v: unknown, path: string, min: number, max: number): string {
  if (typeof v !== 'string') throw new FieldError(path, `${path} must be a base64 string, not ${describe(v)}`);
  // Four characters of base64 hold three bytes: a longer string is over the limit before decoding.
  if (v.length > Math.ceil(max / 3) * 4) throw new FieldError(path, `${path} holds more than ${max} bytes`);
  if (!BASE64.test(v)) throw new FieldError(path, `${path} is not valid base64`);
  const bytes = Buffer.from(v, 'base64');
  if (bytes.length < min || bytes.length > max) {
    const want = min === max ? `${min}` : `${min}…${max}`;
    throw new FieldError(path, `${path} holds ${bytes.length} bytes; ${want} are accepted`);
  }
  return bytes.toString('base64');
}

/** Reader reads the fields of one JSON object at a path. */
export class Reader {
  constructor(
    private readonly o: Readonly<Record<string, unknown>>,
    readonly path: string,
  ) {}

  /** at is the path of one of its fields. */
  at(key: string): string {
    return fieldPath(this.path, key);
  }

  /** raw is a field's value; unset and null both read as undefined. */
  private raw(key: string): unknown {
    // Own properties only: a body's "__proto__" or "constructor" key is data, not the prototype's.
    if (!Object.hasOwn(this.o, key)) return undefined;
    const v = this.o[key];
    return v === null ? undefined : v;
  }

  has(key: string): boolean {
    return this.raw(key) !== undefined;
  }

  private required(key: string): unknown {
    const v = this.raw(key);
    if (v === undefined) throw new FieldError(this.at(key), `${this.at(key)} is required`);
    return v;
  }

  optString(key: string, rule: StringRule): string | undefined {
    const v = this.raw(key);
    return v === undefined ? undefined : checkString(v, this.at(key), rule);
  }

  string(key: string, rule: StringRule): string {
    return checkString(this.required(key), this.at(key), rule);
  }

  /** optId reads an ID wrapper, {"value": "…"}: non-empty, bounded, no control characters (as Mesos's validateID). */
  optId(key: string): ID | undefined {
    return this.optMessage(key, readId);
  }

  id(key: string): ID {
    return this.message(key, readId);
  }

  optNumber(key: string): number | undefined {
    const v = this.raw(key);
    return v === undefined ? undefined : checkNumber(v, this.at(key));
  }

  number(key: string): number {
    return checkNumber(this.required(key), this.at(key));
  }

  optInteger(key: string, min: number, max: number): number | undefined {
    const v = this.raw(key);
    return v === undefined ? undefined : checkInteger(v, this.at(key), min, max);
  }

  integer(key: string, min: number, max: number): number {
    return checkInteger(this.required(key), this.at(key), min, max);
  }

  optBoolean(key: string): boolean | undefined {
    const v = this.raw(key);
    if (v === undefined || typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    throw new FieldError(this.at(key), `${this.at(key)} must be true or false, not ${describe(v)}`);
  }

  /** optEnum: an unknown value reads as unset, as Mesos reads an optional enum it does not know. */
  optEnum<T extends string>(key: string, values: readonly T[]): T | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new FieldError(this.at(key), `${this.at(key)} must be a string naming a value, not ${describe(v)}`);
    return (values as readonly string[]).includes(v) ? (v as T) : undefined;
  }

  enum<T extends string>(key: string, values: readonly T[]): T {
    const v = this.required(key);
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    const shown = typeof v === 'string' ? `"${v.slice(0, 64)}"` : describe(v);
    throw new FieldError(this.at(key), `${this.at(key)} must be one of ${values.join(', ')}, not ${shown}`);
  }

  optBytes(key: string, max: number): string | undefined {
    const v = this.raw(key);
    return v === undefined ? undefined : checkBytes(v, this.at(key), 0, max);
  }

  bytes(key: string, min: number, max: number): string {
    return checkBytes(this.required(key), this.at(key), min, max);
  }

  optMessage<T>(key: string, read: (r: Reader) => T): T | undefined {
    const v = this.raw(key);
    return v === undefined ? undefined : read(readObject(v, this.at(key)));
  }

  message<T>(key: string, read: (r: Reader) => T): T {
    return read(readObject(this.required(key), this.at(key)));
  }

  /** each visits the elements of a repeated field, at most max of them, with their paths. */
  private each<T>(key: string, max: number, read: (v: unknown, path: string) => T): T[] {
    const v = this.raw(key);
    if (v === undefined) return [];
    const items: readonly unknown[] = Array.isArray(v) ? v : [v];
    const path = this.at(key);
    if (items.length > max) throw new FieldError(path, `${path} has ${items.length} entries; at most ${max} are accepted`);
    const out: T[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (item !== null) out.push(read(item, `${path}[${i}]`));
    }
    return out;
  }

  strings(key: string, max: number, rule: StringRule): string[] {
    return this.each(key, max, (v, path) => checkString(v, path, rule));
  }

  integers(key: string, max: number, min: number, maxValue: number): number[] {
    return this.each(key, max, (v, path) => checkInteger(v, path, min, maxValue));
  }

  ids(key: string, max: number): ID[] {
    return this.each(key, max, (v, path) => readId(readObject(v, path)));
  }

  messages<T>(key: string, max: number, read: (r: Reader) => T): T[] {
    return this.each(key, max, (v, path) => read(readObject(v, path)));
  }
}

/**
 * compact drops the keys whose value is undefined, so that an optional field left unset is absent
 * (exactOptionalPropertyTypes), not present as undefined, and the JSON carries no null.
 */
export function compact<T extends object>(o: T): Compact<T> {
  // for…in over the plain object literals the readers build (no inherited keys): twice as fast as
  // Object.entries, and an ACCEPT of 40 tasks compacts a few hundred messages.
  const out: Record<string, unknown> = {};
  const from = o as Record<string, unknown>;
  for (const k in from) {
    const v = from[k];
    if (v !== undefined) out[k] = v;
  }
  return out as Compact<T>;
}

/** Compact<T>: the keys of T that may be undefined become optional and lose the undefined. */
export type Compact<T> = {
  [K in keyof T as undefined extends T[K] ? never : K]: T[K];
} & {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
};

