// Routes for jobs and tasks: /api/v1/jobs..., /api/v1/tasks... (a plan of a job: plan.ts)

import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  JOB_CONFIG_LIMITS,
  MAX_INSTANCES,
  MusterError,
  formatJobKey,
  CRON_DEFAULTS,
  minIntervalMs,
  isSafeId,
  isTerminal,
  parseJobKey,
  parseJobText,
  validateJobSpec,
  volumeProblem,
  type JobSpec,
} from '../../core/index.js';
import type { JobFacetsView, JobList, PendingInstanceView, TaskList, TaskView } from '../../protocol/index.js';
import { createJob, findJob, killInstances } from '../commands/jobs.js';
import { can, type Caller } from '../auth/index.js';
import type { EventLog } from '../eventlog.js';
import { MUSTER_FRAMEWORK_ID } from '../jobs/framework.js';
import type { CellState, JobRecord, TaskRecord } from '../state/index.js';
import { jobSummary, jobView, pendingInstanceView, taskView, type ViewContext } from '../views.js';
import { JSON_TYPE, mediaTypeOf, parseJson } from '../body.js';
import { readBody, readJson, sendJson, type RouteContext, type Router } from './router.js';
import { compareText, listParam, pageInfo, pageOf, parsePage, textParam } from './paging.js';

/** The media types a job config is taken in: JSON, and YAML under each name it goes by. */
const JOB_CONFIG_TYPES = [JSON_TYPE, 'application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'] as const;
/** A kill or restart names at most every instance a job can have. */
const MAX_KILL_BODY_BYTES = 256 * 1024;

export interface JobRoutesDeps {
  log: EventLog;
  view: () => ViewContext;
  policy: JobPolicy;
}

/** JobPolicy is what this cell allows of a job config beyond its schema (the master's flags). */
export interface JobPolicy {
  /** Host directories docker jobs may mount (--docker-volumes). */
  dockerVolumes: readonly string[];
  /** A cron schedule may not fire more often (--cron-min-interval; default CRON_DEFAULTS.minIntervalSecs). */
  cronMinIntervalSecs?: number;
  /** The zone of a cron job that names none (--cron-timezone; default UTC). */
  cronTimezone?: string;
}

/** checkJobPolicy refuses a config the cell's policy does not allow, naming the field (400). */
export function checkJobPolicy(spec: JobSpec, policy: JobPolicy): void {
  const cron = spec.cron;
  if (cron !== undefined) {
    // Stored with its zone: a later change of --cron-timezone does not move a job's times.
    cron.timezone ??= policy.cronTimezone ?? 'UTC';
    const min = policy.cronMinIntervalSecs ?? CRON_DEFAULTS.minIntervalSecs;
    const gap = minIntervalMs(cron.schedule, cron.timezone, Date.now());
    if (gap < min * 1000) {
      const field = 'cron.schedule';
      const why = `field "${field}": ${JSON.stringify(cron.schedule)} fires every ${gap / 1000} s at times; this cell runs cron jobs at most every ${min} s (--cron-min-interval)`;
      throw new MusterError('INVALID_JOB', why, { details: { field, problems: [{ field, path: ['cron', 'schedule'], message: why }] } });
    }
  }
  const volumes = spec.container?.docker.volumes ?? [];
  for (const [i, v] of volumes.entries()) {
    const why = volumeProblem(v.hostPath, policy.dockerVolumes);
    if (why === undefined) continue;
    const field = `container.docker.volumes[${i}].hostPath`;
    throw new MusterError('INVALID_JOB', why, { details: { field, problems: [{ field, path: ['container', 'docker', 'volumes', i, 'hostPath'], message: why }] } });
  }
}

export function addJobRoutes(router: Router, deps: JobRoutesDeps): void {
  const { log } = deps;

  // Lists show what the caller may read (job:read on the role), and leave the rest out.
  // Killed jobs are kept (--job-retention) but listed only with ?all=true, as before they were kept.
  // With ?limit= or ?offset= the list is paged (sorted by key) and says its total; ?role= ?env= ?q=
  // ?state= ?kind= filter it, and ?facets=true adds the jobs per role and env over the filters but role and env.
  router.add('GET', '/api/v1/jobs', ({ res, url, caller }) => {
    const ctx = deps.view();
    const readable = readableRoles(ctx.state, caller);
    const all = url.searchParams.get('all') === 'true';
    const filter = jobFilterOf(url);
    const page = parsePage(url);
    const shown = [...ctx.state.jobs.values()].filter((j) => (all || j.state !== 'KILLED' || filter.states?.has('KILLED') === true) && readable(roleOfKey(j.key)));
    const matching = shown.filter((j) => matchesJob(j, filter));
    if (page !== undefined) matching.sort((a, b) => compareText(a.key, b.key));
    const answer: JobList = { jobs: pageOf(matching, page).map((j) => jobSummary(ctx, j)), ...pageInfo(matching.length, page) };
    if (url.searchParams.get('facets') === 'true') answer.facets = jobFacets(shown.filter((j) => matchesJob(j, { ...filter, role: undefined, env: undefined })));
    sendJson(res, 200, answer);
  });

  router.add('POST', '/api/v1/jobs', async ({ req, res, url, caller }) => {
    const spec = await readJobSpec(req, url, deps.policy);
    const created = await log.submit((state, now) => createJob(state, now, caller, spec), caller.principal);
    sendJson(res, 201, created);
  });

  const jobPath = '/api/v1/jobs/:role/:env/:name';

  router.add(
    'GET',
    jobPath,
    ({ res, params }) => {
      const ctx = deps.view();
      sendJson(res, 200, jobView(ctx, findJob(ctx.state, keyOf(params))));
    },
    { permission: { action: 'job:read', role: ({ params }) => params['role'] ?? '' } },
  );

  const kill = async ({ req, res, params, caller }: RouteContext, restart: boolean): Promise<void> => {
    const key = keyOf(params);
    const asked = parseInstances(await readJson(req, MAX_KILL_BODY_BYTES));
    const updateId = randomUUID();
    const result = await log.submit((state, now) => killInstances(state, now, caller, { key, asked, restart, updateId }), caller.principal);
    sendJson(res, 202, result);
  };
  router.add('POST', `${jobPath}/kill`, (ctx) => kill(ctx, false));
  router.add('DELETE', jobPath, (ctx) => kill(ctx, false));
  router.add('POST', `${jobPath}/restart`, (ctx) => kill(ctx, true));

  router.add('GET', '/api/v1/tasks', ({ res, url, caller }) => {
    const ctx = deps.view();
    const readable = readableRoles(ctx.state, caller);
    const jobParam = url.searchParams.get('job');
    const all = url.searchParams.get('all') === 'true';
    // framework=muster: the built-in framework's tasks (jobs' instances); another id: that framework's.
    const frameworkParam = url.searchParams.get('framework');
    if (frameworkParam !== null && frameworkParam !== MUSTER_FRAMEWORK_ID && !ctx.state.frameworks.has(frameworkParam)) {
      throw new MusterError('NOT_FOUND', `no framework ${JSON.stringify(frameworkParam.slice(0, 80))}; see muster framework list`, { details: { field: 'framework' } });
    }
    const builtIn = frameworkParam === null || frameworkParam === MUSTER_FRAMEWORK_ID;
    // ?state= (task states, comma-separated) and ?agent= narrow the tasks; ?limit=/?offset= page them.
    const states = listParam(url, 'state');
    const agentParam = textParam(url, 'agent');
    const page = parsePage(url);
    const wanted = (t: TaskRecord): boolean => (states === undefined || states.has(t.state)) && (agentParam === undefined || t.agentId === agentParam);
    const jobs = !builtIn ? [] : jobParam === null ? [...ctx.state.jobs.values()] : [findJob(ctx.state, formatJobKey(parseJobKey(jobParam)))];
    const tasks: TaskView[] = [];
    // Pending instances come beside the tasks, so that a list of "what runs" also shows what waits.
    const pending: PendingInstanceView[] = [];
    let pendingCount = 0;
    const matched: TaskRecord[] = [];
    for (const job of jobs) {
      if (!readable(roleOfKey(job.key))) continue;
      for (const inst of job.instances) {
        if (inst.state === 'PENDING' && job.state === 'ACTIVE' && agentParam === undefined && (states === undefined || states.has('PENDING'))) {
          pendingCount++;
          if (page === undefined || pending.length < page.limit) pending.push(pendingInstanceView(ctx, job, inst));
        }
        const ids = all ? [...inst.previousTaskIds, ...(inst.taskId === undefined ? [] : [inst.taskId])] : inst.taskId === undefined ? [] : [inst.taskId];
        for (const id of ids) {
          const t = ctx.state.tasks.get(id);
          if (t === undefined) continue;
          if (!all && isTerminal(t.state) && inst.state !== 'FINISHED' && inst.state !== 'FAILED') continue;
          if (wanted(t)) matched.push(t);
        }
      }
    }
    // External frameworks' tasks belong to no job: listed when no job is asked for.
    if (jobParam === null) {
      for (const f of ctx.state.frameworks.values()) {
        if (frameworkParam !== null && f.frameworkId !== frameworkParam) continue;
        for (const id of f.taskIds) {
          const t = ctx.state.tasks.get(id);
          if (t !== undefined && (all || !isTerminal(t.state)) && readable(roleOfKey(t.job)) && wanted(t)) matched.push(t);
        }
      }
    }
    // Views are made only for the page: a page of a million tasks costs a filter, not a million views.
    for (const t of pageOf(matched, page)) tasks.push(taskView(ctx, t));
    const answer: TaskList = { tasks, pending, ...pageInfo(matched.length, page), ...(page === undefined ? {} : { pendingTotal: pendingCount }) };
    sendJson(res, 200, answer);
  });

  router.add(
    'GET',
    '/api/v1/tasks/:taskId',
    ({ res, params }) => {
      const ctx = deps.view();
      sendJson(res, 200, taskView(ctx, findTask(ctx.state, params['taskId'] ?? '')));
    },
    { permission: { action: 'job:read', role: ({ params }) => taskRoleOf(log.state, params['taskId'] ?? '') } },
  );
  // A task's files and logs: files.ts.
}

/** JobFilter is what GET /api/v1/jobs may be narrowed by. */
interface JobFilter {
  role: string | undefined;
  env: string | undefined;
  /** A part of the job key, any case. */
  q: string | undefined;
  states: Set<string> | undefined;
  kinds: Set<string> | undefined;
  /** Only jobs with an instance waiting for a place. */
  pending: boolean;
}

function jobFilterOf(url: URL): JobFilter {
  return {
    role: textParam(url, 'role'),
    env: textParam(url, 'env'),
    q: textParam(url, 'q')?.toLowerCase(),
    states: listParam(url, 'state'),
    kinds: listParam(url, 'kind'),
    pending: url.searchParams.get('pending') === 'true',
  };
}

function matchesJob(job: JobRecord, f: JobFilter): boolean {
  if (f.role !== undefined || f.env !== undefined) {
    const [role, env] = job.key.split('/');
    if (f.role !== undefined && role !== f.role) return false;
    if (f.env !== undefined && env !== f.env) return false;
  }
  if (f.q !== undefined && !job.key.toLowerCase().includes(f.q)) return false;
  if (f.states !== undefined && !f.states.has(job.state)) return false;
  if (f.kinds !== undefined && !f.kinds.has(job.spec.kind)) return false;
  if (f.pending && !job.instances.some((i) => i.state === 'PENDING')) return false;
  return true;
}

/** jobFacets counts jobs per role and per env of each role, sorted by name: the UI's role → env tree. */
function jobFacets(jobs: readonly JobRecord[]): JobFacetsView {
  const roles = new Map<string, Map<string, number>>();
  for (const j of jobs) {
    const [role = '', env = ''] = j.key.split('/');
    let envs = roles.get(role);
    if (envs === undefined) roles.set(role, (envs = new Map<string, number>()));
    envs.set(env, (envs.get(env) ?? 0) + 1);
  }
  return {
    roles: [...roles.entries()]
      .sort(([a], [b]) => compareText(a, b))
      .map(([role, envs]) => ({
        role,
        jobs: [...envs.values()].reduce((n, c) => n + c, 0),
        envs: [...envs.entries()].sort(([a], [b]) => compareText(a, b)).map(([env, count]) => ({ env, jobs: count })),
      })),
  };
}

/** roleOfKey is the role of a job key (its first part). */
function roleOfKey(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0 ? key : key.slice(0, slash);
}

/**
 * taskRoleOf is the role a task runs as (an external framework's task's job key is
 * ROLE/framework/ID), for permission checks; a task the master does not know is checked against
 * every role ("*"), so that a caller that may not read everything learns nothing of which ids exist.
 */
export function taskRoleOf(state: CellState, taskId: string): string {
  const task = state.tasks.get(taskId);
  return task === undefined ? '*' : roleOfKey(task.job);
}

/** readableRoles: whether the caller may read each role's jobs (job:read), asked once per role. */
function readableRoles(state: CellState, caller: Caller): (role: string) => boolean {
  if (caller.all) return () => true;
  const known = new Map<string, boolean>();
  return (role) => {
    let ok = known.get(role);
    if (ok === undefined) {
      ok = can(state, caller, 'job:read', role);
      known.set(role, ok);
    }
    return ok;
  };
}

/**
 * readJobSpec reads and validates the job config of a create or plan request: YAML or JSON as its
 * content type says (415 for any other, or none), within JOB_CONFIG_LIMITS (413 over its size),
 * with the job key of ?job= filled in (or checked against the config's job:).
 */
export async function readJobSpec(req: IncomingMessage, url: URL, policy: JobPolicy): Promise<JobSpec> {
  const spec = await readJobSpecText(req, url);
  checkJobPolicy(spec, policy);
  return spec;
}

async function readJobSpecText(req: IncomingMessage, url: URL): Promise<JobSpec> {
  const type = mediaTypeOf(req, JOB_CONFIG_TYPES);
  if (type === undefined) {
    throw new MusterError('UNSUPPORTED_MEDIA_TYPE', `send the job config as the body, as ${JOB_CONFIG_TYPES.join(', ')}`, { details: { accepted: JOB_CONFIG_TYPES } });
  }
  const text = await readBody(req, JOB_CONFIG_LIMITS.bytes);
  const doc =
    type === JSON_TYPE
      ? parseJson(text, { depth: JOB_CONFIG_LIMITS.depth, values: JOB_CONFIG_LIMITS.jsonValues, what: 'the job config', code: 'INVALID_JOB' })
      : parseJobText(text);
  const keyParam = url.searchParams.get('job');
  if (keyParam !== null) {
    const key = formatJobKey(parseJobKey(keyParam));
    if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) {
      const given = (doc as Record<string, unknown>)['job'];
      if (given === undefined) return validateJobSpec({ ...doc, job: key });
      else if (given !== key) {
        throw new MusterError('INVALID_ARGUMENT', `the job key ${key} does not match the config's job ${JSON.stringify(given)}`, {
          details: { field: 'job' },
        });
      }
    }
  }
  return validateJobSpec(doc);
}

function keyOf(params: Record<string, string>): string {
  return formatJobKey(parseJobKey(`${params['role'] ?? ''}/${params['env'] ?? ''}/${params['name'] ?? ''}`));
}

/** findTask looks a task up by id; an unknown (or malformed) id is TASK_NOT_FOUND. */
export function findTask(state: CellState, taskId: string): TaskRecord {
  const task = isSafeId(taskId) ? state.tasks.get(taskId) : undefined;
  if (task === undefined) throw new MusterError('TASK_NOT_FOUND', `no task ${taskId}; see muster task list`);
  return task;
}

function parseInstances(body: unknown): number[] | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new MusterError('INVALID_ARGUMENT', 'the body must be an object like {"instances":[0,2]}');
  }
  const extra = Object.keys(body).filter((k) => k !== 'instances');
  if (extra.length > 0) throw new MusterError('INVALID_ARGUMENT', `field "${extra[0] ?? ''}": unknown field`);
  const v = (body as { instances?: unknown }).instances;
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_INSTANCES || !v.every((i) => Number.isInteger(i) && (i as number) >= 0)) {
    throw new MusterError('INVALID_ARGUMENT', `field "instances": must be a list of 1 to ${MAX_INSTANCES} instance numbers like [0,2]`);
  }
  // Bounded before anything iterates up to one: killInstances compares each with the job's count.
  const beyond = (v as number[]).find((i) => i >= MAX_INSTANCES);
  if (beyond !== undefined) {
    throw new MusterError('INVALID_ARGUMENT', `field "instances": instance ${beyond} is beyond the last instance a job can have (${MAX_INSTANCES - 1})`);
  }
  return [...new Set(v as number[])].sort((a, b) => a - b);
}
