// Routes for changing a running job: /api/v1/jobs/KEY/{diff,history,update,scale} and
// /api/v1/updates. The decisions are commands/updates.ts's; the views, updateviews.ts's.

import { randomUUID } from 'node:crypto';
import { MAX_INSTANCES, MusterError, formatJobKey, parseJobKey, validateJobSpec } from '../../core/index.js';
import { ACTIVE_UPDATE_STATUSES, type UpdateStatus } from '../../protocol/index.js';
import { can } from '../auth/index.js';
import { findJob } from '../commands/find.js';
import { diffJob, latestUpdateOf, startUpdate, steerUpdate, type UpdateVerb } from '../commands/updates.js';
import type { EventLog } from '../eventlog.js';
import { roleOf } from '../state/index.js';
import { jobHistoryView, updateSummary, updateView } from '../updateviews.js';
import { readJobSpec, type JobPolicy } from './jobs.js';
import { readJson, sendJson, type RouteContext, type Router } from './router.js';

const UPDATE_STATUSES: readonly UpdateStatus[] = [...ACTIVE_UPDATE_STATUSES, 'ROLLED_FORWARD', 'ROLLED_BACK', 'ABORTED', 'FAILED'];
/** Status groups `update list --status` takes besides the statuses themselves (Aurora's). */
const STATUS_GROUPS: Readonly<Record<string, readonly UpdateStatus[]>> = {
  active: ACTIVE_UPDATE_STATUSES,
  paused: ['ROLL_FORWARD_PAUSED', 'ROLL_BACK_PAUSED', 'AWAITING_PROMOTION'],
  succeeded: ['ROLLED_FORWARD'],
  failed: ['ROLLED_BACK', 'FAILED'],
  inactive: ['ROLLED_FORWARD', 'ROLLED_BACK', 'ABORTED', 'FAILED'],
  all: UPDATE_STATUSES,
};
const MESSAGE_MAX = 1024;
const VERBS: readonly UpdateVerb[] = ['pause', 'resume', 'abort', 'rollback', 'promote'];

export function addUpdateRoutes(router: Router, log: EventLog, policy: JobPolicy): void {
  const jobPath = '/api/v1/jobs/:role/:env/:name';
  const readRole = { permission: { action: 'job:read' as const, role: ({ params }: Omit<RouteContext, 'caller'>) => params['role'] ?? '' } };

  router.add(
    'POST',
    `${jobPath}/diff`,
    async ({ req, res, url, params }) => {
      const key = keyOf(params);
      findJob(log.state, key);
      const spec = await readJobSpec(req, withJob(url, key), policy);
      sendJson(res, 200, diffJob(findJob(log.state, key), spec));
    },
    readRole,
  );

  router.add(
    'GET',
    `${jobPath}/history`,
    ({ res, url, params }) => {
      sendJson(res, 200, jobHistoryView(log.state, findJob(log.state, keyOf(params)), url.searchParams.get('specs') === 'true'));
    },
    readRole,
  );

  router.add(
    'GET',
    `${jobPath}/update`,
    ({ res, params }) => {
      const key = keyOf(params);
      const u = latestUpdateOf(log.state, findJob(log.state, key));
      if (u === undefined) throw new MusterError('NOT_FOUND', `job ${key} has had no update; start one with muster update start`);
      sendJson(res, 200, updateView(log.state, u));
    },
    readRole,
  );

  router.add('POST', `${jobPath}/update`, async ({ req, res, url, params, caller }) => {
    const key = keyOf(params);
    // An unknown job is a 404 before its config is read (and found to name another job).
    findJob(log.state, key);
    const spec = await readJobSpec(req, withJob(url, key), policy);
    const instances = parseInstanceRanges(url.searchParams.get('instances'));
    const message = messageOf(url);
    const id = randomUUID();
    const started = await log.submit(
      (state, now) => startUpdate(state, now, caller, { key, spec, kind: 'update', id, ...(instances === undefined ? {} : { instances }), ...(message === undefined ? {} : { message }) }),
      caller.principal,
    );
    answerStarted(res, started);
  });

  router.add('POST', `${jobPath}/scale`, async ({ req, res, url, params, caller }) => {
    const key = keyOf(params);
    const count = parseScale(await readJson(req, 1024));
    const message = messageOf(url);
    const id = randomUUID();
    const started = await log.submit((state, now) => {
      const job = findJob(state, key);
      // Checked here, against the state the update is decided on: the scale of a job of another kind is refused by startUpdate.
      const spec = validateJobSpec({ ...job.spec, instances: count });
      return startUpdate(state, now, caller, { key, spec, kind: 'scale', id, ...(message === undefined ? {} : { message }) });
    }, caller.principal);
    answerStarted(res, started);
  });

  const answerStarted = (res: RouteContext['res'], started: { update?: string; diff: unknown; noop: boolean }): void => {
    const u = started.update === undefined ? undefined : log.state.updates.get(started.update);
    if (u === undefined) sendJson(res, 200, { noop: true, diff: started.diff });
    else sendJson(res, 201, { update: updateView(log.state, u), diff: started.diff });
  };

  router.add('POST', `${jobPath}/update/:verb`, async ({ res, url, params, caller }) => {
    const key = keyOf(params);
    const verb = params['verb'] as UpdateVerb;
    if (!VERBS.includes(verb)) {
      throw new MusterError('NOT_FOUND', `no update verb ${JSON.stringify(String(params['verb']).slice(0, 40))}; the verbs are ${VERBS.join(', ')}`);
    }
    const message = messageOf(url);
    const result = await log.submit((state, now) => steerUpdate(state, now, caller, key, verb, message), caller.principal);
    const u = log.state.updates.get(result.update);
    sendJson(res, 202, u === undefined ? result : updateView(log.state, u));
  });

  router.add('GET', '/api/v1/updates', ({ res, url, caller }) => {
    const state = log.state;
    const role = url.searchParams.get('role');
    const job = url.searchParams.get('job');
    const statusParam = url.searchParams.get('status');
    let statuses: ReadonlySet<UpdateStatus> | undefined;
    if (statusParam !== null) {
      const wanted = statusParam.split(',').flatMap((s) => {
        const group = STATUS_GROUPS[s.toLowerCase()];
        if (group !== undefined) return group;
        const upper = s.toUpperCase() as UpdateStatus;
        if (UPDATE_STATUSES.includes(upper)) return [upper];
        throw new MusterError('INVALID_ARGUMENT', `field "status": ${JSON.stringify(s.slice(0, 40))} is not an update status or group (${Object.keys(STATUS_GROUPS).join(', ')}, or a status such as ROLLED_BACK)`, {
          details: { field: 'status' },
        });
      });
      statuses = new Set(wanted);
    }
    const jobKey = job === null ? undefined : formatJobKey(parseJobKey(job));
    const readable = new Map<string, boolean>();
    const mayRead = (r: string): boolean => {
      let ok = readable.get(r);
      if (ok === undefined) readable.set(r, (ok = caller.all || can(state, caller, 'job:read', r)));
      return ok;
    };
    const updates = [...state.updates.values()]
      .filter((u) => {
        const r = roleOf(u.job);
        return (role === null || r === role) && (jobKey === undefined || u.job === jobKey) && (statuses === undefined || statuses.has(u.status)) && mayRead(r);
      })
      .sort((a, b) => b.createdAt - a.createdAt)
      .map(updateSummary);
    sendJson(res, 200, { updates });
  });

  router.add(
    'GET',
    '/api/v1/updates/:id',
    ({ res, params }) => {
      const u = log.state.updates.get(params['id'] ?? '');
      if (u === undefined) throw new MusterError('NOT_FOUND', `no update ${JSON.stringify((params['id'] ?? '').slice(0, 64))}; see muster update list`);
      sendJson(res, 200, updateView(log.state, u));
    },
    { permission: { action: 'job:read', role: ({ params }) => roleOfUpdate(log, params['id'] ?? '') } },
  );
}

/** roleOfUpdate: the role of an update's job, for its permission check ("*" for an unknown id, which tells nothing). */
function roleOfUpdate(log: EventLog, id: string): string {
  const job = log.state.updates.get(id)?.job;
  return job === undefined ? '*' : roleOf(job);
}

export function keyOf(params: Record<string, string>): string {
  return formatJobKey(parseJobKey(`${params['role'] ?? ''}/${params['env'] ?? ''}/${params['name'] ?? ''}`));
}

/** withJob: the request's URL with ?job= set to the route's key, so the config's job: is checked against it. */
function withJob(url: URL, key: string): URL {
  const u = new URL(url.href);
  u.searchParams.set('job', key);
  return u;
}

function messageOf(url: URL): string | undefined {
  const m = url.searchParams.get('message');
  if (m === null) return undefined;
  if (m.length > MESSAGE_MAX || /[\u0000-\u001f\u007f]/.test(m)) {
    throw new MusterError('INVALID_ARGUMENT', `field "message": at most ${MESSAGE_MAX} characters, on one line`, { details: { field: 'message' } });
  }
  return m;
}

/** parseInstanceRanges reads "0-3,7" (bounded: at most MAX_INSTANCES instances). */
export function parseInstanceRanges(text: string | null): number[] | undefined {
  if (text === null) return undefined;
  const bad = (): never => {
    throw new MusterError('INVALID_ARGUMENT', `field "instances": ${JSON.stringify(text.slice(0, 40))} is not a list of instances like 0-3,7`, { details: { field: 'instances' } });
  };
  if (text.length > 4096 || !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) return bad();
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    const last = b ?? a;
    if (last < a || last >= MAX_INSTANCES) return bad();
    for (let i = a; i <= last; i++) out.add(i);
    if (out.size > MAX_INSTANCES) return bad();
  }
  return [...out].sort((x, y) => x - y);
}

function parseScale(body: unknown): number {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new MusterError('INVALID_ARGUMENT', 'the body must be an object like {"instances":5}');
  const extra = Object.keys(body).filter((k) => k !== 'instances');
  if (extra.length > 0) throw new MusterError('INVALID_ARGUMENT', `field "${extra[0] ?? ''}": unknown field`, { details: { field: extra[0] } });
  const n = (body as { instances?: unknown }).instances;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_INSTANCES) {
    throw new MusterError('INVALID_ARGUMENT', `field "instances": must be a whole number from 1 to ${MAX_INSTANCES}`, { details: { field: 'instances' } });
  }
  return n;
}
