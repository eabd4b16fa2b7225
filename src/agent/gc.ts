// SandboxGc removes the sandboxes of finished tasks, so that an agent's disk does not fill with old
// logs. It follows Mesos's rule: a finished task's sandbox goes once its age exceeds
//
//   retention × max(0, 1 − headroom − diskUsage)
//
// so with an empty disk sandboxes are kept for (almost) the whole retention, as the disk fills
// they go sooner, and once usage reaches 1 − headroom every finished sandbox goes at once.
// A sandbox's age counts from the end of its task (the mtime of .muster/exit.json, written by
// the supervisor) or, without that file, from the last change to the sandbox directory itself.

import { lstat, opendir, readFile, realpath, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { isSafeId, MusterError } from '../core/index.js';
import type { Logger } from '../log/index.js';
import { isInside, SANDBOX_META_DIR, sandboxesDir } from './sandbox.js';

/** DEFAULT_SANDBOX_RETENTION_SECS: a week, Mesos's default gc_delay. */
export const DEFAULT_SANDBOX_RETENTION_SECS = 7 * 24 * 3600;
/** DEFAULT_DISK_HEADROOM: Mesos's default gc_disk_headroom. */
export const DEFAULT_DISK_HEADROOM = 0.1;
export const DEFAULT_GC_INTERVAL_SECS = 60;
/** MAX_SANDBOXES_SCANNED bounds the directory entries one pass looks at. */
export const MAX_SANDBOXES_SCANNED = 100_000;
/** MAX_REMOVALS_PER_PASS bounds the sandboxes one pass removes (the oldest first); the next pass goes on. */
export const MAX_REMOVALS_PER_PASS = 100;
/** How many sandboxes are lstat-ed at once while scanning. */
const STAT_BATCH = 64;
/** mountinfo is read to refuse removing through a mount; a larger one is not trusted. */
const MAX_MOUNTINFO_BYTES = 16 * 1024 * 1024;

export interface SandboxGcOptions {
  workDir: string;
  /** How long a finished task's sandbox is kept on an empty disk (default 7 days). */
  retentionSecs?: number;
  /** The fraction of the disk kept free: at 1 − headroom usage every finished sandbox goes (default 0.1). */
  diskHeadroom?: number;
  /** Seconds between passes (default 60). */
  intervalSecs?: number;
  /** isActive: the agent still runs (or is launching) this task; its sandbox is never touched. */
  isActive: (taskId: string) => boolean;
  /** The used fraction (0..1) of the disk holding the sandboxes; default statfs of the sandboxes dir. */
  diskUsageFraction?: () => Promise<number>;
  /** The clock, in ms since epoch (default Date.now). */
  now?: () => number;
  logger: Logger;
}

interface Candidate {
  taskId: string;
  dir: string;
  ageMs: number;
}

/** SandboxGc runs passes every intervalSecs once started; runOnce runs one pass now. */
export class SandboxGc {
  private readonly workDir: string;
  private readonly retentionMs: number;
  private readonly headroom: number;
  private readonly intervalMs: number;
  private readonly isActive: (taskId: string) => boolean;
  private readonly diskUsageFraction: () => Promise<number>;
  private readonly now: () => number;
  private readonly logger: Logger;
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<string[]> | undefined;
  private stopped = true;

  constructor(options: SandboxGcOptions) {
    const retentionSecs = options.retentionSecs ?? DEFAULT_SANDBOX_RETENTION_SECS;
    const headroom = options.diskHeadroom ?? DEFAULT_DISK_HEADROOM;
    const intervalSecs = options.intervalSecs ?? DEFAULT_GC_INTERVAL_SECS;
    if (!Number.isFinite(retentionSecs) || retentionSecs < 0) {
      throw new MusterError('INVALID_ARGUMENT', `sandbox retention must be a number of seconds ≥ 0, not ${retentionSecs}`);
    }
    if (!Number.isFinite(headroom) || headroom < 0 || headroom > 1) {
      throw new MusterError('INVALID_ARGUMENT', `disk headroom must be a fraction from 0 to 1, not ${headroom}`);
    }
    if (!Number.isFinite(intervalSecs) || intervalSecs <= 0) {
      throw new MusterError('INVALID_ARGUMENT', `the sandbox GC interval must be a number of seconds > 0, not ${intervalSecs}`);
    }
    this.workDir = options.workDir;
    this.retentionMs = retentionSecs * 1000;
    this.headroom = headroom;
    this.intervalMs = intervalSecs * 1000;
    this.isActive = options.isActive;
    this.diskUsageFraction = options.diskUsageFraction ?? (() => statfsUsage(sandboxesDir(this.workDir)));
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
  }

  /** start runs a pass every intervalSecs (the first after one interval) until stop. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** stop ends the timer and waits for a pass in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.pass?.catch(() => undefined);
  }

  /** maxAgeMs: how old a finished sandbox may get at this disk usage (0: every one goes). */
  maxAgeMs(usage: number): number {
    return this.retentionMs * Math.max(0, 1 - this.headroom - usage);
  }

  /**
   * runOnce removes the sandboxes that are due, oldest first, at most MAX_REMOVALS_PER_PASS, and
   * returns their task ids. Two calls at once share one pass.
   */
  runOnce(): Promise<string[]> {
    this.pass ??= this.collect().finally(() => (this.pass = undefined));
    return this.pass;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.runOnce().then(
        () => this.schedule(),
        (err: unknown) => {
          this.logger.warn('sandbox garbage collection failed; trying again next pass', { error: err });
          this.schedule();
        },
      );
    }, this.intervalMs);
    // The GC never keeps the agent alive on its own.
    this.timer.unref();
  }

  private async collect(): Promise<string[]> {
    let usage: number;
    try {
      usage = await this.diskUsageFraction();
      if (!Number.isFinite(usage)) throw new Error(`usage ${usage} is not a number`);
      usage = Math.min(1, Math.max(0, usage));
    } catch (err) {
      // Without a usage figure the rule falls back to plain retention, never to removing everything.
      this.logger.warn('cannot measure disk usage of the sandboxes; collecting by age alone', { error: err });
      usage = 0;
    }
    const maxAgeMs = this.maxAgeMs(usage);
    const due = (await this.candidates()).filter((c) => maxAgeMs <= 0 || c.ageMs >= maxAgeMs);
    due.sort((a, b) => b.ageMs - a.ageMs);
    const removed: string[] = [];
    if (due.length === 0) return removed;
    const mounts = await mountPoints();
    if (mounts === undefined) {
      this.logger.warn('cannot tell which mounts lie inside sandboxes (mountinfo too large); removing none this pass');
      return removed;
    }
    // mountinfo holds real paths; the work dir may have been given through a link.
    const realRoot = await realpath(sandboxesDir(this.workDir));
    for (const c of due.slice(0, MAX_REMOVALS_PER_PASS)) {
      // Asked again at the last moment: a task may have been (re)launched during the scan.
      if (this.isActive(c.taskId)) continue;
      const realDir = path.join(realRoot, c.taskId);
      const mounted = mounts.find((m) => isInside(realDir, m));
      if (mounted !== undefined) {
        // rm would descend into a mounted file system and empty it: leave it to an operator.
        this.logger.warn('not removing a sandbox that has a mount inside it', { taskId: c.taskId, mount: mounted });
        continue;
      }
      try {
        // rm unlinks symbolic links rather than following them, so a link to / inside a sandbox
        // removes the link only.
        await rm(c.dir, { recursive: true, force: true, maxRetries: 2 });
      } catch (err) {
        this.logger.warn('cannot remove sandbox', { taskId: c.taskId, sandbox: c.dir, error: err });
        continue;
      }
      removed.push(c.taskId);
      this.logger.info('removed sandbox', {
        taskId: c.taskId,
        ageSecs: Math.round(c.ageMs / 1000),
        maxAgeSecs: Math.round(maxAgeMs / 1000),
        diskUsage: Math.round(usage * 1000) / 1000,
      });
    }
    if (due.length > MAX_REMOVALS_PER_PASS) {
      this.logger.info('more sandboxes are due than one pass removes; the next pass goes on', { due: due.length });
    }
    return removed;
  }

  /** candidates lists the sandboxes of tasks that are not active, with their ages. */
  private async candidates(): Promise<Candidate[]> {
    const root = sandboxesDir(this.workDir);
    const ids: string[] = [];
    let dir;
    try {
      dir = await opendir(root, { bufferSize: 256 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    try {
      for (let entry = await dir.read(); entry !== null; entry = await dir.read()) {
        if (ids.length >= MAX_SANDBOXES_SCANNED) {
          this.logger.warn('too many sandboxes to look at in one pass; the rest wait', { scanned: ids.length });
          break;
        }
        // Only what could be a sandbox: a directory named by a task id, never a link to elsewhere.
        if (entry.isDirectory() && isSafeId(entry.name) && !this.isActive(entry.name)) ids.push(entry.name);
      }
    } finally {
      await dir.close();
    }
    const now = this.now();
    const out: Candidate[] = [];
    for (let i = 0; i < ids.length; i += STAT_BATCH) {
      const batch = await Promise.all(ids.slice(i, i + STAT_BATCH).map((id) => this.candidate(root, id, now)));
      for (const c of batch) if (c !== undefined) out.push(c);
    }
    return out;
  }

  private async candidate(root: string, taskId: string, now: number): Promise<Candidate | undefined> {
    const dir = path.join(root, taskId);
    const ended = await lstat(path.join(dir, SANDBOX_META_DIR, 'exit.json')).catch(() => undefined);
    const since = ended?.isFile() === true ? ended : await lstat(dir).catch(() => undefined);
    if (since === undefined) return undefined; // removed meanwhile
    return { taskId, dir, ageMs: now - since.mtimeMs };
  }
}

/** statfsUsage: the used fraction of the file system holding dir, as Mesos measures it. */
export async function statfsUsage(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.blocks === 0 ? 0 : (s.blocks - s.bfree) / s.blocks;
}

/**
 * mountPoints lists this process's mount points (Linux); none where there is no mountinfo, and
 * undefined when it is too large to trust.
 */
async function mountPoints(): Promise<string[] | undefined> {
  let text: string;
  try {
    text = await readFile('/proc/self/mountinfo', { encoding: 'utf8', signal: AbortSignal.timeout(5000) });
  } catch {
    return [];
  }
  if (text.length > MAX_MOUNTINFO_BYTES) return undefined;
  // Field 5 is the mount point, with space, tab, newline and backslash written as \ooo octal.
  return text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((m): m is string => m !== undefined && m !== '')
    .map((m) => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}
