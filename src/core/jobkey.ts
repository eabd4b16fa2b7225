// A job is named role/env/name, as in Aurora. Each part is a DNS label, so that a job is reachable as
// name.env.role.muster. without rewriting.

import { MusterError } from './errors.js';

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
    return `"${part}" must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit`;
  }
  return undefined;
}

/** parseJobKey reads "role/env/name"; throws INVALID_ARGUMENT naming the bad part. */
export function parseJobKey(text: string): JobKey {
  const parts = text.split('/');
  if (parts.length !== 3) {
    throw new MusterError('INVALID_ARGUMENT', `job key "${text}" must be role/env/name, e.g. web/prod/hello`);
  }
  const [role, env, name] = parts as [string, string, string];
  for (const [label, part] of [['role', role], ['env', env], ['name', name]] as const) {
    const why = checkKeyPart(part);
    if (why !== undefined) throw new MusterError('INVALID_ARGUMENT', `job key "${text}": ${label} ${why}`);
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

/** parseInstanceList reads "0,2-4" into [0,2,3,4]. */
export function parseInstanceList(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (m === null) throw new MusterError('INVALID_ARGUMENT', `instances "${text}" must be numbers or ranges like 0,2-4`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 100_000) throw new MusterError('INVALID_ARGUMENT', `instances "${part}" is not a valid range`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}
