// Who may do what. A call carries a token (or comes from a master running open); the token's
// policies grant actions on roles. Checks are made where a call becomes events (master/commands/)
// and, for reads, by the route table (http/router.ts): a denied call is a 403 naming the permission
// it lacks. Grants are read from the state at each check, so a policy changed or a token revoked
// holds from the next call on, on every master (standbys follow the same log).

import type { IncomingMessage } from 'node:http';
import { MusterError } from '../../core/index.js';
import type { CellState } from '../state/index.js';

/** ACTIONS are the permissions a policy can grant, each on roles. */
export const ACTIONS = [
  /** See a role's jobs, tasks and pending instances; read the event stream (on every role). */
  'job:read',
  /** Create, update, kill, restart and scale a role's jobs. */
  'job:write',
  /** Read a role's tasks' logs and sandbox files. */
  'task:logs',
  /** Run a command inside a role's running task. */
  'task:exec',
  /** Subscribe a framework (Mesos scheduler API) that takes offers as the role. */
  'framework:register',
  /** Set or remove the role's quota. */
  'quota:write',
  /** Drain and activate hosts (not role-scoped: grant it on "*"). */
  'host:drain',
  /** Snapshots, tokens, policies, the audit, tearing down any framework (grant it on "*"). */
  'cell:admin',
  /** Join the cell as an agent (grant it on "*"). */
  'agent:join',
] as const;

export type Action = (typeof ACTIONS)[number];

export function isAction(s: string): s is Action {
  return (ACTIONS as readonly string[]).includes(s);
}

/**
 * Caller is who makes a call. `principal` is what the audit records: a token's name, "anonymous"
 * on a master running without authentication, "master" for the master's own work.
 */
export interface Caller {
  readonly principal: string;
  /** The token's accessor id; absent when no token is involved. */
  readonly tokenId?: string;
  /** Every permission (a management token, a master running open, the master itself). */
  readonly all: boolean;
}

/** OPEN is the caller of every call on a master running without authentication. */
export const OPEN: Caller = { principal: 'anonymous', all: true };
/** ANONYMOUS is the caller of a public route on a master with authentication: no permission at all. */
export const ANONYMOUS: Caller = { principal: 'anonymous', all: false };
/** MASTER is the master acting on its own (timers, controllers): no call to check. */
export const MASTER: Caller = { principal: 'master', all: true };

/** can: the caller's token grants the action on the role ("*" as the role asks for a grant on every role). */
export function can(state: CellState, caller: Caller, action: Action, role: string): boolean {
  if (caller.all) return true;
  const token = caller.tokenId === undefined ? undefined : state.tokens.get(caller.tokenId);
  if (token === undefined || token.revokedAt !== undefined) return false;
  if (token.management) return true;
  for (const name of token.policies) {
    const policy = state.policies.get(name);
    if (policy === undefined) continue;
    for (const g of policy.grants) {
      if (!g.actions.includes(action) && !g.actions.includes('*')) continue;
      if (g.roles.includes('*') || (role !== '*' && g.roles.includes(role))) return true;
    }
  }
  return false;
}

/** authorize throws FORBIDDEN, naming the permission the caller lacks, unless it has it. */
export function authorize(state: CellState, caller: Caller, action: Action, role: string): void {
  if (can(state, caller, action, role)) return;
  const on = role === '*' ? 'on every role ("*")' : `on role ${role}`;
  throw new MusterError('FORBIDDEN', `${caller.principal} may not do this: it needs ${action} ${on}; see muster acl policy list`, {
    details: { permission: action, role, principal: caller.principal },
  });
}

/** RouterAuth is how the master authenticates and authorizes calls; a router without one runs open. */
export interface RouterAuth {
  /** The caller of a request, or UNAUTHENTICATED (401). */
  authenticate(req: IncomingMessage): Caller;
  /** Throws FORBIDDEN (403) unless the caller has the permission. */
  authorize(caller: Caller, action: Action, role: string): void;
  /** Refuses what a browser page elsewhere could send (a cross-origin write, a rebound Host): 403. */
  checkOrigin(req: IncomingMessage): void;
}

