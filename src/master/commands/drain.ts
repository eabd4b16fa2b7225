// The drain decision: which service instances to move off hosts an operator is draining, as events.
// The scheduler already places nothing new on a draining host (jobs/input.ts marks its agents
// `draining`); this kills what still runs there, with restart, so each instance comes back elsewhere.
//
// It moves a service the way a rolling update would: at most update.batchSize of its instances are
// "in motion" at once, so that draining a host never takes more of a service down than its owner
// said it can lose. Batch jobs are left to finish where they are: killing them would only waste the
// work they have done, and nothing new lands on the host meanwhile. The drain controller
// (jobs/drain.ts) runs it inside the log's submit after each append.

import type { Decision } from '../eventlog.js';
import type { CellState, Event, JobRecord } from '../state/index.js';

/**
 * drainKills decides which service instances to move off draining hosts now: one KillRequested
 * (restart, REASON_AGENT_DRAINING) per service job that has instances there and room in its batch.
 * It is pure and idempotent: what it asked for counts as in motion the next time, so running it
 * again against the state it produced returns nothing.
 */
export function drainKills(state: CellState, at: number): Event[] {
  if (state.maintenance.size === 0) return [];
  // Only jobs with a task on a draining host need a look: find them through the agents, so that a
  // cell with thousands of jobs pays for the draining hosts only.
  const jobs = new Set<string>();
  for (const agent of state.agents.values()) {
    if (!state.maintenance.has(agent.hostname)) continue;
    for (const id of agent.taskIds) {
      const task = state.tasks.get(id);
      if (task !== undefined) jobs.add(task.job);
    }
  }
  const events: Event[] = [];
  for (const key of [...jobs].sort()) {
    const job = state.jobs.get(key);
    if (job === undefined || job.state !== 'ACTIVE' || job.spec.kind !== 'service') continue;
    const instances = instancesToMove(state, job);
    if (instances.length > 0) {
      events.push({ type: 'KillRequested', at, job: key, instances, restart: true, wholeJob: false, reason: 'REASON_AGENT_DRAINING' });
    }
  }
  return events;
}

/**
 * instancesToMove: the instances of one service to kill now. Those on a draining host that are
 * not running yet are in motion already, so moving them costs no room in the batch; running ones
 * are moved, lowest instance first, while fewer than batchSize instances are in motion.
 */
function instancesToMove(state: CellState, job: JobRecord): number[] {
  // Specs from before update.batchSize existed have none: they move one instance at a time.
  const batchSize = Math.max(1, (job.spec.update as { batchSize?: number } | undefined)?.batchSize ?? 1);
  let inMotion = 0;
  const free: number[] = [];
  const running: number[] = [];
  for (const inst of job.instances) {
    const moving = isInMotion(state, job, inst.instance);
    if (moving) inMotion++;
    if (inst.state !== 'ACTIVE' || inst.taskId === undefined) continue;
    const task = state.tasks.get(inst.taskId);
    if (task === undefined || task.kill !== undefined || task.state === 'TASK_UNREACHABLE') continue;
    const agent = state.agents.get(task.agentId);
    if (agent === undefined || !state.maintenance.has(agent.hostname)) continue;
    (moving ? free : running).push(inst.instance);
  }
  const room = Math.max(0, batchSize - inMotion);
  return [...free, ...running.slice(0, room)].sort((a, b) => a - b);
}

/**
 * isInMotion: the instance is not serving as it should, so a drain must wait for it. That is one
 * pending, one whose task has not reached TASK_RUNNING, one being killed to run again, and one
 * whose health check reported it unhealthy.
 */
function isInMotion(state: CellState, job: JobRecord, instance: number): boolean {
  const inst = job.instances[instance];
  if (inst === undefined) return false;
  if (inst.state === 'PENDING') return true;
  if (inst.state !== 'ACTIVE' || inst.taskId === undefined) return false;
  const task = state.tasks.get(inst.taskId);
  if (task === undefined) return true;
  if (task.kill !== undefined) return task.kill.restart;
  if (task.state !== 'TASK_RUNNING') return true;
  return job.spec.health !== undefined && task.healthy === false;
}

/** drainHosts is drainKills as a command: the events, and how many kills they ask for. */
export function drainHosts(state: CellState, now: number): Decision<number> {
  const events = drainKills(state, now);
  return { events, result: events.length };
}
