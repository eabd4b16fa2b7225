// Tasks is the agent's table of tasks and their life from LAUNCH to the acknowledgement of their
// terminal update. It turns the master's LAUNCH and KILL into containerizer calls, and what the
// containerizer reports into status updates. A task stays in the table until its terminal update
// is acknowledged, so that a duplicate LAUNCH or a late KILL is recognised for what it is.

import { isTerminal, LIMITS, type TaskReason, type TaskState } from '../core/index.js';
import type { Logger } from '../log/index.js';
import type { RunningTask, TaskInfo, TaskStatus } from '../protocol/index.js';
import { LaunchError, type Containerizer, type Termination } from './containerizer.js';
import { taskEnvironment } from './environment.js';
import { createSandbox } from './sandbox.js';
import { makeStatus, type StatusUpdates } from './statusupdates.js';
import { checkTaskInfo } from './taskinfo.js';

/** MAX_TASKS bounds the table: far more than any machine runs, few enough to stay cheap. */
const MAX_TASKS = 10_000;

type Phase = 'launching' | 'running' | 'killing' | 'ended';

interface KillRequest {
  reason: TaskReason;
  message: string;
  graceSecs: number;
}

interface Task {
  info: TaskInfo;
  phase: Phase;
  /** The state of the latest update we sent. */
  state: TaskState;
  kill: KillRequest | undefined;
  done: Promise<void>;
  markDone: () => void;
}

export interface TasksOptions {
  workDir: string;
  /** The agent's advertised address: tasks see it as HOST. */
  host: string;
  containerizer: Containerizer;
  updates: StatusUpdates;
  logger: Logger;
}

/** TaskRow is one line of the agent's /state. */
export interface TaskRow {
  taskId: string;
  state: TaskState;
  pid?: number;
}

export class Tasks {
  private readonly tasks = new Map<string, Task>();
  private closing = false;
  /** Counter for /metrics. */
  launches = 0;

  constructor(private readonly options: TasksOptions) {}

  /** launch handles a LAUNCH event; the task field comes straight from the wire. */
  launch(raw: unknown): void {
    const { logger, updates } = this.options;
    const check = checkTaskInfo(raw);
    if (!check.ok) {
      if (check.taskId === undefined) {
        logger.error('dropping a LAUNCH without a task id to report under', { problem: check.message });
      } else if (this.tasks.has(check.taskId)) {
        logger.warn('ignoring an invalid LAUNCH for a task we run', { task: check.taskId, problem: check.message });
      } else {
        logger.warn('refusing an invalid task', { task: check.taskId, problem: check.message });
        updates.enqueue(makeStatus(check.taskId, 'TASK_ERROR', { reason: 'REASON_INVALID_TASK', message: check.message }));
      }
      return;
    }
    const info = check.task;
    if (this.tasks.has(info.taskId)) {
      // The master resends a LAUNCH it has no answer to yet; the first one is being handled.
      logger.debug('ignoring a duplicate LAUNCH', { task: info.taskId });
      return;
    }
    if (this.closing) {
      updates.enqueue(
        makeStatus(info.taskId, 'TASK_DROPPED', { reason: 'REASON_AGENT_SHUTDOWN', message: 'the agent is shutting down' }),
      );
      return;
    }
    if (this.tasks.size >= MAX_TASKS) {
      updates.enqueue(
        makeStatus(info.taskId, 'TASK_ERROR', {
          reason: 'REASON_INVALID_TASK',
          message: `the agent already holds ${MAX_TASKS} tasks, its limit`,
        }),
      );
      return;
    }
    let markDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (markDone = resolve));
    const task: Task = { info, phase: 'launching', state: 'TASK_STAGING', kill: undefined, done, markDone };
    this.tasks.set(info.taskId, task);
    this.launches++;
    logger.info('launching a task', { task: info.taskId, job: info.job, instance: info.instance });
    this.send(task, 'TASK_STARTING');
    this.run(task).catch((err: unknown) => {
      // run() handles its own failures; reaching here is a bug, but the task must still end.
      logger.error('task supervision failed', { task: info.taskId, error: err });
      if (task.phase !== 'ended') this.end(task, 'TASK_FAILED', 'REASON_LAUNCH_FAILED', `Agent error: ${errorText(err)}`);
    });
  }

  /** kill handles a KILL event from the master. */
  kill(taskId: string, options: { graceSecs?: number; reason?: TaskReason }): void {
    const task = this.tasks.get(taskId);
    if (task === undefined) {
      this.options.updates.enqueue(
        makeStatus(taskId, 'TASK_LOST', { reason: 'REASON_TASK_UNKNOWN', message: 'the agent does not know this task' }),
      );
      return;
    }
    const graceSecs = options.graceSecs ?? task.info.killGraceSecs;
    // The master wants one outcome for a task it gave up on during launch, whatever its reason.
    const reason = task.phase === 'launching' ? 'REASON_TASK_KILLED_DURING_LAUNCH' : (options.reason ?? 'REASON_TASK_KILLED');
    this.requestKill(task, { reason, message: 'Killed after request of the master', graceSecs });
  }

  /** killAll kills every task gracefully (the agent is shutting down) and resolves once all ended. */
  async killAll(): Promise<void> {
    this.closing = true;
    for (const task of this.tasks.values()) {
      this.requestKill(task, {
        reason: 'REASON_AGENT_SHUTDOWN',
        message: 'Killed because the agent is shutting down',
        graceSecs: task.info.killGraceSecs,
      });
    }
    await Promise.all([...this.tasks.values()].map((t) => t.done));
  }

  /** acknowledged is told of every acknowledged update: a task whose terminal one is acked is forgotten. */
  acknowledged(status: TaskStatus): void {
    if (!isTerminal(status.state)) return;
    const task = this.tasks.get(status.taskId);
    if (task === undefined || task.phase !== 'ended') return;
    this.tasks.delete(status.taskId);
    try {
      this.options.containerizer.destroy(status.taskId);
    } catch (err) {
      this.options.logger.warn('cannot clean up an ended task', { task: status.taskId, error: err });
    }
  }

  /** isActive: the task is known and has not ended (files read from it may still grow). */
  isActive(taskId: string): boolean {
    const task = this.tasks.get(taskId);
    return task !== undefined && task.phase !== 'ended';
  }

  /** running lists the tasks reported on SUBSCRIBE: every task not yet forgotten, with its state. */
  running(): RunningTask[] {
    return [...this.tasks.values()].map((t) => ({ taskId: t.info.taskId, state: t.state }));
  }

  rows(): TaskRow[] {
    return [...this.tasks.values()].map((t) => {
      const row: TaskRow = { taskId: t.info.taskId, state: t.state };
      const pid = this.options.containerizer.pids(t.info.taskId)[0];
      if (pid !== undefined) row.pid = pid;
      return row;
    });
  }

  countByState(): Map<TaskState, number> {
    const counts = new Map<TaskState, number>();
    for (const t of this.tasks.values()) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
    return counts;
  }

  private requestKill(task: Task, kill: KillRequest): void {
    const { containerizer, logger } = this.options;
    const taskId = task.info.taskId;
    if (task.phase === 'ended') return; // its terminal update is already queued
    if (task.kill === undefined) task.kill = kill;
    if (task.phase === 'launching') return; // run() kills it as soon as the launch returns
    if (task.phase === 'running') {
      task.phase = 'killing';
      logger.info('killing a task', { task: taskId, reason: kill.reason, graceSecs: kill.graceSecs });
      this.send(task, 'TASK_KILLING');
    }
    // A repeated kill may carry a shorter grace period; the containerizer keeps the earlier deadline.
    containerizer.kill(taskId, Math.min(kill.graceSecs, LIMITS.killGraceSecs)).catch((err: unknown) => {
      logger.error('cannot kill a task', { task: taskId, error: err });
    });
  }

  private async run(task: Task): Promise<void> {
    const { workDir, host, containerizer, logger } = this.options;
    const info = task.info;
    let sandbox: string;
    try {
      sandbox = createSandbox(workDir, info.taskId);
    } catch (err) {
      this.end(task, 'TASK_FAILED', 'REASON_SANDBOX_FAILED', `Cannot create the sandbox: ${errorText(err)}`);
      return;
    }
    try {
      await containerizer.launch({ task: info, sandbox, env: taskEnvironment(info, { sandbox, host }) });
    } catch (err) {
      logger.warn('the launch failed', { task: info.taskId, error: err });
      if (task.kill !== undefined) this.end(task, 'TASK_KILLED', task.kill.reason, task.kill.message);
      else this.end(task, 'TASK_FAILED', err instanceof LaunchError ? err.reason : 'REASON_LAUNCH_FAILED', errorText(err));
      return;
    }
    if (task.kill === undefined) {
      task.phase = 'running';
      this.send(task, 'TASK_RUNNING');
    } else {
      task.phase = 'killing';
      this.requestKill(task, task.kill);
    }
    this.finish(task, await containerizer.wait(info.taskId));
  }

  private finish(task: Task, termination: Termination): void {
    if (task.kill !== undefined) {
      this.end(task, 'TASK_KILLED', task.kill.reason, task.kill.message);
      return;
    }
    const failure = termination.failure;
    if (failure === undefined) {
      this.end(task, 'TASK_FINISHED', undefined, 'Command exited with status 0');
      return;
    }
    // Name the process only when there is more than one: "Command" is then ambiguous.
    const which = task.info.processes.length > 1 ? ` (process ${failure.process})` : '';
    if (failure.signal !== null) {
      this.end(task, 'TASK_FAILED', 'REASON_COMMAND_SIGNALED', `Command terminated by signal ${failure.signal}${which}`);
    } else {
      this.end(task, 'TASK_FAILED', 'REASON_COMMAND_EXITED', `Command exited with status ${failure.exitCode}${which}`);
    }
  }

  private end(task: Task, state: TaskState, reason: TaskReason | undefined, message: string): void {
    task.phase = 'ended';
    this.options.logger.info('task ended', { task: task.info.taskId, state, reason, message });
    this.send(task, state, reason, message);
    task.markDone();
  }

  private send(task: Task, state: TaskState, reason?: TaskReason, message?: string): void {
    task.state = state;
    const options: { reason?: TaskReason; message?: string } = {};
    if (reason !== undefined) options.reason = reason;
    if (message !== undefined) options.message = message;
    this.options.updates.enqueue(makeStatus(task.info.taskId, state, options));
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
