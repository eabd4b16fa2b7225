import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { checkYamlShape, type YamlLimits } from './yamlshape.js';

const LIMITS: YamlLimits = { depth: 32, tokens: 4096, aliases: 32 };

/** depthOf is the depth checkYamlShape counts, found as the smallest limit it accepts. */
function depthOf(text: string): number {
  for (let depth = 1; depth <= 64; depth++) if (checkYamlShape(text, { ...LIMITS, depth }) === undefined) return depth;
  return Infinity;
}

test('checkYamlShape counts block nesting from indentation and from - and ? indicators', () => {
  assert.equal(depthOf('a: 1\nb: 2\n'), 1);
  assert.equal(depthOf('a:\n  b:\n    c: 1\n  d: 2\ne: 3\n'), 3);
  assert.equal(depthOf('- - - x\n'), 3);
  assert.equal(depthOf('processes:\n  - name: a\n    cmd: |\n      echo 1\n      echo 2\n  - name: b\n    cmd: x\n'), 3);
  assert.equal(depthOf('? a\n: b\n'), 1);
});

test('checkYamlShape counts flow nesting on top of the block levels around it', () => {
  assert.equal(depthOf('a: [1, 2]\n'), 2);
  assert.equal(depthOf('a:\n  b: {c: [d, {e: f}]}\n'), 5);
  assert.equal(depthOf('[[[[x]]]]'), 5);
});

test('checkYamlShape does not take brackets in scalars, quotes, comments or block scalars for nesting', () => {
  const text = [
    'cmd: if [ -f x ]; then echo [[[[[[[[[[; fi',
    "q: '[[[[[[[[[[[[[['",
    'd: "{{{{{{{{{{{{{"',
    '# [[[[[[[[[[[[[[[[[[[[[[[',
    'b: |',
    '  [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[',
    '  {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{',
    'e: 1',
  ].join('\n');
  assert.equal(depthOf(text), 1);
});

test('checkYamlShape stops at the first limit crossed, naming it and the line', () => {
  const deep = `a: ${'['.repeat(30_000)}${']'.repeat(30_000)}`;
  const start = performance.now();
  const p = checkYamlShape(deep, LIMITS);
  // A bound on a blow-up, not a timing goal: generous, so that a loaded machine does not fail it.
  assert.ok(performance.now() - start < 2000, 'the scan stops at the limit, not at the end of the text');
  assert.equal(p?.limit, 'depth');
  assert.match(p?.message ?? '', /nested deeper than 32 levels \(at line 1\)/);

  const compact = `${'- '.repeat(30_000)}x\n`;
  assert.equal(checkYamlShape(compact, LIMITS)?.limit, 'depth');
  const indented = Array.from({ length: 40 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n');
  assert.equal(checkYamlShape(indented, LIMITS)?.limit, 'depth');
  assert.equal(checkYamlShape(indented, LIMITS)?.line, 33);

  const wide = `a: [${Array.from({ length: 5000 }, (_, i) => i).join(',')}]`;
  assert.equal(checkYamlShape(wide, LIMITS)?.limit, 'tokens');

  const laughs = ['a: &a [x, x]', ...Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)].join('\n');
  const bomb = checkYamlShape(laughs, LIMITS);
  assert.equal(bomb?.limit, 'aliases');
  assert.match(bomb?.message ?? '', /more than 32 aliases/);
});

test('checkYamlShape takes every example job config', () => {
  // This file runs as dist/src/core/yamlshape.test.js.
  const dir = fileURLToPath(new URL('../../../examples', import.meta.url));
  const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
  assert.ok(files.length > 0);
  for (const f of files) assert.equal(checkYamlShape(readFileSync(join(dir, f), 'utf8'), LIMITS), undefined, f);
});
