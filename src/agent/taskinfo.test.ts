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
