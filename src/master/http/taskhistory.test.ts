import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LoggedEvent } from '../state/index.js';
import { TaskHistory } from './taskhistory.js';

const launched = (index: number, ...taskIds: string[]): LoggedEvent =>
  ({ index, event: { type: 'TasksLaunched', at: index * 1000, tasks: taskIds.map((taskId) => ({ taskId })) } }) as unknown as LoggedEvent;
const status = (index: number, taskId: string, state: string, more: Record<string, unknown> = {}): LoggedEvent =>
  ({ index, event: { type: 'TaskStatusUpdated', at: index * 1000, status: { taskId, state, uuid: `u${index}`, timestamp: 0, ...more } } }) as unknown as LoggedEvent;

test('TaskHistory records a task from its launch through each status, with reasons and health', () => {
  const h = new TaskHistory();
  h.record([launched(1, 't1', 't2'), status(2, 't1', 'TASK_RUNNING')]);
  h.record([status(3, 't1', 'TASK_RUNNING', { healthy: false }), status(4, 't1', 'TASK_FAILED', { reason: 'REASON_COMMAND_EXECUTOR_FAILED', message: 'exited 1' })]);
  assert.deepEqual(h.of('t1'), {
    taskId: 't1',
    complete: true,
    entries: [
      { at: 1000, index: 1, state: 'LAUNCHED' },
      { at: 2000, index: 2, state: 'TASK_RUNNING' },
      { at: 3000, index: 3, state: 'TASK_RUNNING', healthy: false },
      { at: 4000, index: 4, state: 'TASK_FAILED', reason: 'REASON_COMMAND_EXECUTOR_FAILED', message: 'exited 1' },
    ],
  });
  assert.deepEqual(h.of('t2').entries.map((e) => e.state), ['LAUNCHED']);
});

test('TaskHistory says a history is not complete when it did not see the launch', () => {
  const h = new TaskHistory();
  h.record([status(7, 'old', 'TASK_KILLED')]);
  assert.equal(h.of('old').complete, false);
  assert.deepEqual(h.of('unknown'), { taskId: 'unknown', entries: [], complete: false });
});

test('TaskHistory is bounded: the tasks changed least recently go first, and a task keeps its launch and latest entries', () => {
  const h = new TaskHistory(2, 3);
  h.record([launched(1, 'a', 'b')]);
  h.record([status(2, 'a', 'TASK_RUNNING')]);
  h.record([launched(3, 'c')]);
  assert.equal(h.of('b').entries.length, 0, 'b changed least recently: dropped');
  assert.equal(h.of('a').entries.length, 2);
  h.record([status(4, 'a', 'TASK_RUNNING', { healthy: true }), status(5, 'a', 'TASK_RUNNING', { healthy: false })]);
  const a = h.of('a');
  assert.deepEqual(a.entries.map((e) => e.index), [1, 4, 5], 'the launch stays, the oldest after it made room');
  assert.equal(a.complete, false, 'entries were dropped');
});
