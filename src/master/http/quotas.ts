// Routes for quotas per role: /api/v1/quotas... Every change is a QuotaSet event, durable before
// the answer goes out. The check that refuses a job past its role's quota is in jobs.ts, inside the
// same submit as the job's creation, so that two jobs racing for the last of a quota cannot both win.

import { MusterError, checkKeyPart, cpusToMilli, isMilliPrecise, parseSize } from '../../core/index.js';
import type { QuotaAmountsView, QuotaLimitsView, QuotaView } from '../../protocol/index.js';
import { setQuota } from '../commands/quotas.js';
import type { EventLog } from '../eventlog.js';
import type { CellState, QuotaRecord, RoleQuota } from '../state/index.js';
import { QUOTA_FIELDS, QUOTA_RESOURCES, apiAmount, quotaUsageByRole, roleQuotaUsage, type QuotaAmounts } from '../state/index.js';
import { readJson, sendJson, type Router } from './router.js';

/** QUOTA_LIMITS bound each figure of a quota, far beyond any real cell, so that sums stay exact. */
export const QUOTA_LIMITS = {
  /** Cores. */
  cpus: 10_000_000,
  /** 1 EiB in MiB. */
  memMiB: 2 ** 40,
  diskMiB: 2 ** 40,
  gpus: 1_000_000,
} as const;

export { MAX_QUOTA_ROLES } from '../commands/quotas.js';

const MAX_BODY_BYTES = 64 * 1024;

export interface QuotaRoutesDeps {
  log: EventLog;
}

export function addQuotaRoutes(router: Router, deps: QuotaRoutesDeps): void {
  const { log } = deps;

  router.add('GET', '/api/v1/quotas', ({ res }) => {
    const state = log.state;
    const used = quotaUsageByRole(state);
    const quotas = [...state.quotas.values()]
      .sort((a, b) => (a.role < b.role ? -1 : a.role > b.role ? 1 : 0))
      .map((record) => quotaView(record.role, record, used.get(record.role)));
    sendJson(res, 200, { quotas });
  });

  router.add('GET', '/api/v1/quotas/:role', ({ res, params }) => {
    const role = roleParam(params);
    sendJson(res, 200, viewOf(log.state, role));
  });

  router.add('PUT', '/api/v1/quotas/:role', async ({ req, res, params, caller }) => {
    const role = roleParam(params);
    const quota = parseQuotaRequest(await readJson(req, MAX_BODY_BYTES));
    await log.submit((state, now) => setQuota(state, now, caller, role, quota), caller.principal);
    const view = viewOf(log.state, role);
    sendJson(res, 200, view);
  });

  router.add('DELETE', '/api/v1/quotas/:role', async ({ res, params, caller }) => {
    const role = roleParam(params);
    await log.submit((state, now) => setQuota(state, now, caller, role, undefined), caller.principal);
    const view = viewOf(log.state, role);
    sendJson(res, 200, view);
  });
}

/** roleParam checks the role of a quota path the way a job key's role is checked. */
function roleParam(params: Record<string, string>): string {
  const role = params['role'] ?? '';
  const why = checkKeyPart(role);
  if (why !== undefined) throw new MusterError('INVALID_ARGUMENT', `role ${why}`, { details: { field: 'role' } });
  return role;
}

function viewOf(state: CellState, role: string): QuotaView {
  return quotaView(role, state.quotas.get(role), roleQuotaUsage(state, role));
}

/** quotaView is a role's QuotaView: its quota if it has one, what it holds, and what is left. */
export function quotaView(role: string, record: QuotaRecord | undefined, used: QuotaAmounts | undefined): QuotaView {
  const held = used ?? { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0 };
  const usedView: QuotaAmountsView = { cpus: 0, mem: 0, disk: 0, gpus: 0 };
  for (const r of QUOTA_RESOURCES) usedView[r] = apiAmount(r, held[QUOTA_FIELDS[r]]);
  const view: QuotaView = { role, used: usedView };
  if (record === undefined) return view;
  const quota: QuotaLimitsView = {};
  const free: QuotaLimitsView = {};
  for (const r of QUOTA_RESOURCES) {
    const limit = record.quota[QUOTA_FIELDS[r]];
    if (limit === undefined) continue;
    quota[r] = apiAmount(r, limit);
    free[r] = apiAmount(r, limit - held[QUOTA_FIELDS[r]]);
  }
  view.quota = quota;
  view.free = free;
  view.setAt = record.setAt;
  return view;
}

function invalid(field: string, message: string): MusterError {
  return new MusterError('INVALID_ARGUMENT', `field "${field}": ${message}`, { details: { field } });
}

/**
 * parseQuotaRequest validates the body of PUT /api/v1/quotas/:role into exact units. It is strict:
 * an unknown field, a negative or fractional figure, a size it cannot read, or a body naming no
 * resource is refused naming the field, and nothing changes.
 */
export function parseQuotaRequest(body: unknown): RoleQuota {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new MusterError('INVALID_ARGUMENT', 'the body must be an object like {"cpus": 8, "mem": "16GiB", "disk": "100GiB", "gpus": 2}');
  }
  const doc = body as Record<string, unknown>;
  const unknown = Object.keys(doc).find((k) => !(QUOTA_RESOURCES as readonly string[]).includes(k));
  if (unknown !== undefined) throw invalid(unknown.slice(0, 64), 'unknown field; a quota names cpus, mem, disk or gpus');
  const quota: RoleQuota = {};
  const cpus = doc['cpus'];
  if (cpus !== undefined) {
    if (typeof cpus !== 'number' || !Number.isFinite(cpus) || cpus < 0 || !isMilliPrecise(cpus)) {
      throw invalid('cpus', 'must be a number of cores of at least 0, with at most 3 decimals, e.g. 8 or 0.5');
    }
    if (cpus > QUOTA_LIMITS.cpus) throw invalid('cpus', `must be at most ${QUOTA_LIMITS.cpus}`);
    quota.cpusMilli = cpusToMilli(cpus);
  }
  for (const [name, field] of [['mem', 'memMiB'], ['disk', 'diskMiB']] as const) {
    const value = doc[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' && typeof value !== 'string') throw invalid(name, 'must be MiB as a number, or a size like "16GiB"');
    if (typeof value === 'string' && value.length > 64) throw invalid(name, 'is not a size; write it like 16GiB');
    const size = parseSize(value);
    if ('error' in size) throw invalid(name, size.error);
    if (size.mib > QUOTA_LIMITS[field]) throw invalid(name, `${size.mib} MiB is more than the limit of ${QUOTA_LIMITS[field]} MiB`);
    quota[field] = size.mib;
  }
  const gpus = doc['gpus'];
  if (gpus !== undefined) {
    if (typeof gpus !== 'number' || !Number.isFinite(gpus) || gpus < 0 || !isMilliPrecise(gpus)) {
      throw invalid('gpus', 'must be a number of devices of at least 0, with at most 3 decimals');
    }
    if (gpus > QUOTA_LIMITS.gpus) throw invalid('gpus', `must be at most ${QUOTA_LIMITS.gpus}`);
    quota.gpus = gpus;
  }
  if (Object.keys(quota).length === 0) {
    throw new MusterError('INVALID_ARGUMENT', 'a quota names at least one of cpus, mem, disk or gpus; DELETE /api/v1/quotas/ROLE removes one', {
      details: { field: '(top level)' },
    });
  }
  return quota;
}
