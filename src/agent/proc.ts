// Process identity from /proc. A pid alone is not an identity: after a reboot or a long downtime the
// kernel hands the same number to another process. The pid together with its start time (field 22
// of /proc/<pid>/stat, in clock ticks since boot) is, so we checkpoint both and compare both before
// we signal anything we did not just start ourselves.

import { readdirSync, readFileSync } from 'node:fs';

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

/** SessionUsage is what the processes of one session use: the fallback measure without cgroups. */
export interface SessionUsage {
  /** User plus system time of the live processes, in seconds (that of exited ones is gone with them). */
  cpuSecs: number;
  /** Their resident memory, in bytes (shared pages count once per process, as ps shows them). */
  memBytes: number;
  pids: number[];
}

/**
 * CLOCK_TICKS is USER_HZ, the unit of the times in /proc/<pid>/stat. It is 100 on every Linux
 * architecture Node runs on (the kernel fixes it for its ABI, whatever CONFIG_HZ is), so it is a
 * constant rather than a `getconf CLK_TCK` at start-up.
 */
const CLOCK_TICKS = 100;
/** PAGE_SIZE is the unit of /proc/<pid>/statm: 4 KiB on x86-64 and on arm64 as distributions build it. */
const PAGE_SIZE = 4096;

/**
 * sessionUsage sums cpu time and resident memory over every process whose session id (field 6 of
 * /proc/<pid>/stat) is sid. Every process of a task is in its supervisor's session unless it
 * called setsid itself, which is why this is a fallback and cgroups are the measure.
 */
export function sessionUsage(sid: number): SessionUsage {
  return sessionsUsage([sid]).get(sid) ?? { cpuSecs: 0, memBytes: 0, pids: [] };
}

/** sessionsUsage is sessionUsage for many sessions in one pass over /proc (one per usage interval). */
export function sessionsUsage(sids: Iterable<number>): Map<number, SessionUsage> {
  const out = new Map<number, SessionUsage>();
  // Session 0 holds the kernel's threads and 1 is init's: neither is ever a task's.
  for (const sid of sids) if (Number.isInteger(sid) && sid > 1) out.set(sid, { cpuSecs: 0, memBytes: 0, pids: [] });
  if (out.size === 0) return out;
  for (const name of procPids()) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited since readdir
    }
    const fields = statFields(stat);
    // After ')' come fields 3, 4, ...: session is field 6, utime 14 and stime 15.
    const session = out.get(Number(fields?.[6 - 3]));
    if (fields === undefined || session === undefined) continue;
    const ticks = Number(fields[14 - 3]) + Number(fields[15 - 3]);
    let resident = 0;
    try {
      resident = Number(readFileSync(`/proc/${name}/statm`, 'utf8').split(' ')[1]);
    } catch {
      continue;
    }
    if (!Number.isFinite(ticks) || !Number.isFinite(resident)) continue;
    session.cpuSecs += ticks / CLOCK_TICKS;
    session.memBytes += resident * PAGE_SIZE;
    session.pids.push(Number(name));
  }
  for (const usage of out.values()) usage.pids.sort((a, b) => a - b);
  return out;
}

/** statFields splits a /proc/<pid>/stat line after the command name, as parseStartTime does. */
function statFields(stat: string): string[] | undefined {
  const close = stat.lastIndexOf(')');
  return close < 0 ? undefined : stat.slice(close + 1).trim().split(/\s+/);
}

/** procPids lists the pids in /proc, as strings; none where /proc cannot be read. */
export function procPids(): string[] {
  try {
    return readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
}
