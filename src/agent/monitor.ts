// The resource monitor measures every running task: cpu time and memory (from its cgroups, or its
// processes without them) at each usage interval, and the bytes in its sandbox at each disk
// interval (a tree walk costs more, so it runs less often, as Mesos's disk watch does). It
// enforces the two limits the kernel does not: a task over its `disk` is failed with
// REASON_CONTAINER_LIMITATION_DISK; one whose cgroup saw an OOM kill is failed with
// REASON_CONTAINER_LIMITATION_MEMORY at once, even if the process the kernel picked was not the
// one that would have ended the task. Each pass sends the figures to the master.

import type { Logger } from '../log/index.js';
import type { TaskInfo, TaskUsage } from '../protocol/index.js';
import type { Containerizer, Limitation } from './containerizers/index.js';
import { diskUsage } from './disk.js';
import { sandboxPath } from './sandbox.js';

const MiB = 1024 * 1024;

export interface MonitorOptions {
  workDir: string;
  containerizer: Containerizer;
  /** The tasks whose processes run now. */
  running: () => TaskInfo[];
  /** limit ends a task that went over a limit. */
  limit: (taskId: string, limitation: Limitation) => void;
  /** report sends a pass's figures to the master; a failure is logged and the next pass tries again. */
  report(usage: TaskUsage[]): Promise<void>;
  usageIntervalSecs: number;
  diskIntervalSecs: number;
  logger: Logger;
}

/** ResourceMonitor runs the usage and disk passes until stop(). */
/** How many tasks a usage pass measures between two turns of the event loop. */
const TASKS_PER_TURN = 128;

export class ResourceMonitor {
  private readonly latest = new Map<string, TaskUsage>();
  private readonly diskBytes = new Map<string, number>();
  private usageTimer: NodeJS.Timeout | undefined;
  private diskTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: MonitorOptions) {}

  start(): void {
    this.scheduleUsage();
    this.scheduleDisk(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.usageTimer);
    clearTimeout(this.diskTimer);
  }

  /** usage: the latest figures of every running task, for /state and /metrics. */
  usage(): TaskUsage[] {
    return [...this.latest.values()];
  }

  /**
   * usagePass measures cpu and memory now, TASKS_PER_TURN tasks to a turn of the event loop: an
   * agent running thousands of tasks reads several files of each, and its heartbeats must not wait.
   */
  async usagePass(): Promise<TaskUsage[]> {
    const { containerizer, running, limit } = this.options;
    const now = Date.now();
    const tasks = running();
    const live = new Set<string>();
    let n = 0;
    for (const task of tasks) {
      if (++n % TASKS_PER_TURN === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const id = task.taskId;
      live.add(id);
      const oom = containerizer.memoryLimitation(id);
      if (oom !== undefined) limit(id, oom);
      const u = containerizer.usage(id);
      if (u === undefined) continue;
      this.latest.set(id, { taskId: id, cpuSecs: round3(u.cpuSecs), memBytes: u.memBytes, diskBytes: this.diskBytes.get(id) ?? 0, timestamp: now });
    }
    for (const id of this.latest.keys()) if (!live.has(id)) this.latest.delete(id);
    for (const id of this.diskBytes.keys()) if (!live.has(id)) this.diskBytes.delete(id);
    return this.usage();
  }

  /** diskPass measures every running task's sandbox and fails those over their disk. */
  async diskPass(): Promise<void> {
    const { workDir, running, limit, logger } = this.options;
    for (const task of running()) {
      const id = task.taskId;
      let bytes: number;
      try {
        bytes = await diskUsage(sandboxPath(workDir, id));
      } catch (err) {
        logger.warn('cannot measure a sandbox', { task: id, error: err });
        continue;
      }
      this.diskBytes.set(id, bytes);
      // disk 0 means the job asked for none: there is no limit to enforce (as in Mesos, whose
      // disk isolation only enforces what a task reserved).
      const limitMiB = task.resources.disk;
      if (limitMiB > 0 && bytes > limitMiB * MiB) {
        limit(id, {
          reason: 'REASON_CONTAINER_LIMITATION_DISK',
          message: `Disk limit exceeded: the sandbox holds ${(bytes / MiB).toFixed(1)} MiB and the task may use ${limitMiB} MiB`,
        });
      }
    }
  }

  private scheduleUsage(): void {
    if (this.stopped) return;
    this.usageTimer = setTimeout(() => {
      // Sent even with no task running: the report also carries the ports other programs hold.
      this.usagePass()
        .then((usage) => this.options.report(usage))
        .catch((err: unknown) => this.options.logger.debug('cannot report usage to the master', { error: err }))
        .finally(() => this.scheduleUsage());
    }, this.options.usageIntervalSecs * 1000);
    this.usageTimer.unref();
  }

  private scheduleDisk(delayMs = this.options.diskIntervalSecs * 1000): void {
    if (this.stopped) return;
    this.diskTimer = setTimeout(() => {
      this.diskPass()
        .catch((err: unknown) => this.options.logger.warn('the disk pass failed', { error: err }))
        .finally(() => this.scheduleDisk());
    }, delayMs);
    this.diskTimer.unref();
  }
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
