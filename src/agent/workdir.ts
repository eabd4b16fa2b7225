// The work dir holds everything an agent keeps across restarts: agent.json (the id the master gave
// it), api-token (its HTTP API's credential, see apitoken.ts), role-uids.json (the uids it allocated
// to roles), tasks/ (one checkpoint per task it runs, 0700) and sandboxes/ (one directory per task,
// 0711: a task reaches its own but cannot list the others).

import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MusterError } from '../core/index.js';
import type { Logger } from '../log/index.js';

/** MAX_STATE_FILE_BYTES bounds what we read back from agent.json and checkpoints. */
export const MAX_STATE_FILE_BYTES = 8 * 1024 * 1024;

/** prepareWorkDir creates the work dir and proves it writable, so a bad --work-dir fails the start. */
export function prepareWorkDir(workDir: string): string {
  const dir = path.resolve(workDir);
  const probe = path.join(dir, `.write-probe-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true });
    // Checkpoints hold the tasks' environments (their secrets): the agent's alone. Tasks pass
    // through sandboxes/ to their own sandbox but may not list the others.
    closeTo(path.join(dir, 'tasks'), TASKS_DIR_MODE);
    closeTo(path.join(dir, 'sandboxes'), SANDBOXES_DIR_MODE);
    writeFileSync(probe, 'ok');
    rmSync(probe, { force: true });
  } catch (err) {
    throw new MusterError('INVALID_ARGUMENT', `Cannot use work dir ${dir}: it is not a writable directory (${describe(err)})`, {
      cause: err,
    });
  }
  return dir;
}

/** TASKS_DIR_MODE: task checkpoints are the agent's alone. */
const TASKS_DIR_MODE = 0o700;
/** SANDBOXES_DIR_MODE: searchable, so a task reaches its sandbox by path, but not listable. */
const SANDBOXES_DIR_MODE = 0o711;

/**
 * closeTo makes the directory if needed and sets its mode, also on a work dir made by an older
 * agent. A directory the agent does not own (an agent that is not root, in a shared work dir) is
 * left as it is: such an agent isolates nothing anyway.
 */
function closeTo(dir: string, mode: number): void {
  mkdirSync(dir, { recursive: true, mode });
  try {
    chmodSync(dir, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
  }
}

/** writeJsonAtomic writes through a temporary file and a rename, so a crash never leaves half a file. */
export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, file);
}

/** readAgentId returns the id persisted in agent.json, or undefined (none yet, or unreadable). */
export function readAgentId(workDir: string, logger: Logger): string | undefined {
  const file = path.join(workDir, 'agent.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn('cannot read agent.json; subscribing as a new agent', { error: err });
    return undefined;
  }
  try {
    if (text.length > MAX_STATE_FILE_BYTES) throw new Error('file is too large');
    const doc = JSON.parse(text) as unknown;
    const id = typeof doc === 'object' && doc !== null ? (doc as { agentId?: unknown }).agentId : undefined;
    if (isAgentId(id)) return id;
    throw new Error('agentId is missing or malformed');
  } catch (err) {
    logger.warn('agent.json is not valid; subscribing as a new agent', { error: err });
    return undefined;
  }
}

/** writeAgentId persists the id the master assigned, sent again on every later SUBSCRIBE. */
export function writeAgentId(workDir: string, agentId: string): void {
  writeJsonAtomic(path.join(workDir, 'agent.json'), { agentId });
}

/** isAgentId: what we accept as an agent id from the master or from agent.json. */
export function isAgentId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= 256;
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? (err instanceof Error ? err.message : String(err));
}

/**
 * workDirProblems says what in the work dir's place will trouble isolated tasks, one sentence each:
 * a directory on the way that other users cannot pass (tasks run as their role's user work in
 * their sandbox, entered by descriptor, but cannot reach it by its path). A work dir under /tmp is
 * fine: the supervisor binds each sandbox back at its own path inside the task's private /tmp.
 */
export function workDirProblems(workDir: string, isolation: { otherUsers: boolean }): string[] {
  const problems: string[] = [];
  if (isolation.otherUsers) {
    const closed = unsearchableAncestor(workDir);
    if (closed !== undefined) {
      problems.push(`${closed} is not searchable by other users: tasks running as their role's user can work in their sandbox but not reach it by its path ($MUSTER_SANDBOX); chmod o+x it, or use a work dir elsewhere`);
    }
  }
  return problems;
}

/** unsearchableAncestor: the first directory from / down to dir that other users cannot pass through. */
function unsearchableAncestor(dir: string): string | undefined {
  const chain: string[] = [];
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    chain.unshift(at);
    if (path.dirname(at) === at) break;
  }
  for (const d of chain) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return d;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
