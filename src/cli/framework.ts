// `muster framework …`: the schedulers that take offers from the cell. "muster" is the built-in
// one (jobs); the others subscribed over the Mesos v1 scheduler API (POST /api/v1/scheduler).

import type { Command } from 'commander';
import type { FrameworkView } from '../protocol/index.js';
import { contextOf } from './context.js';
import { UsageError } from './exitcodes.js';
import { ago, note, printJson, printLines, table } from './output.js';

const FRAMEWORK_ID = /^[A-Za-z0-9._-]{1,256}$/;

export function addFrameworkCommands(program: Command): void {
  const framework = program
    .command('framework')
    .description('list the frameworks that take offers from the cell, and tear external ones down')
    .addHelpText(
      'after',
      `
"muster" is the built-in framework: it runs the cell's jobs. Other frameworks are schedulers that
subscribed over the Mesos v1 scheduler API (POST /api/v1/scheduler on the leading master), like
any Mesos framework. A disconnected framework's tasks keep running until its failover timeout.

Examples:
  $ muster framework list
  $ muster framework teardown 5f0c…`,
    );

  framework
    .command('list')
    .description('every framework: connected or not, its roles, tasks and what they hold')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const frameworks = await ctx.client.listFrameworks();
      if (ctx.json) return printJson({ frameworks });
      printLines(frameworkLines(frameworks, Date.now()));
    });

  framework
    .command('teardown')
    .description('remove an external framework: its offers are rescinded and its tasks killed')
    .usage('[options] FRAMEWORK_ID')
    .argument('<FRAMEWORK_ID>', 'as `muster framework list` shows it')
    .addHelpText(
      'after',
      `
The framework cannot subscribe again with its id afterwards. The built-in framework "muster" cannot
be torn down (kill its jobs instead).

Examples:
  $ muster framework teardown 5f0c2a9e-…`,
    )
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      if (!FRAMEWORK_ID.test(id)) throw new UsageError(`"${id}" is not a framework id; \`muster framework list\` shows them`);
      const ctx = contextOf(cmd);
      await ctx.client.teardownFramework(id);
      if (ctx.json) return printJson({ frameworkId: id, removed: true });
      note(`framework ${id} torn down: its tasks are being killed`);
    });
}

export function frameworkLines(frameworks: readonly FrameworkView[], now: number): string[] {
  return table(
    ['FRAMEWORK', 'NAME', 'CONNECTED', 'ROLES', 'TASKS', 'CPUS', 'MEM', 'SUBSCRIBED'],
    frameworks.map((f) => [
      f.frameworkId,
      f.name,
      f.builtIn ? 'built-in' : f.connected ? 'yes' : `no (failover ${f.failoverTimeoutSecs ?? 0}s)`,
      f.roles.join(','),
      String(f.tasks),
      String(f.used.cpus),
      `${f.used.mem}MiB`,
      f.builtIn ? '-' : ago(f.reregisteredAt ?? f.registeredAt, now),
    ]),
  );
}
