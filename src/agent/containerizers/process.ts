// The process containerizer runs every task under muster-supervisor (supervisor.ts), a small C
// program in its own session that applies the task's isolation (cgroups, pid and mount namespaces,
// the role's user), runs the processes, rotates their output into the sandbox, and writes their
// exit status to <sandbox>/.muster/exit.json. The supervisor does not depend on the agent: kill -9
// the agent and the task runs on; the next agent finds the supervisor by the pid and start time in
// the task's checkpoint and reattaches, or reads exit.json if the task ended meanwhile.
//
// Killing is two signals to the supervisor: SIGTERM (it passes SIGTERM to the task's processes),
// then, after the grace period, SIGUSR1 (it SIGKILLs them all). If even that does not end the
// supervisor, the agent kills the task's cgroup and the supervisor itself.

import { spawn } from 'node:child_process';
import { lstatSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../log/index.js';
import type { TaskInfo } from '../../protocol/index.js';
import {
  checkpointedTasks,
  readCheckpoint,
  writeCheckpoint,
  type IsolationRecord,
  type SupervisorRecord,
  type TaskCheckpoint,
} from '../checkpoint.js';
import type { Isolator } from '../isolation/index.js';
import { processStartTime, procPids, sessionUsage } from '../proc.js';
import {
  createMetaDir,
  enterArgs,
  META_DIR,
  readExitFile,
  signalName,
  SupervisorLauncher,
  supervisorBinary,
  type SupervisorExit,
  type SupervisorProcess,
} from '../supervisor.js';
import {
  escalateKill,
  LaunchError,
  type CommandEnd,
  type Containerizer,
  type Limitation,
  type LaunchSpec,
  type Recovered,
  type TaskCommand,
  type Termination,
  type Usage,
} from './interface.js';

interface Container {
  task: TaskInfo;
  sandbox: string;
  isolation: IsolationRecord;
  supervisor: SupervisorRecord | undefined;
  /** Set when this agent spawned the supervisor: its exit event ends the task at once. */
  child: SupervisorProcess | undefined;
  killing: boolean;
  /** When the pending SIGUSR1 is due (ms since epoch), to let a shorter grace period win. */
  killDeadline: number;
  killTimer: NodeJS.Timeout | undefined;
  /** Polls a reattached supervisor, which is not our child and sends us no exit event. */
  pollTimer: NodeJS.Timeout | undefined;
  /** Set when recovery found the task ended: what wait() resolves with. */
  ended: Termination | undefined;
  done: Promise<Termination>;
  resolve: (t: Termination) => void;
}

export interface ProcessContainerizerOptions {
  workDir: string;
  isolator: Isolator;
  logger: Logger;
  /** Rotate stdout and stderr past this size (0: never). */
  logMaxBytes?: number;
  /** Rotated files kept per stream. */
  logMaxFiles?: number;
}

/** How long a forced kill (SIGUSR1) may take before the agent kills the cgroup and the supervisor. */
const FORCE_WAIT_MS = 5000;
/** How often a reattached supervisor is checked for having ended. */
const POLL_MS = 250;

/** ProcessContainerizer runs tasks as processes under muster-supervisor, isolated by the Isolator. */
export class ProcessContainerizer implements Containerizer {
  private readonly containers = new Map<string, Container>();
  private readonly binary: string;
  /** Starts supervisors without forking the agent (see SupervisorLauncher). */
  private readonly launcher: SupervisorLauncher;

  constructor(private readonly options: ProcessContainerizerOptions) {
    // Resolve the binary now: a missing build fails the agent's start, not its first launch.
    this.binary = supervisorBinary();
    this.launcher = new SupervisorLauncher(this.binary);
  }

  async launch(spec: LaunchSpec): Promise<void> {
    const { task, sandbox, env } = spec;
    const { isolator, workDir, logger } = this.options;
    if (this.containers.has(task.taskId)) throw new LaunchError('REASON_LAUNCH_FAILED', `task ${task.taskId} is already launched`);

    let isolation: IsolationRecord;
    try {
      isolation = isolator.prepare({ taskId: task.taskId, role: task.role, resources: task.resources });
    } catch (err) {
      throw new LaunchError('REASON_LAUNCH_FAILED', `Cannot isolate the task: ${errorText(err)}`);
    }
    const container = this.newContainer(task, sandbox, isolation);
    this.containers.set(task.taskId, container);
    try {
      createMetaDir(sandbox);
      if (isolation.user !== undefined) isolator.chownSandbox(sandbox, isolation.user);
      // Checkpoint before the spawn: an agent that dies right after it still knows the sandbox
      // to look for the supervisor in.
      const checkpoint: TaskCheckpoint = { task, sandbox, isolation, launchedAt: Date.now() };
      writeCheckpoint(workDir, checkpoint);
      const started = await this.launcher.start(
        {
          sandbox,
          processes: task.processes,
          cgroups: isolation.cgroups,
          ...(isolation.user === undefined ? {} : { user: isolation.user }),
          pidNamespace: isolation.pidNamespace,
          mountNamespace: isolation.mountNamespace,
          graceSecs: task.killGraceSecs,
          logMaxBytes: this.options.logMaxBytes ?? 0,
          logMaxFiles: this.options.logMaxFiles ?? 5,
        },
        env,
      );
      const supervisor: SupervisorRecord = { pid: started.pid, initPid: started.initPid };
      const startTime = processStartTime(started.pid);
      if (startTime !== undefined) supervisor.startTime = startTime;
      container.supervisor = supervisor;
      container.child = started.child;
      writeCheckpoint(workDir, { ...checkpoint, supervisor });
      const child = started.child;
      if (child.exitCode === null && child.signalCode === null) child.once('exit', () => this.onSupervisorExit(container));
      else queueMicrotask(() => this.onSupervisorExit(container));
    } catch (err) {
      this.containers.delete(task.taskId);
      if (container.supervisor !== undefined) this.signal(container, 'SIGUSR1');
      await isolator.destroy(task.taskId).catch((e: unknown) => logger.warn('cannot clean up after a failed launch', { task: task.taskId, error: e }));
      throw err instanceof LaunchError ? err : new LaunchError('REASON_LAUNCH_FAILED', `Cannot start the task: ${errorText(err)}`);
    }
    // A kill that came during the launch could not signal a supervisor that did not exist yet.
    if (container.killing) this.signal(container, 'SIGTERM');
  }

  wait(taskId: string): Promise<Termination> {
    const container = this.containers.get(taskId);
    if (container === undefined) return Promise.reject(new Error(`no container for task ${taskId}`));
    return container.done;
  }

  kill(taskId: string, graceSecs: number): void {
    const container = this.containers.get(taskId);
    if (container === undefined || container.ended !== undefined) return;
    escalateKill(container, graceSecs, () => this.signal(container, 'SIGTERM'), () => this.force(container));
  }

  usage(taskId: string): Usage | undefined {
    const container = this.containers.get(taskId);
    if (container?.supervisor === undefined || container.ended !== undefined) return undefined;
    const fromCgroups = this.options.isolator.usage(taskId);
    if (fromCgroups !== undefined) return fromCgroups;
    // Without cgroups every process of the task is in its supervisor's session (the supervisor
    // calls setsid), less the supervisor itself, which costs next to nothing.
    const session = sessionUsage(container.supervisor.pid);
    return { cpuSecs: session.cpuSecs, memBytes: session.memBytes };
  }

  memoryLimitation(taskId: string): Limitation | undefined {
    const container = this.containers.get(taskId);
    if (container === undefined) return undefined;
    return this.checkMemory(container);
  }

  exec(taskId: string, argv: string[], env: Record<string, string>): TaskCommand {
    const container = this.containers.get(taskId);
    if (container?.supervisor === undefined || container.ended !== undefined) throw new Error(`task ${taskId} is not running`);
    const { isolation, supervisor } = container;
    // The init's pid is trusted only while its supervisor (its parent) is the one we started.
    if (supervisor.startTime !== undefined && processStartTime(supervisor.pid) !== supervisor.startTime) {
      throw new Error(`task ${taskId} is not running`);
    }
    const args = enterArgs({
      target: supervisor.initPid,
      pidNamespace: isolation.pidNamespace,
      mountNamespace: isolation.mountNamespace,
      cgroups: isolation.cgroups,
      ...(isolation.user === undefined ? {} : { user: isolation.user }),
      cwd: container.sandbox,
      argv,
    });
    // detached: the enter process leads its own group, so a timeout can signal it and what it forwards to.
    const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
    const ended = new Promise<CommandEnd>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode, signal) => resolve({ exitCode, signal }));
    });
    return {
      stdout: child.stdout,
      stderr: child.stderr,
      ended,
      kill: (signal) => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
    };
  }

  pid(taskId: string): number | undefined {
    const container = this.containers.get(taskId);
    return container === undefined || container.ended !== undefined ? undefined : container.supervisor?.pid;
  }

  async destroy(taskId: string): Promise<void> {
    const container = this.containers.get(taskId);
    if (container !== undefined && container.ended === undefined) throw new Error(`task ${taskId} is still running`);
    this.containers.delete(taskId);
    await this.options.isolator.destroy(taskId);
  }

  detach(): void {
    for (const container of this.containers.values()) {
      clearTimeout(container.killTimer);
      clearTimeout(container.pollTimer);
      container.child?.unref();
    }
    // The launcher exits; the supervisors it started run on, for the next agent to reattach.
    this.launcher.close();
  }

  /**
   * recover reads every checkpoint. A task whose supervisor still runs (same pid, same start time)
   * is reattached. One whose supervisor is gone ended while no agent watched: its exit.json says
   * how. One with no supervisor recorded was being launched when the agent died: a supervisor
   * that got as far as running is found by its sandbox and adopted (it runs the task as asked);
   * with none, the exit file tells whether it ran and how it ended. Cgroups under the agent's root
   * that belong to no checkpoint are removed.
   */
  async recover(mine: (task: TaskInfo | undefined) => boolean = () => true): Promise<Recovered[]> {
    const { workDir, logger, isolator } = this.options;
    const out: Recovered[] = [];
    for (const taskId of checkpointedTasks(workDir, logger)) {
      const cp = readCheckpoint(workDir, taskId, logger);
      if (!mine(cp?.task)) continue;
      if (cp === undefined) {
        out.push({ taskId, running: false });
        continue;
      }
      const container = this.newContainer(cp.task, cp.sandbox, cp.isolation);
      this.containers.set(taskId, container);
      const sup = cp.supervisor ?? this.adoptStray(cp);
      if (sup === undefined) {
        // No supervisor runs for it: it never started, or it started and ended before the agent
        // recorded it. Its exit file, if it wrote one, says how it really ended.
        const ended = this.terminationOf(container);
        this.finishRecovered(container, ended.lost === undefined ? ended : { ...ended, lost: 'the agent restarted while it was launching the task' });
        out.push({ taskId, task: cp.task, running: false });
        continue;
      }
      container.supervisor = sup;
      if (sup.startTime !== undefined && processStartTime(sup.pid) === sup.startTime) {
        logger.info('reattached to a running task', { task: taskId, supervisor: sup.pid });
        this.poll(container);
        out.push({ taskId, task: cp.task, running: true });
      } else {
        this.finishRecovered(container, this.terminationOf(container));
        out.push({ taskId, task: cp.task, running: false });
      }
    }
    const known = new Set(out.map((r) => r.taskId));
    for (const orphan of isolator.orphans(known)) {
      logger.info('removing the cgroup of a task no checkpoint knows', { task: orphan });
      await isolator.destroy(orphan).catch((err: unknown) => logger.warn('cannot remove an orphan cgroup', { task: orphan, error: err }));
    }
    return out;
  }

  private newContainer(task: TaskInfo, sandbox: string, isolation: IsolationRecord): Container {
    let resolve: (t: Termination) => void = () => undefined;
    const done = new Promise<Termination>((r) => (resolve = r));
    return {
      task,
      sandbox,
      isolation,
      supervisor: undefined,
      child: undefined,
      killing: false,
      killDeadline: Infinity,
      killTimer: undefined,
      pollTimer: undefined,
      ended: undefined,
      done,
      resolve,
    };
  }

  private finishRecovered(container: Container, termination: Termination): void {
    container.ended = termination;
    container.resolve(termination);
  }

  private poll(container: Container): void {
    container.pollTimer = setTimeout(() => {
      const sup = container.supervisor;
      if (sup !== undefined && processStartTime(sup.pid) === sup.startTime) this.poll(container);
      else this.onSupervisorExit(container);
    }, POLL_MS);
  }

  private onSupervisorExit(container: Container): void {
    if (container.ended !== undefined) return;
    clearTimeout(container.killTimer);
    clearTimeout(container.pollTimer);
    const termination = this.terminationOf(container);
    container.ended = termination;
    container.resolve(termination);
  }

  private terminationOf(container: Container): Termination {
    const { logger } = this.options;
    let exit: SupervisorExit | undefined;
    try {
      // The task owns its sandbox and could swap .muster for a directory of its own with a made-up
      // exit.json: only the agent's own (root's) directory is believed.
      const meta = lstatSync(path.join(container.sandbox, META_DIR), { throwIfNoEntry: false });
      const ours = meta !== undefined && meta.isDirectory() && meta.uid === (process.getuid?.() ?? meta.uid);
      if (!ours && meta !== undefined) logger.warn('ignoring a task meta dir the agent does not own', { task: container.task.taskId });
      exit = ours ? readExitFile(container.sandbox) : undefined;
    } catch (err) {
      logger.warn('cannot read the exit status of a task', { task: container.task.taskId, error: err });
    }
    const termination: Termination = {};
    const limitation = this.checkMemory(container);
    if (limitation !== undefined) termination.limitation = limitation;
    if (exit === undefined) {
      termination.lost = 'its supervisor ended without recording an exit status';
      if (container.killing) termination.killed = true;
      return termination;
    }
    if (exit.error !== undefined) termination.error = exit.error;
    if (exit.killed !== undefined || container.killing) termination.killed = true;
    const failed = exit.exits.find((e) => e.exitCode !== 0);
    if (failed !== undefined) {
      termination.failure = {
        process: failed.name,
        exitCode: failed.exitCode ?? null,
        signal: failed.signal === undefined ? null : signalName(failed.signal),
      };
    }
    return termination;
  }

  private checkMemory(container: Container): Limitation | undefined {
    const mem = this.options.isolator.memoryLimitation(container.task.taskId);
    if (mem === undefined || mem.oomKills === 0) return undefined;
    const peak = mem.peakBytes === undefined ? '' : `, peak use ${formatMiB(mem.peakBytes)}`;
    return {
      reason: 'REASON_CONTAINER_LIMITATION_MEMORY',
      message: `Memory limit exceeded: the task may use ${formatMiB(mem.limitBytes)} and the kernel killed a process that needed more${peak}`,
    };
  }

  private force(container: Container): void {
    if (container.ended !== undefined) return;
    this.signal(container, 'SIGUSR1');
    // The supervisor is ours and small, but a kill must end the task even if it misbehaves.
    container.killTimer = setTimeout(() => {
      if (container.ended !== undefined) return;
      const { isolator, logger } = this.options;
      logger.warn('the task supervisor did not stop; killing its cgroup and itself', { task: container.task.taskId });
      isolator.kill(container.task.taskId).catch((err: unknown) => logger.warn('cannot kill a task cgroup', { task: container.task.taskId, error: err }));
      this.signal(container, 'SIGKILL');
    }, FORCE_WAIT_MS);
  }

  private signal(container: Container, signal: NodeJS.Signals): void {
    const sup = container.supervisor;
    if (sup === undefined) return; // launch() signals once the supervisor exists
    // A reattached supervisor is checked against its start time: its pid may have been reused.
    if (container.child === undefined && sup.startTime !== undefined && processStartTime(sup.pid) !== sup.startTime) return;
    try {
      process.kill(sup.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
        this.options.logger.warn('cannot signal a task supervisor', { task: container.task.taskId, pid: sup.pid, signal, error: err });
      }
    }
  }

  /**
   * adoptStray finds the supervisor a previous agent started for a task but died before recording:
   * it runs the task as asked, so it is reattached (and recorded now) rather than killed: a kill
   * would turn a task that runs, or is about to succeed, into a lost one. Undefined: none runs.
   */
  private adoptStray(cp: TaskCheckpoint): SupervisorRecord | undefined {
    const { workDir, logger } = this.options;
    const [pid, ...more] = supervisorsOf(cp.sandbox);
    if (pid === undefined) return undefined;
    if (more.length > 0) logger.warn('more than one supervisor runs for a task; adopting the first', { task: cp.task.taskId, supervisors: [pid, ...more].join(',') });
    const startTime = processStartTime(pid);
    if (startTime === undefined) return undefined;
    // The task's init is the supervisor's child (0 while it has none: exec then refuses).
    const sup: SupervisorRecord = { pid, initPid: firstChildOf(pid) ?? 0, startTime };
    logger.info('adopted the supervisor of a task whose launch the previous agent did not record', { task: cp.task.taskId, supervisor: pid });
    try {
      writeCheckpoint(workDir, { ...cp, supervisor: sup });
    } catch (err) {
      logger.warn('cannot record an adopted supervisor; the next agent adopts it again', { task: cp.task.taskId, error: err });
    }
    return sup;
  }
}

/** firstChildOf is the lowest pid among a process's children (its task's init, for a supervisor), if any. */
function firstChildOf(pid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter((x) => x !== '').map(Number);
    return children.length === 0 ? undefined : Math.min(...children);
  } catch {
    return undefined;
  }
}

/** supervisorsOf finds running supervisors by their command line: `muster-supervisor run --sandbox <dir>`. */
function supervisorsOf(sandbox: string): number[] {
  const out: number[] = [];
  for (const name of procPids()) {
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0');
      const at = argv.indexOf('--sandbox');
      if (argv[1] === 'run' && at > 0 && argv[at + 1] === sandbox && argv[0]?.endsWith('muster-supervisor') === true) out.push(Number(name));
    } catch {
      // a process that ended while we looked
    }
  }
  return out;
}

function formatMiB(bytes: number): string {
  return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
