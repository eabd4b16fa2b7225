// Validation of the TaskInfo of a LAUNCH. The master validated the job already, but the agent
// trusts nothing from the wire: a task id becomes a directory name, a command runs as a process,
// and a bug or a version skew on the master must end in a clear TASK_ERROR, not in a crash.

import { checkKeyPart, containerSchema, gpusToMilli, isGpuAmount, isSafeId, LIMITS, parseJobKey } from '../core/index.js';
import type { HealthCheck } from '../core/index.js';
import type { TaskGpu, TaskInfo } from '../protocol/index.js';

/** TaskCheck is a valid task, or why not (with its id, if it has one we can report under). */
export type TaskCheck = { ok: true; task: TaskInfo } | { ok: false; taskId: string | undefined; message: string };

const PORT_NAME = /^[a-z][a-z0-9_]{0,31}$/;
const PROCESS_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** A reportable id is short enough to echo back in a status update, even if it is not a safe one. */
const MAX_REPORTABLE_ID = 256;

/** GPU_MILLI is one whole GPU device in the milli of TaskInfo.gpus. */
const GPU_MILLI = 1000;
const GPU_FIELDS = new Set(['device', 'milli']);

/** AgentFacts is what of the agent a task is checked against: how many GPU devices it offers. */
export interface AgentFacts {
  gpus: number;
}

/**
 * checkTaskInfo validates a LAUNCH's task field and returns a copy holding only known fields. The
 * GPU devices it names must be the agent's (agent absent: an agent without GPUs).
 */
export function checkTaskInfo(raw: unknown, agent: AgentFacts = { gpus: 0 }): TaskCheck {
  const t = isRecord(raw) ? raw : {};
  const taskId =
    typeof t['taskId'] === 'string' && t['taskId'].length > 0 && t['taskId'].length <= MAX_REPORTABLE_ID ? t['taskId'] : undefined;
  const problem = findProblem(t) ?? checkGpus(t['gpus'], (t['resources'] as Record<string, unknown>)['gpus'] as number, agent);
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
  if (t['health'] !== undefined) task.health = copyHealth(t['health'] as Record<string, unknown>);
  if (t['container'] !== undefined) task.container = containerSchema.parse(t['container']);
  const gpus = t['gpus'] as Record<string, unknown>[] | undefined;
  if (gpus !== undefined && gpus.length > 0) task.gpus = gpus.map((g) => ({ device: g['device'] as number, milli: g['milli'] as number }));
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
  return (
    checkResources(t['resources']) ??
    checkPorts(t['ports']) ??
    checkContainer(t['container']) ??
    checkProcesses(t['processes'], t['container'] !== undefined) ??
    checkEnv(t['env']) ??
    (t['health'] === undefined ? undefined : checkHealth(t['health'], t['ports'] as Record<string, unknown>))
  );
}

function checkResources(r: unknown): string | undefined {
  if (!isRecord(r)) return 'resources must be an object';
  for (const name of ['cpus', 'mem', 'disk', 'gpus'] as const) {
    const v = r[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return `resources.${name} must be a non-negative number`;
  }
  const gpus = r['gpus'] as number;
  if (!isGpuAmount(gpus) || gpus > LIMITS.gpus) {
    return `resources.gpus must be whole devices up to ${LIMITS.gpus} or a share of one device below 1 with at most 3 decimals`;
  }
  if (typeof r['ports'] !== 'string' || r['ports'].length > 4096) return 'resources.ports must be a list of ranges';
  return undefined;
}

/**
 * checkGpus validates the devices the master chose against the task's gpus and the agent: one
 * entry per whole GPU, each of 1000 milli, or a single entry of the task's share; every device
 * one of the agent's, none named twice. A task with GPUs must name its devices: without them it
 * could only be given all of the agent's GPUs or none.
 */
function checkGpus(raw: unknown, gpus: number, agent: AgentFacts): string | undefined {
  const wanted = gpusToMilli(gpus);
  if (raw === undefined) return wanted === 0 ? undefined : `the task asks for ${gpus} gpus but names no GPU devices`;
  if (!Array.isArray(raw) || raw.length > LIMITS.gpus) return `gpus must be a list of at most ${LIMITS.gpus} devices`;
  const seen = new Set<number>();
  for (const g of raw as unknown[]) {
    if (!isRecord(g)) return 'each of gpus must be an object of device and milli';
    const extra = Object.keys(g).find((k) => !GPU_FIELDS.has(k));
    if (extra !== undefined) return `gpus[].${extra.slice(0, 40)} is not a known field`;
    const device = g['device'];
    const milli = g['milli'];
    if (!Number.isInteger(device) || (device as number) < 0 || (device as number) >= LIMITS.gpus) {
      return `gpus: device must be a whole number from 0 to ${LIMITS.gpus - 1}`;
    }
    if (!Number.isInteger(milli) || (milli as number) < 1 || (milli as number) > GPU_MILLI) {
      return `gpus: device ${device as number} must have milli from 1 to ${GPU_MILLI}`;
    }
    if (seen.has(device as number)) return `gpus: device ${device as number} is named twice`;
    seen.add(device as number);
    if ((device as number) >= agent.gpus) {
      return agent.gpus === 0
        ? `GPU device ${device as number} is not on this agent, which has no GPUs`
        : `GPU device ${device as number} is not one of this agent's ${agent.gpus} GPUs (0-${agent.gpus - 1})`;
    }
  }
  const list = raw as TaskGpu[];
  if (wanted === 0) return list.length === 0 ? undefined : 'the task names GPU devices but asks for no gpus';
  if (wanted < GPU_MILLI) {
    // A share is of ONE device: a process cannot spread one CUDA context over two cards.
    const only = list.length === 1 ? list[0] : undefined;
    if (only === undefined || only.milli !== wanted) return `a share of ${gpus} gpus must be one device with milli ${wanted}`;
    return undefined;
  }
  if (list.length !== gpus || list.some((g) => g.milli !== GPU_MILLI)) {
    return `${gpus} whole gpus must be ${gpus} distinct devices of milli ${GPU_MILLI} each`;
  }
  return undefined;
}

/**
 * gpuConflict says why a task's GPU devices do not fit beside the agent's other live tasks: on
 * some device, its milli and theirs would add up past a whole device. undefined when they fit.
 */
export function gpuConflict(task: TaskInfo, others: Iterable<TaskInfo>): string | undefined {
  const mine = task.gpus ?? [];
  if (mine.length === 0) return undefined;
  const held = new Map<number, { milli: number; tasks: number; by: string[] }>();
  for (const other of others) {
    if (other.taskId === task.taskId) continue;
    for (const g of other.gpus ?? []) {
      const entry = held.get(g.device) ?? { milli: 0, tasks: 0, by: [] };
      entry.milli += g.milli;
      entry.tasks++;
      // A few names make the message useful; a device can have up to 1000 sharers.
      if (entry.by.length < 3) entry.by.push(other.taskId);
      held.set(g.device, entry);
    }
  }
  for (const g of mine) {
    const other = held.get(g.device);
    if (other === undefined || other.milli + g.milli <= GPU_MILLI) continue;
    const free = Math.max(0, GPU_MILLI - other.milli);
    const holders = `${other.tasks === 1 ? 'task' : 'tasks'} ${other.by.join(', ')}${other.tasks > other.by.length ? ` and ${other.tasks - other.by.length} more` : ''}`;
    return `GPU device ${g.device} has ${free} milli free, the task needs ${g.milli} (held by ${holders})`;
  }
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

/** checkContainer validates a task's container block with the job schema's own (it parses to a copy). */
function checkContainer(c: unknown): string | undefined {
  if (c === undefined) return undefined;
  const result = containerSchema.safeParse(c);
  if (result.success) return undefined;
  const issue = result.error.issues[0];
  return `container.${(issue?.path ?? []).join('.')}: ${issue?.message ?? 'is not valid'}`.slice(0, 300);
}

/** checkProcesses: a list of named commands; empty only for a task whose image's own command runs. */
function checkProcesses(processes: unknown, inImage: boolean): string | undefined {
  if (!Array.isArray(processes) || (processes.length === 0 && !inImage)) return 'processes must be a non-empty list';
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

// The health check arrives normalised (the master filled in every default), so every field is
// required here and an unknown one is refused: an agent that silently ignored a field it does not
// know (a newer master's) would run a different check than the job asked for.
const HEALTH_FIELDS = new Set(['http', 'tcp', 'command', 'gracePeriodSecs', 'intervalSecs', 'timeoutSecs', 'consecutiveFailures']);
const HTTP_FIELDS = new Set(['port', 'path', 'statuses']);
const HEALTH_PATH = /^\/[\x21-\x7e]{0,1023}$/;
const MAX_HEALTH_STATUSES = LIMITS.healthStatuses;
const MAX_CONSECUTIVE_FAILURES = LIMITS.healthFailures;

/** checkHealth validates a task's health check against the bounds of the job schema. */
function checkHealth(h: unknown, ports: Record<string, unknown>): string | undefined {
  if (!isRecord(h)) return 'health must be an object';
  const unknown = Object.keys(h).find((k) => !HEALTH_FIELDS.has(k));
  if (unknown !== undefined) return `health.${unknown.slice(0, 40)} is not a known field`;
  const kinds = (['http', 'tcp', 'command'] as const).filter((k) => h[k] !== undefined);
  if (kinds.length !== 1) return 'health needs exactly one of http, tcp or command';
  const timings: [string, number, number][] = [
    ['gracePeriodSecs', 0, LIMITS.healthSecs],
    ['intervalSecs', 0.1, LIMITS.healthSecs],
    ['timeoutSecs', 0.1, LIMITS.healthSecs],
  ];
  for (const [name, min, max] of timings) {
    const v = h[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) return `health.${name} must be a number from ${min} to ${max}`;
  }
  const failures = h['consecutiveFailures'];
  if (!Number.isInteger(failures) || (failures as number) < 1 || (failures as number) > MAX_CONSECUTIVE_FAILURES) {
    return `health.consecutiveFailures must be a whole number from 1 to ${MAX_CONSECUTIVE_FAILURES}`;
  }
  if (h['http'] !== undefined) return checkHttpHealth(h['http'], ports);
  if (h['tcp'] !== undefined) {
    const tcp = h['tcp'];
    if (!isRecord(tcp)) return 'health.tcp must be an object';
    const extra = Object.keys(tcp).find((k) => k !== 'port');
    if (extra !== undefined) return `health.tcp.${extra.slice(0, 40)} is not a known field`;
    return checkHealthPort('health.tcp.port', tcp['port'], ports);
  }
  const command = h['command'];
  if (!isRecord(command)) return 'health.command must be an object';
  const extra = Object.keys(command).find((k) => k !== 'cmd');
  if (extra !== undefined) return `health.command.${extra.slice(0, 40)} is not a known field`;
  const cmd = command['cmd'];
  if (typeof cmd !== 'string' || cmd.length === 0 || cmd.length > LIMITS.cmdLength || cmd.includes('\0')) {
    return `health.command.cmd must be 1-${LIMITS.cmdLength} characters`;
  }
  return undefined;
}

function checkHttpHealth(http: unknown, ports: Record<string, unknown>): string | undefined {
  if (!isRecord(http)) return 'health.http must be an object';
  const extra = Object.keys(http).find((k) => !HTTP_FIELDS.has(k));
  if (extra !== undefined) return `health.http.${extra.slice(0, 40)} is not a known field`;
  const portProblem = checkHealthPort('health.http.port', http['port'], ports);
  if (portProblem !== undefined) return portProblem;
  const path = http['path'];
  if (typeof path !== 'string' || !HEALTH_PATH.test(path)) {
    return 'health.http.path must start with / and be at most 1024 printable ASCII characters without spaces';
  }
  const statuses = http['statuses'];
  if (!Array.isArray(statuses) || statuses.length > MAX_HEALTH_STATUSES) {
    return `health.http.statuses must be a list of at most ${MAX_HEALTH_STATUSES} HTTP statuses`;
  }
  for (const s of statuses as unknown[]) {
    if (!Number.isInteger(s) || (s as number) < 100 || (s as number) > 599) return 'health.http.statuses must hold HTTP statuses from 100 to 599';
  }
  return undefined;
}

/** checkHealthPort refuses a port name the task was not given: the check would have nothing to reach. */
function checkHealthPort(field: string, port: unknown, ports: Record<string, unknown>): string | undefined {
  if (typeof port !== 'string' || !PORT_NAME.test(port)) return `${field} must be a port name`;
  if (!Object.hasOwn(ports, port)) {
    return `${field} "${port}" is not one of the task's ports (${Object.keys(ports).join(', ') || 'none'})`;
  }
  return undefined;
}

/** copyHealth copies a checked health check field by field, so nothing unknown rides along. */
function copyHealth(h: Record<string, unknown>): HealthCheck {
  const health: HealthCheck = {
    gracePeriodSecs: h['gracePeriodSecs'] as number,
    intervalSecs: h['intervalSecs'] as number,
    timeoutSecs: h['timeoutSecs'] as number,
    consecutiveFailures: h['consecutiveFailures'] as number,
  };
  const http = h['http'] as Record<string, unknown> | undefined;
  const tcp = h['tcp'] as Record<string, unknown> | undefined;
  const command = h['command'] as Record<string, unknown> | undefined;
  if (http !== undefined) {
    health.http = { port: http['port'] as string, path: http['path'] as string, statuses: [...(http['statuses'] as number[])] };
  } else if (tcp !== undefined) {
    health.tcp = { port: tcp['port'] as string };
  } else if (command !== undefined) {
    health.command = { cmd: command['cmd'] as string };
  }
  return health;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
