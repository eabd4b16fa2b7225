// Quota commands: set or clear a role's quota, checked against the state the event is appended to.

import { MusterError } from '../../core/index.js';
import { authorize, type Caller } from '../auth/index.js';
import type { Decision } from '../eventlog.js';
import { QUOTA_FIELDS, QUOTA_RESOURCES, type CellState, type RoleQuota } from '../state/index.js';

/** MAX_QUOTA_ROLES bounds how many roles may have a quota, so that the state cannot grow without end. */
export const MAX_QUOTA_ROLES = 10_000;

/**
 * setQuota replaces a role's quota (undefined: removes it, leaving the role unlimited). Setting the
 * quota a role has, or removing one it does not have, changes nothing and writes no event.
 */
export function setQuota(state: CellState, now: number, caller: Caller, role: string, quota: RoleQuota | undefined): Decision<void> {
  authorize(state, caller, 'quota:write', role);
  const old = state.quotas.get(role);
  if (quota === undefined) {
    return { events: old === undefined ? [] : [{ type: 'QuotaSet', at: now, role }], result: undefined };
  }
  if (old !== undefined && sameQuota(old.quota, quota)) return { events: [], result: undefined };
  if (old === undefined && state.quotas.size >= MAX_QUOTA_ROLES) {
    throw new MusterError('CONFLICT', `the cell keeps quotas for at most ${MAX_QUOTA_ROLES} roles; remove one first`);
  }
  return { events: [{ type: 'QuotaSet', at: now, role, quota }], result: undefined };
}

function sameQuota(a: RoleQuota, b: RoleQuota): boolean {
  return QUOTA_RESOURCES.every((r) => a[QUOTA_FIELDS[r]] === b[QUOTA_FIELDS[r]]);
}
