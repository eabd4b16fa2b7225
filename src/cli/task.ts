// `muster task …`: list tasks, read their logs and list their sandbox files. Files are read through
// the master, which asks the agent, so the CLI needs to reach only the master.

import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { MusterClient } from '../client/index.js';
import { EXEC_LIMITS, formatMiB, isTerminal, MusterError } from '../core/index.js';
import type { ExecRequest, FileEntry, LogChunk, TaskList, TaskView } from '../protocol/index.js';
import { contextOf } from './context.js';
import { UsageError } from './exitcodes.js';
import * as flags from './flags.js';
import { ago, duration, keyValues, note, ports, printJson, printLines, table } from './output.js';
import { instanceArg, jobKeyArg } from './refs.js';

const POLL_MS = 500;
const DEFAULT_BYTES = 64 * 1024;
/** MAX_READ is the most the master returns for one read (docs/api.md). */
const MAX_READ = 1024 * 1024;

export function addTaskCommands(program: Command): void {
  const task = program
    .command('task')
    .description('list tasks, see one in detail, read its logs and files, run a command inside it')
    .addHelpText(
      'after',
      `
A task is one run of a job's instance on an agent; its id names the job and instance, e.g.
web-prod-hello-0-6f1c…. A restart makes a new task for the same instance.

Examples:
  $ muster task list --job web/prod/hello
  $ muster task status web/prod/hello/0
  $ muster task logs web/prod/hello/0 -f
  $ muster task ls web/prod/hello/0
  $ muster task exec web/prod/hello/0 -- ps -ef`,
    );

  task
    .command('list')
    .description('list active tasks and the instances still pending (with --all, also ended tasks the master still keeps)')
    .option('--job <KEY>', 'only the tasks of this job, role/env/name')
    .option('--framework <ID>', 'only the tasks of this framework ("muster" for the built-in one; see muster framework list)')
    .option('--all', 'include tasks that have ended')
    .addHelpText(
      'after',
      `
Examples:
  $ muster task list
  $ muster task list --job web/prod/hello --all
  $ muster task list --framework 5c7e1b2a-8f3d-4e6a-9b1c-2d4f6a8c0e13
  $ muster task list --json | jq -r '.tasks[].taskId'
  $ muster task list --json | jq -r '.pending[] | "\\(.job)/\\(.instance): \\(.reason)"'`,
    )
    .action(async (opts: { job?: string; framework?: string; all?: boolean }, cmd: Command) => {
      const job = opts.job === undefined ? undefined : jobKeyArg(opts.job);
      const ctx = contextOf(cmd);
      // The whole answer, not listTasks(): it also holds the instances still pending.
      const params = new URLSearchParams();
      if (job !== undefined) params.set('job', job);
      if (opts.framework !== undefined) params.set('framework', opts.framework);
      if (opts.all === true) params.set('all', 'true');
      const path = `/api/v1/tasks${params.size === 0 ? '' : `?${params.toString()}`}`;
      const answer = await ctx.client.request<TaskList>('GET', path);
      const { tasks } = answer;
      const pending = answer.pending ?? [];
      if (ctx.json) return printJson(answer);
      if (tasks.length === 0 && pending.length === 0) return note(opts.all === true ? 'no tasks' : 'no active tasks (add --all for ended ones)');
      const now = Date.now();
      // A FRAMEWORK column once an external framework's task is listed; its task shows the
      // framework's own task id where a job's instance would be.
      const external = tasks.some((t) => (t.framework ?? 'muster') !== 'muster');
      const rows = tasks.map((t) => [
        t.taskId,
        ...(external ? [t.framework ?? 'muster'] : []),
        t.frameworkTaskId ?? `${t.job}/${t.instance}`,
        t.state,
        t.hostname || t.address,
        ports(t.ports),
        ago(t.launchedAt, now),
      ]);
      // Pending instances have no task yet: a dash for its id, and why they wait in a last column.
      const waiting = pending.map((p) => ['-', ...(external ? ['muster'] : []), `${p.job}/${p.instance}`, 'PENDING', '-', '-', '-', p.reason]);
      const headers = ['TASK', ...(external ? ['FRAMEWORK'] : []), 'INSTANCE', 'STATE', 'AGENT', 'PORTS', 'AGE', ...(waiting.length > 0 ? ['NOTE'] : [])];
      printLines(table(headers, [...rows.map((r) => (waiting.length > 0 ? [...r, ''] : r)), ...waiting]));
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

  task
    .command('ls')
    .description("list the files in a task's sandbox (its working directory on the agent), like ls -l")
    .argument('<TASK_ID|KEY/INSTANCE>', 'a task id, or role/env/name/N for the current task of instance N')
    .argument('[PATH]', 'a directory (or file) in the sandbox, relative to it; default: the sandbox itself')
    .addHelpText(
      'after',
      `
The sandbox holds the task's stdout and stderr (rotated ones as stdout.1, stdout.2 …), its tmp/,
anything the task wrote into its working directory, and .muster/ with the agent's own records
(exit.json once the task has ended). It stays after the task ends, until the agent collects it.
Paths are confined to the sandbox: .., absolute paths and links that lead out are refused.
Read a file with \`muster task logs\` (stdout, stderr) or the API's /files/read and /files/download.

Examples:
  $ muster task ls web/prod/hello/0
  $ muster task ls web/prod/hello/0 .muster
  $ muster task ls web-prod-hello-0-6f1c2a logs/ --json | jq -r '.entries[].path'`,
    )
    .action(async (ref: string, dir: string | undefined, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const taskId = ref.includes('/') ? await currentTask(ctx.client, ref) : ref;
      const listing = await ctx.client.browseTaskFiles(taskId, dir);
      if (ctx.json) return printJson(listing);
      if (listing.entries.length === 0) return note(`muster: ${listing.path === '' ? 'the sandbox' : listing.path} is empty`);
      printLines(lsLines(listing.entries));
      if (listing.truncated === true) note(`muster: showing the first ${listing.entries.length} entries by name; the directory holds more`);
    });

  addStatusCommand(task);
  addExecCommand(task);
}

/** addExecCommand adds `muster task exec`: a command inside a running task, its output and its status. */
function addExecCommand(task: Command): void {
  task
    .command('exec')
    .description("run a command inside a running task: its namespaces, cgroups, user and environment (no shell, no stdin)")
    .argument('<TASK_ID|KEY/INSTANCE>', 'a task id, or role/env/name/N for the current task of instance N')
    .argument('<CMD...>', 'the command and its arguments, after --')
    .option('--timeout <secs>', `kill the command after this long (default ${EXEC_LIMITS.defaultTimeoutSecs}, at most ${EXEC_LIMITS.timeoutSecs})`, flags.seconds)
    .addHelpText(
      'after',
      `
The command runs on the task's agent as the task does: in its pid and mount namespaces (it sees the
task's processes and its /tmp), charged to its cgroups, as its user, in its sandbox, with its
environment (MUSTER_*, PORT_*). It runs without a shell, so give one for pipes and variables.
Output streams back as it comes; muster exits with the command's exit status (128+N for signal N).
There is no stdin and no terminal: use it for inspection, not for an interactive shell.

Examples:
  $ muster task exec web/prod/hello/0 -- ps -ef
  $ muster task exec web/prod/hello/0 -- sh -c 'cat /proc/self/cgroup; id'
  $ muster task exec web-prod-hello-0-6f1c2a --timeout 30 -- curl -s localhost:$PORT_HTTP/health`,
    )
    .action(async (ref: string, argv: string[], opts: { timeout?: number }, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (opts.timeout !== undefined && opts.timeout > EXEC_LIMITS.timeoutSecs) {
        throw new UsageError(`--timeout can be at most ${EXEC_LIMITS.timeoutSecs} seconds`);
      }
      const taskId = ref.includes('/') ? await currentTask(ctx.client, ref) : ref;
      const request: ExecRequest = { argv };
      if (opts.timeout !== undefined) request.timeoutSecs = opts.timeout;
      const ended = await ctx.client.execTask(taskId, request, (stream, data) => {
        (stream === 'stderr' ? process.stderr : process.stdout).write(data);
      });
      if (ctx.json) printJson({ taskId, ...ended });
      process.exitCode = ended.exitCode ?? 128 + (signalNumber(ended.signal) ?? 0);
    });
}

/** addStatusCommand adds `muster task status`: one task in detail, with what it uses now. */
function addStatusCommand(task: Command): void {
  task
    .command('status')
    .description('show one task: where it runs, its state and health, and the cpu, memory and disk it uses')
    .argument('<TASK_ID|KEY/INSTANCE>', 'a task id, or role/env/name/N for the current task of instance N')
    .addHelpText(
      'after',
      `
Usage is what the task's agent measured last (every few seconds): cpu time since the task started,
memory in use now, and the bytes in its sandbox, beside what the task reserved.

Examples:
  $ muster task status web/prod/hello/0
  $ muster task status web-prod-hello-0-6f1c2a --json | jq .usage`,
    )
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const taskId = ref.includes('/') ? await currentTask(ctx.client, ref) : ref;
      const t = await ctx.client.getTask(taskId);
      if (ctx.json) return printJson(t);
      printLines(taskStatusLines(t, Date.now()));
    });
}

/** taskStatusLines is the readable form of `task status`: one "label  value" line per fact. */
export function taskStatusLines(t: TaskView, now: number): string[] {
  const MiB = 1024 * 1024;
  const pairs: [string, string][] = [
    ['task', t.taskId],
    ['instance', `${t.job}/${t.instance}`],
    ['state', t.state + (t.reason === undefined ? '' : ` (${t.reason})`)],
  ];
  if (t.message !== undefined) pairs.push(['message', t.message]);
  if (t.healthy !== undefined) pairs.push(['health', t.healthy ? 'healthy' : 'unhealthy']);
  pairs.push(['agent', `${t.hostname} (${t.address})`], ['ports', ports(t.ports) || '-']);
  // ago() says "ago" itself.
  pairs.push(['launched', ago(t.launchedAt, now)]);
  if (t.startedAt !== undefined) pairs.push(['running for', duration((t.endedAt ?? now) - t.startedAt)]);
  const r = t.resources;
  if (t.usage !== undefined) {
    const u = t.usage;
    pairs.push(
      ['cpu', `${u.cpuSecs.toFixed(2)}s of cpu time (reserved ${r.cpus} cpus)`],
      ['memory', `${formatMiB(Math.round(u.memBytes / MiB))} of ${formatMiB(r.mem)}`],
      ['disk', `${formatMiB(Math.round(u.diskBytes / MiB))} of ${r.disk === 0 ? 'no limit' : formatMiB(r.disk)}`],
      ['measured', ago(u.timestamp, now)],
    );
  } else {
    pairs.push(['usage', isTerminal(t.state) ? 'none: the task has ended' : 'not reported yet']);
  }
  return keyValues(pairs);
}

/** signalNumber maps "SIGKILL" to 9, for the 128+N exit status a shell would give. */
function signalNumber(name: string | null): number | undefined {
  return name === null ? undefined : (os.constants.signals as Record<string, number>)[name];
}

/**
 * lsLines writes entries as ls -l does: mode, size (right-aligned, human), modification time, name;
 * directories end in "/". Control characters in names print as "?", as ls does on a terminal, so
 * that a task cannot rewrite the screen through a file name.
 */
function lsLines(entries: readonly FileEntry[]): string[] {
  const sizes = entries.map((e) => (e.type === 'dir' ? '-' : humanSize(e.size)));
  const width = Math.max(...sizes.map((s) => s.length));
  return entries.map((e, i) => {
    const name = e.name.replace(/[\u0000-\u001f\u007f]/g, '?') + (e.type === 'dir' ? '/' : '');
    return `${e.mode}  ${(sizes[i] ?? '').padStart(width)}  ${localTime(e.mtime)}  ${name}`;
  });
}

/** humanSize writes bytes as ls -h does: 512, 1.5K, 20M, 3.1G. */
function humanSize(bytes: number): string {
  const units = ['K', 'M', 'G', 'T', 'P'];
  if (bytes < 1024) return String(bytes);
  let n = bytes;
  let unit = '';
  for (const u of units) {
    if (n < 1024) break;
    n /= 1024;
    unit = u;
  }
  return `${n < 10 ? (Math.ceil(n * 10) / 10).toFixed(1) : String(Math.ceil(n))}${unit}`;
}

/** localTime writes a time as "2024-05-01 13:07" in the local zone: sortable and unambiguous. */
function localTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
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
