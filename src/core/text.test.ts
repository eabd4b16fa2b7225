import assert from 'node:assert/strict';
import { test } from 'node:test';
import { controlCharacterProblem, escapeControls, findControlCharacter, quoted } from './text.js';

test('findControlCharacter finds C0 controls, DEL and C1 controls, and names them', () => {
  assert.equal(findControlCharacter('sleep 1'), undefined);
  assert.deepEqual(findControlCharacter('a\0b'), { code: 0, index: 1, name: 'NUL (U+0000)' });
  assert.equal(findControlCharacter('\x1b[2J')?.name, 'ESC (U+001B)');
  assert.equal(findControlCharacter('x\x7f')?.name, 'DEL (U+007F)');
  assert.equal(findControlCharacter('x\u009b')?.name, 'the control character U+009B');
  assert.equal(findControlCharacter('héllo wörld ✓ 日本'), undefined, 'other Unicode is text');
});

test('findControlCharacter allows tab and newline only when asked, and never CR', () => {
  assert.equal(findControlCharacter('a\tb\nc')?.name, 'TAB (U+0009)');
  assert.equal(findControlCharacter('a\tb\nc', { allowTabNewline: true }), undefined);
  assert.equal(findControlCharacter('echo hi\r\n', { allowTabNewline: true })?.name, 'CR (U+000D)');
});

test('controlCharacterProblem says which character, where, and what is allowed', () => {
  assert.equal(controlCharacterProblem('ok'), undefined);
  assert.equal(controlCharacterProblem('ab\0'), 'contains NUL (U+0000) at character 2; no control character is allowed');
  assert.equal(controlCharacterProblem('a\x07', { allowTabNewline: true }), 'contains BEL (U+0007) at character 1; tab and newline are the only control characters allowed');
});

test('quoted escapes control characters and cuts long text, so a message never carries what it refuses', () => {
  assert.equal(quoted('web'), '"web"');
  assert.equal(quoted('a\x1bb\u0085'), '"a\\u001bb\\u0085"');
  const long = quoted('x'.repeat(10_000));
  assert.ok(long.length < 100, long);
  assert.ok(long.endsWith('…"'));
});

void test('escapeControls writes control characters as \\uXXXX and keeps tab, newline and the rest', () => {
  assert.equal(escapeControls('ok\tline\nnext'), 'ok\tline\nnext');
  assert.equal(escapeControls('red \u001b[31m bell \u0007 nul \u0000 c1 \u0085'), 'red \\u001b[31m bell \\u0007 nul \\u0000 c1 \\u0085');
  assert.equal(escapeControls('naïve ✓'), 'naïve ✓');
});
