// Flag values are checked as commander parses them, so that a bad one fails before anything runs,
// with commander's one-line "option '--port <N>' argument '70000' is invalid" and a reason.

import { InvalidArgumentError } from 'commander';
import { MusterError, parseResourceFlag, parseSize } from '../core/index.js';

/** port reads a TCP port, 0-65535 (0 picks a free one). */
export function port(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('a port is a whole number from 0 to 65535.');
  return Number(value);
}

/** seconds reads a positive number of seconds; fractions are allowed (0.5). */
export function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('give a positive number of seconds, e.g. 30.');
  return n;
}

/** positiveInt reads a whole number of at least 1 and at most max. */
export function positiveInt(max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
      throw new InvalidArgumentError(`give a whole number from 1 to ${max}.`);
    }
    return Number(value);
  };
}

/** resources checks the agent's --resources text with core's parser and keeps the text for the agent. */
export function resources(value: string): string {
  try {
    parseResourceFlag(value);
  } catch (err) {
    if (err instanceof MusterError) throw new InvalidArgumentError(`${err.message.replace(/^--resources: /, '')}.`);
    throw err;
  }
  return value;
}

/** attributes checks "rack:r1;zone:a" or "rack=r1,zone=a": each part a name and a value. */
export function attributes(value: string): string {
  const parts = value.includes(';') || !value.includes('=') ? value.split(';') : value.split(',');
  for (const part of parts) {
    if (part.trim() === '') continue;
    if (!/^\s*[A-Za-z0-9_.-]+\s*[:=]\s*\S.*$/.test(part)) {
      throw new InvalidArgumentError(`"${part}" must be name:value, e.g. "rack:r1;zone:a".`);
    }
  }
  return value;
}

/** byteSize reads "10MiB", "1GiB" or a plain number of bytes; 0 is allowed (it turns a limit off). */
export function byteSize(value: string): number {
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('the size is too large.');
    return n;
  }
  const parsed = parseSize(value);
  if ('error' in parsed) throw new InvalidArgumentError(`${parsed.error}; e.g. 10MiB.`);
  return parsed.mib * 1024 * 1024;
}

/** cgroupRoot reads a cgroup path relative to each hierarchy's root: segments of letters, digits, _ . -. */
export function cgroupRoot(value: string): string {
  const ok = value.split('/').every((seg) => /^[A-Za-z0-9_.-]{1,64}$/.test(seg) && seg !== '.' && seg !== '..');
  if (!ok) throw new InvalidArgumentError('give a relative cgroup path such as "muster" or "muster/agent1".');
  return value;
}

/** isolation reads the agent's --isolation: auto or none. */
export function isolation(value: string): 'auto' | 'none' {
  if (value !== 'auto' && value !== 'none') throw new InvalidArgumentError('give auto or none.');
  return value;
}

/** secondsOrZero reads a number of seconds of at least 0, where 0 turns something off (--settle 0). */
export function secondsOrZero(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('give a number of seconds of at least 0, e.g. 5.');
  return n;
}
