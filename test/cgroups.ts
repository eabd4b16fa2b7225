// Test cgroups: every agent a test starts gets its own --cgroup-root (muster-test/<cell>/<agent>),
// so that tests never touch a real agent's cgroups, and removeCgroups takes them away afterwards.

import { existsSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { killQuietly } from './proc.js';

/** How long removeCgroups waits for killed processes to leave their cgroups. */
const REMOVE_WAIT_MS = 5000;

/**
 * removeCgroups removes a test's cgroup root (and every cgroup below it) from every hierarchy
 * under /sys/fs/cgroup, v1 or v2. Any process still in one is killed first: a test that failed
 * half-way may leave a task behind. A cgroup that stays busy is reported, never fatal: a test's
 * cleanup must not hide its result.
 */
export async function removeCgroups(root: string): Promise<void> {
  const base = '/sys/fs/cgroup';
  if (!existsSync(base)) return;
  const dirs: string[] = [];
  const mounts: string[] = [];
  const collect = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) if (entry.isDirectory()) collect(join(path, entry.name));
    dirs.push(path); // children before their parent
  };
  for (const mount of [base, ...readdirSync(base).map((d) => join(base, d))]) {
    const dir = join(mount, root);
    try {
      if (statSync(dir).isDirectory()) {
        collect(dir);
        mounts.push(mount);
      }
    } catch {
      // not in this hierarchy
    }
  }
  for (const dir of dirs) {
    for (const pid of procsOf(dir)) killQuietly(pid);
  }
  const deadline = Date.now() + REMOVE_WAIT_MS;
  for (const dir of dirs) {
    for (;;) {
      try {
        rmdirSync(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || Date.now() > deadline) {
          console.error(`teardown: cannot remove cgroup ${dir}: ${(e as Error).message}`);
          break;
        }
        for (const pid of procsOf(dir)) killQuietly(pid);
        await sleep(50);
      }
    }
  }
  // The shared parents (e.g. muster-test) go too once nothing else uses them.
  for (const mount of mounts) {
    for (let parent = dirname(root); parent !== '.' && parent !== '/'; parent = dirname(parent)) {
      try {
        rmdirSync(join(mount, parent));
      } catch {
        break; // another test still uses it
      }
    }
  }
}

function procsOf(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter((l) => /^\d+$/.test(l))
      .map(Number);
  } catch {
    return [];
  }
}
