import assert from 'node:assert/strict';
import { test } from 'node:test';
import { taskInfo } from '../../test/fixtures.js';
import { containerSchema } from '../core/index.js';
import { containerEnvironment, gpuEnvironment, taskEnvironment } from './environment.js';

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

/** dockerTask is the fixture task in a container of the given docker fields, ports http then admin. */
function dockerTask(docker: Record<string, unknown> = {}, overrides: Parameters<typeof taskInfo>[0] = {}): ReturnType<typeof taskInfo> {
  return taskInfo({
    ports: { http: 31000, admin: 31001 },
    container: containerSchema.parse({ docker: { image: 'busybox', ...docker } }),
    ...overrides,
  });
}

test('a container sees its sandbox at /mnt/mesos/sandbox, as MESOS_SANDBOX and MUSTER_SANDBOX', () => {
  const env = containerEnvironment(dockerTask(), { host: 'agent.example' });
  assert.equal(env['MESOS_SANDBOX'], '/mnt/mesos/sandbox');
  assert.equal(env['MUSTER_SANDBOX'], '/mnt/mesos/sandbox');
  assert.equal(env['MUSTER_TASK_ID'], 'web-prod-hello-0-abc');
  assert.equal(env['MUSTER_JOB'], 'web/prod/hello');
  assert.equal(env['MUSTER_INSTANCE'], '0');
  assert.equal(env['MUSTER_ROLE'], 'web');
  assert.equal(env['HOST'], 'agent.example');
});

test("a container gets none of the agent's PATH, HOME or TMPDIR: the image's own stay", () => {
  const env = containerEnvironment(dockerTask(), { host: 'agent.example' });
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'USER', 'PWD']) assert.equal(name in env, false, name);
  // Nothing else of the agent's environment rides along either.
  for (const name of Object.keys(process.env)) {
    if (!/^(MUSTER_|MESOS_SANDBOX$|HOST$|PORT)/.test(name)) assert.equal(name in env, false, name);
  }
});

test('on a bridge network PORT_<NAME> is the container port and HOST_PORT_<NAME> the host port', () => {
  const env = containerEnvironment(dockerTask({ network: 'bridge', portMappings: { http: 8080 } }), { host: 'agent.example' });
  assert.equal(env['PORT_HTTP'], '8080');
  assert.equal(env['HOST_PORT_HTTP'], '31000');
  assert.equal(env['PORT0'], '8080');
  assert.equal(env['PORT'], '8080');
  // A port without a mapping listens inside on the same number the host gives it.
  assert.equal(env['PORT_ADMIN'], '31001');
  assert.equal(env['HOST_PORT_ADMIN'], '31001');
  assert.equal(env['PORT1'], '31001');
});

test('on the host network the ports are the host ports', () => {
  for (const network of ['host', undefined]) {
    const env = containerEnvironment(dockerTask(network === undefined ? {} : { network }), { host: 'agent.example' });
    assert.equal(env['PORT_HTTP'], '31000', String(network));
    assert.equal(env['HOST_PORT_HTTP'], '31000', String(network));
    assert.equal(env['PORT'], '31000', String(network));
    assert.equal(env['PORT_ADMIN'], '31001', String(network));
  }
  // A mapping only means something on a bridge: elsewhere the host's port is where to listen.
  const task = dockerTask();
  if (task.container !== undefined) task.container.docker.portMappings = { http: 8080 };
  assert.equal(containerEnvironment(task, { host: 'agent.example' })['PORT_HTTP'], '31000');
});

test('a container without ports gets no port variables', () => {
  const env = containerEnvironment(dockerTask({ network: 'none' }, { ports: {} }), { host: 'agent.example' });
  assert.deepEqual(
    Object.keys(env).filter((k) => k.includes('PORT')),
    [],
  );
});

test("a container's own env sets its variables and wins over Muster's, but cannot widen its GPU devices", () => {
  const env = containerEnvironment(
    dockerTask({}, { env: { FOO: 'bar', PATH: '/opt/app/bin:/usr/bin', HOST: 'custom', CUDA_VISIBLE_DEVICES: '0,1,2,3' }, gpus: [{ device: 1, milli: 1000 }] }),
    { host: 'agent.example', agentGpus: 4 },
  );
  assert.equal(env['FOO'], 'bar');
  assert.equal(env['PATH'], '/opt/app/bin:/usr/bin', "the task's own PATH does reach the container");
  assert.equal(env['HOST'], 'custom');
  assert.equal(env['CUDA_VISIBLE_DEVICES'], '1');
  assert.equal(env['NVIDIA_VISIBLE_DEVICES'], '1');
  const hidden = containerEnvironment(dockerTask({}, { env: { NVIDIA_VISIBLE_DEVICES: 'all' } }), { host: 'agent.example', agentGpus: 4 });
  assert.equal(hidden['NVIDIA_VISIBLE_DEVICES'], '', 'a container without GPUs stays without them');
  assert.equal(hidden['CUDA_VISIBLE_DEVICES'], '');
  const noGpus = containerEnvironment(dockerTask(), { host: 'agent.example' });
  assert.equal('CUDA_VISIBLE_DEVICES' in noGpus, false, 'an agent without GPUs sets no GPU variables');
  assert.equal('NVIDIA_VISIBLE_DEVICES' in noGpus, false);
});

test('a container with a share of one GPU sees that device and its share', () => {
  const env = containerEnvironment(
    dockerTask({}, { resources: { cpus: 1, mem: 16, disk: 0, gpus: 0.5, ports: '[31000-31001]' }, gpus: [{ device: 3, milli: 500 }] }),
    { host: 'agent.example', agentGpus: 4 },
  );
  assert.equal(env['NVIDIA_VISIBLE_DEVICES'], '3');
  assert.equal(env['MUSTER_GPU_SHARE'], '0.5');
});
