// Job keys and instance references as typed on the command line. Core parses them; here a bad one
// becomes a usage error (exit 2) rather than the master's INVALID_ARGUMENT (exit 3), because the
// command line, not the master, refused it.

import { MusterError, parseInstanceList, parseInstanceRef, parseJobKey, formatJobKey } from '../core/index.js';
import { UsageError } from './exitcodes.js';

function usage<T>(parse: () => T, hint?: string): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof MusterError) throw new UsageError(err.message, hint);
    throw err;
  }
}

/** jobKeyArg reads role/env/name. */
export function jobKeyArg(text: string): string {
  return usage(() => formatJobKey(parseJobKey(text)));
}

/**
 * instancesArg reads KEY[/INSTANCES] and an optional --instances list into a key and the
 * instances meant; undefined instances means the whole job. Both at once is ambiguous and refused.
 */
export function instancesArg(ref: string, flag: string | undefined): { key: string; instances: number[] | undefined } {
  const parsed = usage(() => parseInstanceRef(ref), 'write it as role/env/name or role/env/name/0,2-4');
  if (flag === undefined) return parsed;
  if (parsed.instances !== undefined) {
    throw new UsageError(`instances are given twice, in "${ref}" and in --instances`, 'use one or the other');
  }
  const instances = usage(() => parseInstanceList(flag), 'write instances like 0,2-4');
  return { key: parsed.key, instances };
}

/** instanceArg reads KEY/INSTANCE naming exactly one instance. */
export function instanceArg(ref: string): { key: string; instance: number } {
  const hint = 'write one instance as role/env/name/N, e.g. web/prod/hello/0';
  const parsed = usage(() => parseInstanceRef(ref), hint);
  const [instance, ...more] = parsed.instances ?? [];
  if (instance === undefined || more.length > 0) throw new UsageError(`"${ref}" must name exactly one instance`, hint);
  return { key: parsed.key, instance };
}
