// Exit codes are part of the CLI's contract (docs/api.md): scripts branch on them, so
// every error maps to one here and nowhere else.

import type { ErrorCode } from '../core/index.js';

export const EXIT = {
  OK: 0,
  /** A bug, or the master failed in a way it did not expect. */
  INTERNAL: 1,
  /** The job --wait watched failed: its instances failed or kept failing, or it was killed. */
  FAILED: 1,
  /** A bad flag or argument: the command line must change. */
  USAGE: 2,
  /** The master refused the input (400/413/415), or a config does not parse or validate. */
  INVALID: 3,
  NOT_FOUND: 4,
  CONFLICT: 5,
  /** No master could be reached, or it said it is unavailable. */
  UNAVAILABLE: 6,
  /** Waiting (--wait) ran out of time, or the master gave up waiting (504). */
  TIMEOUT: 7,
  /** No valid token (401), or the token lacks the permission (403). */
  DENIED: 8,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * UsageError is a mistake on the command line found before anything was sent: one line to stderr,
 * exit 2. The message says what is wrong; the hint, when there is one, how to fix it.
 */
export class UsageError extends Error {
  readonly hint: string | undefined;

  constructor(message: string, hint?: string) {
    super(message);
    this.name = 'UsageError';
    this.hint = hint;
  }
}

/**
 * OutcomeCode names the ways a command can end badly that are not the master's errors, in the
 * `code` of the error object `--json` prints: JOB_FAILED when the job `--wait` watched failed
 * (its instances failed, or it was killed), TIMEOUT when `--wait` ran out of time. An update
 * `--wait` (or `update wait`) watched ends as UPDATE_ROLLED_BACK (exit 1: it failed and the job
 * went back to its old config), UPDATE_FAILED (exit 1: it failed and was left where it stopped)
 * or UPDATE_ABORTED (exit 5: someone aborted it, a conflict with the wait rather than a failure).
 */
export type OutcomeCode = 'JOB_FAILED' | 'TIMEOUT' | 'UPDATE_ROLLED_BACK' | 'UPDATE_FAILED' | 'UPDATE_ABORTED';

/**
 * OutcomeError is an expected way for a command to end badly that is not the master's error: a
 * job that failed while `--wait` watched it. It prints its message (the first line says what
 * happened, the next ones which instances and why) and exits with its code.
 */
export class OutcomeError extends Error {
  readonly code: OutcomeCode;
  readonly exitCode: ExitCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: OutcomeCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'OutcomeError';
    this.code = code;
    this.exitCode = code === 'TIMEOUT' ? EXIT.TIMEOUT : code === 'UPDATE_ABORTED' ? EXIT.CONFLICT : EXIT.FAILED;
    this.details = details;
  }
}

/** exitCodeOf maps the master's error codes to the CLI's exit codes. */
export function exitCodeOf(code: ErrorCode): ExitCode {
  switch (code) {
    case 'INVALID_ARGUMENT':
    case 'INVALID_JOB':
    case 'UNSATISFIABLE':
    case 'PAYLOAD_TOO_LARGE':
    case 'UNSUPPORTED_MEDIA_TYPE':
      return EXIT.INVALID;
    case 'NOT_FOUND':
    case 'JOB_NOT_FOUND':
    case 'TASK_NOT_FOUND':
    case 'INSTANCE_NOT_FOUND':
    case 'AGENT_NOT_FOUND':
      return EXIT.NOT_FOUND;
    case 'JOB_EXISTS':
    case 'CONFLICT':
    case 'TASK_NOT_RUNNING':
    case 'QUOTA_EXCEEDED':
      return EXIT.CONFLICT;
    case 'UNAVAILABLE':
    case 'NOT_LEADER':
    case 'AGENT_UNREACHABLE':
      return EXIT.UNAVAILABLE;
    case 'TIMEOUT':
      return EXIT.TIMEOUT;
    case 'UNAUTHENTICATED':
    case 'FORBIDDEN':
      return EXIT.DENIED;
    case 'METHOD_NOT_ALLOWED':
    case 'INTERNAL':
      return EXIT.INTERNAL;
  }
}

/**
 * hintOf says what a person can do about an error, when there is something to say that the
 * message does not: the master's own messages often end with the command to run already.
 */
export function hintOf(code: ErrorCode, message: string, details?: Record<string, unknown>): string | undefined {
  if (/\bmuster [a-z]/.test(message)) return undefined;
  switch (code) {
    case 'UNAVAILABLE':
      // The client's certificate errors say what is wrong; only a CA it lacks is fixed here.
      if (details?.['tls'] === 'untrusted') return "give the cell's CA with --ca FILE, MUSTER_CA or ca: in the config file";
      if (details?.['tls'] !== undefined) return undefined;
      return 'is the master running? Point at it with --master URL or MUSTER_MASTER';
    case 'JOB_NOT_FOUND':
      return 'see muster job list';
    case 'TASK_NOT_FOUND':
      return 'see muster task list --all';
    default:
      return undefined;
  }
}
