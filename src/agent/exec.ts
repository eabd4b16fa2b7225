// Running a command inside a running task: `muster task exec` (Borg's "ssh into a task") and the
// command health checks. The task's containerizer runs it where the task runs (muster-supervisor
// enter joins a process task's cgroups and namespaces; a docker task's command is a Docker exec),
// so it sees what the task sees and is charged to the task. No shell is put in between; the caller
// gives ["sh", "-c", "..."] when it wants one.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isSafeId, MusterError, parseExecRequest } from '../core/index.js';
import type { Logger } from '../log/index.js';
import { encodeRecord, type ExecEvent } from '../protocol/index.js';
import type { Containerizer, TaskCommand } from './containerizers/index.js';

/** How long a command that ignored SIGTERM at its timeout has before SIGKILL. */
const KILL_AFTER_MS = 2000;

/** stopAfter ends a command at its deadline: SIGTERM (forwarded into the task), then SIGKILL. */
export function stopAfter(child: TaskCommand, timeoutMs: number): () => void {
  let killTimer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    child.kill('SIGTERM');
    killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
  }, timeoutMs);
  return () => {
    clearTimeout(timer);
    clearTimeout(killTimer);
  };
}

/**
 * runInTask runs argv inside the task to its end and resolves with its exit code (null when it was
 * killed by a signal, e.g. at the timeout) and its first maxOutputBytes of stdout and stderr.
 */
export function runInTask(
  containerizer: Containerizer,
  taskId: string,
  argv: string[],
  options: { timeoutMs: number; env: Record<string, string>; maxOutputBytes?: number },
): Promise<{ exitCode: number | null; output: string }> {
  const max = options.maxOutputBytes ?? 64 * 1024;
  return new Promise((resolve, reject) => {
    let child: TaskCommand;
    try {
      // The task's own environment, so the command sees MUSTER_* and PORT_* as the task does.
      child = containerizer.exec(taskId, argv, options.env);
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const collect = (chunk: Buffer): void => {
      if (size >= max) return;
      chunks.push(chunk.subarray(0, max - size));
      size += Math.min(chunk.length, max - size);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const cancel = stopAfter(child, options.timeoutMs);
    child.ended.then(
      (end) => {
        cancel();
        resolve({ exitCode: end.exitCode, output: Buffer.concat(chunks).toString('utf8') });
      },
      (err: unknown) => {
        cancel();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** ExecDeps is what the agent's exec route needs to know about its tasks. */
export interface ExecDeps {
  containerizer: Containerizer;
  isRunning(taskId: string): boolean;
  stateOf(taskId: string): string | undefined;
  environmentOf(taskId: string): Record<string, string> | undefined;
  logger: Logger;
}

/**
 * serveExec answers the agent's POST /exec: it checks the request and the task, then streams the
 * command's output as RecordIO ExecEvents and ends with its EXIT. A client that goes away kills
 * the command: nothing started by an exec outlives the request.
 */
export async function serveExec(req: IncomingMessage, res: ServerResponse, deps: ExecDeps): Promise<void> {
  const body = await readJsonBody(req, 256 * 1024);
  const spec = parseExecRequest(body);
  const taskId = (body as { taskId?: unknown }).taskId;
  if (typeof taskId !== 'string' || !isSafeId(taskId)) throw new MusterError('INVALID_ARGUMENT', 'field "taskId": must be a task id');
  const state = deps.stateOf(taskId);
  if (state === undefined) throw new MusterError('TASK_NOT_FOUND', `task ${taskId} is not on this agent`);
  const env = deps.environmentOf(taskId);
  if (!deps.isRunning(taskId) || env === undefined) {
    throw new MusterError('TASK_NOT_RUNNING', `task ${taskId} is not running (${state}): exec needs a running task`);
  }
  let child: TaskCommand;
  try {
    child = deps.containerizer.exec(taskId, spec.argv, env);
  } catch (err) {
    throw new MusterError('TASK_NOT_RUNNING', `cannot exec into task ${taskId}: ${err instanceof Error ? err.message : String(err)}`);
  }
  deps.logger.info('exec into a task', { task: taskId, argv: spec.argv.join(' ').slice(0, 200) });
  res.writeHead(200, { 'content-type': 'application/recordio', 'x-content-type': 'application/json', 'cache-control': 'no-store' });
  const emit = (event: ExecEvent): void => {
    if (!res.writableEnded) res.write(encodeRecord(event));
  };
  const output = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => emit({ type: 'OUTPUT', stream, data: chunk.toString('base64') });
  child.stdout.on('data', output('stdout'));
  child.stderr.on('data', output('stderr'));
  const cancel = stopAfter(child, spec.timeoutSecs * 1000);
  let over = false;
  // The client hung up: stop the command (it is forwarded into the task).
  res.on('close', () => {
    if (!over) {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS).unref();
    }
  });
  try {
    const end = await child.ended;
    emit({ type: 'EXIT', exitCode: end.exitCode, signal: end.signal });
  } catch (err) {
    emit({ type: 'ERROR', message: `cannot run the command: ${err instanceof Error ? err.message : String(err)}` });
  } finally {
    over = true;
    cancel();
    res.end();
  }
}

async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new MusterError('PAYLOAD_TOO_LARGE', `the request body is larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new MusterError('INVALID_ARGUMENT', 'the body is not valid JSON');
  }
}
