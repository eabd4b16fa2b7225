// Tasks is the agent's table of tasks and their life from LAUNCH to the acknowledgement of their
// terminal update. It turns the master's LAUNCH and KILL into containerizer calls, and what the
// containerizer, the health checks and the resource monitor report into status updates. A task
// stays in the table until its terminal update is acknowledged, so that a duplicate LAUNCH or a
// late KILL is recognised for what it is; then its checkpoint directory is removed.
//
// After a restart, recover() rebuilds the table from the checkpoints: a task still running is
// watched again, one that ended while no agent was there gets its terminal update now, and every
// update not yet acknowledged is sent again with its original uuid (the master records a uuid once).

import { performance } from 'node:perf_hooks';
import { isTerminal, LIMITS, rangesContain, type PortRange, type TaskReason, type TaskState } from '../core/index.js';
import type { Logger } from '../log/index.js';
import type { ReconciledTask, RunningTask, TaskInfo, TaskStatus } from '../protocol/index.js';
import { removeTaskDir } from './checkpoint.js';
import { LaunchError, type Containerizer, type Limitation, type Termination } from './containerizers/index.js';
import { containerEnvironment, taskEnvironment } from './environment.js';
import { HealthChecker } from './health.js';
import { busyPorts, heldPorts } from './ports.js';
import { runInTask } from './exec.js';
import { createSandbox, sandboxPath } from './sandbox.js';
import { makeStatus, type StatusUpdates } from './statusupdates.js';
import { checkTaskInfo, gpuConflict } from './taskinfo.js';

/** MAX_TASKS bounds the table: far more than any machine runs, few enough to stay cheap. */
const MAX_TASKS = 10_000;

/**
 * DEFAULT_LAUNCH_CONCURRENCY: how many tasks the agent sets up at once (sandbox, cgroups, the
 * supervisor's start); the rest wait their turn, in order, as TASK_STAGING. A storm of LAUNCHes
 * then costs the event loop a few set-ups at a time, never hundreds in one go: heartbeats, status
 * updates and the API keep their turn, and each supervisor starts within its timeout.
 */
const DEFAULT_LAUNCH_CONCURRENCY = 8;

type Phase = 'launching' | 'running' | 'killing' | 'ended';

/** KillRequest is why a task is being stopped, and the terminal update that will say so. */
interface KillRequest {
  state: 'TASK_KILLED' | 'TASK_FAILED';
  reason: TaskReason;
  message: string;
  graceSecs: number;
}

interface Task {
  info: TaskInfo;
  phase: Phase;
  /** The state of the latest update we sent. */
  state: TaskState;
  /** The latest health check verdict, carried on every later update as Mesos does. */
  healthy: boolean | undefined;
  health: HealthChecker | undefined;
  kill: KillRequest | undefined;
  /** Waiting in the launch queue: nothing of it has been set up yet. */
  queued?: boolean;
  /** performance.now() at LAUNCH; undefined for a task recovered after a restart. */
  launchedAt?: number;
  done: Promise<void>;
  markDone: () => void;
}

export interface TasksOptions {
  workDir: string;
  /** The agent's advertised address: tasks see it as HOST. */
  host: string;
  /** The ports the agent offers: a task's ports must lie in them. */
  ports: readonly PortRange[];
  /** How many GPU devices the agent offers (absent: none): a task's devices must be among them. */
  gpus?: number;
  containerizer: Containerizer;
  updates: StatusUpdates;
  logger: Logger;
  /** The ports other programs on the machine hold (default: the kernel's socket tables, see ports.ts). */
  heldPorts?: () => ReadonlySet<number>;
  /**
   * reportBusyPorts tells the master at once which ports of the agent's ranges are held by others,
   * before a LAUNCH that asked for one of them is dropped, so the instance's next placement avoids them.
   */
  reportBusyPorts?: (busy: PortRange[]) => Promise<void>;
  /** onStarted is told, for each task launched here, how long it took from LAUNCH to TASK_RUNNING (for /metrics). */
  onStarted?: (seconds: number) => void;
  /** How many tasks are set up at once (default DEFAULT_LAUNCH_CONCURRENCY); the rest wait in order. */
  launchConcurrency?: number;
}

/** TaskRow is one line of the agent's /state. */
export interface TaskRow {
  taskId: string;
  job: string;
  instance: number;
  state: TaskState;
  healthy?: boolean;
  /** The supervisor's pid while the task runs. */
  pid?: number;
}

export class Tasks {
  private readonly tasks = new Map<string, Task>();
  /** Clean-ups of forgotten tasks under way (their cgroups), so that a stopping agent can wait for them. */
  private readonly forgetting = new Set<Promise<void>>();
  private closing = false;
  /** Tasks waiting for a launch slot, oldest first, and how many are being set up now. */
  private readonly launchQueue: Task[] = [];
  private settingUp = 0;
  /** Counters for /metrics: tasks launched, and health checks failed (each counted failure). */
  launches = 0;
  healthCheckFailures = 0;

  constructor(private readonly options: TasksOptions) {}

  /** launch handles a LAUNCH event; the task field comes straight from the wire. */
  launch(raw: unknown): void {
    const { logger, updates } = this.options;
    const check = checkTaskInfo(raw, { gpus: this.options.gpus ?? 0 });
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
    const refusal = this.closing
      ? { state: 'TASK_DROPPED' as const, reason: 'REASON_AGENT_SHUTDOWN' as const, message: 'the agent is shutting down' }
      : this.tasks.size >= MAX_TASKS
        ? { state: 'TASK_ERROR' as const, reason: 'REASON_INVALID_TASK' as const, message: `the agent already holds ${MAX_TASKS} tasks, its limit` }
        : (this.portProblem(info) ?? this.gpuProblem(info) ?? this.containerProblem(info));
    if (refusal !== undefined) {
      logger.warn('refusing a task', { task: info.taskId, problem: refusal.message });
      updates.enqueue(makeStatus(info.taskId, refusal.state, { reason: refusal.reason, message: refusal.message }));
      return;
    }
    const clash = this.heldPortProblem(info);
    if (clash !== undefined) {
      // Dropped, not failed: nothing of the task ran, and its instance is placed again at once. The
      // master hears of the busy ports first, so that placement does not pick them again.
      logger.warn('dropping a task whose port another program holds', { task: info.taskId, problem: clash.message });
      const report = this.options.reportBusyPorts?.(clash.busy) ?? Promise.resolve();
      void report
        .catch((err: unknown) => logger.warn('cannot report busy ports', { error: err }))
        .finally(() => updates.enqueue(makeStatus(info.taskId, 'TASK_DROPPED', { reason: 'REASON_LAUNCH_FAILED', message: clash.message })));
      return;
    }
    const task = this.add(info, 'launching', 'TASK_STAGING');
    task.launchedAt = performance.now();
    task.queued = true;
    this.launches++;
    this.launchQueue.push(task);
    this.pump();
  }

  /** queuedLaunches: tasks waiting for a launch slot (for /metrics). */
  get queuedLaunches(): number {
    return this.launchQueue.length;
  }

  /** pump starts queued launches while slots are free; each slot is given back once its supervisor runs (or the launch failed). */
  private pump(): void {
    const limit = Math.max(1, this.options.launchConcurrency ?? DEFAULT_LAUNCH_CONCURRENCY);
    while (this.settingUp < limit) {
      const task = this.launchQueue.shift();
      if (task === undefined) return;
      if (task.queued !== true) continue; // ended while it waited (a kill)
      delete task.queued;
      this.settingUp++;
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        this.settingUp--;
        // Not in this turn: the slot's next set-up must not run inside the last one's stack.
        setImmediate(() => this.pump());
      };
      this.options.logger.info('launching a task', { task: task.info.taskId, job: task.info.job, instance: task.info.instance });
      this.send(task, 'TASK_STARTING');
      this.supervise(task, this.run(task, release).finally(release));
    }
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
    this.requestKill(task, { state: 'TASK_KILLED', reason, message: 'Killed after request of the master', graceSecs });
  }

  /** limit ends a task that went over a resource limit: TASK_FAILED with the limitation's reason. */
  limit(taskId: string, limitation: Limitation): void {
    const task = this.tasks.get(taskId);
    // The monitor reports a limitation at every pass until the task is gone: act on the first.
    if (task === undefined || task.phase === 'ended' || task.kill?.state === 'TASK_FAILED') return;
    this.options.logger.warn('a task exceeded a resource limit', { task: taskId, reason: limitation.reason, message: limitation.message });
    this.requestKill(task, { state: 'TASK_FAILED', reason: limitation.reason, message: limitation.message, graceSecs: 0 });
  }

  /** killAll kills every task gracefully (the agent is shutting down) and resolves once all ended. */
  async killAll(): Promise<void> {
    this.closing = true;
    for (const task of this.tasks.values()) {
      this.requestKill(task, {
        state: 'TASK_KILLED',
        reason: 'REASON_AGENT_SHUTDOWN',
        message: 'Killed because the agent is shutting down',
        graceSecs: task.info.killGraceSecs,
      });
    }
    await Promise.all([...this.tasks.values()].map((t) => t.done));
  }

  /** stopHealthChecks stops every checker: the agent is leaving its tasks to the next agent. */
  stopHealthChecks(): void {
    for (const task of this.tasks.values()) task.health?.stop();
  }

  /**
   * recover rebuilds the table after a restart from the containerizer's checkpoints and the
   * update logs. Call it before subscribing, so that SUBSCRIBE reports what really runs.
   */
  async recover(): Promise<void> {
    const { containerizer, updates, logger, workDir } = this.options;
    const found = await containerizer.recover(() => true);
    for (const r of found) {
      const log = updates.recover(r.taskId);
      if (r.task === undefined) {
        // No TaskInfo: the agent died before it checkpointed the launch. The master reconciles
        // the task as missing; only the updates it has not acknowledged still matter.
        updates.resume(r.taskId);
        if (log.pending.length === 0) removeTaskDir(workDir, r.taskId);
        continue;
      }
      const last = log.last?.state ?? 'TASK_STAGING';
      const task = this.add(r.task, r.running ? 'running' : 'ended', last);
      if (log.last?.healthy !== undefined) task.healthy = log.last.healthy;
      updates.resume(r.taskId);
      if (log.terminal !== undefined) {
        // Its end is already on its way to the master; nothing to watch.
        task.phase = 'ended';
        task.state = log.terminal.state;
        task.markDone();
        if (log.allAcknowledged) await this.forget(r.taskId);
        continue;
      }
      logger.info(r.running ? 'recovered a running task' : 'recovered a task that ended while the agent was down', {
        task: r.taskId,
      });
      if (r.running && last === 'TASK_KILLING') {
        // The kill was under way: its supervisor has had SIGTERM. The master sends KILL again
        // until the task ends, which also brings back the force after the grace period.
        task.phase = 'killing';
      } else if (r.running) {
        if (task.state !== 'TASK_RUNNING') this.send(task, 'TASK_RUNNING');
        this.startHealthChecks(task);
      }
      this.supervise(task, containerizer.wait(r.taskId).then((t) => this.finish(task, t)));
    }
  }

  /** acknowledged is told of every acknowledged update: a task whose terminal one is acked is forgotten. */
  acknowledged(status: TaskStatus): void {
    if (!isTerminal(status.state)) return;
    const task = this.tasks.get(status.taskId);
    if (task === undefined) {
      // An update about a task we never ran (an unknown KILL, an invalid LAUNCH) left only its log.
      removeTaskDir(this.options.workDir, status.taskId);
      return;
    }
    if (task.phase !== 'ended') return;
    const cleanup = this.forget(status.taskId).catch((err: unknown) => {
      this.options.logger.warn('cannot clean up an ended task', { task: status.taskId, error: err });
    });
    this.forgetting.add(cleanup);
    void cleanup.finally(() => this.forgetting.delete(cleanup));
  }

  /** settled resolves once every ended task's clean-up has finished (the agent is stopping). */
  async settled(): Promise<void> {
    await Promise.all([...this.forgetting]);
  }

  /** isActive: the task is known and has not ended (files read from it may still grow). */
  isActive(taskId: string): boolean {
    const task = this.tasks.get(taskId);
    return task !== undefined && task.phase !== 'ended';
  }

  /** isRunning: the task's processes run (exec and usage make sense). */
  isRunning(taskId: string): boolean {
    const phase = this.tasks.get(taskId)?.phase;
    return phase === 'running' || phase === 'killing';
  }

  /** environmentOf a task: what its processes see, and so what exec'd commands see too. */
  environmentOf(info: TaskInfo): Record<string, string> {
    const options = { sandbox: sandboxPath(this.options.workDir, info.taskId), host: this.options.host, agentGpus: this.options.gpus ?? 0 };
    return info.container?.docker === undefined ? taskEnvironment(info, options) : containerEnvironment(info, options);
  }

  /** info of a known task. */
  info(taskId: string): TaskInfo | undefined {
    return this.tasks.get(taskId)?.info;
  }

  /** state of a known task, for error messages. */
  stateOf(taskId: string): TaskState | undefined {
    return this.tasks.get(taskId)?.state;
  }

  /** runningTasks lists the tasks whose processes run, for the resource monitor. */
  runningTasks(): TaskInfo[] {
    return [...this.tasks.values()].filter((t) => t.phase === 'running' || t.phase === 'killing').map((t) => t.info);
  }

  /** running lists the tasks reported on SUBSCRIBE: every task not yet forgotten, with its state. */
  running(): RunningTask[] {
    return [...this.tasks.values()].map((t) => ({ taskId: t.info.taskId, state: t.state }));
  }

  /**
   * reconcileList is what the agent holds, for the master's reconciliation: every task in the
   * table and every task it still owes an update about (one it refused has no row, only updates),
   * each with the state of its latest update and whether the master acknowledged all of them.
   */
  reconcileList(): ReconciledTask[] {
    const unsettled = this.options.updates.unsettled();
    const out: ReconciledTask[] = [];
    for (const t of this.tasks.values()) out.push({ taskId: t.info.taskId, state: t.state, settled: !unsettled.has(t.info.taskId) });
    for (const [taskId, state] of unsettled) if (!this.tasks.has(taskId)) out.push({ taskId, state, settled: false });
    return out;
  }

  rows(): TaskRow[] {
    return [...this.tasks.values()].map((t) => {
      const row: TaskRow = { taskId: t.info.taskId, job: t.info.job, instance: t.info.instance, state: t.state };
      if (t.healthy !== undefined) row.healthy = t.healthy;
      const pid = this.options.containerizer.pid(t.info.taskId);
      if (pid !== undefined) row.pid = pid;
      return row;
    });
  }

  countByState(): Map<TaskState, number> {
    const counts = new Map<TaskState, number>();
    for (const t of this.tasks.values()) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
    return counts;
  }

  private add(info: TaskInfo, phase: Phase, state: TaskState): Task {
    let markDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (markDone = resolve));
    const task: Task = { info, phase, state, healthy: undefined, health: undefined, kill: undefined, done, markDone };
    this.tasks.set(info.taskId, task);
    return task;
  }

  /** supervise ends the task if its watcher fails: a bug there must not leave a task hanging. */
  private supervise(task: Task, work: Promise<void>): void {
    work.catch((err: unknown) => {
      this.options.logger.error('task supervision failed', { task: task.info.taskId, error: err });
      if (task.phase !== 'ended') this.end(task, 'TASK_FAILED', 'REASON_LAUNCH_FAILED', `Agent error: ${errorText(err)}`);
    });
  }

  private async forget(taskId: string): Promise<void> {
    this.tasks.delete(taskId);
    await this.options.containerizer.destroy(taskId);
    removeTaskDir(this.options.workDir, taskId);
  }

  /** portProblem: a port outside the agent's ranges, or one another task holds, refuses the task. */
  private portProblem(info: TaskInfo): { state: 'TASK_ERROR'; reason: 'REASON_INVALID_TASK'; message: string } | undefined {
    const refuse = (message: string) => ({ state: 'TASK_ERROR' as const, reason: 'REASON_INVALID_TASK' as const, message });
    for (const [name, port] of Object.entries(info.ports)) {
      if (!rangesContain(this.options.ports, [{ begin: port, end: port }])) {
        return refuse(`port ${name}=${port} is not in this agent's port ranges`);
      }
      for (const other of this.tasks.values()) {
        if (other.phase === 'ended') continue;
        if (Object.values(other.info.ports).includes(port)) return refuse(`port ${name}=${port} is held by task ${other.info.taskId}`);
      }
    }
    return undefined;
  }

  /** ownPorts are the ports the agent's live tasks were given: the master counts them as used already. */
  ownPorts(): Set<number> {
    const own = new Set<number>();
    for (const task of this.tasks.values()) {
      if (task.phase === 'ended') continue;
      for (const port of Object.values(task.info.ports)) own.add(port);
    }
    return own;
  }

  /** busyPorts: what of the agent's ranges other programs on the machine hold now (see ports.ts). */
  busyPorts(): PortRange[] {
    return busyPorts(this.options.ports, this.ownPorts(), (this.options.heldPorts ?? heldPorts)());
  }

  /** heldPortProblem: a port of the task that another program already listens on. */
  private heldPortProblem(info: TaskInfo): { message: string; busy: PortRange[] } | undefined {
    if (Object.keys(info.ports).length === 0) return undefined;
    const busy = this.busyPorts();
    for (const [name, port] of Object.entries(info.ports)) {
      if (rangesContain(busy, [{ begin: port, end: port }])) {
        return { message: `port ${name}=${port} is already in use by another program on ${this.options.host}`, busy };
      }
    }
    return undefined;
  }

  /** containerProblem: a task this agent's containerizers cannot run (no docker, a volume it does not allow). */
  private containerProblem(info: TaskInfo): { state: 'TASK_ERROR' | 'TASK_DROPPED'; reason: 'REASON_INVALID_TASK' | 'REASON_LAUNCH_FAILED'; message: string } | undefined {
    const problem = this.options.containerizer.check?.(info);
    if (problem === undefined) return undefined;
    return problem.drop === true
      ? { state: 'TASK_DROPPED', reason: 'REASON_LAUNCH_FAILED', message: problem.message }
      : { state: 'TASK_ERROR', reason: 'REASON_INVALID_TASK', message: problem.message };
  }

  /** gpuProblem: GPU shares that would take a device past whole with its other live tasks refuse the task. */
  private gpuProblem(info: TaskInfo): { state: 'TASK_ERROR'; reason: 'REASON_INVALID_TASK'; message: string } | undefined {
    if (info.gpus === undefined) return undefined;
    const live = [...this.tasks.values()].filter((t) => t.phase !== 'ended').map((t) => t.info);
    const message = gpuConflict(info, live);
    return message === undefined ? undefined : { state: 'TASK_ERROR', reason: 'REASON_INVALID_TASK', message };
  }

  private requestKill(task: Task, kill: KillRequest): void {
    const { containerizer, logger } = this.options;
    const taskId = task.info.taskId;
    if (task.phase === 'ended') return; // its terminal update is already queued
    if (task.kill === undefined) task.kill = kill;
    if (task.queued === true) {
      // Nothing of it was set up: it ends where it waits (pump skips it).
      delete task.queued;
      this.end(task, task.kill.state, task.kill.reason, task.kill.message);
      return;
    }
    if (task.phase === 'launching') return; // run() kills it as soon as the launch returns
    task.health?.stop();
    if (task.phase === 'running') {
      task.phase = 'killing';
      logger.info('killing a task', { task: taskId, reason: kill.reason, graceSecs: kill.graceSecs });
      this.send(task, 'TASK_KILLING');
    }
    // A repeated kill may carry a shorter grace period; the containerizer keeps the earlier deadline.
    containerizer.kill(taskId, Math.min(kill.graceSecs, LIMITS.killGraceSecs));
  }

  /** run sets a task up and watches it to its end; release gives its launch slot back once the set-up is over. */
  private async run(task: Task, release: () => void): Promise<void> {
    const { workDir, containerizer, logger } = this.options;
    const info = task.info;
    let sandbox: string;
    try {
      sandbox = createSandbox(workDir, info.taskId);
    } catch (err) {
      this.end(task, 'TASK_FAILED', 'REASON_SANDBOX_FAILED', `Cannot create the sandbox: ${errorText(err)}`);
      return;
    }
    try {
      await containerizer.launch({
        task: info,
        sandbox,
        env: this.environmentOf(info),
        // A slow set-up (an image pull) tells how it goes in the task's status message.
        progress: (message) => {
          if (task.phase === 'launching' && task.kill === undefined) this.send(task, 'TASK_STARTING', undefined, message);
        },
      });
      release();
    } catch (err) {
      logger.warn('the launch failed', { task: info.taskId, error: err });
      if (task.kill !== undefined) this.end(task, 'TASK_KILLED', task.kill.reason, task.kill.message);
      else this.end(task, 'TASK_FAILED', err instanceof LaunchError ? err.reason : 'REASON_LAUNCH_FAILED', errorText(err));
      return;
    }
    if (task.kill === undefined) {
      task.phase = 'running';
      this.send(task, 'TASK_RUNNING');
      if (task.launchedAt !== undefined) this.options.onStarted?.((performance.now() - task.launchedAt) / 1000);
      this.startHealthChecks(task);
    } else {
      task.phase = 'killing';
      this.requestKill(task, task.kill);
    }
    this.finish(task, await containerizer.wait(info.taskId));
  }

  private startHealthChecks(task: Task): void {
    const check = task.info.health;
    if (check === undefined) return;
    const taskId = task.info.taskId;
    const checker = new HealthChecker({
      check,
      ports: task.info.ports,
      runCommand: (cmd, timeoutMs) =>
        runInTask(this.options.containerizer, taskId, ['/bin/sh', '-c', cmd], { timeoutMs, env: this.environmentOf(task.info) }),
      onHealthChange: (healthy, detail) => {
        if (task.phase !== 'running') return;
        this.options.logger.info(healthy ? 'a task became healthy' : 'a task became unhealthy', { task: taskId, detail });
        task.healthy = healthy;
        this.send(task, task.state, undefined, healthy ? 'Health check passed' : `Health check failed: ${detail}`);
      },
      onFailure: () => this.healthCheckFailures++,
      onUnhealthy: (detail) => {
        // Only a service is restarted for its health: a batch task's health is information.
        if (task.info.kind !== 'service') return;
        const n = check.consecutiveFailures;
        this.requestKill(task, {
          state: 'TASK_FAILED',
          reason: 'REASON_HEALTH_CHECK_FAILED',
          message: `Health check failed ${n} time${n === 1 ? '' : 's'} in a row: ${detail}`,
          graceSecs: task.info.killGraceSecs,
        });
      },
      logger: this.options.logger.child('health'),
    });
    task.health = checker;
    checker.start();
  }

  private finish(task: Task, termination: Termination): void {
    task.health?.stop();
    const kill = task.kill;
    // A limitation found at the end (the kernel's OOM kill) explains the failure better than the
    // signal that ended the process, unless the master had already asked for the task's end.
    if (termination.limitation !== undefined && (kill === undefined || kill.state === 'TASK_FAILED')) {
      this.end(task, 'TASK_FAILED', termination.limitation.reason, termination.limitation.message);
      return;
    }
    if (kill !== undefined) {
      this.end(task, kill.state, kill.reason, kill.message);
      return;
    }
    if (termination.error !== undefined) {
      this.end(task, 'TASK_FAILED', 'REASON_LAUNCH_FAILED', `The task could not be started: ${termination.error}`);
      return;
    }
    if (termination.lost !== undefined) {
      // Not the task's fault (a reboot, a killed supervisor): TASK_LOST is replaced, not counted.
      this.end(task, 'TASK_LOST', 'REASON_AGENT_RESTARTED', `The task's status is unknown: ${termination.lost}`);
      return;
    }
    if (termination.killed === true) {
      // Killed by an agent that restarted before it could report the kill.
      this.end(task, 'TASK_KILLED', 'REASON_TASK_KILLED', 'Killed after request of the master (reported after an agent restart)');
      return;
    }
    const failure = termination.failure;
    if (failure === undefined) {
      this.end(task, 'TASK_FINISHED', undefined, 'Command exited with status 0');
      return;
    }
    // Name the process only when there is more than one: "Command" is then ambiguous.
    const which = task.info.processes.length > 1 && failure.process !== '' ? ` (process ${failure.process})` : '';
    if (failure.signal !== null) {
      this.end(task, 'TASK_FAILED', 'REASON_COMMAND_SIGNALED', `Command terminated by signal ${failure.signal}${which}`);
    } else {
      this.end(task, 'TASK_FAILED', 'REASON_COMMAND_EXITED', `Command exited with status ${failure.exitCode}${which}`);
    }
  }

  private end(task: Task, state: TaskState, reason: TaskReason | undefined, message: string): void {
    task.phase = 'ended';
    task.health?.stop();
    this.options.logger.info('task ended', { task: task.info.taskId, state, reason, message });
    this.send(task, state, reason, message);
    task.markDone();
  }

  private send(task: Task, state: TaskState, reason?: TaskReason, message?: string): void {
    task.state = state;
    const options: { reason?: TaskReason; message?: string; healthy?: boolean } = {};
    if (reason !== undefined) options.reason = reason;
    if (message !== undefined) options.message = message;
    if (task.healthy !== undefined) options.healthy = task.healthy;
    this.options.updates.enqueue(makeStatus(task.info.taskId, state, options));
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
