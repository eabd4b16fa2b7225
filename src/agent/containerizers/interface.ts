// What the agent asks of a containerizer: start a task's processes, tell how they ended, kill them,
// find them again after a restart, measure them, and run a command inside them. Everything the
// agent does to a task goes through this interface (no pids, no cgroup paths), so that the process
// containerizer (muster-supervisor) and the docker one (the Docker Engine) are interchangeable, and
// Containerizers (index.ts) picks one per task.

import type { Readable } from 'node:stream';
import type { TaskReason } from '../../core/index.js';
import type { TaskInfo } from '../../protocol/index.js';

/** LaunchSpec is what a containerizer needs to start a task whose sandbox already exists. */
export interface LaunchSpec {
  task: TaskInfo;
  sandbox: string;
  env: Record<string, string>;
  /** Tells the agent how a slow set-up goes (an image pull), for the task's status message. */
  progress?: (message: string) => void;
}

/** ProcessExit is how one process of a task ended. */
export interface ProcessExit {
  process: string;
  exitCode: number | null;
  signal: string | null;
}

/** Limitation is a resource limit that ended a task. */
export interface Limitation {
  reason: Extract<TaskReason, 'REASON_CONTAINER_LIMITATION_MEMORY' | 'REASON_CONTAINER_LIMITATION_DISK'>;
  message: string;
}

/** Termination is how a whole task ended. */
export interface Termination {
  /** The first process that did not exit 0. */
  failure?: ProcessExit;
  /** The task was told to stop (by this agent, or by one before a restart). */
  killed?: boolean;
  /** The kernel killed a process for exceeding the task's memory. */
  limitation?: Limitation;
  /** The task could not be set up (nothing ran). */
  error?: string;
  /** There is no exit status: the task vanished without leaving one. */
  lost?: string;
}

/** Usage is what a running task consumes right now. */
export interface Usage {
  cpuSecs: number;
  memBytes: number;
}

/** Recovered is a task found in the checkpoints when the agent starts. */
export interface Recovered {
  taskId: string;
  /** Absent when the checkpoint holds no TaskInfo (the agent died before writing it). */
  task?: TaskInfo;
  /** The task still runs and is reattached; otherwise wait() resolves with how it ended. */
  running: boolean;
}

/** CommandEnd is how a command run inside a task ended. */
export interface CommandEnd {
  /** null when a signal ended it. */
  exitCode: number | null;
  signal: string | null;
}

/**
 * TaskCommand is a command running inside a task (`task exec`, a command health check): its output
 * as two streams, how it ended, and a way to signal it. ended rejects when it could not be started.
 */
export interface TaskCommand {
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly ended: Promise<CommandEnd>;
  /** kill signals the command (SIGTERM at a timeout, SIGKILL after). */
  kill(signal: NodeJS.Signals): void;
}

/** LaunchError says why a launch failed, with the reason the status update carries. */
export class LaunchError extends Error {
  override readonly name = 'LaunchError';
  constructor(
    readonly reason: TaskReason,
    message: string,
  ) {
    super(message);
  }
}

/** Containerizer is what the agent asks to run tasks. */
export interface Containerizer {
  /**
   * check says why the task cannot run here, or undefined: a task that can never run here (a volume
   * the agent does not allow) is refused with TASK_ERROR; one that cannot run now (its daemon does
   * not answer), `drop`, is dropped (TASK_DROPPED: nothing ran, and the master places it again).
   */
  check?(task: TaskInfo): { message: string; drop?: boolean } | undefined;
  /** launch starts every process of the task and resolves once they run; throws LaunchError. */
  launch(spec: LaunchSpec): Promise<void>;
  /** wait resolves once the task has ended. */
  wait(taskId: string): Promise<Termination>;
  /** kill asks the task's processes to stop (SIGTERM), and forces them (SIGKILL) after graceSecs. */
  kill(taskId: string, graceSecs: number): void;
  /**
   * recover finds the tasks a previous agent left (those whose checkpoint `mine` accepts): live
   * ones are reattached, ended ones resolve wait() with how they ended.
   */
  recover(mine: (task: TaskInfo | undefined) => boolean): Promise<Recovered[]>;
  /** usage of a running task, or undefined. */
  usage(taskId: string): Usage | undefined;
  /** memoryLimitation: set once the kernel has OOM-killed a process of the task. */
  memoryLimitation(taskId: string): Limitation | undefined;
  /** exec starts argv inside a running task with env; throws if the task does not run. */
  exec(taskId: string, argv: string[], env: Record<string, string>): TaskCommand;
  /** pid of the task's top process on this host while it runs, for a person reading `ps`. */
  pid(taskId: string): number | undefined;
  /** destroy forgets an ended task and removes what it held (cgroups, its container); the sandbox and checkpoint stay. */
  destroy(taskId: string): Promise<void>;
  /** detach lets the agent exit while tasks run on (the next agent reattaches them). */
  detach(): void;
}

/** KillState is what a containerizer keeps of a task's kill: asked, and when the force is due. */
export interface KillState {
  killing: boolean;
  /** When the force is due (ms since epoch), to let a shorter grace period win. */
  killDeadline: number;
  killTimer: NodeJS.Timeout | undefined;
}

/**
 * escalateKill is a kill's two steps, the same for every containerizer: the first kill asks the
 * task to stop (stop), and force runs once graceSecs have passed. A later kill with a shorter grace
 * period (a limitation, the agent shutting down) moves the force up; a longer one changes nothing.
 */
export function escalateKill(k: KillState, graceSecs: number, stop: () => void, force: () => void): void {
  const deadline = Date.now() + Math.max(0, graceSecs) * 1000;
  if (!k.killing) {
    k.killing = true;
    stop();
  }
  if (deadline >= k.killDeadline) return;
  k.killDeadline = deadline;
  clearTimeout(k.killTimer);
  k.killTimer = setTimeout(force, deadline - Date.now());
}
