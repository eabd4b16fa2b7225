// How a command that failed tells it: for people, what went wrong and what to do about it on
// stderr (one line for one mistake, one line per problem for a config with several; a stack only
// for a bug); for machines, with --json, the API's error object on stdout,
// {"error":{"code","message","details"}}, whatever the failure: a usage error, a master that
// cannot be reached, a job that failed while --wait watched it.

import { CommanderError } from 'commander';
import { MusterError } from '../core/index.js';
import { EXIT, exitCodeOf, hintOf, OutcomeError, UsageError } from './exitcodes.js';
import type { ExitCode, OutcomeCode } from './exitcodes.js';
import type { ErrorCode } from '../core/index.js';

/** ErrorObject is what --json prints for a failure: the API's error body, or one shaped like it. */
export interface ErrorObject {
  error: { code: ErrorCode | OutcomeCode; message: string; details?: Record<string, unknown> };
}

/** Failure is how a command ended badly: its exit code, the lines for a person, the object for a machine. */
export interface Failure {
  exitCode: ExitCode;
  /** What to write on stderr; empty when it has been written already (commander's own messages). */
  lines: string[];
  /** What --json prints on stdout; undefined when the command did not fail (help, --version). */
  object: ErrorObject | undefined;
}

/** problemsOf reads the problems an INVALID_JOB error lists in its details, if any. */
function problemsOf(details: Record<string, unknown> | undefined): { messages: string[]; more: number } {
  const list = details?.['problems'];
  if (!Array.isArray(list)) return { messages: [], more: 0 };
  const messages = list.flatMap((p: unknown) => {
    const message = (p as { message?: unknown } | null)?.message;
    return typeof message === 'string' && message !== '' ? [message] : [];
  });
  const more = typeof details?.['more'] === 'number' ? details['more'] : 0;
  return { messages, more };
}

/**
 * musterErrorLines writes the master's error for a person: its message with a hint, or, for a
 * config with several problems, each on its own line so that none hides behind another:
 *   muster: the job config has 2 problems:
 *     unknown field `command` in processes[0]; did you mean `cmd`?
 *     field "processes[0].cmd": is required
 */
export function musterErrorLines(err: MusterError): string[] {
  const { messages, more } = problemsOf(err.details);
  if (messages.length + more > 1) {
    const what = err.code === 'INVALID_JOB' ? 'the job config has' : 'there are';
    return [`muster: ${what} ${messages.length + more} problems:`, ...messages.map((m) => `  ${m}`), ...(more > 0 ? [`  and ${more} more`] : [])];
  }
  const hint = hintOf(err.code, err.message, err.details);
  return [`muster: ${err.message}${hint === undefined ? '' : ` (${hint})`}`];
}

/** commanderMessage is commander's message without its "error: " prefix. */
function commanderMessage(err: CommanderError): string {
  return err.message.replace(/^error: /, '');
}

/**
 * failureOf says how a command that threw ended. Mistakes a person can fix get one line (a line per
 * problem for a config); anything else is a bug, and a bug gets its stack.
 */
export function failureOf(err: unknown): Failure {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return { exitCode: EXIT.OK, lines: [], object: undefined };
    // Commander has printed its message, or the help when no command was given.
    const message = err.code === 'commander.help' ? 'a command is needed: the usage printed on stderr lists them' : commanderMessage(err);
    return { exitCode: EXIT.USAGE, lines: [], object: { error: { code: 'INVALID_ARGUMENT', message } } };
  }
  if (err instanceof UsageError) {
    const object: ErrorObject = { error: { code: 'INVALID_ARGUMENT', message: err.message } };
    if (err.hint !== undefined) object.error.details = { hint: err.hint };
    return { exitCode: EXIT.USAGE, lines: [`muster: ${err.message}${err.hint === undefined ? '' : ` (${err.hint})`}`], object };
  }
  if (err instanceof OutcomeError) {
    const object: ErrorObject = { error: { code: err.code, message: err.message.split('\n')[0] ?? err.message } };
    if (err.details !== undefined) object.error.details = err.details;
    return { exitCode: err.exitCode, lines: [`muster: ${err.message}`], object };
  }
  if (err instanceof MusterError) {
    return { exitCode: exitCodeOf(err.code), lines: musterErrorLines(err), object: err.toBody() };
  }
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  const message = err instanceof Error ? err.message : String(err);
  return { exitCode: EXIT.INTERNAL, lines: [`muster: internal error: ${text}`], object: { error: { code: 'INTERNAL', message } } };
}

/** report prints how a command failed, for people on stderr and, with json, for machines on stdout; it returns the exit code. */
export function report(err: unknown, json: boolean): ExitCode {
  const failure = failureOf(err);
  if (failure.lines.length > 0) process.stderr.write(`${failure.lines.join('\n')}\n`);
  if (json && failure.object !== undefined) process.stdout.write(`${JSON.stringify(failure.object, undefined, 2)}\n`);
  return failure.exitCode;
}

/**
 * wantsJson tells whether --json is among the global flags, before commander has parsed them: a
 * command line that does not parse must still fail in JSON. Arguments after -- belong to another
 * program (task exec) and do not count.
 */
export function wantsJson(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--json') return true;
  }
  return false;
}
