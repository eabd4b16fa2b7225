import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { MusterError } from '../../core/index.js';
import { apply, emptyState, type CellState } from '../state/index.js';
import { masterAuth } from './http.js';
import { authorize, can, OPEN } from './permissions.js';
import { callerOf, hashSecret, newSecret, secretOf } from './tokens.js';

function cell(): { state: CellState; secret: string } {
  const state = emptyState();
  apply(state, { type: 'PolicySet', at: 1, policy: { name: 'web', grants: [{ actions: ['job:read', 'job:write'], roles: ['web'] }, { actions: ['job:read'], roles: ['*'] }], setAt: 1 } });
  const secret = newSecret();
  apply(state, { type: 'TokenCreated', at: 1, token: { accessorId: 'a1', name: 'ci', secretHash: hashSecret(secret), policies: ['web', 'gone'], management: false, createdAt: 1, expiresAt: 100 } });
  return { state, secret };
}

const denied = (code: string) => (e: unknown) => e instanceof MusterError && e.code === code;

void test('a secret is found by its hash; an unknown, expired or revoked one is the same 401', () => {
  const { state, secret } = cell();
  assert.match(secret, /^mst_[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(callerOf(state, secret, 50), { principal: 'ci', tokenId: 'a1', all: false });
  assert.throws(() => callerOf(state, `${secret}x`, 50), denied('UNAUTHENTICATED'));
  assert.throws(() => callerOf(state, secret, 100), denied('UNAUTHENTICATED'), 'expired at expiresAt');
  apply(state, { type: 'TokenRevoked', at: 60, accessorId: 'a1' });
  assert.throws(() => callerOf(state, secret, 50), denied('UNAUTHENTICATED'));
});

void test('secretOf reads Bearer and Basic (the token as the password) and refuses anything else', () => {
  assert.equal(secretOf(undefined), undefined);
  assert.deepEqual(secretOf('Bearer abc'), { secret: 'abc' });
  assert.deepEqual(secretOf(`Basic ${Buffer.from('ci:abc').toString('base64')}`), { principal: 'ci', secret: 'abc' });
  assert.throws(() => secretOf('Digest x'), denied('UNAUTHENTICATED'));
  assert.throws(() => secretOf('Bearer'), denied('UNAUTHENTICATED'));
  assert.throws(() => secretOf(`Bearer ${'x'.repeat(2000)}`), denied('UNAUTHENTICATED'));
});

void test('grants: an action on a role, "*" roles for every role; a policy deleted takes its grants with it', () => {
  const { state, secret } = cell();
  const caller = callerOf(state, secret, 50);
  assert.equal(can(state, caller, 'job:write', 'web'), true);
  assert.equal(can(state, caller, 'job:write', 'batch'), false);
  assert.equal(can(state, caller, 'job:read', 'batch'), true, 'job:read on *');
  assert.equal(can(state, caller, 'job:read', '*'), true);
  assert.equal(can(state, caller, 'job:write', '*'), false, 'a grant on web is not one on every role');
  assert.throws(() => authorize(state, caller, 'quota:write', 'web'), (e: unknown) => e instanceof MusterError && e.code === 'FORBIDDEN' && e.message.includes('ci may not do this: it needs quota:write on role web'));
  apply(state, { type: 'PolicyDeleted', at: 2, name: 'web' });
  assert.equal(can(state, caller, 'job:read', 'web'), false);
  assert.equal(can(state, OPEN, 'cell:admin', '*'), true);
});

void test('masterAuth: 401 without a token, cross-origin writes refused, and running open only loopback names and IPs', () => {
  const { state, secret } = cell();
  const req = (headers: Record<string, string>, method = 'POST'): IncomingMessage => ({ method, headers }) as unknown as IncomingMessage;
  const on = masterAuth({ state: () => state, now: () => 50, enabled: true, allowedHosts: [] });
  assert.throws(() => on.authenticate(req({})), denied('UNAUTHENTICATED'));
  assert.equal(on.authenticate(req({ authorization: `Bearer ${secret}` })).principal, 'ci');
  assert.throws(() => on.checkOrigin(req({ host: 'm:5050', origin: 'http://evil.example' })), denied('FORBIDDEN'));
  assert.throws(() => on.checkOrigin(req({ host: 'm:5050', 'sec-fetch-site': 'cross-site' })), denied('FORBIDDEN'));
  assert.doesNotThrow(() => on.checkOrigin(req({ host: 'm:5050', origin: 'http://m:5050' })));
  assert.doesNotThrow(() => on.checkOrigin(req({ host: 'm:5050', origin: 'http://evil.example' }, 'GET')), 'a read may come from anywhere: it needs a token');
  assert.doesNotThrow(() => on.checkOrigin(req({ host: 'any.name:5050' }, 'GET')), 'with tokens, any name');
  const open = masterAuth({ state: () => state, now: () => 50, enabled: false, allowedHosts: ['master.internal'] });
  assert.equal(open.authenticate(req({})), OPEN);
  for (const host of ['127.0.0.1:5050', 'localhost:5050', '[::1]:5050', '10.0.0.7', 'master.internal:5050']) assert.doesNotThrow(() => open.checkOrigin(req({ host }, 'GET')), host);
  assert.throws(() => open.checkOrigin(req({ host: 'evil.example:5050' }, 'GET')), denied('FORBIDDEN'));
});
