// Reliable status updates. Every update carries a uuid; the agent resends it until the master
// acknowledges that uuid (an ACKNOWLEDGED event on the stream; the 202 of the POST only means the
// master received it). Updates of one task go in order, one in flight at a time, as in Mesos: the
// master must never see TASK_FINISHED before TASK_RUNNING. Tasks do not wait for each other.
//
// With a taskDir, each task's updates are checkpointed in its update log (updatelog.ts): an update
// is on disk before it is first sent, and an acknowledgement is on disk before the queue moves on
// (the next update's flush covers it). Records are written at once and flushed off the event loop:
// an update waits for its flush before it is sent, and one flush covers every record written before
// it, so a storm of updates costs a few flushes per task, none of them on the event loop.
// An agent killed and restarted reads the logs back (recover), queues what the master has not
// acknowledged with the same uuids (resume), and so every update reaches the master exactly once:
// the master records a uuid at most once. A checkpoint that cannot be written is logged and the
// update goes out all the same: a full disk must not stall what the master learns of its tasks.

import { randomUUID } from 'node:crypto';
import { renameSync } from 'node:fs';
import { isSafeId, isTerminal, MusterError, type TaskReason, type TaskState } from '../core/index.js';
import type { Logger } from '../log/index.js';
import type { TaskStatus } from '../protocol/index.js';
import { MAX_UPDATE_RECORDS, readUpdateLog, UpdateLog, updateLogFile, type UpdateLogContents, type UpdateRecord } from './updatelog.js';

export interface StatusUpdatesOptions {
  /** send posts one update to the master; a rejection is logged and the update retried. */
  send(status: TaskStatus): Promise<void>;
  /** onAcknowledged runs once the master has acknowledged an update (after its ack is checkpointed). */
  onAcknowledged(status: TaskStatus): void;
  logger: Logger;
  initialRetryMs?: number;
  maxRetryMs?: number;
  /**
   * taskDir names the directory that holds a task's update log (created if missing). Without it
   * updates live in memory only (tests, tools). Only tasks whose id is safe as a file name are
   * checkpointed; the others' updates go out from memory.
   */
  taskDir?: (taskId: string) => string;
}

/** RecoveredUpdates is what a task's update log says after a restart. */
export interface RecoveredUpdates {
  /** pending: the updates the master has not acknowledged, oldest first. resume() sends them again. */
  pending: TaskStatus[];
  /** last: the latest update written, acknowledged or not: the last state the agent reported. */
  last?: TaskStatus;
  /** terminal: the first terminal update written, if any. */
  terminal?: TaskStatus;
  /** allAcknowledged: nothing is pending (with terminal set, the task is done with). */
  allAcknowledged: boolean;
}

/** Stream is one task's updates: its queue and, when checkpointed, its open log. */
interface Stream {
  /** Unacknowledged updates, oldest first; only the head is in flight. */
  items: TaskStatus[];
  retryMs: number;
  /** The head's retry timer: set exactly while the head is in flight. */
  timer: NodeJS.Timeout | undefined;
  /** Undefined in memory-only mode, for an unsafe task id, or when the log could not be opened. */
  log: UpdateLog | undefined;
  last: TaskStatus | undefined;
  terminal: TaskStatus | undefined;
  /** The log position of each item's record (0: durable already, or not checkpointed). */
  seqs: number[];
  /** Records written through this stream, and how many of them a flush has made durable. */
  written: number;
  /** The position of the latest acknowledgement written: the next update goes only once it is durable. */
  ackSeq: number;
  durable: number;
  flushing: boolean;
  /** The stream was released during a flush: its log is closed once the flush settles. */
  closeAfterFlush: boolean;
}

/** MAX_UPDATES_PER_TASK bounds a queue; a task has a handful of updates in its whole life. */
const MAX_UPDATES_PER_TASK = 64;

/** MAX_STATUS_MESSAGE_CHARS: the master refuses longer messages, and an update it refuses is retried forever. */
export const MAX_STATUS_MESSAGE_CHARS = 4096;

/** makeStatus builds a fresh update: a new uuid and the time of the change. */
export function makeStatus(
  taskId: string,
  state: TaskState,
  options: { reason?: TaskReason; message?: string; healthy?: boolean } = {},
): TaskStatus {
  const status: TaskStatus = { taskId, state, uuid: randomUUID(), timestamp: Date.now() };
  if (options.reason !== undefined) status.reason = options.reason;
  if (options.message !== undefined) status.message = options.message.slice(0, MAX_STATUS_MESSAGE_CHARS);
  if (options.healthy !== undefined) status.healthy = options.healthy;
  return status;
}

/** StatusUpdates holds one FIFO queue of unacknowledged updates per task, checkpointed when given a taskDir. */
export class StatusUpdates {
  private readonly streams = new Map<string, Stream>();
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

  /**
   * enqueue checkpoints an update behind the task's earlier ones, then sends it if nothing of that
   * task is in flight. A task whose log holds updates not yet resumed gets those queued first.
   */
  enqueue(status: TaskStatus): void {
    if (this.closed) return;
    const { logger } = this.options;
    const stream = this.stream(status.taskId);
    if (stream.items.length >= MAX_UPDATES_PER_TASK) {
      logger.error('too many unacknowledged updates for one task; dropping the new one', { task: status.taskId, state: status.state });
      return;
    }
    if (stream.items.some((s) => s.uuid === status.uuid)) {
      logger.warn('ignoring an update that is already queued', { task: status.taskId, uuid: status.uuid });
      return;
    }
    // Durability first: what the master may have seen must be on disk for the next agent to resend
    // (transmit waits for this record's flush).
    stream.seqs.push(this.checkpoint(status.taskId, stream, { update: status }));
    stream.items.push(status);
    stream.last = status;
    if (isTerminal(status.state)) stream.terminal ??= status;
    if (stream.timer === undefined) this.transmit(status.taskId, stream);
  }

  /** acknowledge removes the head if the uuid matches it, and sends the next. Returns whether it matched. */
  acknowledge(taskId: string, uuid: string): boolean {
    if (this.closed) return false;
    const stream = this.streams.get(taskId);
    const head = stream?.items[0];
    if (stream === undefined || head === undefined || head.uuid !== uuid) return false;
    stream.ackSeq = this.checkpoint(taskId, stream, { ack: uuid });
    stream.items.shift();
    stream.seqs.shift();
    clearTimeout(stream.timer);
    stream.timer = undefined;
    stream.retryMs = this.initialRetryMs;
    this.acknowledged++;
    if (stream.items.length > 0) this.transmit(taskId, stream);
    // The log stays open for the task's next update, unless the task is done: the caller may
    // remove the task's directory from onAcknowledged, so the log is closed before it runs.
    else if (stream.log === undefined || stream.terminal !== undefined) this.release(taskId, stream);
    try {
      this.options.onAcknowledged(head);
    } catch (err) {
      this.options.logger.error('handling an acknowledgement failed', { task: taskId, error: err });
    }
    if (this.drainWaiters.length > 0 && this.isDrained()) this.wakeDrainWaiters();
    return true;
  }

  /**
   * recover tells what a task's update log holds (for a task this agent already handles, what its
   * queue holds). It changes nothing but cutting a torn last line, and never throws: an unreadable
   * log is logged and reads as empty (resume() then sets it aside).
   */
  recover(taskId: string): RecoveredUpdates {
    const stream = this.streams.get(taskId);
    if (stream !== undefined) return view(stream.items, stream.last, stream.terminal);
    const dir = this.dirOf(taskId);
    if (dir === undefined) return { pending: [], allAcknowledged: true };
    const file = updateLogFile(dir);
    let contents: UpdateLogContents;
    try {
      contents = readUpdateLog(file);
      checkTask(taskId, file, contents);
    } catch (err) {
      this.options.logger.error('cannot read the status updates of a task', { task: taskId, error: err });
      return { pending: [], allAcknowledged: true };
    }
    const { pending, last, terminal } = summarize(contents);
    return view(pending, last, terminal);
  }

  /**
   * resume queues a task's unacknowledged updates from its log, without writing them again, and
   * sends the head. Call it once per recovered task; updates enqueued later go behind them.
   */
  resume(taskId: string): void {
    if (this.closed) return;
    const stream = this.stream(taskId);
    if (stream.items.length === 0) this.release(taskId, stream);
    else if (stream.timer === undefined) this.transmit(taskId, stream);
  }

  /** resendAll sends every queue's head now: after a (re)subscribe the master may have lost them. */
  resendAll(): void {
    for (const [taskId, stream] of this.streams) {
      if (stream.items.length === 0) continue;
      stream.retryMs = this.initialRetryMs;
      this.transmit(taskId, stream);
    }
  }

  /** unsettled: each task with updates the master has not acknowledged, and the state of its latest one. */
  unsettled(): Map<string, TaskState> {
    const out = new Map<string, TaskState>();
    for (const [taskId, stream] of this.streams) {
      const latest = stream.last ?? stream.items.at(-1);
      if (stream.items.length > 0 && latest !== undefined) out.set(taskId, latest.state);
    }
    return out;
  }

  /** pending: the unacknowledged updates of a task (all tasks when taskId is not given). */
  pending(taskId?: string): TaskStatus[] {
    if (taskId !== undefined) return [...(this.streams.get(taskId)?.items ?? [])];
    return [...this.streams.values()].flatMap((s) => s.items);
  }

  /** drained resolves true once every update is acknowledged, or false after timeoutMs. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.isDrained()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = (): void => {
        clearTimeout(timer);
        resolve(this.isDrained());
      };
      const timer = setTimeout(() => {
        this.drainWaiters = this.drainWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.drainWaiters.push(waiter);
    });
  }

  /** close stops every retry timer and closes every log; what is not acknowledged stays on disk for the next agent. */
  close(): void {
    this.closed = true;
    for (const [taskId, stream] of this.streams) {
      clearTimeout(stream.timer);
      stream.timer = undefined;
      this.closeLog(taskId, stream);
    }
    this.wakeDrainWaiters();
  }

  private isDrained(): boolean {
    for (const stream of this.streams.values()) if (stream.items.length > 0) return false;
    return true;
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  /** stream returns a task's stream, opening its log the first time: what the log holds unacknowledged is queued. */
  private stream(taskId: string): Stream {
    const existing = this.streams.get(taskId);
    if (existing !== undefined) return existing;
    const stream: Stream = {
      items: [],
      retryMs: this.initialRetryMs,
      timer: undefined,
      log: undefined,
      last: undefined,
      terminal: undefined,
      seqs: [],
      written: 0,
      ackSeq: 0,
      durable: 0,
      flushing: false,
      closeAfterFlush: false,
    };
    this.streams.set(taskId, stream);
    const opened = this.openLog(taskId);
    if (opened !== undefined) {
      const { pending, last, terminal } = summarize(opened.contents);
      stream.log = opened.log;
      stream.items = pending;
      stream.seqs = pending.map(() => 0);
      stream.last = last;
      stream.terminal = terminal;
    }
    return stream;
  }

  /** dirOf is a task's directory, or undefined where its updates live in memory only. */
  private dirOf(taskId: string): string | undefined {
    const { taskDir, logger } = this.options;
    if (taskDir === undefined) return undefined;
    if (!isSafeId(taskId)) {
      logger.warn('not checkpointing the updates of a task whose id cannot name a directory', { task: taskId.slice(0, 256) });
      return undefined;
    }
    try {
      return taskDir(taskId);
    } catch (err) {
      logger.error('no directory for a task; its updates are not checkpointed', { task: taskId, error: err });
      return undefined;
    }
  }

  /** openLog opens a task's log; an unreadable one is set aside (and logged) so that the task's updates carry on. */
  private openLog(taskId: string): { log: UpdateLog; contents: UpdateLogContents } | undefined {
    const { logger } = this.options;
    const dir = this.dirOf(taskId);
    if (dir === undefined) return undefined;
    try {
      try {
        const opened = UpdateLog.open(dir, { deferSync: true });
        try {
          checkTask(taskId, opened.log.file, opened.contents);
        } catch (err) {
          opened.log.close();
          throw err;
        }
        return opened;
      } catch (err) {
        if (!(err instanceof MusterError)) throw err;
        const file = updateLogFile(dir);
        logger.error('setting aside an unreadable update log; its updates are lost', { task: taskId, error: err });
        renameSync(file, `${file}.corrupt`);
        return UpdateLog.open(dir, { deferSync: true });
      }
    } catch (err) {
      logger.error('cannot open the update log; this task\'s updates are not checkpointed', { task: taskId, error: err });
      return undefined;
    }
  }

  /**
   * checkpoint writes a record to the task's log. A failure is logged, never thrown: the update is
   * sent anyway (after a restart it is missing, or it goes out once more under its uuid, which the
   * master ignores). A log about to outgrow its bound is compacted first.
   */
  private checkpoint(taskId: string, stream: Stream, record: UpdateRecord): number {
    const log = stream.log;
    if (log === undefined) return 0;
    try {
      // An update also needs room for its own ack and those of the updates ahead of it.
      const room = 'update' in record ? stream.items.length + 2 : 1;
      if (log.records + room > MAX_UPDATE_RECORDS) log.rewrite(compacted(stream));
      log.write(record);
      return ++stream.written;
    } catch (err) {
      this.options.logger.error('cannot checkpoint a status update; it goes out all the same', {
        task: taskId,
        record: 'update' in record ? record.update.state : 'ack',
        error: err,
      });
      return 0;
    }
  }

  /**
   * flush makes the stream's written records durable, off the event loop, then sends the head if
   * it waited for that. A flush that fails is logged and counts as done: the update goes out all
   * the same (see checkpoint).
   */
  private flush(taskId: string, stream: Stream): void {
    const log = stream.log;
    if (stream.flushing || log === undefined) return;
    stream.flushing = true;
    const target = stream.written;
    log
      .flush()
      .catch((err: unknown) => this.options.logger.error('cannot flush the status updates of a task; they go out all the same', { task: taskId, error: err }))
      .finally(() => {
        stream.flushing = false;
        stream.durable = Math.max(stream.durable, target);
        if (stream.closeAfterFlush) {
          this.closeLog(taskId, stream);
          return;
        }
        if (this.streams.get(taskId) === stream && stream.timer === undefined && stream.items.length > 0) this.transmit(taskId, stream);
      });
  }

  /** release forgets a stream that has nothing in flight; its log is closed. */
  private release(taskId: string, stream: Stream): void {
    clearTimeout(stream.timer);
    this.closeLog(taskId, stream);
    if (this.streams.get(taskId) === stream) this.streams.delete(taskId);
  }

  private closeLog(taskId: string, stream: Stream): void {
    // A flush in the thread pool still uses the descriptor: it is closed when the flush settles.
    if (stream.flushing) {
      stream.closeAfterFlush = true;
      return;
    }
    try {
      stream.log?.close();
    } catch (err) {
      this.options.logger.warn('closing an update log failed', { task: taskId, error: err });
    }
    stream.log = undefined;
  }

  private transmit(taskId: string, stream: Stream): void {
    const head = stream.items[0];
    if (this.closed || head === undefined) return;
    clearTimeout(stream.timer);
    stream.timer = undefined;
    // Not before its record, and the acknowledgement of the one before, are durable: the flush sends it when done.
    if (Math.max(stream.seqs[0] ?? 0, stream.ackSeq) > stream.durable) {
      this.flush(taskId, stream);
      return;
    }
    this.options.send(head).then(
      () => this.sent++,
      (err: unknown) => {
        this.options.logger.debug('sending a status update failed; it will be retried', { task: taskId, state: head.state, error: err });
      },
    );
    // Retry whether or not the POST succeeded: only an acknowledgement ends the retries.
    const delay = stream.retryMs;
    stream.retryMs = Math.min(stream.retryMs * 2, this.maxRetryMs);
    stream.timer = setTimeout(() => {
      if (this.streams.get(taskId) === stream && stream.items[0] === head) this.transmit(taskId, stream);
    }, delay);
  }
}

/** summarize reads a log's contents as a queue: the unacknowledged updates, the last and the terminal one. */
function summarize(contents: UpdateLogContents): { pending: TaskStatus[]; last: TaskStatus | undefined; terminal: TaskStatus | undefined } {
  return {
    pending: contents.updates.filter((u) => !contents.acked.has(u.uuid)),
    last: contents.updates.at(-1),
    terminal: contents.updates.find((u) => isTerminal(u.state)),
  };
}

function view(pending: TaskStatus[], last: TaskStatus | undefined, terminal: TaskStatus | undefined): RecoveredUpdates {
  const out: RecoveredUpdates = { pending: [...pending], allAcknowledged: pending.length === 0 };
  if (last !== undefined) out.last = last;
  if (terminal !== undefined) out.terminal = terminal;
  return out;
}

/** checkTask refuses a log that holds another task's updates: it was copied or renamed by hand. */
function checkTask(taskId: string, file: string, contents: UpdateLogContents): void {
  const stranger = contents.updates.find((u) => u.taskId !== taskId);
  if (stranger === undefined) return;
  throw new MusterError('INTERNAL', `Cannot read the update log ${file}: it holds an update of task ${stranger.taskId}`, { details: { file } });
}

/**
 * compacted is what a stream's log must keep for recovery: the acknowledged terminal and last
 * updates (with their acks, so that they are not sent again) and every pending update, in order.
 */
function compacted(stream: Stream): UpdateRecord[] {
  const { items, last, terminal } = stream;
  const pending = new Set(items.map((s) => s.uuid));
  const records: UpdateRecord[] = [];
  const keepAcked = (s: TaskStatus | undefined): void => {
    if (s === undefined || pending.has(s.uuid) || records.some((r) => 'ack' in r && r.ack === s.uuid)) return;
    records.push({ update: s }, { ack: s.uuid });
  };
  keepAcked(terminal);
  keepAcked(last);
  for (const s of items) records.push({ update: s });
  return records;
}
