// Processes seen through /proc: how tests find the processes of a task (by the MUSTER_* variables
// every task process inherits) and check that none is left or doubled, whatever the agent's
// supervisor looks like.

import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** ProcInfo is one live (not zombie) process that this user may inspect. */
export interface ProcInfo {
  pid: number;
  /** Process group id. */
  pgid: number;
  argv: string[];
  env: Map<string, string>;
  /** Working directory, when readable. */
  cwd: string | undefined;
}

/** hasProcfs tells whether /proc exposes processes' environments (Linux). */
export function hasProcfs(): boolean {
  return existsSync('/proc/self/environ') && existsSync('/proc/self/stat');
}

function readNulList(path: string): string[] {
  return readFileSync(path, 'latin1').split('\0').filter((s) => s !== '');
}

/** readProcess reads one process, or undefined when it is gone, a zombie or not ours to read. */
export function readProcess(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    const env = new Map<string, string>();
    for (const entry of readNulList(`/proc/${pid}/environ`)) {
      const eq = entry.indexOf('=');
      if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
    let cwd: string | undefined;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      cwd = undefined;
    }
    return { pid, pgid: Number(fields[2]), argv: readNulList(`/proc/${pid}/cmdline`), env, cwd };
  } catch {
    return undefined;
  }
}

/** listProcesses returns every live process this user can read, except this one. */
export function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const info = readProcess(pid);
    if (info !== undefined) out.push(info);
  }
  return out;
}

/** TaskProcessFilter selects task processes by the variables Muster sets for them. */
export interface TaskProcessFilter {
  taskId?: string;
  job?: string;
  instance?: number;
  /** Only processes whose MUSTER_SANDBOX lies under this directory (a test's own cell). */
  under?: string;
  /** Only processes whose argv is exactly this (e.g. ['sleep', '3600']). */
  argv?: readonly string[];
}

/** taskProcesses finds the live processes of tasks: every process a task starts inherits MUSTER_TASK_ID. */
export function taskProcesses(filter: TaskProcessFilter = {}): ProcInfo[] {
  return listProcesses().filter((p) => {
    const taskId = p.env.get('MUSTER_TASK_ID');
    if (taskId === undefined) return false;
    if (filter.taskId !== undefined && taskId !== filter.taskId) return false;
    if (filter.job !== undefined && p.env.get('MUSTER_JOB') !== filter.job) return false;
    if (filter.instance !== undefined && p.env.get('MUSTER_INSTANCE') !== String(filter.instance)) return false;
    if (filter.under !== undefined && !(p.env.get('MUSTER_SANDBOX') ?? '').startsWith(filter.under)) return false;
    if (filter.argv !== undefined) {
      const want = filter.argv;
      if (p.argv.length !== want.length || p.argv.some((a, i) => a !== want[i])) return false;
    }
    return true;
  });
}

/** liveTaskIds is the set of task ids that still have at least one live process. */
export function liveTaskIds(filter: TaskProcessFilter = {}): Set<string> {
  return new Set(taskProcesses(filter).map((p) => p.env.get('MUSTER_TASK_ID') as string));
}

/** isAlive tells whether a process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  return readProcess(pid) !== undefined;
}

/** killQuietly sends a signal to a pid (or a group, with a negative number), ignoring the ones already gone. */
export function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ESRCH' && code !== 'EPERM') throw e;
  }
}

/**
 * mentions tells whether a process refers to a directory: in its environment (MUSTER_SANDBOX and
 * friends), its command line (a supervisor given a sandbox path) or its working directory. It is
 * how teardown recognises the processes a test started without trusting a pid that may be reused.
 */
export function mentions(p: ProcInfo, dir: string): boolean {
  if (p.cwd !== undefined && (p.cwd === dir || p.cwd.startsWith(dir + '/'))) return true;
  if (p.argv.some((a) => a.includes(dir))) return true;
  for (const v of p.env.values()) if (v.includes(dir)) return true;
  return false;
}
