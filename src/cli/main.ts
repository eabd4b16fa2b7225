#!/usr/bin/env node
// The muster command: `muster <noun> <verb>`, plus the daemons `master`, `agent` and `dev`. This
// file builds the command tree and turns every way a command can end into an exit code; the nouns
// live in their own files.

import { Command } from 'commander';
import { MusterError, VERSION } from '../core/index.js';
import { addCellCommands } from './cell.js';
import { DEFAULT_MASTER } from './context.js';
import { addDaemonCommands } from './daemons.js';
import { EXIT } from './exitcodes.js';
import type { ExitCode } from './exitcodes.js';
import { addAclCommands } from './acl.js';
import { loadConfigFile } from './config.js';
import { addFrameworkCommands } from './framework.js';
import { addHostCommands } from './host.js';
import { addJobCommands } from './job.js';
import { addLbCommands } from './lb.js';
import { addQuotaCommands } from './quota.js';
import { report, wantsJson } from './report.js';
import { addTaskCommands } from './task.js';
import { addUpdateCommands } from './update.js';
import { addCronCommands } from './cron.js';

/** The commands that run a daemon rather than call one. */
const DAEMONS = new Set(['master', 'agent', 'dev']);

/** buildProgram makes the whole command tree; settings made before the nouns are added are inherited by them. */
export function buildProgram(): Command {
  const program = new Command('muster')
    .description('Muster runs services and batch jobs on a cell of machines: one master, many agents.')
    .usage('<command> [options]')
    .version(VERSION, '-V, --version', 'print the version of muster')
    .option('--master <url[,url...]>', `master(s) to talk to; default: $MUSTER_MASTER, else ${DEFAULT_MASTER}`)
    .option('--cell <name>', 'the cell of ~/.config/muster/config.yaml to talk to (default: $MUSTER_CELL, else its current)')
    .option('--ca <file>', "the CA (PEM) of an https:// master's certificate, e.g. the cell's ca.pem (default: $MUSTER_CA, else the cell's ca:, else the system's CAs)")
    .option('--json', 'print the API\'s JSON instead of tables')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'muster: ')) })
    .configureHelp({ showGlobalOptions: true, subcommandTerm })
    .addHelpText(
      'after',
      `
Start a whole cell on this machine with \`muster dev\`, then create a job from another terminal.
Run \`muster <command> -h\` for each command's guide.

Examples:
  $ muster dev
  $ muster job create examples/hello-service.yaml --wait
  $ muster job status web/prod/hello
  $ muster task logs web/prod/hello/0 -f

Exit codes:
  0 ok, 1 internal error, or the job or update --wait watched failed (an update rolled back),
  2 usage error, 3 input refused, 4 not found, 5 conflict (or the update watched was aborted),
  6 master unreachable or unavailable, 7 timed out waiting,
  8 no valid token (401) or not permitted (403).
With --json, a failure prints the API's error object on stdout: {"error":{"code","message","details"}}.`,
    );
  // The CLI's config file (named cells, tokens) is read before a client command runs; the daemons
  // take flags only, so a person's config file (or a mistake in it) never stops one starting.
  program.hook('preAction', (_program, action) => (DAEMONS.has(action.name()) ? undefined : loadConfigFile()));
  addDaemonCommands(program);
  addJobCommands(program);
  addUpdateCommands(program);
  addCronCommands(program);
  addTaskCommands(program);
  addQuotaCommands(program);
  addHostCommands(program);
  addFrameworkCommands(program);
  addAclCommands(program);
  addCellCommands(program);
  addLbCommands(program);
  finish(program, 'muster');
  return program;
}

/** subcommandTerm lists a verb with the usage it declares, so `create [KEY] FILE` reads as the contract writes it. */
function subcommandTerm(cmd: Command): string {
  if (cmd.commands.length > 0) return cmd.name();
  const args = cmd.usage().replace('[options]', '').trim();
  return [cmd.name(), cmd.options.length > 0 ? '[options]' : '', args].filter((p) => p !== '').join(' ');
}

/**
 * finish walks the tree once it is built: each command's usage errors point at its own help, and
 * a verb given more arguments than it takes is an error rather than silently ignoring them.
 */
function finish(cmd: Command, path: string): void {
  cmd.showHelpAfterError(`(see ${path} -h)`);
  if (cmd.commands.length === 0) cmd.allowExcessArguments(false);
  for (const sub of cmd.commands) finish(sub, `${path} ${sub.name()}`);
}

// --json decides how a failure is printed, even one found before commander has read the flags.
const json = wantsJson(process.argv.slice(2));

async function main(argv: string[]): Promise<ExitCode> {
  // `muster task logs … | head` closes stdout early: that is the reader's choice, not a failure.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.OK);
    throw err;
  });
  try {
    await buildProgram().parseAsync(argv);
    return EXIT.OK;
  } catch (err) {
    return report(err, json);
  }
}

// Daemons return from their action once started and keep the process alive with their servers;
// setting exitCode (rather than calling exit) lets pending output drain first.
// A command that passes on another program's status (`task exec`) sets exitCode itself.
let settled = false;
main(process.argv).then(
  (code) => {
    settled = true;
    process.exitCode = code === EXIT.OK ? (process.exitCode ?? code) : code;
  },
  (err: unknown) => {
    settled = true;
    process.exitCode = report(err, json);
  },
);
// A backstop: should a command ever be left waiting on something that keeps nothing alive (a
// request on a connection that died without an error), Node would run out of work and exit 0 as
// if it had succeeded. Say so and fail instead.
process.on('beforeExit', () => {
  if (settled) return;
  settled = true;
  const message = 'the command did not finish: its request to the master was left without an answer (did the master die?); check, then retry';
  process.exitCode = report(new MusterError('UNAVAILABLE', message), json);
});
