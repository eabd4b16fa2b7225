// How a failed command tells it: a line (or a line per problem) for people, the API's error
// object for machines.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommanderError } from 'commander';
import { MusterError } from '../core/index.js';
import { OutcomeError, UsageError } from './exitcodes.js';
import { failureOf, musterErrorLines, wantsJson } from './report.js';

const problems = [
  { field: 'processes[0].command', path: ['processes', 0, 'command'], message: 'unknown field `command` in processes[0]; did you mean `cmd`?', suggestion: 'cmd' },
  { field: 'processes[0].cmd', path: ['processes', 0, 'cmd'], message: 'field "processes[0].cmd": is required' },
];

test('musterErrorLines lists each problem of a refused config on its own line, and counts those left out', () => {
  const err = new MusterError('INVALID_JOB', 'unknown field `command` in processes[0]; did you mean `cmd`? (and 1 more problem)', { details: { field: 'processes[0].command', problems } });
  assert.deepEqual(musterErrorLines(err), [
    'muster: the job config has 2 problems:',
    '  unknown field `command` in processes[0]; did you mean `cmd`?',
    '  field "processes[0].cmd": is required',
  ]);
  const many = new MusterError('INVALID_JOB', 'x', { details: { problems, more: 3 } });
  assert.deepEqual(musterErrorLines(many).slice(0, 1), ['muster: the job config has 5 problems:']);
  assert.equal(musterErrorLines(many).at(-1), '  and 3 more');
});

test('musterErrorLines gives one problem, or an error without problems, one line with its hint', () => {
  const one = new MusterError('INVALID_JOB', 'unknown field `instancez`; did you mean `instances`?', { details: { field: 'instancez', problems: [problems[0]] } });
  assert.deepEqual(musterErrorLines(one), ['muster: unknown field `instancez`; did you mean `instances`?']);
  assert.deepEqual(musterErrorLines(new MusterError('JOB_NOT_FOUND', 'no job web/prod/x')), ['muster: no job web/prod/x (see muster job list)']);
});

test('failureOf gives every kind of failure an exit code, lines for people and an error object for machines', () => {
  const api = failureOf(new MusterError('UNAVAILABLE', 'cannot reach the master at http://127.0.0.1:1: ECONNREFUSED', { details: { masters: ['http://127.0.0.1:1'] } }));
  assert.equal(api.exitCode, 6);
  assert.deepEqual(api.object, { error: { code: 'UNAVAILABLE', message: 'cannot reach the master at http://127.0.0.1:1: ECONNREFUSED', details: { masters: ['http://127.0.0.1:1'] } } });

  const usage = failureOf(new UsageError('job create needs a config FILE', 'e.g. muster job create hello.yaml'));
  assert.equal(usage.exitCode, 2);
  assert.deepEqual(usage.lines, ['muster: job create needs a config FILE (e.g. muster job create hello.yaml)']);
  assert.deepEqual(usage.object, { error: { code: 'INVALID_ARGUMENT', message: 'job create needs a config FILE', details: { hint: 'e.g. muster job create hello.yaml' } } });

  const commander = failureOf(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--frob'"));
  assert.equal(commander.exitCode, 2);
  assert.deepEqual(commander.lines, [], 'commander printed it already');
  assert.deepEqual(commander.object, { error: { code: 'INVALID_ARGUMENT', message: "unknown option '--frob'" } });
  assert.equal(failureOf(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)')).object, undefined, 'help is not a failure');

  const outcome = failureOf(new OutcomeError('JOB_FAILED', 'web/prod/x keeps failing\n  instance 0 failed', { job: 'web/prod/x', instances: [] }));
  assert.equal(outcome.exitCode, 1);
  assert.deepEqual(outcome.lines, ['muster: web/prod/x keeps failing\n  instance 0 failed']);
  assert.deepEqual(outcome.object, { error: { code: 'JOB_FAILED', message: 'web/prod/x keeps failing', details: { job: 'web/prod/x', instances: [] } } });
  assert.equal(failureOf(new OutcomeError('TIMEOUT', 'timed out')).exitCode, 7);

  const bug = failureOf(new TypeError('x is undefined'));
  assert.equal(bug.exitCode, 1);
  assert.match(bug.lines[0] ?? '', /^muster: internal error: TypeError: x is undefined\n\s+at /);
  assert.deepEqual(bug.object, { error: { code: 'INTERNAL', message: 'x is undefined' } });
});

test('wantsJson finds --json among muster\'s own arguments, not those after --', () => {
  assert.equal(wantsJson(['job', 'list', '--json']), true);
  assert.equal(wantsJson(['--json', 'job', 'list']), true);
  assert.equal(wantsJson(['job', 'list']), false);
  assert.equal(wantsJson(['task', 'exec', 'web/prod/x/0', '--', 'tool', '--json']), false);
});
