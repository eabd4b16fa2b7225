// `muster job …`: create, list, status, kill and restart jobs; diff, scale and the history of their
// configs. Each verb is one request to the master (create --wait and scale --wait then poll); the
// master validates, the CLI only checks what it can read.

import { graphDot, graphLines, runsLines } from './cron.js';
import type { Command } from 'commander';
import { MAX_INSTANCES } from '../core/index.js';
import type { EndpointsView, InstanceView, JobHistoryView, JobPlanView, JobSummary, JobView } from '../protocol/index.js';
import { contextOf } from './context.js';
import { UsageError } from './exitcodes.js';
import * as flags from './flags.js';
import { ago, gpuShares, instanceList, keyValues, note, pendingLines, ports, printJson, printLines, stateWord, table } from './output.js';
import { instancesArg, jobKeyArg } from './refs.js';
import { changesNothing, contentTypeOf, DEFAULT_UPDATE_WAIT_SECS, diffLines, jobKeyOfConfig, readConfig, reportStarted, updateTable } from './update.js';
import { CRASH_LOOP_FAILURES, DEFAULT_SETTLE_SECS, DEFAULT_WAIT_SECS, waitForJob } from './wait.js';

export function addJobCommands(program: Command): void {
  const job = program
    .command('job')
    .description('create, inspect, diff, scale, kill and restart jobs (role/env/name)')
    .addHelpText(
      'after',
      `
A job is a set of identical instances (0..n-1) named role/env/name; each run of an instance on an
agent is a task. Services keep their instances running; batch jobs run them to completion.

Examples:
  $ muster job plan examples/hello-service.yaml
  $ muster job create examples/hello-service.yaml --wait
  $ muster job status web/prod/hello
  $ muster job diff web/prod/hello hello-v2.yaml
  $ muster job scale web/prod/hello 5 --wait
  $ muster job kill web/prod/hello/0,2-4`,
    );

  job
    .command('create')
    .description('submit a job config (YAML or JSON) to the master')
    .usage('[options] [KEY] FILE')
    // Declared variadic so that the action can tell "no FILE" apart in its own words; the usage
    // line above is what people read.
    .argument('[KEY_FILE...]')
    .option('--wait', 'wait until every instance is running and has stayed up for --settle seconds (service) or the job has finished (batch)')
    .option('--timeout <secs>', `how long --wait waits before giving up with exit code 7 (default ${DEFAULT_WAIT_SECS})`, flags.seconds)
    .option('--settle <secs>', `how long every instance of a service must stay running, and healthy if it has a health check, before --wait is satisfied; 0: at once (default ${DEFAULT_SETTLE_SECS})`, flags.secondsOrZero)
    .addHelpText(
      'after',
      `
FILE is the job config, sent as written (application/json for .json, YAML otherwise); the master
validates it and answers with every problem it finds, an unknown field first. KEY (role/env/name)
is optional: when given, it must match the config's job:, or fills it in when the config has none.

--wait shows progress on stderr and exits 0 only when the job is there: every instance of a service
TASK_RUNNING (and healthy, when the job has a health check) without a break for --settle seconds,
or every instance of a batch job finished. A task that fails or restarts meanwhile starts the
settle time again. It exits 1 when the job fails, is killed, or an instance fails
${CRASH_LOOP_FAILURES} times, and 7 at --timeout; either way it lists the instances that failed,
with their state, reason and message.

Examples:
  $ muster job create examples/hello-service.yaml
  $ muster job create web/prod/hello hello.yaml --wait --timeout 60 --settle 10
  $ muster job create batch/dev/crunch crunch.json --json`,
    )
    .action(async (args: string[], opts: { wait?: boolean; timeout?: number; settle?: number }, cmd: Command) => {
      if (args.length === 0) throw new UsageError('job create needs a config FILE', 'e.g. muster job create hello.yaml');
      if (args.length > 2) throw new UsageError(`job create takes [KEY] FILE, got ${args.length} arguments`);
      const file = args[args.length - 1] as string;
      const key = args.length === 2 ? jobKeyArg(args[0] as string) : undefined;
      if (opts.timeout !== undefined && opts.wait !== true) throw new UsageError('--timeout applies only with --wait');
      if (opts.settle !== undefined && opts.wait !== true) throw new UsageError('--settle applies only with --wait');
      const timeoutSecs = opts.timeout ?? DEFAULT_WAIT_SECS;
      const settleSecs = opts.settle ?? DEFAULT_SETTLE_SECS;
      if (opts.wait === true && settleSecs >= timeoutSecs) {
        throw new UsageError(`--settle ${settleSecs} leaves no time to start within --timeout ${timeoutSecs}`, 'make --timeout longer than --settle');
      }
      const text = await readConfig(file);
      const ctx = contextOf(cmd);
      const contentType = contentTypeOf(file);
      const created = await ctx.client.createJob(text, key === undefined ? { contentType } : { contentType, job: key });
      if (!ctx.json) note(`created ${created.job} with ${created.instances} instance${created.instances === 1 ? '' : 's'}`);
      if (opts.wait === true) {
        await waitForJob(ctx, created.job, { timeoutSecs, settleSecs });
      } else if (!ctx.json) note(`see its progress with: muster job status ${created.job}`);
      // With --json, one document: the answer once the wait succeeded, or the error object alone.
      if (ctx.json) printJson(created);
    });

  job
    .command('plan')
    .description('show where a job would run if created now, whom it would preempt and why the rest would wait; changes nothing')
    .usage('[options] [KEY] FILE')
    .argument('[KEY_FILE...]')
    .addHelpText(
      'after',
      `
FILE and KEY are read as by job create. The master runs its own scheduler on the cell as it is now,
with the job added among the instances already pending there, and answers without writing
anything. A job that exists is planned as its replacement: what its tasks hold counts as free.
For each instance the plan says the agent, host, ports and GPUs it would get, or the tasks it
would preempt (every preemption the job would cause, not only the first pass's share), or why it
would stay pending, with the agent that came closest and the smallest changes that would fit.
A plan that leaves instances pending still exits 0; so does one that the role's quota would refuse
(it says so on a quota: line). A config the master refuses exits 3 with the field it names.

Examples:
  $ muster job plan examples/hello-service.yaml
    web/prod/hello: 2 placed, 0 preempting, 1 pending
    INSTANCE  AGENT    HOST  PORTS       GPUS
    0         agent-1  box1  http=31000  -
    1         agent-2  box2  http=31004  -
    instance 2 pending: no agent fits: insufficient mem on 2 agents (needs 4GiB, most free 1GiB)
      nearest: box1 lacks 3GiB mem
      would fit with: ask for at most 1GiB mem (fits 2 agents)
  $ muster job plan web/prod/hello hello.yaml --json | jq '.pending[].reason'`,
    )
    .action(async (args: string[], _opts: unknown, cmd: Command) => {
      if (args.length === 0) throw new UsageError('job plan needs a config FILE', 'e.g. muster job plan hello.yaml');
      if (args.length > 2) throw new UsageError(`job plan takes [KEY] FILE, got ${args.length} arguments`);
      const file = args[args.length - 1] as string;
      const key = args.length === 2 ? jobKeyArg(args[0] as string) : undefined;
      const text = await readConfig(file);
      const ctx = contextOf(cmd);
      const contentType = contentTypeOf(file);
      const plan = await ctx.client.planJob(text, key === undefined ? { contentType } : { contentType, job: key });
      if (ctx.json) return printJson(plan);
      printLines(planLines(plan));
    });

  job
    .command('list')
    .description('list the jobs of the cell with their state and a count of their tasks by state')
    .option('--all', 'list killed jobs too, while the master keeps them (--job-retention)')
    .addHelpText(
      'after',
      `
A job with an active update shows it in an UPDATE column; with --all, an ended job says when and
why it ended.

Examples:
  $ muster job list
  $ muster job list --all
  $ muster job list --json | jq '.jobs[].job'`,
    )
    .action(async (opts: { all?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const jobs = await ctx.client.listJobs(opts.all === true ? { all: true } : {});
      if (ctx.json) return printJson({ jobs });
      if (jobs.length === 0) return note('no jobs yet; create one with: muster job create FILE');
      printLines(jobListLines(jobs, Date.now()));
    });

  job
    .command('status')
    .description("show a job and each of its instances: state, agent, task, ports, why it is pending")
    .argument('<KEY>', 'the job, role/env/name')
    .addHelpText(
      'after',
      `
Examples:
  $ muster job status web/prod/hello
  $ muster job status web/prod/hello --json | jq '.instances[] | select(.state == "PENDING")'`,
    )
    .action(async (keyText: string, _opts: unknown, cmd: Command) => {
      const key = jobKeyArg(keyText);
      const ctx = contextOf(cmd);
      const job = await ctx.client.getJob(key);
      if (ctx.json) return printJson(job);
      // A cron or dependent job has no instances of its own: its schedule and runs, and the run going.
      if (job.currentRuns !== undefined) {
        const runs = await ctx.client.jobRuns(key);
        printLines(runsLines(runs, Date.now()));
        for (const current of job.currentRuns) printLines(['', ...statusLines(await ctx.client.getJob(current), Date.now())]);
        return;
      }
      printLines(statusLines(job, Date.now()));
    });

  job
    .command('graph')
    .description('show the jobs connected to one by after: (what it runs after, what runs after it)')
    .argument('<KEY>', 'the job, role/env/name')
    .option('--dot', "print Graphviz's DOT instead of a table")
    .addHelpText(
      'after',
      `
Examples:
  $ muster job graph etl/prod/load
  $ muster job graph etl/prod/load --dot | dot -Tsvg > graph.svg`,
    )
    .action(async (keyText: string, opts: { dot?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const graph = await ctx.client.jobGraph(jobKeyArg(keyText));
      if (ctx.json) return printJson(graph);
      printLines(opts.dot === true ? graphDot(graph) : graphLines(graph));
    });

  job
    .command('endpoints')
    .description('list where the instances of a job run, their ports, and which are ready for traffic; --watch follows changes')
    .argument('<KEY>', 'the job, role/env/name')
    .option('--watch', 'print the endpoints again each time they change, until interrupted')
    .addHelpText(
      'after',
      `
An instance is ready when its task runs, is healthy (where the job has a health check), is not
being killed, and its agent is reachable and not draining: the same answer the master's DNS gives.
--watch follows GET /api/v1/endpoints/KEY?watch, which pushes each change as it happens, and
reconnects on its own; with --json it prints one JSON document per line, one per change.

Examples:
  $ muster job endpoints web/prod/hello
    web/prod/hello v1: 2 of 3 ready
    INSTANCE  HOST     ADDRESS    PORTS       HEALTH     READY
    0         agent-1  10.0.0.11  http=31000  healthy    yes
    1         agent-2  10.0.0.12  http=31004  unhealthy  no: it is unhealthy
    2         agent-1  10.0.0.11  http=31001  healthy    yes
  $ muster job endpoints web/prod/hello --watch --json | jq -c '[.instances[] | select(.ready) | .ports.http]'`,
    )
    .action(async (keyText: string, opts: { watch?: boolean }, cmd: Command) => {
      const key = jobKeyArg(keyText);
      const ctx = contextOf(cmd);
      if (opts.watch !== true) {
        const view = await ctx.client.endpoints(key);
        if (ctx.json) return printJson(view);
        return printLines(endpointsLines(view));
      }
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      let first = true;
      try {
        await ctx.client.watchEndpoints(
          key,
          (view) => {
            if (ctx.json) printLines([JSON.stringify(view)]);
            else printLines([...(first ? [] : ['']), ...endpointsLines(view, new Date())]);
            first = false;
          },
          stop.signal,
        );
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });

  job
    .command('diff')
    .description("show what updating a job to a new config would change: its fields and each instance's fate; changes nothing")
    .usage('[options] [KEY] FILE')
    .argument('[KEY_FILE...]')
    .addHelpText(
      'after',
      `
FILE and KEY are read as by muster update start (without KEY, the config's job: names the job).
The master compares the config with the job's current version and answers which fields change and
which instances an update would add, remove, replace or leave alone.

Examples:
  $ muster job diff web/prod/hello hello-v2.yaml
    web/prod/hello, against version 1:
      processes[0].cmd: "./hello --v1" -> "./hello --v2"
      instances: 3 -> 5
    an update will: add instances 3-4, replace instances 0-2
  $ muster job diff hello-v2.yaml --json | jq '.fields'`,
    )
    .action(async (args: string[], _opts: unknown, cmd: Command) => {
      if (args.length === 0) throw new UsageError('job diff needs a config FILE', 'e.g. muster job diff web/prod/hello hello-v2.yaml');
      if (args.length > 2) throw new UsageError(`job diff takes [KEY] FILE, got ${args.length} arguments`);
      const file = args[args.length - 1] as string;
      const text = await readConfig(file);
      const key = jobKeyArg(args.length === 2 ? (args[0] as string) : await jobKeyOfConfig(text, file));
      const ctx = contextOf(cmd);
      const diff = await ctx.client.diffJob(key, text, { contentType: contentTypeOf(file) });
      if (ctx.json) return printJson(diff);
      if (changesNothing(diff)) return printLines([`nothing to change: ${key} already runs this config (version ${diff.fromVersion})`]);
      printLines(diffLines(diff, 'an update'));
    });

  job
    .command('history')
    .description("list the versions of a job's config (who made each, how, which instances run it) and its updates")
    .argument('<KEY>', 'the job, role/env/name')
    .option('--specs', "print each version's config too")
    .addHelpText(
      'after',
      `
Examples:
  $ muster job history web/prod/hello
  $ muster job history web/prod/hello --specs --json | jq '.versions[-1].spec'`,
    )
    .action(async (keyText: string, opts: { specs?: boolean }, cmd: Command) => {
      const key = jobKeyArg(keyText);
      const ctx = contextOf(cmd);
      const history = await ctx.client.jobHistory(key, { specs: opts.specs === true });
      if (ctx.json) return printJson(history);
      printLines(historyLines(history, Date.now()));
    });

  job
    .command('scale')
    .description("change the number of a service's instances, as a rolling update (added instances start, the highest ones stop)")
    .argument('<KEY>', 'the job, role/env/name')
    .argument('<N>', 'the number of instances it should have', flags.positiveInt(MAX_INSTANCES))
    .option('-m, --message <text>', 'why, recorded with the update and the new config version')
    .option('--wait', 'follow the update until it ends, as muster update wait does')
    .option('--timeout <secs>', `how long --wait waits before giving up with exit code 7 (default ${DEFAULT_UPDATE_WAIT_SECS}); the update goes on`, flags.seconds)
    .addHelpText(
      'after',
      `
The scale is an update of kind scale: it takes the job's update: settings (batches, watch time)
and shows in muster update status. The same count starts nothing and exits 0. With --wait, exit
codes as muster update wait.

Examples:
  $ muster job scale web/prod/hello 5
  $ muster job scale web/prod/hello 2 --wait -m "traffic is down"`,
    )
    .action(async (keyText: string, n: number, opts: { message?: string; wait?: boolean; timeout?: number }, cmd: Command) => {
      const key = jobKeyArg(keyText);
      if (opts.timeout !== undefined && opts.wait !== true) throw new UsageError('--timeout applies only with --wait');
      const ctx = contextOf(cmd);
      const answer = await ctx.client.scaleJob(key, n, opts.message);
      await reportStarted(ctx, key, answer, { wait: opts.wait === true, timeoutSecs: opts.timeout ?? DEFAULT_UPDATE_WAIT_SECS });
    });

  for (const verb of ['kill', 'restart'] as const) {
    job
      .command(verb)
      .description(
        verb === 'kill'
          ? 'kill a job, or some of its instances; killed instances are not restarted'
          : "restart instances of a job: a service's as a rolling restart (an update), a batch job's at once",
      )
      .argument('<KEY[/INSTANCES]>', 'the job, role/env/name, optionally with instances: web/prod/hello/0,2-4')
      .option('--instances <list>', 'instances to act on, e.g. 0,2-4 (default: all)')
      .addHelpText(
        'after',
        `
Examples:
  $ muster job ${verb} web/prod/hello
  $ muster job ${verb} web/prod/hello/0,2-4
  $ muster job ${verb} web/prod/hello --instances 1`,
      )
      .action(async (ref: string, opts: { instances?: string }, cmd: Command) => {
        const { key, instances } = instancesArg(ref, opts.instances);
        const ctx = contextOf(cmd);
        const answer = verb === 'kill' ? await ctx.client.killJob(key, instances) : await ctx.client.restartJob(key, instances);
        if (ctx.json) return printJson(answer);
        const which = answer.instances.length === 0 ? 'no instances (none is active)' : `instances ${instanceList(answer.instances)}`;
        if (answer.update === undefined) return printLines([`asked the master to ${verb} ${answer.job} ${which}`]);
        printLines([`rolling restart of ${answer.job} ${which}: update ${answer.update}`]);
        note(`follow it with: muster update wait ${answer.job}`);
      });
  }
}

function countsOf(job: JobSummary): string {
  const entries = Object.entries(job.taskStates).filter(([, n]) => n !== undefined && n > 0);
  return entries.length === 0 ? '-' : entries.map(([state, n]) => `${stateWord(state)} ${n}`).join(', ');
}

function instanceState(i: InstanceView): string {
  if (i.state === 'PENDING' || i.task === undefined) return i.state;
  return i.task.state;
}

function instanceNote(i: InstanceView, now: number): string {
  // A pending instance's whole answer is grouped under the table; the row says where to look.
  if (i.state === 'PENDING') return i.why === undefined ? (i.pendingReason ?? '') : 'pending, see below';
  if (i.replaceAt !== undefined) return `agent unreachable: replaced ${i.replaceAt <= now ? 'now' : `in ${Math.ceil((i.replaceAt - now) / 1000)}s`} unless it returns`;
  if (i.task?.healthy === false) return 'unhealthy';
  return i.task?.message ?? '';
}

/** statusLines is the readable form of `job status`: a header, then a row per instance. */
export function statusLines(job: JobView, now: number): string[] {
  const pairs: [string, string][] = [
    ['job', job.job],
    ['kind', job.kind],
    ['state', job.state],
    ['tier', `${job.tier}, priority ${job.priority}`],
    ['instances', String(job.instanceCount)],
  ];
  if (job.parent !== undefined) pairs.push(['run', `${job.run ?? '?'} of ${job.parent}; see muster cron show ${job.parent}`]);
  if (job.version !== undefined) pairs.push(['version', `v${job.version}`]);
  if (job.update !== undefined) pairs.push(['update', `${job.update.id} ${job.update.status}${job.update.kind === 'update' ? '' : ` (${job.update.kind})`}; see muster update status ${job.job}`]);
  pairs.push(['created', ago(job.createdAt, now)]);
  if (job.endedAt !== undefined || job.endReason !== undefined) pairs.push(['ended', endText(job, now)]);
  const header = keyValues(pairs);
  const batch = job.kind === 'batch';
  const versioned = job.instances.some((i) => i.version !== undefined);
  const headers = ['INSTANCE', 'STATE', ...(versioned ? ['VERSION'] : []), 'AGENT', 'TASK', 'PORTS', 'STARTED', ...(batch ? ['FAILURES'] : []), 'NOTE'];
  const rows = job.instances.map((i) => {
    const task = i.state === 'PENDING' ? undefined : i.task;
    const agent = task === undefined ? '-' : task.hostname === task.address ? task.address : `${task.hostname} (${task.address})`;
    return [
      String(i.instance),
      instanceState(i),
      ...(versioned ? [i.version === undefined ? '-' : `v${i.version}`] : []),
      agent,
      task?.taskId ?? '-',
      task === undefined ? '-' : ports(task.ports),
      ago(task?.startedAt, now),
      ...(batch ? [String(i.failures)] : []),
      instanceNote(i, now),
    ];
  });
  const pending = job.instances.flatMap((i) => (i.state === 'PENDING' ? [{ instance: i.instance, reason: i.pendingReason ?? 'pending', ...(i.why === undefined ? {} : { why: i.why }) }] : []));
  const why = pendingLines(pending);
  return [...header, '', ...table(headers, rows), ...(why.length === 0 ? [] : ['', ...why])];
}

/**
 * endpointsLines is the readable form of `job endpoints`: a count of the ready, then a row per
 * instance with a live task. With at (--watch), the count says when the view came.
 */
export function endpointsLines(view: EndpointsView, at?: Date): string[] {
  const ready = view.instances.filter((e) => e.ready).length;
  const when = at === undefined ? '' : `${at.toISOString().slice(11, 19)} `;
  const head = `${when}${view.job} v${view.version}: ${ready} of ${view.instances.length} ready`;
  if (view.instances.length === 0) return [`${head} (no instance has a live task)`];
  return [
    head,
    ...table(
      ['INSTANCE', 'HOST', 'ADDRESS', 'PORTS', 'HEALTH', 'READY'],
      view.instances.map((e) => [
        String(e.instance),
        e.host || '-',
        e.address || '-',
        ports(e.ports),
        e.healthy === undefined ? '-' : e.healthy ? 'healthy' : 'unhealthy',
        e.ready ? 'yes' : `no: ${e.why ?? stateWord(e.state)}`,
      ]),
    ),
  ];
}

/** endText writes when and why a job ended: "5m ago: killed by alice". */
function endText(job: JobSummary, now: number): string {
  const when = job.endedAt === undefined ? '' : ago(job.endedAt, now);
  if (job.endReason === undefined) return when;
  return when === '' ? job.endReason : `${when}: ${job.endReason}`;
}

/**
 * jobListLines is the readable form of `job list`: a row per job; an UPDATE column when a job has an
 * active update, an ENDED column when a job (listed by --all) ended.
 */
export function jobListLines(jobs: readonly JobSummary[], now: number): string[] {
  const updating = jobs.some((j) => j.update !== undefined);
  const ended = jobs.some((j) => j.endedAt !== undefined || j.endReason !== undefined);
  return table(
    ['JOB', 'KIND', 'STATE', 'INSTANCES', 'TASKS', ...(updating ? ['UPDATE'] : []), ...(ended ? ['ENDED'] : [])],
    jobs.map((j) => [
      j.job,
      j.kind,
      j.state,
      String(j.instanceCount),
      countsOf(j),
      ...(updating ? [j.update === undefined ? '-' : `${j.update.status}${j.update.kind === 'update' ? '' : ` (${j.update.kind})`}`] : []),
      ...(ended ? [j.endedAt === undefined && j.endReason === undefined ? '-' : endText(j, now)] : []),
    ]),
  );
}

/** historyLines is the readable form of `job history`: a row per config version, then the job's updates. */
export function historyLines(history: JobHistoryView, now: number): string[] {
  const lines = [
    `${history.job}: version ${history.version}`,
    ...table(
      ['VERSION', 'AT', 'BY', 'CAUSE', 'INSTANCES', 'MESSAGE'],
      history.versions.map((v) => [
        `v${v.version}${v.version === history.version ? ' *' : ''}`,
        ago(v.at, now),
        v.by ?? '-',
        v.updateId === undefined ? v.cause : `${v.cause} ${v.updateId}`,
        v.instances.length === 0 ? '-' : instanceList(v.instances),
        v.message ?? '',
      ]),
    ),
  ];
  for (const v of history.versions) {
    if (v.spec === undefined) continue;
    lines.push('', `v${v.version}:`, ...JSON.stringify(v.spec, undefined, 2).split('\n').map((l) => `  ${l}`));
  }
  lines.push('');
  if (history.updates.length === 0) lines.push('no updates');
  else lines.push('updates:', ...updateTable(history.updates, now, { job: false }));
  return lines;
}

/** planLines is the readable form of `job plan`: a count, a row per placed instance, then the rest. */
export function planLines(plan: JobPlanView): string[] {
  const replacing = plan.existing ? ' (replacing the job that runs now)' : '';
  const lines = [
    `${plan.job}${replacing}: ${plan.placements.length} placed, ${plan.preemptions.length} preempting, ${plan.pending.length} pending`,
  ];
  if (plan.placements.length > 0) {
    const revocable = plan.placements.some((p) => p.revocable);
    lines.push(
      ...table(
        ['INSTANCE', 'AGENT', 'HOST', 'PORTS', 'GPUS', ...(revocable ? ['NOTE'] : [])],
        plan.placements.map((p) => [
          String(p.instance),
          p.agentId,
          p.hostname,
          ports(p.ports),
          gpuShares(p.gpus),
          ...(revocable ? [p.revocable ? 'revocable (on slack)' : ''] : []),
        ]),
      ),
    );
  }
  for (const p of plan.preemptions) {
    const victims = p.victims.map((v) => (v.job === '' ? v.taskId : `${v.job}/${v.instance}`)).join(', ');
    lines.push(`instance ${p.instance} would preempt on ${p.hostname}: ${victims}`);
  }
  lines.push(...pendingLines(plan.pending));
  if (plan.quota !== undefined) lines.push(`quota: ${plan.quota}`);
  return lines;
}
