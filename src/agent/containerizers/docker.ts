// The docker containerizer runs a task in a Docker image through the Docker Engine API (dockerode,
// over the daemon's unix socket), as Nomad's docker driver does, not by shelling out to `docker` as
// Mesos does. For each task:
//
//   pull (as the job's `pull` says; progress goes to the task's status message)
//   create  muster-<taskId>, labelled with the task, job, agent and work dir; cpu shares and CFS
//           quota from cpus, memory (no swap) from mem, a pids limit; the sandbox bind-mounted at
//           /mnt/mesos/sandbox; the job's network, port mappings, volumes and allowed parameters
//   start   then follow its log stream into <sandbox>/stdout and stderr (rotated as a process
//           task's are), and wait for it to exit
//   stop    the stop signal (SIGTERM), SIGKILL after killGraceSecs
//   remove  once the agent forgets the task; the sandbox stays for the agent's GC
//
// The daemon, not the agent, is the containers' parent: kill -9 the agent and they run on. The next
// agent reads its checkpoints, finds each container by its labels and reattaches (wait, logs from
// the last line written), reports those that ended meanwhile with their exit codes, and removes
// containers carrying its work dir's label that no checkpoint owns (Nomad's dangling containers).
// While the daemon does not answer, the agent advertises docker "down" (the scheduler places no
// docker task there) and keeps each task's watch waiting; when it answers again, every task is
// looked at afresh and reported as it is.

import { chownSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { CONTAINER_SANDBOX, imageName, parseImageRef, volumeProblem, type DockerContainer } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import type { TaskInfo } from '../../protocol/index.js';
import { checkpointedTasks, readCheckpoint, writeCheckpoint, type TaskCheckpoint } from '../checkpoint.js';
import {
  escalateKill,
  LaunchError,
  type CommandEnd,
  type Containerizer,
  type LaunchSpec,
  type Limitation,
  type Recovered,
  type TaskCommand,
  type Termination,
  type Usage,
} from './interface.js';
import { Demuxer, LogMark, RotatingLog } from './logfile.js';

export interface DockerOptions {
  workDir: string;
  /** The daemon's unix socket. */
  socketPath: string;
  logger: Logger;
  /** The network bridge tasks join (`docker network ls`): "bridge" unless the daemon runs without it. */
  bridgeNetwork?: string;
  /** Host directories tasks may mount (--docker-volumes). */
  allowedVolumes?: readonly string[];
  logMaxBytes?: number;
  logMaxFiles?: number;
  pidsMax?: number;
  /** How often the daemon is pinged to tell whether it is up (ms). */
  pingMs?: number;
  /** The agent's id once it has one, for the containers' labels (for people; ownership is by work dir). */
  agentId?: () => string | undefined;
  /** Heard whenever the daemon goes down or comes back, or the bridge network appears or goes. */
  onAvailability?: (availability: DockerAvailability) => void;
}

/** DockerAvailability is what the agent advertises: the daemon's version while it answers. */
export interface DockerAvailability {
  up: boolean;
  version?: string;
  bridge: boolean;
  /** Why it is down, for the log and `agent show`. */
  error?: string;
}

/** Labels every container of a task carries. muster.workdir is the owner: one agent lineage per work dir. */
export const LABELS = {
  task: 'muster.task',
  job: 'muster.job',
  instance: 'muster.instance',
  agent: 'muster.agent',
  workDir: 'muster.workdir',
} as const;

const MiB = 1024 * 1024;
/** CFS period of every container (Docker's and the kernel's default): the quota is cpus of it. */
const CFS_PERIOD_US = 100_000;
/** The Engine refuses a memory limit under 6 MiB. */
const MIN_MEMORY_MIB = 6;
const DEFAULT_PIDS_MAX = 4096;
/** How long after the container exits its log stream may take to deliver the last lines. */
const LOG_DRAIN_MS = 2000;
/** How often a pull's progress is told (its status message), at most. */
const PROGRESS_MS = 1000;
/** A usage figure older than this is refreshed (in the background: usage() never waits on the daemon). */
const STATS_MAX_AGE_MS = 1000;
/** The daemon's log driver keeps this much per container, for reattaching after an agent restart. */
const DAEMON_LOG_CONFIG = { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } };
/** Where each task's last written log line's timestamp is kept, so a new agent resumes its logs there (see LogMark). */
const LOG_MARK_FILE = path.join('.muster', 'docker-logs.mark');
/** How long the daemon has to answer a ping before it counts as down. */
const PING_TIMEOUT_MS = 3000;

interface Container {
  task: TaskInfo;
  sandbox: string;
  name: string;
  id: string | undefined;
  pid: number | undefined;
  killing: boolean;
  killDeadline: number;
  killTimer: NodeJS.Timeout | undefined;
  ended: Termination | undefined;
  done: Promise<Termination>;
  resolve: (t: Termination) => void;
  oom: boolean;
  /** The log follower, while one runs; it resolves once the stream has ended. */
  logs: Promise<void> | undefined;
  stopLogs: (() => void) | undefined;
  /** Nanoseconds since the epoch of the last log line written, to resume after an agent restart. */
  lastLogNs: bigint;
  mark: LogMark | undefined;
  stdout: RotatingLog | undefined;
  stderr: RotatingLog | undefined;
  usage: Usage | undefined;
  usageAt: number;
  statsInFlight: boolean;
  watching: boolean;
  detached: boolean;
}

/** DockerContainerizer runs tasks whose TaskInfo has container.docker. */
export class DockerContainerizer implements Containerizer {
  private readonly docker: Docker;
  private readonly containers = new Map<string, Container>();
  private availability: DockerAvailability = { up: false, bridge: false, error: 'not yet asked' };
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<() => void>();
  private closed = false;

  constructor(private readonly options: DockerOptions) {
    this.docker = new Docker({ socketPath: options.socketPath });
  }

  /** available: what the last ping found. */
  get status(): DockerAvailability {
    return this.availability;
  }

  /** start pings the daemon now and then every pingMs; resolves with the first answer. */
  async start(): Promise<DockerAvailability> {
    await this.ping();
    return this.availability;
  }

  /**
   * check says why this agent cannot run the task, or undefined: a volume outside --docker-volumes,
   * a bridge network it has not. The master checks the volumes at create too; this is the agent's word.
   */
  check(task: TaskInfo): { message: string; drop?: boolean } | undefined {
    const docker = task.container?.docker;
    if (docker === undefined) return undefined;
    for (const v of docker.volumes) {
      const why = volumeProblem(v.hostPath, this.options.allowedVolumes ?? []);
      if (why !== undefined) return { message: why.replace('this cell allows', 'this agent allows').replace('this cell lets', 'this agent lets') };
    }
    // The master placed it before it heard the daemon went away: not the task's fault.
    if (!this.availability.up) return { message: `this agent's docker daemon does not answer (${this.availability.error ?? 'down'})`, drop: true };
    if (docker.network === 'bridge' && !this.availability.bridge) {
      return { message: `this agent's docker daemon has no network ${this.bridgeName()} for network: bridge`, drop: true };
    }
    return undefined;
  }

  async launch(spec: LaunchSpec): Promise<void> {
    const { task, sandbox, env } = spec;
    const docker = task.container?.docker;
    if (docker === undefined) throw new LaunchError('REASON_INVALID_TASK', `task ${task.taskId} has no container.docker`);
    if (this.containers.has(task.taskId)) throw new LaunchError('REASON_LAUNCH_FAILED', `task ${task.taskId} is already launched`);
    const container = this.newContainer(task, sandbox);
    this.containers.set(task.taskId, container);
    const checkpoint: TaskCheckpoint = {
      task,
      sandbox,
      isolation: { cgroups: [], pidNamespace: false, mountNamespace: false },
      docker: { name: container.name },
      launchedAt: Date.now(),
    };
    try {
      // A container that runs as a numeric user (parameter user) must be able to write its sandbox.
      const owner = numericUser(docker.parameters.find((p) => p.key === 'user')?.value);
      if (owner !== undefined) chownSync(sandbox, owner.uid, owner.gid);
      // Checkpoint before the create: an agent that dies right after it finds the container by name.
      writeCheckpoint(this.options.workDir, checkpoint);
      await this.pullIfNeeded(docker, spec.progress);
      if (container.killing) throw new LaunchError('REASON_TASK_KILLED_DURING_LAUNCH', 'killed while its image was pulled');
      const created = await this.docker.createContainer(this.createOptions(container, docker, env));
      container.id = created.id;
      writeCheckpoint(this.options.workDir, { ...checkpoint, docker: { name: container.name, containerId: created.id } });
      this.openLogs(container);
      await created.start();
      const info = await created.inspect();
      container.pid = info.State.Pid > 0 ? info.State.Pid : undefined;
    } catch (err) {
      this.containers.delete(task.taskId);
      this.closeLogs(container);
      if (container.id !== undefined) await this.remove(container.id);
      if (err instanceof LaunchError) throw err;
      throw new LaunchError(isPrepareError(err) ? 'REASON_CONTAINER_PREPARE_FAILED' : 'REASON_LAUNCH_FAILED', `Cannot start the container: ${daemonMessage(err)}`);
    }
    this.followLogs(container, 0n);
    void this.watch(container);
    // A kill that came during the launch could not stop a container that did not run yet.
    if (container.killing) this.signal(container, this.stopSignal(container));
  }

  wait(taskId: string): Promise<Termination> {
    const container = this.containers.get(taskId);
    if (container === undefined) return Promise.reject(new Error(`no container for task ${taskId}`));
    return container.done;
  }

  kill(taskId: string, graceSecs: number): void {
    const container = this.containers.get(taskId);
    if (container === undefined || container.ended !== undefined) return;
    escalateKill(container, graceSecs, () => this.signal(container, this.stopSignal(container)), () => this.signal(container, 'SIGKILL'));
  }

  usage(taskId: string): Usage | undefined {
    const container = this.containers.get(taskId);
    if (container?.id === undefined || container.ended !== undefined) return undefined;
    if (Date.now() - container.usageAt > STATS_MAX_AGE_MS) this.refreshStats(container);
    return container.usage;
  }

  memoryLimitation(taskId: string): Limitation | undefined {
    const container = this.containers.get(taskId);
    if (container === undefined || !container.oom) return undefined;
    return oomLimitation(container.task);
  }

  exec(taskId: string, argv: string[], env: Record<string, string>): TaskCommand {
    const container = this.containers.get(taskId);
    if (container?.id === undefined || container.ended !== undefined) throw new Error(`task ${taskId} is not running`);
    if (!this.availability.up) throw new Error(`task ${taskId}'s docker daemon does not answer: ${this.availability.error ?? 'down'}`);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let pid: number | undefined;
    let signalled: NodeJS.Signals | undefined;
    const target = this.docker.getContainer(container.id);
    const ended = (async (): Promise<CommandEnd> => {
      try {
        const exec = await target.exec({ Cmd: argv, Env: envList(env), AttachStdout: true, AttachStderr: true, WorkingDir: CONTAINER_SANDBOX });
        const stream = await exec.start({ hijack: true, stdin: false });
        const pidOf = exec.inspect().then((i) => {
          pid = i.Pid > 0 ? i.Pid : undefined;
          if (signalled !== undefined && pid !== undefined) signalPid(pid, signalled);
        }, () => undefined);
        const demux = new Demuxer((which, payload) => (which === 'stdout' ? stdout : stderr).write(payload));
        await new Promise<void>((resolve, reject) => {
          stream.on('data', (chunk: Buffer) => demux.push(chunk));
          stream.once('end', resolve);
          stream.once('close', resolve);
          stream.once('error', reject);
        });
        await pidOf;
        const done = await exec.inspect();
        // The Engine reports a signalled command as 128+N, as a shell does.
        return { exitCode: done.ExitCode ?? null, signal: null };
      } finally {
        stdout.end();
        stderr.end();
      }
    })();
    return {
      stdout,
      stderr,
      ended,
      kill: (signal) => {
        signalled = signal;
        if (pid !== undefined) signalPid(pid, signal);
      },
    };
  }

  pid(taskId: string): number | undefined {
    const container = this.containers.get(taskId);
    return container === undefined || container.ended !== undefined ? undefined : container.pid;
  }

  async destroy(taskId: string): Promise<void> {
    const container = this.containers.get(taskId);
    if (container !== undefined && container.ended === undefined) throw new Error(`task ${taskId} is still running`);
    this.containers.delete(taskId);
    if (container?.id !== undefined) await this.remove(container.id);
  }

  detach(): void {
    this.closed = true;
    clearTimeout(this.pingTimer);
    for (const container of this.containers.values()) {
      container.detached = true;
      clearTimeout(container.killTimer);
      container.stopLogs?.();
    }
    for (const wake of this.waiters) wake();
  }

  /**
   * recover reattaches the docker tasks a previous agent left. Each checkpoint's container is
   * found by its labels: running, it is watched again and its logs resumed; ended, it is reported
   * with its exit code; gone, the task is lost. While the daemon does not answer, each task waits
   * (as running) until it does. Containers labelled with this work dir that no checkpoint owns are
   * removed.
   */
  async recover(mine: (task: TaskInfo | undefined) => boolean): Promise<Recovered[]> {
    const { workDir, logger } = this.options;
    const out: Recovered[] = [];
    for (const taskId of checkpointedTasks(workDir, logger)) {
      const cp = readCheckpoint(workDir, taskId, logger);
      if (cp === undefined || !mine(cp.task)) continue;
      const container = this.newContainer(cp.task, cp.sandbox);
      container.id = cp.docker?.containerId;
      container.lastLogNs = LogMark.read(path.join(cp.sandbox, LOG_MARK_FILE));
      this.containers.set(taskId, container);
      this.openLogs(container);
      out.push({ taskId, task: cp.task, running: true });
      void this.watch(container, true);
    }
    if (this.availability.up) await this.removeOrphans();
    return out;
  }

  // ---- the watch: one per task, from its start to its end, across daemon restarts ---------------

  /**
   * watch waits for the container to exit and resolves the task's end. When the daemon goes away
   * mid-wait, it waits for it to return and looks again: an agent never guesses a docker task's end.
   */
  private async watch(container: Container, recovering = false): Promise<void> {
    let first = recovering;
    container.watching = true;
    while (!this.closed && container.ended === undefined) {
      if (!this.availability.up) {
        await this.untilUp();
        continue;
      }
      try {
        if (first) {
          first = false;
          const found = await this.find(container);
          if (found === undefined) {
            this.finish(container, { lost: 'its container is gone' });
            return;
          }
          container.id = found.Id;
          const info = await this.docker.getContainer(found.Id).inspect();
          if (info.State.Status === 'created') {
            // Created but never started: the agent died in the middle of the launch.
            await this.remove(found.Id);
            this.finish(container, { lost: 'the agent restarted while it was launching the task' });
            return;
          }
          container.pid = info.State.Pid > 0 ? info.State.Pid : undefined;
          if (info.State.Running) this.options.logger.info('reattached to a running container', { task: container.task.taskId, container: found.Id.slice(0, 12) });
          this.followLogs(container, container.lastLogNs);
          // A kill asked for while the daemon did not answer reached no container: ask again.
          if (container.killing && info.State.Running) this.signal(container, this.stopSignal(container));
        }
        const id = container.id;
        if (id === undefined) throw new Error('no container id');
        const target = this.docker.getContainer(id);
        await target.wait({ condition: 'not-running' });
        const info = await target.inspect();
        if (info.State.Running) continue;
        // The last lines are on their way: give the log stream a moment to deliver them.
        await Promise.race([container.logs ?? Promise.resolve(), sleep(LOG_DRAIN_MS)]);
        this.finish(container, this.terminationOf(container, info.State));
        return;
      } catch (err) {
        if (this.closed) return;
        if (isNotFound(err)) {
          this.finish(container, { lost: 'its container was removed behind the agent\'s back', ...(container.killing ? { killed: true } : {}) });
          return;
        }
        // The daemon went away (or failed the call): wait for the next ping to say it is back.
        this.options.logger.warn('lost the docker daemon while watching a task; waiting for it', { task: container.task.taskId, error: daemonMessage(err) });
        this.markDown(daemonMessage(err));
        first = true;
      }
    }
  }

  private terminationOf(container: Container, state: Docker.ContainerInspectInfo['State']): Termination {
    const t: Termination = {};
    if (state.OOMKilled) {
      container.oom = true;
      t.limitation = oomLimitation(container.task);
    }
    if (container.killing) t.killed = true;
    if (state.Error !== '' && state.ExitCode !== 0 && state.StartedAt.startsWith('0001')) {
      t.error = state.Error;
      return t;
    }
    // Which of several processes failed is not known from the container's exit (the script says
    // it on stderr): the failure then names none.
    if (state.ExitCode !== 0) t.failure = { process: container.task.processes.length === 1 ? (container.task.processes[0]?.name ?? '') : '', exitCode: state.ExitCode, signal: null };
    return t;
  }

  private finish(container: Container, termination: Termination): void {
    if (container.ended !== undefined) return;
    clearTimeout(container.killTimer);
    container.ended = termination;
    container.watching = false;
    container.stopLogs?.();
    this.closeLogs(container);
    container.resolve(termination);
  }

  private async find(container: Container): Promise<Docker.ContainerInfo | undefined> {
    const list = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.task}=${container.task.taskId}`, `${LABELS.workDir}=${this.options.workDir}`] },
    });
    return list.find((c) => c.Id === container.id) ?? list[0];
  }

  private async removeOrphans(): Promise<void> {
    const { workDir, logger } = this.options;
    try {
      const list = await this.docker.listContainers({ all: true, filters: { label: [`${LABELS.workDir}=${workDir}`] } });
      for (const c of list) {
        const taskId = c.Labels[LABELS.task];
        if (taskId !== undefined && this.containers.has(taskId)) continue;
        logger.info('removing a container no task of this agent owns', { container: c.Id.slice(0, 12), task: taskId });
        await this.remove(c.Id);
      }
    } catch (err) {
      logger.warn('cannot list containers to remove orphans', { error: daemonMessage(err) });
    }
  }

  // ---- the daemon: up or down -------------------------------------------------------------------

  private async ping(): Promise<void> {
    if (this.closed) return;
    const before = this.availability;
    try {
      // A daemon that hangs is as down as one that refuses: every question has a deadline.
      const version = await withTimeout(this.docker.version(), PING_TIMEOUT_MS);
      let bridge = false;
      try {
        bridge = (await withTimeout(this.docker.getNetwork(this.bridgeName()).inspect() as Promise<unknown>, PING_TIMEOUT_MS)) !== undefined;
      } catch {
        bridge = false;
      }
      this.availability = { up: true, version: version.Version ?? 'unknown', bridge };
    } catch (err) {
      this.availability = { up: false, bridge: false, error: daemonMessage(err) };
    }
    this.changed(before);
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => void this.ping(), this.options.pingMs ?? 2000);
    this.pingTimer.unref();
  }

  private markDown(error: string): void {
    const before = this.availability;
    if (!before.up) return;
    this.availability = { up: false, bridge: false, error };
    this.changed(before);
    // Look again soon: a failed call is not always a dead daemon.
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => void this.ping(), 500);
    this.pingTimer.unref();
  }

  private changed(before: DockerAvailability): void {
    const now = this.availability;
    if (now.up === before.up && now.bridge === before.bridge && now.version === before.version) return;
    const { logger } = this.options;
    if (now.up) {
      logger.info('the docker daemon answers', { version: now.version, bridge: now.bridge ? this.bridgeName() : 'none' });
      for (const wake of [...this.waiters]) wake();
      if (!before.up && before.error !== 'not yet asked') void this.removeOrphans();
    } else {
      logger.warn('the docker daemon does not answer; docker tasks are not placed here until it does', { socket: this.options.socketPath, error: now.error });
    }
    this.options.onAvailability?.(now);
  }

  private untilUp(): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
    });
  }

  private bridgeName(): string {
    return this.options.bridgeNetwork ?? 'bridge';
  }

  // ---- launch pieces -----------------------------------------------------------------------------

  private async pullIfNeeded(docker: DockerContainer, progress: ((message: string) => void) | undefined): Promise<void> {
    const ref = parseImageRef(docker.image);
    if ('error' in ref) throw new LaunchError('REASON_INVALID_TASK', ref.error);
    const name = imageName(ref);
    let present = false;
    if (docker.pull !== 'always') {
      try {
        await this.docker.getImage(name).inspect();
        present = true;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    if (present) return;
    if (docker.pull === 'never') {
      throw new LaunchError('REASON_CONTAINER_PREPARE_FAILED', `Image ${name} is not on this agent and the job says pull: never`);
    }
    progress?.(`Pulling image ${name}`);
    try {
      const stream = await this.docker.pull(name);
      await new Promise<void>((resolve, reject) => {
        const layers = new Map<string, { current: number; total: number; done: boolean }>();
        let told = 0;
        this.docker.modem.followProgress(
          stream,
          (err: Error | null) => (err === null ? resolve() : reject(err)),
          (event: { id?: string; status?: string; error?: string; progressDetail?: { current?: number; total?: number } }) => {
            if (event.error !== undefined) return;
            if (event.id !== undefined && event.progressDetail !== undefined) {
              const layer = layers.get(event.id) ?? { current: 0, total: 0, done: false };
              if (event.progressDetail.total !== undefined) layer.total = event.progressDetail.total;
              if (event.progressDetail.current !== undefined) layer.current = event.progressDetail.current;
              if (event.status === 'Pull complete' || event.status === 'Already exists') layer.done = true;
              layers.set(event.id, layer);
            }
            const now = Date.now();
            if (progress === undefined || now - told < PROGRESS_MS) return;
            told = now;
            const all = [...layers.values()];
            const total = all.reduce((s, l) => s + l.total, 0);
            const current = all.reduce((s, l) => s + (l.done ? l.total : l.current), 0);
            const done = all.filter((l) => l.done).length;
            progress(`Pulling image ${name}: ${done} of ${all.length} layers, ${mb(current)} of ${mb(total)} MB`);
          },
        );
      });
    } catch (err) {
      throw new LaunchError('REASON_CONTAINER_PREPARE_FAILED', `Cannot pull image ${name}: ${daemonMessage(err)}`);
    }
  }

  private createOptions(container: Container, docker: DockerContainer, env: Record<string, string>): Docker.ContainerCreateOptions {
    const { task, sandbox } = container;
    const ref = parseImageRef(docker.image);
    const image = 'error' in ref ? docker.image : imageName(ref);
    const cpus = task.resources.cpus;
    const memBytes = Math.max(task.resources.mem, MIN_MEMORY_MIB) * MiB;
    const labels: Record<string, string> = {};
    const capDrop: string[] = [];
    const ulimits: { Name: string; Soft: number; Hard: number }[] = [];
    const extraHosts: string[] = [];
    const host: Docker.HostConfig = {
      Binds: [`${sandbox}:${CONTAINER_SANDBOX}:rw`, ...docker.volumes.map((v) => `${v.hostPath}:${v.containerPath}:${v.readOnly ? 'ro' : 'rw'}`)],
      NetworkMode: docker.network === 'bridge' ? this.bridgeName() : docker.network,
      CpuShares: Math.max(2, Math.round(1024 * cpus)),
      CpuPeriod: CFS_PERIOD_US,
      CpuQuota: Math.max(1000, Math.round(cpus * CFS_PERIOD_US)),
      Memory: memBytes,
      MemorySwap: memBytes,
      PidsLimit: this.options.pidsMax ?? DEFAULT_PIDS_MAX,
      LogConfig: DAEMON_LOG_CONFIG,
      RestartPolicy: { Name: 'no' },
    };
    // StopTimeout: a daemon that stops its containers itself (its own shutdown) gives them the job's grace too.
    const options: Docker.ContainerCreateOptions = { name: container.name, Image: image, Env: envList(env), HostConfig: host, StopTimeout: Math.ceil(task.killGraceSecs) };
    const exposed: Record<string, object> = {};
    if (docker.network === 'bridge') {
      const bindings: Record<string, { HostPort: string }[]> = {};
      for (const [name, hostPort] of Object.entries(task.ports)) {
        const inside = docker.portMappings[name] ?? hostPort;
        exposed[`${inside}/tcp`] = {};
        bindings[`${inside}/tcp`] = [{ HostPort: String(hostPort) }];
      }
      host.PortBindings = bindings;
      options.ExposedPorts = exposed;
    }
    if (task.processes.length > 0) {
      // The processes run side by side under /bin/sh in the sandbox, as a process task's do; the
      // task ends when all have exited and fails with the first that failed.
      options.Entrypoint = ['/bin/sh', '-c'];
      options.Cmd = [processScript(task.processes)];
      options.WorkingDir = CONTAINER_SANDBOX;
      // The daemon's init as pid 1 passes SIGTERM on: a command that is pid 1 itself would ignore
      // it (the kernel drops signals pid 1 has no handler for), and every kill would wait out its grace.
      host.Init = true;
    } else {
      if (docker.entrypoint !== undefined) options.Entrypoint = docker.entrypoint;
      if (docker.args !== undefined) options.Cmd = docker.args;
    }
    for (const p of docker.parameters) {
      switch (p.key) {
        case 'hostname':
          options.Hostname = p.value;
          break;
        case 'user':
          options.User = p.value;
          break;
        case 'workdir':
          options.WorkingDir = p.value;
          break;
        case 'read-only':
          host.ReadonlyRootfs = p.value === 'true';
          break;
        case 'init':
          host.Init = p.value === 'true';
          break;
        case 'stop-signal':
          options.StopSignal = p.value.startsWith('SIG') ? p.value : `SIG${p.value}`;
          break;
        case 'shm-size':
          host.ShmSize = parseShmSize(p.value);
          break;
        case 'cap-drop':
          capDrop.push(p.value);
          break;
        case 'label': {
          const at = p.value.indexOf('=');
          labels[p.value.slice(0, at)] = p.value.slice(at + 1);
          break;
        }
        case 'tmpfs': {
          const at = p.value.indexOf(':');
          host.Tmpfs = { ...(host.Tmpfs ?? {}), [at < 0 ? p.value : p.value.slice(0, at)]: at < 0 ? '' : p.value.slice(at + 1) };
          break;
        }
        case 'ulimit': {
          const [name = '', limits = ''] = p.value.split('=');
          const [soft = '0', hard = soft] = limits.split(':');
          ulimits.push({ Name: name, Soft: Number(soft), Hard: Number(hard) });
          break;
        }
        case 'add-host':
          extraHosts.push(p.value);
          break;
      }
    }
    if (capDrop.length > 0) host.CapDrop = capDrop;
    if (ulimits.length > 0) host.Ulimits = ulimits;
    if (extraHosts.length > 0) host.ExtraHosts = extraHosts;
    // Muster's labels last: a job cannot disown its container.
    labels[LABELS.task] = task.taskId;
    labels[LABELS.job] = task.job;
    labels[LABELS.instance] = String(task.instance);
    labels[LABELS.workDir] = this.options.workDir;
    const agentId = this.options.agentId?.();
    if (agentId !== undefined) labels[LABELS.agent] = agentId;
    options.Labels = labels;
    return options;
  }

  // ---- logs --------------------------------------------------------------------------------------

  private openLogs(container: Container): void {
    const { logMaxBytes = 0, logMaxFiles = 5 } = this.options;
    try {
      mkdirSync(path.join(container.sandbox, '.muster'), { recursive: true, mode: 0o755 });
      container.stdout ??= new RotatingLog(path.join(container.sandbox, 'stdout'), logMaxBytes, logMaxFiles);
      container.stderr ??= new RotatingLog(path.join(container.sandbox, 'stderr'), logMaxBytes, logMaxFiles);
    } catch (err) {
      this.options.logger.warn('cannot open a task\'s log files', { task: container.task.taskId, error: err });
    }
  }

  private closeLogs(container: Container): void {
    container.stdout?.close();
    container.stderr?.close();
    container.mark?.close();
    container.mark = undefined;
    container.stdout = undefined;
    container.stderr = undefined;
  }

  /**
   * followLogs streams the container's stdout and stderr into the sandbox from sinceNs (0: from
   * the start), with the daemon's timestamps, which are stripped from each line and remembered:
   * a line at or before the last one written is one a previous agent already wrote.
   */
  private followLogs(container: Container, sinceNs: bigint): void {
    const id = container.id;
    if (id === undefined || container.logs !== undefined) return;
    const since = sinceNs === 0n ? 0 : `${sinceNs / 1_000_000_000n}.${String(sinceNs % 1_000_000_000n).padStart(9, '0')}`;
    let stopped = false;
    let stream: NodeJS.ReadableStream | undefined;
    container.stopLogs = () => {
      stopped = true;
      (stream as { destroy?: () => void } | undefined)?.destroy?.();
    };
    container.logs = (async () => {
      try {
        stream = (await this.docker.getContainer(id).logs({ follow: true, stdout: true, stderr: true, timestamps: true, since: since as number }));
        if (stopped) {
          (stream as { destroy?: () => void }).destroy?.();
          return;
        }
        const demux = new Demuxer((which, payload) => this.writeLine(container, which, payload));
        await new Promise<void>((resolve) => {
          stream?.on('data', (chunk: Buffer) => demux.push(chunk));
          stream?.once('end', resolve);
          stream?.once('close', resolve);
          stream?.once('error', () => resolve());
        });
      } catch (err) {
        if (!stopped) this.options.logger.warn('cannot follow a container\'s logs', { task: container.task.taskId, error: daemonMessage(err) });
      } finally {
        container.logs = undefined;
        container.stopLogs = undefined;
      }
    })();
  }

  private writeLine(container: Container, which: 'stdout' | 'stderr', payload: Buffer): void {
    // "2026-12-03T08:13:33.321410920Z <line>": the timestamp ends at the first space.
    const space = payload.indexOf(0x20);
    let line = payload;
    if (space > 0 && space < 40) {
      const ns = parseTimestampNs(payload.toString('latin1', 0, space));
      if (ns !== undefined) {
        if (ns <= container.lastLogNs) return;
        container.lastLogNs = ns;
        line = payload.subarray(space + 1);
      }
    }
    try {
      (which === 'stdout' ? container.stdout : container.stderr)?.write(line);
      if (container.lastLogNs > 0n) {
        container.mark ??= new LogMark(path.join(container.sandbox, LOG_MARK_FILE));
        container.mark.write(container.lastLogNs);
      }
    } catch (err) {
      this.options.logger.warn('cannot write a task\'s output', { task: container.task.taskId, error: err });
    }
  }

  // ---- small pieces -----------------------------------------------------------------------------

  private refreshStats(container: Container): void {
    const id = container.id;
    if (id === undefined || container.statsInFlight || !this.availability.up) return;
    container.statsInFlight = true;
    this.docker
      .getContainer(id)
      .stats({ stream: false, 'one-shot': true })
      .then((s) => {
        const cpuNs = s.cpu_stats?.cpu_usage?.total_usage ?? 0;
        const stats = s.memory_stats as { usage?: number; stats?: Record<string, number> } | undefined;
        // What the kernel could reclaim at once (page cache) is not the task's use, as `docker stats` says.
        const cache = stats?.stats?.['total_inactive_file'] ?? stats?.stats?.['inactive_file'] ?? stats?.stats?.['cache'] ?? 0;
        container.usage = { cpuSecs: cpuNs / 1e9, memBytes: Math.max(0, (stats?.usage ?? 0) - cache) };
        container.usageAt = Date.now();
      })
      .catch(() => undefined)
      .finally(() => {
        container.statsInFlight = false;
      });
  }

  private stopSignal(container: Container): NodeJS.Signals {
    const p = container.task.container?.docker.parameters.find((x) => x.key === 'stop-signal');
    if (p === undefined) return 'SIGTERM';
    return (p.value.startsWith('SIG') ? p.value : `SIG${p.value}`) as NodeJS.Signals;
  }

  private signal(container: Container, signal: NodeJS.Signals): void {
    const id = container.id;
    if (id === undefined || container.ended !== undefined) return; // launch() signals once it runs
    this.docker
      .getContainer(id)
      .kill({ signal })
      .catch((err: unknown) => {
        // 409: it is not running (it just ended); the watch reports that.
        if (!isConflict(err) && !isNotFound(err)) this.options.logger.warn('cannot signal a container', { task: container.task.taskId, signal, error: daemonMessage(err) });
      });
  }

  private async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      if (!isNotFound(err)) this.options.logger.warn('cannot remove a container', { container: id.slice(0, 12), error: daemonMessage(err) });
    }
  }

  private newContainer(task: TaskInfo, sandbox: string): Container {
    let resolve: (t: Termination) => void = () => undefined;
    const done = new Promise<Termination>((r) => (resolve = r));
    return {
      task,
      sandbox,
      name: `muster-${task.taskId}`,
      id: undefined,
      pid: undefined,
      killing: false,
      killDeadline: Infinity,
      killTimer: undefined,
      ended: undefined,
      done,
      resolve,
      oom: false,
      logs: undefined,
      stopLogs: undefined,
      lastLogNs: 0n,
      mark: undefined,
      stdout: undefined,
      stderr: undefined,
      usage: undefined,
      usageAt: 0,
      statsInFlight: false,
      watching: false,
      detached: false,
    };
  }
}

/**
 * processScript runs a task's processes side by side under /bin/sh, as muster-supervisor does for a
 * process task: each with `sh -c`, SIGTERM passed on to all, and the exit status of the first (in
 * the job's order) that failed, once all have ended.
 */
export function processScript(processes: readonly { name: string; cmd: string }[]): string {
  if (processes.length === 1) return `exec /bin/sh -c ${shellQuote(processes[0]?.cmd ?? '')}`;
  const lines = ['pids=""', 'trap \'kill -TERM $pids 2>/dev/null\' TERM INT'];
  for (const p of processes) lines.push(`/bin/sh -c ${shellQuote(p.cmd)} & pids="$pids $!"`);
  lines.push(`names=${shellQuote(processes.map((p) => p.name).join(' '))}`);
  lines.push(
    'status=0',
    'set -- $names',
    // A wait the TERM trap interrupts returns 128+15 while the process still runs: wait for it again.
    'for p in $pids; do while :; do wait $p; s=$?; if [ $s -gt 128 ] && kill -0 $p 2>/dev/null; then continue; fi; break; done',
    '  if [ $s -ne 0 ] && [ $status -eq 0 ]; then status=$s; echo "muster: process $1 exited with status $s" >&2; fi; shift; done',
    'exit $status',
  );
  return lines.join('\n');
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** numericUser reads a `user` parameter of the form uid[:gid]; a name is the image's to resolve, not the host's. */
function numericUser(value: string | undefined): { uid: number; gid: number } | undefined {
  const m = /^([0-9]{1,10})(?::([0-9]{1,10}))?$/.exec(value ?? '');
  if (m === null) return undefined;
  const uid = Number(m[1]);
  return { uid, gid: m[2] === undefined ? uid : Number(m[2]) };
}

function envList(env: Record<string, string>): string[] {
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // it ended
  }
}

function oomLimitation(task: TaskInfo): Limitation {
  return {
    reason: 'REASON_CONTAINER_LIMITATION_MEMORY',
    message: `Memory limit exceeded: the task may use ${Math.max(task.resources.mem, MIN_MEMORY_MIB)} MiB and the kernel killed a process of its container that needed more`,
  };
}

/** parseTimestampNs reads the Engine's RFC 3339 timestamp with nanoseconds into nanoseconds since the epoch. */
export function parseTimestampNs(text: string): bigint | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(text);
  if (m === null) return undefined;
  const ms = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

function parseShmSize(v: string): number {
  const m = /^([0-9]+)([bkmg]?)$/i.exec(v);
  const n = Number(m?.[1] ?? 0);
  const unit = (m?.[2] ?? '').toLowerCase();
  return n * (unit === 'g' ? 1024 ** 3 : unit === 'm' ? MiB : unit === 'k' ? 1024 : 1);
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the daemon did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

function isConflict(err: unknown): boolean {
  return statusOf(err) === 409;
}

/** isPrepareError: the daemon could not find or get the image (not a fault of the task's command). */
function isPrepareError(err: unknown): boolean {
  return /no such image|pull access denied|manifest unknown|repository does not exist/i.test(daemonMessage(err));
}

/** daemonMessage is the daemon's own message for a failed call ({"message": ...}), or the error's. */
export function daemonMessage(err: unknown): string {
  const json = (err as { json?: { message?: unknown } } | null)?.json;
  if (json !== null && typeof json === 'object' && typeof json.message === 'string') return json.message;
  const reason = (err as { reason?: unknown } | null)?.reason;
  const message = err instanceof Error ? err.message : String(err);
  return typeof reason === 'string' && !message.includes(reason) ? `${reason}: ${message}` : message.replace(/^\(HTTP code \d+\) [a-z ]+ - /, '').trim();
}
