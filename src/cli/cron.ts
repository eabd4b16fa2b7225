// `muster cron …`: run a cron (or dependent) job now, show its schedule and runs, suspend and resume
// it; and `muster job graph`, the jobs that run after one another. A cron job is created, updated
// and killed with `job create`, `update start` and `job kill` like any job; each of its runs is a
// batch job of its own, role/env/name--N, whose tasks, exit codes and logs `job status` and `task
// logs` show as for any job.

import type { Command } from 'commander';
import type { JobGraphView, RunSkipView, RunView, RunsView } from '../protocol/index.js';
import { contextOf } from './context.js';
import { ago, duration, keyValues, note, printJson, printLines, table } from './output.js';
import { jobKeyArg } from './refs.js';

/** How many runs `cron show` lists (all kept ones with --json). */
const RUNS_SHOWN = 10;
const SKIPS_SHOWN = 5;

export function addCronCommands(program: Command): void {
  const cron = program
    .command('cron')
    .description('run a cron job now, show its schedule and runs, suspend or resume it')
    .addHelpText(
      'after',
      `
A cron job (kind: cron, with a cron: block) runs at the times its schedule says, in its time zone;
each run is a batch job of its own, role/env/name--N, kept with its tasks for the job's runHistory.
A job with after: [role/env/name, ...] runs when every parent's latest run has ended since its own
last run. Create, update and kill them with job create, update start and job kill.

Examples:
  $ muster cron show ops/prod/report
  $ muster cron start ops/prod/report
  $ muster cron suspend ops/prod/report
  $ muster job graph ops/prod/report --dot | dot -Tsvg > graph.svg`,
    );

  cron
    .command('start')
    .description('start a run now, whatever the schedule (concurrency forbid refuses while a run is going; replace kills it)')
    .argument('<KEY>', 'the cron or dependent job, role/env/name')
    .action(async (keyText: string, _opts: unknown, cmd: Command) => {
      const key = jobKeyArg(keyText);
      const ctx = contextOf(cmd);
      const started = await ctx.client.startRun(key);
      if (ctx.json) return printJson(started);
      for (const r of started.replaced ?? []) note(`killed run ${r} (concurrency replace)`);
      note(`started run ${started.run} of ${key}: ${started.key}`);
      note(`see it with: muster job status ${started.key}`);
    });

  cron
    .command('show')
    .description('show the schedule in words, the next 5 times (in the job\'s zone and UTC), the runs going and the last runs')
    .argument('<KEY>', 'the cron or dependent job, role/env/name')
    .action(async (keyText: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const view = await ctx.client.jobRuns(jobKeyArg(keyText));
      if (ctx.json) return printJson(view);
      printLines(runsLines(view, Date.now()));
    });

  for (const verb of ['suspend', 'resume'] as const) {
    cron
      .command(verb)
      .description(verb === 'suspend' ? 'start no more runs until resumed (runs going are left alone)' : 'start runs again from the next scheduled time (times while suspended are not caught up)')
      .argument('<KEY>', 'the cron or dependent job, role/env/name')
      .action(async (keyText: string, _opts: unknown, cmd: Command) => {
        const key = jobKeyArg(keyText);
        const ctx = contextOf(cmd);
        const result = await ctx.client.suspendRuns(key, verb === 'suspend');
        if (ctx.json) return printJson(result);
        note(`${key} ${result.suspended ? 'suspended' : 'resumed'}`);
      });
  }
}

/** zoned writes a time in a zone as "2026-03-08 03:00:00 EDT". */
export function zoned(at: number, zone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
  }).formatToParts(new Date(at));
  const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')} ${get('timeZoneName')}`;
}

function outcomeOf(r: RunView): string {
  if (r.outcome !== undefined) return r.outcome;
  return r.state === 'KILLING' ? 'KILLING' : 'RUNNING';
}

function triggerOf(r: RunView, zone: string): string {
  if (r.trigger === 'schedule') return r.scheduledAt === undefined ? 'schedule' : `schedule ${zoned(r.scheduledAt, zone)}`;
  if (r.trigger === 'manual') return `manual${r.by === undefined ? '' : ` (${r.by})`}`;
  return `after ${(r.parents ?? []).map((p) => (p.run === undefined ? p.job : `${p.job}--${p.run}`)).join(', ')}`;
}

function skipLine(s: RunSkipView, zone: string, now: number): string {
  const times = s.times === undefined ? '' : s.times.count === 1 ? ` ${zoned(s.times.first, zone)}` : ` ${s.times.atLeast === true ? 'at least ' : ''}${s.times.count} times, ${zoned(s.times.first, zone)} to ${zoned(s.times.last, zone)}`;
  return `  ${ago(s.at, now)}:${times}: ${s.reason}`;
}

/** runsLines is the readable form of `cron show`: schedule, next times, runs going, last runs, skips. */
export function runsLines(view: RunsView, now: number): string[] {
  const zone = view.schedule?.timezone ?? 'UTC';
  const pairs: [string, string][] = [['job', view.job]];
  if (view.schedule !== undefined) {
    pairs.push(['schedule', `${view.schedule.expression}  (${view.schedule.description}, ${zone})`]);
    pairs.push(['concurrency', view.schedule.concurrency]);
    pairs.push(['deadline', `${view.schedule.startingDeadlineSecs}s to start a time owed`]);
  }
  if (view.after.length > 0) pairs.push(['after', `${view.after.join(', ')} (a failed parent: ${view.onParentFailure})`]);
  pairs.push(['state', view.suspended ? 'SUSPENDED (muster cron resume to start runs again)' : 'active']);
  const lines = keyValues(pairs);
  if (view.next.length > 0) {
    lines.push('', 'next runs:');
    for (const t of view.next) lines.push(`  ${zoned(t, zone)}${zone === 'UTC' ? '' : `   ${zoned(t, 'UTC')}`}`);
  }
  const rows = (runs: readonly RunView[]): string[][] =>
    runs.map((r) => [
      String(r.number),
      outcomeOf(r),
      triggerOf(r, zone),
      ago(r.startedAt, now),
      r.endedAt === undefined ? duration(now - r.startedAt) : duration(r.endedAt - r.startedAt),
      `v${r.version}`,
      r.key,
      r.reason ?? r.tasks?.map((t) => t.message).find((m) => m !== undefined) ?? '',
    ]);
  const headers = ['RUN', 'OUTCOME', 'TRIGGER', 'STARTED', 'TOOK', 'VERSION', 'JOB', 'NOTE'];
  lines.push('');
  if (view.current.length > 0) lines.push('going:', ...table(headers, rows(view.current)), '');
  const ended = view.runs.filter((r) => r.outcome !== undefined).slice(0, RUNS_SHOWN);
  if (ended.length === 0) lines.push('no run has ended yet');
  else lines.push(`last runs (kept: ${view.runHistory}):`, ...table(headers, rows(ended)));
  if (view.skips.length > 0) lines.push('', 'skipped:', ...view.skips.slice(0, SKIPS_SHOWN).map((s) => skipLine(s, zone, now)));
  return lines;
}

/** graphLines is the text form of `job graph`: each job with the jobs it runs after. */
export function graphLines(graph: JobGraphView): string[] {
  const parents = new Map<string, string[]>();
  for (const e of graph.edges) parents.set(e.to, [...(parents.get(e.to) ?? []), e.from]);
  const rows = graph.nodes.map((n) => [
    n.job === graph.job ? `${n.job} *` : n.job,
    n.missing === true ? '(gone)' : (n.kind ?? '-'),
    n.state ?? '-',
    n.lastOutcome ?? '-',
    (parents.get(n.job) ?? []).join(', ') || '-',
  ]);
  return table(['JOB', 'KIND', 'STATE', 'LAST RUN', 'RUNS AFTER'], rows);
}

/** graphDot is `job graph --dot`: Graphviz's DOT, an edge from each parent to the job that runs after it. */
export function graphDot(graph: JobGraphView): string[] {
  const q = (s: string): string => JSON.stringify(s);
  const lines = ['digraph jobs {', '  rankdir=LR;', '  node [shape=box];'];
  for (const n of graph.nodes) {
    const label = `${n.job}\\n${n.missing === true ? 'gone' : `${n.kind ?? ''} ${n.state ?? ''}${n.lastOutcome === undefined ? '' : `, last ${n.lastOutcome}`}`}`;
    const style = n.job === graph.job ? ', style=bold' : n.missing === true ? ', style=dashed' : '';
    lines.push(`  ${q(n.job)} [label="${label.replace(/"/g, '\\"')}"${style}];`);
  }
  for (const e of graph.edges) lines.push(`  ${q(e.from)} -> ${q(e.to)};`);
  lines.push('}');
  return lines;
}
