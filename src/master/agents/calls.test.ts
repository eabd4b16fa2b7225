import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MusterError } from '../../core/index.js';
import { AGENT_CALL_LIMITS, parseAgentCall } from './calls.js';

const agent = {
  hostname: 'h1',
  address: '10.0.0.1',
  port: 5051,
  resources: { cpus: 4, mem: 4096, disk: 4096, gpus: 0, ports: '[31000-32000]' },
  attributes: { rack: 'r1' },
  version: '0.1.0',
};
const usage = (n: number) => ({
  type: 'USAGE',
  agentId: 'a1',
  usage: { tasks: Array.from({ length: n }, (_, i) => ({ taskId: `web-prod-hello-${i}-6f1c2a3b`, cpuSecs: i, memBytes: 1024, diskBytes: 2048, timestamp: 1_700_000_000_000 })) },
});

async function refusal(body: unknown): Promise<string> {
  try {
    await parseAgentCall(body);
  } catch (e) {
    assert.ok(e instanceof MusterError && e.code === 'INVALID_ARGUMENT', String(e));
    return e.message;
  }
  assert.fail('the call was taken');
}

test('parseAgentCall takes a USAGE of as many tasks as an agent may report, and refuses one more', async () => {
  const call = await parseAgentCall(usage(AGENT_CALL_LIMITS.tasks));
  assert.ok(call.type === 'USAGE' && call.usage.tasks.length === AGENT_CALL_LIMITS.tasks);
  assert.deepEqual(call.usage.tasks[1], { taskId: 'web-prod-hello-1-6f1c2a3b', cpuSecs: 1, memBytes: 1024, diskBytes: 2048, timestamp: 1_700_000_000_000 });
  assert.match(await refusal(usage(AGENT_CALL_LIMITS.tasks + 1)), /field "usage.tasks": at most 4096 tasks in one call/);
  const subscribe = { type: 'SUBSCRIBE', subscribe: { agent, tasks: Array.from({ length: AGENT_CALL_LIMITS.tasks + 1 }, (_, i) => ({ taskId: `t${i}`, state: 'TASK_RUNNING' })) } };
  assert.match(await refusal(subscribe), /field "subscribe.tasks": at most 4096/);
});

test('parseAgentCall checks a long list a slice at a time, letting the event loop turn in between', async () => {
  // A callback that queues itself again runs once per turn of the loop: it counts the turns the check lets through.
  let turns = 0;
  let parsed = false;
  const spin = (): void => {
    turns++;
    if (!parsed) setImmediate(spin);
  };
  setImmediate(spin);
  await parseAgentCall(usage(AGENT_CALL_LIMITS.tasks));
  parsed = true;
  assert.ok(turns >= AGENT_CALL_LIMITS.tasks / AGENT_CALL_LIMITS.slice - 1, `the loop turned ${turns} times while the call was checked`);
});

test('parseAgentCall names the entry that is wrong', async () => {
  const bad = usage(600);
  (bad.usage.tasks[513] as { memBytes: unknown }).memBytes = -1;
  assert.match(await refusal(bad), /field "usage.tasks.513.memBytes"/);
});

test('parseAgentCall refuses control characters in what an agent says of itself, and too many attributes before looking at each', async () => {
  for (const field of ['hostname', 'address', 'version', 'isolation'] as const) {
    const message = await refusal({ type: 'SUBSCRIBE', subscribe: { agent: { ...agent, [field]: 'x\x1by' }, tasks: [] } });
    assert.match(message, new RegExp(`subscribe\\.agent\\.${field}": contains ESC`), field);
  }
  assert.match(await refusal({ type: 'SUBSCRIBE', subscribe: { agent: { ...agent, attributes: { rack: 'r\x001' } }, tasks: [] } }), /attributes\.rack": contains NUL/);
  const many: Record<string, string> = {};
  for (let i = 0; i < 100_000; i++) many[`a${i}`] = 'x';
  const start = performance.now();
  assert.match(await refusal({ type: 'SUBSCRIBE', subscribe: { agent: { ...agent, attributes: many }, tasks: [] } }), /at most 64 attributes/);
  // A bound on a blow-up (checking 100,000 attributes one by one), not a timing goal: generous under load.
  assert.ok(performance.now() - start < 2000);
});

test('parseAgentCall leaves optional fields out rather than undefined', async () => {
  const call = await parseAgentCall({ type: 'SUBSCRIBE', subscribe: { agent, tasks: [{ taskId: 't1', state: 'TASK_RUNNING' }] } });
  assert.ok(call.type === 'SUBSCRIBE');
  assert.equal(Object.hasOwn(call.subscribe, 'busyPorts'), false);
  assert.equal(Object.hasOwn(call.subscribe.agent, 'agentId'), false);
  assert.deepEqual(call.subscribe.tasks, [{ taskId: 't1', state: 'TASK_RUNNING' }]);
});
