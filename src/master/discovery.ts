// Service discovery reads the cell state the master (or a following standby) holds: which
// instances of a job a client may be sent to now. The DNS server and the endpoints API both ask
// here, so that a name and the API never disagree. An instance is ready when its task runs, is
// healthy where its job has a health check, is not being killed, and its agent is reachable and
// not draining: a draining host's instances leave the answers before they are killed, and an
// unhealthy one the moment its check fails, not a TTL or a poll later.

import { isTerminal, type TaskState } from '../core/index.js';
import type { AgentRecord, CellState, JobRecord, TaskRecord } from './state/index.js';

/** Endpoint is one instance of a job with a live task, and whether it is ready for traffic. */
export interface Endpoint {
  instance: number;
  taskId: string;
  agentId: string;
  /** The agent's hostname. */
  host: string;
  /** The address the agent advertises (an IP, or a name). */
  address: string;
  /** The task's ports by the job's names for them. */
  ports: Record<string, number>;
  state: TaskState;
  /** The task's health; absent when the job has no health check (or none has run yet). */
  healthy?: boolean;
  /** Running, healthy where checked, not being killed, on a reachable agent that is not draining. */
  ready: boolean;
  /** Why it is not ready, for a person ("unhealthy", "draining", ...). */
  why?: string;
}

/** endpointsOf lists every instance of a job that has a live task, in instance order. */
export function endpointsOf(state: CellState, job: JobRecord): Endpoint[] {
  const out: Endpoint[] = [];
  const checked = job.spec.health !== undefined;
  for (const inst of job.instances) {
    const taskId = inst.taskId;
    if (taskId === undefined) continue;
    const task = state.tasks.get(taskId);
    if (task === undefined || isTerminal(task.state)) continue;
    const agent = state.agents.get(task.agentId);
    out.push(endpointOf(state, task, agent, checked));
  }
  return out;
}

/** endpointOf describes one live task as an endpoint. */
export function endpointOf(state: CellState, task: TaskRecord, agent: AgentRecord | undefined, checked: boolean): Endpoint {
  const why = notReady(state, task, agent, checked);
  const e: Endpoint = {
    instance: task.instance,
    taskId: task.taskId,
    agentId: task.agentId,
    host: agent?.hostname ?? '',
    address: agent?.address ?? '',
    ports: { ...task.ports },
    state: task.state,
    ready: why === undefined,
  };
  if (task.healthy !== undefined) e.healthy = task.healthy;
  if (why !== undefined) e.why = why;
  return e;
}

function notReady(state: CellState, task: TaskRecord, agent: AgentRecord | undefined, checked: boolean): string | undefined {
  if (task.state !== 'TASK_RUNNING') return task.state === 'TASK_UNREACHABLE' ? 'its agent is unreachable' : `it is ${task.state}`;
  if (task.kill !== undefined) return 'it is being killed';
  if (checked && task.healthy !== true) return task.healthy === false ? 'it is unhealthy' : 'its health check has not passed yet';
  if (agent === undefined || !agent.reachable) return 'its agent is unreachable';
  if (state.maintenance.get(agent.hostname)?.mode === 'DRAINING') return `its host ${agent.hostname} is draining`;
  return undefined;
}

/** readyEndpoints: the endpoints a client may be sent to now. */
export function readyEndpoints(state: CellState, job: JobRecord): Endpoint[] {
  return endpointsOf(state, job).filter((e) => e.ready);
}

/** liveJob finds a job that may have endpoints by its parts, or undefined (unknown, or killed). */
export function liveJob(state: CellState, role: string, env: string, name: string): JobRecord | undefined {
  const job = state.jobs.get(`${role}/${env}/${name}`);
  return job !== undefined && job.state !== 'KILLED' ? job : undefined;
}
