// A job is named role/env/name, as in Aurora. Each part is a DNS label, so that a job is reachable as
// name.env.role.muster. without rewriting.

import { MusterError } from './errors.js';
import { quoted } from './text.js';

/**
 * MAX_INSTANCES bounds the instances of one job; instance numbers run from 0 to MAX_INSTANCES - 1.
 * A number beyond that is refused where it is read, before anything iterates up to it.
 */
export const MAX_INSTANCES = 10_000;

export interface JobKey {
  readonly role: string;
  readonly env: string;
  readonly name: string;
}

const PART = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** checkKeyPart returns why a role, env or name is not valid, or undefined if it is. */
export function checkKeyPart(part: string): string | undefined {
  if (part === '') return 'is empty';
  if (!PART.test(part)) {
    return `${quoted(part)} must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit`;
  }
  return undefined;
}

/** parseJobKey reads "role/env/name"; throws INVALID_ARGUMENT naming the bad part. */
export function parseJobKey(text: string): JobKey {
  const parts = text.split('/');
  if (parts.length !== 3) {
    throw new MusterError('INVALID_ARGUMENT', `job key ${quoted(text)} must be role/env/name, e.g. web/prod/hello`);
  }
  const [role, env, name] = parts as [string, string, string];
  for (const [label, part] of [['role', role], ['env', env], ['name', name]] as const) {
    const why = checkKeyPart(part);
    if (why !== undefined) throw new MusterError('INVALID_ARGUMENT', `job key ${quoted(text)}: ${label} ${why}`);
  }
  return { role, env, name };
}

export function formatJobKey(key: JobKey): string {
  return `${key.role}/${key.env}/${key.name}`;
}

/**
 * parseInstanceRef reads "role/env/name/0,2-4" (Aurora's instance syntax) into a key and instance
 * numbers; without the fourth part, instances is undefined (the whole job).
 */
export function parseInstanceRef(text: string): { key: string; instances: number[] | undefined } {
  const parts = text.split('/');
  if (parts.length === 4) {
    const key = formatJobKey(parseJobKey(parts.slice(0, 3).join('/')));
    return { key, instances: parseInstanceList(parts[3] as string) };
  }
  return { key: formatJobKey(parseJobKey(text)), instances: undefined };
}

/**
 * parseInstanceList reads "0,2-4" into [0,2,3,4]. Every number is checked against MAX_INSTANCES
 * before it is used: a range is walked one by one, and 99999999999999999999 is a float that i++
 * never gets past.
 */
export function parseInstanceList(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (m === null) throw new MusterError('INVALID_ARGUMENT', `instances ${quoted(text)} must be numbers or ranges like 0,2-4`);
    const a = instanceNumber(m[1] as string);
    const b = m[2] === undefined ? a : instanceNumber(m[2]);
    if (b < a) throw new MusterError('INVALID_ARGUMENT', `instances ${quoted(part.trim())} is not a valid range: it ends before it starts`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

/** instanceNumber reads one instance number, refusing one no job can have. */
function instanceNumber(digits: string): number {
  const n = digits.length > 6 ? Infinity : Number(digits);
  if (n >= MAX_INSTANCES) {
    throw new MusterError('INVALID_ARGUMENT', `instance ${quoted(digits).slice(1, -1)} is beyond the last instance a job can have (${MAX_INSTANCES - 1})`);
  }
  return n;
}
