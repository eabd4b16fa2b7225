// The Mesos v1 scheduler API with real processes: a master, an agent, and schedulers written in
// the test against the raw HTTP API in JSON (test/mesosframework.ts). They subscribe, take offers,
// launch command tasks, hear every status update (and acknowledge it), decline, suppress and
// revive, kill and reconcile, and lose their connection: a framework's tasks outlive it until its
// failover timeout, and one that comes back within it gets them back.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cell, cli, settle, waitFor } from './harness.js';
import { launch, OperatorStream, post, RawScheduler, type Status } from './mesosframework.js';

const INFO = { user: 'root', name: 'raw-json-scheduler', roles: ['test'], capabilities: [{ type: 'MULTI_ROLE' }] };

test('a scheduler written against the raw JSON API runs a task to TASK_FINISHED, acknowledging each update', async (t) => {
  const c = cell(t);
  const { master } = await c.startCell(1);
  const s = new RawScheduler(master.url);
  t.after(() => s.disconnect());
  const subscribed = await s.subscribe({ ...INFO, failover_timeout: 60 });
  assert.equal(subscribed.type, 'SUBSCRIBED');
  assert.match(s.frameworkId, /^[0-9a-f-]{36}$/);
  assert.match(s.streamId, /^[0-9a-f-]{36}$/);
  const info = (subscribed['subscribed'] as { heartbeat_interval_seconds: number; master_info?: { port: number } });
  assert.equal(info.heartbeat_interval_seconds, 15);
  assert.equal(info.master_info?.port, master.port);

  // Operators see it beside the built-in framework.
  const listed = await cli(['framework', 'list'], { cwd: c.dir, env: { MUSTER_MASTER: master.url } });
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /^muster +muster +built-in/m);
  assert.match(listed.stdout, new RegExp(`^${s.frameworkId} +raw-json-scheduler +yes +test `, 'm'));
  const status = await cli(['cell', 'status'], { cwd: c.dir, env: { MUSTER_MASTER: master.url } });
  assert.match(status.stdout, new RegExp(`frameworks +muster \\(built-in\\), raw-json-scheduler ${s.frameworkId} \\(connected, 0 tasks\\)`));
  const metrics = await (await fetch(`${master.url}/metrics`)).text();
  assert.match(metrics, /^muster_master_frameworks\{state="connected"\} 1$/m);
  // The web UI's frameworks page reads the same list.
  assert.match(await (await fetch(`${master.url}/api/v1/frameworks`)).text(), /raw-json-scheduler/);

  // A dashboard following the operator API's event stream sees the framework and, below, its task.
  const operator = await OperatorStream.open(master.url);
  t.after(() => operator.close());
  const subscribedOp = await operator.next((e) => e.type === 'SUBSCRIBED', 'SUBSCRIBED');
  const known = ((subscribedOp['subscribed'] as { get_state: { get_frameworks: { frameworks: { framework_info: { id: { value: string } } }[] } } }).get_state.get_frameworks.frameworks).map((f) => f.framework_info.id.value);
  assert.ok(known.includes(s.frameworkId), `the framework is in the stream's first state: ${known.join(', ')}`);

  const offer = await s.nextOffer();
  assert.equal(offer.allocation_info?.role, 'test');
  const cpus = offer.resources.find((r) => r.name === 'cpus')?.scalar?.value ?? 0;
  assert.ok(cpus > 0, JSON.stringify(offer.resources));
  const accepted = await s.call('ACCEPT', launch(offer, 'hello-1', 'echo hello from a framework; sleep 1'));
  assert.equal(accepted.status, 202, accepted.body);
  const running = await s.waitStatus('hello-1', 'TASK_RUNNING');
  assert.equal(running.agent_id?.value, offer.agent_id.value);
  assert.ok(running.uuid !== undefined, 'an agent update carries a uuid to acknowledge');
  // task list shows whose task it is, under the framework's own id for it; --framework picks them.
  const tasks = await cli(['task', 'list', '--all', '--framework', s.frameworkId], { cwd: c.dir, env: { MUSTER_MASTER: master.url } });
  assert.equal(tasks.code, 0, tasks.stderr);
  assert.match(tasks.stdout, /^TASK +FRAMEWORK +INSTANCE +STATE/m);
  assert.match(tasks.stdout, new RegExp(`^hello-1\\.\\S+ +${s.frameworkId} +hello-1 +TASK_`, 'm'));
  const builtInOnly = await cli(['task', 'list', '--all', '--framework', 'muster', '--json'], { cwd: c.dir, env: { MUSTER_MASTER: master.url } });
  assert.deepEqual((JSON.parse(builtInOnly.stdout) as { tasks: unknown[] }).tasks, [], 'the built-in framework has no task here');
  const unknown = await cli(['task', 'list', '--framework', 'nope'], { cwd: c.dir, env: { MUSTER_MASTER: master.url } });
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /no framework "nope"/);
  const finished = await s.waitStatus('hello-1', 'TASK_FINISHED');
  assert.equal(finished.source, 'SOURCE_EXECUTOR');
  const added = await operator.next((e) => e.type === 'TASK_ADDED', 'TASK_ADDED');
  const task = (added['task_added'] as { task: { task_id: { value: string }; framework_id: { value: string } } }).task;
  assert.deepEqual([task.task_id.value, task.framework_id.value], ['hello-1', s.frameworkId]);
  await operator.next((e) => e.type === 'TASK_UPDATED' && (e['task_updated'] as { state: string }).state === 'TASK_FINISHED', 'TASK_UPDATED to TASK_FINISHED');

  // The master shows the task as the framework's while it runs and forgets it once acknowledged:
  // reconciling it then answers TASK_LOST, as Mesos does for a task it does not know.
  await waitFor(async () => (await fetch(`${master.url}/api/v1/frameworks`)).json() as Promise<{ frameworks: { frameworkId: string; tasks: number }[] }>, {
    what: 'the framework listed with no task left once the end is acknowledged',
    until: (v) => v.frameworks.some((f) => f.frameworkId === s.frameworkId && f.tasks === 0),
  });
  const from = s.events.length;
  assert.equal((await s.call('RECONCILE', { reconcile: { tasks: [{ task_id: { value: 'hello-1' } }] } })).status, 202);
  const lost = await s.next((e) => e.type === 'UPDATE', 'the reconciliation answer', { from });
  assert.equal((lost['update'] as { status: Status }).status.state, 'TASK_LOST');
  assert.equal((lost['update'] as { status: Status }).status.uuid, undefined, 'a reconciliation answer is not acknowledged');

  assert.equal((await s.call('TEARDOWN')).status, 202);
  await waitFor(() => s.closed, { what: 'the stream to end at TEARDOWN' });
  const gone = await cli(['framework', 'list', '--json'], { cwd: c.dir, env: { MUSTER_MASTER: master.url } });
  assert.deepEqual((JSON.parse(gone.stdout) as { frameworks: { frameworkId: string }[] }).frameworks.map((f) => f.frameworkId), ['muster']);
  const builtIn = await cli(['framework', 'teardown', 'muster'], { cwd: c.dir, env: { MUSTER_MASTER: master.url } });
  assert.notEqual(builtIn.code, 0);
  assert.match(builtIn.stderr, /cannot be torn down/);
});

test('bad calls get the status Mesos gives and change nothing; bad offers and tasks are answered per task', async (t) => {
  const c = cell(t);
  const { master } = await c.startCell(1);
  const s = new RawScheduler(master.url);
  t.after(() => s.disconnect());
  await s.subscribe({ ...INFO, failover_timeout: 60 });
  const offer = await s.nextOffer();

  const body = JSON.stringify({ type: 'REVIVE', framework_id: { value: s.frameworkId } });
  assert.equal((await post(master.url, body, { 'Mesos-Stream-Id': s.streamId })).status, 400, 'no Content-Type');
  // JSON sent as protobuf is not a protobuf Call.
  assert.equal((await post(master.url, body, { 'Content-Type': 'application/x-protobuf', 'Mesos-Stream-Id': s.streamId })).status, 400);
  assert.equal((await post(master.url, body, { 'Content-Type': 'text/plain', 'Mesos-Stream-Id': s.streamId })).status, 415);
  assert.equal((await post(master.url, body, { 'Content-Type': 'application/json', Accept: 'text/html', 'Mesos-Stream-Id': s.streamId })).status, 406);
  const noStream = await s.call('REVIVE', {}, { 'Mesos-Stream-Id': undefined });
  assert.equal(noStream.status, 400);
  assert.match(noStream.body, /Mesos-Stream-Id/);
  assert.equal((await s.call('REVIVE', {}, { 'Mesos-Stream-Id': 'not-the-stream' })).status, 400);
  const unknown = await post(master.url, JSON.stringify({ type: 'REVIVE', framework_id: { value: 'no-such-framework' } }), { 'Content-Type': 'application/json', 'Mesos-Stream-Id': s.streamId });
  assert.equal(unknown.status, 400);
  assert.match(unknown.body, /Framework cannot be found/);
  const badField = await s.call('ACCEPT', { accept: { offer_ids: [{ value: 7 }] } });
  assert.equal(badField.status, 400);
  assert.match(badField.body, /accept\.offer_ids\[0\]\.value/);
  const withStream = await post(master.url, JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: INFO } }), { 'Content-Type': 'application/json', 'Mesos-Stream-Id': s.streamId });
  assert.equal(withStream.status, 400);
  assert.equal((await post(master.url, '{not json', { 'Content-Type': 'application/json', 'Mesos-Stream-Id': s.streamId })).status, 400);

  // An offer that is not outstanding: its tasks are dropped, one update each.
  const stale = await s.call('ACCEPT', launch({ ...offer, id: { value: 'no-such-offer' } }, 'stale-1', 'true'));
  assert.equal(stale.status, 202);
  assert.equal((await s.waitStatus('stale-1', 'TASK_DROPPED')).reason, 'REASON_INVALID_OFFERS');
  // More cpus than offered: TASK_ERROR, and the offer is used up (its resources come back in a new one).
  const from = s.events.length;
  assert.equal((await s.call('ACCEPT', launch(offer, 'greedy-1', 'true', 100_000))).status, 202);
  const greedy = await s.waitStatus('greedy-1', 'TASK_ERROR');
  assert.equal(greedy.reason, 'REASON_TASK_INVALID');
  assert.match(greedy.message ?? '', /cpus/);
  // The same offer twice: the second is not outstanding any more.
  assert.equal((await s.call('ACCEPT', launch(offer, 'again-1', 'true'))).status, 202);
  await s.waitStatus('again-1', 'TASK_DROPPED');
  // A task id in use is refused.
  const next = await s.nextOffer(from);
  assert.equal((await s.call('ACCEPT', launch(next, 'long-1', 'sleep 3600'))).status, 202);
  await s.waitStatus('long-1', 'TASK_RUNNING');
  const third = await s.nextOffer(s.events.length);
  assert.equal((await s.call('ACCEPT', launch(third, 'long-1', 'sleep 3600'))).status, 202);
  assert.match((await s.waitStatus('long-1', 'TASK_ERROR')).message ?? '', /already in use/);
});

test('decline filters hold for refuse_seconds, suppress stops offers and revive brings them back', async (t) => {
  const c = cell(t);
  const { master } = await c.startCell(1);
  const s = new RawScheduler(master.url);
  t.after(() => s.disconnect());
  await s.subscribe({ ...INFO, failover_timeout: 60 });
  const offer = await s.nextOffer();

  assert.equal((await s.call('DECLINE', { decline: { offer_ids: [offer.id], filters: { refuse_seconds: 3600 } } })).status, 202);
  let from = s.events.length;
  await settle(3000);
  assert.equal(s.events.slice(from).filter((e) => e.type === 'OFFERS').length, 0, 'no offer of the declined agent within its filter');

  assert.equal((await s.call('REVIVE')).status, 202);
  const revived = await s.nextOffer(from);
  assert.equal(revived.agent_id.value, offer.agent_id.value);

  // A decline with a short filter: the agent comes back once it has passed.
  from = s.events.length;
  assert.equal((await s.call('DECLINE', { decline: { offer_ids: [revived.id], filters: { refuse_seconds: 1 } } })).status, 202);
  const back = await s.nextOffer(from);
  assert.equal(back.agent_id.value, offer.agent_id.value);

  // Suppress: the outstanding offer is rescinded and no other comes until REVIVE.
  from = s.events.length;
  assert.equal((await s.call('SUPPRESS')).status, 202);
  const rescind = await s.next((e) => e.type === 'RESCIND', 'RESCIND of the outstanding offer at SUPPRESS', { from });
  assert.equal((rescind['rescind'] as { offer_id: { value: string } }).offer_id.value, back.id.value);
  const quiet = s.events.length;
  await settle(2500);
  assert.equal(s.events.slice(quiet).filter((e) => e.type === 'OFFERS').length, 0, 'no offers while suppressed');
  assert.equal((await s.call('REVIVE')).status, 202);
  await s.nextOffer(quiet);
});

test('an agent killed while its resources are offered: the offer is rescinded, and once the agent times out the framework hears FAILURE', async (t) => {
  const c = cell(t);
  const { master, agents } = await c.startCell(1, { agentTimeoutSecs: 3 });
  const s = new RawScheduler(master.url);
  t.after(() => s.disconnect());
  await s.subscribe({ ...INFO, failover_timeout: 60 });
  const offer = await s.nextOffer();
  const from = s.events.length;
  await agents[0]?.kill('SIGKILL');
  const rescind = await s.next((e) => e.type === 'RESCIND', 'RESCIND of the dead agent\'s offer', { from });
  assert.equal((rescind['rescind'] as { offer_id: { value: string } }).offer_id.value, offer.id.value);
  const failure = await s.next((e) => e.type === 'FAILURE', 'FAILURE naming the lost agent', { from, timeoutMs: 15_000 });
  assert.deepEqual(failure['failure'], { agent_id: { value: offer.agent_id.value } });
});

test('framework failover: its tasks run on while it is away, it gets them back within failover_timeout, and past it they are killed', async (t) => {
  const c = cell(t);
  const { master } = await c.startCell(1);
  const s = new RawScheduler(master.url);
  t.after(() => s.disconnect());
  await s.subscribe({ ...INFO, failover_timeout: 60 });
  const offer = await s.nextOffer();
  assert.equal((await s.call('ACCEPT', launch(offer, 'keep-1', 'sleep 3600'))).status, 202);
  await s.waitStatus('keep-1', 'TASK_RUNNING');
  s.disconnect();
  await settle(1500);

  // A new scheduler process subscribes with the id, and reconciles: the task is still running.
  const again = new RawScheduler(master.url);
  t.after(() => again.disconnect());
  const sub = await again.subscribe({ ...INFO, failover_timeout: 60, id: { value: s.frameworkId } });
  assert.equal(sub.type, 'SUBSCRIBED');
  assert.equal(again.frameworkId, s.frameworkId);
  assert.equal((await again.call('RECONCILE', { reconcile: { tasks: [] } })).status, 202);
  const latest = await again.waitStatus('keep-1', 'TASK_RUNNING');
  assert.equal(latest.reason, 'REASON_RECONCILIATION');
  // Kill it from the new process: TASK_KILLED comes back, to acknowledge.
  assert.equal((await again.call('KILL', { kill: { task_id: { value: 'keep-1' } } })).status, 202);
  await again.waitStatus('keep-1', 'TASK_KILLED');
  // An operator tears it down: its stream ends with an ERROR.
  const torn = await cli(['framework', 'teardown', again.frameworkId], { cwd: c.dir, env: { MUSTER_MASTER: master.url } });
  assert.equal(torn.code, 0, torn.stderr);
  await waitFor(() => again.closed, { what: 'the torn-down framework\'s stream to end' });
  assert.ok(again.events.some((e) => e.type === 'ERROR'), 'an ERROR says why the stream ended');

  // A framework with a failover timeout of 1 s that goes away for good: its task is killed.
  const brief = new RawScheduler(master.url);
  t.after(() => brief.disconnect());
  await brief.subscribe({ ...INFO, name: 'brief', failover_timeout: 1 });
  const o = await brief.nextOffer();
  assert.equal((await brief.call('ACCEPT', launch(o, 'orphan-1', 'sleep 3600'))).status, 202);
  await brief.waitStatus('orphan-1', 'TASK_RUNNING');
  brief.disconnect();
  await waitFor(async () => (await fetch(`${master.url}/api/v1/frameworks`)).json() as Promise<{ frameworks: { frameworkId: string }[] }>, {
    what: 'the framework removed past its failover timeout',
    until: (v) => !v.frameworks.some((f) => f.frameworkId === brief.frameworkId),
  });
  await waitFor(async () => (await fetch(`${master.url}/api/v1/tasks`)).json() as Promise<{ tasks: { taskId: string; state: string }[] }>, {
    what: 'its task killed',
    until: (v) => !v.tasks.some((x) => x.taskId.startsWith('orphan-1.')),
  });
  // Subscribing again with its id is refused: it is gone.
  const late = new RawScheduler(master.url);
  t.after(() => late.disconnect());
  const refused = await late.subscribe({ ...INFO, name: 'brief', failover_timeout: 1, id: { value: brief.frameworkId } });
  assert.equal(refused.type, 'ERROR');
});

test('master kill -9 with a framework connected: it subscribes again, its running task is the same one, and an update it had not acknowledged comes again', async (t) => {
  const c = cell(t);
  const master = await c.startMaster({ agentTimeoutSecs: 10 });
  await c.startAgent(master);
  await c.waitForAgents(1);
  const s = new RawScheduler(master.url);
  t.after(() => s.disconnect());
  await s.subscribe({ ...INFO, failover_timeout: 600 });
  const offer = await s.nextOffer();
  const cpus = 0.1;
  const accept = launch(offer, 'keep-1', 'sleep 3600', cpus);
  // Two tasks on one offer: one to keep running, one that ends and whose end is not acknowledged.
  const ops = (accept['accept'] as { operations: { launch: { task_infos: Record<string, unknown>[] } }[] }).operations;
  const first = ops[0]?.launch.task_infos[0];
  assert.ok(first !== undefined);
  ops[0]?.launch.task_infos.push({ ...first, name: 'brief-1', task_id: { value: 'brief-1' }, command: { value: 'sleep 0.2' } });
  assert.equal((await s.call('ACCEPT', accept)).status, 202);
  await s.waitStatus('keep-1', 'TASK_RUNNING');
  const ended = await s.waitStatus('brief-1', 'TASK_FINISHED', { ack: false });
  const tasksBefore = ((await (await fetch(`${master.url}/api/v1/tasks`)).json()) as { tasks: { taskId: string; state: string; frameworkTaskId?: string }[] }).tasks;
  const keepBefore = tasksBefore.find((x) => x.frameworkTaskId === 'keep-1');
  assert.ok(keepBefore !== undefined);

  await master.kill('SIGKILL');
  s.disconnect();
  await master.restart();
  const again = new RawScheduler(master.url);
  t.after(() => again.disconnect());
  // The CLI and schedulers retry while the master starts; so does this one.
  await waitFor(() => again.subscribe({ ...INFO, failover_timeout: 600, id: { value: s.frameworkId } }), { what: 'the scheduler to subscribe again to the restarted master' });
  const redelivered = await again.waitStatus('brief-1', 'TASK_FINISHED');
  assert.equal(redelivered.uuid, ended.uuid, 'the same update, with the same uuid');
  await waitFor(async () => (await fetch(`${master.url}/api/v1/frameworks`)).json() as Promise<{ frameworks: { frameworkId: string; tasks: number }[] }>, {
    what: 'only the running task left once the end is acknowledged',
    until: (v) => v.frameworks.some((f) => f.frameworkId === s.frameworkId && f.tasks === 1),
  });
  const after = await waitFor(async () => ((await (await fetch(`${master.url}/api/v1/tasks`)).json()) as { tasks: { taskId: string; state: string; frameworkTaskId?: string }[] }).tasks, {
    what: 'keep-1 running once the agent has re-subscribed',
    until: (ts) => ts.some((x) => x.frameworkTaskId === 'keep-1' && x.state === 'TASK_RUNNING'),
  });
  assert.deepEqual(
    after.filter((x) => x.frameworkTaskId === 'keep-1').map((x) => x.taskId),
    [keepBefore.taskId],
    'the same task, not launched again',
  );
  // The agent re-subscribed and reported it: it is the framework's, so it is not killed as unwanted.
  await waitFor(() => c.client().cell(), { what: 'the agent to re-subscribe', until: (v) => v.agents.every((a) => a.state === 'CONNECTED') });
  await settle(2000);
  const later = ((await (await fetch(`${master.url}/api/v1/tasks`)).json()) as { tasks: { taskId: string; state: string; frameworkTaskId?: string; killRequested: boolean }[] }).tasks;
  assert.deepEqual(
    later.filter((x) => x.frameworkTaskId === 'keep-1').map((x) => [x.state, x.killRequested]),
    [['TASK_RUNNING', false]],
  );
  assert.equal(again.statuses().filter((x) => x.task_id.value === 'keep-1' && x.state === 'TASK_KILLED').length, 0);

  // Tools written for Mesos read the legacy state: the framework with its task, in Mesos's shape.
  interface MesosState {
    leader: string;
    slaves: { id: string; hostname: string; pid: string }[];
    frameworks: { id: string; name: string; hostname?: string; tasks: { id: string; name: string; framework_id: string; slave_id: string; state: string; statuses: { state: string; timestamp: number }[] }[] }[];
  }
  const state = (await (await fetch(`${master.url}/master/state`)).json()) as MesosState;
  assert.match(state.leader, /^master@127\.0\.0\.1:\d+$/);
  assert.equal(state.slaves.length, 1);
  assert.match(state.slaves[0]?.pid ?? '', /^slave\(1\)@/);
  const mine = state.frameworks.find((f) => f.id === s.frameworkId);
  assert.equal(mine?.name, 'raw-json-scheduler');
  const keep = mine?.tasks.find((x) => x.id === 'keep-1');
  assert.equal(keep?.state, 'TASK_RUNNING');
  assert.equal(keep?.framework_id, s.frameworkId);
  assert.equal(keep?.slave_id, state.slaves[0]?.id);
  assert.ok((keep?.statuses.length ?? 0) > 0 && keep?.statuses.every((x) => typeof x.timestamp === 'number'));
  assert.ok(state.frameworks.some((f) => f.id === 'muster'), 'the built-in framework is listed too');
});

test('two frameworks of one role share an agent by DRF: each takes a task per offer and they end within one task of each other', async (t) => {
  const c = cell(t);
  const { master } = await c.startCell(1);
  const a = new RawScheduler(master.url);
  const b = new RawScheduler(master.url);
  t.after(() => {
    a.disconnect();
    b.disconnect();
  });
  await a.subscribe({ ...INFO, name: 'drf-a', failover_timeout: 60 });
  await b.subscribe({ ...INFO, name: 'drf-b', failover_timeout: 60 });
  const TOTAL = 12;
  const launched = new Map<RawScheduler, number>([
    [a, 0],
    [b, 0],
  ]);
  const seen = new Map<RawScheduler, number>([
    [a, 0],
    [b, 0],
  ]);
  /** answer launches one task on each new offer while fewer than TOTAL run in all; then declines for good. */
  const answer = async (s: RawScheduler, name: string): Promise<void> => {
    const from = seen.get(s) ?? 0;
    const fresh = s.events.slice(from);
    seen.set(s, s.events.length);
    for (const e of fresh) {
      if (e.type !== 'OFFERS') continue;
      for (const offer of (e['offers'] as { offers: Parameters<typeof launch>[0][] }).offers) {
        const total = (launched.get(a) ?? 0) + (launched.get(b) ?? 0);
        if (total >= TOTAL) {
          await s.call('DECLINE', { decline: { offer_ids: [offer.id], filters: { refuse_seconds: 3600 } } });
          continue;
        }
        const n = (launched.get(s) ?? 0) + 1;
        launched.set(s, n);
        // No filter on what is left: the allocator alone decides who gets the agent next.
        const r = await s.call('ACCEPT', launch(offer, `${name}-${n}`, 'sleep 3600', 0.05, 8, { refuse_seconds: 0 }));
        assert.equal(r.status, 202, r.body);
      }
    }
  };
  await waitFor(
    async () => {
      await answer(a, 'a');
      await answer(b, 'b');
      return (launched.get(a) ?? 0) + (launched.get(b) ?? 0);
    },
    { what: `${TOTAL} tasks launched between the two frameworks`, until: (n) => n >= TOTAL, intervalMs: 50 },
  );
  for (let i = 1; i <= (launched.get(a) ?? 0); i++) await a.waitStatus(`a-${i}`, 'TASK_RUNNING');
  for (let i = 1; i <= (launched.get(b) ?? 0); i++) await b.waitStatus(`b-${i}`, 'TASK_RUNNING');
  const diff = Math.abs((launched.get(a) ?? 0) - (launched.get(b) ?? 0));
  assert.ok(diff <= 1, `a launched ${launched.get(a)}, b ${launched.get(b)}: within one task of each other`);
});

test('an offer left unanswered past --offer-timeout is rescinded, and its agent offered again', async (t) => {
  const c = cell(t);
  const master = await c.startMaster({ args: ['--offer-timeout', '2'] });
  await c.startAgent(master);
  await c.waitForAgents(1);
  const s = new RawScheduler(master.url);
  t.after(() => s.disconnect());
  await s.subscribe({ ...INFO, failover_timeout: 60 });
  const first = await s.nextOffer();
  const rescind = await s.next((e) => e.type === 'RESCIND', 'RESCIND of the unanswered offer');
  assert.equal((rescind['rescind'] as { offer_id: { value: string } }).offer_id.value, first.id.value);
  const again = await s.nextOffer(s.events.indexOf(rescind));
  assert.notEqual(again.id.value, first.id.value);
  assert.equal(again.agent_id.value, first.agent_id.value);
  // The rescinded offer cannot be used any more.
  assert.equal((await s.call('ACCEPT', launch(first, 'late-1', 'true'))).status, 202);
  await s.waitStatus('late-1', 'TASK_DROPPED');
});

test('two external frameworks and the built-in one, all of role "*", each wanting more than its share: DRF gives each one agent of three', async (t) => {
  const c = cell(t);
  const master = await c.startMaster();
  const a = new RawScheduler(master.url);
  const b = new RawScheduler(master.url);
  t.after(() => {
    a.disconnect();
    b.disconnect();
  });
  const info = { ...INFO, roles: ['*'], failover_timeout: 60 };
  await a.subscribe({ ...info, name: 'drf3-a' });
  await b.subscribe({ ...info, name: 'drf3-b' });
  // The built-in framework wants three 1-cpu tasks, and so does each external one: nine wanted, three fit.
  const client = c.client();
  const spec = { job: 'web/prod/drf', kind: 'service', instances: 3, resources: { cpus: 1, mem: 32 }, processes: [{ name: 'main', cmd: 'sleep 3600' }] };
  await client.createJob(JSON.stringify(spec), { contentType: 'application/json' });
  for (let i = 0; i < 3; i++) await c.startAgent(master, { resources: 'cpus:1;mem:512;disk:256' });
  const launched = new Map<RawScheduler, number>([
    [a, 0],
    [b, 0],
  ]);
  const seen = new Map<RawScheduler, number>();
  /** answer takes every offer with a whole cpu for one more task (up to three), and declines the rest for a second. */
  const answer = async (s: RawScheduler, name: string): Promise<void> => {
    const fresh = s.events.slice(seen.get(s) ?? 0);
    seen.set(s, s.events.length);
    for (const e of fresh) {
      if (e.type !== 'OFFERS') continue;
      for (const offer of (e['offers'] as { offers: Parameters<typeof launch>[0][] }).offers) {
        const cpus = offer.resources.find((r) => r.name === 'cpus')?.scalar?.value ?? 0;
        const n = (launched.get(s) ?? 0) + 1;
        if (cpus < 1 || n > 3) {
          await s.call('DECLINE', { decline: { offer_ids: [offer.id], filters: { refuse_seconds: 1 } } });
          continue;
        }
        launched.set(s, n);
        const r = await s.call('ACCEPT', launch(offer, `${name}-${n}`, 'sleep 3600', 1, 32, { refuse_seconds: 0 }));
        assert.equal(r.status, 202, r.body);
      }
    }
  };
  const builtIn = async (): Promise<number> => (await client.getJob('web/prod/drf')).instances.filter((i) => i.task?.state === 'TASK_RUNNING').length;
  await waitFor(
    async () => {
      await answer(a, 'a');
      await answer(b, 'b');
      return (launched.get(a) ?? 0) + (launched.get(b) ?? 0) + (await builtIn());
    },
    { what: 'the three agents full', until: (n) => n >= 3, intervalMs: 50 },
  );
  // A few more rounds of offers: nothing more fits, and nobody takes another's share.
  for (let i = 0; i < 10; i++) {
    await answer(a, 'a');
    await answer(b, 'b');
    await settle(100);
  }
  const shares = { a: launched.get(a), b: launched.get(b), muster: await builtIn() };
  assert.deepEqual(shares, { a: 1, b: 1, muster: 1 }, `one agent each: ${JSON.stringify(shares)}`);
  await a.waitStatus('a-1', 'TASK_RUNNING');
  await b.waitStatus('b-1', 'TASK_RUNNING');
});
