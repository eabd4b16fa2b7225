// checkServerTls tries a daemon's certificate, key and client CA together before it starts anything,
// so that a key that is not the certificate's fails with the flags' names, not at the first handshake.

import { createSecureContext } from 'node:tls';
import { MusterError } from '../core/index.js';

/** checkServerTls builds the server's TLS context once, as https.createServer will. */
export function checkServerTls(tls: { cert: string; key: string; clientCa?: string }): void {
  try {
    createSecureContext({ cert: tls.cert, key: tls.key, ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa }) });
  } catch (err) {
    throw new MusterError('INVALID_ARGUMENT', `--tls-cert and --tls-key cannot serve TLS: ${(err as Error).message}`, { cause: err });
  }
}
