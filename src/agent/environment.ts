// The environment a task's processes see. It starts nearly empty, not from the agent's own
// environment: a task must not inherit the agent's secrets or depend on how the agent was started.

import path from 'node:path';
import { CONTAINER_SANDBOX } from '../core/index.js';
import type { TaskInfo } from '../protocol/index.js';

/** GPU_MILLI is one whole GPU device in the milli of TaskInfo.gpus. */
const GPU_MILLI = 1000;

/** AGENT_VARIABLES are passed from the agent to tasks, when the agent has them. */
const AGENT_VARIABLES = ['PATH', 'LANG', 'TZ'] as const;

/** GPU_VARIABLES name the devices a task may use: CUDA's own, and the NVIDIA container runtime's. */
const GPU_VARIABLES = ['CUDA_VISIBLE_DEVICES', 'NVIDIA_VISIBLE_DEVICES'] as const;

/**
 * taskEnvironment builds the variables of a task's processes; the task's own env comes after
 * Muster's and wins, except for the GPU variables (see gpuEnvironment). agentGpus is how many GPU
 * devices the agent offers (absent: none).
 */
export function taskEnvironment(
  task: TaskInfo,
  options: { sandbox: string; host: string; agentEnv?: NodeJS.ProcessEnv; agentGpus?: number },
): Record<string, string> {
  const agentEnv = options.agentEnv ?? process.env;
  const env: Record<string, string> = {};
  for (const name of AGENT_VARIABLES) {
    const value = agentEnv[name];
    if (value !== undefined) env[name] = value;
  }
  env['PATH'] ??= '/usr/local/bin:/usr/bin:/bin';
  env['HOME'] = options.sandbox;
  env['TMPDIR'] = path.join(options.sandbox, 'tmp');
  env['MUSTER_TASK_ID'] = task.taskId;
  env['MUSTER_INSTANCE'] = String(task.instance);
  env['MUSTER_JOB'] = task.job;
  env['MUSTER_ROLE'] = task.role;
  env['MUSTER_SANDBOX'] = options.sandbox;
  env['HOST'] = options.host;
  // Object.keys keeps insertion order, which is the order the job named its ports in.
  Object.keys(task.ports).forEach((name, i) => {
    const port = String(task.ports[name]);
    env[`PORT_${name.toUpperCase()}`] = port;
    env[`PORT${i}`] = port;
  });
  if (env['PORT0'] !== undefined) env['PORT'] = env['PORT0'];
  // The GPU variables come after the task's own: a job that named other devices would run on GPUs
  // the master gave to other tasks, which is what these variables are there to prevent.
  return { ...env, ...task.env, ...gpuEnvironment(task, options.agentGpus ?? 0) };
}

/**
 * containerEnvironment builds the variables of a docker task's container. The image's own PATH,
 * HOME and the like stay (the Engine merges these over the image's ENV, so the agent's must not
 * be passed). The sandbox is where the container sees it, /mnt/mesos/sandbox, also as
 * MESOS_SANDBOX, as Mesos sets it. PORT_<NAME> is the port to listen on inside the container: on a
 * bridge network, the job's portMappings (or the same number); HOST_PORT_<NAME> is the agent's port
 * the world reaches it at.
 */
export function containerEnvironment(task: TaskInfo, options: { host: string; agentGpus?: number }): Record<string, string> {
  const docker = task.container?.docker;
  const env: Record<string, string> = {
    MUSTER_TASK_ID: task.taskId,
    MUSTER_INSTANCE: String(task.instance),
    MUSTER_JOB: task.job,
    MUSTER_ROLE: task.role,
    MUSTER_SANDBOX: CONTAINER_SANDBOX,
    MESOS_SANDBOX: CONTAINER_SANDBOX,
    HOST: options.host,
  };
  Object.keys(task.ports).forEach((name, i) => {
    const hostPort = task.ports[name] as number;
    const inside = String(docker?.network === 'bridge' ? (docker.portMappings[name] ?? hostPort) : hostPort);
    env[`PORT_${name.toUpperCase()}`] = inside;
    env[`HOST_PORT_${name.toUpperCase()}`] = String(hostPort);
    env[`PORT${i}`] = inside;
  });
  if (env['PORT0'] !== undefined) env['PORT'] = env['PORT0'];
  return { ...env, ...task.env, ...gpuEnvironment(task, options.agentGpus ?? 0) };
}

/**
 * gpuEnvironment is the GPU variables of a task: CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES
 * list its devices ("0,2"), and MUSTER_GPU_SHARE is the share of its one device ("0.5") when it
 * holds less than a whole one. A task without GPUs on an agent with GPUs gets an empty device list,
 * which hides them all (as Mesos does); on an agent without GPUs nothing is set, as there is
 * nothing to hide and an empty CUDA_VISIBLE_DEVICES would only confuse a program that reads it.
 */
export function gpuEnvironment(task: TaskInfo, agentGpus: number): Record<string, string> {
  const gpus = task.gpus ?? [];
  const env: Record<string, string> = {};
  if (gpus.length === 0 && agentGpus <= 0) return env;
  const devices = gpus.map((g) => String(g.device)).join(',');
  for (const name of GPU_VARIABLES) env[name] = devices;
  const only = gpus.length === 1 ? gpus[0] : undefined;
  if (only !== undefined && only.milli < GPU_MILLI) env['MUSTER_GPU_SHARE'] = String(only.milli / GPU_MILLI);
  return env;
}
