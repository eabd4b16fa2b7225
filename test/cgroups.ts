// Test cgroups: every agent a test starts gets its own --cgroup-root (muster-test/<name>), so that
// tests never touch a real agent's cgroups, and removeCgroups takes it away afterwards.

import { existsSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * removeCgroups removes a cell's cgroup root (and its task cgroups) from every hierarchy under
 * /sys/fs/cgroup, v1 or v2. Their processes are dead by now; a cgroup that is still busy stays and
 * is reported, never fatal: a test's cleanup must not hide its result.
 */
export function removeCgroups(root: string): void {
  const base = '/sys/fs/cgroup';
  if (!existsSync(base)) return;
  const mounts = [base, ...readdirSync(base).map((d) => join(base, d))];
  for (const mount of mounts) {
    const dir = join(mount, root);
    try {
      if (!statSync(dir).isDirectory()) continue;
    } catch {
      continue;
    }
    const remove = (path: string): void => {
      for (const entry of readdirSync(path, { withFileTypes: true })) if (entry.isDirectory()) remove(join(path, entry.name));
      try {
        rmdirSync(path);
      } catch (e) {
        console.error(`teardown: cannot remove cgroup ${path}: ${(e as Error).message}`);
      }
    };
    remove(dir);
    // The shared parent (muster-test) goes too once the last cell is done with it.
    try {
      rmdirSync(dirname(dir));
    } catch {
      // another cell still uses it
    }
  }
}
