// Containerizers is the agent's one containerizer: it hands each task to the containerizer of its
// kind (docker for a task with container.docker, process for the rest) and routes every later call
// about the task to the same one. The agent runs those --containerizers names.

import type { TaskInfo } from '../../protocol/index.js';
import type { DockerContainerizer } from './docker.js';
import { LaunchError, type Containerizer, type LaunchSpec, type Limitation, type Recovered, type TaskCommand, type Termination, type Usage } from './interface.js';
import type { ProcessContainerizer } from './process.js';

export * from './interface.js';
export { DockerContainerizer, type DockerAvailability, type DockerOptions } from './docker.js';
export { ProcessContainerizer, type ProcessContainerizerOptions } from './process.js';

/** isDockerTask: the task runs in an image. */
export function isDockerTask(task: TaskInfo | undefined): boolean {
  return task?.container?.docker !== undefined;
}

export class Containerizers implements Containerizer {
  /** Which containerizer holds each task the agent knows. */
  private readonly owner = new Map<string, Containerizer>();

  constructor(
    readonly process: ProcessContainerizer | undefined,
    readonly docker: DockerContainerizer | undefined,
  ) {}

  /** check says why this agent cannot run the task, or undefined (see Containerizer.check). */
  check(task: TaskInfo): { message: string; drop?: boolean } | undefined {
    if (isDockerTask(task)) {
      if (this.docker === undefined) return { message: 'this agent runs no docker containerizer (start it with --containerizers process,docker)' };
      return this.docker.check(task);
    }
    return this.process === undefined ? { message: 'this agent runs only docker tasks (--containerizers docker)' } : undefined;
  }

  async launch(spec: LaunchSpec): Promise<void> {
    const c = this.forTask(spec.task);
    this.owner.set(spec.task.taskId, c);
    try {
      await c.launch(spec);
    } catch (err) {
      this.owner.delete(spec.task.taskId);
      throw err;
    }
  }

  wait(taskId: string): Promise<Termination> {
    const c = this.owner.get(taskId);
    return c === undefined ? Promise.reject(new Error(`no container for task ${taskId}`)) : c.wait(taskId);
  }

  kill(taskId: string, graceSecs: number): void {
    this.owner.get(taskId)?.kill(taskId, graceSecs);
  }

  async recover(mine: (task: TaskInfo | undefined) => boolean = () => true): Promise<Recovered[]> {
    const out: Recovered[] = [];
    // A checkpoint without its TaskInfo goes to the process containerizer, which reports it lost.
    if (this.process !== undefined) {
      for (const r of await this.process.recover((t) => mine(t) && !isDockerTask(t))) {
        out.push(r);
        this.owner.set(r.taskId, this.process);
      }
    }
    if (this.docker !== undefined) {
      for (const r of await this.docker.recover((t) => mine(t) && isDockerTask(t))) {
        out.push(r);
        this.owner.set(r.taskId, this.docker);
      }
    }
    return out;
  }

  usage(taskId: string): Usage | undefined {
    return this.owner.get(taskId)?.usage(taskId);
  }

  memoryLimitation(taskId: string): Limitation | undefined {
    return this.owner.get(taskId)?.memoryLimitation(taskId);
  }

  exec(taskId: string, argv: string[], env: Record<string, string>): TaskCommand {
    const c = this.owner.get(taskId);
    if (c === undefined) throw new Error(`task ${taskId} is not running`);
    return c.exec(taskId, argv, env);
  }

  pid(taskId: string): number | undefined {
    return this.owner.get(taskId)?.pid(taskId);
  }

  async destroy(taskId: string): Promise<void> {
    // A task no containerizer holds (refused before its launch) may still have cgroups to remove.
    const c = this.owner.get(taskId) ?? this.process;
    if (c === undefined) return;
    await c.destroy(taskId);
    this.owner.delete(taskId);
  }

  detach(): void {
    this.process?.detach();
    this.docker?.detach();
  }

  private forTask(task: TaskInfo): Containerizer {
    const c = isDockerTask(task) ? this.docker : this.process;
    if (c === undefined) throw new LaunchError('REASON_INVALID_TASK', this.check(task)?.message ?? 'no containerizer for the task');
    return c;
  }
}
