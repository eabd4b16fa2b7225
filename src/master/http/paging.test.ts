import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MusterError } from '../../core/index.js';
import { listParam, pageInfo, pageOf, parsePage } from './paging.js';

const url = (q: string): URL => new URL(`http://m/api/v1/jobs${q}`);

test('parsePage() pages only when limit or offset is given, so that old clients get whole lists', () => {
  assert.equal(parsePage(url('')), undefined);
  assert.deepEqual(parsePage(url('?limit=10')), { limit: 10, offset: 0 });
  assert.deepEqual(parsePage(url('?offset=200')), { limit: 100, offset: 200 });
  assert.deepEqual(pageInfo(5, undefined), {});
  assert.deepEqual(pageInfo(5, { limit: 2, offset: 4 }), { total: 5, offset: 4, limit: 2 });
});

test('parsePage() refuses a limit or offset that is not a whole number in range, naming the field', () => {
  for (const q of ['?limit=0', '?limit=1001', '?limit=-1', '?limit=2.5', '?offset=x', '?limit=']) {
    assert.throws(() => parsePage(url(q)), (e: unknown) => e instanceof MusterError && e.code === 'INVALID_ARGUMENT' && e.details?.['field'] !== undefined, q);
  }
});

test('pageOf() cuts the window, and an offset past the end is an empty page', () => {
  const items = [1, 2, 3, 4, 5];
  assert.deepEqual(pageOf(items, { limit: 2, offset: 1 }), [2, 3]);
  assert.deepEqual(pageOf(items, { limit: 2, offset: 9 }), []);
  assert.deepEqual(pageOf(items, undefined), items);
});

test('listParam() reads a comma-separated filter', () => {
  assert.deepEqual(listParam(url('?state=ACTIVE,%20FAILED,'), 'state'), new Set(['ACTIVE', 'FAILED']));
  assert.equal(listParam(url(''), 'state'), undefined);
});
