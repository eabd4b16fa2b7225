// Token secrets: made here, shown once, kept in the log only as their sha-256. A call's secret is
// hashed and looked up (state.tokenByHash): no comparison of secrets, so nothing to time.

import { createHash, randomBytes } from 'node:crypto';
import { MusterError } from '../../core/index.js';
import type { CellState } from '../state/index.js';
import type { Caller } from './permissions.js';

/** newSecret is a token's secret: 32 random bytes, base64url, with a prefix that says what it is (and secret scanners find). */
export function newSecret(): string {
  return `mst_${randomBytes(32).toString('base64url')}`;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** The most bytes of an Authorization header worth reading: a secret is 47; Basic adds a name. */
const MAX_CREDENTIAL = 1024;

/**
 * secretOf takes the secret from an Authorization header: `Bearer SECRET`, or `Basic
 * base64(PRINCIPAL:SECRET)` as Mesos's clients send it (the principal is the token's name, or
 * anything). Undefined: no credential given.
 */
export function secretOf(header: string | undefined): { secret: string; principal?: string } | undefined {
  if (header === undefined || header === '') return undefined;
  if (header.length > MAX_CREDENTIAL) throw new MusterError('UNAUTHENTICATED', 'the Authorization header is too long to hold a token');
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const value = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme === 'bearer' && value !== '') return { secret: value };
  if (scheme === 'basic' && value !== '') {
    const text = Buffer.from(value, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon >= 0) return { principal: text.slice(0, colon), secret: text.slice(colon + 1) };
  }
  throw new MusterError('UNAUTHENTICATED', 'the Authorization header must be "Bearer TOKEN" (or "Basic" with the token as the password)');
}

/**
 * callerOf finds the live token a secret belongs to, or throws UNAUTHENTICATED: unknown, revoked
 * and expired tokens are one answer, so that a caller learns nothing of which.
 */
export function callerOf(state: CellState, secret: string, now: number): Caller {
  const id = state.tokenByHash.get(hashSecret(secret));
  const token = id === undefined ? undefined : state.tokens.get(id);
  if (token === undefined || token.revokedAt !== undefined || (token.expiresAt !== undefined && token.expiresAt <= now)) {
    throw new MusterError('UNAUTHENTICATED', 'the token is not valid: unknown, revoked or expired');
  }
  return { principal: token.name, tokenId: token.accessorId, all: token.management };
}
