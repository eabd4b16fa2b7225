import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { QuotaView } from '../protocol/index.js';
import { UsageError } from './exitcodes.js';
import { listLines, parseQuotaArgs, quotaLines } from './quota.js';

test('parseQuotaArgs() reads cpus, sizes with units and gpus, in any subset', () => {
  assert.deepEqual(parseQuotaArgs(['cpus=8', 'mem=16GiB', 'disk=100GiB', 'gpus=2']), { cpus: 8, mem: 16384, disk: 102400, gpus: 2 });
  assert.deepEqual(parseQuotaArgs(['cpus=0.125']), { cpus: 0.125 });
  assert.deepEqual(parseQuotaArgs(['mem=512', 'gpus=0']), { mem: 512, gpus: 0 });
  assert.deepEqual(parseQuotaArgs(['gpus=1.5']), { gpus: 1.5 });
});

test('parseQuotaArgs() refuses each mistake with a usage error naming the resource', () => {
  const cases: [string[], RegExp][] = [
    [[], /at least one RESOURCE=VALUE, or --clear/],
    [['cpu=8'], /unknown resource "cpu"/],
    [['ram=1GiB'], /unknown resource "ram"/],
    [['cpus'], /"cpus" must be RESOURCE=VALUE/],
    [['cpus=-1'], /cpus "-1"/],
    [['cpus=eight'], /cpus "eight"/],
    [['cpus=0.0001'], /cpus "0.0001"/],
    [['cpus=1e3'], /cpus "1e3"/],
    [['mem=lots'], /mem: "lots" is not a size/],
    [['disk=-5GiB'], /disk: "-5GiB" is not a size/],
    [['mem=1PiB'], /mem: "PiB"/],
    [['gpus=1.0005'], /gpus "1.0005"/],
    [['gpus=-1'], /gpus "-1"/],
    [['cpus=1', 'cpus=2'], /cpus is given twice/],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => parseQuotaArgs(args),
      (err: unknown) => err instanceof UsageError && message.test(err.message),
      `${args.join(' ')} is refused with ${String(message)}`,
    );
  }
});

const VIEW: QuotaView = {
  role: 'web',
  quota: { cpus: 8, mem: 16384, gpus: 2 },
  used: { cpus: 9, mem: 1536, disk: 0, gpus: 0 },
  free: { cpus: -1, mem: 14848, gpus: 2 },
  setAt: 0,
};

test('quotaLines() shows quota, used and free per resource, exact sizes and overuse spelt out', () => {
  const lines = quotaLines(VIEW, 60_000);
  assert.equal(lines[0], 'role   web');
  assert.equal(lines[1], 'quota  set 1m ago');
  assert.deepEqual(lines.slice(3), [
    'RESOURCE  QUOTA      USED     FREE',
    'cpus      8          9        0 (over by 1)',
    'mem       16GiB      1536MiB  14848MiB',
    'disk      unlimited  0MiB     -',
    'gpus      2          0        2',
  ]);
});

test('quotaLines() says a role without a quota is unlimited', () => {
  const lines = quotaLines({ role: 'db', used: { cpus: 1, mem: 0, disk: 0, gpus: 0 } }, 0);
  assert.equal(lines[1], 'quota  none: the role is unlimited');
  assert.ok(lines.includes('cpus      unlimited  1     -'), lines.join('\n'));
});

test('listLines() shows used/quota of each resource per role', () => {
  const lines = listLines([VIEW], 60_000);
  assert.deepEqual(lines.slice(0, 2), ['ROLE  CPUS  MEM            DISK    GPUS  SET', 'web   9/8   1536MiB/16GiB  0MiB/-  0/2   1m ago']);
});
