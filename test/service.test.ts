// A service keeps n instances running across a task that dies, an agent that is lost and comes
// back, and a user who kills or restarts one instance. A master and two agents run as separate
// processes; task processes are found through /proc by the MUSTER_* variables they inherit.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { isTerminal } from '../src/core/index.js';
import type { MusterClient } from '../src/client/index.js';
import type { JobView } from '../src/protocol/index.js';
import { cell, settle, waitFor, type AgentProcess, type Cell } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { brief, taskIds, taskOf, waitRunning } from './jobs.js';
import { hasProcfs, liveTaskIds, taskProcesses } from './proc.js';
import { requireOrSkip } from './require.js';

const KEY = 'web/prod/hello';
const SLEEP = ['sleep', '3600'] as const;

/** startCell starts a master and two agents and waits until both agents are connected. */
async function startCell(c: Cell, options: { agentTimeoutSecs?: number } = {}): Promise<{ client: MusterClient; agents: AgentProcess[] }> {
  const { client, agents } = await c.startCell(2, options);
  return { client, agents };
}

/** agentById maps the master's agent ids to the agent processes of the cell. */
async function agentById(agents: readonly AgentProcess[]): Promise<Map<string, AgentProcess>> {
  const out = new Map<string, AgentProcess>();
  for (const agent of agents) {
    const id = await waitFor(() => agent.agentId(), { what: `${agent.name} to have an agent id` });
    out.set(id, agent);
  }
  return out;
}

/** parseEnv reads the output of `env` into a map. */
function parseEnv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

test('a service runs every instance on an agent, with its ports and the Muster environment', async (t) => {
  const c = cell(t);
  const { client, agents } = await startCell(c);
  const config = serviceConfig(KEY, {
    instances: 3,
    resources: { cpus: 0.1, mem: '16MiB', disk: '16MiB', ports: ['http'] },
    processes: [{ name: 'main', cmd: 'env; echo END-OF-ENV; exec sleep 3600' }],
  });
  const created = await client.createJob(yamlOf(config), YAML);
  assert.deepEqual(created, { job: KEY, instances: 3 });

  const job = await waitRunning(client, KEY);
  const byId = await agentById(agents);
  const ids = new Set<string>();
  const portsByAgent = new Map<string, Set<number>>();
  for (const instance of [0, 1, 2]) {
    const task = taskOf(job, instance);
    assert.equal(task.job, KEY);
    assert.equal(task.instance, instance);
    assert.ok(task.taskId !== '', `instance ${instance} has a task id`);
    ids.add(task.taskId);
    const agent = byId.get(task.agentId);
    assert.ok(agent !== undefined, `instance ${instance} runs on agent ${task.agentId}, which is not one of ${[...byId.keys()].join(', ')}`);
    const port = task.ports['http'];
    assert.ok(port !== undefined, `instance ${instance} has an http port: ${JSON.stringify(task.ports)}`);
    assert.ok(port >= agent.ports.begin && port <= agent.ports.end, `port ${port} lies in ${agent.name}'s range ${agent.ports.begin}-${agent.ports.end}`);
    const used = portsByAgent.get(task.agentId) ?? new Set<number>();
    assert.ok(!used.has(port), `port ${port} is given to two tasks on ${agent.name}`);
    used.add(port);
    portsByAgent.set(task.agentId, used);

    // The task printed its environment; read it back through the master's logs API.
    const chunk = await waitFor(() => client.taskLogs(task.taskId, { file: 'stdout' }), {
      what: `the stdout of ${task.taskId} to hold its environment`,
      until: (c) => c.data.includes('END-OF-ENV'),
    });
    const env = parseEnv(chunk.data);
    assert.equal(env.get('MUSTER_TASK_ID'), task.taskId);
    assert.equal(env.get('MUSTER_INSTANCE'), String(instance));
    assert.equal(env.get('MUSTER_JOB'), KEY);
    assert.equal(env.get('PORT_HTTP'), String(port));
    assert.equal(env.get('PORT0'), String(port));
    const host = env.get('HOST');
    assert.ok(host === task.hostname || host === task.address, `HOST=${host} is the agent's hostname ${task.hostname} or address ${task.address}`);
    const sandbox = env.get('MUSTER_SANDBOX');
    assert.ok(sandbox !== undefined && sandbox.startsWith(agent.workDir + '/'), `MUSTER_SANDBOX=${sandbox} lies in ${agent.name}'s work dir ${agent.workDir}`);
    assert.ok(existsSync(sandbox), `the sandbox ${sandbox} exists`);
  }
  assert.equal(ids.size, 3, 'every instance has its own task id');

  const tasks = await client.listTasks({ job: KEY });
  assert.deepEqual(tasks.map((t) => t.taskId).sort(), [...ids].sort(), 'the task list shows the three running tasks');
});

test('a service instance whose process is killed runs again as a new task', async (t) => {
  if (!requireOrSkip(t, hasProcfs(), 'needs /proc (Linux) to find and kill a task process')) return;
  const c = cell(t);
  const { client } = await startCell(c);
  await client.createJob(yamlOf(serviceConfig(KEY, { instances: 2 })), YAML);
  const before = await waitRunning(client, KEY);
  const victim = taskOf(before, 0);
  const other = taskOf(before, 1);

  const [proc] = await waitFor(() => taskProcesses({ taskId: victim.taskId, argv: SLEEP, under: c.dir }), {
    what: `the sleep process of ${victim.taskId}`,
    until: (ps) => ps.length === 1,
  });
  assert.ok(proc !== undefined);
  process.kill(proc.pid, 'SIGKILL');

  const after = await waitRunning(client, KEY, {
    what: `instance 0 of ${KEY} to run again as a new task`,
    until: (job) => taskOf(job, 0).taskId !== victim.taskId,
  });
  assert.equal(taskOf(after, 1).taskId, other.taskId, 'instance 1 was left alone');
  const old = await waitFor(() => client.getTask(victim.taskId), {
    what: `the killed task ${victim.taskId} to have ended`,
    until: (task) => isTerminal(task.state),
  });
  assert.equal(old.state, 'TASK_FAILED', `a task whose process was killed failed: ${old.message ?? ''}`);
  assert.deepEqual([...liveTaskIds({ job: KEY, instance: 0, under: c.dir })], [taskOf(after, 0).taskId], 'only the new task of instance 0 has processes');
});

test('the instances of a lost agent move to the other agent, and its stale tasks are killed when it returns', async (t) => {
  if (!requireOrSkip(t, hasProcfs(), 'needs /proc (Linux) to see which task processes live')) return;
  const c = cell(t);
  const { client, agents } = await startCell(c, { agentTimeoutSecs: 3 });
  await client.createJob(yamlOf(serviceConfig(KEY, { instances: 3 })), YAML);
  const before = await waitRunning(client, KEY);
  const byId = await agentById(agents);

  // The lost agent is the one holding the most instances (with three on two agents, at least two).
  const counts = new Map<string, number>();
  for (const i of before.instances) counts.set(i.task?.agentId ?? '', (counts.get(i.task?.agentId ?? '') ?? 0) + 1);
  const [lostId] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0] ?? [''];
  const lost = byId.get(lostId);
  const kept = [...byId.entries()].find(([id]) => id !== lostId);
  assert.ok(lost !== undefined && kept !== undefined, `both agents are known: ${brief(before)}`);
  const [keptId] = kept;
  const stale = before.instances.filter((i) => i.task?.agentId === lostId).map((i) => i.task?.taskId as string);
  await waitFor(() => liveTaskIds({ job: KEY, under: lost.workDir }), {
    what: `the processes of ${stale.join(', ')} on ${lost.name}`,
    until: (live) => stale.every((id) => live.has(id)),
  });

  await lost.kill('SIGKILL');
  const moved = await waitRunning(client, KEY, {
    what: `every instance of ${KEY} to run on ${kept[1].name} after ${lost.name} was lost`,
    until: (job) => job.instances.every((i) => i.task?.agentId === keptId && !stale.includes(i.task.taskId)),
    timeoutMs: 60_000,
  });
  for (const id of stale) {
    const task = await client.getTask(id);
    assert.ok(
      task.state === 'TASK_UNREACHABLE' || task.state === 'TASK_LOST',
      `task ${id} of the lost agent shows TASK_UNREACHABLE or TASK_LOST, not ${task.state}`,
    );
  }
  // Tasks outlive their agent daemon (their supervisor is not the agent): the stale ones still run.
  const stillLive = liveTaskIds({ job: KEY, under: lost.workDir });
  assert.ok(stale.every((id) => stillLive.has(id)), `the stale tasks kept running while ${lost.name} was down: ${[...stillLive].join(', ')}`);

  await lost.restart();
  await waitFor(() => liveTaskIds({ job: KEY, under: c.dir }), {
    what: `${lost.name}, back, to kill the tasks the master no longer wants (${stale.join(', ')})`,
    until: (live) => stale.every((id) => !live.has(id)),
  });
  const wanted = taskIds(moved);
  await waitFor(() => [0, 1, 2].map((i) => [...liveTaskIds({ job: KEY, instance: i, under: c.dir })]), {
    what: `each instance to have the processes of exactly its one task ${wanted.join(', ')}`,
    until: (live) => live.every((ids, i) => ids.length === 1 && ids[0] === wanted[i]),
  });
  for (const i of [0, 1, 2]) {
    assert.equal(taskProcesses({ job: KEY, instance: i, argv: SLEEP, under: c.dir }).length, 1, `instance ${i} runs exactly once`);
  }
  const after = await client.getJob(KEY);
  assert.deepEqual(taskIds(after), wanted, `the instances stayed where they moved: ${brief(after)}`);
  for (const id of stale) {
    const task = await waitFor(() => client.getTask(id), {
      what: `stale task ${id} to end once its agent is back`,
      until: (task) => isTerminal(task.state),
    });
    assert.ok(isTerminal(task.state));
  }
});

test('killing one instance of a service leaves the others running and does not restart it', async (t) => {
  const c = cell(t);
  const { client } = await startCell(c);
  await client.createJob(yamlOf(serviceConfig(KEY, { instances: 3 })), YAML);
  const before = await waitRunning(client, KEY);

  const answer = await client.killJob(KEY, [1]);
  assert.deepEqual(answer, { job: KEY, instances: [1] });
  const killedTask = taskOf(before, 1).taskId;
  const isKilled = (job: JobView): boolean => {
    const i = job.instances.find((x) => x.instance === 1);
    return i?.state === 'KILLED' && i.task?.state === 'TASK_KILLED';
  };
  await waitFor(() => client.getJob(KEY), { what: `instance 1 of ${KEY} to be KILLED`, until: isKilled });
  if (hasProcfs()) {
    await waitFor(() => liveTaskIds({ taskId: killedTask, under: c.dir }), {
      what: `the processes of ${killedTask} to end`,
      until: (live) => live.size === 0,
    });
  }

  // Give the service controller ample time (many restart backoffs) to do the wrong thing.
  await settle(2000);
  const after = await client.getJob(KEY);
  assert.ok(isKilled(after), `instance 1 stays killed: ${brief(after)}`);
  assert.equal(taskOf(after, 1).taskId, killedTask, 'instance 1 got no new task');
  for (const i of [0, 2]) {
    assert.equal(taskOf(after, i).taskId, taskOf(before, i).taskId, `instance ${i} kept its task`);
    assert.equal(taskOf(after, i).state, 'TASK_RUNNING', `instance ${i} still runs`);
  }
  assert.equal(after.state, 'ACTIVE', 'the job is still active');
});

test('restarting one instance of a service gives it a new task and leaves the others alone', async (t) => {
  const c = cell(t);
  const { client } = await startCell(c);
  await client.createJob(yamlOf(serviceConfig(KEY, { instances: 3 })), YAML);
  const before = await waitRunning(client, KEY);
  const old = taskOf(before, 2).taskId;

  const answer = await client.restartJob(KEY, [2]);
  // A service restarts as a rolling restart: an update of its own.
  assert.deepEqual({ ...answer, update: undefined }, { job: KEY, instances: [2], update: undefined });
  assert.match(answer.update ?? '', /^[0-9a-f-]{36}$/, 'the rolling restart is an update');
  const after = await waitRunning(client, KEY, {
    what: `instance 2 of ${KEY} to run as a new task`,
    until: (job) => taskOf(job, 2).taskId !== old,
  });
  assert.equal(taskOf(after, 0).taskId, taskOf(before, 0).taskId, 'instance 0 kept its task');
  assert.equal(taskOf(after, 1).taskId, taskOf(before, 1).taskId, 'instance 1 kept its task');
  const ended = await waitFor(() => client.getTask(old), { what: `the old task ${old} to end`, until: (task) => isTerminal(task.state) });
  assert.equal(ended.state, 'TASK_KILLED', `the replaced task was killed, not ${ended.state}`);
  if (hasProcfs()) {
    await waitFor(() => liveTaskIds({ taskId: old, under: c.dir }), { what: `the processes of ${old} to end`, until: (live) => live.size === 0 });
  }
});
