// The drain decision: which service instances to move off hosts an operator is draining, as events.
// The scheduler already places nothing new on a draining host (jobs/input.ts marks its agents
// `draining`); this kills what still runs there, with restart, so each instance comes back elsewhere.
//
// It moves a service the way a rolling update would: within the job's disruption budget
// (update.maxUnavailable, state/budget.ts), so that draining a host never takes more of a service
// down than its owner said it can lose, whatever else (an update, a crash) has taken down already. Batch jobs are left to finish where they are: killing them would only waste the
// work they have done, and nothing new lands on the host meanwhile. The drain controller
// (jobs/drain.ts) runs it inside the log's submit after each append.

import type { Decision } from '../eventlog.js';
import { budgetLeft, isInMotion, type CellState, type Event, type JobRecord } from '../state/index.js';

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
 * not running yet are in motion already, so moving them costs nothing; running ones are moved,
 * lowest instance first, while the job's disruption budget (maxUnavailable, shared with its
 * updates and preemption) has room.
 */
function instancesToMove(state: CellState, job: JobRecord): number[] {
  const free: number[] = [];
  const running: number[] = [];
  for (const inst of job.instances) {
    if (inst.state !== 'ACTIVE' || inst.taskId === undefined) continue;
    const task = state.tasks.get(inst.taskId);
    if (task === undefined || task.kill !== undefined || task.state === 'TASK_UNREACHABLE') continue;
    const agent = state.agents.get(task.agentId);
    if (agent === undefined || !state.maintenance.has(agent.hostname)) continue;
    (isInMotion(state, job, inst.instance) ? free : running).push(inst.instance);
  }
  const room = Math.max(0, budgetLeft(state, job));
  return [...free, ...running.slice(0, room)].sort((a, b) => a - b);
}

/** drainHosts is drainKills as a command: the events, and how many kills they ask for. */
export function drainHosts(state: CellState, now: number): Decision<number> {
  const events = drainKills(state, now);
  return { events, result: events.length };
}
