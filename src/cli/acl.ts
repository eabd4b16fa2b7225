// `muster acl …`: tokens, policies and who the master takes you for; `muster cell audit`: who did
// what. A token's secret is printed once, when it is made: the master keeps only its hash.

import type { Command } from 'commander';
import type { AuditEntryView, PolicyGrantView, PolicyView, TokenView } from '../protocol/index.js';
import { contextOf } from './context.js';
import { UsageError } from './exitcodes.js';
import { ago, note, printJson, printLines, table } from './output.js';

const ACTIONS = 'job:read, job:write, task:logs, task:exec, framework:register, quota:write, host:drain, cell:admin, agent:join, or *';

export function addAclCommands(program: Command): void {
  const acl = program
    .command('acl')
    .description('access control: tokens, the policies that grant them actions on roles, and who you are')
    .addHelpText(
      'after',
      `
Every call to a master with authentication carries a token (MUSTER_TOKEN, or the token of the cell
in ~/.config/muster/config.yaml). A token has policies; a policy grants actions on roles:
  ${ACTIONS}
A management token may do everything. A cell that starts without tokens prints a bootstrap
(management) token once; make the others with it.

Examples:
  $ muster acl policy set web-deployer --grant job:read,job:write,task:logs@web
  $ muster acl token create alice --policy web-deployer --ttl 30d
  $ muster acl token list
  $ muster acl token revoke alice
  $ muster acl whoami`,
    );

  acl
    .command('whoami')
    .description('show who the master takes your token for, and its policies')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const me = await ctx.client.whoAmI();
      if (ctx.json) return printJson(me);
      if (me.open) return printLines(['the master runs without authentication: every call may do everything']);
      const expires = me.expiresAt === undefined ? '' : `, expires ${new Date(me.expiresAt).toISOString()}`;
      printLines([`${me.principal}: ${me.management ? 'management (every permission)' : `policies ${me.policies.join(', ') || '(none)'}`}${expires}`]);
    });

  const token = acl.command('token').description('make, list and revoke tokens');
  token
    .command('create')
    .description('make a token and print its secret (shown this once)')
    .argument('<NAME>', 'a name for it (the audit records its calls under it): a-z 0-9 . _ @ -')
    .option('--policy <name>', 'a policy it has; repeat for more', (v: string, all: string[] = []) => [...all, v])
    .option('--management', 'it may do everything')
    .option('--ttl <duration>', 'it stops working after this long: 3600, 90m, 12h, 30d')
    .addHelpText(
      'after',
      `
Examples:
  $ muster acl token create ci-web --policy web-deployer --ttl 90d
  $ muster acl token create ops --management
  $ export MUSTER_TOKEN=$(muster acl token create alice --policy readers --json | jq -r .secret)`,
    )
    .action(async (name: string, opts: { policy?: string[]; management?: boolean; ttl?: string }, cmd: Command) => {
      const ttlSecs = opts.ttl === undefined ? undefined : durationSecs(opts.ttl);
      if (opts.management !== true && (opts.policy ?? []).length === 0) {
        throw new UsageError('a token needs a --policy (or --management)', `e.g. muster acl token create ${name} --policy readers`);
      }
      const ctx = contextOf(cmd);
      const made = await ctx.client.createToken({ name, policies: opts.policy ?? [], management: opts.management === true, ...(ttlSecs === undefined ? {} : { ttlSecs }) });
      if (ctx.json) return printJson(made);
      note(`made token ${made.token.name} (${made.token.accessorId}); its secret, shown this once:`);
      printLines([made.secret]);
    });
  token
    .command('list')
    .description('list the tokens (never their secrets)')
    .option('--all', 'revoked ones too')
    .action(async (opts: { all?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const tokens = await ctx.client.listTokens(opts.all === true);
      if (ctx.json) return printJson({ tokens });
      printLines(tokenLines(tokens, Date.now()));
    });
  token
    .command('revoke')
    .description('revoke a token, by name or accessor id: every master refuses it from then on')
    .argument('<NAME|ID>')
    .action(async (which: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const revoked = await ctx.client.revokeToken(which);
      if (ctx.json) return printJson({ token: revoked });
      note(`revoked token ${revoked.name} (${revoked.accessorId})`);
    });

  const policy = acl.command('policy').description('set, list and delete policies');
  policy
    .command('set')
    .description('set a policy (replacing one of that name): each --grant is ACTIONS@ROLES')
    .argument('<NAME>')
    .option('--grant <actions@roles>', 'e.g. job:read,job:write@web,api or job:read@*; repeat for more', (v: string, all: string[] = []) => [...all, v])
    .option('--description <text>')
    .addHelpText(
      'after',
      `
Actions: ${ACTIONS}. Roles: role names, or * for every role.

Examples:
  $ muster acl policy set readers --grant job:read@*
  $ muster acl policy set web-deployer --grant job:read,job:write,task:logs@web --grant job:read@*
  $ muster acl policy set spark --grant framework:register@analytics`,
    )
    .action(async (name: string, opts: { grant?: string[]; description?: string }, cmd: Command) => {
      const grants = (opts.grant ?? []).map(parseGrant);
      if (grants.length === 0) throw new UsageError('a policy needs at least one --grant ACTIONS@ROLES', 'e.g. --grant job:read@*');
      const ctx = contextOf(cmd);
      const set = await ctx.client.setPolicy(name, { grants, ...(opts.description === undefined ? {} : { description: opts.description }) });
      if (ctx.json) return printJson({ policy: set });
      note(`set policy ${set.name}`);
      printLines(policyLines([set]));
    });
  policy
    .command('list')
    .description('list the policies and their grants')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const policies = await ctx.client.listPolicies();
      if (ctx.json) return printJson({ policies });
      printLines(policies.length === 0 ? ['no policies'] : policyLines(policies));
    });
  policy
    .command('delete')
    .description('delete a policy: tokens that name it lose its grants')
    .argument('<NAME>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      await ctx.client.deletePolicy(name);
      if (ctx.json) return printJson({ deleted: name });
      note(`deleted policy ${name}`);
    });
}

/** addAuditCommand adds `muster cell audit`. */
export function addAuditCommand(cell: Command): void {
  cell
    .command('audit')
    .description('list the latest changes to the cell and who made them (needs cell:admin)')
    .option('--principal <name>', 'only those of this token (or "master", "anonymous")')
    .option('--limit <n>', 'at most this many, the latest (default 100, at most 1000)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw new UsageError(`--limit ${v} must be a whole number from 1 to 1000`);
      return n;
    })
    .action(async (opts: { principal?: string; limit?: number }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const entries = await ctx.client.audit({ ...(opts.limit === undefined ? {} : { limit: opts.limit }), ...(opts.principal === undefined ? {} : { principal: opts.principal }) });
      if (ctx.json) return printJson({ entries });
      printLines(auditLines(entries));
    });
}

/** parseGrant reads ACTIONS@ROLES: "job:read,job:write@web,api". */
export function parseGrant(text: string): PolicyGrantView {
  const at = text.lastIndexOf('@');
  if (at <= 0 || at === text.length - 1) throw new UsageError(`--grant "${text}" must be ACTIONS@ROLES`, 'e.g. job:read,job:write@web or job:read@*');
  const list = (s: string): string[] => s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  return { actions: list(text.slice(0, at)), roles: list(text.slice(at + 1)) };
}

/** durationSecs reads 3600, 90s, 90m, 12h or 30d as seconds. */
export function durationSecs(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (m === null) throw new UsageError(`--ttl "${text}" is not a duration`, 'write it like 3600, 90m, 12h or 30d');
  const n = Number(m[1]);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  const secs = n * unit;
  if (secs < 1 || secs > 10 * 365 * 86400) throw new UsageError(`--ttl ${text} must be from 1 second to ten years`);
  return secs;
}

function tokenLines(tokens: readonly TokenView[], now: number): string[] {
  if (tokens.length === 0) return ['no tokens'];
  return table(
    ['NAME', 'ID', 'POLICIES', 'MADE', 'EXPIRES', 'BY'],
    tokens.map((t) => [
      t.revokedAt === undefined ? t.name : `${t.name} (revoked)`,
      t.accessorId,
      t.management ? 'management' : t.policies.join(','),
      ago(t.createdAt, now),
      t.expiresAt === undefined ? 'never' : new Date(t.expiresAt).toISOString(),
      t.createdBy ?? '-',
    ]),
  );
}

function policyLines(policies: readonly PolicyView[]): string[] {
  return table(
    ['POLICY', 'GRANTS', 'DESCRIPTION'],
    policies.map((p) => [p.name, p.grants.map((g) => `${g.actions.join(',')}@${g.roles.join(',')}`).join(' '), p.description ?? '']),
  );
}

function auditLines(entries: readonly AuditEntryView[]): string[] {
  if (entries.length === 0) return ['nothing recorded'];
  return table(
    ['WHEN', 'WHO', 'WHAT', 'SUBJECT'],
    entries.map((e) => [new Date(e.at).toISOString(), e.by, e.action, e.subject ?? '']),
  );
}
