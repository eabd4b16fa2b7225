// POST /api/v1/tasks/:taskId/exec runs a command inside a running task: the master checks the
// request and the task, then hands it to the task's agent (POST /exec) and streams the agent's
// RecordIO answer (output, then the exit status) back as it comes, with the agent's API token as
// its credential (see files.ts). The master keeps nothing: an exec is a debugging session, not part
// of the cell's state.

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { MusterError, parseExecRequest } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import type { EventLog } from '../eventlog.js';
import { agentBase, agentInit, refusedCredential, unreachable, type AgentCallDeps } from './files.js';
import { findTask } from './jobs.js';
import { errorFromBody, readJson, type Router } from './router.js';

/** How long the agent may take to start the command and send its headers. */
const AGENT_TIMEOUT_MS = 10_000;

export interface ExecRoutesDeps extends AgentCallDeps {
  log: EventLog;
  logger: Logger;
}

export function addExecRoutes(router: Router, deps: ExecRoutesDeps): void {
  const { log, logger } = deps;
  router.add('POST', '/api/v1/tasks/:taskId/exec', async ({ req, res, params }) => {
    const spec = parseExecRequest(await readJson(req, 256 * 1024));
    const task = findTask(log.state, params['taskId'] ?? '');
    if (task.state !== 'TASK_RUNNING') {
      throw new MusterError('TASK_NOT_RUNNING', `task ${task.taskId} is ${task.state}: exec needs a running task`, {
        details: { state: task.state },
      });
    }
    const { base, name } = agentBase(log, task, deps);
    const controller = new AbortController();
    // The client hanging up ends the request to the agent, which kills the command.
    res.on('close', () => controller.abort(new Error('the client went away')));
    const headersTimer = setTimeout(() => controller.abort(new Error(`no answer within ${AGENT_TIMEOUT_MS / 1000}s`)), AGENT_TIMEOUT_MS);
    let answer: Response;
    try {
      const init = agentInit(deps, task);
      answer = await fetch(`${base}/exec`, {
        ...init,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...init.headers },
        body: JSON.stringify({ taskId: task.taskId, argv: spec.argv, timeoutSecs: spec.timeoutSecs }),
        signal: controller.signal,
      });
    } catch (err) {
      throw unreachable(task, 'run a command in the task', name, controller.signal.aborted ? controller.signal.reason : err);
    } finally {
      clearTimeout(headersTimer);
    }
    if (answer.status === 401) {
      await answer.body?.cancel();
      throw refusedCredential(task, name);
    }
    if (!answer.ok || answer.body === null) {
      const body: unknown = await answer.json().catch(() => undefined);
      throw errorFromBody(answer.status, body, `${name} could not run the command`);
    }
    logger.info('exec into a task', { task: task.taskId, argv: spec.argv.join(' ').slice(0, 200) });
    res.writeHead(200, { 'content-type': 'application/recordio', 'x-content-type': 'application/json', 'cache-control': 'no-store' });
    try {
      await pipeline(Readable.fromWeb(answer.body as NodeReadableStream<Uint8Array>), res);
    } catch (err) {
      if (!controller.signal.aborted) logger.warn('an exec stream from the agent broke off', { task: task.taskId, error: err });
      res.destroy();
    }
  });
}
