import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTerminal, TASK_STATES } from '../../core/index.js';
import { instanceMayMove, jobMayMove, TASK_MOVES, taskMayMove } from './machine.js';

void test('an ended task moves no more; a live one may end, repeat its state, or be lost with its agent', () => {
  for (const from of TASK_STATES) {
    if (isTerminal(from)) {
      assert.deepEqual(TASK_MOVES[from], [], `${from} is final`);
      continue;
    }
    for (const to of TASK_STATES.filter(isTerminal)) assert.ok(taskMayMove(from, to), `${from} → ${to}`);
    assert.ok(taskMayMove(from, from), `${from} again`);
    assert.ok(taskMayMove(from, 'TASK_UNREACHABLE'));
  }
  assert.equal(taskMayMove('TASK_RUNNING', 'TASK_STAGING'), false, 'no going back to staging');
  assert.equal(taskMayMove('TASK_KILLING', 'TASK_RUNNING'), false, 'a task being killed does not run again');
  assert.ok(taskMayMove('TASK_UNREACHABLE', 'TASK_RUNNING'), 'an agent that returns brings its task back');
});

void test('instances and jobs move only forward', () => {
  assert.ok(instanceMayMove('PENDING', 'ACTIVE'));
  assert.ok(instanceMayMove('ACTIVE', 'PENDING'));
  assert.equal(instanceMayMove('KILLED', 'ACTIVE'), false);
  assert.equal(instanceMayMove('FINISHED', 'PENDING'), false);
  assert.ok(jobMayMove('ACTIVE', 'KILLING'));
  assert.equal(jobMayMove('FAILED', 'ACTIVE'), false);
});
