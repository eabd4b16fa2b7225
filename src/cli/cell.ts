// `muster cell status`: the master and every agent, with what is used of what each has.

import type { Command } from 'commander';
import type { CellView, EtcdMemberView } from '../protocol/index.js';
import { contextOf } from './context.js';
import { addAuditCommand } from './acl.js';
import { addSnapshotCommands } from './snapshot.js';
import { duration, keyValues, printJson, printLines, table, usage } from './output.js';

export function addCellCommands(program: Command): void {
  const cell = program
    .command('cell')
    .description('show the cell: its master and its agents')
    .addHelpText(
      'after',
      `
A cell is one master (or a replicated set) and the agents it pools.

Examples:
  $ muster cell status
  $ muster cell status --master http://10.0.0.1:5050,http://10.0.0.2:5050`,
    );

  cell
    .command('status')
    .description('show the master, the cell totals, and one row per agent with its used/total resources')
    .addHelpText(
      'after',
      `
Examples:
  $ muster cell status
  $ muster cell status --json | jq '.agents[] | {hostname, state}'`,
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const view = await ctx.client.cell();
      if (ctx.json) return printJson(view);
      printLines(cellLines(view, Date.now()));
    });

  addSnapshotCommands(cell);
  addAuditCommand(cell);
}

/** etcdLine is "http://10.0.0.1:2379  healthy, raft leader" or "… unhealthy: connect ECONNREFUSED …". */
function etcdLine(e: EtcdMemberView): string {
  if (!e.healthy) return `${e.endpoint}  unhealthy${e.error === undefined ? '' : `: ${e.error}`}`;
  return `${e.endpoint}  healthy${e.leader === true ? ', raft leader' : ''}`;
}

/** cellLines is the readable form of `cell status`. */
export function cellLines(cell: CellView, now: number): string[] {
  const pairs: [string, string][] = [
    ['master', `${cell.masterId} (version ${cell.version}, up ${duration(now - cell.startedAt)})`],
    ...(cell.authentication === 'open' ? [['access', 'OPEN: no authentication, every call may do everything (--insecure-no-auth or muster dev)'] as [string, string]] : []),
    // HA masters: where the leader is and its term, beside the log index it has reached.
    cell.leader === undefined
      ? ['log index', String(cell.logIndex)]
      : ['leader', `${cell.leader}${cell.epoch === undefined ? '' : ` (epoch ${cell.epoch})`}, log index ${cell.logIndex}`],
    ['agents', String(cell.agents.length)],
    ['cpus', usage(cell.used, cell.total, 'cpus')],
    ['mem', usage(cell.used, cell.total, 'mem')],
    ['disk', usage(cell.used, cell.total, 'disk')],
  ];
  if (cell.total.gpus > 0) pairs.push(['gpus', usage(cell.used, cell.total, 'gpus')]);
  pairs.push(['jobs', `${cell.jobCount} (${cell.taskCount} tasks, ${cell.pendingCount} pending)`]);
  // The built-in framework runs the jobs; external ones (Mesos API) are listed with their tasks.
  const frameworks = cell.frameworks ?? [];
  pairs.push(['frameworks', ['muster (built-in)', ...frameworks.map((f) => `${f.name} ${f.frameworkId} (${f.connected ? 'connected' : 'disconnected'}, ${f.tasks} tasks)`)].join(', ')]);
  if (cell.masters !== undefined && cell.masters.length > 0) {
    pairs.push(['masters', cell.masters.map((m) => (m.leading ? `${m.url} (leader)` : m.url)).join(', ')]);
  }
  // One line per etcd member, so that a member down stands out on a line of its own.
  for (const e of cell.etcd ?? []) pairs.push(['etcd', etcdLine(e)]);
  const lines = keyValues(pairs);
  if (cell.agents.length === 0) return [...lines, '', 'no agents have registered yet'];
  const rows = cell.agents.map((a) => [
    a.agentId,
    a.hostname,
    `${a.address}:${a.port}`,
    a.state,
    usage(a.used, a.total, 'cpus'),
    usage(a.used, a.total, 'mem'),
    String(a.taskCount),
    // The agent describes its isolation in a sentence; the table shows its first words ("cgroups v1", "none").
    a.isolation?.split(/[:(,]/)[0]?.trim() ?? '-',
  ]);
  return [...lines, '', ...table(['AGENT', 'HOSTNAME', 'ADDRESS', 'STATE', 'CPUS', 'MEM', 'TASKS', 'ISOLATION'], rows)];
}
