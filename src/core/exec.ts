// The request to run a command inside a running task (`muster task exec`), validated the same way
// by the master, which receives it from a person, and by the agent, which trusts nothing on the wire.

import { MusterError } from './errors.js';
import { controlCharacterProblem } from './text.js';

/** EXEC_LIMITS bound what one exec may ask for. */
export const EXEC_LIMITS = { args: 256, argLength: 16 * 1024, timeoutSecs: 3600, defaultTimeoutSecs: 600 } as const;

/** ExecCommandSpec is a validated exec request. */
export interface ExecCommandSpec {
  argv: string[];
  timeoutSecs: number;
}

/** parseExecRequest checks {argv, timeoutSecs?}; a bad field is an INVALID_ARGUMENT naming it. */
export function parseExecRequest(body: unknown): ExecCommandSpec {
  const b = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
  if (b === undefined) throw new MusterError('INVALID_ARGUMENT', 'the body must be a JSON object: {"argv": ["ls", "-l"]}');
  const unknown = Object.keys(b).filter((k) => k !== 'argv' && k !== 'timeoutSecs' && k !== 'taskId');
  if (unknown.length > 0) throw new MusterError('INVALID_ARGUMENT', `field "${unknown[0]}": unknown field`);
  const argv = b['argv'];
  if (!Array.isArray(argv) || argv.length === 0 || argv.length > EXEC_LIMITS.args) {
    throw new MusterError('INVALID_ARGUMENT', `field "argv": give the command and its arguments, 1 to ${EXEC_LIMITS.args} strings`);
  }
  for (const [i, arg] of argv.entries()) {
    if (typeof arg !== 'string' || arg.length > EXEC_LIMITS.argLength || arg.includes('\0') || (i === 0 && arg === '')) {
      throw new MusterError('INVALID_ARGUMENT', `field "argv[${i}]": must be a string of at most ${EXEC_LIMITS.argLength} characters without NUL`);
    }
    // As in a job's cmd: an argument may hold a script (tabs, lines), never another control character.
    const control = controlCharacterProblem(arg, { allowTabNewline: true });
    if (control !== undefined) throw new MusterError('INVALID_ARGUMENT', `field "argv[${i}]": ${control}`);
  }
  const timeout = b['timeoutSecs'] ?? EXEC_LIMITS.defaultTimeoutSecs;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0 || timeout > EXEC_LIMITS.timeoutSecs) {
    throw new MusterError('INVALID_ARGUMENT', `field "timeoutSecs": must be a number of seconds from 0 to ${EXEC_LIMITS.timeoutSecs}`);
  }
  return { argv: argv as string[], timeoutSecs: timeout };
}
