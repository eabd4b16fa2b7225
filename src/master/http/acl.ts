// Access control over HTTP: tokens (GET/POST /api/v1/acl/tokens, DELETE …/:id), policies (GET
// /api/v1/acl/policies, PUT/DELETE …/:name), who the caller is (GET /api/v1/acl/whoami) and the
// audit (GET /api/v1/audit). The decisions are commands/acl.ts's; every call but whoami needs
// cell:admin.

import { randomUUID } from 'node:crypto';
import { MusterError } from '../../core/index.js';
import type { AuditEntryView, PolicyView, TokenCreatedView, TokenView, WhoAmIView } from '../../protocol/index.js';
import { authorize, hashSecret, newSecret } from '../auth/index.js';
import { createToken, deletePolicy, revokeToken, setPolicy } from '../commands/acl.js';
import type { EventLog } from '../eventlog.js';
import type { PolicyGrant, PolicyRecord, TokenRecord } from '../state/index.js';
import { readJson, sendJson, type Router } from './router.js';

/** The most a token or policy call's body may be. */
const MAX_ACL_BODY = 64 * 1024;
/** The most audit entries one call answers. */
const MAX_AUDIT = 1000;

export function addAclRoutes(router: Router, deps: { log: EventLog; open: () => boolean }): void {
  const { log } = deps;
  router.add('GET', '/api/v1/acl/whoami', ({ res, caller }) => {
    const token = caller.tokenId === undefined ? undefined : log.state.tokens.get(caller.tokenId);
    const view: WhoAmIView = {
      principal: caller.principal,
      open: deps.open(),
      management: caller.all,
      policies: token?.policies ?? [],
      ...(token?.expiresAt === undefined ? {} : { expiresAt: token.expiresAt }),
    };
    sendJson(res, 200, view);
  });
  router.add('GET', '/api/v1/acl/tokens', ({ res, url, caller }) => {
    authorize(log.state, caller, 'cell:admin', '*');
    const all = url.searchParams.get('all') === 'true';
    const tokens = [...log.state.tokens.values()].filter((t) => all || t.revokedAt === undefined).map(tokenView);
    sendJson(res, 200, { tokens });
  });
  router.add('POST', '/api/v1/acl/tokens', async ({ req, res, caller }) => {
    const body = object(await readJson(req, MAX_ACL_BODY));
    const name = str(body, 'name');
    const policies = strings(body, 'policies') ?? [];
    const management = body['management'] === true;
    const ttl = body['ttlSecs'];
    if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl <= 0 || ttl > 10 * 365 * 86400)) {
      throw new MusterError('INVALID_ARGUMENT', 'ttlSecs must be a whole number of seconds from 1 to ten years', { details: { field: 'ttlSecs' } });
    }
    const secret = newSecret();
    const made = { accessorId: randomUUID(), secretHash: hashSecret(secret) };
    const token = await log.submit(
      (s, now) => createToken(s, now, caller, { name, policies, management, ...(ttl === undefined ? {} : { expiresAt: now + (ttl) * 1000 }) }, made),
      caller.principal,
    );
    const answer: TokenCreatedView = { token: tokenView(token), secret };
    sendJson(res, 201, answer);
  });
  router.add('DELETE', '/api/v1/acl/tokens/:id', async ({ res, params, caller }) => {
    const token = await log.submit((s, now) => revokeToken(s, now, caller, params['id'] ?? ''), caller.principal);
    sendJson(res, 200, { token: tokenView(log.state.tokens.get(token.accessorId) ?? token) });
  });
  router.add('GET', '/api/v1/acl/policies', ({ res, caller }) => {
    authorize(log.state, caller, 'cell:admin', '*');
    sendJson(res, 200, { policies: [...log.state.policies.values()].map(policyView) });
  });
  router.add('PUT', '/api/v1/acl/policies/:name', async ({ req, res, params, caller }) => {
    const body = object(await readJson(req, MAX_ACL_BODY));
    const raw = body['grants'];
    if (!Array.isArray(raw)) throw new MusterError('INVALID_ARGUMENT', 'grants must be a list of {actions, roles}', { details: { field: 'grants' } });
    const grants: PolicyGrant[] = raw.map((g: unknown, i) => {
      const o = object(g, `grants[${i}]`);
      return { actions: strings(o, 'actions', `grants[${i}].actions`) ?? [], roles: strings(o, 'roles', `grants[${i}].roles`) ?? [] };
    });
    const description = body['description'];
    if (description !== undefined && typeof description !== 'string') throw new MusterError('INVALID_ARGUMENT', 'description must be text', { details: { field: 'description' } });
    const policy = await log.submit((s, now) => setPolicy(s, now, caller, params['name'] ?? '', grants, description), caller.principal);
    sendJson(res, 200, { policy: policyView(policy) });
  });
  router.add('DELETE', '/api/v1/acl/policies/:name', async ({ res, params, caller }) => {
    await log.submit((s, now) => deletePolicy(s, now, caller, params['name'] ?? ''), caller.principal);
    sendJson(res, 200, { deleted: params['name'] });
  });
  router.add('GET', '/api/v1/audit', ({ res, url, caller }) => {
    authorize(log.state, caller, 'cell:admin', '*');
    const limitText = url.searchParams.get('limit') ?? '100';
    const limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT) throw new MusterError('INVALID_ARGUMENT', `limit must be 1 to ${MAX_AUDIT}`, { details: { field: 'limit' } });
    const principal = url.searchParams.get('principal');
    const entries: AuditEntryView[] = [];
    const audit = log.state.audit;
    for (let i = audit.length - 1; i >= 0 && entries.length < limit; i--) {
      const e = audit[i];
      if (e !== undefined && (principal === null || e.by === principal)) entries.push(e);
    }
    sendJson(res, 200, { entries: entries.reverse() });
  });
}

/** tokenView is the record less its secret's hash: what the API may show of a token. */
function tokenView(t: TokenRecord): TokenView {
  const { secretHash: _hash, ...view } = t;
  return view;
}

function policyView(p: PolicyRecord): PolicyView {
  return { name: p.name, grants: p.grants, setAt: p.setAt, ...(p.description === undefined ? {} : { description: p.description }) };
}

function object(v: unknown, field = 'the body'): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new MusterError('INVALID_ARGUMENT', `${field} must be a JSON object`, { details: { field } });
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw new MusterError('INVALID_ARGUMENT', `${key} must be a non-empty string`, { details: { field: key } });
  return v;
}

function strings(o: Record<string, unknown>, key: string, field = key): string[] | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > 100 || !v.every((x) => typeof x === 'string' && x.length <= 100)) {
    throw new MusterError('INVALID_ARGUMENT', `${field} must be a list of at most 100 names`, { details: { field } });
  }
  return v as string[];
}
