// Process identity from /proc. A pid alone is not an identity: after a reboot or a long downtime the
// kernel hands the same number to another process. The pid together with its start time (field 22
// of /proc/<pid>/stat, in clock ticks since boot) is, so we checkpoint both and compare both before
// we signal anything we did not just start ourselves.

import { readFileSync } from 'node:fs';

/** processStartTime returns the start time of a live process, or undefined if it is gone (or no /proc). */
export function processStartTime(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseStartTime(stat);
}

/**
 * parseStartTime reads field 22 of a /proc/<pid>/stat line. Field 2, the command name, is in
 * parentheses and may itself hold spaces and parentheses, so we count fields after the last ')'.
 */
export function parseStartTime(stat: string): string | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  // After ')' come fields 3 (state), 4, ...: field 22 is the 20th of them.
  const fields = stat.slice(close + 1).trim().split(/\s+/);
  const start = fields[22 - 3];
  return start !== undefined && /^\d+$/.test(start) ? start : undefined;
}

/** killGroup signals a process group; a group that is already gone is not an error. */
export function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  // pgid <= 1 would signal every process we may signal: never let a bad number get that far.
  if (!Number.isInteger(pgid) || pgid <= 1) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}
