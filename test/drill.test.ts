// Drills: nothing lost, nothing doubled. Agents are killed with SIGKILL mid-run, stopped with
// SIGSTOP past the agent timeout, cut off by a network partition, and flooded with a launch storm;
// each drill then holds the master's records against what the agents themselves show (the sandboxes
// under their work dirs with the exit status each supervisor wrote, and the task processes alive in
// /proc; see evidence.ts):
//
// - lost: a task whose sandbox says it ended (exit 0 above all) that the master has otherwise
//   (TASK_LOST, still TASK_UNREACHABLE, or not at all);
// - doubled: an instance that succeeded twice, counted twice by the master, or, for a service, runs
//   as two copies once its agent is back;
// - whole: how long after the agent's return every instance of the service runs again, as exactly
//   one live copy, the master's own.
//
// Each drill prints a one-line summary (t.diagnostic and stdout, "drill: ..."). The master runs with
// the harness's --agent-timeout 4 --heartbeat 1: an agent silent for 4 s is unreachable; a job's
// `unreachable: { replaceAfterSecs, killOnReturn }` says when its instances are placed again and
// which copy survives the original's return (service: 0 s, the replacement; batch: 300 s, the
// original).

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { MusterClient } from '../src/client/index.js';
import type { AgentState, JobView } from '../src/protocol/index.js';
import { countedSuccesses, copiesBrief, jobEvidence, liveCopies, lostStatuses, unfoundedSuccesses, type JobEvidence, type LiveCopies } from './evidence.js';
import { cell, settle, waitFor, type AgentProcess, type Cell, type MusterProcess } from './harness.js';
import { batchConfig, serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { brief, waitRunning } from './jobs.js';
import { Netns, netnsProblem } from './netns.js';
import { killQuietly, taskProcesses } from './proc.js';
import { requireOrSkip } from './require.js';

/** The argv of a service's task process (serviceConfig runs `sleep 3600`). */
const SLEEP = ['sleep', '3600'] as const;

/**
 * TINY is what a drill's batch task asks for: a hundredth of a core, and a little memory above
 * the job spec's minimum of 1MiB, so that a shell's page-cache charges never meet the OOM killer.
 */
const TINY = { cpus: 0.01, mem: '4MiB', disk: 0, ports: [] };

/** WHOLE_WITHIN_MS bounds "a few seconds" after an agent's return for a service to be whole again. */
const WHOLE_WITHIN_MS = 20_000;

/** OUTAGE_STEP_MS bounds each thing a drill waits for while an agent is away. */
const OUTAGE_STEP_MS = 30_000;

/** seconds formats a duration in ms as "2.3 s". */
function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** range is 0..n-1. */
function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** summarize prints a drill's one-line summary, for the report and for the issue's closing note. */
function summarize(t: TestContext, scenario: string, fields: Record<string, string | number>): void {
  const line = `drill: ${scenario} | ${Object.entries(fields).map(([k, v]) => `${k} ${v}`).join(' | ')}`;
  t.diagnostic(line);
  console.log(line);
}

/** agentState is the master's word on one agent (by the hostname the harness gave it). */
async function agentState(client: MusterClient, agent: AgentProcess): Promise<AgentState | undefined> {
  return (await client.cell()).agents.find((a) => a.hostname === agent.hostname)?.state;
}

async function waitAgentState(client: MusterClient, agent: AgentProcess, state: AgentState, timeoutMs = OUTAGE_STEP_MS): Promise<void> {
  await waitFor(() => agentState(client, agent), { what: `the master to show ${agent.name} ${state}`, until: (s) => s === state, timeoutMs });
}

/**
 * divergencesHealed sums muster_master_reconcile_divergences_total on the master's /metrics: what
 * periodic reconciliation found apart and healed. undefined when the master has no such metric.
 */
async function divergencesHealed(master: MusterProcess): Promise<number | undefined> {
  try {
    const res = await fetch(`${master.url}/metrics`, { signal: AbortSignal.timeout(5000) });
    let sum: number | undefined;
    for (const line of (await res.text()).split('\n')) {
      const m = /^muster_master_reconcile_divergences_total(?:\{[^}]*\})?\s+(\S+)/.exec(line);
      if (m !== null) sum = (sum ?? 0) + Number(m[1]);
    }
    return sum;
  } catch {
    return undefined;
  }
}

/** UnreachableWatch collects the AgentUnreachable events of the master's log, from its first event on. */
interface UnreachableWatch {
  /** The agent ids of the AgentUnreachable events seen. */
  readonly agents: string[];
  /** Events seen in all, so that a drill can tell a stream that saw nothing from one that saw no unreachable agent. */
  events: number;
  /** The stream was reset (a snapshot truncated the log past where it stood): some events went unseen. */
  resets: number;
  /** stop ends the stream (before the master does; the test's end stops it too). */
  stop: () => Promise<void>;
}

function watchUnreachable(t: TestContext, client: MusterClient): UnreachableWatch {
  const abort = new AbortController();
  const watch: UnreachableWatch = {
    agents: [],
    events: 0,
    resets: 0,
    stop: async () => {
      abort.abort();
      await reading;
    },
  };
  const reading = client
    .events(
      (e) => {
        watch.events++;
        if (e.type === 'AgentUnreachable') watch.agents.push(JSON.stringify(e['agentId']));
      },
      abort.signal,
      { since: 0, reconnect: true, onReset: () => watch.resets++ },
    )
    .catch((e: unknown) => {
      if (!abort.signal.aborted) console.error(`the drill's event stream ended: ${String(e)}`);
    });
  t.after(() => watch.stop());
  return watch;
}

/** Whole is one look at a service: the master's view of it and its live copies in /proc. */
interface Whole {
  whole: boolean;
  seen: string;
  job: JobView;
  copies: LiveCopies;
}

/**
 * lookWhole: the service is whole when the master has every instance TASK_RUNNING (on `on`, if
 * given) and /proc shows exactly one live copy of each instance, the master's own task, with
 * exactly `count` `sleep 3600` processes in all.
 */
async function lookWhole(client: MusterClient, c: Cell, key: string, options: { count: number; on?: string }): Promise<Whole> {
  const job = await client.getJob(key);
  const copies = liveCopies(key, { under: `${c.dir}/`, argv: SLEEP });
  const running = job.instances.length === options.count && job.instances.every((i) => i.task?.state === 'TASK_RUNNING' && (options.on === undefined || i.task.hostname === options.on));
  const oneCopyEach =
    copies.byInstance.size === options.count &&
    job.instances.every((i) => {
      const ids = copies.byInstance.get(i.instance);
      return ids !== undefined && ids.size === 1 && i.task !== undefined && ids.has(i.task.taskId);
    });
  const whole = running && oneCopyEach && copies.commands === options.count;
  // seen comes first: it is what a timed-out wait prints of the last look.
  return { whole, seen: `master: ${brief(job)}; live copies: ${copiesBrief(copies)}; ${copies.commands} sleep 3600 processes`, job, copies };
}

/** waitWhole waits until the service is whole (see lookWhole) and returns that look. */
async function waitWhole(client: MusterClient, c: Cell, key: string, options: { count: number; on?: string; timeoutMs: number }): Promise<Whole> {
  return waitFor(() => lookWhole(client, c, key, options), {
    what: `${key} to be whole: ${options.count} instances TASK_RUNNING${options.on === undefined ? '' : ` on ${options.on}`}, each exactly one live copy, the master's task`,
    until: (w) => w.whole,
    timeoutMs: options.timeoutMs,
  });
}

/** BatchCheck is what a finished batch job's drill found: the master's records against the agents' sandboxes. */
interface BatchCheck {
  evidence: JobEvidence;
  lost: ReturnType<typeof lostStatuses>;
  unfounded: ReturnType<typeof unfoundedSuccesses>;
  /** Instances the master does not count exactly one success for: "7:2". */
  miscounted: string[];
  /** Instances not FINISHED in the master: "7:FAILED". */
  unfinished: string[];
}

/** checkBatch reads a finished batch job from the master (`task list --all`) and from every agent's sandboxes. */
async function checkBatch(client: MusterClient, c: Cell, key: string, instances: number): Promise<BatchCheck> {
  const [job, tasks] = await Promise.all([client.getJob(key), client.listTasks({ job: key, all: true })]);
  const evidence = jobEvidence(c.agents, key);
  const counted = countedSuccesses(tasks);
  return {
    evidence,
    lost: lostStatuses(evidence, tasks),
    unfounded: unfoundedSuccesses(evidence, tasks),
    miscounted: range(instances)
      .filter((i) => counted.get(i) !== 1)
      .map((i) => `${i}:${counted.get(i) ?? 0}`),
    unfinished: job.instances.filter((i) => i.state !== 'FINISHED').map((i) => `${i.instance}:${i.state}`),
  };
}

/** assertBatch asserts what every drill asks of a finished batch job. */
function assertBatch(check: BatchCheck, key: string, instances: number): void {
  assert.deepEqual(check.lost, [], `no exit status of ${key} is lost: each task whose sandbox says it ended has that end in the master`);
  assert.deepEqual(check.unfounded, [], `every TASK_FINISHED of ${key} has a sandbox whose task exited 0`);
  assert.deepEqual(check.unfinished, [], `every instance of ${key} is FINISHED`);
  assert.deepEqual(check.miscounted, [], `the master counts exactly one success for each instance of ${key} (instance:successes)`);
  assert.deepEqual(check.evidence.unsucceeded(instances), [], `every instance of ${key} has a sandbox on some agent whose task exited 0 (sandboxes: ${check.evidence.outcomes()})`);
}

/** sandboxesOf is the directory under which an agent's tasks' MUSTER_SANDBOX lie. */
function sandboxesOf(agent: AgentProcess): string {
  return `${agent.workDir}/sandboxes/`;
}

/** two returns the two agents of a cell, failing the test if there are not two. */
function two(agents: readonly AgentProcess[]): [AgentProcess, AgentProcess] {
  const [a, b] = agents;
  assert.ok(a !== undefined && b !== undefined, 'the cell has two agents');
  return [a, b];
}

test('drill: kill -9 of an agent mid-run loses no exit status, counts no success twice, and the service is whole soon after the agent returns', async (t) => {
  const c = cell(t);
  const { master, agents, client } = await c.startCell(2);
  const [victim, survivor] = two(agents);
  const service = 'web/prod/drill';
  const batch = 'batch/prod/drill';
  const serviceInstances = 6;
  const batchInstances = 100;
  await Promise.all([
    client.createJob(yamlOf(serviceConfig(service, { instances: serviceInstances })), YAML),
    client.createJob(yamlOf(batchConfig(batch, { instances: batchInstances, resources: TINY, processes: [{ name: 'main', cmd: 'sleep 0.2' }] })), YAML),
  ]);

  // The agent dies while both jobs have tasks running on it: a copy of the service, and batch
  // tasks that end while it is down, whose exit statuses only its sandboxes then hold.
  await waitFor(
    () => {
      const jobs = new Set(taskProcesses({ under: sandboxesOf(victim) }).map((p) => p.env.get('MUSTER_JOB')));
      return jobs.has(service) && jobs.has(batch);
    },
    { what: `tasks of both ${service} and ${batch} running on ${victim.name}`, intervalMs: 50 },
  );
  const killedAt = Date.now();
  await victim.kill('SIGKILL');
  const originals = liveCopies(service, { under: sandboxesOf(victim) }).taskIds;

  // Past the agent timeout the agent is unreachable, and the service (replaceAfterSecs 0) is
  // placed again at once: every instance runs on the survivor.
  await waitAgentState(client, victim, 'UNREACHABLE');
  await waitRunning(client, service, {
    until: (job) => job.instances.every((i) => i.task?.hostname === survivor.hostname),
    what: `every instance of ${service} to run on ${survivor.name} while ${victim.name} is unreachable`,
    timeoutMs: OUTAGE_STEP_MS,
  });

  await victim.start();
  const returnedAt = Date.now();
  const [whole, finished] = await Promise.all([
    waitWhole(client, c, service, { count: serviceInstances, timeoutMs: WHOLE_WITHIN_MS }).then((w) => ({ ...w, at: Date.now() })),
    waitFor(() => client.getJob(batch), { what: `${batch} to be FINISHED`, until: (j) => j.state === 'FINISHED' || j.state === 'FAILED', timeoutMs: 60_000 }),
  ]);
  const check = await checkBatch(client, c, batch, batchInstances);
  const endedWhileDown = check.evidence.endedBetween(victim.name, killedAt, returnedAt);
  const survivors = [...whole.copies.taskIds];

  summarize(t, 'kill -9 of agent-1, restarted past the agent timeout', {
    lost: check.lost.length,
    doubled: `${check.evidence.doubled().length} (instances that exited 0 twice, by the sandboxes; ${check.miscounted.length} miscounted by the master)`,
    'time to whole': `${seconds(whole.at - returnedAt)} after the agent returned (${originals.size} service copies were on it; down ${seconds(returnedAt - killedAt)})`,
    batch: `${batch} ${finished.state}, ${batchInstances - check.unfinished.length}/${batchInstances} instances finished, ${endedWhileDown.length} ended while the agent was down; sandboxes ${check.evidence.outcomes()}`,
    'divergences healed': (await divergencesHealed(master)) ?? 'n/a',
  });

  assert.equal(finished.state, 'FINISHED', `${batch} finished: ${brief(finished)}`);
  assertBatch(check, batch, batchInstances);
  assert.ok(endedWhileDown.length > 0, `batch tasks ended on ${victim.name} while it was down (sandboxes there: ${check.evidence.sandboxes.filter((s) => s.agent === victim.name).length})`);
  assert.ok(originals.size > 0, `${victim.name} ran copies of ${service} when it was killed, and they outlived it`);
  assert.ok(
    survivors.every((id) => !originals.has(id)),
    `the returning originals were killed (killOnReturn: true): the survivors ${survivors.join(' ')} are all replacements`,
  );
  assert.equal(whole.copies.commands, serviceInstances, `exactly ${serviceInstances} sleep 3600 processes of ${service} live across the agents`);
});

/** OutageDrill: an agent that goes away (begin) and comes back (end), and how long it stays away at least. */
interface OutageDrill {
  scenario: string;
  master: MusterProcess;
  /** The agent that goes away: started, and so far the only one, so both jobs run on it. */
  away: AgentProcess;
  begin: () => void;
  end: () => void;
  minOutageMs: number;
}

/**
 * outageDrill runs a batch job that waits for the agent (default replaceAfterSecs 300) and a service
 * replaced at once (replaceAfterSecs 0, killOnReturn true) on one agent, starts a second, takes the
 * first away past the agent timeout and brings it back. Then: the batch finished with each instance
 * run once (one sandbox per instance, its exit status the master's), and the service, replaced on
 * the second agent while the first was away, keeps exactly one copy per instance: the replacement.
 */
async function outageDrill(t: TestContext, c: Cell, o: OutageDrill): Promise<void> {
  const { master, away } = o;
  await c.waitForAgents(1, master);
  const client = c.client(master);
  const batch = 'batch/prod/waits';
  const service = 'web/prod/moves';
  const batchInstances = 4;
  const serviceInstances = 3;
  // The batch tasks outlive the second agent's start and end while the first is away.
  await client.createJob(yamlOf(batchConfig(batch, { instances: batchInstances, processes: [{ name: 'main', cmd: 'sleep 10' }] })), YAML);
  await client.createJob(yamlOf(serviceConfig(service, { instances: serviceInstances, unreachable: { replaceAfterSecs: 0, killOnReturn: true } })), YAML);
  const batchJob = await waitRunning(client, batch, { until: (j) => j.instances.every((i) => i.task?.hostname === away.hostname) });
  const serviceJob = await waitRunning(client, service, { until: (j) => j.instances.every((i) => i.task?.hostname === away.hostname) });
  const batchTasks = new Map(batchJob.instances.map((i) => [i.instance, i.task?.taskId]));
  const originals = new Set(serviceJob.instances.map((i) => i.task?.taskId ?? ''));

  const other = await c.startAgent(master);
  await c.waitForAgents(2, master);
  const liveBatch = liveCopies(batch, { under: sandboxesOf(away) }).taskIds.size;
  assert.equal(liveBatch, batchInstances, `every batch task still runs on ${away.name} when it goes away, so that they end while it is away`);

  const awayAt = Date.now();
  o.begin();
  try {
    await waitAgentState(client, away, 'UNREACHABLE');
    // The batch waits: its tasks are TASK_UNREACHABLE and stay their instances' tasks.
    const waiting = await waitFor(() => client.getJob(batch), {
      what: `every task of ${batch} to be TASK_UNREACHABLE, still its instance's task`,
      until: (j) => j.instances.every((i) => i.task?.state === 'TASK_UNREACHABLE' && i.task.taskId === batchTasks.get(i.instance)),
      timeoutMs: OUTAGE_STEP_MS,
    });
    // Each says when it will be replaced: the default 300 s after its agent was marked unreachable.
    for (const i of waiting.instances) {
      assert.ok(i.replaceAt !== undefined && i.replaceAt > awayAt + 290_000 && i.replaceAt < Date.now() + 300_000, `instance ${i.instance} says when it is replaced`);
    }
    const status = await c.cli(['job', 'status', batch]);
    assert.match(status.stdout, /agent unreachable: replaced in \d+s unless it returns/);
    // The service is placed again at once, on the other agent.
    await waitRunning(client, service, {
      until: (j) => j.instances.every((i) => i.task?.hostname === other.hostname && !originals.has(i.task.taskId)),
      what: `every instance of ${service} replaced on ${other.name} while ${away.name} is away`,
      timeoutMs: OUTAGE_STEP_MS,
    });
    // The batch tasks end while their agent is away: only its sandboxes know how.
    await waitFor(() => jobEvidence([away], batch), {
      what: `every batch task on ${away.name} to end (an exit file in its sandbox) while ${away.name} is away`,
      until: (e) => e.sandboxes.length === batchInstances && e.sandboxes.every((s) => s.outcome !== 'no exit file'),
      timeoutMs: OUTAGE_STEP_MS,
    });
    // The outage lasts its length: that is the drill's parameter, not a wait for something.
    const left = awayAt + o.minOutageMs - Date.now();
    if (left > 0) await settle(left);
    const during = await client.getJob(batch);
    assert.ok(
      during.instances.every((i) => i.task?.taskId === batchTasks.get(i.instance)),
      `no instance of ${batch} was placed again while ${away.name} was away (replaceAfterSecs 300): ${brief(during)}`,
    );
    const stillAway = liveCopies(service, { under: sandboxesOf(away) }).taskIds;
    assert.deepEqual([...stillAway].sort(), [...originals].sort(), `the original copies of ${service} kept running on ${away.name} while it was away`);
  } finally {
    o.end();
  }
  const returnedAt = Date.now();
  const outageMs = returnedAt - awayAt;

  const [whole, finished] = await Promise.all([
    waitWhole(client, c, service, { count: serviceInstances, on: other.hostname, timeoutMs: OUTAGE_STEP_MS }).then((w) => ({ ...w, at: Date.now() })),
    waitFor(() => client.getJob(batch), { what: `${batch} to be FINISHED`, until: (j) => j.state === 'FINISHED' || j.state === 'FAILED', timeoutMs: OUTAGE_STEP_MS }),
  ]);
  await waitAgentState(client, away, 'CONNECTED');
  const check = await checkBatch(client, c, batch, batchInstances);
  const ranTwice = check.evidence.ranTwice();
  const survivors = [...whole.copies.taskIds];

  summarize(t, o.scenario, {
    lost: check.lost.length,
    doubled: `${ranTwice.length} batch instances ran twice, ${check.evidence.doubled().length} exited 0 twice (sandboxes); ${survivors.filter((id) => originals.has(id)).length} service originals survived`,
    'time to whole': `${seconds(whole.at - returnedAt)} after the agent returned (away ${seconds(outageMs)})`,
    batch: `${batch} ${finished.state}; sandboxes ${check.evidence.outcomes()}`,
    'divergences healed': (await divergencesHealed(master)) ?? 'n/a',
  });

  assert.equal(finished.state, 'FINISHED', `${batch} finished: ${brief(finished)}`);
  assertBatch(check, batch, batchInstances);
  assert.deepEqual(
    ranTwice.map((i) => `${i.instance}:${i.taskIds.join(',')}`),
    [],
    `no instance of ${batch} ran twice: one sandbox per instance, on any agent`,
  );
  assert.ok(
    check.evidence.sandboxes.every((s) => s.agent === away.name),
    `every task of ${batch} ran on ${away.name}, where it was placed`,
  );
  assert.ok(
    survivors.every((id) => !originals.has(id)),
    `the returning originals of ${service} were killed (killOnReturn: true): the survivors ${survivors.join(' ')} are the replacements`,
  );
  assert.equal(whole.copies.commands, serviceInstances, `exactly ${serviceInstances} sleep 3600 processes of ${service} live`);
}

test('drill: an agent stopped (SIGSTOP) past the agent timeout: the batch that waits runs each instance once; the service replaced at once keeps one copy on its return', async (t) => {
  const c = cell(t);
  const master = await c.startMaster();
  const away = await c.startAgent(master);
  await outageDrill(t, c, {
    scenario: 'SIGSTOP of agent-1 for 12 s, then SIGCONT',
    master,
    away,
    begin: () => killQuietly(away.pid, 'SIGSTOP'),
    end: () => killQuietly(away.pid, 'SIGCONT'),
    minOutageMs: 12_000,
  });
});

test('drill: a network partition of an agent for 20 s: the batch that waits runs each instance once; the service replaced at once keeps one copy when it heals', async (t) => {
  const why = netnsProblem();
  if (!requireOrSkip(t, why === undefined, `needs network namespaces, and here ${why ?? ''}`)) return;
  const c = cell(t);
  const ns = Netns.create(t);
  // The agent inside the namespace reaches the master at the host's end of the veth pair.
  const master = await c.startMaster({ host: '0.0.0.0' });
  const away = await c.startAgent(master, { netns: ns });
  await outageDrill(t, c, {
    scenario: `network partition of agent-1 (namespace ${ns.name}, veth ${ns.hostVeth} down) for 20 s, then healed`,
    master,
    away,
    begin: () => ns.cut(),
    end: () => ns.heal(),
    minOutageMs: 20_000,
  });
});

test('drill: a launch storm of 1,000 batch instances on two agents: every instance succeeds exactly once, and no agent is ever marked unreachable', async (t) => {
  const c = cell(t);
  const master = await c.startMaster();
  const resources = 'cpus:8;mem:8192;disk:8192';
  await c.startAgent(master, { resources });
  await c.startAgent(master, { resources });
  await c.waitForAgents(2, master);
  const client = c.client(master);
  const unreachable = watchUnreachable(t, client);
  const key = 'batch/prod/storm';
  const instances = 1000;

  const startedAt = Date.now();
  await client.createJob(yamlOf(batchConfig(key, { instances, resources: TINY })), YAML);
  // Every look at the job also looks at the agents: any moment one is not CONNECTED is kept.
  const statesSeen = new Set<string>();
  const summary = await waitFor(
    async () => {
      const [jobs, view] = await Promise.all([client.listJobs(), client.cell()]);
      for (const a of view.agents) statesSeen.add(`${a.hostname}:${a.state}`);
      return jobs.find((j) => j.job === key);
    },
    { what: `${key} to end`, until: (j) => j !== undefined && (j.state === 'FINISHED' || j.state === 'FAILED'), timeoutMs: 150_000, intervalMs: 1000 },
  );
  const endedAt = Date.now();
  const check = await checkBatch(client, c, key, instances);
  const unreachableSeen = [...statesSeen].filter((s) => s.endsWith(':UNREACHABLE'));
  const logged = master.logs().includes('agent unreachable');
  await unreachable.stop();

  summarize(t, `launch storm of ${instances} × true on 2 agents`, {
    lost: check.lost.length,
    doubled: `${check.evidence.doubled().length} (instances that exited 0 twice, by the sandboxes; ${check.miscounted.length} miscounted by the master)`,
    'time to whole': `${summary?.state ?? '?'} after ${seconds(endedAt - startedAt)}, ${instances - check.unfinished.length}/${instances} instances finished`,
    unreachable: `${unreachable.agents.length} AgentUnreachable events of ${unreachable.events}${unreachable.resets > 0 ? ` (${unreachable.resets} stream resets)` : ''}; agent states seen: ${[...statesSeen].sort().join(', ')}; master log ${logged ? 'says' : 'never says'} "agent unreachable"`,
    'divergences healed': (await divergencesHealed(master)) ?? 'n/a',
  });

  assert.equal(summary?.state, 'FINISHED', `${key} finished (task states: ${JSON.stringify(summary?.taskStates)})`);
  assertBatch(check, key, instances);
  assert.deepEqual(check.evidence.doubled().map((i) => `${i.instance}:${i.taskIds.join(',')}`), [], `no instance of ${key} exited 0 twice: nothing went down, so nothing may run again`);
  assert.deepEqual(unreachableSeen, [], 'no look at the cell during the storm found an agent UNREACHABLE');
  assert.deepEqual(unreachable.agents, [], 'the master logged no AgentUnreachable event');
  assert.ok(unreachable.events > 0, 'the event stream of the master was read (it saw the job created)');
  assert.equal(logged, false, 'the master never logged "agent unreachable"');
  const after = await client.cell();
  assert.deepEqual(
    after.agents.map((a) => `${a.hostname}:${a.state}`).sort(),
    c.agents.map((a) => `${a.hostname}:CONNECTED`).sort(),
    'both agents are CONNECTED after the storm',
  );
});
