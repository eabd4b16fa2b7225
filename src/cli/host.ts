// `muster host …`: drain hosts for maintenance, put them back, and watch a drain finish. Hosts are
// named by hostname, as agents report it (`muster cell status` lists them). The CLI checks the
// names' form itself (exit 2); the master checks that each is a known host (exit 4).

import type { Command } from 'commander';
import { MusterError } from '../core/index.js';
import type { HostView } from '../protocol/index.js';
import { contextOf } from './context.js';
import { UsageError } from './exitcodes.js';
import { ago, note, printJson, printLines, table } from './output.js';

/** The master's bounds on one request, checked here first so that a typo fails before anything is sent. */
const MAX_HOSTS = 1000;
const MAX_HOSTNAME_LENGTH = 255;
const HOSTNAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;

export function addHostCommands(program: Command): void {
  const host = program
    .command('host')
    .description('drain hosts for maintenance, activate them again, and show their state')
    .addHelpText(
      'after',
      `
A draining host gets no new tasks. Its service instances move to other hosts a few at a time: at
most the job's update.batchSize instances of a service are moving at once, and the next ones move
only when the replacements run (and are healthy, if the job has a health check). Batch-job tasks
are left to finish where they are. Once nothing runs on a draining host it shows as DRAINED, and
it can be taken down.

Examples:
  $ muster host drain node-7
  $ muster host status node-7           # DRAINING until its tasks have moved, then DRAINED
  $ muster host activate node-7
  $ muster host status`,
    );

  host
    .command('drain')
    .description('stop placing tasks on hosts and move their service instances elsewhere, in batches')
    .usage('[options] HOST...')
    .argument('<HOST...>', 'hostnames, as agents report them')
    .addHelpText(
      'after',
      `
Services move off in batches of their update.batchSize; batch-job tasks on the host run to the end.
Draining a host that is draining already changes nothing. An unknown host name is refused (exit 4)
and no host is drained.

Examples:
  $ muster host drain node-7
  $ muster host drain node-7 node-8 --json
  $ until muster host status node-7 | grep -q DRAINED; do sleep 5; done`,
    )
    .action(async (names: string[], _opts: unknown, cmd: Command) => {
      const hostnames = hostArgs(names);
      const ctx = contextOf(cmd);
      const hosts = await ctx.client.drainHosts(hostnames);
      if (ctx.json) return printJson({ hosts });
      note(`draining ${hostnames.join(', ')}: no new tasks land there, and services move off in batches`);
      printLines(hostLines(hosts, Date.now()));
    });

  host
    .command('activate')
    .description('take hosts out of maintenance: they get new tasks again')
    .usage('[options] HOST...')
    .argument('<HOST...>', 'hostnames, as agents report them')
    .addHelpText(
      'after',
      `
Tasks that moved away during the drain stay where they are now; new ones may land on the host.

Examples:
  $ muster host activate node-7
  $ muster host activate node-7 node-8`,
    )
    .action(async (names: string[], _opts: unknown, cmd: Command) => {
      const hostnames = hostArgs(names);
      const ctx = contextOf(cmd);
      const hosts = await ctx.client.activateHosts(hostnames);
      if (ctx.json) return printJson({ hosts });
      note(`activated ${hostnames.join(', ')}`);
      printLines(hostLines(hosts, Date.now()));
    });

  host
    .command('status')
    .description('show each host: ACTIVE, DRAINING or DRAINED, with the tasks and services still on it')
    .usage('[options] [HOST...]')
    .argument('[HOST...]', 'only these hosts (default: every host)')
    .addHelpText(
      'after',
      `
TASKS counts every task on the host that has not ended; SERVICES those that are service instances.
A DRAINING host with no task left is DRAINED.

Examples:
  $ muster host status
  $ muster host status node-7
  $ muster host status --json | jq -r '.hosts[] | select(.mode == "DRAINED") | .hostname'`,
    )
    .action(async (names: string[], _opts: unknown, cmd: Command) => {
      const wanted = names.length === 0 ? undefined : hostArgs(names);
      const ctx = contextOf(cmd);
      let hosts = await ctx.client.listHosts();
      if (wanted !== undefined) {
        const known = new Set(hosts.map((h) => h.hostname));
        const unknown = wanted.filter((h) => !known.has(h));
        if (unknown.length > 0) throw new MusterError('AGENT_NOT_FOUND', `no agent has the hostname ${unknown.join(', ')}; see muster host status`);
        const only = new Set(wanted);
        hosts = hosts.filter((h) => only.has(h.hostname));
      }
      if (ctx.json) return printJson({ hosts });
      if (hosts.length === 0) return note('no agent has registered yet, so there is no host');
      printLines(hostLines(hosts, Date.now()));
    });
}

/** hostArgs checks host names as the master will, so that a typo is a usage error; duplicates count once. */
export function hostArgs(names: readonly string[]): string[] {
  if (names.length > MAX_HOSTS) throw new UsageError(`${names.length} hosts given; at most ${MAX_HOSTS} at a time`);
  for (const name of names) {
    if (name.length > MAX_HOSTNAME_LENGTH) throw new UsageError(`a hostname has at most ${MAX_HOSTNAME_LENGTH} characters; "${name.slice(0, 40)}…" has ${name.length}`);
    if (!HOSTNAME.test(name)) throw new UsageError(`"${name}" is not a hostname`, 'letters, digits, ".", "-" and "_"; see muster host status');
  }
  return [...new Set(names)];
}

/** hostLines is the readable form of the host commands: a row per host. */
export function hostLines(hosts: readonly HostView[], now: number): string[] {
  const rows = hosts.map((h) => [h.hostname, h.mode, String(h.tasks), String(h.services), h.since === undefined ? '-' : ago(h.since, now)]);
  return table(['HOST', 'MODE', 'TASKS', 'SERVICES', 'SINCE'], rows);
}
