// `--wait`: watch a job until it is where the person asked for, and tell the truth about it. A
// service is up only when every instance runs, is healthy where the job has a health check, and
// has stayed so for a settle time: a task that fails two seconds after it started must not pass.
// A batch job is done when it has finished. Anything else ends the wait with a non-zero exit code
// and the instances that failed, with their state, reason and message.

import { setTimeout as sleep } from 'node:timers/promises';
import { isTerminal, MusterError } from '../core/index.js';
import type { InstanceView, JobView, TaskView } from '../protocol/index.js';
import type { Context } from './context.js';
import { OutcomeError } from './exitcodes.js';
import { instanceList, note } from './output.js';

const POLL_MS = 500;
export const DEFAULT_WAIT_SECS = 120;
export const DEFAULT_SETTLE_SECS = 5;
/**
 * CRASH_LOOP_FAILURES: an instance whose tasks failed this many times while --wait watched is in
 * a crash loop; waiting out the timeout would only print the same failure later.
 */
export const CRASH_LOOP_FAILURES = 3;

/** TaskEnd is a task of an instance that ended while --wait watched, as the master tells it. */
export interface TaskEnd {
  taskId: string;
  state: string;
  reason?: string;
  message?: string;
}

/** InstanceFailures is what went wrong with one instance while --wait watched. */
export interface InstanceFailures {
  instance: number;
  /** How many of its tasks ended while watched. */
  count: number;
  /** The last of them. */
  last: TaskEnd;
}

/** Verdict is where a job stands after one look: go on waiting, done, or failed. */
export interface Verdict {
  /** The progress line for a person. */
  line: string;
  done: boolean;
  /** Set when the job will not get where --wait wants it: the first line of the error, the reason. */
  failed?: string;
}

export interface WatchOptions {
  /** How long every instance must stay running (and healthy) before a service counts as up; 0: at once. */
  settleMs: number;
}

/** onPurpose: a task a person killed or restarted ended, but did not fail. */
function onPurpose(t: TaskView): boolean {
  return t.reason === 'REASON_KILLED_BY_USER' || t.reason === 'REASON_INSTANCE_RESTARTED';
}

function endOf(t: TaskView): TaskEnd {
  const end: TaskEnd = { taskId: t.taskId, state: t.state };
  if (t.reason !== undefined) end.reason = t.reason;
  if (t.message !== undefined) end.message = t.message;
  return end;
}

/** endText writes "TASK_FAILED (REASON_COMMAND_EXECUTOR_FAILED): exited with status 1". */
export function endText(end: TaskEnd): string {
  return `${end.state}${end.reason === undefined ? '' : ` (${end.reason})`}${end.message === undefined || end.message === '' ? '' : `: ${end.message}`}`;
}

/**
 * JobWatch follows one job through the answers of GET /api/v1/jobs/KEY, one look at a time. It is
 * a pure state machine (the caller brings the views and the clock), so that the rules of --wait
 * are tested without a cell.
 *
 * A service instance counts as ready when it is ACTIVE with its task TASK_RUNNING, and healthy when
 * the job has a health check (a task with a check is not ready until its first check passed). The
 * job is up once every instance has been ready, without a break, for the settle time. Every task
 * that ends while watched (seen ended, or replaced by a new task between two looks) is a failure
 * of its instance and starts the settle time again; an instance that failed CRASH_LOOP_FAILURES
 * times ends the wait.
 */
export class JobWatch {
  private readonly settleMs: number;
  private readonly taskOf = new Map<number, string>();
  private readonly failures = new Map<number, InstanceFailures>();
  private readonly counted = new Set<string>();
  /** Tasks replaced between two looks, whose end the caller may look up (see ended()). */
  private unseen: { instance: number; taskId: string }[] = [];
  private readySince: number | undefined;

  constructor(options: WatchOptions) {
    this.settleMs = options.settleMs;
  }

  /** failedInstances lists the instances whose tasks failed while watched, in instance order. */
  get failedInstances(): InstanceFailures[] {
    return [...this.failures.values()].sort((a, b) => a.instance - b.instance);
  }

  /** takeUnseen hands over the tasks that were replaced before their end was seen, once each. */
  takeUnseen(): { instance: number; taskId: string }[] {
    const unseen = this.unseen;
    this.unseen = [];
    return unseen;
  }

  /** ended records how a task whose end was not seen did end, once the caller has looked it up. */
  ended(instance: number, t: TaskView): void {
    const f = this.failures.get(instance);
    if (f !== undefined && f.last.taskId === t.taskId) f.last = endOf(t);
  }

  private fail(instance: number, end: TaskEnd): void {
    if (this.counted.has(end.taskId)) return;
    this.counted.add(end.taskId);
    const f = this.failures.get(instance);
    if (f === undefined) this.failures.set(instance, { instance, count: 1, last: end });
    else {
      f.count++;
      f.last = end;
    }
    this.readySince = undefined;
  }

  /** observe takes one look at the job at time now and says where it stands. */
  observe(job: JobView, now: number): Verdict {
    if (job.kind === 'batch') return this.observeBatch(job);
    const checked = job.spec.health !== undefined;
    let ready = 0;
    let running = 0;
    for (const i of job.instances) {
      const t = i.task;
      const before = this.taskOf.get(i.instance);
      if (before !== undefined && before !== t?.taskId && !this.counted.has(before)) {
        // A new task took the place of one we saw alive: that one ended between two looks.
        this.fail(i.instance, { taskId: before, state: 'ended', message: 'replaced by a new task' });
        this.unseen.push({ instance: i.instance, taskId: before });
      }
      if (t !== undefined) {
        this.taskOf.set(i.instance, t.taskId);
        if (isTerminal(t.state)) {
          if (onPurpose(t)) this.readySince = undefined;
          else this.fail(i.instance, endOf(t));
        }
      }
      const isRunning = i.state === 'ACTIVE' && t?.state === 'TASK_RUNNING';
      if (isRunning) running++;
      if (isRunning && (checked ? t.healthy === true : t.healthy !== false)) ready++;
    }
    const pending = job.instances.filter((i) => i.state === 'PENDING');
    const reason = pending.find((i) => i.pendingReason !== undefined)?.pendingReason;
    const counts = checked ? `${ready}/${job.instanceCount} running and healthy` : `${ready}/${job.instanceCount} running`;
    const unhealthy = checked && running > ready ? `, ${running - ready} not healthy yet` : '';
    const pendingText = pending.length === 0 ? '' : `, ${pending.length} pending${reason === undefined ? '' : ` (${reason})`}`;
    const failures = this.failedInstances;
    const failedText = failures.length === 0 ? '' : `; failures: ${failures.map((f) => `instance ${f.instance} (${f.count})`).join(', ')}`;
    const base = `${job.job}: ${counts}${unhealthy}${pendingText}${failedText}`;

    if (job.state !== 'ACTIVE') return { line: base, done: false, failed: `${job.job} is ${job.state} and will not be running` };
    const looping = failures.filter((f) => f.count >= CRASH_LOOP_FAILURES);
    if (looping.length > 0) {
      const which = looping.length === 1 ? `instance ${looping[0]?.instance ?? ''}` : `instances ${instanceList(looping.map((f) => f.instance))}`;
      return { line: base, done: false, failed: `${job.job} keeps failing: ${which} failed at least ${CRASH_LOOP_FAILURES} times while --wait watched` };
    }
    if (ready < job.instanceCount) {
      this.readySince = undefined;
      return { line: base, done: false };
    }
    this.readySince ??= now;
    const up = now - this.readySince;
    if (up >= this.settleMs) {
      return { line: this.settleMs === 0 ? base : `${base}, up for ${Math.round(this.settleMs / 100) / 10}s`, done: true };
    }
    return { line: `${base}; checking that they stay up for ${Math.round(this.settleMs / 100) / 10}s`, done: false };
  }

  private observeBatch(job: JobView): Verdict {
    const finished = job.instances.filter((i) => i.state === 'FINISHED').length;
    const running = job.instances.filter((i) => i.task?.state === 'TASK_RUNNING').length;
    const pending = job.instances.filter((i) => i.state === 'PENDING');
    const reason = pending.find((i) => i.pendingReason !== undefined)?.pendingReason;
    const pendingText = pending.length === 0 ? '' : `, ${pending.length} pending${reason === undefined ? '' : ` (${reason})`}`;
    const line = `${job.job}: ${finished}/${job.instanceCount} finished, ${running} running${pendingText}`;
    for (const i of job.instances) {
      if (i.state === 'FAILED' && i.task !== undefined) this.failBatch(i, i.task);
    }
    if (job.state === 'FINISHED') return { line, done: true };
    if (job.state === 'FAILED') {
      const n = job.instances.filter((i) => i.state === 'FAILED').length;
      return { line, done: false, failed: `${job.job} failed: ${n} instance${n === 1 ? '' : 's'} failed` };
    }
    if (job.state === 'KILLING') return { line, done: false, failed: `${job.job} is being killed` };
    return { line, done: false };
  }

  private failBatch(i: InstanceView, t: TaskView): void {
    if (this.counted.has(t.taskId)) return;
    this.counted.add(t.taskId);
    this.failures.set(i.instance, { instance: i.instance, count: i.failures, last: endOf(t) });
  }
}

/** failureLines lists the instances that failed, one line each, for the error a failed wait prints. */
export function failureLines(failures: readonly InstanceFailures[]): string[] {
  return failures.map((f) => {
    const times = f.count === 1 ? '' : ` ${f.count} times, last`;
    return `  instance ${f.instance} failed${times}: ${endText(f.last)} (task ${f.last.taskId})`;
  });
}

function failureDetails(key: string, failures: readonly InstanceFailures[]): Record<string, unknown> {
  return { job: key, instances: failures.map((f) => ({ instance: f.instance, failures: f.count, ...f.last })) };
}

export interface WaitOptions {
  timeoutSecs: number;
  settleSecs: number;
}

/**
 * waitForJob polls the job until its JobWatch says it is done, showing each change of progress on
 * stderr. It throws OutcomeError JOB_FAILED (exit 1) when the job fails, is killed or an instance
 * keeps failing, and TIMEOUT (exit 7) at the timeout; both list the instances that failed while
 * watched. A master that is briefly unavailable (failover) does not end the wait.
 */
export async function waitForJob(ctx: Context, key: string, options: WaitOptions): Promise<JobView> {
  const watch = new JobWatch({ settleMs: options.settleSecs * 1000 });
  const deadline = Date.now() + options.timeoutSecs * 1000;
  let shown = '';
  let last = `${key}: no answer from the master yet`;
  const hint = `see muster job status ${key}`;
  for (;;) {
    let job: JobView | undefined;
    try {
      job = await ctx.client.getJob(key);
    } catch (err) {
      if (!(err instanceof MusterError && err.retryable)) throw err;
    }
    if (job !== undefined) {
      const verdict = watch.observe(job, Date.now());
      await lookUpUnseen(ctx, watch);
      last = verdict.line;
      if (verdict.line !== shown) note(verdict.line);
      shown = verdict.line;
      if (verdict.done) return job;
      if (verdict.failed !== undefined) {
        const failures = watch.failedInstances;
        const logs = failures[0] === undefined ? '' : ` and muster task logs ${key}/${failures[0].instance} --stderr`;
        throw new OutcomeError('JOB_FAILED', [verdict.failed, ...failureLines(failures), `  (${hint}${logs})`].join('\n'), failureDetails(key, failures));
      }
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const failures = watch.failedInstances;
      const lines = [`timed out after ${options.timeoutSecs}s waiting for ${last}`, ...failureLines(failures)];
      if (failures.length > 0) lines.push(`  (${hint})`);
      throw new OutcomeError('TIMEOUT', lines.join('\n'), failureDetails(key, failures));
    }
    await sleep(Math.min(POLL_MS, left));
  }
}

/** lookUpUnseen asks the master how the tasks replaced between two looks ended; a task it forgot keeps "replaced". */
async function lookUpUnseen(ctx: Context, watch: JobWatch): Promise<void> {
  for (const { instance, taskId } of watch.takeUnseen()) {
    try {
      watch.ended(instance, await ctx.client.getTask(taskId));
    } catch (err) {
      if (!(err instanceof MusterError)) throw err;
    }
  }
}
