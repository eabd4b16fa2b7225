// readPem reads a certificate, a key or a CA bundle named by a flag, so that a wrong path or a file
// of another kind fails at start with the flag's name, not at the first handshake. It is all the
// CLI loads of TLS before a command (node:tls and node:crypto cost a short command ~15 ms).

import { readFileSync } from 'node:fs';
import { MusterError } from '../core/index.js';

/** The most bytes a PEM file may hold: a CA bundle of a few hundred certificates. */
const MAX_PEM_BYTES = 1024 * 1024;

export type PemKind = 'certificate' | 'private key';

/**
 * readPem returns the text of a PEM file that holds at least one block of the kind (a key may be
 * "PRIVATE KEY", "EC PRIVATE KEY" or "RSA PRIVATE KEY"); the flag names it in the error.
 */
export function readPem(file: string, options: { kind: PemKind; flag: string }): string {
  let text: string;
  try {
    const buf = readFileSync(file);
    if (buf.length > MAX_PEM_BYTES) throw new MusterError('INVALID_ARGUMENT', `${options.flag} ${file} is larger than ${MAX_PEM_BYTES} bytes: not a PEM ${options.kind}`);
    text = buf.toString('utf8');
  } catch (err) {
    if (err instanceof MusterError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new MusterError('INVALID_ARGUMENT', `${options.flag} ${file}: cannot read it (${code})`, { cause: err });
  }
  const begin = options.kind === 'certificate' ? /-----BEGIN CERTIFICATE-----/ : /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;
  if (!begin.test(text)) {
    throw new MusterError('INVALID_ARGUMENT', `${options.flag} ${file} holds no PEM ${options.kind} (a "-----BEGIN ${options.kind === 'certificate' ? 'CERTIFICATE' : 'PRIVATE KEY'}-----" block)`);
  }
  return text;
}
