// Docker tasks on a real Docker daemon (Debian's docker.io, started by test/dockerd.ts with its own
// dirs and socket) and a test image imported from busybox-static: a master and agents as separate
// processes, the agents with --containerizers process,docker. What a user of Mesos or Nomad
// expects of a docker task: its output in task logs, a graceful kill, clear failures, memory limits,
// recovery after kill -9 of the agent and after the daemon stops, and image updates with rollback.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MusterClient } from '../src/client/index.js';
import type { JobSpecInput } from '../src/core/index.js';
import type { JobView, TaskView, UpdateView } from '../src/protocol/index.js';
import { TEST_BRIDGE, TEST_IMAGE, TEST_IMAGE_2, pushImage, startDockerd, startRegistry, whyNoDocker, type Dockerd } from './dockerd.js';
import { cell, freePort, waitFor, type AgentProcess, type Cell } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { taskOf, waitRunning } from './jobs.js';
import { hasBinary, requireOrSkip } from './require.js';

let dockerd: Dockerd | undefined;
const missing = whyNoDocker();

before(async () => {
  if (missing === undefined) dockerd = await startDockerd();
});

after(async () => {
  await dockerd?.remove();
});

/** daemon returns the test daemon, or undefined when the test was skipped for want of one. */
function daemon(t: TestContext): Dockerd | undefined {
  if (!requireOrSkip(t, missing === undefined && dockerd !== undefined, missing ?? 'needs a docker daemon')) return undefined;
  return dockerd;
}

function dockerArgs(d: Dockerd, more: string[] = []): string[] {
  return ['--containerizers', 'process,docker', '--docker-socket', d.socket, ...more];
}

/** dockerJob is a service of the test image running `script` under sh (its own command, no processes). */
function dockerJob(key: string, script: string, docker: Record<string, unknown> = {}, over: Partial<JobSpecInput> = {}): Record<string, unknown> {
  const { processes: _, ...base } = serviceConfig(key, { resources: { cpus: 0.1, mem: '32MiB', ports: [] }, killGraceSecs: 5, ...over });
  return { ...base, container: { docker: { image: TEST_IMAGE, entrypoint: ['sh', '-c'], args: [script], ...docker } } };
}

async function create(client: MusterClient, config: Record<string, unknown>): Promise<void> {
  await client.createJob(yamlOf(config), YAML);
}

async function tasksOf(client: MusterClient, key: string): Promise<TaskView[]> {
  return client.listTasks({ job: key, all: true });
}

/** endedTask waits for the first task of a job to end and returns it. */
async function endedTask(client: MusterClient, key: string): Promise<TaskView> {
  const tasks = await waitFor(() => tasksOf(client, key), {
    what: `a task of ${key} to end`,
    until: (ts) => ts.some((x) => ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST'].includes(x.state)),
    timeoutMs: 60_000,
  });
  return tasks.find((x) => ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST'].includes(x.state)) as TaskView;
}

async function containersOf(d: Dockerd, label: string): Promise<{ Id: string; State: string; Image: string; Labels: Record<string, string> }[]> {
  return d.docker.listContainers({ all: true, filters: { label: [label] } });
}

async function stdoutOf(client: MusterClient, taskId: string, file: 'stdout' | 'stderr' = 'stdout'): Promise<string> {
  return (await client.taskLogs(taskId, { file, length: 1 << 20 })).data;
}

async function dockerCell(t: TestContext, d: Dockerd, agentArgs: string[] = [], masterArgs: string[] = [], agentTimeoutSecs = 10): Promise<{ c: Cell; client: MusterClient; agent: AgentProcess }> {
  const c = cell(t);
  const master = await c.startMaster({ agentTimeoutSecs, args: masterArgs });
  const agent = await c.startAgent(master, { args: dockerArgs(d, agentArgs) });
  await c.waitForAgents(1, master);
  return { c, client: c.client(master), agent };
}

test('a service of an image: its own command runs, output in task logs, the sandbox at /mnt/mesos/sandbox, exec, usage, a command health check in the container and an http one on a mapped bridge port, a graceful kill', async (t) => {
  const d = daemon(t);
  if (d === undefined) return;
  const { client, agent } = await dockerCell(t, d, ['--docker-bridge', TEST_BRIDGE]);
  const cellView = await client.cell();
  assert.equal(cellView.agents[0]?.attributes['docker'], 'up', 'the agent advertises a daemon that answers');
  assert.equal(cellView.agents[0]?.attributes['docker.bridge'], 'up', 'and its bridge network');

  const hostKey = 'web/prod/dk-host';
  await create(
    client,
    dockerJob(
      hostKey,
      [
        'echo "hello from $MUSTER_TASK_ID in $MESOS_SANDBOX port $PORT_HTTP"',
        'echo to-stderr >&2',
        'echo ok > $MESOS_SANDBOX/index.html',
        "trap 'echo got TERM > $MESOS_SANDBOX/term; exit 0' TERM",
        'httpd -f -p $PORT_HTTP -h $MESOS_SANDBOX & wait',
      ].join('\n'),
      { network: 'host' },
      // A command check runs inside the container (busybox's wget, on the host network).
      { resources: { cpus: 0.1, mem: '32MiB', ports: ['http'] }, health: { command: { cmd: 'wget -q -O- http://127.0.0.1:$PORT_HTTP/ | grep -q ok' }, intervalSecs: 0.5, gracePeriodSecs: 10 } },
    ),
  );
  const bridgeKey = 'web/prod/dk-bridge';
  await create(
    client,
    dockerJob(bridgeKey, 'echo "inside $PORT_HTTP outside $HOST_PORT_HTTP"; echo ok > /tmp/index.html; exec httpd -f -p 8080 -h /tmp', { network: 'bridge', portMappings: { http: 8080 } }, {
      resources: { cpus: 0.1, mem: '32MiB', ports: ['http'] },
      health: { http: { port: 'http' }, intervalSecs: 0.5, gracePeriodSecs: 10 },
    }),
  );
  const healthy = (job: JobView): boolean => job.instances.every((i) => i.task?.healthy === true);
  const hostJob = await waitRunning(client, hostKey, { until: healthy, what: 'the host-network service to be healthy' });
  const bridgeJob = await waitRunning(client, bridgeKey, { until: healthy, what: 'the bridge service to be healthy through its mapped port' });

  const task = taskOf(hostJob, 0);
  assert.equal(await stdoutOf(client, task.taskId), `hello from ${task.taskId} in /mnt/mesos/sandbox port ${task.ports?.['http'] ?? '?'}\n`);
  assert.equal(await stdoutOf(client, task.taskId, 'stderr'), 'to-stderr\n');
  assert.equal((await client.readTaskFile(task.taskId, { path: 'index.html' })).data, 'ok\n', 'what the container writes to $MESOS_SANDBOX is in the sandbox');
  const bridgeTask = taskOf(bridgeJob, 0);
  assert.equal(await stdoutOf(client, bridgeTask.taskId), `inside 8080 outside ${bridgeTask.ports?.['http'] ?? '?'}\n`);

  // exec runs in the container: its root, its sandbox mount, the task's environment.
  const out: string[] = [];
  const exit = await client.execTask(task.taskId, { argv: ['sh', '-c', 'echo $MUSTER_TASK_ID; pwd; ls /bin/busybox; exit 4'], timeoutSecs: 30 }, (_, data) => out.push(data.toString()));
  assert.equal(out.join(''), `${task.taskId}\n/mnt/mesos/sandbox\n/bin/busybox\n`);
  assert.equal(exit.exitCode, 4, 'its exit status is passed on');

  // Usage comes from the container's stats.
  await waitFor(() => client.getJob(hostKey), { what: 'usage of the docker task', until: (j) => (taskOf(j, 0).usage?.memBytes ?? 0) > 0, timeoutMs: 20_000 });

  // The container carries labels naming its task, job and agent's work dir.
  const [container] = await containersOf(d, `muster.task=${task.taskId}`);
  assert.ok(container !== undefined, 'the container is found by its task label');
  assert.equal(container.Labels['muster.job'], hostKey);
  assert.equal(container.Labels['muster.workdir'], agent.workDir);

  await client.killJob(hostKey);
  const killed = await endedTask(client, hostKey);
  assert.equal(killed.state, 'TASK_KILLED');
  assert.equal((await client.readTaskFile(task.taskId, { path: 'term' })).data, 'got TERM\n', 'the container was sent SIGTERM first');
  await waitFor(() => containersOf(d, `muster.task=${task.taskId}`), { what: 'the ended task\'s container to be removed', until: (l) => l.length === 0 });
});

test('truthful ends: processes in the image and their exit status, a missing image, an image that cannot be pulled, a memory limit', async (t) => {
  const d = daemon(t);
  if (d === undefined) return;
  const { client } = await dockerCell(t, d);
  const batch = (key: string, over: Record<string, unknown>, docker: Record<string, unknown> = {}): Record<string, unknown> => ({
    job: key,
    kind: 'batch',
    resources: { cpus: 0.1, mem: '32MiB' },
    maxTaskFailures: 0,
    ...over,
    container: { docker: { image: TEST_IMAGE, ...docker } },
  });
  await create(client, batch('batch/prod/procs', { processes: [{ name: 'one', cmd: 'echo one; sleep 0.5' }, { name: 'two', cmd: 'echo two in $PWD; exit 3' }] }));
  await create(client, batch('batch/prod/ok', { processes: [{ name: 'main', cmd: 'echo fine' }] }));
  await create(client, batch('batch/prod/never', {}, { image: 'muster-test/absent:1', pull: 'never' }));
  await create(client, batch('batch/prod/nopull', {}, { image: 'muster-test/absent:2', pull: 'missing' }));
  await create(client, batch('batch/prod/oom', { resources: { cpus: 0.1, mem: '16MiB' } }, { entrypoint: ['sh', '-c'], args: ['x=$(head -c 80000000 /dev/zero | tr "\\0" a); echo survived'] }));

  const procs = await endedTask(client, 'batch/prod/procs');
  assert.equal(procs.state, 'TASK_FAILED');
  assert.equal(procs.reason, 'REASON_COMMAND_EXITED');
  assert.match(procs.message ?? '', /exited with status 3/);
  const procsOut = (await stdoutOf(client, procs.taskId)).split('\n').sort().join(' ');
  assert.equal(procsOut, ' one two in /mnt/mesos/sandbox', 'both processes ran in the container, in the sandbox');
  assert.match(await stdoutOf(client, procs.taskId, 'stderr'), /process two exited with status 3/);

  const fine = await endedTask(client, 'batch/prod/ok');
  assert.equal(fine.state, 'TASK_FINISHED');
  assert.equal(await stdoutOf(client, fine.taskId), 'fine\n');

  const never = await endedTask(client, 'batch/prod/never');
  assert.equal(never.state, 'TASK_FAILED');
  assert.equal(never.reason, 'REASON_CONTAINER_PREPARE_FAILED');
  assert.match(never.message ?? '', /muster-test\/absent:1 is not on this agent and the job says pull: never/);

  const nopull = await endedTask(client, 'batch/prod/nopull');
  assert.equal(nopull.state, 'TASK_FAILED');
  assert.equal(nopull.reason, 'REASON_CONTAINER_PREPARE_FAILED');
  assert.match(nopull.message ?? '', /Cannot pull image muster-test\/absent:2: \S/, 'the daemon\'s own message follows');

  const oom = await endedTask(client, 'batch/prod/oom');
  assert.equal(oom.state, 'TASK_FAILED');
  assert.equal(oom.reason, 'REASON_CONTAINER_LIMITATION_MEMORY', oom.message);
});

test('kill -9 of the agent: running containers are reattached with their logs whole, one that ended meanwhile is reported with its exit code, a container no task owns is removed', async (t) => {
  const d = daemon(t);
  if (d === undefined) return;
  // A long agent timeout: the agent's absence must not have the master replace the instance.
  const { c, client, agent } = await dockerCell(t, d, [], [], 60);
  await create(client, dockerJob('web/prod/counter', 'i=0; while true; do i=$((i+1)); echo line $i; sleep 0.1; done'));
  await create(client, { ...dockerJob('batch/prod/later', 'sleep 2; exit 7'), kind: 'batch', maxTaskFailures: 0 });
  const before = taskOf(await waitRunning(client, 'web/prod/counter'), 0);
  await waitRunning(client, 'batch/prod/later');

  await agent.kill('SIGKILL');
  // A container labelled as this agent's that no checkpoint knows: a leftover the agent must remove.
  const ghost = await d.docker.createContainer({ Image: TEST_IMAGE, Cmd: ['sleep', '600'], Labels: { 'muster.task': 'ghost', 'muster.workdir': agent.workDir }, HostConfig: { NetworkMode: 'none' } });
  await ghost.start();
  await sleep(3500);
  await agent.start();

  const later = await endedTask(client, 'batch/prod/later');
  assert.equal(later.state, 'TASK_FAILED');
  assert.match(later.message ?? '', /exited with status 7/, 'the exit code of a container that ended while no agent watched');
  const job = await waitRunning(client, 'web/prod/counter');
  assert.equal(taskOf(job, 0).taskId, before.taskId, 'the same task runs on: reattached, not replaced');
  await waitFor(() => containersOf(d, 'muster.task=ghost'), { what: 'the ownerless container to be removed', until: (l) => l.length === 0 });

  // Its output while no agent read it is in the sandbox, once, in order.
  await sleep(1000);
  const lines = (await stdoutOf(client, before.taskId)).trim().split('\n').map((l) => Number(l.replace('line ', '')));
  assert.ok(lines.length >= 40, `at least 4 s of output: ${lines.length} lines`);
  lines.forEach((n, i) => assert.equal(n, i + 1, `line ${i + 1} is "line ${i + 1}", once (got ${n})`));
  void c;
});

test('a daemon that stops answering: docker down, no docker task placed, running ones kept; back: placed; a daemon restart reports the tasks it ended', async (t) => {
  const d = daemon(t);
  if (d === undefined) return;
  const { client } = await dockerCell(t, d, [], [], 30);
  await create(client, dockerJob('web/prod/steady', 'exec sleep 3600', {}, { killGraceSecs: 1 }));
  const steady = taskOf(await waitRunning(client, 'web/prod/steady'), 0);

  d.pause();
  try {
    await waitFor(() => client.cell(), { what: 'the agent to advertise docker down', until: (cv) => cv.agents[0]?.attributes['docker'] === 'down', timeoutMs: 30_000 });
    await create(client, dockerJob('web/prod/waiting', 'exec sleep 3600'));
    const pending = await waitFor(() => client.getJob('web/prod/waiting'), {
      what: 'the new docker job to wait, saying why',
      until: (j) => /docker/.test(j.instances[0]?.pendingReason ?? ''),
    });
    assert.equal(pending.instances[0]?.state, 'PENDING');
    const stillRunning = taskOf(await client.getJob('web/prod/steady'), 0);
    assert.equal(stillRunning.taskId, steady.taskId);
    assert.equal(stillRunning.state, 'TASK_RUNNING', 'a task is not given up for its daemon not answering');
  } finally {
    d.resume();
  }
  await waitRunning(client, 'web/prod/waiting', { what: 'the waiting job to be placed once the daemon answers', timeoutMs: 60_000 });

  // A graceful daemon stop ends its containers; when it returns, the agent reports how they ended
  // and the service is placed again.
  await d.stop();
  await d.start();
  const ended = await waitFor(() => tasksOf(client, 'web/prod/steady'), {
    what: 'the task the daemon stopped to be reported',
    until: (ts) => ts.some((x) => x.taskId === steady.taskId && x.state !== 'TASK_RUNNING'),
    timeoutMs: 60_000,
  });
  const report = ended.find((x) => x.taskId === steady.taskId);
  assert.ok(report !== undefined && ['TASK_FAILED', 'TASK_KILLED', 'TASK_FINISHED'].includes(report.state), `reported with how it ended: ${JSON.stringify(report)}`);
  const again = await waitRunning(client, 'web/prod/steady', { what: 'the service to run again', until: (j) => taskOf(j, 0).taskId !== steady.taskId, timeoutMs: 60_000 });
  assert.notEqual(taskOf(again, 0).taskId, steady.taskId);
});

test('an update from one image tag to another rolls forward; one to an image that cannot be had rolls back', async (t) => {
  const d = daemon(t);
  if (d === undefined) return;
  const { client } = await dockerCell(t, d);
  const key = 'web/prod/tagged';
  const config = (image: string, pull = 'missing'): Record<string, unknown> =>
    dockerJob(key, 'exec sleep 3600', { image, pull }, { instances: 2, killGraceSecs: 1, update: { batchSize: 1, watchSecs: 1, progressDeadlineSecs: 30 } });
  await create(client, config(TEST_IMAGE));
  await waitRunning(client, key);
  const path = `/api/v1/jobs/${key}/update`;
  const ended = async (): Promise<UpdateView> =>
    waitFor(() => client.request<UpdateView>('GET', path), { what: 'the update to end', until: (u) => ['ROLLED_FORWARD', 'ROLLED_BACK', 'ABORTED', 'FAILED'].includes(u.status), timeoutMs: 90_000 });

  await client.request('POST', path, config(TEST_IMAGE_2));
  assert.equal((await ended()).status, 'ROLLED_FORWARD');
  const images = async (): Promise<string[]> => (await containersOf(d, `muster.job=${key}`)).filter((x) => x.State === 'running').map((x) => x.Image).sort();
  assert.deepEqual(await images(), [TEST_IMAGE_2, TEST_IMAGE_2]);

  await client.request('POST', path, config('muster-test/busybox:3', 'never'));
  const back = await ended();
  assert.equal(back.status, 'ROLLED_BACK', JSON.stringify(back.events));
  await waitRunning(client, key);
  assert.deepEqual(await images(), [TEST_IMAGE_2, TEST_IMAGE_2], 'rolled back to the tag before');
});

test('bad docker configs are refused naming the field; volumes only from allowed dirs, checked by the master and again by the agent; no bridge, no bridge job', async (t) => {
  const d = daemon(t);
  if (d === undefined) return;
  const c = cell(t);
  const allowed = join(c.dir, 'shared');
  const agentOnly = join(c.dir, 'elsewhere');
  mkdirSync(allowed, { recursive: true });
  mkdirSync(agentOnly, { recursive: true });
  writeFileSync(join(allowed, 'greeting'), 'from the host\n');
  const master = await c.startMaster({ args: ['--docker-volumes', `${allowed},${agentOnly}`] });
  await c.startAgent(master, { args: dockerArgs(d, ['--docker-volumes', allowed]) });
  await c.waitForAgents(1, master);
  const client = c.client(master);

  const refused = async (config: Record<string, unknown>, field: RegExp, message: RegExp): Promise<void> => {
    const err = await client.createJob(yamlOf(config), YAML).then(
      () => undefined,
      (e: unknown) => e as { status?: number; code?: string; message: string; details?: { field?: string } },
    );
    assert.ok(err !== undefined, `refused: ${JSON.stringify(config)}`);
    assert.equal(err.status, 400, err.message);
    assert.match(err.details?.field ?? '', field, err.message);
    assert.match(err.message, message);
  };
  await refused(dockerJob('web/prod/bad1', 'true', { image: 'Not A Valid:ref' }), /container\.docker\.image/, /not an image reference/);
  await refused(dockerJob('web/prod/bad2', 'true', { parameters: [{ key: 'privileged', value: 'true' }] }), /container\.docker\.parameters\[0\]\.key/, /not an allowed docker parameter/);
  await refused(dockerJob('web/prod/bad3', 'true', { volumes: [{ hostPath: '/etc', containerPath: '/data' }] }), /container\.docker\.volumes\[0\]\.hostPath/, /outside the directories/);
  await refused(dockerJob('web/prod/bad4', 'true', { network: 'bridge' }), /./, /docker\.bridge/);

  // An allowed volume is mounted; one the master allows and the agent does not is refused there.
  await create(client, { ...dockerJob('web/prod/vol', 'cat /data/greeting; exec sleep 3600', { volumes: [{ hostPath: allowed, containerPath: '/data', readOnly: true }] }) });
  const vol = taskOf(await waitRunning(client, 'web/prod/vol'), 0);
  await waitFor(() => stdoutOf(client, vol.taskId), { what: 'the volume\'s file in the output', until: (s) => s === 'from the host\n' });
  await create(client, { ...dockerJob('web/prod/vol2', 'true', { volumes: [{ hostPath: agentOnly, containerPath: '/data' }] }), kind: 'batch', maxTaskFailures: 0 });
  const vol2 = await endedTask(client, 'web/prod/vol2');
  assert.equal(vol2.state, 'TASK_ERROR');
  assert.match(vol2.message ?? '', /outside the directories this agent lets tasks mount/);
});

test('an image from a registry is pulled at launch, the task saying so while it pulls; pull: always pulls a tag again', async (t) => {
  const d = daemon(t);
  if (d === undefined) return;
  if (!requireOrSkip(t, hasBinary('docker-registry'), 'needs docker-registry on PATH (apt-get install docker-registry)')) return;
  const registry = await startRegistry(await freePort());
  t.after(() => registry.stop());
  const image = `${registry.address}/team/app:1`;
  await pushImage(d, image, 8 * 1024 * 1024);
  await assert.rejects(d.docker.getImage(image).inspect(), 'the daemon no longer has the image: a launch must pull it');

  const { client } = await dockerCell(t, d);
  const statuses: { taskId?: string; state?: string; message?: string }[] = [];
  const stop = new AbortController();
  const events = client
    .events((e) => {
      if (e.type === 'TaskStatusUpdated') statuses.push(e['status'] as { taskId?: string; state?: string; message?: string });
    }, stop.signal)
    .catch(() => undefined);
  t.after(() => stop.abort());
  await create(client, { ...dockerJob('batch/prod/pulled', 'wc -c < /payload', { image }), kind: 'batch', maxTaskFailures: 0 });
  const done = await endedTask(client, 'batch/prod/pulled');
  assert.equal(done.state, 'TASK_FINISHED', done.message);
  assert.equal((await stdoutOf(client, done.taskId)).trim(), String(8 * 1024 * 1024), 'the pulled image\'s own file');
  const pulling = (taskId: string) => (list: typeof statuses) => list.some((st) => st.taskId === taskId && st.state === 'TASK_STARTING' && (st.message ?? '').startsWith(`Pulling image ${image}`));
  await waitFor(() => statuses, { what: 'a TASK_STARTING update that says the image is being pulled', until: pulling(done.taskId) });

  // The daemon has the image now: missing would not pull again, always does.
  await create(client, { ...dockerJob('batch/prod/always', 'true', { image, pull: 'always' }), kind: 'batch', maxTaskFailures: 0 });
  const again = await endedTask(client, 'batch/prod/always');
  assert.equal(again.state, 'TASK_FINISHED', again.message);
  await waitFor(() => statuses, { what: 'pull: always to pull the present image again', until: pulling(again.taskId) });
  stop.abort();
  await events;
});
