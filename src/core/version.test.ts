import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { VERSION } from './version.js';

test('VERSION is the version of package.json', () => {
  // Two levels up from src/core, three from dist/src/core: find package.json either way.
  const candidates = ['../../package.json', '../../../package.json'].map((p) => new URL(p, import.meta.url));
  const pkg = candidates.map((u) => {
    try {
      return JSON.parse(readFileSync(u, 'utf8')) as { name?: string; version?: string };
    } catch {
      return undefined;
    }
  }).find((p) => p?.name === 'muster');
  assert.equal(pkg?.version, VERSION);
});
