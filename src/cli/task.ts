// `muster task …`: list tasks and read their logs. Logs are read through the master, which asks
// the agent, so the CLI needs to reach only the master.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { MusterClient } from '../client/index.js';
import { MusterError } from '../core/index.js';
import type { LogChunk } from '../protocol/index.js';
import { contextOf } from './context.js';
import * as flags from './flags.js';
import { ago, note, ports, printJson, printLines, table } from './output.js';
import { instanceArg, jobKeyArg } from './refs.js';

const POLL_MS = 500;
const DEFAULT_BYTES = 64 * 1024;
/** MAX_READ is the most the master returns for one read (docs/api.md). */
const MAX_READ = 1024 * 1024;

export function addTaskCommands(program: Command): void {
  const task = program
    .command('task')
    .description('list tasks and read their logs')
    .addHelpText(
      'after',
      `
A task is one run of a job's instance on an agent; its id names the job and instance, e.g.
web-prod-hello-0-6f1c…. A restart makes a new task for the same instance.

Examples:
  $ muster task list --job web/prod/hello
  $ muster task logs web/prod/hello/0 -f`,
    );

  task
    .command('list')
    .description('list active tasks (with --all, also ended ones the master still keeps)')
    .option('--job <KEY>', 'only the tasks of this job, role/env/name')
    .option('--all', 'include tasks that have ended')
    .addHelpText(
      'after',
      `
Examples:
  $ muster task list
  $ muster task list --job web/prod/hello --all
  $ muster task list --json | jq -r '.tasks[].taskId'`,
    )
    .action(async (opts: { job?: string; all?: boolean }, cmd: Command) => {
      const job = opts.job === undefined ? undefined : jobKeyArg(opts.job);
      const ctx = contextOf(cmd);
      const query: { job?: string; all?: boolean } = {};
      if (job !== undefined) query.job = job;
      if (opts.all === true) query.all = true;
      const tasks = await ctx.client.listTasks(query);
      if (ctx.json) return printJson({ tasks });
      if (tasks.length === 0) return note(opts.all === true ? 'no tasks' : 'no active tasks (add --all for ended ones)');
      const now = Date.now();
      printLines(
        table(
          ['TASK', 'INSTANCE', 'STATE', 'AGENT', 'PORTS', 'AGE'],
          tasks.map((t) => [t.taskId, `${t.job}/${t.instance}`, t.state, t.hostname || t.address, ports(t.ports), ago(t.launchedAt, now)]),
        ),
      );
    });

  task
    .command('logs')
    .description("print the end of a task's stdout (or stderr); -f keeps printing until the task ends")
    .argument('<TASK_ID|KEY/INSTANCE>', 'a task id, or role/env/name/N for the current task of instance N')
    .option('-f, --follow', 'keep printing new output until the task ends (Ctrl-C to stop)')
    .option('--stderr', 'read stderr instead of stdout')
    .option('--bytes <N>', `print the last N bytes (default ${DEFAULT_BYTES}, at most ${MAX_READ})`, flags.positiveInt(MAX_READ))
    .addHelpText(
      'after',
      `
Examples:
  $ muster task logs web/prod/hello/0
  $ muster task logs web/prod/hello/0 --stderr -f
  $ muster task logs web-prod-hello-0-6f1c2a --bytes 4096`,
    )
    .action(async (ref: string, opts: { follow?: boolean; stderr?: boolean; bytes?: number }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const taskId = ref.includes('/') ? await currentTask(ctx.client, ref) : ref;
      const file = opts.stderr === true ? 'stderr' : 'stdout';
      const write = (chunk: LogChunk): void => {
        if (ctx.json) printJson(chunk);
        else if (chunk.data !== '') process.stdout.write(chunk.data);
      };
      const chunk = await ctx.client.taskLogs(taskId, { file, length: opts.bytes ?? DEFAULT_BYTES });
      write(chunk);
      if (opts.follow !== true) return;
      await follow(ctx.client, chunk, write);
    });
}

/** currentTask resolves KEY/INSTANCE to the id of that instance's current (or last) task. */
async function currentTask(client: MusterClient, ref: string): Promise<string> {
  const { key, instance } = instanceArg(ref);
  const job = await client.getJob(key);
  const view = job.instances.find((i) => i.instance === instance);
  if (view === undefined) {
    throw new MusterError('INSTANCE_NOT_FOUND', `${key} has no instance ${instance} (it has ${job.instanceCount})`);
  }
  if (view.task === undefined) {
    const why = view.pendingReason === undefined ? '' : `: ${view.pendingReason}`;
    throw new MusterError('TASK_NOT_FOUND', `${key}/${instance} has not run a task yet (${view.state}${why})`);
  }
  return view.task.taskId;
}

/**
 * follow reads on from where the last chunk ended until the task has ended and all its output is
 * printed. A file that shrank was rotated: reading starts again at its beginning. A master that is
 * briefly unavailable does not stop the follow.
 */
async function follow(client: MusterClient, first: LogChunk, write: (chunk: LogChunk) => void): Promise<void> {
  let chunk = first;
  let offset = first.offset + Buffer.byteLength(first.data, 'utf8');
  for (;;) {
    const caughtUp = offset >= chunk.size;
    if (chunk.eof && caughtUp) return;
    if (caughtUp) await sleep(POLL_MS);
    try {
      chunk = await client.taskLogs(first.taskId, { file: first.file, offset, length: MAX_READ });
    } catch (err) {
      // The master forgets a task some time after it ended (at once when its job is killed):
      // for a follow that already printed its output, that is the end, not a failure.
      if (err instanceof MusterError && err.code === 'TASK_NOT_FOUND') {
        note(`muster: task ${first.taskId} has ended`);
        return;
      }
      if (!(err instanceof MusterError && err.retryable)) throw err;
      await sleep(POLL_MS);
      continue;
    }
    if (chunk.size < offset) {
      offset = 0;
      continue;
    }
    write(chunk);
    offset = chunk.offset + Buffer.byteLength(chunk.data, 'utf8');
  }
}
