// Integration tests of the whole agent against a fake master: a tiny HTTP server that answers
// SUBSCRIBE with a RecordIO stream, records UPDATE and HEARTBEAT calls and lets a test push events.
// The tasks are real processes in temporary work dirs.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { TaskState } from '../core/index.js';
import { silentLogger } from '../log/index.js';
import { encodeRecord, type AgentCall, type AgentEvent, type TaskInfo, type TaskStatus } from '../protocol/index.js';
import { taskInfo as fixtureTaskInfo } from '../../test/fixtures.js';
import { isAlive } from '../../test/proc.js';
import { removeCgroups } from '../../test/cgroups.js';
import { startAgent, type AgentHandle } from './index.js';

type SubscribeCall = Extract<AgentCall, { type: 'SUBSCRIBE' }>['subscribe'];

/** FakeMaster plays the master's side of the agent link, and nothing else. */
class FakeMaster {
  readonly subscribes: SubscribeCall[] = [];
  readonly updates: TaskStatus[] = [];
  heartbeats = 0;
  /** Acknowledge every update as soon as it arrives. */
  autoAck = true;
  /** Send HEARTBEAT events on the stream (switch off to test the agent's watchdog). */
  sendHeartbeats = true;
  heartbeatIntervalSecs = 0.2;
  agentId = 'agent-fake-1';
  /** busyPorts of each USAGE report, in order. */
  readonly busyPorts: string[] = [];
  /** How many updates had come when the agent said STOPPING (undefined: it never did). */
  stoppingAt: number | undefined;
  /** When set, answers every call itself (a standby that redirects, a master that forgot us). */
  intercept: ((call: AgentCall, res: http.ServerResponse) => boolean) | undefined;
  private stream: http.ServerResponse | undefined;
  private readonly server: http.Server;
  private timer: NodeJS.Timeout | undefined;
  url = '';

  constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.onCall(JSON.parse(Buffer.concat(chunks).toString('utf8')) as AgentCall, res));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.timer = setInterval(() => {
      if (this.sendHeartbeats) this.send({ type: 'HEARTBEAT' });
    }, this.heartbeatIntervalSecs * 1000);
    return this;
  }

  send(...events: AgentEvent[]): void {
    // One write for all, so that the agent sees them in one chunk (e.g. a LAUNCH and its KILL).
    this.stream?.write(Buffer.concat(events.map((e) => encodeRecord(e))));
  }

  ack(status: TaskStatus): void {
    this.send({ type: 'ACKNOWLEDGED', acknowledged: { taskId: status.taskId, uuid: status.uuid } });
  }

  launch(task: TaskInfo): void {
    this.send({ type: 'LAUNCH', launch: { task } });
  }

  /** dropStream ends the current stream, as a master restart would. */
  dropStream(): void {
    this.stream?.destroy();
    this.stream = undefined;
  }

  states(taskId: string): TaskState[] {
    const out: TaskState[] = [];
    for (const u of this.updates) {
      // Retries repeat a uuid: count each update once.
      if (u.taskId === taskId && !this.updates.slice(0, this.updates.indexOf(u)).some((v) => v.uuid === u.uuid)) out.push(u.state);
    }
    return out;
  }

  async waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  waitForState(taskId: string, state: TaskState, timeoutMs = 5000): Promise<TaskStatus> {
    return this.waitFor(`${taskId} ${state}`, () => this.updates.find((u) => u.taskId === taskId && u.state === state), timeoutMs);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.dropStream();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private onCall(call: AgentCall, res: http.ServerResponse): void {
    if (this.intercept?.(call, res) === true) return;
    switch (call.type) {
      case 'SUBSCRIBE':
        this.subscribes.push(call.subscribe);
        this.stream?.destroy();
        this.stream = res;
        res.writeHead(200, { 'content-type': 'application/recordio' });
        this.send({
          type: 'SUBSCRIBED',
          subscribed: { agentId: this.agentId, heartbeatIntervalSecs: this.heartbeatIntervalSecs, masterId: 'fake' },
        });
        return;
      case 'UPDATE':
        this.updates.push(call.update.status);
        res.writeHead(202).end();
        if (this.autoAck) this.ack(call.update.status);
        return;
      case 'HEARTBEAT':
        this.heartbeats++;
        res.writeHead(202).end();
        return;
      case 'USAGE':
        if (call.usage.busyPorts !== undefined) this.busyPorts.push(call.usage.busyPorts);
        res.writeHead(202).end();
        return;
      case 'STOPPING':
        this.stoppingAt = this.updates.length;
        res.writeHead(202).end();
        return;
    }
  }
}

function taskInfo(taskId: string, cmd: string, overrides: Partial<TaskInfo> = {}): TaskInfo {
  return fixtureTaskInfo({ taskId, processes: [{ name: 'main', cmd }], ...overrides });
}

/** getJson GETs a URL of the agent, with its API token when given one (as the master does). */
async function getJson(url: string, apiToken?: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { headers: apiToken === undefined ? {} : { authorization: `Bearer ${apiToken}` } });
  return { status: res.status, body: (await res.json()) };
}

describe('agent', () => {
  let master: FakeMaster;
  let workDir: string;
  let agents: AgentHandle[];

  // As root the agent isolates its tasks: keep its cgroups under a root of this test's own, and let
  // tasks run as root so that they may write next to the work dir, as these tests have them do.
  const cgroupRoot = `muster-test/agent-unit-${process.pid}`;
  const start = (overrides: Partial<Parameters<typeof startAgent>[0]> = {}): Promise<AgentHandle> =>
    startAgent({
      masters: [master.url],
      workDir,
      port: 0,
      host: '127.0.0.1',
      logger: silentLogger,
      cgroupRoot,
      taskUser: 'root',
      allowRootTasks: true,
      ...overrides,
    }).then((a) => {
      agents.push(a);
      return a;
    });

  beforeEach(async () => {
    master = await new FakeMaster().start();
    workDir = mkdtempSync(path.join(os.tmpdir(), 'muster-agent-'));
    agents = [];
  });

  afterEach(async () => {
    for (const a of agents) await a.close({ killTasks: true });
    await removeCgroups(cgroupRoot);
    await master.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  test('it subscribes with its info, persists the id the master gives it and sends it again after a restart', async () => {
    const agent = await start({ hostname: 'm1', attributes: 'rack:r1', resources: 'cpus:3;mem:2048;disk:4096;gpus:0' });
    const sub = await master.waitFor('a SUBSCRIBE', () => master.subscribes[0]);
    assert.equal(sub.agent.agentId, undefined);
    assert.equal(sub.agent.hostname, 'm1');
    assert.equal(sub.agent.address, '127.0.0.1');
    assert.equal(sub.agent.port, agent.port);
    assert.deepEqual(sub.agent.resources, { cpus: 3, mem: 2048, disk: 4096, gpus: 0, ports: '[31000-32000]' });
    assert.deepEqual(sub.agent.attributes, { host: 'm1', os: 'linux', arch: process.arch, rack: 'r1' });
    assert.deepEqual(sub.tasks, []);
    // Its API token, which the master needs for /exec and /files/*, kept in its work dir for it alone.
    assert.match(sub.agent.apiToken ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal(readFileSync(path.join(workDir, 'api-token'), 'utf8').trim(), sub.agent.apiToken);
    assert.equal(statSync(path.join(workDir, 'api-token')).mode & 0o777, 0o600);
    await master.waitFor('the agent id', () => agent.agentId() === 'agent-fake-1');
    assert.deepEqual(JSON.parse(readFileSync(path.join(workDir, 'agent.json'), 'utf8')), { agentId: 'agent-fake-1' });

    await agent.close();
    await start();
    const again = await master.waitFor('a second SUBSCRIBE', () => master.subscribes[1]);
    assert.equal(again.agent.agentId, 'agent-fake-1');
    assert.equal(again.agent.apiToken, sub.agent.apiToken, 'a restarted agent keeps its token');
  });

  test('it sends heartbeat calls at the interval the master asked for', async () => {
    await start();
    await master.waitFor('3 heartbeats', () => master.heartbeats >= 3, 3000);
  });

  test('a launched task goes STARTING, RUNNING, FINISHED; its output is served and its checkpoint removed once acked', async () => {
    const agent = await start();
    await master.waitFor('SUBSCRIBE', () => master.subscribes[0]);
    master.launch(taskInfo('t-finish', 'echo "hello $MUSTER_TASK_ID on $PORT_HTTP"'));
    await master.waitForState('t-finish', 'TASK_FINISHED');
    assert.deepEqual(master.states('t-finish'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    await master.waitFor('the checkpoint to go', () => !existsSync(path.join(workDir, 'tasks', 't-finish.json')));

    const token = master.subscribes[0]?.agent.apiToken;
    assert.equal((await getJson(`${agent.url}/files/read?task=t-finish&path=stdout`)).status, 401, 'not without the token');
    const { status, body } = await getJson(`${agent.url}/files/read?task=t-finish&path=stdout`, token);
    assert.equal(status, 200);
    assert.deepEqual(body, { path: 'stdout', offset: 0, size: 24, data: 'hello t-finish on 31000\n', eof: true });
  });

  test('a failing command ends TASK_FAILED with its exit status', async () => {
    await start();
    await master.waitFor('SUBSCRIBE', () => master.subscribes[0]);
    master.launch(taskInfo('t-fail', 'exit 3'));
    const failed = await master.waitForState('t-fail', 'TASK_FAILED');
    assert.equal(failed.reason, 'REASON_COMMAND_EXITED');
    assert.equal(failed.message, 'Command exited with status 3');
  });

  test('a KILL stops a running task: TASK_KILLING, then TASK_KILLED with the reason of the KILL', async () => {
    const agent = await start();
    await master.waitFor('SUBSCRIBE', () => master.subscribes[0]);
    master.launch(taskInfo('t-kill', 'sleep 30'));
    await master.waitForState('t-kill', 'TASK_RUNNING');
    const state = await getJson(`${agent.url}/state`);
    const row = (state.body as { tasks: { taskId: string; pid?: number }[] }).tasks.find((t) => t.taskId === 't-kill');
    assert.ok(row?.pid !== undefined && isAlive(row.pid));

    master.send({ type: 'KILL', kill: { taskId: 't-kill', gracePeriodSecs: 5, reason: 'REASON_KILLED_BY_USER' } });
    const killed = await master.waitForState('t-kill', 'TASK_KILLED');
    assert.equal(killed.reason, 'REASON_KILLED_BY_USER');
    assert.match(killed.message ?? '', /Killed after request of the master/);
    assert.deepEqual(master.states('t-kill'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED']);
    assert.equal(isAlive(row.pid), false);
  });

  test('a KILL that arrives during the launch ends TASK_KILLED with REASON_TASK_KILLED_DURING_LAUNCH', async () => {
    await start();
    await master.waitFor('SUBSCRIBE', () => master.subscribes[0]);
    master.send(
      { type: 'LAUNCH', launch: { task: taskInfo('t-early', 'sleep 30') } },
      { type: 'KILL', kill: { taskId: 't-early', gracePeriodSecs: 1 } },
    );
    const killed = await master.waitForState('t-early', 'TASK_KILLED');
    assert.equal(killed.reason, 'REASON_TASK_KILLED_DURING_LAUNCH');
    assert.equal(master.states('t-early').includes('TASK_RUNNING'), false);
  });

  test('a KILL for a task the agent does not know answers TASK_LOST, REASON_TASK_UNKNOWN', async () => {
    await start();
    await master.waitFor('SUBSCRIBE', () => master.subscribes[0]);
    master.send({ type: 'KILL', kill: { taskId: 'nobody', gracePeriodSecs: 1 } });
    const lost = await master.waitForState('nobody', 'TASK_LOST');
    assert.equal(lost.reason, 'REASON_TASK_UNKNOWN');
    assert.equal(lost.message, 'the agent does not know this task');
  });

  test('a task whose port is outside the agent\'s ranges, or held by another task, is refused with TASK_ERROR', async () => {
    await start({ resources: 'cpus:2;mem:1024;ports:[31000-31009]' });
    await master.waitFor('SUBSCRIBE', () => master.subscribes[0]);
    master.launch(taskInfo('t-holder', 'sleep 30', { ports: { http: 31000 } }));
    await master.waitForState('t-holder', 'TASK_RUNNING');
    master.launch(taskInfo('t-clash', 'sleep 30', { ports: { http: 31000 } }));
    master.launch(taskInfo('t-outside', 'sleep 30', { ports: { http: 40000 } }));
    const clash = await master.waitForState('t-clash', 'TASK_ERROR');
    assert.equal(clash.reason, 'REASON_INVALID_TASK');
    assert.equal(clash.message, 'port http=31000 is held by task t-holder');
    assert.equal((await master.waitForState('t-outside', 'TASK_ERROR')).message, "port http=40000 is not in this agent's port ranges");
    assert.deepEqual(master.states('t-holder'), ['TASK_STARTING', 'TASK_RUNNING'], 'the holder was left alone');
  });

  test('an invalid LAUNCH is refused with TASK_ERROR and a duplicate LAUNCH is ignored', async () => {
    await start();
    await master.waitFor('SUBSCRIBE', () => master.subscribes[0]);
    master.launch(taskInfo('../escape', 'true'));
    master.launch({ ...taskInfo('t-bad', 'true'), processes: [] });
    const escape = await master.waitForState('../escape', 'TASK_ERROR');
    assert.equal(escape.reason, 'REASON_INVALID_TASK');
    assert.match((await master.waitForState('t-bad', 'TASK_ERROR')).message ?? '', /processes/);
    assert.equal(existsSync(path.join(workDir, 'escape')), false);

    master.launch(taskInfo('t-dup', 'sleep 0.3; echo ran >> ../../runs'));
    master.launch(taskInfo('t-dup', 'sleep 0.3; echo ran >> ../../runs'));
    await master.waitForState('t-dup', 'TASK_FINISHED');
    assert.deepEqual(master.states('t-dup'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    assert.equal(readFileSync(path.join(workDir, 'runs'), 'utf8'), 'ran\n');
  });

  test('an update is resent until acknowledged, and the next one of its task waits for that', async () => {
    master.autoAck = false;
    await start();
    await master.waitFor('SUBSCRIBE', () => master.subscribes[0]);
    master.launch(taskInfo('t-retry', 'true'));
    // The first retry comes 1 s after the first send.
    await master.waitFor('a resend', () => master.updates.filter((u) => u.taskId === 't-retry').length >= 2, 3000);
    assert.deepEqual(master.states('t-retry'), ['TASK_STARTING']);
    const starting = master.updates[0] as TaskStatus;
    master.ack(starting);
    const running = await master.waitForState('t-retry', 'TASK_RUNNING');
    master.ack(running);
    master.ack(await master.waitForState('t-retry', 'TASK_FINISHED'));
    await master.waitFor('the checkpoint to go', () => !existsSync(path.join(workDir, 'tasks', 't-retry.json')));
  });

  test('after the stream drops it subscribes again, reports its tasks, and resends unacknowledged updates at once', async () => {
    master.autoAck = false;
    await start();
    await master.waitFor('SUBSCRIBE', () => master.subscribes[0]);
    master.launch(taskInfo('t-resub', 'sleep 30'));
    await master.waitForState('t-resub', 'TASK_STARTING');
    const sentBefore = master.updates.length;
    master.dropStream();
    const sub = await master.waitFor('a second SUBSCRIBE', () => master.subscribes[1], 3000);
    assert.equal(sub.agent.agentId, 'agent-fake-1');
    assert.deepEqual(sub.tasks, [{ taskId: 't-resub', state: 'TASK_RUNNING' }]);
    await master.waitFor('the resend', () => master.updates.length > sentBefore, 500);
  });

  test('a stream silent for 3 heartbeat intervals is dropped and the agent subscribes again', async () => {
    master.sendHeartbeats = false;
    master.heartbeatIntervalSecs = 0.1;
    await start();
    await master.waitFor('a second SUBSCRIBE', () => master.subscribes.length >= 2, 3000);
  });

  test('a 404 AGENT_NOT_FOUND answer to a heartbeat makes the agent subscribe again', async () => {
    await start();
    await master.waitFor('SUBSCRIBE', () => master.subscribes[0]);
    let refused = false;
    master.intercept = (call, res) => {
      if (call.type !== 'HEARTBEAT' || refused) return false;
      refused = true;
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'AGENT_NOT_FOUND', message: 'no such agent' } }));
      return true;
    };
    await master.waitFor('a second SUBSCRIBE', () => master.subscribes.length >= 2, 3000);
  });

  test('it follows a 307 from a standby to the leader, and tries the next master when one is down', async () => {
    const standby = await new FakeMaster().start();
    standby.intercept = (_call, res) => {
      res.writeHead(307, { location: `//${new URL(master.url).host}/master/redirect` }).end();
      return true;
    };
    try {
      await start({ masters: ['http://127.0.0.1:1', standby.url] });
      await master.waitFor('a SUBSCRIBE at the leader', () => master.subscribes[0], 5000);
      await master.waitFor('heartbeats at the leader', () => master.heartbeats > 0, 3000);
    } finally {
      await standby.close();
    }
  });

  test('SHUTDOWN kills every task and stops the agent', async () => {
    const agent = await start();
    await master.waitFor('SUBSCRIBE', () => master.subscribes[0]);
    master.launch(taskInfo('t-shut', 'sleep 30'));
    await master.waitForState('t-shut', 'TASK_RUNNING');
    master.send({ type: 'SHUTDOWN', shutdown: { message: 'replaced' } });
    const killed = await master.waitForState('t-shut', 'TASK_KILLED');
    assert.equal(killed.reason, 'REASON_AGENT_SHUTDOWN');
    const deadline = Date.now() + 5000;
    for (;;) {
      const stopped = await fetch(`${agent.url}/health`).then(
        () => false,
        () => true,
      );
      if (stopped) break;
      assert.ok(Date.now() < deadline, 'the agent still serves after SHUTDOWN');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  test('close({killTasks}) says STOPPING first, kills every task gracefully, waits for its update, and leaves no process', async () => {
    const agent = await start();
    await master.waitFor('SUBSCRIBE', () => master.subscribes[0]);
    master.launch(taskInfo('t-close', "trap 'exit 0' TERM; sleep 30 & wait"));
    await master.waitForState('t-close', 'TASK_RUNNING');
    const pid = ((await getJson(`${agent.url}/state`)).body as { tasks: { pid: number }[] }).tasks[0]?.pid as number;
    const before = master.updates.length;
    await agent.close({ killTasks: true });
    assert.equal(master.stoppingAt, before, 'the master heard STOPPING before any update of the kill');
    assert.equal(master.states('t-close').at(-1), 'TASK_KILLED');
    assert.equal(isAlive(pid), false);
    await assert.rejects(fetch(`${agent.url}/health`));
  });

  test('a restarted agent reattaches to what its predecessor left running and reports it', async () => {
    const first = await start();
    await master.waitFor('SUBSCRIBE', () => master.subscribes[0]);
    master.launch(taskInfo('t-orphan', 'sleep 30'));
    await master.waitForState('t-orphan', 'TASK_RUNNING');
    const pid = ((await getJson(`${first.url}/state`)).body as { tasks: { pid: number }[] }).tasks[0]?.pid as number;
    await first.close(); // without killTasks: the task runs on
    assert.equal(isAlive(pid), true);

    const second = await start();
    const sub = await master.waitFor('a second SUBSCRIBE', () => master.subscribes[1]);
    assert.deepEqual(sub.tasks, [{ taskId: 't-orphan', state: 'TASK_RUNNING' }]);
    assert.equal(isAlive(pid), true, 'the task kept running across the restart');
    assert.deepEqual(((await getJson(`${second.url}/state`)).body as { tasks: { pid: number }[] }).tasks[0]?.pid, pid);
    // The reattached task is the agent's again: a KILL ends it and its checkpoint goes once acknowledged.
    master.send({ type: 'KILL', kill: { taskId: 't-orphan', gracePeriodSecs: 1 } });
    await master.waitForState('t-orphan', 'TASK_KILLED');
    await master.waitFor('the task to die', () => !isAlive(pid));
    await master.waitFor('the checkpoint to go', () => !existsSync(path.join(workDir, 'tasks', 't-orphan')));
    assert.equal(existsSync(path.join(workDir, 'sandboxes', 't-orphan', 'stdout')), true);
  });

  test('/health, /state and /metrics describe the agent, and errors have the API shape', async () => {
    const agent = await start();
    await master.waitFor('the agent id', () => agent.agentId());
    assert.deepEqual(await getJson(`${agent.url}/health`), { status: 200, body: { ok: true, agentId: 'agent-fake-1' } });
    assert.deepEqual(await getJson(`${agent.url}/state`), { status: 200, body: { agentId: 'agent-fake-1', tasks: [] } });
    const metrics = await (await fetch(`${agent.url}/metrics`)).text();
    assert.match(metrics, /^muster_agent_tasks\{state="TASK_RUNNING"\} 0$/m);
    assert.match(metrics, /^muster_agent_subscribed 1$/m);
    assert.match(metrics, /^muster_agent_uptime_seconds \d+$/m);
    assert.match(metrics, /^muster_agent_isolation\{mode="(cgroups-v1|cgroups-v2|none)"\} 1$/m);
    const token = master.subscribes[0]?.agent.apiToken;
    const missing = await getJson(`${agent.url}/files/read?task=nope&path=stdout`, token);
    assert.equal(missing.status, 404);
    assert.equal((missing.body as { error: { code: string } }).error.code, 'TASK_NOT_FOUND');
    const escape = await getJson(`${agent.url}/files/read?task=nope/../..&path=stdout`, token);
    assert.equal(escape.status, 400);
  });

  test('nothing keeps the process alive after close(): an agent process exits by itself', async () => {
    // Import whichever form this test is: compiled (npm test runs dist/) or TypeScript under tsx.
    const ext = import.meta.url.endsWith('.js') ? 'js' : 'ts';
    const code = `
      const { startAgent } = await import(${JSON.stringify(new URL(`./index.${ext}`, import.meta.url).href)});
      const { silentLogger } = await import(${JSON.stringify(new URL(`../log/index.${ext}`, import.meta.url).href)});
      const agent = await startAgent({ masters: [${JSON.stringify(master.url)}], workDir: ${JSON.stringify(workDir)},
        port: 0, host: '127.0.0.1', logger: silentLogger, cgroupRoot: ${JSON.stringify(cgroupRoot)} });
      while (agent.agentId() === undefined) await new Promise((r) => setTimeout(r, 20));
      await agent.close({ killTasks: true });`;
    const child = spawn(process.execPath, [...(ext === 'ts' ? ['--import', 'tsx'] : []), '--input-type=module', '-e', code], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const [exitCode, signal] = (await once(child, 'exit')) as [number | null, string | null];
    clearTimeout(timer);
    assert.equal(signal, null, 'the agent process had to be killed: something kept it alive after close()');
    assert.equal(exitCode, 0, stderr);
    assert.equal(master.subscribes.length, 1);
  });

  test('a work dir that cannot be written refuses the start with a clear error', async () => {
    const file = path.join(workDir, 'a-file');
    writeFileSync(file, '');
    await assert.rejects(start({ workDir: path.join(file, 'sub') }), (e: unknown) => {
      return e instanceof Error && (e as { code?: string }).code === 'INVALID_ARGUMENT' && /not a writable directory/.test(e.message);
    });
  });
});
