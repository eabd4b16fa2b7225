import assert from 'node:assert/strict';
import { test } from 'node:test';
import { taskInfo } from '../../test/fixtures.js';
import type { TaskInfo } from '../protocol/index.js';
import { checkTaskInfo, gpuConflict } from './taskinfo.js';

/** task is a valid LAUNCH task as plain data, so a test can break any field of it. */
function task(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...taskInfo({ env: { FOO: 'bar' } }), ...overrides };
}

test('checkTaskInfo accepts a well-formed task and copies only the known fields', () => {
  const check = checkTaskInfo({ ...task(), extra: 'dropped' });
  assert.equal(check.ok, true);
  if (check.ok) {
    assert.equal(check.task.taskId, 'web-prod-hello-0-abc');
    assert.equal('extra' in check.task, false);
  }
});

test('checkTaskInfo refuses bad fields and keeps the id to report the refusal under', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ taskId: '../etc' }, /taskId/],
    [{ job: 'web/prod' }, /role\/env\/name/],
    [{ instance: -1 }, /instance/],
    [{ kind: 'cron' }, /kind/],
    [{ killGraceSecs: 1e9 }, /killGraceSecs/],
    [{ ports: { HTTP: 80 } }, /port name/],
    [{ ports: { http: 70000 } }, /port http/],
    [{ processes: [] }, /processes/],
    [{ processes: [{ name: 'a', cmd: '' }] }, /cmd/],
    [{ processes: [{ name: 'a', cmd: 'x' }, { name: 'a', cmd: 'y' }] }, /used twice/],
    [{ env: { 'BAD-NAME': 'x' } }, /environment variable name/],
    [{ env: { A: 1 } }, /environment variable A/],
    [{ resources: { cpus: -1 } }, /resources.cpus/],
  ];
  for (const [overrides, problem] of cases) {
    const check = checkTaskInfo(task(overrides));
    assert.equal(check.ok, false, JSON.stringify(overrides));
    if (!check.ok) {
      assert.match(check.message, problem);
      assert.equal(check.taskId, typeof overrides['taskId'] === 'string' ? overrides['taskId'] : 'web-prod-hello-0-abc');
    }
  }
});

test('checkTaskInfo has no id to report when the task is not an object', () => {
  const check = checkTaskInfo('nonsense');
  assert.equal(check.ok, false);
  if (!check.ok) assert.equal(check.taskId, undefined);
});

/** health is a normalised http health check on the fixture's port "http". */
function health(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    http: { port: 'http', path: '/ready', statuses: [200, 204] },
    gracePeriodSecs: 10,
    intervalSecs: 10,
    timeoutSecs: 20,
    consecutiveFailures: 3,
    ...overrides,
  };
}

test('checkTaskInfo accepts a health check and copies only its known fields', () => {
  const check = checkTaskInfo(task({ health: health() }));
  assert.equal(check.ok, true);
  if (check.ok) {
    assert.deepEqual(check.task.health, {
      http: { port: 'http', path: '/ready', statuses: [200, 204] },
      gracePeriodSecs: 10,
      intervalSecs: 10,
      timeoutSecs: 20,
      consecutiveFailures: 3,
    });
  }
  const tcp = checkTaskInfo(task({ health: health({ http: undefined, tcp: { port: 'http' } }) }));
  assert.equal(tcp.ok && tcp.task.health?.tcp?.port, 'http');
  const command = checkTaskInfo(task({ health: health({ http: undefined, command: { cmd: 'test -f ready' } }) }));
  assert.equal(command.ok && command.task.health?.command?.cmd, 'test -f ready');
  const none = checkTaskInfo(task());
  assert.equal(none.ok && 'health' in none.task, false);
});

test('checkTaskInfo refuses a health check that is malformed, out of bounds or on a port the task lacks', () => {
  const cases: [unknown, RegExp][] = [
    ['http', /health must be an object/],
    [health({ delaySecs: 1 }), /health.delaySecs is not a known field/],
    [health({ tcp: { port: 'http' } }), /exactly one of http, tcp or command/],
    [health({ http: undefined }), /exactly one of http, tcp or command/],
    [health({ intervalSecs: 0 }), /health.intervalSecs/],
    [health({ timeoutSecs: 1e9 }), /health.timeoutSecs/],
    [health({ gracePeriodSecs: -1 }), /health.gracePeriodSecs/],
    [health({ gracePeriodSecs: undefined }), /health.gracePeriodSecs/],
    [health({ consecutiveFailures: 1.5 }), /health.consecutiveFailures/],
    [health({ http: { port: 'admin', path: '/', statuses: [] } }), /health.http.port "admin" is not one of the task's ports \(http\)/],
    [health({ http: { port: 'http', path: 'ready', statuses: [] } }), /health.http.path/],
    [health({ http: { port: 'http', path: '/a b', statuses: [] } }), /health.http.path/],
    [health({ http: { port: 'http', path: '/', statuses: [99] } }), /health.http.statuses/],
    [health({ http: { port: 'http', path: '/', statuses: '200' } }), /health.http.statuses/],
    [health({ http: { port: 'http', path: '/', statuses: [], follow: true } }), /health.http.follow is not a known field/],
    [health({ http: undefined, tcp: { port: 'ssh' } }), /health.tcp.port "ssh"/],
    [health({ http: undefined, tcp: { port: 'http', host: 'example.com' } }), /health.tcp.host is not a known field/],
    [health({ http: undefined, command: { cmd: '' } }), /health.command.cmd/],
    [health({ http: undefined, command: { cmd: 'a\0b' } }), /health.command.cmd/],
  ];
  for (const [h, problem] of cases) {
    const check = checkTaskInfo(task({ health: h }));
    assert.equal(check.ok, false, JSON.stringify(h));
    if (!check.ok) {
      assert.match(check.message, problem);
      assert.equal(check.taskId, 'web-prod-hello-0-abc');
    }
  }
});

/** gpuTask is a valid task holding gpus, on the devices given as [device, milli] pairs. */
function gpuTask(gpus: number, devices: [number, number][], overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return task({
    resources: { cpus: 0.1, mem: 16, disk: 0, gpus, ports: '[31000]' },
    gpus: devices.map(([device, milli]) => ({ device, milli })),
    ...overrides,
  });
}

test('checkTaskInfo accepts whole GPUs and a share on devices of the agent, and copies them', () => {
  const whole = checkTaskInfo(gpuTask(2, [[0, 1000], [3, 1000]]), { gpus: 4 });
  assert.equal(whole.ok, true);
  if (whole.ok) assert.deepEqual(whole.task.gpus, [{ device: 0, milli: 1000 }, { device: 3, milli: 1000 }]);
  const share = checkTaskInfo({ ...gpuTask(0.25, []), gpus: [{ device: 1, milli: 250, extra: 1 }] }, { gpus: 2 });
  assert.equal(share.ok, false, 'an unknown field in a device is refused, not dropped');
  const clean = checkTaskInfo(gpuTask(0.25, [[1, 250]]), { gpus: 2 });
  assert.equal(clean.ok, true);
  if (clean.ok) assert.deepEqual(clean.task.gpus, [{ device: 1, milli: 250 }]);
});

test('checkTaskInfo leaves gpus out for a task without GPUs', () => {
  for (const raw of [task(), task({ gpus: [] })]) {
    const check = checkTaskInfo(raw, { gpus: 2 });
    assert.equal(check.ok, true);
    if (check.ok) assert.equal('gpus' in check.task, false);
  }
});

test('checkTaskInfo refuses GPU devices that are malformed, not the agent\'s, or do not match the request', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [gpuTask(1, [[2, 1000]]), /GPU device 2 is not one of this agent's 2 GPUs \(0-1\)/],
    [gpuTask(1, [[-1, 1000]]), /device must be a whole number from 0 to 63/],
    [gpuTask(1, [[0.5, 1000]]), /device must be a whole number/],
    [gpuTask(0.5, [[0, 0]]), /device 0 must have milli from 1 to 1000/],
    [gpuTask(0.5, [[0, 1001]]), /milli from 1 to 1000/],
    [gpuTask(2, [[1, 1000], [1, 1000]]), /device 1 is named twice/],
    [gpuTask(2, [[0, 1000], [1, 500]]), /2 whole gpus must be 2 distinct devices of milli 1000 each/],
    [gpuTask(2, [[0, 1000]]), /2 whole gpus must be 2 distinct devices/],
    [gpuTask(0.5, [[0, 250]]), /a share of 0.5 gpus must be one device with milli 500/],
    [gpuTask(0.5, [[0, 250], [1, 250]]), /one device with milli 500/],
    [gpuTask(0, [[0, 1000]]), /names GPU devices but asks for no gpus/],
    [task({ resources: { cpus: 0.1, mem: 16, disk: 0, gpus: 1, ports: '[]' } }), /asks for 1 gpus but names no GPU devices/],
    [gpuTask(1.5, [[0, 1000], [1, 500]]), /resources.gpus must be whole devices up to 64 or a share/],
    [gpuTask(1, [[0, 1000]], { gpus: { device: 0, milli: 1000 } }), /gpus must be a list/],
    [gpuTask(1, [[0, 1000]], { gpus: ['0'] }), /each of gpus must be an object/],
  ];
  for (const [raw, problem] of cases) {
    const check = checkTaskInfo(raw, { gpus: 2 });
    assert.equal(check.ok, false, JSON.stringify(raw['gpus']));
    if (!check.ok) {
      assert.match(check.message, problem);
      assert.equal(check.taskId, 'web-prod-hello-0-abc');
    }
  }
});

test('checkTaskInfo refuses any GPU device on an agent without GPUs', () => {
  const check = checkTaskInfo(gpuTask(1, [[0, 1000]]));
  assert.equal(check.ok, false);
  if (!check.ok) assert.equal(check.message, 'Invalid task: GPU device 0 is not on this agent, which has no GPUs');
});

/** holding is a checked task with id, holding the given [device, milli] pairs. */
function holding(id: string, devices: [number, number][]): TaskInfo {
  const gpus = devices.reduce((sum, [, milli]) => sum + milli, 0) / 1000;
  const check = checkTaskInfo(gpuTask(gpus, devices, { taskId: id }), { gpus: 4 });
  assert.ok(check.ok, JSON.stringify(check));
  return check.task;
}

test('gpuConflict lets shares of one device add up to a whole device and no further', () => {
  const others = [holding('a', [[0, 500]]), holding('b', [[0, 250]]), holding('c', [[1, 1000]])];
  assert.equal(gpuConflict(holding('new', [[0, 250]]), others), undefined);
  assert.equal(gpuConflict(holding('new', [[0, 300]]), others), 'GPU device 0 has 250 milli free, the task needs 300 (held by tasks a, b)');
  assert.equal(gpuConflict(holding('new', [[1, 1]]), others), 'GPU device 1 has 0 milli free, the task needs 1 (held by task c)');
  assert.equal(gpuConflict(holding('new', [[2, 1000], [3, 1000]]), others), undefined, 'free devices are free');
  assert.match(gpuConflict(holding('new', [[2, 1000], [0, 1000]]), others) ?? '', /GPU device 0 has 250 milli free, the task needs 1000/);
});

test('gpuConflict ignores the task itself and tasks without GPUs, and names at most three holders', () => {
  const self = holding('same', [[0, 1000]]);
  assert.equal(gpuConflict(self, [self, checkedTask()]), undefined);
  const sharers = ['a', 'b', 'c', 'd', 'e'].map((id) => holding(id, [[0, 200]]));
  assert.equal(gpuConflict(holding('new', [[0, 100]]), sharers), 'GPU device 0 has 0 milli free, the task needs 100 (held by tasks a, b, c and 2 more)');
  assert.equal(gpuConflict(checkedTask(), sharers), undefined, 'a task without GPUs never conflicts');
});

function checkedTask(): TaskInfo {
  const check = checkTaskInfo(task());
  assert.ok(check.ok);
  return check.task;
}

test('checkTaskInfo accepts a task in a container without processes, and carries the container with its defaults', () => {
  const check = checkTaskInfo(task({ processes: [], container: { docker: { image: 'busybox:1.36', network: 'bridge', portMappings: { http: 8080 } } } }));
  assert.ok(check.ok, JSON.stringify(check));
  assert.deepEqual(check.task.processes, []);
  assert.deepEqual(check.task.container, {
    docker: { image: 'busybox:1.36', pull: 'missing', network: 'bridge', portMappings: { http: 8080 }, volumes: [], parameters: [] },
  });
  const withProcesses = checkTaskInfo(task({ container: { docker: { image: 'busybox' } } }));
  assert.ok(withProcesses.ok);
  assert.deepEqual(withProcesses.task.processes, [{ name: 'main', cmd: 'sleep 1' }]);
  assert.equal(withProcesses.task.container?.docker.image, 'busybox');
  const plain = checkTaskInfo(task());
  assert.equal(plain.ok && 'container' in plain.task, false, 'a task without a container has none');
});

test('checkTaskInfo refuses a task with neither processes nor a container', () => {
  const check = checkTaskInfo(task({ processes: [] }));
  assert.equal(check.ok, false);
  if (!check.ok) {
    assert.equal(check.message, 'Invalid task: processes must be a non-empty list');
    assert.equal(check.taskId, 'web-prod-hello-0-abc');
  }
});

test('checkTaskInfo refuses a container block the job schema would refuse, naming the field', () => {
  const cases: [unknown, RegExp][] = [
    [{ docker: { image: 'Not An Image' } }, /^Invalid task: container\.docker\.image: "Not An Image" is not an image reference/],
    [{ docker: {} }, /^Invalid task: container\.docker\.image: /],
    [{ docker: { image: 'busybox', parameters: [{ key: 'privileged', value: 'true' }] } }, /^Invalid task: container\.docker\.parameters\.0\.key: "privileged" is not an allowed docker parameter/],
    [{ docker: { image: 'busybox', volumes: [{ hostPath: '/srv', containerPath: '/mnt/mesos/sandbox' }] } }, /^Invalid task: container\.docker\.volumes\.0\.containerPath: /],
    [{ docker: { image: 'busybox', portMappings: { http: 8080 } } }, /^Invalid task: container\.docker\.portMappings: portMappings need network: bridge/],
    [{ docker: { image: 'busybox' }, rkt: {} }, /^Invalid task: container\./],
    ['busybox', /^Invalid task: container\./],
    [null, /^Invalid task: container\./],
  ];
  for (const [container, problem] of cases) {
    const check = checkTaskInfo(task({ processes: [], container }));
    assert.equal(check.ok, false, JSON.stringify(container));
    if (!check.ok) {
      assert.match(check.message, problem);
      assert.equal(check.taskId, 'web-prod-hello-0-abc');
    }
  }
});
