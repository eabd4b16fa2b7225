// The drain controller moves service instances off hosts an operator is draining. The scheduler
// already places nothing new on a draining host (input.ts marks its agents `draining`); this
// controller kills what still runs there, with restart, so that each instance comes back elsewhere.
//
// It moves a service the way a rolling update would: at most update.batchSize of its instances are
// "in motion" at once, so that draining a host never takes more of a service down than its owner
// said it can lose. Batch jobs are left to finish where they are: killing them would only waste the
// work they have done, and nothing new lands on the host meanwhile.

import type { Logger } from '../../log/index.js';
import type { EventLog } from '../eventlog.js';
import type { CellState, Event, JobRecord } from '../state/index.js';

/** DRAIN_INTERVAL_MS: how often the controller looks again without an append (a backoff ending, a health check turning). */
export const DRAIN_INTERVAL_MS = 1000;

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

/** DrainController is the running drain loop; close stops it. */
export interface DrainController {
  close(): void;
}

/**
 * startDrainController runs drainKills inside log.submit after each append (coalesced, so a burst
 * of status updates costs one look) and every DRAIN_INTERVAL_MS. Deciding inside submit means it
 * decides against the state as it is, never twice for the same kill; and since it emits only when
 * there is something to kill, its own events lead to one more look that finds nothing.
 */
export function startDrainController(log: EventLog, logger: Logger): DrainController {
  let scheduled = false;
  let closed = false;
  const run = (): void => {
    scheduled = false;
    if (closed || log.state.maintenance.size === 0) return;
    log
      .submit((state, now) => {
        const events = drainKills(state, now);
        return { events, result: events.length };
      })
      .catch((e: unknown) => {
        // The log refuses commands only when it is failing, and then the master restarts.
        logger.warn('drain controller could not move instances', { error: e instanceof Error ? e.message : String(e) });
      });
  };
  const kick = (): void => {
    if (scheduled || closed) return;
    scheduled = true;
    setImmediate(run);
  };
  const stopListening = log.onAppended(kick);
  const timer = setInterval(kick, DRAIN_INTERVAL_MS);
  timer.unref();
  kick();
  return {
    close(): void {
      closed = true;
      stopListening();
      clearInterval(timer);
    },
  };
}
