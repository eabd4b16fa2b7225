// parseAgentCall validates what an agent sends before the master believes any of it: a bad or
// hostile agent gets a 400 naming the field, never a corrupt log.

import { z } from 'zod';
import {
  MusterError,
  TASK_REASONS,
  TASK_STATES,
  cpusToMilli,
  isMilliPrecise,
  isSafeId,
  parseRanges,
  type Resources,
} from '../../core/index.js';
import type { AgentCall, AgentInfo, RunningTask, TaskStatus } from '../../protocol/index.js';

const safeId = z.string().refine(isSafeId, 'not a valid id (letters, digits, . _ -; at most 200)');
const label = z.string().min(1).max(255);

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
  attributes: z
    .record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), z.string().max(256))
    .refine((a) => Object.keys(a).length <= 64, 'at most 64 attributes'),
  version: z.string().max(64),
  isolation: z.string().max(512).optional(),
  // The agent's API token (src/agent/apitoken.ts). Its value never appears in an error message.
  apiToken: z.string().regex(/^[A-Za-z0-9_-]{16,256}$/, 'not an API token (16 to 256 letters, digits, - and _)').optional(),
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
    subscribe: z.strictObject({ agent: agentInfo, tasks: z.array(runningTask).max(100_000), busyPorts: portRanges.optional() }),
  }),
  z.strictObject({ type: z.literal('UPDATE'), agentId: safeId, update: z.strictObject({ status: taskStatus }) }),
  z.strictObject({ type: z.literal('HEARTBEAT'), agentId: safeId }),
  z.strictObject({
    type: z.literal('USAGE'),
    agentId: safeId,
    usage: z.strictObject({
      tasks: z
        .array(
          z.strictObject({
            taskId: safeId,
            cpuSecs: z.number().finite().min(0),
            memBytes: z.number().int().min(0),
            diskBytes: z.number().int().min(0),
            timestamp: z.number().finite(),
          }),
        )
        .max(100_000),
      busyPorts: portRanges.optional(),
    }),
  }),
  z.strictObject({ type: z.literal('STOPPING'), agentId: safeId }),
]);

export function parseAgentCall(body: unknown): AgentCall {
  const r = call.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue === undefined ? '' : issue.path.join('.');
    throw new MusterError('INVALID_ARGUMENT', `agent call: field "${field}": ${issue?.message ?? 'invalid'}`);
  }
  return stripUndefined(r.data) as AgentCall;
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
