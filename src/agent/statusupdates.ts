// Reliable status updates. Every update carries a uuid; the agent resends it until the master
// acknowledges that uuid (an ACKNOWLEDGED event on the stream; the 202 of the POST only means the
// master received it). Updates of one task go in order, one in flight at a time, as in Mesos: the
// master must never see TASK_FINISHED before TASK_RUNNING. Tasks do not wait for each other.

import { randomUUID } from 'node:crypto';
import type { TaskReason, TaskState } from '../core/index.js';
import type { Logger } from '../log/index.js';
import type { TaskStatus } from '../protocol/index.js';

export interface StatusUpdatesOptions {
  /** send posts one update to the master; a rejection is logged and the update retried. */
  send(status: TaskStatus): Promise<void>;
  /** onAcknowledged runs once the master has acknowledged an update. */
  onAcknowledged(status: TaskStatus): void;
  logger: Logger;
  initialRetryMs?: number;
  maxRetryMs?: number;
}

interface Queue {
  items: TaskStatus[];
  retryMs: number;
  timer: NodeJS.Timeout | undefined;
}

/** MAX_UPDATES_PER_TASK bounds a queue; a task has a handful of updates in its whole life. */
const MAX_UPDATES_PER_TASK = 64;

/** makeStatus builds a fresh update: a new uuid and the time of the change. */
export function makeStatus(taskId: string, state: TaskState, options: { reason?: TaskReason; message?: string } = {}): TaskStatus {
  const status: TaskStatus = { taskId, state, uuid: randomUUID(), timestamp: Date.now() };
  if (options.reason !== undefined) status.reason = options.reason;
  if (options.message !== undefined) status.message = options.message;
  return status;
}

/** StatusUpdates holds one FIFO queue of unacknowledged updates per task. */
export class StatusUpdates {
  private readonly queues = new Map<string, Queue>();
  private readonly initialRetryMs: number;
  private readonly maxRetryMs: number;
  private drainWaiters: (() => void)[] = [];
  private closed = false;
  /** Counters for /metrics: updates the master received (retries included), and acknowledged. */
  sent = 0;
  acknowledged = 0;

  constructor(private readonly options: StatusUpdatesOptions) {
    this.initialRetryMs = options.initialRetryMs ?? 1000;
    this.maxRetryMs = options.maxRetryMs ?? 10_000;
  }

  /** enqueue adds an update behind the task's earlier ones; it goes out at once if it is the head. */
  enqueue(status: TaskStatus): void {
    if (this.closed) return;
    let queue = this.queues.get(status.taskId);
    if (queue === undefined) {
      queue = { items: [], retryMs: this.initialRetryMs, timer: undefined };
      this.queues.set(status.taskId, queue);
    }
    if (queue.items.length >= MAX_UPDATES_PER_TASK) {
      this.options.logger.error('too many unacknowledged updates for one task; dropping the new one', {
        task: status.taskId,
        state: status.state,
      });
      return;
    }
    queue.items.push(status);
    if (queue.items.length === 1) this.transmit(status.taskId, queue);
  }

  /** acknowledge removes the head if the uuid matches it, and sends the next. Returns whether it matched. */
  acknowledge(taskId: string, uuid: string): boolean {
    const queue = this.queues.get(taskId);
    const head = queue?.items[0];
    if (queue === undefined || head === undefined || head.uuid !== uuid) return false;
    queue.items.shift();
    clearTimeout(queue.timer);
    queue.timer = undefined;
    queue.retryMs = this.initialRetryMs;
    this.acknowledged++;
    if (queue.items.length === 0) this.queues.delete(taskId);
    else this.transmit(taskId, queue);
    try {
      this.options.onAcknowledged(head);
    } catch (err) {
      this.options.logger.error('handling an acknowledgement failed', { task: taskId, error: err });
    }
    if (this.queues.size === 0) this.wakeDrainWaiters();
    return true;
  }

  /** resendAll sends every queue's head now: after a (re)subscribe the master may have lost them. */
  resendAll(): void {
    for (const [taskId, queue] of this.queues) {
      queue.retryMs = this.initialRetryMs;
      this.transmit(taskId, queue);
    }
  }

  /** pending: the unacknowledged updates of a task (all tasks when taskId is not given). */
  pending(taskId?: string): TaskStatus[] {
    if (taskId !== undefined) return [...(this.queues.get(taskId)?.items ?? [])];
    return [...this.queues.values()].flatMap((q) => q.items);
  }

  /** drained resolves true once every update is acknowledged, or false after timeoutMs. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.queues.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = (): void => {
        clearTimeout(timer);
        resolve(this.queues.size === 0);
      };
      const timer = setTimeout(() => {
        this.drainWaiters = this.drainWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.drainWaiters.push(waiter);
    });
  }

  /** close stops every retry timer; unacknowledged updates are dropped. */
  close(): void {
    this.closed = true;
    for (const queue of this.queues.values()) clearTimeout(queue.timer);
    this.wakeDrainWaiters();
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private transmit(taskId: string, queue: Queue): void {
    const head = queue.items[0];
    if (this.closed || head === undefined) return;
    clearTimeout(queue.timer);
    this.options.send(head).then(
      () => this.sent++,
      (err: unknown) => {
        this.options.logger.debug('sending a status update failed; it will be retried', { task: taskId, state: head.state, error: err });
      },
    );
    // Retry whether or not the POST succeeded: only an acknowledgement ends the retries.
    const delay = queue.retryMs;
    queue.retryMs = Math.min(queue.retryMs * 2, this.maxRetryMs);
    queue.timer = setTimeout(() => {
      if (this.queues.get(taskId) === queue && queue.items[0] === head) this.transmit(taskId, queue);
    }, delay);
  }
}
