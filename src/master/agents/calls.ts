// parseAgentCall validates what an agent sends before the master believes any of it: a bad or
// hostile agent gets a 400 naming the field, never a corrupt log. Every part of a call is bounded
// (AGENT_CALL_LIMITS, and each string), and the long lists of SUBSCRIBE and USAGE are checked a
// slice at a time, yielding to the event loop between slices, so that no call holds the master up
// for more than a few milliseconds: a 1.7 MB USAGE once froze a master for seconds, long enough
// for every agent to time out and subscribe again.

import { z } from 'zod';
import {
  MusterError,
  TASK_REASONS,
  controlCharacterProblem,
  quoted,
  TASK_STATES,
  cpusToMilli,
  isMilliPrecise,
  isSafeId,
  parseRanges,
  type Resources,
} from '../../core/index.js';
import type { AgentCall, AgentInfo, RunningTask, TaskStatus } from '../../protocol/index.js';

/**
 * AGENT_CALL_LIMITS bound one agent call. An agent reports every task it runs in SUBSCRIBE and in
 * each USAGE; each task is a process tree with its own supervisor, and no machine runs thousands.
 */
export const AGENT_CALL_LIMITS = {
  /** The request body, in bytes (4096 tasks with long ids fit). */
  bytes: 1024 * 1024,
  /** JSON values in the body: the tasks' fields, and room for the rest. */
  jsonValues: 32 * 1024,
  /** Tasks in one SUBSCRIBE or one USAGE. */
  tasks: 4096,
  /** Attributes of an agent. */
  attributes: 64,
  /** List entries checked between two turns of the event loop. */
  slice: 256,
} as const;

const safeId = z.string().refine(isSafeId, 'not a valid id (letters, digits, . _ -; at most 200)');

/** plain refuses control characters: what an agent says of itself is shown in listings and terminals. */
const plain = (schema: z.ZodString) =>
  schema.superRefine((text, ctx) => {
    const why = controlCharacterProblem(text);
    if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
  });
const label = plain(z.string().min(1).max(255));

const resourcesView = z.strictObject({
  cpus: z.number().min(0).max(100_000).refine(isMilliPrecise, 'cpus must have at most 3 decimals'),
  mem: z.number().int().min(0),
  disk: z.number().int().min(0),
  gpus: z.number().int().min(0).max(1024),
  ports: z.string().max(10_000),
});

const agentInfo = z.strictObject({
  agentId: safeId.optional(),
  hostname: label,
  address: label,
  port: z.number().int().min(1).max(65535),
  resources: resourcesView,
  // Counted before each attribute is checked: a hostile agent's 100,000 attributes cost one count.
  attributes: z
    .custom<Record<string, unknown>>((a) => a !== null && typeof a === 'object' && !Array.isArray(a) && Object.keys(a).length <= AGENT_CALL_LIMITS.attributes, {
      message: `an object of at most ${AGENT_CALL_LIMITS.attributes} attributes`,
    })
    .pipe(z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), plain(z.string().max(256)))),
  version: plain(z.string().max(64)),
  isolation: plain(z.string().max(512)).optional(),
  // The agent's API token (src/agent/apitoken.ts). Its value never appears in an error message.
  apiToken: z.string().regex(/^[A-Za-z0-9_-]{16,256}$/, 'not an API token (16 to 256 letters, digits, - and _)').optional(),
  tls: z.boolean().optional(),
});

/** Port ranges as resources write them; parsed again where they are used, bounded here. */
const portRanges = z.string().max(10_000).refine((text) => {
  try {
    parseRanges(text);
    return true;
  } catch {
    return false;
  }
}, 'not port ranges like "[31000-31005,31010-31010]"');

const runningTask = z.strictObject({ taskId: safeId, state: z.enum(TASK_STATES) });

const taskUsage = z.strictObject({
  taskId: safeId,
  cpuSecs: z.number().finite().min(0),
  memBytes: z.number().int().min(0),
  diskBytes: z.number().int().min(0),
  timestamp: z.number().finite(),
});

/** A list whose entries parseAgentCall checks a slice at a time, once the rest of the call is known to be sound. */
const taskList = z.array(z.unknown()).max(AGENT_CALL_LIMITS.tasks, `at most ${AGENT_CALL_LIMITS.tasks} tasks in one call`);

const taskStatus = z.strictObject({
  taskId: safeId,
  state: z.enum(TASK_STATES),
  reason: z.enum(TASK_REASONS).optional(),
  message: z.string().max(4096).optional(),
  uuid: z.string().min(1).max(64),
  timestamp: z.number().finite(),
  healthy: z.boolean().optional(),
});

const call = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('SUBSCRIBE'),
    subscribe: z.strictObject({ agent: agentInfo, tasks: taskList, busyPorts: portRanges.optional() }),
  }),
  z.strictObject({ type: z.literal('UPDATE'), agentId: safeId, update: z.strictObject({ status: taskStatus }) }),
  z.strictObject({ type: z.literal('HEARTBEAT'), agentId: safeId }),
  z.strictObject({
    type: z.literal('USAGE'),
    agentId: safeId,
    usage: z.strictObject({ tasks: taskList, busyPorts: portRanges.optional() }),
  }),
  z.strictObject({ type: z.literal('STOPPING'), agentId: safeId }),
  z.strictObject({
    type: z.literal('RECONCILE'),
    agentId: safeId,
    reconcile: z.strictObject({ session: z.string().min(1).max(64), seen: z.number().int().min(0), tasks: taskList }),
  }),
]);

const reconciledTask = z.strictObject({ taskId: safeId, state: z.enum(TASK_STATES), settled: z.boolean() });

/**
 * parseAgentCall checks a call: first its envelope (everything but the entries of its task list),
 * then those entries, AGENT_CALL_LIMITS.slice at a time with a turn of the event loop between.
 */
export async function parseAgentCall(body: unknown): Promise<AgentCall> {
  const r = call.safeParse(body);
  if (!r.success) throw refusal(r.error.issues[0], []);
  const envelope = r.data;
  switch (envelope.type) {
    case 'SUBSCRIBE': {
      const tasks = await checkEach(envelope.subscribe.tasks, runningTask, ['subscribe', 'tasks']);
      const checked = stripUndefined({ ...envelope, subscribe: { ...envelope.subscribe, tasks: [] } }) as Extract<AgentCall, { type: 'SUBSCRIBE' }>;
      checked.subscribe.tasks = tasks;
      return checked;
    }
    case 'USAGE': {
      const tasks = await checkEach(envelope.usage.tasks, taskUsage, ['usage', 'tasks']);
      const checked = stripUndefined({ ...envelope, usage: { ...envelope.usage, tasks: [] } }) as Extract<AgentCall, { type: 'USAGE' }>;
      checked.usage.tasks = tasks;
      return checked;
    }
    case 'RECONCILE': {
      const tasks = await checkEach(envelope.reconcile.tasks, reconciledTask, ['reconcile', 'tasks']);
      return { type: 'RECONCILE', agentId: envelope.agentId, reconcile: { session: envelope.reconcile.session, seen: envelope.reconcile.seen, tasks } };
    }
    default:
      return stripUndefined(envelope) as AgentCall;
  }
}

/** checkEach checks a list's entries against schema, a slice at a time; the first bad one is refused naming its field. */
async function checkEach<T>(items: readonly unknown[], schema: z.ZodType<T>, at: (string | number)[]): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < items.length; i++) {
    if (i > 0 && i % AGENT_CALL_LIMITS.slice === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const r = schema.safeParse(items[i]);
    if (!r.success) throw refusal(r.error.issues[0], [...at, i]);
    out.push(r.data);
  }
  return out;
}

function refusal(issue: z.core.$ZodIssue | undefined, at: (string | number)[]): MusterError {
  const path = [...at, ...(issue?.path ?? [])].map((p) => (typeof p === 'string' && !/^[A-Za-z0-9_.-]{1,64}$/.test(p) ? quoted(p) : String(p)));
  return new MusterError('INVALID_ARGUMENT', `agent call: field "${path.join('.')}": ${issue?.message ?? 'invalid'}`);
}

/** zod leaves optional fields as explicit undefined; exactOptionalPropertyTypes wants them absent. */
function stripUndefined(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripUndefined);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = stripUndefined(x);
    return out;
  }
  return v;
}

/** resourcesOf reads an agent's advertised resources into exact form. */
export function resourcesOf(info: AgentInfo): Resources {
  const r = info.resources;
  return { cpusMilli: cpusToMilli(r.cpus), memMiB: r.mem, diskMiB: r.disk, gpus: r.gpus, ports: parseRanges(r.ports, 'resources.ports') };
}

export type { AgentInfo, RunningTask, TaskStatus };
