// Task states and reasons are Mesos's, so that external frameworks and tools understand them.

export const TASK_STATES = [
  'TASK_STAGING',
  'TASK_STARTING',
  'TASK_RUNNING',
  'TASK_KILLING',
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_ERROR',
  'TASK_LOST',
  'TASK_DROPPED',
  'TASK_UNREACHABLE',
  'TASK_GONE',
  'TASK_UNKNOWN',
] as const;

export type TaskState = (typeof TASK_STATES)[number];

const TERMINAL: ReadonlySet<TaskState> = new Set<TaskState>([
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_ERROR',
  'TASK_LOST',
  'TASK_DROPPED',
  'TASK_GONE',
]);

/** isTerminal: the task will never run again. TASK_UNREACHABLE is not terminal: the agent may return. */
export function isTerminal(state: TaskState): boolean {
  return TERMINAL.has(state);
}

export function isTaskState(s: unknown): s is TaskState {
  return typeof s === 'string' && (TASK_STATES as readonly string[]).includes(s);
}

export const TASK_REASONS = [
  'REASON_COMMAND_EXITED',
  'REASON_COMMAND_SIGNALED',
  'REASON_TASK_KILLED',
  'REASON_TASK_KILLED_DURING_LAUNCH',
  'REASON_KILLED_BY_USER',
  'REASON_JOB_KILLED',
  'REASON_JOB_FAILED',
  'REASON_INSTANCE_RESTARTED',
  'REASON_AGENT_UNREACHABLE',
  'REASON_AGENT_RESTARTED',
  'REASON_AGENT_SHUTDOWN',
  'REASON_AGENT_REREGISTERED_UNKNOWN',
  'REASON_TASK_UNKNOWN',
  'REASON_RECONCILIATION',
  'REASON_LAUNCH_FAILED',
  'REASON_SANDBOX_FAILED',
  'REASON_INVALID_TASK',
  'REASON_CONTAINER_LIMITATION_MEMORY',
  'REASON_CONTAINER_LIMITATION_DISK',
  /** The container could not be prepared: its image is missing, cannot be pulled, or is not allowed. */
  'REASON_CONTAINER_PREPARE_FAILED',
  'REASON_HEALTH_CHECK_FAILED',
  'REASON_PREEMPTED',
  /** Killed to move off a host an operator is draining; its instance runs again elsewhere. */
  'REASON_AGENT_DRAINING',
  /** Its framework was torn down, or stayed away past its failover timeout. */
  'REASON_FRAMEWORK_REMOVED',
  /** Replaced by an update (or rolling restart): its instance runs again with the update's config. */
  'REASON_INSTANCE_UPDATED',
  /** Its instance was removed by an update or a scale-down. */
  'REASON_INSTANCE_REMOVED',
] as const;

export type TaskReason = (typeof TASK_REASONS)[number];

export function isTaskReason(s: unknown): s is TaskReason {
  return typeof s === 'string' && (TASK_REASONS as readonly string[]).includes(s);
}
