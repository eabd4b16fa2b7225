// A containerizer starts a task's processes and reports how they ended. Containerizers sit behind
// one interface (launch, wait, kill, recover, destroy) so that a docker one can join the process
// one later. The process containerizer below runs each process as `/bin/sh -c <cmd>` in its own
// process group, with stdout and stderr going straight to files in the sandbox: no pipe through
// the agent, so output survives the agent and costs it nothing.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import type { TaskReason } from '../core/index.js';
import type { Logger } from '../log/index.js';
import type { TaskInfo } from '../protocol/index.js';
import { readCheckpoints, removeCheckpoint, writeCheckpoint, type CheckpointedProcess } from './checkpoint.js';
import { killGroup, processStartTime } from './proc.js';

/** LaunchSpec is what a containerizer needs to start a task whose sandbox already exists. */
export interface LaunchSpec {
  task: TaskInfo;
  sandbox: string;
  env: Record<string, string>;
}

/** ProcessExit is how one process of a task ended. */
export interface ProcessExit {
  process: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** Termination is how a whole task ended: failure is the first process that did not exit 0. */
export interface Termination {
  failure?: ProcessExit;
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
  /** launch starts every process of the task and resolves with their pids; throws LaunchError. */
  launch(spec: LaunchSpec): Promise<number[]>;
  /** wait resolves once every process of the task has exited. */
  wait(taskId: string): Promise<Termination>;
  /** kill asks the task's processes to stop (SIGTERM), and forces them (SIGKILL) after graceSecs. */
  kill(taskId: string, graceSecs: number): Promise<void>;
  /** recover deals with what a previous agent left running; resolves with the number of tasks found. */
  recover(): Promise<number>;
  /** destroy forgets an ended task (its checkpoint); the sandbox stays. */
  destroy(taskId: string): void;
  /** pids of the task's processes still running. */
  pids(taskId: string): number[];
  /** detach lets the agent exit while tasks run on (they are killed by the next agent's recover). */
  detach(): void;
}

interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  exited: boolean;
}

interface Container {
  task: TaskInfo;
  procs: Proc[];
  launching: boolean;
  killing: boolean;
  /** When the pending SIGKILL is due (ms since epoch), to let a shorter grace period win. */
  killDeadline: number;
  killTimer: NodeJS.Timeout | undefined;
  failure: ProcessExit | undefined;
  ended: boolean;
  done: Promise<Termination>;
  resolve: (t: Termination) => void;
}

/** How long recover() waits for the processes it killed to be gone before the agent subscribes. */
const RECOVER_WAIT_MS = 2000;

/** ProcessContainerizer runs tasks as plain process groups (no isolation yet). */
export class ProcessContainerizer implements Containerizer {
  private readonly containers = new Map<string, Container>();

  constructor(private readonly options: { workDir: string; logger: Logger }) {}

  async launch(spec: LaunchSpec): Promise<number[]> {
    const { task, sandbox, env } = spec;
    if (this.containers.has(task.taskId)) throw new LaunchError('REASON_LAUNCH_FAILED', `task ${task.taskId} is already launched`);

    let stdout: number | undefined;
    let stderr: number | undefined;
    try {
      stdout = openSync(path.join(sandbox, 'stdout'), 'a');
      stderr = openSync(path.join(sandbox, 'stderr'), 'a');
    } catch (err) {
      if (stdout !== undefined) closeSync(stdout);
      throw new LaunchError('REASON_SANDBOX_FAILED', `Cannot open stdout and stderr in the sandbox: ${errorText(err)}`);
    }

    let resolve: (t: Termination) => void = () => undefined;
    const done = new Promise<Termination>((r) => (resolve = r));
    const container: Container = {
      task,
      procs: [],
      launching: true,
      killing: false,
      killDeadline: Infinity,
      killTimer: undefined,
      failure: undefined,
      ended: false,
      done,
      resolve,
    };
    this.containers.set(task.taskId, container);

    const checkpointed: CheckpointedProcess[] = [];
    try {
      for (const p of task.processes) {
        // A process that failed while we were starting the next ones stops the launch: the
        // task is already failing and starting more of it would only leave more to kill.
        if (container.killing) break;
        const child = spawn('/bin/sh', ['-c', p.cmd], {
          cwd: sandbox,
          env,
          detached: true,
          stdio: ['ignore', stdout, stderr],
        });
        const proc: Proc = { name: p.name, child, pid: 0, exited: false };
        // Listen before anything else can run: a process may exit before the next await returns.
        child.on('exit', (code, signal) => this.onExit(container, proc, code, signal));
        await spawned(child);
        // After the spawn, 'error' only means a signal could not be sent: log it, never crash.
        child.on('error', (err) => this.options.logger.warn('process error', { task: task.taskId, process: p.name, error: err }));
        proc.pid = child.pid as number;
        container.procs.push(proc);
        const entry: CheckpointedProcess = { name: p.name, pid: proc.pid };
        const startTime = processStartTime(proc.pid);
        if (startTime !== undefined) entry.startTime = startTime;
        checkpointed.push(entry);
        writeCheckpoint(this.options.workDir, { task, processes: checkpointed });
        if (container.killing) killGroup(proc.pid, 'SIGTERM');
      }
    } catch (err) {
      // Take down what did start: a task is all of its processes or none of them.
      for (const proc of container.procs) if (!proc.exited) killGroup(proc.pid, 'SIGKILL');
      this.containers.delete(task.taskId);
      removeCheckpoint(this.options.workDir, task.taskId);
      throw new LaunchError('REASON_LAUNCH_FAILED', `Cannot start the task's processes: ${errorText(err)}`);
    } finally {
      // The children hold their own copies of the descriptors.
      closeSync(stdout);
      closeSync(stderr);
    }
    container.launching = false;
    this.maybeEnd(container);
    return container.procs.map((p) => p.pid);
  }

  wait(taskId: string): Promise<Termination> {
    const container = this.containers.get(taskId);
    if (container === undefined) return Promise.reject(new Error(`no container for task ${taskId}`));
    return container.done;
  }

  kill(taskId: string, graceSecs: number): Promise<void> {
    const container = this.containers.get(taskId);
    if (container !== undefined) this.killContainer(container, graceSecs);
    return Promise.resolve();
  }

  pids(taskId: string): number[] {
    const container = this.containers.get(taskId);
    return container === undefined ? [] : container.procs.filter((p) => !p.exited).map((p) => p.pid);
  }

  destroy(taskId: string): void {
    const container = this.containers.get(taskId);
    if (container !== undefined && !container.ended) throw new Error(`task ${taskId} is still running`);
    this.containers.delete(taskId);
    removeCheckpoint(this.options.workDir, taskId);
  }

  detach(): void {
    for (const container of this.containers.values()) {
      clearTimeout(container.killTimer);
      for (const proc of container.procs) proc.child.unref();
    }
  }

  /**
   * recover kills the process groups a previous agent left running. Reattaching to them needs a
   * supervisor that outlives the agent (a later issue); until then the master reschedules them
   * when it sees they are missing from our SUBSCRIBE. The start time check keeps us from killing
   * an unrelated process that was given a recycled pid.
   */
  async recover(): Promise<number> {
    const { workDir, logger } = this.options;
    const checkpoints = readCheckpoints(workDir, logger);
    const killed: CheckpointedProcess[] = [];
    for (const cp of checkpoints) {
      for (const proc of cp.processes) {
        if (proc.startTime === undefined || processStartTime(proc.pid) !== proc.startTime) continue;
        try {
          killGroup(proc.pid, 'SIGKILL');
          killed.push(proc);
          logger.info('killed a process left by the previous agent', { task: cp.task.taskId, process: proc.name, pid: proc.pid });
        } catch (err) {
          logger.warn('cannot kill a process left by the previous agent', { task: cp.task.taskId, pid: proc.pid, error: err });
        }
      }
      removeCheckpoint(workDir, cp.task.taskId);
    }
    // The killed processes are not our children, so there is no exit event to wait for: poll
    // /proc briefly, so that a task relaunched here at once finds its ports free.
    const deadline = Date.now() + RECOVER_WAIT_MS;
    while (killed.some((p) => processStartTime(p.pid) === p.startTime) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    return checkpoints.length;
  }

  private killContainer(container: Container, graceSecs: number): void {
    if (container.ended) return;
    const deadline = Date.now() + Math.max(0, graceSecs) * 1000;
    if (!container.killing) {
      container.killing = true;
      for (const proc of container.procs) if (!proc.exited) this.signal(container, proc, 'SIGTERM');
    }
    // A second kill with a shorter grace period (e.g. the agent shutting down) moves SIGKILL up.
    if (deadline >= container.killDeadline) return;
    container.killDeadline = deadline;
    clearTimeout(container.killTimer);
    container.killTimer = setTimeout(() => {
      for (const proc of container.procs) if (!proc.exited) this.signal(container, proc, 'SIGKILL');
    }, deadline - Date.now());
  }

  private signal(container: Container, proc: Proc, signal: NodeJS.Signals): void {
    try {
      killGroup(proc.pid, signal);
    } catch (err) {
      this.options.logger.warn('cannot signal a process group', { task: container.task.taskId, pid: proc.pid, signal, error: err });
    }
  }

  private onExit(container: Container, proc: Proc, exitCode: number | null, signal: NodeJS.Signals | null): void {
    proc.exited = true;
    // The leader is gone; whatever it left behind in its group (background jobs of the shell)
    // goes with it, or it would run on unseen and hold the task's ports.
    if (proc.pid > 0) this.signal(container, proc, 'SIGKILL');
    if (container.failure === undefined && (exitCode !== 0 || signal !== null)) {
      container.failure = { process: proc.name, exitCode, signal };
      this.killContainer(container, container.task.killGraceSecs);
    }
    this.maybeEnd(container);
  }

  private maybeEnd(container: Container): void {
    if (container.ended || container.launching || container.procs.some((p) => !p.exited)) return;
    container.ended = true;
    clearTimeout(container.killTimer);
    container.resolve(container.failure === undefined ? {} : { failure: container.failure });
  }
}

/** spawned resolves once the child runs, or rejects with the spawn error (no shell, no cwd...). */
function spawned(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const onSpawn = (): void => {
      child.off('error', onError);
      resolve();
    };
    const onError = (err: Error): void => {
      child.off('spawn', onSpawn);
      reject(err);
    };
    child.once('spawn', onSpawn);
    child.once('error', onError);
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
