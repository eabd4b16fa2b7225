// The environment a task's processes see. It starts nearly empty, not from the agent's own
// environment: a task must not inherit the agent's secrets or depend on how the agent was started.

import path from 'node:path';
import type { TaskInfo } from '../protocol/index.js';

/** AGENT_VARIABLES are passed from the agent to tasks, when the agent has them. */
const AGENT_VARIABLES = ['PATH', 'LANG', 'TZ'] as const;

/** taskEnvironment builds the variables of a task's processes; the task's own env comes last and wins. */
export function taskEnvironment(
  task: TaskInfo,
  options: { sandbox: string; host: string; agentEnv?: NodeJS.ProcessEnv },
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
  return { ...env, ...task.env };
}
