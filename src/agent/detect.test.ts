import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, test } from 'node:test';
import { MusterError } from '../core/index.js';
import { silentLogger } from '../log/index.js';
import { advertiseAddress, detectAttributes, detectResources, diskReserveMiB, memReserveMiB, parseAttributes } from './detect.js';

describe('detect', () => {
  test('parseAttributes reads the Mesos syntax and the key=value syntax alike', () => {
    assert.deepEqual(parseAttributes('rack:r1;zone:a'), { rack: 'r1', zone: 'a' });
    assert.deepEqual(parseAttributes('rack=r1,zone=a'), { rack: 'r1', zone: 'a' });
    assert.deepEqual(parseAttributes(' rack = r1 ; '), { rack: 'r1' });
    assert.deepEqual(parseAttributes(''), {});
  });

  test('parseAttributes refuses malformed items with a message naming them', () => {
    assert.throws(() => parseAttributes('rack'), (e: unknown) => e instanceof MusterError && e.code === 'INVALID_ARGUMENT' && e.message.includes('"rack"'));
    assert.throws(() => parseAttributes('9rack:r1'), /name "9rack"/);
    assert.throws(() => parseAttributes('rack:'), /value "" of rack/);
    assert.throws(() => parseAttributes('rack:r 1'), /value "r 1"/);
    assert.throws(() => parseAttributes('rack:r1;rack:r2'), /"rack" is given twice/);
  });

  test('detectAttributes adds host, os and arch, and lets the flag override them', () => {
    assert.deepEqual(detectAttributes({ hostname: 'm1' }), { host: 'm1', os: 'linux', arch: process.arch });
    assert.deepEqual(detectAttributes({ hostname: 'm1', flag: 'rack:r1;os:ubuntu' }), {
      host: 'm1',
      os: 'ubuntu',
      arch: process.arch,
      rack: 'r1',
    });
  });

  test('the memory and disk reserves are capped and never more than a share of a small machine', () => {
    assert.equal(memReserveMiB(64 * 1024), 1024);
    assert.equal(memReserveMiB(1000), 500);
    assert.equal(diskReserveMiB(1024 * 1024), 5 * 1024);
    assert.equal(diskReserveMiB(1000), 100);
  });

  test('detectResources measures the machine and the --resources flag overrides what it names', async () => {
    const found = await detectResources({ workDir: os.tmpdir(), logger: silentLogger });
    assert.equal(found.cpusMilli, os.availableParallelism() * 1000);
    assert.ok(found.memMiB > 0 && found.memMiB < os.totalmem() / 1024 / 1024);
    assert.ok(found.diskMiB >= 0);
    assert.ok(found.gpus >= 0);
    assert.deepEqual(found.ports, [{ begin: 31000, end: 32000 }]);

    const flagged = await detectResources({ workDir: os.tmpdir(), flag: 'cpus:2.5;mem:1GiB;ports:[5000-5009]', logger: silentLogger });
    assert.equal(flagged.cpusMilli, 2500);
    assert.equal(flagged.memMiB, 1024);
    // Not named by the flag, so still measured (free space moves a little between the two calls).
    assert.ok(Math.abs(flagged.diskMiB - found.diskMiB) < 1024);
    assert.deepEqual(flagged.ports, [{ begin: 5000, end: 5009 }]);
  });

  test('detectResources refuses a bad --resources flag before probing anything', async () => {
    await assert.rejects(detectResources({ workDir: '/nonexistent', flag: 'cpu:2', logger: silentLogger }), /unknown resource "cpu"/);
  });

  test('advertiseAddress prefers the flag, then a specific listen address, then the hostname', () => {
    assert.equal(advertiseAddress({ advertiseAddress: '10.0.0.5', host: '127.0.0.1' }), '10.0.0.5');
    assert.equal(advertiseAddress({ host: '127.0.0.1' }), '127.0.0.1');
    assert.equal(advertiseAddress({ host: '0.0.0.0' }), os.hostname());
    assert.equal(advertiseAddress({ host: '::' }), os.hostname());
  });
});
