// The agent's API token guards what its HTTP server can do to tasks: run a command in one (POST
// /exec) and read their sandboxes (/files/*). Tasks run on the same machine and can reach the
// agent's port, so the port alone proves nothing. The agent makes the token (32 random bytes) once,
// keeps it in <work-dir>/api-token (0600, the agent's user; never in a task's environment), and
// sends it to the master in its SUBSCRIBE; the master keeps it in memory and sends it as
// `Authorization: Bearer <token>` on its calls to the agent. /health, /state and /metrics stay
// open: they show ids, states and figures, and neither a file's content nor a way into a task.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

/** API_TOKEN_FILE is the token's file in the agent's work dir. */
export const API_TOKEN_FILE = 'api-token';
/** API_TOKEN_BYTES: 256 bits of the kernel's randomness. */
const API_TOKEN_BYTES = 32;
/** API_TOKEN_PATTERN is a token as made here: 32 bytes in base64url, no padding. */
const API_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * loadApiToken returns the token kept in the work dir, making a new one when there is none, or
 * when the file is not one the agent alone could have read all along (another owner, a mode open
 * to others, a link, a malformed content): such a token may be known to someone else.
 */
export function loadApiToken(workDir: string): string {
  const file = path.join(workDir, API_TOKEN_FILE);
  const kept = readPrivateFile(file, API_TOKEN_PATTERN);
  if (kept !== undefined) return kept;
  const token = randomBytes(API_TOKEN_BYTES).toString('base64url');
  writePrivateFile(file, token);
  return token;
}

/** writePrivateFile writes a secret to a file only the agent's user can read, whole or not at all (a rename). */
export function writePrivateFile(file: string, secret: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    // The mode passed to open is masked by the umask; a umask cannot widen it, but be exact.
    fchmodSync(fd, 0o600);
    writeSync(fd, `${secret}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/**
 * readPrivateFile reads a secret from a file that only the agent's user could read, and that has
 * the secret's shape; undefined otherwise (missing, another owner, open to others, a link).
 */
export function readPrivateFile(file: string, pattern: RegExp): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== process.geteuid?.() || (st.mode & 0o077) !== 0 || st.size > 1024) return undefined;
    const secret = readFileSync(fd, 'utf8').trim();
    return pattern.test(secret) ? secret : undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * bearerMatches tells whether an Authorization header carries the token. The comparison takes the
 * same time whatever the guess: both sides are hashed to equal lengths and compared in constant time.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || header.length > 1024) return false;
  const m = /^Bearer +(\S+) *$/i.exec(header);
  if (m === null) return false;
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1] ?? ''), digest(token));
}
