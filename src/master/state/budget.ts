// The disruption budget: how many of a job's instances may be down at once for a planned reason.
// Every planned disruption asks it before it acts (an update's or rolling restart's batch, a host
// drain, a preemption of preferred work) and waits when it is spent; an unplanned failure simply
// counts as down, so it uses the budget first.

import { updateSettings } from '../../core/index.js';
import type { CellState, JobRecord } from './state.js';
import { specAt } from './updates.js';

/**
 * isInMotion: the instance is not serving as it should: pending, its task not TASK_RUNNING yet,
 * being killed to run again, or not (or no longer) healthy where its version has a health check.
 */
export function isInMotion(state: CellState, job: JobRecord, instance: number): boolean {
  const inst = job.instances[instance];
  if (inst === undefined) return false;
  if (inst.state === 'PENDING') return true;
  if (inst.state !== 'ACTIVE' || inst.taskId === undefined) return false;
  const task = state.tasks.get(inst.taskId);
  if (task === undefined) return true;
  if (task.kill !== undefined) return task.kill.restart;
  if (task.state !== 'TASK_RUNNING') return true;
  // With a health check, a task serves once its check has passed, not merely once it runs.
  return specAt(job, task.version).health !== undefined && task.healthy !== true;
}

/**
 * maxUnavailable is the job's budget: its active update's settings while one runs (the update
 * says how the job changes), its own update block otherwise.
 */
export function maxUnavailable(state: CellState, job: JobRecord): number {
  const u = job.activeUpdate === undefined ? undefined : state.updates.get(job.activeUpdate);
  return u?.settings.maxUnavailable ?? updateSettings(job.spec).maxUnavailable;
}

/**
 * unavailable counts the job's instances that are down (in motion). Instances beyond the job's
 * declared count are new ones a scale-up adds: not yet serving, but no loss either.
 */
export function unavailable(state: CellState, job: JobRecord): number {
  let n = 0;
  const count = Math.min(job.instances.length, job.spec.instances);
  for (let i = 0; i < count; i++) if (isInMotion(state, job, i)) n++;
  return n;
}

/** budgetLeft: how many more of the job's serving instances a planned disruption may take down now. */
export function budgetLeft(state: CellState, job: JobRecord): number {
  return maxUnavailable(state, job) - unavailable(state, job);
}
