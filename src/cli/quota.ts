// `muster quota …`: set, show and list the quotas of roles. The CLI reads RESOURCE=VALUE pairs
// itself, so that a typo fails here (exit 2) before anything is sent; the master checks the
// figures again against its limits (exit 3).

import type { Command } from 'commander';
import { checkKeyPart, isMilliPrecise, parseSize } from '../core/index.js';
import type { QuotaRequest, QuotaView } from '../protocol/index.js';
import { contextOf } from './context.js';
import { UsageError } from './exitcodes.js';
import { ago, keyValues, note, printJson, printLines, table } from './output.js';

const RESOURCES = ['cpus', 'mem', 'disk', 'gpus'] as const;
type Resource = (typeof RESOURCES)[number];

const EXAMPLE = 'muster quota set web cpus=8 mem=16GiB disk=100GiB gpus=2';

export function addQuotaCommands(program: Command): void {
  const quota = program
    .command('quota')
    .description("set and show roles' quotas of cpus, mem, disk and gpus for their preferred-tier jobs")
    .addHelpText(
      'after',
      `
A role's quota bounds what its preferred-tier (production) jobs may hold in all: each pending or
running instance counts its job's per-task request. Jobs of the preemptible and revocable tiers do
not count. A role without a quota is unlimited. Creating a job that would take its role past its
quota is refused with the figures (exit code 5), and nothing is created.

Examples:
  $ ${EXAMPLE}
  $ muster quota get web
  $ muster quota list
  $ muster quota set web --clear`,
    );

  quota
    .command('set')
    .description("replace a role's quota; resources left out are not limited (--clear removes the quota)")
    .usage('[options] ROLE RESOURCE=VALUE...')
    .argument('<ROLE>', 'the role, as in role/env/name')
    .argument('[RESOURCE=VALUE...]', 'cpus=CORES, mem=SIZE, disk=SIZE, gpus=N')
    .option('--clear', 'remove the quota: the role becomes unlimited')
    .addHelpText(
      'after',
      `
The quota given replaces the whole old one: a resource you leave out is not limited. cpus are cores
(at most 3 decimals), mem and disk are sizes as in job configs (16GiB, 512MiB; a bare number is
MiB), gpus are devices (shares count: gpus=1.5 holds three tasks of 0.5). A quota may be set below what the role holds now: its jobs keep
running, and new ones are refused until it holds less.

Examples:
  $ ${EXAMPLE}
  $ muster quota set batch cpus=0.5 mem=512MiB
  $ muster quota set web gpus=0          # no GPUs for web's production jobs, the rest unlimited
  $ muster quota set web --clear`,
    )
    .action(async (roleText: string, pairs: string[], opts: { clear?: boolean }, cmd: Command) => {
      const role = roleArg(roleText);
      if (opts.clear === true && pairs.length > 0) {
        throw new UsageError('--clear removes the whole quota and takes no RESOURCE=VALUE', `e.g. muster quota set ${role} --clear`);
      }
      const request = opts.clear === true ? undefined : parseQuotaArgs(pairs);
      const ctx = contextOf(cmd);
      const view = request === undefined ? await ctx.client.clearQuota(role) : await ctx.client.setQuota(role, request);
      if (ctx.json) return printJson(view);
      note(request === undefined ? `removed the quota of ${role}: it is unlimited` : `set the quota of ${role}`);
      printLines(quotaLines(view, Date.now()));
    });

  quota
    .command('get')
    .description("show a role's quota, what its preferred-tier jobs hold, and what is left")
    .argument('<ROLE>', 'the role, as in role/env/name')
    .addHelpText(
      'after',
      `
Examples:
  $ muster quota get web
  $ muster quota get web --json | jq .free`,
    )
    .action(async (roleText: string, _opts: unknown, cmd: Command) => {
      const role = roleArg(roleText);
      const ctx = contextOf(cmd);
      const view = await ctx.client.getQuota(role);
      if (ctx.json) return printJson(view);
      printLines(quotaLines(view, Date.now()));
    });

  quota
    .command('list')
    .description('list every role that has a quota, with used/quota of each resource')
    .addHelpText(
      'after',
      `
Examples:
  $ muster quota list
  $ muster quota list --json | jq -r '.quotas[].role'`,
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const quotas = await ctx.client.listQuotas();
      if (ctx.json) return printJson({ quotas });
      if (quotas.length === 0) return note(`no role has a quota, so every role is unlimited; set one with: ${EXAMPLE}`);
      printLines(listLines(quotas, Date.now()));
    });
}

/** roleArg checks a role as a job key's role is checked; a bad one is a usage error. */
function roleArg(text: string): string {
  const why = checkKeyPart(text);
  if (why !== undefined) throw new UsageError(`role ${why}`);
  return text;
}

/**
 * parseQuotaArgs reads RESOURCE=VALUE pairs into the body of PUT /api/v1/quotas/:role, mem and disk
 * as MiB. Each mistake is a usage error naming the pair: an unknown resource, one given twice, a
 * value that is negative or not a number or a size, or no pair at all.
 */
export function parseQuotaArgs(pairs: readonly string[]): QuotaRequest {
  if (pairs.length === 0) {
    throw new UsageError('quota set needs at least one RESOURCE=VALUE, or --clear to remove the quota', `e.g. ${EXAMPLE}`);
  }
  const request: QuotaRequest = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 0) throw new UsageError(`"${pair}" must be RESOURCE=VALUE`, 'e.g. cpus=8 mem=16GiB');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (!(RESOURCES as readonly string[]).includes(name)) {
      throw new UsageError(`unknown resource "${name}" in "${pair}"`, 'a quota names cpus, mem, disk or gpus');
    }
    const resource = name as Resource;
    if (request[resource] !== undefined) throw new UsageError(`${resource} is given twice`);
    switch (resource) {
      case 'cpus':
        if (!/^\d+(?:\.\d+)?$/.test(value) || !isMilliPrecise(Number(value))) {
          throw new UsageError(`cpus "${value}" must be a number of cores of at least 0, with at most 3 decimals`, 'e.g. cpus=8 or cpus=0.5');
        }
        request.cpus = Number(value);
        break;
      case 'mem':
      case 'disk': {
        const size = parseSize(value);
        if ('error' in size) throw new UsageError(`${resource}: ${size.error}`);
        request[resource] = size.mib;
        break;
      }
      case 'gpus':
        if (!/^\d+(?:\.\d+)?$/.test(value) || !isMilliPrecise(Number(value))) {
          throw new UsageError(`gpus "${value}" must be a number of devices of at least 0, with at most 3 decimals`, 'e.g. gpus=2 or gpus=1.5');
        }
        request.gpus = Number(value);
        break;
    }
  }
  return request;
}

/** amount writes one figure for a person: cores, devices, or an exact size (never rounded). */
function amount(resource: Resource, n: number): string {
  if (resource === 'cpus' || resource === 'gpus') return String(n);
  const sign = n < 0 ? '-' : '';
  const mib = Math.abs(n);
  if (mib !== 0 && mib % (1024 * 1024) === 0) return `${sign}${mib / (1024 * 1024)}TiB`;
  if (mib !== 0 && mib % 1024 === 0) return `${sign}${mib / 1024}GiB`;
  return `${sign}${mib}MiB`;
}

/** free writes what is left of a limited resource; a role over its quota shows by how much. */
function freeText(resource: Resource, n: number): string {
  return n < 0 ? `0 (over by ${amount(resource, -n)})` : amount(resource, n);
}

/** quotaLines is the readable form of `quota get`: the role, then a row per resource. */
export function quotaLines(view: QuotaView, now: number): string[] {
  const header = keyValues([
    ['role', view.role],
    ['quota', view.quota === undefined ? 'none: the role is unlimited' : `set ${ago(view.setAt, now)}`],
  ]);
  const rows = RESOURCES.map((r) => {
    const limit = view.quota?.[r];
    const left = view.free?.[r];
    return [r, limit === undefined ? 'unlimited' : amount(r, limit), amount(r, view.used[r]), left === undefined ? '-' : freeText(r, left)];
  });
  return [...header, '', ...table(['RESOURCE', 'QUOTA', 'USED', 'FREE'], rows)];
}

/** listLines is the readable form of `quota list`: a row per role, each resource as used/quota. */
export function listLines(quotas: readonly QuotaView[], now: number): string[] {
  const cell = (view: QuotaView, r: Resource): string => {
    const limit = view.quota?.[r];
    return `${amount(r, view.used[r])}/${limit === undefined ? '-' : amount(r, limit)}`;
  };
  const rows = quotas.map((q) => [q.role, ...RESOURCES.map((r) => cell(q, r)), ago(q.setAt, now)]);
  return [...table(['ROLE', 'CPUS', 'MEM', 'DISK', 'GPUS', 'SET'], rows), '', 'each resource is used/quota of the preferred-tier jobs; - is not limited'];
}
