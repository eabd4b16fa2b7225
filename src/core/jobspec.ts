// JobSpec is what a user writes (YAML or JSON, camelCase, sizes with units) and what the master
// stores once it is validated and normalised: every default filled in, sizes in MiB, cpus a number
// of cores exact to the milli-core. The schema here is the only definition of a job's fields; the
// README's reference is written from it.

import { parseDocument } from 'yaml';
import { z } from 'zod';
import { containerSchema } from './container.js';
import { cronSchema } from './cron.js';
import { MAX_TEMPLATE_NAME, PARENT_FAILURE_POLICIES, RUN_SUFFIX } from './runs.js';
import { MusterError } from './errors.js';
import { MAX_INSTANCES, parseJobKey } from './jobkey.js';
import { nearestWord } from './nearest.js';
import { cpusToMilli, isMilliPrecise, parseSize, type ResourceRequest } from './resources.js';
import { controlCharacterProblem, quoted } from './text.js';
import { checkYamlShape } from './yamlshape.js';

// The text checks are the core's vocabulary too (the master checks agents' hostnames with them).
export { controlCharacterProblem, escapeControls, findControlCharacter, quoted, type ControlCharacter } from './text.js';

export const JOB_KINDS = ['service', 'batch', 'cron'] as const;
export type JobKind = (typeof JOB_KINDS)[number];
export const TIERS = ['preferred', 'preemptible', 'revocable'] as const;
export type Tier = (typeof TIERS)[number];

/** Limits that keep one job from being absurd; each is far beyond any real task. */
export const LIMITS = {
  instances: MAX_INSTANCES,
  cpus: 1024,
  memMiB: 64 * 1024 * 1024, // 64 TiB
  diskMiB: 1024 * 1024 * 1024, // 1 PiB
  gpus: 64,
  ports: 64,
  processes: 32,
  cmdLength: 16 * 1024,
  envVars: 256,
  envValueLength: 16 * 1024,
  priority: 1000,
  killGraceSecs: 3600,
  maxTaskFailures: 1000,
  backoffSecs: 24 * 3600,
  healthSecs: 3600,
  healthStatuses: 32,
  healthFailures: 1000,
  replaceAfterSecs: 7 * 24 * 3600,
} as const;

/**
 * UnreachablePolicy says what becomes of an instance whose agent is silent past the agent timeout
 * (its task TASK_UNREACHABLE): it is placed again elsewhere only after replaceAfterSecs more, and if
 * the original then comes back, killOnReturn says which copy survives (true: the replacement; false:
 * the original, and the replacement is killed). Exactly one copy survives either way.
 */
export interface UnreachablePolicy {
  replaceAfterSecs: number;
  killOnReturn: boolean;
}

/**
 * UNREACHABLE_DEFAULTS: a service is replaced at once (a second copy for a while costs less than an
 * instance missing), and keeps its replacement; a batch instance waits five minutes (a second run
 * of work that may have side effects costs more than a wait), and keeps its original, which has the
 * most of the work done.
 */
export const UNREACHABLE_DEFAULTS: Readonly<Record<JobKind, UnreachablePolicy>> = {
  service: { replaceAfterSecs: 0, killOnReturn: true },
  batch: { replaceAfterSecs: 300, killOnReturn: false },
  // A cron job's runs are batch jobs.
  cron: { replaceAfterSecs: 300, killOnReturn: false },
};

/** unreachablePolicy is a job's policy with its kind's defaults filled in (jobs stored before it existed have none). */
export function unreachablePolicy(spec: { kind: JobKind; unreachable?: { replaceAfterSecs?: number | undefined; killOnReturn?: boolean | undefined } | undefined }): UnreachablePolicy {
  const d = UNREACHABLE_DEFAULTS[spec.kind];
  return { replaceAfterSecs: spec.unreachable?.replaceAfterSecs ?? d.replaceAfterSecs, killOnReturn: spec.unreachable?.killOnReturn ?? d.killOnReturn };
}

/**
 * JOB_CONFIG_LIMITS bound a job config's text before it is parsed (see parseJobText): far beyond
 * any real config (the largest, with 256 variables and 32 processes, is under 3,000 tokens and a
 * few levels deep), and small enough that no config takes the master more than a few
 * milliseconds to read.
 */
export const JOB_CONFIG_LIMITS = {
  /** The text, in bytes: a larger request body is refused with 413. */
  bytes: 256 * 1024,
  /** Nesting of mappings and sequences (a job config needs 4). */
  depth: 32,
  /** YAML lexer tokens (each key, value, indicator, comment and line break counts one). */
  yamlTokens: 4096,
  /** JSON values (each key's value, array item, object and array counts one). */
  jsonValues: 4096,
  /** YAML aliases (*name); each is also expanded at most maxAliasCount times. */
  aliases: 32,
} as const;

/** withoutControls refuses a control character; tabAndNewline allows those two (commands, variables). */
const withoutControls = (schema: z.ZodString, tabAndNewline: boolean) =>
  schema.superRefine((text, ctx) => {
    const why = controlCharacterProblem(text, { allowTabNewline: tabAndNewline });
    if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
  });

/** A command run by a shell: a script may have tabs and several lines, nothing else out of the ordinary. */
const cmdSchema = withoutControls(z.string().min(1, 'cmd is empty').max(LIMITS.cmdLength, `cmd is longer than ${LIMITS.cmdLength} characters`), true);

const size = (field: string, max: number) =>
  z.union([z.number(), z.string()]).transform((v, ctx) => {
    const control = typeof v === 'string' ? controlCharacterProblem(v) : undefined;
    if (control !== undefined) {
      ctx.addIssue({ code: 'custom', message: control });
      return z.NEVER;
    }
    const parsed = parseSize(v);
    if ('error' in parsed) {
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return z.NEVER;
    }
    if (parsed.mib > max) {
      ctx.addIssue({ code: 'custom', message: `${field} of ${parsed.mib} MiB is more than the limit of ${max} MiB` });
      return z.NEVER;
    }
    return parsed.mib;
  });

const portName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,31}$/, 'a port name is 1-32 lowercase letters, digits or _, starting with a letter');

const processSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'a process name is 1-63 lowercase letters, digits, _ or -'),
  cmd: cmdSchema,
});

const resourcesSchema = z.strictObject({
  cpus: z
    .number({ error: 'cpus must be a number of cores, e.g. 0.25' })
    .gt(0, 'cpus must be more than 0')
    .max(LIMITS.cpus, `cpus must be at most ${LIMITS.cpus}`)
    .refine(isMilliPrecise, 'cpus can have at most 3 decimals (milli-cores)'),
  mem: size('mem', LIMITS.memMiB).refine((v) => v >= 1, 'mem must be at least 1MiB'),
  disk: size('disk', LIMITS.diskMiB).default(0),
  gpus: z
    .number({ error: 'gpus must be a number of devices, e.g. 1, or a share of one device, e.g. 0.5' })
    .min(0, 'gpus must not be negative')
    .max(LIMITS.gpus, `gpus must be at most ${LIMITS.gpus}`)
    .refine((g) => Number.isInteger(g) || (g < 1 && isMilliPrecise(g)), 'gpus is whole devices (1, 2, …) or a share of one device below 1 with at most 3 decimals (0.25)')
    .default(0),
  ports: z
    .array(portName)
    .max(LIMITS.ports)
    .default([])
    .refine((a) => new Set(a).size === a.length, 'port names must be unique'),
});

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * healthSchema: exactly one of http, tcp or command, with Mesos's defaults for the timings. A check
 * that fails during the grace period does not count, and the first success ends the grace period.
 */
const healthSchema = z
  .strictObject({
    http: z
      .strictObject({
        port: portName,
        path: z.string().startsWith('/', 'path must start with /').max(1024).regex(/^[\x21-\x7e]+$/, 'path must be printable ASCII without spaces').default('/'),
        /** Statuses that count as healthy; empty means any 2xx or 3xx. */
        statuses: z.array(z.number().int().min(100).max(599)).max(LIMITS.healthStatuses).default([]),
      })
      .optional(),
    tcp: z.strictObject({ port: portName }).optional(),
    command: z.strictObject({ cmd: cmdSchema }).optional(),
    gracePeriodSecs: z.number().min(0).max(LIMITS.healthSecs).default(10),
    intervalSecs: z.number().min(0.1).max(LIMITS.healthSecs).default(10),
    timeoutSecs: z.number().min(0.1).max(LIMITS.healthSecs).default(20),
    consecutiveFailures: z.number().int().min(1).max(LIMITS.healthFailures).default(3),
  })
  .superRefine((h, ctx) => {
    const kinds = [h.http, h.tcp, h.command].filter((k) => k !== undefined).length;
    if (kinds !== 1) ctx.addIssue({ code: 'custom', message: 'a health check needs exactly one of http, tcp or command' });
  });

/** HealthCheck is a normalised health check, as the agent runs it. */
export type HealthCheck = z.output<typeof healthSchema>;

const backoffSchema = z.strictObject({
  initialSecs: z.number().min(0).max(LIMITS.backoffSecs).default(1),
  maxSecs: z.number().min(0).max(LIMITS.backoffSecs).default(60),
  stableSecs: z.number().min(0).max(LIMITS.backoffSecs).default(60),
});

/** A constraint value: "r1", "a|b", "!windows", "limit:1". */
const constraintValue = withoutControls(z.string().min(1).max(256), false)
  .superRefine((v, ctx) => {
    if (v.startsWith('limit:')) {
      const n = Number(v.slice('limit:'.length));
      if (!Number.isInteger(n) || n < 1) {
        ctx.addIssue({ code: 'custom', message: `"${v}": limit must be a whole number of at least 1, e.g. limit:1` });
      }
    } else if (v.replace(/^!/, '').split('|').some((s) => s.trim() === '')) {
      ctx.addIssue({ code: 'custom', message: `"${v}" has an empty value; write e.g. "r1", "a|b" or "!windows"` });
    }
  });

/** A count of instances, or a percentage of the job's ("25%"). */
const countOrPercent = (field: string) =>
  z.union(
    [
      z.number().int(`${field} must be a whole number or a percentage like "25%"`).min(1, `${field} must be at least 1`).max(LIMITS.instances, `${field} must be at most ${LIMITS.instances}`),
      z.string().regex(/^(100|[1-9][0-9]?)%$/, `${field} must be a whole number or a percentage from 1% to 100%, like "25%"`),
    ],
    { error: `${field} must be a whole number (at least 1) or a percentage like "25%"` },
  );

/**
 * updateSchema is a job's `update:` block: how an update (or a rolling restart) replaces its
 * instances, and the disruption budget every planned change (updates, restarts, host drains,
 * preemption) keeps to. Aurora's UpdateConfig, with Nomad's progress deadline and canaries; see
 * updateSettings for the defaults that depend on the job.
 */
const updateSchema = z.strictObject({
  /** Instances per batch, or batches of varying size ([1, 5, "25%"]: the last repeats). */
  batchSize: z
    .union([countOrPercent('batchSize'), z.array(countOrPercent('batchSize')).min(1, 'batchSize needs at least one size').max(32, 'batchSize lists at most 32 sizes')], {
      error: 'batchSize must be a whole number (at least 1), a percentage like "25%", or a list of them like [1, 5, "25%"]',
    })
    .default(1),
  /** batch: a batch starts once the one before has finished; queue: keep batchSize instances in flight. */
  strategy: z.enum(['batch', 'queue'], { error: 'strategy must be batch or queue' }).default('batch'),
  /** How long a new task must run (and be healthy, where the job has a health check) to count as updated. */
  watchSecs: z.number().min(0).max(LIMITS.healthSecs).default(30),
  /** Failed runs an instance's new task may have before the instance counts as failed. */
  maxPerInstanceFailures: z.number().int().min(0).max(LIMITS.maxTaskFailures).default(0),
  /** Failed instances the update tolerates; one more fails it (and rolls it back). */
  maxFailedInstances: z.number().int().min(0).max(LIMITS.instances).default(0),
  rollbackOnFailure: z.boolean({ error: 'rollbackOnFailure must be true or false' }).default(true),
  /** An instance whose new task is not running and healthy this long after it was replaced has failed. */
  progressDeadlineSecs: z.number().min(1).max(LIMITS.backoffSecs).default(600),
  /** Instances that may be down at once for a planned reason (default: the first batch's size). */
  maxUnavailable: countOrPercent('maxUnavailable').optional(),
  /** Instances updated first; the update then waits for `update promote` (or autoPromoteSecs of health). */
  canary: z
    .union([
      z.number().int().min(0).max(LIMITS.instances),
      z.strictObject({ count: z.number().int().min(1).max(LIMITS.instances), autoPromoteSecs: z.number().min(0).max(LIMITS.backoffSecs).optional() }),
    ])
    .default(0),
});

/** UpdateSettings is a job's update block resolved for an instance count: every size a number. */
export interface UpdateSettings {
  batchSizes: number[];
  strategy: 'batch' | 'queue';
  watchSecs: number;
  maxPerInstanceFailures: number;
  maxFailedInstances: number;
  rollbackOnFailure: boolean;
  progressDeadlineSecs: number;
  maxUnavailable: number;
  canary: number;
  autoPromoteSecs?: number;
}

/** ofCount resolves a count or percentage of `instances` (a percentage rounds down, but is never below 1). */
function ofCount(v: number | string, instances: number): number {
  if (typeof v === 'number') return v;
  return Math.max(1, Math.floor((Number(v.slice(0, -1)) * instances) / 100));
}

/**
 * updateSettings resolves a job's update block against its instance count. Specs stored before
 * the block grew have only batchSize: the rest take the defaults. maxUnavailable defaults to the
 * first batch's size, so that a job that says nothing is changed one batch at a time by everything.
 */
export function updateSettings(spec: { instances: number; update?: Partial<z.output<typeof updateSchema>> | undefined }, instances = spec.instances): UpdateSettings {
  const u = spec.update ?? {};
  const sizes = Array.isArray(u.batchSize) ? u.batchSize : [u.batchSize ?? 1];
  const batchSizes = sizes.map((v) => ofCount(v, Math.max(1, instances)));
  const canary = u.canary === undefined ? 0 : typeof u.canary === 'number' ? u.canary : u.canary.count;
  const autoPromoteSecs = typeof u.canary === 'object' ? u.canary.autoPromoteSecs : undefined;
  return {
    batchSizes,
    strategy: u.strategy ?? 'batch',
    watchSecs: u.watchSecs ?? 30,
    maxPerInstanceFailures: u.maxPerInstanceFailures ?? 0,
    maxFailedInstances: u.maxFailedInstances ?? 0,
    rollbackOnFailure: u.rollbackOnFailure ?? true,
    progressDeadlineSecs: u.progressDeadlineSecs ?? 600,
    maxUnavailable: u.maxUnavailable === undefined ? (batchSizes[0] ?? 1) : ofCount(u.maxUnavailable, Math.max(1, instances)),
    canary,
    ...(autoPromoteSecs === undefined ? {} : { autoPromoteSecs }),
  };
}

export const jobSpecSchema = z
  .strictObject({
    job: z.string({ error: 'job is required: role/env/name, e.g. web/prod/hello' }),
    kind: z.enum(JOB_KINDS, { error: `kind must be one of ${JOB_KINDS.join(', ')}` }).default('service'),
    instances: z.number().int('instances must be a whole number').min(1).max(LIMITS.instances).default(1),
    tier: z.enum(TIERS, { error: `tier must be one of ${TIERS.join(', ')}` }).default('preferred'),
    priority: z.number().int().min(0).max(LIMITS.priority).default(0),
    resources: resourcesSchema,
    /** Required unless container.docker is given: then the image's own command runs when there are none. */
    processes: z
      .array(processSchema)
      .max(LIMITS.processes)
      .default([])
      .refine((a) => new Set(a.map((p) => p.name)).size === a.length, 'process names must be unique'),
    env: z
      .record(z.string(), withoutControls(z.string().max(LIMITS.envValueLength), true))
      .default({})
      .superRefine((env, ctx) => {
        const names = Object.keys(env);
        if (names.length > LIMITS.envVars) ctx.addIssue({ code: 'custom', message: `at most ${LIMITS.envVars} variables` });
        for (const name of names) {
          if (!ENV_NAME.test(name)) {
            ctx.addIssue({ code: 'custom', path: [name], message: `${quoted(name)} is not a variable name` });
          } else if (name.startsWith('MUSTER_') || /^(HOST_)?PORT(_|\d)/.test(name) || name === 'MESOS_SANDBOX' || name === 'HOST' || name === 'CUDA_VISIBLE_DEVICES' || name === 'NVIDIA_VISIBLE_DEVICES') {
            ctx.addIssue({ code: 'custom', path: [name], message: `"${name}" is set by Muster and cannot be overridden` });
          }
        }
      }),
    maxTaskFailures: z.number().int().min(-1).max(LIMITS.maxTaskFailures).default(1),
    restartBackoff: backoffSchema.default({ initialSecs: 1, maxSecs: 60, stableSecs: 60 }),
    killGraceSecs: z.number().min(0).max(LIMITS.killGraceSecs).default(5),
    health: healthSchema.optional(),
    constraints: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'an attribute name'), constraintValue).default({}),
    /** The failure domain instances spread over: an agent attribute, or "host" (each agent its own domain). */
    spreadBy: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'spreadBy is an attribute name, e.g. host or rack').default('host'),
    /** What becomes of an instance whose agent goes silent (see UnreachablePolicy); defaults by kind. */
    unreachable: z
      .strictObject({
        replaceAfterSecs: z.number().min(0).max(LIMITS.replaceAfterSecs).optional(),
        killOnReturn: z.boolean({ error: 'killOnReturn must be true or false' }).optional(),
      })
      .optional(),
    /** How changes roll out (updates, restarts, drains): see updateSettings. */
    update: updateSchema.prefault({}),
    /** Run the tasks in a Docker image (see core/container.ts). */
    container: containerSchema.optional(),
    /** kind: cron: when it runs (see core/cron.ts). */
    cron: cronSchema.optional(),
    /** Jobs (role/env/name) whose runs must all have succeeded since this job's last run before it runs again (Chronos's parents). */
    after: z
      .array(z.string({ error: 'after lists job keys, role/env/name' }).max(200))
      .max(32, 'after lists at most 32 parents')
      .refine((a) => new Set(a).size === a.length, 'after lists each parent once')
      .optional(),
    /** A parent's run failed: skip this job's run (and say so), or run it anyway. */
    onParentFailure: z.enum(PARENT_FAILURE_POLICIES, { error: `onParentFailure must be one of ${PARENT_FAILURE_POLICIES.join(', ')}` }).optional(),
    /** How many runs of a cron or dependent job are kept, with their tasks (default CRON_DEFAULTS.runHistory, 10). */
    runHistory: z.number().int().min(1).max(1000).optional(),
  })
  .superRefine((spec, ctx) => {
    try {
      const { name } = parseJobKey(spec.job);
      if (RUN_SUFFIX.test(name)) {
        ctx.addIssue({ code: 'custom', path: ['job'], message: `a job name may not end in --<number>: that names the runs of cron and dependent jobs (${spec.job})` });
      } else if (hasRuns(spec) && name.length > MAX_TEMPLATE_NAME) {
        ctx.addIssue({ code: 'custom', path: ['job'], message: `the name of a cron or dependent job is at most ${MAX_TEMPLATE_NAME} characters (its runs add --<number>)` });
      }
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: ['job'], message: e instanceof Error ? e.message : String(e) });
    }
    runFieldProblems(spec, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
    const checkPort = spec.health?.http?.port ?? spec.health?.tcp?.port;
    if (checkPort !== undefined && !spec.resources.ports.includes(checkPort)) {
      const which = spec.health?.http !== undefined ? 'http' : 'tcp';
      ctx.addIssue({
        code: 'custom',
        path: ['health', which, 'port'],
        message: `port "${checkPort}" is not one of the job's ports (resources.ports: ${spec.resources.ports.join(', ') || 'none'})`,
      });
    }
    const docker = spec.container?.docker;
    if (spec.processes.length === 0 && docker === undefined) {
      ctx.addIssue({ code: 'custom', path: ['processes'], message: 'a job needs at least one process (or a container.docker image, whose own command runs)' });
    }
    if (docker !== undefined) {
      if (spec.processes.length > 0 && (docker.entrypoint !== undefined || docker.args !== undefined)) {
        ctx.addIssue({ code: 'custom', path: ['container', 'docker', docker.entrypoint !== undefined ? 'entrypoint' : 'args'], message: 'give processes (run by /bin/sh in the image) or entrypoint and args, not both' });
      }
      for (const name of Object.keys(docker.portMappings)) {
        if (!spec.resources.ports.includes(name)) {
          ctx.addIssue({ code: 'custom', path: ['container', 'docker', 'portMappings', name], message: `"${name}" is not one of the job's ports (resources.ports: ${spec.resources.ports.join(', ') || 'none'})` });
        }
      }
      if (docker.network === 'none' && (spec.resources.ports.length > 0 || spec.health?.http !== undefined || spec.health?.tcp !== undefined)) {
        ctx.addIssue({ code: 'custom', path: ['container', 'docker', 'network'], message: 'network none has no ports: drop resources.ports and http or tcp health checks, or use host or bridge' });
      }
    }
    if (spec.restartBackoff.maxSecs < spec.restartBackoff.initialSecs) {
      ctx.addIssue({ code: 'custom', path: ['restartBackoff', 'maxSecs'], message: 'maxSecs must be at least initialSecs' });
    }
  });

/** hasRuns: the job runs again and again, each run a batch job of its own (role/env/name--N): a cron job, or one that runs after others. */
export function hasRuns(spec: { kind: JobKind; after?: readonly string[] | undefined }): boolean {
  return spec.kind === 'cron' || (spec.after !== undefined && spec.after.length > 0);
}

/** runFieldProblems checks the fields of cron and dependent jobs against kind and each other. */
function runFieldProblems(
  spec: { job: string; kind: JobKind; cron?: unknown; after?: string[] | undefined; onParentFailure?: string | undefined; runHistory?: number | undefined },
  problem: (path: (string | number)[], message: string) => void,
): void {
  if (spec.kind === 'cron' && spec.cron === undefined) problem(['cron'], 'a cron job needs a cron block: cron: { schedule: "0 * * * *" }');
  if (spec.kind !== 'cron' && spec.cron !== undefined) problem(['cron'], `a cron block needs kind: cron (this job is a ${spec.kind})`);
  const after = spec.after ?? [];
  if (spec.kind === 'service' && after.length > 0) problem(['after'], 'a service runs all the time; only batch and cron jobs run after others');
  for (const [i, parent] of after.entries()) {
    try {
      parseJobKey(parent);
    } catch (e) {
      problem(['after', i], e instanceof Error ? e.message : String(e));
      continue;
    }
    if (parent === spec.job) problem(['after', i], `a job cannot run after itself (${parent})`);
  }
  if (!hasRuns(spec)) {
    if (spec.onParentFailure !== undefined) problem(['onParentFailure'], 'onParentFailure needs after: the jobs this one runs after');
    if (spec.runHistory !== undefined) problem(['runHistory'], 'runHistory is for cron jobs and jobs that run after others');
  }
}

/** JobSpec is a validated, normalised job: every field present, mem and disk in MiB. */
export type JobSpec = z.output<typeof jobSpecSchema>;
export type JobSpecInput = z.input<typeof jobSpecSchema>;

/** FieldProblem is one thing wrong with a job config, as the API's INVALID_JOB error lists it. */
export interface FieldProblem {
  /** The field as a person writes it, processes[0].cmd; "(top level)" for the config itself. */
  field: string;
  /** The same field as JSON keys and array indexes. */
  path: (string | number)[];
  /** What is wrong, in a sentence that names the field. */
  message: string;
  /** For an unknown field or value: the known one it most likely stands for. */
  suggestion?: string;
}

/** MAX_PROBLEMS bounds the problems an error lists; details.more counts the rest. */
export const MAX_PROBLEMS = 20;

/** fieldName writes a path as a person does: processes[0].cmd; a key that is long or holds control characters is quoted, env["A\u001b"]. */
function fieldName(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    const key = String(p);
    if (typeof p === 'number') out += `[${p}]`;
    else if (key.length > MAX_SUGGESTED_KEY || controlCharacterProblem(key) !== undefined) out += `[${quoted(key)}]`;
    else out += out === '' ? key : `.${key}`;
  }
  return out === '' ? '(top level)' : out;
}

function plainPath(path: readonly PropertyKey[]): (string | number)[] {
  return path.map((p) => (typeof p === 'number' ? p : String(p)));
}

/** valueAt reads the part of the document a path leads to, or undefined. */
function valueAt(doc: unknown, path: readonly PropertyKey[]): unknown {
  let at = doc;
  for (const p of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<PropertyKey, unknown>)[p];
  }
  return at;
}

/** objectSchemaAt follows a path through the job schema to the object found there, if any. */
function objectSchemaAt(path: readonly PropertyKey[]): z.ZodObject | undefined {
  const unwrap = (s: z.ZodType): z.ZodType => {
    for (;;) {
      if (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
      else if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
      else return s;
    }
  };
  let schema: z.ZodType = jobSpecSchema;
  for (const p of path) {
    const s = unwrap(schema);
    if (s instanceof z.ZodObject && typeof p === 'string' && Object.hasOwn(s.shape, p)) schema = s.shape[p] as z.ZodType;
    else if (s instanceof z.ZodArray && typeof p === 'number') schema = s.element as z.ZodType;
    else if (s instanceof z.ZodRecord) schema = s.valueType as z.ZodType;
    else return undefined;
  }
  const s = unwrap(schema);
  return s instanceof z.ZodObject ? s : undefined;
}

/** MAX_SUGGESTED_KEY: an unknown key longer than this gets no "did you mean" and is shown cut. */
const MAX_SUGGESTED_KEY = 64;

/**
 * unknownFieldProblems turns one object's unknown keys into problems that lead to the fix: the
 * known field each key most likely stands for (unless the object has it already), or else the
 * fields there are. `command:` for `cmd:` reads
 *   unknown field `command` in processes[0]; did you mean `cmd`?
 */
function unknownFieldProblems(doc: unknown, path: readonly PropertyKey[], keys: readonly string[]): FieldProblem[] {
  const known = Object.keys(objectSchemaAt(path)?.shape ?? {});
  const given = valueAt(doc, path);
  const has = (k: string): boolean => given !== null && typeof given === 'object' && Object.hasOwn(given, k);
  const where = path.length === 0 ? '' : ` in ${fieldName(path)}`;
  return keys.map((key) => {
    // No field name is long: a long key is nothing misspelt, and comparing it would cost its length squared.
    const nearest = key.length > MAX_SUGGESTED_KEY ? undefined : nearestWord(key, known);
    const shown = key.length > MAX_SUGGESTED_KEY || controlCharacterProblem(key) !== undefined ? quoted(key) : key;
    const problem: FieldProblem = { field: fieldName([...path, key]), path: plainPath([...path, key]), message: '' };
    if (nearest !== undefined && has(nearest)) {
      // The field it looks like is there too: `command` beside `cmd` is just extra.
      problem.message = `unknown field \`${shown}\`${where} (the config has \`${nearest}\` already)`;
    } else if (nearest !== undefined) {
      problem.message = `unknown field \`${shown}\`${where}; did you mean \`${nearest}\`?`;
      problem.suggestion = nearest;
    } else {
      problem.message = `unknown field \`${shown}\`${where}${known.length === 0 ? '' : ` (known fields: ${known.join(', ')})`}`;
    }
    return problem;
  });
}

/** docOrder places a path in the document as written: the position of each key in its object, each index in its array. */
function docOrder(doc: unknown, path: readonly (string | number)[]): number[] {
  const order: number[] = [];
  let at = doc;
  for (const p of path) {
    if (at === null || typeof at !== 'object') break;
    order.push(typeof p === 'number' ? p : Object.keys(at).indexOf(p));
    at = (at as Record<string | number, unknown>)[p];
  }
  return order;
}

function compareOrder(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a.length - b.length;
}

/**
 * problemsOf lists what is wrong with a document: unknown fields first, in the order they are
 * written (a misspelt field is often the cause of the rest: `command` makes `cmd` missing), then
 * the other problems in the schema's order.
 */
function problemsOf(doc: unknown, issues: readonly z.core.$ZodIssue[]): FieldProblem[] {
  const unknown: FieldProblem[] = [];
  const rest: FieldProblem[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      unknown.push(...unknownFieldProblems(doc, issue.path, issue.keys));
      continue;
    }
    const field = fieldName(issue.path);
    const value = valueAt(doc, issue.path);
    let message = issue.message;
    if ((issue.code === 'invalid_type' || issue.code === 'invalid_union') && value === undefined) {
      // Our own messages say what the field holds; zod's ("Invalid input: expected …") add nothing.
      if (/^Invalid input/.test(message)) message = 'is required';
      else if (!/\brequired\b/.test(message)) message = `is required: ${message}`;
    }
    const problem: FieldProblem = { field, path: plainPath(issue.path), message: `field "${field}": ${message}` };
    // A misspelt enum value ("servce") gets the value it most likely meant.
    if (issue.code === 'invalid_value' && typeof value === 'string') {
      const suggestion = nearestWord(value, issue.values.filter((v): v is string => typeof v === 'string'));
      if (suggestion !== undefined) {
        problem.message += `; did you mean \`${suggestion}\`?`;
        problem.suggestion = suggestion;
      }
    }
    rest.push(problem);
  }
  unknown.sort((a, b) => compareOrder(docOrder(doc, a.path), docOrder(doc, b.path)));
  return [...unknown, ...rest];
}

/**
 * validateJobSpec checks a parsed document against the schema. It throws INVALID_JOB whose message
 * names the first problem (an unknown field first of all) and counts the others, and whose details
 * list them all, up to MAX_PROBLEMS: { field, problems: FieldProblem[], more? }.
 */
export function validateJobSpec(doc: unknown): JobSpec {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new MusterError('INVALID_JOB', 'a job config must be a mapping of fields (job, kind, instances, resources, processes, ...)');
  }
  const result = jobSpecSchema.safeParse(doc);
  // Stored with its kind's defaults filled in, so that `job show` tells what will happen.
  if (result.success) return { ...result.data, unreachable: unreachablePolicy(result.data) };
  const problems = problemsOf(doc, result.error.issues);
  const first = problems[0] ?? { field: '(top level)', path: [], message: 'the job config is not valid' };
  const others = problems.length - 1;
  const more = others > 0 ? ` (and ${others} more problem${others > 1 ? 's' : ''})` : '';
  const details: Record<string, unknown> = { field: first.field, problems: problems.slice(0, MAX_PROBLEMS) };
  if (problems.length > MAX_PROBLEMS) details['more'] = problems.length - MAX_PROBLEMS;
  throw new MusterError('INVALID_JOB', `${first.message}${more}`, { details });
}

/**
 * parseJobText reads YAML (JSON is YAML too) into a plain document. Syntax errors name the line.
 * The text's size and shape are checked first, against JOB_CONFIG_LIMITS, so that no text can make
 * the parser run away: a larger one is PAYLOAD_TOO_LARGE, a deeper or wider one, or one with too
 * many aliases, INVALID_JOB naming the limit. Aliases are also expanded at most MAX_ALIAS_EXPANSION
 * times each (yaml's own guard against a billion laughs).
 */
export function parseJobText(text: string): unknown {
  if (text.length > JOB_CONFIG_LIMITS.bytes) {
    throw new MusterError('PAYLOAD_TOO_LARGE', `the job config is over the limit of ${JOB_CONFIG_LIMITS.bytes} bytes`, {
      details: { limit: JOB_CONFIG_LIMITS.bytes },
    });
  }
  const shape = checkYamlShape(text, { depth: JOB_CONFIG_LIMITS.depth, tokens: JOB_CONFIG_LIMITS.yamlTokens, aliases: JOB_CONFIG_LIMITS.aliases });
  if (shape !== undefined) {
    throw new MusterError('INVALID_JOB', `the job config cannot be read: ${shape.message}`, {
      details: { limit: shape.limit, max: limitOf(shape.limit), line: shape.line },
    });
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  const err = doc.errors[0];
  if (err !== undefined) {
    const pos = err.linePos?.[0];
    const where = pos === undefined ? '' : ` at line ${pos.line}, column ${pos.col}`;
    // yaml's pretty message is "<what> at line L, column C:" followed by a code excerpt; keep <what>.
    const what = (err.message.split('\n')[0] ?? err.message).replace(/ at line \d+, column \d+:?$/, '').slice(0, 200);
    throw new MusterError('INVALID_JOB', `the job config is not valid YAML${where}: ${what}`, {
      details: pos === undefined ? {} : { line: pos.line, column: pos.col },
    });
  }
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSION }) as unknown;
  } catch (e) {
    // yaml throws a ReferenceError for an alias expanded too often, or one to an unknown anchor.
    throw new MusterError('INVALID_JOB', `the job config cannot be read: ${e instanceof Error ? e.message.slice(0, 200) : String(e)}`);
  }
}

/** MAX_ALIAS_EXPANSION is yaml's maxAliasCount: how many times one alias's node may be repeated, weighed by its size. */
const MAX_ALIAS_EXPANSION = 50;

function limitOf(limit: 'depth' | 'tokens' | 'aliases'): number {
  if (limit === 'depth') return JOB_CONFIG_LIMITS.depth;
  return limit === 'tokens' ? JOB_CONFIG_LIMITS.yamlTokens : JOB_CONFIG_LIMITS.aliases;
}

/** requestOf is the resource request of one task of the job. */
export function requestOf(spec: JobSpec): ResourceRequest {
  const r = spec.resources;
  return { cpusMilli: cpusToMilli(r.cpus), memMiB: r.mem, diskMiB: r.disk, gpus: r.gpus, ports: r.ports };
}
