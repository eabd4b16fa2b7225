// Validation of the TaskInfo of a LAUNCH. The master validated the job already, but the agent
// trusts nothing from the wire: a task id becomes a directory name, a command runs as a process,
// and a bug or a version skew on the master must end in a clear TASK_ERROR, not in a crash.

import { checkKeyPart, isSafeId, LIMITS, parseJobKey } from '../core/index.js';
import type { TaskInfo } from '../protocol/index.js';

/** TaskCheck is a valid task, or why not (with its id, if it has one we can report under). */
export type TaskCheck = { ok: true; task: TaskInfo } | { ok: false; taskId: string | undefined; message: string };

const PORT_NAME = /^[a-z][a-z0-9_]{0,31}$/;
const PROCESS_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** A reportable id is short enough to echo back in a status update, even if it is not a safe one. */
const MAX_REPORTABLE_ID = 256;

/** checkTaskInfo validates a LAUNCH's task field and returns a copy holding only known fields. */
export function checkTaskInfo(raw: unknown): TaskCheck {
  const t = isRecord(raw) ? raw : {};
  const taskId =
    typeof t['taskId'] === 'string' && t['taskId'].length > 0 && t['taskId'].length <= MAX_REPORTABLE_ID ? t['taskId'] : undefined;
  const problem = findProblem(t);
  if (problem !== undefined) return { ok: false, taskId, message: `Invalid task: ${problem}` };
  const resources = t['resources'] as Record<string, unknown>;
  const task: TaskInfo = {
    taskId: t['taskId'] as string,
    job: t['job'] as string,
    instance: t['instance'] as number,
    kind: t['kind'] as TaskInfo['kind'],
    role: t['role'] as string,
    resources: {
      cpus: resources['cpus'] as number,
      mem: resources['mem'] as number,
      disk: resources['disk'] as number,
      gpus: resources['gpus'] as number,
      ports: resources['ports'] as string,
    },
    ports: { ...(t['ports'] as Record<string, number>) },
    processes: (t['processes'] as { name: string; cmd: string }[]).map((p) => ({ name: p.name, cmd: p.cmd })),
    env: { ...(t['env'] as Record<string, string>) },
    killGraceSecs: t['killGraceSecs'] as number,
  };
  return { ok: true, task };
}

function findProblem(t: Record<string, unknown>): string | undefined {
  const id = t['taskId'];
  if (typeof id !== 'string' || !isSafeId(id)) {
    return 'taskId must be 1-200 letters, digits, ".", "_" or "-", starting with a letter or digit';
  }
  if (typeof t['job'] !== 'string') return 'job must be role/env/name';
  try {
    parseJobKey(t['job']);
  } catch (err) {
    return err instanceof Error ? err.message : 'job must be role/env/name';
  }
  const instance = t['instance'];
  if (!Number.isInteger(instance) || (instance as number) < 0 || (instance as number) >= LIMITS.instances) {
    return `instance must be a whole number from 0 to ${LIMITS.instances - 1}`;
  }
  if (t['kind'] !== 'service' && t['kind'] !== 'batch') return 'kind must be service or batch';
  if (typeof t['role'] !== 'string' || checkKeyPart(t['role']) !== undefined) return 'role is not a valid role name';
  const grace = t['killGraceSecs'];
  if (typeof grace !== 'number' || !Number.isFinite(grace) || grace < 0 || grace > LIMITS.killGraceSecs) {
    return `killGraceSecs must be a number from 0 to ${LIMITS.killGraceSecs}`;
  }
  return checkResources(t['resources']) ?? checkPorts(t['ports']) ?? checkProcesses(t['processes']) ?? checkEnv(t['env']);
}

function checkResources(r: unknown): string | undefined {
  if (!isRecord(r)) return 'resources must be an object';
  for (const name of ['cpus', 'mem', 'disk', 'gpus'] as const) {
    const v = r[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return `resources.${name} must be a non-negative number`;
  }
  if (typeof r['ports'] !== 'string' || r['ports'].length > 4096) return 'resources.ports must be a list of ranges';
  return undefined;
}

function checkPorts(ports: unknown): string | undefined {
  if (!isRecord(ports)) return 'ports must be an object of name: number';
  const names = Object.keys(ports);
  if (names.length > LIMITS.ports) return `a task can have at most ${LIMITS.ports} ports`;
  for (const name of names) {
    if (!PORT_NAME.test(name)) return `port name "${name.slice(0, 40)}" must be 1-32 lowercase letters, digits or _`;
    const port = ports[name];
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) return `port ${name} must be a number from 1 to 65535`;
  }
  return undefined;
}

function checkProcesses(processes: unknown): string | undefined {
  if (!Array.isArray(processes) || processes.length === 0) return 'processes must be a non-empty list';
  if (processes.length > LIMITS.processes) return `a task can have at most ${LIMITS.processes} processes`;
  const seen = new Set<string>();
  for (const p of processes as unknown[]) {
    if (!isRecord(p) || typeof p['name'] !== 'string' || !PROCESS_NAME.test(p['name'])) {
      return 'each process needs a name of 1-63 lowercase letters, digits, _ or -';
    }
    if (seen.has(p['name'])) return `process name "${p['name']}" is used twice`;
    seen.add(p['name']);
    const cmd = p['cmd'];
    if (typeof cmd !== 'string' || cmd.length === 0 || cmd.length > LIMITS.cmdLength || cmd.includes('\0')) {
      return `process ${p['name']}: cmd must be 1-${LIMITS.cmdLength} characters`;
    }
  }
  return undefined;
}

function checkEnv(env: unknown): string | undefined {
  if (!isRecord(env)) return 'env must be an object of name: value';
  const names = Object.keys(env);
  if (names.length > LIMITS.envVars) return `a task can have at most ${LIMITS.envVars} environment variables`;
  for (const name of names) {
    if (!ENV_NAME.test(name)) return `environment variable name "${name.slice(0, 40)}" is not valid`;
    const value = env[name];
    if (typeof value !== 'string' || value.length > LIMITS.envValueLength || value.includes('\0')) {
      return `environment variable ${name} must be a string of at most ${LIMITS.envValueLength} characters`;
    }
  }
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
