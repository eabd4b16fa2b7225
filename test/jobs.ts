// Reading jobs the way a user does, through the typed client: wait until instances run, pick the
// task of an instance, describe a job in one line for a failure message.

import assert from 'node:assert/strict';
import type { MusterClient } from '../src/client/index.js';
import type { JobView, TaskView } from '../src/protocol/index.js';
import { waitFor } from './wait.js';

/** taskOf returns the current task of an instance, failing the test when it has none. */
export function taskOf(job: JobView, instance: number): TaskView {
  const task = job.instances.find((i) => i.instance === instance)?.task;
  assert.ok(task !== undefined, `instance ${instance} of ${job.job} has no task: ${brief(job)}`);
  return task;
}

/** isRunning: every instance of the job (at least `count` of them) has a TASK_RUNNING task. */
export function isRunning(job: JobView, count = job.instanceCount): boolean {
  return job.instances.length === count && job.instances.every((i) => i.task?.state === 'TASK_RUNNING');
}

/** brief is a one-line picture of a job for assertion messages: "0:TASK_RUNNING@agent 1:PENDING". */
export function brief(job: JobView): string {
  const parts = job.instances.map((i) => `${i.instance}:${i.state}/${i.task?.state ?? '-'}@${i.task?.agentId ?? '-'}#${i.task?.taskId ?? '-'}`);
  return `${job.job} ${job.state} [${parts.join(' ')}]`;
}

/** waitRunning waits until every instance of the job runs, and returns the job. */
export async function waitRunning(
  client: MusterClient,
  key: string,
  options: { count?: number; until?: (job: JobView) => boolean; what?: string; timeoutMs?: number } = {},
): Promise<JobView> {
  const until = options.until ?? (() => true);
  return waitFor(() => client.getJob(key), {
    what: options.what ?? `every instance of ${key} to be TASK_RUNNING`,
    until: (job) => isRunning(job, options.count ?? job.instanceCount) && until(job),
    timeoutMs: options.timeoutMs ?? 30_000,
  });
}

/** taskIds lists the current task id of each instance, in instance order. */
export function taskIds(job: JobView): (string | undefined)[] {
  return [...job.instances].sort((a, b) => a.instance - b.instance).map((i) => i.task?.taskId);
}
