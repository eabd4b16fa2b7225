// The agent daemon can crash and come back without killing anything: tasks run under supervisors
// that outlive it, a restarted agent reattaches to them, reports the ones that ended while it was
// down with their real exit status, and delivers every status update the master had not yet
// acknowledged. A master and an agent run as real processes; the agent is killed with SIGKILL.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cell, waitFor } from './harness.js';
import { batchConfig, serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { taskOf, waitRunning } from './jobs.js';
import { isAlive, taskProcesses } from './proc.js';

test('kill -9 of the agent keeps its tasks running; the restarted agent reattaches and reports what ended meanwhile', async (t) => {
  const c = cell(t);
  // A long agent timeout: the agent comes back before the master would give its tasks up.
  const master = await c.startMaster({ agentTimeoutSecs: 30 });
  const agent = await c.startAgent(master);
  await c.waitForAgents(1);
  const client = c.client();

  const service = 'web/prod/steady';
  const batch = 'batch/prod/late';
  await client.createJob(yamlOf(serviceConfig(service)), YAML);
  // The batch task ends while the agent is down; its exit status must still reach the master.
  await client.createJob(yamlOf(batchConfig(batch, { processes: [{ name: 'main', cmd: 'sleep 2; exit 7' }], maxTaskFailures: 1 })), YAML);
  const serviceTask = taskOf(await waitRunning(client, service), 0);
  const batchTask = taskOf(await waitRunning(client, batch), 0);
  // TASK_RUNNING means its shell runs; on a loaded machine the shell may not have started sleep yet.
  const process = await waitFor(() => taskProcesses({ taskId: serviceTask.taskId, argv: ['sleep', '3600'] })[0], { what: 'the service task to run its sleep' });

  await agent.kill('SIGKILL');
  // While the agent is down the batch task ends; the service task does not.
  await waitFor(() => taskProcesses({ taskId: batchTask.taskId }).length, { what: 'the batch task to end with no agent', until: (n) => n === 0 });
  assert.equal(isAlive(process.pid), true, 'the service task survived the agent');

  await agent.start();
  const ended = await waitFor(() => client.getTask(batchTask.taskId), {
    what: 'the batch task to be reported ended',
    until: (task) => task.state === 'TASK_FAILED',
  });
  assert.equal(ended.reason, 'REASON_COMMAND_EXITED');
  assert.equal(ended.message, 'Command exited with status 7');
  const job = await waitFor(() => client.getJob(batch), { what: `${batch} to fail`, until: (j) => j.state === 'FAILED' });
  assert.equal(job.instances[0]?.failures, 1, 'the failure was counted once');

  // The service instance is the same task, the same process, still running.
  const after = taskOf(await waitRunning(client, service), 0);
  assert.equal(after.taskId, serviceTask.taskId);
  assert.equal(isAlive(process.pid), true);
  assert.deepEqual(taskProcesses({ job: service, argv: ['sleep', '3600'] }).map((p) => p.pid), [process.pid], 'no second copy was started');

  // The reattached task obeys the agent again.
  await client.killJob(service);
  await waitFor(() => isAlive(process.pid), { what: 'the reattached task to be killed', until: (alive) => !alive });
});

test('SIGTERM stops the agent without killing its tasks; SIGUSR1 kills them first', async (t) => {
  const c = cell(t);
  const master = await c.startMaster({ agentTimeoutSecs: 30 });
  const agent = await c.startAgent(master);
  await c.waitForAgents(1);
  const client = c.client();
  const key = 'web/prod/calm';
  await client.createJob(yamlOf(serviceConfig(key)), YAML);
  const task = taskOf(await waitRunning(client, key), 0);
  const process = await waitFor(() => taskProcesses({ taskId: task.taskId, argv: ['sleep', '3600'] })[0], { what: 'the task to run its sleep' });

  assert.deepEqual(await agent.kill('SIGTERM'), { code: 0, signal: null });
  assert.equal(isAlive(process.pid), true, 'SIGTERM left the task running');

  await agent.start();
  assert.equal(taskOf(await waitRunning(client, key), 0).taskId, task.taskId);
  assert.deepEqual(await agent.kill('SIGUSR1'), { code: 0, signal: null });
  assert.equal(isAlive(process.pid), false, 'SIGUSR1 killed the task before the agent exited');
  const killed = await client.getTask(task.taskId);
  assert.equal(killed.state, 'TASK_KILLED');
  assert.equal(killed.reason, 'REASON_AGENT_SHUTDOWN');
});
