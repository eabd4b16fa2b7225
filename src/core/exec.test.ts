import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MusterError } from './errors.js';
import { parseExecRequest } from './exec.js';

test('parseExecRequest takes tabs and newlines in arguments (a script) and refuses every other control character', () => {
  assert.deepEqual(parseExecRequest({ argv: ['sh', '-c', 'echo a\n\techo b'] }).argv, ['sh', '-c', 'echo a\n\techo b']);
  for (const c of ['\0', '\x01', '\x1b', '\r', '\x7f', '\u009b']) {
    assert.throws(
      () => parseExecRequest({ argv: ['sh', '-c', `echo ${c}`] }),
      (e: unknown) => e instanceof MusterError && e.code === 'INVALID_ARGUMENT' && /argv\[2\]/.test(e.message),
      JSON.stringify(c),
    );
  }
});
