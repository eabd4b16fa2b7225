// `muster update …`: change a running job's config as a rolling update, and follow, steer or list
// updates. The master decides and carries out every step (batches, canaries, watch times, automatic
// rollback); the CLI shows the diff before it starts one, and `update wait` (or --wait) follows one
// to its end and turns how it ended into an exit code. `job diff`, `job scale` and `job restart`
// use the same diff lines and the same wait.

import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { JobContentType } from '../client/index.js';
import { MusterError } from '../core/index.js';
import { ACTIVE_UPDATE_STATUSES } from '../protocol/index.js';
import type { JobDiffView, UpdateStatus, UpdateSummaryView, UpdateView } from '../protocol/index.js';
import type { Context } from './context.js';
import { contextOf } from './context.js';
import { OutcomeError, UsageError } from './exitcodes.js';
import * as flags from './flags.js';
import { ago, duration, instanceList, note, printJson, printLines, table } from './output.js';
import { instancesArg, jobKeyArg } from './refs.js';

/** An update waits out a watch time per batch: longer than a job create's wait. */
export const DEFAULT_UPDATE_WAIT_SECS = 600;
const POLL_MS = 1000;
/** How many of an update's latest events `update status` shows. */
const STATUS_EVENTS = 5;
/** Values in diff lines are cut to this many characters. */
const VALUE_MAX = 60;
const BAR_WIDTH = 20;

const STEER_VERBS = ['pause', 'resume', 'abort', 'rollback', 'promote'] as const;
type SteerVerb = (typeof STEER_VERBS)[number];

export function addUpdateCommands(program: Command): void {
  const update = program
    .command('update')
    .description("change a running job's config as a rolling update; follow, pause, resume, abort, roll back or promote it")
    .addHelpText(
      'after',
      `
An update rolls a job's instances to a new config in batches, as the job's update: block says
(batch sizes, watch time, canaries, failures allowed, automatic rollback). One update per job is
active at a time. \`job scale\` and \`job restart\` (of a service) run as updates too.

Examples:
  $ muster update start web/prod/hello hello-v2.yaml --wait
  $ muster update status web/prod/hello
  $ muster update rollback web/prod/hello -m "v2 leaks memory"
  $ muster update list --status active`,
    );

  update
    .command('start')
    .description('show what a new config changes, then roll the job to it (all of its instances, or those given)')
    .usage('[options] [KEY[/INSTANCES]] FILE')
    // Variadic so that the action can tell "no FILE" apart in its own words, as job create does.
    .argument('[KEY_FILE...]')
    .option('--instances <list>', 'update only these instances, e.g. 0-3,7 (default: all)')
    .option('-m, --message <text>', 'why, recorded with the update and the new config version')
    .option('--wait', 'follow the update until it ends, as muster update wait does')
    .option('--timeout <secs>', `how long --wait waits before giving up with exit code 7 (default ${DEFAULT_UPDATE_WAIT_SECS}); the update goes on`, flags.seconds)
    .addHelpText(
      'after',
      `
FILE is the job's new config, sent as written (application/json for .json, YAML otherwise). KEY
(role/env/name) is optional: without it, the config's job: names the job. Instances after the key
(web/prod/hello/0-3) or in --instances limit the update to them; the rest keep the old config.

It prints the diff first: the fields that change and what happens to each instance (added,
removed, replaced, left alone); then the update's id. A config that changes nothing starts no
update and exits 0. With --wait, exit codes as muster update wait.

Examples:
  $ muster update start web/prod/hello hello-v2.yaml
  $ muster update start hello-v2.yaml --wait --timeout 900 -m "bump to v2"
  $ muster update start web/prod/hello/0-1 hello-v2.yaml`,
    )
    .action(async (args: string[], opts: { instances?: string; message?: string; wait?: boolean; timeout?: number }, cmd: Command) => {
      if (args.length === 0) throw new UsageError('update start needs a config FILE', 'e.g. muster update start web/prod/hello hello-v2.yaml');
      if (args.length > 2) throw new UsageError(`update start takes [KEY[/INSTANCES]] FILE, got ${args.length} arguments`);
      if (opts.timeout !== undefined && opts.wait !== true) throw new UsageError('--timeout applies only with --wait');
      const file = args[args.length - 1] as string;
      const text = await readConfig(file);
      const { key, instances } = instancesArg(args.length === 2 ? (args[0] as string) : await jobKeyOfConfig(text, file), opts.instances);
      const ctx = contextOf(cmd);
      const answer = await ctx.client.startUpdate(key, text, {
        contentType: contentTypeOf(file),
        ...(instances === undefined ? {} : { instances: instanceList(instances) }),
        ...(opts.message === undefined ? {} : { message: opts.message }),
      });
      await reportStarted(ctx, key, answer, { wait: opts.wait === true, timeoutSecs: opts.timeout ?? DEFAULT_UPDATE_WAIT_SECS });
    });

  update
    .command('status')
    .description("show a job's active (else latest) update: progress, each instance, versions and the latest events")
    .argument('<KEY|ID>', 'the job, role/env/name, or an update id')
    .addHelpText(
      'after',
      `
Examples:
  $ muster update status web/prod/hello
  $ muster update status 0b6f3c1e-8d2a-4c55-9a4e-2f7d1c9e6b10
  $ muster update status web/prod/hello --json | jq '.instances[] | select(.status == "FAILED")'`,
    )
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const target = updateRef(ref);
      const ctx = contextOf(cmd);
      const view = await fetchUpdate(ctx, target);
      if (ctx.json) return printJson(view);
      printLines(updateStatusLines(view, Date.now()));
    });

  for (const verb of STEER_VERBS) {
    update
      .command(verb)
      .description(STEER_DESCRIPTIONS[verb])
      .argument('<KEY>', 'the job, role/env/name')
      .option('-m, --message <text>', 'why, recorded with the change of status')
      .addHelpText('after', `${STEER_HELP[verb]}\n\nExamples:\n  $ muster update ${verb} web/prod/hello\n  $ muster update ${verb} web/prod/hello -m "${STEER_EXAMPLE[verb]}"`)
      .action(async (keyText: string, opts: { message?: string }, cmd: Command) => {
        const key = jobKeyArg(keyText);
        const ctx = contextOf(cmd);
        const view = await ctx.client.steerUpdate(key, verb, opts.message);
        if (ctx.json) return printJson(view);
        printLines([steerLine(verb, key, view)]);
      });
  }

  update
    .command('list')
    .description('list updates, newest first, with their status and versions')
    .option('--role <role>', 'only the updates of jobs of this role')
    .option('--job <KEY>', 'only the updates of this job')
    .option('--status <status>', 'only updates with this status, or in this group: active, paused, succeeded, failed, inactive, all; comma-separated')
    .addHelpText(
      'after',
      `
Examples:
  $ muster update list
  $ muster update list --status active
  $ muster update list --job web/prod/hello --status failed,ABORTED --json`,
    )
    .action(async (opts: { role?: string; job?: string; status?: string }, cmd: Command) => {
      const job = opts.job === undefined ? undefined : jobKeyArg(opts.job);
      const ctx = contextOf(cmd);
      const updates = await ctx.client.listUpdates({
        ...(opts.role === undefined ? {} : { role: opts.role }),
        ...(job === undefined ? {} : { job }),
        ...(opts.status === undefined ? {} : { status: opts.status }),
      });
      if (ctx.json) return printJson({ updates });
      if (updates.length === 0) return note('no updates; start one with: muster update start KEY FILE');
      printLines(updateTable(updates, Date.now(), { job: true }));
    });

  update
    .command('wait')
    .description('follow a job\'s active (else latest) update until it ends; the exit code says how it ended')
    .argument('<KEY|ID>', 'the job, role/env/name, or an update id')
    .option('--timeout <secs>', `how long to wait before giving up with exit code 7 (default ${DEFAULT_UPDATE_WAIT_SECS}); the update goes on`, flags.seconds)
    .addHelpText(
      'after',
      `
It shows progress on stderr (on a terminal, one line redrawn: done/total, status, batch, failures,
instances being watched and for how long; otherwise a line each time something changes), and
exits 0 when the update rolled forward; 1 when it rolled back (with why) or failed; 5 when it was
aborted; 7 at --timeout, leaving the update to go on. A paused update, or one awaiting promotion,
is still active: the wait goes on until someone resumes or promotes it, or --timeout.

Examples:
  $ muster update wait web/prod/hello
  $ muster update wait web/prod/hello --timeout 1800 && echo rolled forward`,
    )
    .action(async (ref: string, opts: { timeout?: number }, cmd: Command) => {
      const target = updateRef(ref);
      const ctx = contextOf(cmd);
      const view = await waitForUpdate(ctx, target, { timeoutSecs: opts.timeout ?? DEFAULT_UPDATE_WAIT_SECS });
      if (ctx.json) printJson(view);
    });
}

const STEER_DESCRIPTIONS: Record<SteerVerb, string> = {
  pause: "pause a job's active update where it stands (rolling forward or back)",
  resume: "resume a job's paused update",
  abort: "stop a job's active update for good, leaving each instance on the version it runs now",
  rollback: "roll a job's update back: its instances return to the config they ran before it",
  promote: "promote a job's canaries: the update goes on to the rest of the instances",
};

const STEER_HELP: Record<SteerVerb, string> = {
  pause: `
Instances being replaced finish; no new batch starts until muster update resume.`,
  resume: `
A paused update goes on in the direction it was going (forward or back).`,
  abort: `
An aborted update does not roll back: instances already updated keep the new config, the rest the
old one (muster update status shows which). To return to the old config: muster update rollback.`,
  rollback: `
Takes the job's active update, or its latest one when that was aborted or failed (while the job is
still at that update's version). Follow it with muster update wait.`,
  promote: `
An update with canaries updates them first, then waits (AWAITING_PROMOTION) for this, unless the
job's update: block has autoPromoteSecs.`,
};

const STEER_EXAMPLE: Record<SteerVerb, string> = {
  pause: 'looking at the error rate',
  resume: 'error rate is fine',
  abort: 'wrong config',
  rollback: 'v2 leaks memory',
  promote: 'canary looks good',
};

/** steerLine is the one line a steering verb prints: what happened and the update's new status. */
function steerLine(verb: SteerVerb, key: string, u: UpdateView): string {
  const which = `update ${u.id} of ${key} is now ${u.status}`;
  switch (verb) {
    case 'pause':
      return `paused: ${which}; resume it with: muster update resume ${key}`;
    case 'resume':
      return `resumed: ${which}; follow it with: muster update wait ${key}`;
    case 'abort':
      return `aborted: instances stay on the versions they run now (see muster update status ${key}); to return to the old config: muster update rollback ${key}`;
    case 'rollback':
      return `rolling back: ${which}; follow it with: muster update wait ${key}`;
    case 'promote':
      return `promoted: ${which}; follow it with: muster update wait ${key}`;
  }
}

/** UpdateRef names an update: a job (its active or latest update) or an update's id. */
export type UpdateRef = { key: string; id?: undefined } | { id: string; key?: undefined };

/** updateRef reads KEY (role/env/name) or an update id (no slash). */
function updateRef(text: string): UpdateRef {
  return text.includes('/') ? { key: jobKeyArg(text) } : { id: text };
}

function fetchUpdate(ctx: Context, ref: UpdateRef): Promise<UpdateView> {
  return ref.id !== undefined ? ctx.client.getUpdateById(ref.id) : ctx.client.getUpdate(ref.key);
}

// ---- config files ---------------------------------------------------------------------------------

/** readConfig reads a job config file; a file that cannot be read is a mistake on the command line. */
export async function readConfig(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`cannot read ${file}: no such file`, 'check the path');
    if (code === 'EISDIR') throw new UsageError(`cannot read ${file}: it is a directory`, 'give the job config file');
    if (code === 'EACCES' || code === 'EPERM') throw new UsageError(`cannot read ${file}: permission denied`);
    throw err;
  }
}

/** contentTypeOf: JSON for a .json file, YAML otherwise, as the master is told. */
export function contentTypeOf(file: string): JobContentType {
  return extname(file).toLowerCase() === '.json' ? 'application/json' : 'application/yaml';
}

/**
 * jobKeyOfConfig reads the job: of a config, for a command given FILE without KEY: the route of an
 * update names its job, which job create can leave to the master. A config that does not parse is
 * the master's INVALID_JOB (exit 3), as it would be if sent.
 */
export async function jobKeyOfConfig(text: string, file: string): Promise<string> {
  // Loaded when needed: the YAML reader (and zod, beside it) stay out of every other command's start-up.
  const { parseJobText } = await import('../core/jobspec.js');
  const doc = parseJobText(text);
  const job = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as { job?: unknown }).job : undefined;
  if (typeof job !== 'string' || job === '') throw new UsageError(`${file} has no job: to name the job`, 'give the job before FILE: role/env/name FILE');
  return job;
}

// ---- diffs ----------------------------------------------------------------------------------------

/** shortValue writes a config value as JSON, cut to VALUE_MAX characters; absent is "(none)". */
function shortValue(v: unknown): string {
  if (v === undefined) return '(none)';
  const text = (JSON.stringify(v) as string | undefined) ?? '(none)';
  return text.length > VALUE_MAX ? `${text.slice(0, VALUE_MAX - 1)}…` : text;
}

function some(n: number): string {
  return n === 1 ? 'instance' : 'instances';
}

/** fatesLine says what an update to the diff's config does to each instance; undefined when nothing. */
export function fatesLine(diff: JobDiffView): string | undefined {
  const parts: string[] = [];
  if (diff.add.length > 0) parts.push(`add ${some(diff.add.length)} ${instanceList(diff.add)}`);
  if (diff.remove.length > 0) parts.push(`remove ${some(diff.remove.length)} ${instanceList(diff.remove)}`);
  if (diff.change.length > 0) parts.push(`replace ${some(diff.change.length)} ${instanceList(diff.change)}`);
  if (diff.unchanged.length > 0) parts.push(`leave ${some(diff.unchanged.length)} ${instanceList(diff.unchanged)} unchanged`);
  return parts.length === 0 ? undefined : parts.join(', ');
}

/** changesNothing: the diff's config is the job's config, on every instance. */
export function changesNothing(diff: JobDiffView): boolean {
  return diff.fields.length === 0 && diff.add.length === 0 && diff.remove.length === 0 && diff.change.length === 0;
}

/**
 * diffLines is the readable form of a diff:
 *   web/prod/hello, against version 3:
 *     processes[0].cmd: "./hello --v1" -> "./hello --v2"
 *     instances: 3 -> 5
 *   this update will: add instances 3-4, replace instances 0-2
 */
export function diffLines(diff: JobDiffView, what = 'this update'): string[] {
  const lines = [`${diff.job}, against version ${diff.fromVersion}:`];
  if (diff.fields.length === 0) lines.push('  no field of the config changes');
  for (const f of diff.fields) lines.push(`  ${f.field}: ${shortValue(f.from)} -> ${shortValue(f.to)}`);
  const fates = fatesLine(diff);
  if (fates !== undefined) lines.push(`${what} will: ${fates}`);
  return lines;
}

/** StartAnswer is the master's answer to an update's or a scale's start. */
type StartAnswer = { update: UpdateView; diff: JobDiffView } | { noop: true; diff: JobDiffView };

/**
 * reportStarted prints the diff and the update started (or that there was nothing to change),
 * then, with wait, follows the update to its end. With --json it prints one document at the end:
 * the answer, its update as it ended when waited for.
 */
export async function reportStarted(ctx: Context, key: string, answer: StartAnswer, options: { wait: boolean; timeoutSecs: number }): Promise<void> {
  if ('noop' in answer) {
    if (ctx.json) return printJson(answer);
    return printLines([`nothing to change: ${key} already runs this config (version ${answer.diff.fromVersion})`]);
  }
  const u = answer.update;
  if (!ctx.json) {
    printLines([...diffLines(answer.diff), `started ${u.kind === 'update' ? 'update' : `${u.kind} update`} ${u.id} of ${key}: version ${u.fromVersion} -> ${u.toVersion}`]);
  }
  if (options.wait) {
    const ended = await waitForUpdate(ctx, { id: u.id }, { timeoutSecs: options.timeoutSecs });
    if (ctx.json) printJson({ ...answer, update: ended });
    return;
  }
  if (ctx.json) return printJson(answer);
  note(`follow it with: muster update wait ${key}`);
}

// ---- status ---------------------------------------------------------------------------------------

export function isActive(status: UpdateStatus): boolean {
  return ACTIVE_UPDATE_STATUSES.includes(status);
}

function versionsText(from: number, to: number): string {
  return from === to ? `v${to}` : `v${from} -> v${to}`;
}

/** versionGroups writes which instances run which version: "v1: 0-2, v2: 3-5". */
export function versionGroups(versions: Record<string, number>): string {
  const byVersion = new Map<number, number[]>();
  for (const [instance, version] of Object.entries(versions)) {
    const list = byVersion.get(version);
    if (list === undefined) byVersion.set(version, [Number(instance)]);
    else list.push(Number(instance));
  }
  const parts = [...byVersion.entries()].sort(([a], [b]) => a - b).map(([v, list]) => `v${v}: ${instanceList(list)}`);
  return parts.length === 0 ? '-' : parts.join(', ');
}

/** updateTable lists updates: JOB (when asked) ID STATUS KIND VERSIONS BY STARTED LAST MODIFIED. */
export function updateTable(updates: readonly UpdateSummaryView[], now: number, options: { job: boolean }): string[] {
  return table(
    [...(options.job ? ['JOB'] : []), 'ID', 'STATUS', 'KIND', 'VERSIONS', 'BY', 'STARTED', 'LAST MODIFIED'],
    updates.map((u) => [
      ...(options.job ? [u.job] : []),
      u.id,
      u.status,
      u.kind,
      versionsText(u.fromVersion, u.toVersion),
      u.by ?? '-',
      ago(u.createdAt, now),
      ago(u.lastModifiedAt, now),
    ]),
  );
}

/** updateStatusLines is the readable form of `update status`. */
export function updateStatusLines(u: UpdateView, now: number): string[] {
  const lines = [
    `${u.job}: ${u.kind === 'update' ? 'update' : `${u.kind} update`}${u.message === undefined ? '' : ` "${u.message}"`}${u.by === undefined ? '' : ` by ${u.by}`}, started ${ago(u.createdAt, now)}`,
    ...table(
      ['ID', 'STATUS', 'KIND', 'VERSIONS', 'BATCH', 'DONE', 'FAILED'],
      [[u.id, u.status, u.kind, versionsText(u.fromVersion, u.toVersion), `${u.batch}/${u.batches}`, `${u.done}/${u.total}`, String(u.failed)]],
    ),
  ];
  if (u.instances.length > 0) {
    lines.push(
      '',
      ...table(
        ['INSTANCE', 'CHANGE', 'STATUS', 'VERSION', 'FAILURES', 'MESSAGE'],
        u.instances.map((i) => [
          String(i.instance),
          i.change,
          i.status === 'WORKING' && i.workingAt !== undefined ? `WORKING ${duration(now - i.workingAt)}` : i.status,
          i.version === undefined ? '-' : `v${i.version}`,
          String(i.failures),
          i.message ?? '',
        ]),
      ),
    );
  }
  lines.push('', `versions: ${versionGroups(u.versions)}`);
  if (u.canaries !== undefined && u.canaries.length > 0) lines.push(`canaries: ${instanceList(u.canaries)}`);
  const events = u.events.slice(-STATUS_EVENTS);
  if (events.length > 0) {
    lines.push('events:');
    for (const e of events) lines.push(`  ${ago(e.at, now)}  ${e.status}${e.by === undefined ? '' : ` by ${e.by}`}${e.message === undefined ? '' : `: ${e.message}`}`);
  }
  const hint = statusHint(u);
  if (hint !== undefined) lines.push(hint);
  return lines;
}

function statusHint(u: UpdateView): string | undefined {
  switch (u.status) {
    case 'AWAITING_PROMOTION':
      return `its canaries wait for: muster update promote ${u.job} (or muster update rollback ${u.job})`;
    case 'ROLL_FORWARD_PAUSED':
    case 'ROLL_BACK_PAUSED':
      return `paused; resume it with: muster update resume ${u.job}`;
    case 'ABORTED':
    case 'FAILED':
      return u.kind === 'restart' ? undefined : `instances stay on the versions above; to return to the old config: muster update rollback ${u.job}`;
    default:
      return undefined;
  }
}

// ---- wait -----------------------------------------------------------------------------------------

/**
 * progressLine is one look at an update for a person: done/total (after a bar, on a terminal),
 * status, batch, failures, and the instances being watched with the longest watch so far.
 */
export function progressLine(u: UpdateView, now: number, options: { bar: boolean }): string {
  const working = u.instances.filter((i) => i.status === 'WORKING');
  const watched = Math.max(0, ...working.map((i) => (i.workingAt === undefined ? 0 : now - i.workingAt)));
  const filled = u.total === 0 ? BAR_WIDTH : Math.round((u.done / u.total) * BAR_WIDTH);
  const bar = options.bar ? `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ` : '';
  const parts = [`${bar}${u.job}: ${u.done}/${u.total} done`, u.status, `batch ${u.batch}/${u.batches}`];
  if (u.failed > 0) parts.push(`${u.failed} failed`);
  if (working.length > 0) parts.push(`${working.length} working${options.bar ? ` (${duration(watched)})` : ''}`);
  return parts.join(', ');
}

/** changeOf is what, changing, earns a new progress line when stderr is not a terminal. */
function changeOf(u: UpdateView): string {
  return `${u.status} ${u.done} ${u.failed} ${u.batch}`;
}

/** lastMessage: the message of the update's latest event that has one (why it rolled back or failed). */
function lastMessage(u: UpdateView): string | undefined {
  for (let i = u.events.length - 1; i >= 0; i--) {
    const m = u.events[i]?.message;
    if (m !== undefined && m !== '') return m;
  }
  return undefined;
}

function failedInstanceLines(u: UpdateView): string[] {
  return u.instances.filter((i) => i.status === 'FAILED').map((i) => `  instance ${i.instance} failed${i.failures > 1 ? ` ${i.failures} times` : ''}${i.message === undefined ? '' : `: ${i.message}`}`);
}

/** outcomeOf throws how an ended update ended badly; ROLLED_FORWARD returns. */
function outcomeOf(u: UpdateView): void {
  const why = lastMessage(u);
  const details = { job: u.job, update: u.id, status: u.status, versions: u.versions };
  const see = `  (see muster update status ${u.job})`;
  switch (u.status) {
    case 'ROLLED_FORWARD':
      return;
    case 'ROLLED_BACK':
      throw new OutcomeError('UPDATE_ROLLED_BACK', [`rolled back: update ${u.id} of ${u.job}${why === undefined ? '' : `: ${why}`}`, ...failedInstanceLines(u), see].join('\n'), details);
    case 'ABORTED':
      throw new OutcomeError(
        'UPDATE_ABORTED',
        [`aborted: update ${u.id} of ${u.job} was aborted${why === undefined ? '' : ` (${why})`}; instances stay on the versions they run now: ${versionGroups(u.versions)}`, see].join('\n'),
        details,
      );
    default:
      throw new OutcomeError('UPDATE_FAILED', [`failed: update ${u.id} of ${u.job} ended ${u.status}${why === undefined ? '' : `: ${why}`}`, ...failedInstanceLines(u), see].join('\n'), details);
  }
}

/**
 * waitForUpdate polls an update every second until it is no longer active, showing its progress on
 * stderr: on a terminal one line redrawn in place, otherwise a line whenever its status, batch or
 * counts change. It returns the update when it rolled forward and throws OutcomeError otherwise:
 * UPDATE_ROLLED_BACK or UPDATE_FAILED (exit 1), UPDATE_ABORTED (exit 5), TIMEOUT (exit 7). A
 * master briefly unavailable (a failover) does not end the wait.
 */
export async function waitForUpdate(ctx: Context, ref: UpdateRef, options: { timeoutSecs: number }): Promise<UpdateView> {
  const tty = process.stderr.isTTY;
  const deadline = Date.now() + options.timeoutSecs * 1000;
  let shown = '';
  let drawn = false;
  let last: UpdateView | undefined;
  const endLine = (): void => {
    if (drawn) process.stderr.write('\n');
    drawn = false;
  };
  try {
    for (;;) {
      let u: UpdateView | undefined;
      try {
        u = await fetchUpdate(ctx, ref);
      } catch (err) {
        if (!(err instanceof MusterError && err.retryable)) throw err;
      }
      if (u !== undefined) {
        last = u;
        const now = Date.now();
        if (tty) {
          // A terminal that tells no width (0, under some ptys) gets 80 columns.
          const columns = process.stderr.columns > 0 ? process.stderr.columns : 80;
          const width = Math.max(20, columns - 1);
          process.stderr.write(`\r\x1b[K${progressLine(u, now, { bar: true }).slice(0, width)}`);
          drawn = true;
        } else if (changeOf(u) !== shown) {
          note(progressLine(u, now, { bar: false }));
          shown = changeOf(u);
        }
        if (!isActive(u.status)) {
          endLine();
          outcomeOf(u);
          note(`rolled forward: ${u.job} runs version ${u.toVersion} (update ${u.id})`);
          return u;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        endLine();
        const where = last === undefined ? 'no answer from the master yet' : progressLine(last, Date.now(), { bar: false });
        const job = last?.job ?? ref.key ?? ref.id;
        throw new OutcomeError('TIMEOUT', `timed out after ${options.timeoutSecs}s waiting for the update: ${where}\n  (it goes on; see muster update status ${job})`, {
          ...(last === undefined ? {} : { job: last.job, update: last.id, status: last.status }),
        });
      }
      await sleep(Math.min(POLL_MS, left));
    }
  } finally {
    endLine();
  }
}
