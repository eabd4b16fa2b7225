// Routes for a task's sandbox files: /api/v1/tasks/:taskId/{logs,files,files/read,files/download}.
// The master keeps no files: it finds the agent that ran the task and asks that agent's files API
// (GET /files/browse, /files/read, /files/download on port 5051), so that the CLI and the UI need
// to reach only the master. The agent confines every path; its 403 and 404 answers pass through
// with their codes. Downloads are streamed through, never held whole in the master's memory.
// Each call carries the agent's API token (from its SUBSCRIBE, kept by AgentLinks) as a bearer
// credential: the agent answers 401 to anyone without it, its own tasks included. An agent that
// said it serves TLS is called at https://, trusting the master's --tls-ca.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { MusterError, isTerminal } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import { certificateProblem, type FetchDispatcher } from '../../tls/index.js';
import type { FileListing, LogChunk, TaskFileChunk, TaskFileListing } from '../../protocol/index.js';
import type { EventLog } from '../eventlog.js';
import type { TaskRecord } from '../state/index.js';
import { findTask } from './jobs.js';
import { errorFromBody, sendJson, type Router } from './router.js';

const MAX_READ = 1024 * 1024;
const DEFAULT_READ = 64 * 1024;
/** MAX_PATH matches the agent's limit on a sandbox path; longer ones are refused here already. */
const MAX_PATH = 4096;
/** How long the agent may take to answer (for a download: to send its headers). */
const AGENT_TIMEOUT_MS = 5000;
/** A download whose agent sends nothing for this long is cut off, so a stalled agent frees the client. */
const DOWNLOAD_IDLE_MS = 30_000;
/** MAX_AGENT_JSON bounds an agent's JSON answer (a listing of 10,000 entries is about 2 MiB). */
const MAX_AGENT_JSON = 16 * 1024 * 1024;

/** AgentCallDeps is what the master's calls to an agent's port need to know of that agent. */
export interface AgentCallDeps {
  /** The API token an agent sent at SUBSCRIBE (AgentLinks.apiTokenOf); undefined on a standby or for an agent without one. */
  apiTokenOf?: (agentId: string) => string | undefined;
  /** The agent said at SUBSCRIBE that its port serves HTTPS (AgentLinks.tlsOf). */
  tlsOf?: (agentId: string) => boolean;
  /** fetch's connection pool for https:// agents when the master trusts a CA of its own (--tls-ca); absent: the system's CAs. */
  agentDispatcher?: FetchDispatcher;
}

export interface FileRoutesDeps extends AgentCallDeps {
  log: EventLog;
  logger: Logger;
}

export function addFileRoutes(router: Router, deps: FileRoutesDeps): void {
  const { log, logger } = deps;
  const agentJson = <T>(task: TaskRecord, pathAndQuery: string, what: string): Promise<T> => askAgent<T>(deps, task, pathAndQuery, what);

  router.add('GET', '/api/v1/tasks/:taskId/logs', async ({ res, params, url }) => {
    const task = findTask(log.state, params['taskId'] ?? '');
    const file = url.searchParams.get('file') ?? 'stdout';
    if (file !== 'stdout' && file !== 'stderr') throw new MusterError('INVALID_ARGUMENT', `file must be stdout or stderr, not "${file.slice(0, 32)}"`);
    const q = readQuery(task, file, url.searchParams);
    const body = await agentJson<{ offset: number; size: number; data: string; eof?: boolean }>(task, `/files/read?${q.toString()}`, 'read the logs');
    const chunk: LogChunk = { taskId: task.taskId, file, offset: body.offset, size: body.size, data: body.data, eof: ended(log, task, body.eof) };
    sendJson(res, 200, chunk);
  });

  router.add('GET', '/api/v1/tasks/:taskId/files', async ({ res, params, url }) => {
    const task = findTask(log.state, params['taskId'] ?? '');
    const q = new URLSearchParams({ task: task.taskId, path: pathParam(url.searchParams, '') });
    const body = await agentJson<FileListing>(task, `/files/browse?${q.toString()}`, 'list the files');
    if (!Array.isArray(body.entries) || typeof body.path !== 'string') {
      throw new MusterError('INTERNAL', `the agent of task ${task.taskId} answered a listing without entries`);
    }
    const listing: TaskFileListing = { taskId: task.taskId, path: body.path, entries: body.entries };
    if (body.truncated === true) listing.truncated = true;
    sendJson(res, 200, listing);
  });

  router.add('GET', '/api/v1/tasks/:taskId/files/read', async ({ res, params, url }) => {
    const task = findTask(log.state, params['taskId'] ?? '');
    const q = readQuery(task, pathParam(url.searchParams, undefined), url.searchParams);
    const body = await agentJson<{ path: string; offset: number; size: number; data: string; eof?: boolean }>(task, `/files/read?${q.toString()}`, 'read the file');
    const chunk: TaskFileChunk = { taskId: task.taskId, path: body.path, offset: body.offset, size: body.size, data: body.data, eof: ended(log, task, body.eof) };
    sendJson(res, 200, chunk);
  });

  router.add('GET', '/api/v1/tasks/:taskId/files/download', async ({ req, res, params, url }) => {
    const task = findTask(log.state, params['taskId'] ?? '');
    const q = new URLSearchParams({ task: task.taskId, path: pathParam(url.searchParams, undefined) });
    await download({ log, logger, deps, task, req, res, pathAndQuery: `/files/download?${q.toString()}` });
  });
}

/** ended: the agent says the task has ended, or the master knows it has (or has forgotten it). */
function ended(log: EventLog, task: TaskRecord, agentEof: boolean | undefined): boolean {
  return agentEof === true || isTerminal(log.state.tasks.get(task.taskId)?.state ?? 'TASK_GONE');
}

/** pathParam reads ?path=; without a fallback it is required. Its contents are the agent's to judge. */
function pathParam(query: URLSearchParams, fallback: string | undefined): string {
  const p = query.get('path') ?? fallback;
  if (p === undefined || (p === '' && fallback === undefined)) {
    throw new MusterError('INVALID_ARGUMENT', 'path must name a file in the sandbox, e.g. ?path=stdout');
  }
  if (p.length > MAX_PATH) throw new MusterError('INVALID_ARGUMENT', `path is ${p.length} characters long; at most ${MAX_PATH} are allowed`);
  return p;
}

function readQuery(task: TaskRecord, path: string, query: URLSearchParams): URLSearchParams {
  const offset = optionalInt(query.get('offset'), 'offset', 0, Number.MAX_SAFE_INTEGER);
  const length = optionalInt(query.get('length'), 'length', 1, MAX_READ) ?? DEFAULT_READ;
  const q = new URLSearchParams({ task: task.taskId, path, length: String(length) });
  if (offset !== undefined) q.set('offset', String(offset));
  return q;
}

/** agentBase: the URL of the files API of the agent that ran the task, https:// when it serves TLS. */
export function agentBase(log: EventLog, task: TaskRecord, deps: AgentCallDeps): { base: string; name: string } {
  const agent = log.state.agents.get(task.agentId);
  if (agent === undefined) throw new MusterError('AGENT_NOT_FOUND', `task ${task.taskId} ran on agent ${task.agentId}, which is gone`);
  const host = agent.address.includes(':') ? `[${agent.address}]` : agent.address;
  const tls = deps.tlsOf?.(task.agentId) === true;
  // A master that trusts a CA for agents (--tls-ca) calls them over TLS only: an agent that says it
  // serves plain HTTP gets neither its API token nor a task's files in the clear.
  if (!tls && deps.agentDispatcher !== undefined) {
    throw new MusterError('AGENT_UNREACHABLE', `agent ${agent.hostname} does not serve TLS, and this master (--tls-ca) calls agents over TLS only: start the agent with --tls-cert and --tls-key`);
  }
  const scheme = tls ? 'https' : 'http';
  return { base: `${scheme}://${host}:${agent.port}`, name: `agent ${agent.hostname} (${agent.address}:${agent.port})` };
}

/** agentInit is the part of a fetch to the task's agent that is the same for every call: its credential and the pool that trusts the cell's CA. */
export function agentInit(deps: AgentCallDeps, task: TaskRecord): { headers: Record<string, string>; dispatcher?: FetchDispatcher } {
  const headers = agentHeaders(deps, task);
  return deps.agentDispatcher === undefined || deps.tlsOf?.(task.agentId) !== true ? { headers } : { headers, dispatcher: deps.agentDispatcher };
}

/**
 * agentHeaders: the Authorization header of a call to the task's agent, when the master holds its
 * token. Without one (an agent that has not subscribed to this master yet) the call goes without,
 * and the agent's 401 becomes refusedCredential's answer.
 */
function agentHeaders(deps: AgentCallDeps, task: TaskRecord): Record<string, string> {
  const token = deps.apiTokenOf?.(task.agentId);
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/**
 * refusedCredential is the answer to an agent's 401: the master's fault or a passing state (the
 * agent restarted with a new token and has not subscribed again), never the client's, so not a 401.
 */
export function refusedCredential(task: TaskRecord, agent: string): MusterError {
  return new MusterError('AGENT_UNREACHABLE', `${agent} refused the master's credential for task ${task.taskId}; it gets the agent's new one when the agent subscribes again`, { retryable: true });
}

export function unreachable(task: TaskRecord, what: string, agent: string, err: unknown): MusterError {
  const tls = certificateProblem(err);
  if (tls !== undefined) {
    const fix = tls.kind === 'untrusted' ? "; start the master with --tls-ca naming the agents' CA" : '';
    return new MusterError('AGENT_UNREACHABLE', `cannot ${what} of ${task.taskId} from ${agent}: its certificate ${tls.why} (${tls.code})${fix}`, { cause: err });
  }
  const why = err instanceof Error ? err.message : String(err);
  return new MusterError('AGENT_UNREACHABLE', `cannot ${what} of ${task.taskId} from ${agent}: ${why}`, { retryable: true, cause: err });
}

/** askAgent asks the task's agent and returns its JSON answer; an error answer becomes its MusterError. */
async function askAgent<T>(deps: FileRoutesDeps, task: TaskRecord, pathAndQuery: string, what: string): Promise<T> {
  const { base, name } = agentBase(deps.log, task, deps);
  let answer: Response;
  let text: string;
  try {
    answer = await fetch(base + pathAndQuery, { ...agentInit(deps, task), signal: AbortSignal.timeout(AGENT_TIMEOUT_MS) });
    if (answer.status === 401) {
      await answer.body?.cancel();
      throw refusedCredential(task, name);
    }
    const declared = Number(answer.headers.get('content-length') ?? '0');
    if (declared > MAX_AGENT_JSON) {
      await answer.body?.cancel();
      throw new MusterError('INTERNAL', `${name} answered ${declared} bytes, over the limit of ${MAX_AGENT_JSON}`);
    }
    text = await answer.text();
  } catch (err) {
    if (err instanceof MusterError) throw err;
    throw unreachable(task, what, name, err);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!answer.ok || body === null || typeof body !== 'object') throw errorFromBody(answer.status, body, `${name} could not ${what}`);
  return body as T;
}

/**
 * download streams the agent's answer to the client as it arrives. Once the headers are sent an
 * error can only cut the body short; the client sees that against Content-Length.
 */
async function download(options: {
  log: EventLog;
  logger: Logger;
  deps: AgentCallDeps;
  task: TaskRecord;
  req: IncomingMessage;
  res: ServerResponse;
  pathAndQuery: string;
}): Promise<void> {
  const { task, req, res } = options;
  const { base, name } = agentBase(options.log, task, options.deps);
  const controller = new AbortController();
  const headersTimer = setTimeout(() => controller.abort(new Error(`no answer within ${AGENT_TIMEOUT_MS / 1000}s`)), AGENT_TIMEOUT_MS);
  let answer: Response;
  try {
    answer = await fetch(base + options.pathAndQuery, { ...agentInit(options.deps, task), method: req.method === 'HEAD' ? 'HEAD' : 'GET', signal: controller.signal });
  } catch (err) {
    throw unreachable(task, 'download a file', name, controller.signal.aborted ? controller.signal.reason : err);
  } finally {
    clearTimeout(headersTimer);
  }
  if (answer.status === 401) {
    await answer.body?.cancel();
    throw refusedCredential(task, name);
  }
  if (!answer.ok) {
    const body: unknown = await answer.json().catch(() => undefined);
    throw errorFromBody(answer.status, body, `${name} could not download the file`);
  }
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', 'X-Content-Type-Options': 'nosniff' };
  const length = answer.headers.get('content-length');
  if (length !== null && /^\d{1,16}$/.test(length)) headers['Content-Length'] = length;
  const disposition = answer.headers.get('content-disposition');
  headers['Content-Disposition'] = disposition !== null && /^attachment;[\x20-\x7e]*$/.test(disposition) ? disposition : 'attachment';
  res.writeHead(200, headers);
  if (answer.body === null || req.method === 'HEAD') {
    await answer.body?.cancel();
    res.end();
    return;
  }
  const idle = setTimeout(() => controller.abort(new Error(`the agent sent nothing for ${DOWNLOAD_IDLE_MS / 1000}s`)), DOWNLOAD_IDLE_MS);
  const touch = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      idle.refresh();
      done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(answer.body as NodeReadableStream<Uint8Array>), touch, res);
  } catch (err) {
    // A client that hangs up is not a fault; a broken agent stream is worth a line.
    if (!res.writableFinished && !req.destroyed) {
      options.logger.warn('download from the agent broke off', { taskId: task.taskId, agent: name, error: err });
    }
    res.destroy();
  } finally {
    clearTimeout(idle);
  }
}

function optionalInt(v: string | null, name: string, min: number, max: number): number | undefined {
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new MusterError('INVALID_ARGUMENT', `${name} must be a whole number from ${min} to ${max}`);
  }
  return n;
}
