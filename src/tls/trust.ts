// Trusting a cell's own CA on the calls we make: the CLI and the client to the master, the master
// to its agents. node:http(s) takes a CA per request (`ca`); Node 20's global fetch does not, only
// through an undici dispatcher. The npm undici of the major Node 20 bundles (6.x) gives one that
// the bundled fetch accepts: `fetch(url, { dispatcher })`. It is imported on first use, so that a
// process that trusts no CA of its own never loads it.

import type { Dispatcher } from 'undici';
import type { Dispatcher as NodeFetchDispatcher } from 'undici-types';

/**
 * FetchDispatcher is what node's global fetch takes as RequestInit.dispatcher (undici-types'
 * Dispatcher), named from undici-types itself so that code compiled with the DOM library too (the
 * web UI imports the client) sees the same type.
 */
export type FetchDispatcher = NodeFetchDispatcher;

const dispatchers = new Map<string, Promise<FetchDispatcher>>();

/**
 * trustingDispatcher is a connection pool for global fetch whose TLS connections trust `ca` (PEM
 * text: one certificate or several) instead of the system's CAs. One pool per CA, kept for the
 * life of the process, as the global one is.
 */
export function trustingDispatcher(ca: string): Promise<FetchDispatcher> {
  let d = dispatchers.get(ca);
  if (d === undefined) {
    d = import('undici').then(({ Agent }) => {
      const agent: Dispatcher = new Agent({ connect: { ca } });
      // The npm package's Agent and @types/node's undici-types Dispatcher are the same class in two
      // declarations; fetch only calls dispatch() on it.
      return agent as unknown as FetchDispatcher;
    });
    dispatchers.set(ca, d);
  }
  return d;
}

/** CertificateProblem is why a TLS connection to a server was refused, for a person. */
export interface CertificateProblem {
  /** Node's (OpenSSL's) code, e.g. SELF_SIGNED_CERT_IN_CHAIN. */
  code: string;
  /**
   * untrusted: not signed by a CA this side trusts (the fix is the CA); dates: expired or not yet
   * valid; name: it does not name the host asked for; not-tls: the server does not speak TLS.
   */
  kind: 'untrusted' | 'dates' | 'name' | 'not-tls';
  /** What is wrong with the server's certificate, completing "its certificate …". */
  why: string;
}

/** UNTRUSTED: the chain does not end at a CA this side trusts. */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'INVALID_CA',
]);

/**
 * certificateProblem reads the code of a failed connection (the error itself, or its cause, as
 * fetch wraps it) and says what was wrong with the server's certificate; undefined for any other
 * failure (refused, reset, timed out).
 */
export function certificateProblem(err: unknown): CertificateProblem | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (UNTRUSTED.has(code)) return { code, kind: 'untrusted', why: 'is not signed by a CA this client trusts' };
    if (code === 'CERT_HAS_EXPIRED') return { code, kind: 'dates', why: 'has expired' };
    if (code === 'CERT_NOT_YET_VALID') return { code, kind: 'dates', why: 'is not valid yet (check the clocks)' };
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return { code, kind: 'name', why: 'does not name the host in the URL (make one that does with muster cell init-tls --host NAME)' };
    if (code === 'EPROTO' && /wrong version number|packet length too long/i.test(String((e as { message?: unknown }).message))) {
      return { code, kind: 'not-tls', why: 'was never sent: the server does not speak TLS on that port (is it http://?)' };
    }
  }
  return undefined;
}
