import assert from 'node:assert/strict';
import { test } from 'node:test';
import { taskInfo } from '../../test/fixtures.js';
import { checkTaskInfo } from './taskinfo.js';

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
