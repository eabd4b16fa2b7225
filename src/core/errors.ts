// MusterError is the one error type that crosses a boundary (HTTP, CLI, agent link). Its code is
// stable: clients branch on the code, people read the message. Anything else thrown is a bug.

/** ErrorCode names every failure a client can act on, with the HTTP status it travels under. */
export const ERROR_STATUS = {
  INVALID_ARGUMENT: 400,
  INVALID_JOB: 400,
  UNSATISFIABLE: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  TASK_NOT_FOUND: 404,
  INSTANCE_NOT_FOUND: 404,
  AGENT_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  JOB_EXISTS: 409,
  CONFLICT: 409,
  TASK_NOT_RUNNING: 409,
  /** A preferred-tier job would take its role past its quota; it may fit once the role holds less. */
  QUOTA_EXCEEDED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INTERNAL: 500,
  AGENT_UNREACHABLE: 502,
  UNAVAILABLE: 503,
  NOT_LEADER: 503,
  TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

export interface MusterErrorOptions {
  details?: Record<string, unknown>;
  /** retryable marks transient faults (a master that is restarting, a lost connection). */
  retryable?: boolean;
  cause?: unknown;
}

export class MusterError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: MusterErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MusterError';
    this.code = code;
    this.details = options.details;
    this.retryable = options.retryable ?? false;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { error: { code: this.code, message: this.message } };
    if (this.details !== undefined) body.error.details = this.details;
    return body;
  }
}

/** isErrorCode tells whether a string from the wire is one of ours. */
export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && Object.hasOwn(ERROR_STATUS, s);
}
