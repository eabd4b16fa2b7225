// Output for people and for machines. People get aligned tables and short figures ("3m ago",
// "512MiB/8GiB"); machines get the API's JSON unchanged with --json, so that a script reading
// `muster job status --json` reads exactly what GET /api/v1/jobs/... returns.

import { formatMiB } from '../core/index.js';
import type { ResourcesView } from '../core/index.js';
import type { WhyPendingView } from '../protocol/index.js';

/** printJson writes a value as the API's JSON, indented, one document per call. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, undefined, 2)}\n`);
}

/** printLines writes lines of text to stdout. */
export function printLines(lines: readonly string[]): void {
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
}

/** note writes a line for a person on stderr: progress and asides that a pipe should not receive. */
export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * table aligns rows under upper-case headers, two spaces apart. The last column is not padded, so
 * a long note does not push trailing spaces onto every line.
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

/** keyValues aligns "label  value" lines, for headers above a table. */
export function keyValues(pairs: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
}

/** duration writes a span of milliseconds the way people say it: 42s, 5m, 3h, 2d. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** ago writes a past time relative to now ("5m ago"), or "-" when there is none. */
export function ago(at: number | undefined, now: number): string {
  return at === undefined ? '-' : `${duration(now - at)} ago`;
}

/** ports writes named ports as "http=31000,admin=31001", or "-". */
export function ports(named: Record<string, number>): string {
  const entries = Object.entries(named);
  return entries.length === 0 ? '-' : entries.map(([name, port]) => `${name}=${port}`).join(',');
}

/** instanceList writes instance numbers compactly, as the CLI reads them: [0,2,3,4] → "0,2-4". */
export function instanceList(instances: readonly number[]): string {
  const sorted = [...instances].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    const begin = sorted[i] as number;
    let end = begin;
    while (i + 1 < sorted.length && sorted[i + 1] === end + 1) end = sorted[++i] as number;
    parts.push(begin === end ? String(begin) : `${begin}-${end}`);
    i++;
  }
  return parts.join(',');
}

/** usage writes "used/total" of one resource of an agent or the cell. */
export function usage(used: ResourcesView, total: ResourcesView, resource: 'cpus' | 'mem' | 'disk' | 'gpus'): string {
  if (resource === 'mem' || resource === 'disk') return `${formatMiB(used[resource])}/${formatMiB(total[resource])}`;
  return `${round(used[resource])}/${round(total[resource])}`;
}

function round(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}

/** stateWord shortens a task state for counts ("TASK_RUNNING" → "running"). */
export function stateWord(state: string): string {
  return state.replace(/^TASK_/, '').toLowerCase();
}

/** PendingItem is an instance waiting for a place and why: a job's pending instance, or a plan's. */
export interface PendingItem {
  instance: number;
  reason: string;
  why?: WhyPendingView;
}

/**
 * pendingLines groups pending instances by identical reasons, so that a job of 100 instances
 * that all miss the same mem prints one answer, not 100:
 *   instances 3-9 pending: no agent fits: insufficient mem on 7 agents (needs 4GiB, most free 1GiB)
 *     nearest: box1 lacks 0.5 cpus
 *     would fit with: ask for at most 1.5 cpus (fits 3 agents); drop the constraint rack: r1 (fits 4 agents)
 * Groups come in the order of their first instance.
 */
export function pendingLines(items: readonly PendingItem[]): string[] {
  const groups = new Map<string, { instances: number[]; first: number; detail: string[]; reason: string }>();
  for (const item of items) {
    const detail: string[] = [];
    const nearest = item.why?.nearest;
    if (nearest !== undefined) detail.push(`  nearest: ${nearest.hostname || nearest.agentId} lacks ${nearest.lacks}`);
    const changes = item.why?.changes ?? [];
    if (changes.length > 0) detail.push(`  would fit with: ${changes.join('; ')}`);
    const key = [item.reason, ...detail].join('\n');
    const group = groups.get(key);
    if (group === undefined) groups.set(key, { instances: [item.instance], first: item.instance, detail, reason: item.reason });
    else {
      group.instances.push(item.instance);
      group.first = Math.min(group.first, item.instance);
    }
  }
  const ordered = [...groups.values()].sort((a, b) => a.first - b.first);
  const lines: string[] = [];
  for (const g of ordered) {
    const which = g.instances.length === 1 ? 'instance' : 'instances';
    lines.push(`${which} ${instanceList(g.instances)} pending: ${g.reason}`, ...g.detail);
  }
  return lines;
}

/** gpuShares writes the GPU devices a task holds as "0,1" (whole) or "2:0.25" (a share), or "-". */
export function gpuShares(gpus: readonly { device: number; milli: number }[]): string {
  if (gpus.length === 0) return '-';
  return gpus.map((g) => (g.milli >= 1000 ? String(g.device) : `${g.device}:${g.milli / 1000}`)).join(',');
}
