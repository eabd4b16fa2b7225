// apply folds one event into the cell state. It is deterministic: no clock, no randomness, no I/O.
// Times and ids come from the event. It mutates the state in place (the master holds one copy and
// replays millions of events on start; copying would be the bottleneck).
//
// Side effects are not performed here but left as data for the master to act on after the append:
// a task with `kill` set and not yet ended is one the master must (re)send KILL for; a pending
// instance whose notBefore has passed is one the job scheduler must place.

import { EMPTY, add, isTerminal, subtract, type TaskState } from '../../core/index.js';
import { batchTaskEnded } from '../jobs/batch.js';
import { serviceTaskEnded } from '../jobs/service.js';
import type { Event, LaunchedTask, StatusRecord } from './events.js';
import { KEPT_TASKS_PER_INSTANCE, type CellState, type JobRecord, type TaskRecord } from './state.js';

export function apply(state: CellState, event: Event): void {
  switch (event.type) {
    case 'AgentRegistered': {
      const a = event.agent;
      const known = state.agents.get(a.agentId);
      if (known === undefined) {
        state.agents.set(a.agentId, { ...a, registeredAt: event.at, reachable: true, used: EMPTY, taskIds: new Set() });
      } else {
        Object.assign(known, a, { reachable: true });
      }
      return;
    }
    case 'AgentUnreachable': {
      const agent = state.agents.get(event.agentId);
      if (agent === undefined) return;
      agent.reachable = false;
      for (const taskId of agent.taskIds) {
        const task = state.tasks.get(taskId);
        if (task === undefined || task.state === 'TASK_UNREACHABLE') continue;
        task.state = 'TASK_UNREACHABLE';
        task.reason = 'REASON_AGENT_UNREACHABLE';
        task.message = event.message;
        instanceLostTask(state, task, event.at, true);
      }
      return;
    }
    case 'JobCreated': {
      const old = state.jobs.get(event.spec.job);
      if (old !== undefined) removeJob(state, old);
      const job: JobRecord = { key: event.spec.job, spec: event.spec, state: 'ACTIVE', createdAt: event.at, instances: [] };
      for (let i = 0; i < event.spec.instances; i++) {
        job.instances.push({ instance: i, state: 'PENDING', previousTaskIds: [], runs: 0, failures: 0, notBefore: event.at });
      }
      state.jobs.set(job.key, job);
      return;
    }
    case 'TasksLaunched':
      for (const t of event.tasks) launch(state, t, event.at);
      return;
    case 'TaskStatusUpdated':
      updateStatus(state, event.status, event.at);
      return;
    case 'KillRequested': {
      const job = state.jobs.get(event.job);
      if (job === undefined) return;
      if (event.wholeJob && job.state === 'ACTIVE') job.state = 'KILLING';
      for (const i of event.instances) {
        const inst = job.instances[i];
        if (inst === undefined) continue;
        if (inst.state === 'PENDING') {
          if (event.restart && job.state === 'ACTIVE') {
            inst.notBefore = event.at;
            inst.failures = 0;
          } else {
            inst.state = 'KILLED';
          }
        } else if (inst.state === 'ACTIVE' && inst.taskId !== undefined) {
          const task = state.tasks.get(inst.taskId);
          if (task === undefined) continue;
          // A plain kill overrides an earlier restart; a restart never softens a kill.
          if (task.kill === undefined || (task.kill.restart && !event.restart)) {
            task.kill = { at: event.at, reason: event.reason, restart: event.restart };
            state.killing.add(task.taskId);
          }
          // A task on an unreachable agent cannot be asked now; its instance moves on and the
          // master kills the task if the agent ever returns.
          if (task.state === 'TASK_UNREACHABLE') instanceLostTask(state, task, event.at, true);
        }
      }
      if (job.state === 'FINISHED' || job.state === 'FAILED') {
        if (event.wholeJob) removeJob(state, job);
        return;
      }
      settleJob(state, job, event.at);
      return;
    }
    case 'QuotaSet':
      if (event.quota === undefined) state.quotas.delete(event.role);
      else state.quotas.set(event.role, { role: event.role, quota: { ...event.quota }, setAt: event.at });
      return;
  }
}

function launch(state: CellState, t: LaunchedTask, at: number): void {
  const job = state.jobs.get(t.job);
  const inst = job?.instances[t.instance];
  const agent = state.agents.get(t.agentId);
  if (job === undefined || inst === undefined || agent === undefined) return;
  if (inst.taskId !== undefined) {
    inst.previousTaskIds.push(inst.taskId);
    while (inst.previousTaskIds.length > KEPT_TASKS_PER_INSTANCE) {
      const dropped = inst.previousTaskIds.shift() as string;
      const old = state.tasks.get(dropped);
      if (old !== undefined && isTerminal(old.state)) state.tasks.delete(dropped);
    }
  }
  const task: TaskRecord = { ...t, state: 'TASK_STAGING', launchedAt: at };
  state.tasks.set(t.taskId, task);
  inst.state = 'ACTIVE';
  inst.taskId = t.taskId;
  inst.runs++;
  agent.used = add(agent.used, t.resources);
  agent.taskIds.add(t.taskId);
}

/** States in which a task ended through no fault of its own: its run is not counted as a failure. */
const LOST: ReadonlySet<TaskState> = new Set<TaskState>(['TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_UNREACHABLE']);

function updateStatus(state: CellState, s: StatusRecord, at: number): void {
  const task = state.tasks.get(s.taskId);
  if (task === undefined || isTerminal(task.state)) return;
  const wasUnreachable = task.state === 'TASK_UNREACHABLE';
  task.state = s.state;
  task.lastUuid = s.uuid;
  if (s.reason === undefined) delete task.reason;
  else task.reason = s.reason;
  if (s.message === undefined) delete task.message;
  else task.message = s.message;
  if (s.healthy !== undefined) task.healthy = s.healthy;
  if (s.state === 'TASK_RUNNING' && task.startedAt === undefined) task.startedAt = at;

  if (isTerminal(s.state)) {
    task.endedAt = at;
    state.killing.delete(task.taskId);
    const agent = state.agents.get(task.agentId);
    if (agent !== undefined && agent.taskIds.delete(task.taskId)) agent.used = subtract(agent.used, task.resources);
    if (!state.jobs.has(task.job)) {
      state.tasks.delete(task.taskId);
      return;
    }
    if (!wasUnreachable) instanceLostTask(state, task, at, LOST.has(s.state));
    return;
  }
  if (wasUnreachable) {
    // The agent came back with the task still running. If its instance has not been placed again
    // meanwhile, the instance simply has its task back (no second copy is ever started).
    const job = state.jobs.get(task.job);
    const inst = job?.instances[task.instance];
    if (job?.state === 'ACTIVE' && inst?.state === 'PENDING' && inst.taskId === task.taskId && task.kill === undefined) {
      inst.state = 'ACTIVE';
    }
  }
}

/**
 * instanceLostTask: the current task of an instance stopped running (ended, or lost with its
 * agent). Decide what the instance does next, then whether the job has ended.
 */
function instanceLostTask(state: CellState, task: TaskRecord, at: number, lost: boolean): void {
  const job = state.jobs.get(task.job);
  const inst = job?.instances[task.instance];
  if (job === undefined || inst === undefined || inst.taskId !== task.taskId || inst.state !== 'ACTIVE') return;
  const end = { at, startedAt: task.startedAt, lost };
  if (task.kill !== undefined) {
    if (task.kill.restart && job.state === 'ACTIVE') {
      inst.state = 'PENDING';
      inst.notBefore = at;
      inst.failures = 0;
    } else {
      inst.state = 'KILLED';
    }
  } else if (job.state !== 'ACTIVE') {
    inst.state = 'KILLED';
  } else if (job.spec.kind === 'service') {
    const next = serviceTaskEnded(job.spec, inst.failures, end);
    inst.state = next.state;
    inst.notBefore = next.notBefore;
    inst.failures = next.failures;
  } else {
    const next = batchTaskEnded(job.spec, inst.failures, { ...end, succeeded: task.state === 'TASK_FINISHED' });
    inst.state = next.state;
    if (next.state === 'PENDING') {
      inst.notBefore = next.notBefore;
      inst.failures = next.failures;
    } else if (next.state === 'FAILED') {
      inst.failures = next.failures;
      failJob(state, job, at);
    }
  }
  settleJob(state, job, at);
}

/** failJob: one instance of a batch job used up its retries, so the job has failed: stop the rest. */
function failJob(state: CellState, job: JobRecord, at: number): void {
  job.state = 'FAILED';
  job.endedAt = at;
  for (const inst of job.instances) {
    if (inst.state === 'PENDING') inst.state = 'KILLED';
    else if (inst.state === 'ACTIVE' && inst.taskId !== undefined) {
      const task = state.tasks.get(inst.taskId);
      if (task !== undefined && task.kill === undefined) {
        task.kill = { at, reason: 'REASON_JOB_FAILED', restart: false };
        state.killing.add(task.taskId);
      }
    }
  }
}

/**
 * settleJob ends a job once none of its instances is pending or active: a KILLING job (or one whose
 * every instance was killed) is removed; a batch job is FINISHED, or FAILED if an instance failed.
 */
function settleJob(state: CellState, job: JobRecord, at: number): void {
  for (const inst of job.instances) if (inst.state === 'PENDING' || inst.state === 'ACTIVE') return;
  if (job.state === 'KILLING' || job.instances.every((i) => i.state === 'KILLED')) {
    removeJob(state, job);
    return;
  }
  if (job.state === 'ACTIVE') {
    job.state = job.instances.some((i) => i.state === 'FAILED') ? 'FAILED' : 'FINISHED';
    job.endedAt = at;
  }
}

/** removeJob forgets a job and its ended tasks; a task still alive is forgotten once it ends. */
function removeJob(state: CellState, job: JobRecord): void {
  state.jobs.delete(job.key);
  for (const inst of job.instances) {
    for (const id of inst.taskId === undefined ? inst.previousTaskIds : [...inst.previousTaskIds, inst.taskId]) {
      const task = state.tasks.get(id);
      if (task !== undefined && isTerminal(task.state)) state.tasks.delete(id);
    }
  }
}
