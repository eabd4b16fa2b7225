// `muster cell status`: the master and every agent, with what is used of what each has.
// `muster cell init-tls`: a small cell's CA and the certificates of its master and agents.

import type { Command } from 'commander';
import type { CellView, EtcdMemberView } from '../protocol/index.js';
import { DEFAULT_CERT_DAYS, MAX_CERT_DAYS } from '../tls/index.js';
import { contextOf } from './context.js';
import { addAuditCommand } from './acl.js';
import * as flags from './flags.js';
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
  addInitTlsCommand(cell);
}

function addInitTlsCommand(cell: Command): void {
  cell
    .command('init-tls')
    .usage('DIR --host NAME [options]')
    .argument('<dir>', 'where to write the files (made 0700 if new)')
    .description("make a small cell's CA and the certificates of its master and agents")
    .option('--host <names>', 'a name or IP address the master and agents are reached at; repeat or separate with commas (localhost, 127.0.0.1 and ::1 are always in)', (v: string, all: string[] = []) => [
      ...all,
      ...v.split(',').map((n) => n.trim()).filter((n) => n !== ''),
    ])
    .option('--days <n>', `lifetime of the master and agent certificates (default ${DEFAULT_CERT_DAYS}; the CA lives 10 years)`, flags.positiveInt(MAX_CERT_DAYS))
    .addHelpText(
      'after',
      `
Writes ca.pem and ca-key.pem (the CA), master.pem and master-key.pem, agent.pem and agent-key.pem;
keys are 0600. Keep ca-key.pem off the cell's machines. Run it again in the same DIR to issue new
certificates (other --host names, or before they expire): the CA there is kept.

Examples:
  $ muster cell init-tls ./tls --host 10.0.0.1 --host muster.example.org
  $ muster master --host 0.0.0.0 --tls-cert tls/master.pem --tls-key tls/master-key.pem --tls-ca tls/ca.pem
  $ muster agent --master https://10.0.0.1:5050 --tls-ca tls/ca.pem --tls-cert tls/agent.pem --tls-key tls/agent-key.pem
  $ muster --ca tls/ca.pem --master https://10.0.0.1:5050 job list`,
    )
    .action(async (dir: string, opts: { host?: string[]; days?: number }, cmd: Command) => {
      // Loaded here: what makes certificates (and node:crypto) is no part of any other command.
      const { initTls } = await import('./inittls.js');
      await initTls(dir, { hosts: opts.host ?? [], ...(opts.days === undefined ? {} : { days: opts.days }), json: cmd.optsWithGlobals<{ json?: boolean }>().json === true });
    });
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
