// report: how a benchmark shows its figures. A person reads the table; a script (or the next
// engineer comparing before and after) reads bench/results/<name>.json, which holds the same
// figures with their units in the key names, and the machine they were measured on.

import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * repoRoot is the folder holding package.json: the benchmarks run from dist/bench/ after a build
 * and from bench/ under tsx, and find examples/, dist/ and bench/results/ from there either way.
 */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export interface Machine {
  cpuModel: string;
  cpuCount: number;
  memTotalMiB: number;
  node: string;
  os: string;
}

export function machine(): Machine {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cpuCount: list.length,
    memTotalMiB: Math.round(totalmem() / 1024 / 1024),
    node: process.version,
    os: `${platform()} ${release()}`,
  };
}

/**
 * filesystemOf names the filesystem a path lives on (ext4, tmpfs, overlay…), from /proc/mounts:
 * an fsync on tmpfs costs nothing, so log figures mean little without it. "unknown" off Linux.
 */
export function filesystemOf(path: string): string {
  let mounts: string;
  try {
    mounts = readFileSync('/proc/mounts', 'utf8');
  } catch {
    return 'unknown';
  }
  const target = resolve(path);
  let best = { mount: '', type: 'unknown' };
  for (const line of mounts.split('\n')) {
    const [, mount, type] = line.split(' ');
    if (mount === undefined || type === undefined) continue;
    const inside = target === mount || target.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
    if (inside && mount.length >= best.mount.length) best = { mount, type };
  }
  return best.type;
}

/** fmt writes a figure for a table: thousands separated, few decimals for small numbers. */
export function fmt(value: number | string | boolean | undefined): string {
  if (value === undefined) return '-';
  if (typeof value !== 'number') return String(value);
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  const digits = abs >= 100 || Number.isInteger(value) ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** printTable prints a titled table: the first column left-aligned, figures right-aligned. */
export function printTable(title: string, header: readonly string[], rows: readonly (readonly (number | string | boolean | undefined)[])[]): void {
  const cells = rows.map((r) => r.map(fmt));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of cells) console.log(line(r));
}

/** writeResults stores one benchmark's figures as bench/results/<name>.json and returns the path. */
export async function writeResults(name: string, figures: Record<string, unknown>): Promise<string> {
  const dir = join(repoRoot(), 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  const doc = { benchmark: name, measuredAt: new Date().toISOString(), machine: machine(), ...figures };
  await writeFile(file, JSON.stringify(doc, undefined, 2) + '\n');
  return file;
}
