import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { MusterError } from '../core/index.js';
import { silentLogger } from '../log/index.js';
import { advertiseAddress, countGpus, detectAttributes, detectResources, diskReserveMiB, memReserveMiB, parseAttributes } from './detect.js';

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

  describe('GPUs', () => {
    // Each test gets a directory holding a fake PATH (bin, empty unless a test writes a fake
    // nvidia-smi there) and a fake /dev.
    let dir: string;
    let bin: string;
    let dev: string;
    beforeEach(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'muster-detect-'));
      bin = path.join(dir, 'bin');
      dev = path.join(dir, 'dev');
      mkdirSync(bin);
      mkdirSync(dev);
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    /** fakeNvidiaSmi writes a fake nvidia-smi that prints lines (no single quotes) and exits with code. */
    const fakeNvidiaSmi = (lines: string[], code = 0): void => {
      const file = path.join(bin, 'nvidia-smi');
      // Only shell builtins: the fake PATH holds nothing else.
      writeFileSync(file, `#!/bin/sh\nprintf '%s\\n' ${lines.map((l) => `'${l}'`).join(' ')}\nexit ${code}\n`);
      chmodSync(file, 0o755);
    };
    const devices = (...names: string[]): void => {
      for (const name of names) writeFileSync(path.join(dev, name), '');
    };

    test('countGpus counts the GPUs nvidia-smi lists, not their MIG slices', async () => {
      fakeNvidiaSmi([
        'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaaa)',
        '  MIG 1g.10gb     Device  0: (UUID: MIG-bbbb)',
        'GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-cccc)',
      ]);
      devices('nvidia0', 'nvidia1', 'nvidia2');
      assert.equal(await countGpus(silentLogger, { path: bin, devDir: dev }), 2, 'nvidia-smi wins over the device files');
    });

    test('countGpus counts /dev/nvidiaN device files when nvidia-smi is missing', async () => {
      devices('nvidia0', 'nvidia1', 'nvidia7', 'nvidiactl', 'nvidia-uvm', 'nvidia-modeset', 'null');
      assert.equal(await countGpus(silentLogger, { path: bin, devDir: dev }), 3);
    });

    test('countGpus finds none without nvidia-smi or device files, and none when nvidia-smi fails', async () => {
      assert.equal(await countGpus(silentLogger, { path: bin, devDir: dev }), 0);
      assert.equal(await countGpus(silentLogger, { path: bin, devDir: path.join(dir, 'missing') }), 0);
      fakeNvidiaSmi(['NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'], 9);
      devices('nvidia0');
      assert.equal(await countGpus(silentLogger, { path: bin, devDir: dev }), 0, 'a broken driver offers no GPUs');
    });

    test('countGpus offers at most 64 GPUs however many it finds', async () => {
      devices(...Array.from({ length: 70 }, (_, i) => `nvidia${i}`));
      assert.equal(await countGpus(silentLogger, { path: bin, devDir: dev }), 64);
    });

    test('the --resources flag overrides the GPUs detected, in whole devices', async () => {
      const flagged = await detectResources({ workDir: os.tmpdir(), flag: 'gpus:3', logger: silentLogger });
      assert.equal(flagged.gpus, 3);
      await assert.rejects(detectResources({ workDir: os.tmpdir(), flag: 'gpus:0.5', logger: silentLogger }), /whole number of devices from 0 to 64/);
      await assert.rejects(detectResources({ workDir: os.tmpdir(), flag: 'gpus:65', logger: silentLogger }), /from 0 to 64/);
    });
  });
});
