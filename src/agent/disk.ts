// Disk usage of a task's sandbox, measured the way `du -s` does: the blocks files occupy, not
// their apparent sizes, so a sparse file costs what it uses and a directory of many small files
// costs its blocks. The task owns what is inside its sandbox, so the walk trusts nothing there:
// it never follows a symbolic link (a link to / must not make the agent walk the machine), never
// leaves the sandbox's filesystem (a mount inside it is not the task's disk), counts a file with
// several hard links once, and stops after a bounded number of entries (a task that makes
// millions of files must not make the agent spin). Files that vanish mid-walk are skipped: the
// task is running while we count.

import type { Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

/** DEFAULT_MAX_ENTRIES bounds one walk; past it diskUsage returns what it counted so far. */
export const DEFAULT_MAX_ENTRIES = 100_000;
/** How many lstat calls run at once: enough to keep a disk busy, few enough to leave the agent responsive. */
const CONCURRENCY = 32;
const BLOCK_SIZE = 512;

/**
 * diskUsage returns the bytes used by the tree at dir (itself included), or 0 when dir does not
 * exist. Errors other than a vanished or unreadable entry (which is skipped) are thrown.
 */
export async function diskUsage(dir: string, options: { maxEntries?: number } = {}): Promise<number> {
  if (dir === '' || dir.includes('\0')) throw new Error('diskUsage needs a directory path');
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new Error(`maxEntries must be a positive integer, not ${maxEntries}`);

  const root = await lstatOrUndefined(path.resolve(dir));
  if (root === undefined) return 0;
  let total = root.blocks * BLOCK_SIZE;
  let entries = 1;
  if (!root.isDirectory()) return total;

  const device = root.dev;
  const seenInodes = new Set<number>();
  // Directories still to list. A stack keeps memory to the tree's depth times its width at
  // each level, and the entry cap bounds it in any case.
  const pending: string[] = [path.resolve(dir)];
  while (pending.length > 0 && entries < maxEntries) {
    const current = pending.pop() as string;
    let names: string[];
    try {
      names = await readdir(current);
    } catch {
      continue; // vanished, or replaced by a file, or unreadable: nothing to count inside
    }
    for (let i = 0; i < names.length && entries < maxEntries; i += CONCURRENCY) {
      const batch = names.slice(i, Math.min(i + CONCURRENCY, i + maxEntries - entries)).map((n) => path.join(current, n));
      const stats = await Promise.all(batch.map(lstatOrUndefined));
      for (let j = 0; j < batch.length; j++) {
        const st = stats[j];
        entries++;
        if (st === undefined || st.dev !== device) continue;
        if (st.nlink > 1 && !st.isDirectory()) {
          if (seenInodes.has(st.ino)) continue;
          seenInodes.add(st.ino);
        }
        total += st.blocks * BLOCK_SIZE;
        if (st.isDirectory()) pending.push(batch[j] as string);
      }
    }
  }
  return total;
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES' || code === 'ELOOP') return undefined;
    throw err;
  }
}
