import assert from 'node:assert/strict';
import { test } from 'node:test';
import { taskInfo } from '../../test/fixtures.js';
import { gpuEnvironment, taskEnvironment } from './environment.js';

const options = { sandbox: '/work/sandboxes/t', host: 'agent.example', agentEnv: { PATH: '/usr/bin' } };

test('a task with whole GPUs sees exactly its devices in CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES', () => {
  const env = taskEnvironment(
    taskInfo({
      resources: { cpus: 1, mem: 16, disk: 0, gpus: 2, ports: '[]' },
      gpus: [
        { device: 0, milli: 1000 },
        { device: 2, milli: 1000 },
      ],
    }),
    { ...options, agentGpus: 4 },
  );
  assert.equal(env['CUDA_VISIBLE_DEVICES'], '0,2');
  assert.equal(env['NVIDIA_VISIBLE_DEVICES'], '0,2');
  assert.equal(env['MUSTER_GPU_SHARE'], undefined, 'whole GPUs are not a share');
});

test('a task with a share of one GPU sees that device and its share as a decimal', () => {
  const env = gpuEnvironment(taskInfo({ resources: { cpus: 1, mem: 16, disk: 0, gpus: 0.5, ports: '[]' }, gpus: [{ device: 3, milli: 500 }] }), 4);
  assert.deepEqual(env, { CUDA_VISIBLE_DEVICES: '3', NVIDIA_VISIBLE_DEVICES: '3', MUSTER_GPU_SHARE: '0.5' });
  assert.equal(gpuEnvironment(taskInfo({ gpus: [{ device: 0, milli: 125 }] }), 1)['MUSTER_GPU_SHARE'], '0.125');
});

test('a task without GPUs on an agent with GPUs has every device hidden', () => {
  const env = taskEnvironment(taskInfo(), { ...options, agentGpus: 2 });
  assert.equal(env['CUDA_VISIBLE_DEVICES'], '');
  assert.equal(env['NVIDIA_VISIBLE_DEVICES'], '');
  assert.equal(env['MUSTER_GPU_SHARE'], undefined);
});

test('a task on an agent without GPUs gets no GPU variables at all', () => {
  const env = taskEnvironment(taskInfo(), options);
  assert.equal('CUDA_VISIBLE_DEVICES' in env, false);
  assert.equal('NVIDIA_VISIBLE_DEVICES' in env, false);
  assert.deepEqual(gpuEnvironment(taskInfo(), 0), {});
});

test("a task's own env cannot widen the GPU devices it was given, but sets its other variables", () => {
  const env = taskEnvironment(
    taskInfo({ env: { CUDA_VISIBLE_DEVICES: '0,1,2,3', FOO: 'bar' }, gpus: [{ device: 1, milli: 1000 }] }),
    { ...options, agentGpus: 4 },
  );
  assert.equal(env['CUDA_VISIBLE_DEVICES'], '1');
  assert.equal(env['FOO'], 'bar');
  const hidden = taskEnvironment(taskInfo({ env: { CUDA_VISIBLE_DEVICES: '0' } }), { ...options, agentGpus: 4 });
  assert.equal(hidden['CUDA_VISIBLE_DEVICES'], '', 'a task without GPUs stays without them');
});
