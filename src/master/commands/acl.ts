// Access control commands: tokens and policies, checked against the state they are appended to.
// A token's secret never reaches the log: the caller makes it (auth/tokens.ts), passes its hash
// here and shows the secret once. Every command here needs cell:admin.

import { checkKeyPart, MusterError } from '../../core/index.js';
import { ACTIONS, authorize, isAction, type Caller } from '../auth/index.js';
import type { Decision } from '../eventlog.js';
import type { CellState, PolicyGrant, PolicyRecord, TokenRecord } from '../state/index.js';

/** Bounds on what access control may hold, so that no caller can grow the master without end. */
export const MAX_TOKENS = 10_000;
export const MAX_POLICIES = 1_000;
export const MAX_GRANTS = 100;
/** The name of the management token made when a cell with authentication starts with none. */
export const BOOTSTRAP_TOKEN = 'bootstrap';

const NAME = /^[a-z0-9][a-z0-9._@-]{0,62}$/;

export interface TokenRequest {
  readonly name: string;
  readonly policies: readonly string[];
  readonly management: boolean;
  /** When it stops working (ms); absent: never. */
  readonly expiresAt?: number;
}

/** createToken records a new token under the hash of its secret. */
export function createToken(state: CellState, now: number, caller: Caller, req: TokenRequest, made: { accessorId: string; secretHash: string }): Decision<TokenRecord> {
  authorize(state, caller, 'cell:admin', '*');
  if (!NAME.test(req.name)) throw new MusterError('INVALID_ARGUMENT', `token name "${req.name.slice(0, 80)}" must be 1-63 of a-z 0-9 . _ @ -, starting with a letter or digit`, { details: { field: 'name' } });
  for (const t of state.tokens.values()) {
    if (t.name === req.name && t.revokedAt === undefined) throw new MusterError('CONFLICT', `a token named ${req.name} exists; revoke it first or choose another name`, { details: { field: 'name' } });
  }
  if (state.tokenByHash.size >= MAX_TOKENS) throw new MusterError('CONFLICT', `the cell already has ${MAX_TOKENS} live tokens; revoke some first`);
  if (!req.management && req.policies.length === 0) throw new MusterError('INVALID_ARGUMENT', 'a token needs at least one policy (or --management)', { details: { field: 'policies' } });
  for (const p of req.policies) {
    if (!state.policies.has(p)) throw new MusterError('INVALID_ARGUMENT', `no policy ${p}; see muster acl policy list`, { details: { field: 'policies' } });
  }
  if (req.expiresAt !== undefined && req.expiresAt <= now) throw new MusterError('INVALID_ARGUMENT', 'the token would expire before it is made', { details: { field: 'ttl' } });
  const token: TokenRecord = {
    accessorId: made.accessorId,
    name: req.name,
    secretHash: made.secretHash,
    policies: [...new Set(req.policies)],
    management: req.management,
    createdAt: now,
    ...(req.expiresAt === undefined ? {} : { expiresAt: req.expiresAt }),
    ...(caller.principal === 'anonymous' ? {} : { createdBy: caller.principal }),
  };
  return { events: [{ type: 'TokenCreated', at: now, token }], result: token };
}

/** bootstrapToken records the first management token, once: a cell with a token already gets none. */
export function bootstrapToken(state: CellState, now: number, made: { accessorId: string; secretHash: string }): Decision<TokenRecord | undefined> {
  if (state.tokens.size > 0) return { events: [], result: undefined };
  const token: TokenRecord = { accessorId: made.accessorId, name: BOOTSTRAP_TOKEN, secretHash: made.secretHash, policies: [], management: true, createdAt: now };
  return { events: [{ type: 'TokenCreated', at: now, token }], result: token };
}

/** revokeToken revokes a live token named by accessor id or name. */
export function revokeToken(state: CellState, now: number, caller: Caller, idOrName: string): Decision<TokenRecord> {
  authorize(state, caller, 'cell:admin', '*');
  let token = state.tokens.get(idOrName);
  if (token === undefined || token.revokedAt !== undefined) {
    token = [...state.tokens.values()].find((t) => t.name === idOrName && t.revokedAt === undefined);
  }
  if (token === undefined || token.revokedAt !== undefined) {
    throw new MusterError('NOT_FOUND', `no live token ${JSON.stringify(idOrName.slice(0, 80))}; see muster acl token list`);
  }
  return { events: [{ type: 'TokenRevoked', at: now, accessorId: token.accessorId }], result: token };
}

/** setPolicy sets a policy, replacing one of that name. */
export function setPolicy(state: CellState, now: number, caller: Caller, name: string, grants: readonly PolicyGrant[], description?: string): Decision<PolicyRecord> {
  authorize(state, caller, 'cell:admin', '*');
  if (!NAME.test(name)) throw new MusterError('INVALID_ARGUMENT', `policy name "${name.slice(0, 80)}" must be 1-63 of a-z 0-9 . _ @ -, starting with a letter or digit`, { details: { field: 'name' } });
  if (!state.policies.has(name) && state.policies.size >= MAX_POLICIES) throw new MusterError('CONFLICT', `the cell already has ${MAX_POLICIES} policies`);
  if (grants.length === 0 || grants.length > MAX_GRANTS) throw new MusterError('INVALID_ARGUMENT', `a policy has 1 to ${MAX_GRANTS} grants`, { details: { field: 'grants' } });
  for (const [i, g] of grants.entries()) {
    if (g.actions.length === 0) throw new MusterError('INVALID_ARGUMENT', `grants[${i}] names no action`, { details: { field: `grants[${i}].actions` } });
    for (const a of g.actions) {
      if (a !== '*' && !isAction(a)) throw new MusterError('INVALID_ARGUMENT', `grants[${i}]: unknown action "${a.slice(0, 40)}"; the actions are ${ACTIONS.join(', ')}, or *`, { details: { field: `grants[${i}].actions` } });
    }
    if (g.roles.length === 0) throw new MusterError('INVALID_ARGUMENT', `grants[${i}] names no role (use "*" for every role)`, { details: { field: `grants[${i}].roles` } });
    for (const r of g.roles) {
      const why = r === '*' ? undefined : checkKeyPart(r);
      if (why !== undefined) throw new MusterError('INVALID_ARGUMENT', `grants[${i}]: role ${why}`, { details: { field: `grants[${i}].roles` } });
    }
  }
  const policy: PolicyRecord = {
    name,
    grants: grants.map((g) => ({ actions: [...new Set(g.actions)], roles: [...new Set(g.roles)] })),
    setAt: now,
    ...(description === undefined || description === '' ? {} : { description: description.slice(0, 500) }),
  };
  return { events: [{ type: 'PolicySet', at: now, policy }], result: policy };
}

/** deletePolicy removes a policy; tokens that name it keep the name and lose its grants. */
export function deletePolicy(state: CellState, now: number, caller: Caller, name: string): Decision<void> {
  authorize(state, caller, 'cell:admin', '*');
  if (!state.policies.has(name)) throw new MusterError('NOT_FOUND', `no policy ${JSON.stringify(name.slice(0, 80))}; see muster acl policy list`);
  return { events: [{ type: 'PolicyDeleted', at: now, name }], result: undefined };
}
