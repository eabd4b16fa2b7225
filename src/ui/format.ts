// Pure helpers of the web UI: numbers and times for a person, paging arithmetic, the colour class
// of a state, one line per event of the timeline, and the diff of two job configs. No DOM here, so
// that node's test runner checks them (format.test.ts) and the node build compiles them.

import type { EventView } from '../protocol/index.js';

/** formatMiB is "512MiB", "1.5GiB", "2TiB": sizes as the job config writes them. */
export function formatMiB(mib: number): string {
  if (!Number.isFinite(mib)) return '?';
  if (mib >= 1024 * 1024) return `${trim(mib / (1024 * 1024))}TiB`;
  if (mib >= 1024) return `${trim(mib / 1024)}GiB`;
  return `${trim(mib)}MiB`;
}

/** formatBytes is "0B", "12KiB", "3.4MiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  if (bytes < 1024) return `${Math.round(bytes)}B`;
  if (bytes < 1024 * 1024) return `${trim(bytes / 1024)}KiB`;
  return formatMiB(bytes / (1024 * 1024));
}

/** formatCpus is "0.25", "4", "12.5": at most two decimals, no trailing zeros. */
export function formatCpus(cpus: number): string {
  return trim(cpus);
}

function trim(n: number): string {
  return String(Math.round(n * 100) / 100);
}

/** percent of used over total, 0 to 100, rounded; 0 when total is 0. */
export function percent(used: number, total: number): number {
  if (!(total > 0)) return 0;
  return Math.max(0, Math.min(100, Math.round((used / total) * 100)));
}

/** ago is "5s ago", "3m ago", "2h ago", "4d ago"; "in 5s" for a time to come. */
export function ago(now: number, at: number | undefined): string {
  if (at === undefined) return '';
  const d = now - at;
  const text = duration(Math.abs(d));
  return d >= 0 ? `${text} ago` : `in ${text}`;
}

/** duration is "850ms", "42s", "3m 20s", "2h 5m", "3d 4h". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** clock is a time of day, local, "14:03:27". */
export function clock(at: number): string {
  const d = new Date(at);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** PageWindow is where a list page stands: items from..to (1-based) of total, pages, and the neighbours. */
export interface PageWindow {
  from: number;
  to: number;
  total: number;
  page: number;
  pages: number;
  prevOffset: number | undefined;
  nextOffset: number | undefined;
  lastOffset: number;
}

/** pageWindow is the pager's arithmetic for a list of total items seen limit at a time from offset. */
export function pageWindow(total: number, offset: number, limit: number): PageWindow {
  const size = Math.max(1, limit);
  const pages = Math.max(1, Math.ceil(total / size));
  const start = Math.max(0, Math.min(offset, (pages - 1) * size));
  const lastOffset = (pages - 1) * size;
  return {
    from: total === 0 ? 0 : start + 1,
    to: Math.min(total, start + size),
    total,
    page: Math.floor(start / size) + 1,
    pages,
    prevOffset: start === 0 ? undefined : Math.max(0, start - size),
    nextOffset: start + size >= total ? undefined : start + size,
    lastOffset,
  };
}

/** Tone is the colour a state is shown in: good (green), busy (blue), wait (amber), bad (red), idle (grey). */
export type Tone = 'good' | 'busy' | 'wait' | 'bad' | 'idle';

/**
 * toneOf colours a task, instance, job, agent, host or update state. A running task that its health
 * check says is unhealthy is bad, not good: the old status page showed those green.
 */
export function toneOf(state: string | undefined, healthy?: boolean): Tone {
  switch (state) {
    case 'TASK_RUNNING':
      return healthy === false ? 'bad' : 'good';
    case 'ACTIVE':
    case 'CONNECTED':
    case 'TASK_FINISHED':
    case 'FINISHED':
    case 'ROLLED_FORWARD':
    case 'SUCCEEDED':
      return 'good';
    case 'TASK_STAGING':
    case 'TASK_STARTING':
    case 'ROLLING_FORWARD':
    case 'ROLLING_BACK':
    case 'AWAITING_PROMOTION':
      return 'busy';
    case 'PENDING':
    case 'TASK_KILLING':
    case 'KILLING':
    case 'DISCONNECTED':
    case 'DRAINING':
    case 'ROLL_FORWARD_PAUSED':
    case 'ROLL_BACK_PAUSED':
    case 'TASK_UNKNOWN':
      return 'wait';
    case 'TASK_FAILED':
    case 'TASK_ERROR':
    case 'TASK_LOST':
    case 'TASK_DROPPED':
    case 'TASK_UNREACHABLE':
    case 'TASK_GONE':
    case 'FAILED':
    case 'UNREACHABLE':
    case 'ROLLED_BACK':
    case 'ABORTED':
      return 'bad';
    default:
      return 'idle';
  }
}

/** shortState drops the TASK_ prefix: "RUNNING". */
export function shortState(state: string): string {
  return state.startsWith('TASK_') ? state.slice(5) : state;
}

/** describeEvent is one line of the live timeline for a log event. */
export function describeEvent(e: EventView): string {
  const f = e as Record<string, unknown>;
  const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
  switch (e.type) {
    case 'JobCreated': {
      const spec = f['spec'] as { job?: string; instances?: number } | undefined;
      return `job ${str(spec?.job)} created, ${str(spec?.instances)} instance${spec?.instances === 1 ? '' : 's'}`;
    }
    case 'TasksLaunched': {
      const tasks = (f['tasks'] as { job?: string; instance?: number }[] | undefined) ?? [];
      const first = tasks[0];
      return tasks.length === 1 && first !== undefined ? `task ${str(first.job)}/${str(first.instance)} launched` : `${tasks.length} tasks launched`;
    }
    case 'TaskStatusUpdated': {
      const s = f['status'] as { taskId?: string; state?: string; message?: string } | undefined;
      return `${str(s?.taskId)} ${shortState(str(s?.state))}${s?.message === undefined ? '' : `: ${s.message}`}`;
    }
    case 'KillRequested':
      return `${f['restart'] === true ? 'restart' : 'kill'} of ${str(f['job'])} requested`;
    case 'AgentRegistered':
      return `agent ${str((f['agent'] as { hostname?: string } | undefined)?.hostname ?? f['hostname'])} registered`;
    case 'AgentUnreachable':
      return `agent ${str(f['agentId'])} unreachable`;
    case 'HostMaintenance':
      return `hosts ${((f['hostnames'] as string[] | undefined) ?? []).join(', ')} ${f['mode'] === 'ACTIVE' ? 'activated' : 'draining'}`;
    case 'QuotaSet':
      return `quota of role ${str(f['role'])} ${f['quota'] === undefined ? 'removed' : 'set'}`;
    default: {
      const job = str(f['job']);
      return job === '' ? e.type : `${e.type} ${job}`;
    }
  }
}

/** FieldDiff is one field of a job config that differs between two versions ("resources.cpus"). */
export interface FieldDiff {
  field: string;
  from: unknown;
  to: unknown;
}

/** diffConfigs lists the leaf fields that differ between two configs, by dotted path, in order. */
export function diffConfigs(from: unknown, to: unknown): FieldDiff[] {
  const out: FieldDiff[] = [];
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (isPlain(a) && isPlain(b)) {
      const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
      for (const k of keys) walk(a[k], b[k], path === '' ? k : `${path}.${k}`);
      return;
    }
    if (Array.isArray(a) && Array.isArray(b)) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) walk(a[i], b[i], `${path}[${i}]`);
      return;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ field: path, from: a, to: b });
  };
  walk(from, to, '');
  return out;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** dominantShare is DRF's share of a role: the largest part of the cell's cpus, mem or disk it holds, 0 to 1. */
export function dominantShare(used: { cpus: number; mem: number; disk: number }, total: { cpus: number; mem: number; disk: number }): number {
  const part = (u: number, t: number): number => (t > 0 ? u / t : 0);
  return Math.max(part(used.cpus, total.cpus), part(used.mem, total.mem), part(used.disk, total.disk));
}

/** dnsNames are the names the cell's DNS answers for a job: all instances, SRV per port, and instance 0. */
export function dnsNames(job: string, domain: string, ports: readonly string[]): string[] {
  const [role, env, name] = job.split('/');
  if (role === undefined || env === undefined || name === undefined) return [];
  const base = `${name}.${env}.${role}.${domain}.`;
  return [base, `0.${base}`, ...ports.map((p) => `_${p}._tcp.${base}`)];
}
