// Events are the master's log. Every durable fact about the cell is one of these, and the cell state
// is apply() folded over them. Each event carries its own time (`at`, ms since epoch) and every id
// it introduces, so that replaying the log — after a restart, on a standby, in the simulator —
// rebuilds the same state byte for byte.

import type { JobSpec, Resources, TaskReason, UpdateSettings } from '../../core/index.js';
import type { InstanceAction, TaskStatus, TokenView, UpdateKind, UpdateStatus } from '../../protocol/index.js';
import type { InstanceChange } from './updates.js';
import type { OwedFires } from '../../core/index.js';
import type { RunSkip, RunStart } from './runs.js';
import type { GpuShare } from '../../scheduler/index.js';

/** AgentRecordInfo is what an agent registered with: its identity, address and resources. */
export interface AgentRegistration {
  agentId: string;
  hostname: string;
  address: string;
  port: number;
  resources: Resources;
  attributes: Record<string, string>;
  version: string;
  /** How the agent isolates tasks, as it described it (absent from agents before 0.2). */
  isolation?: string;
  /**
   * The sha-256 of the agent's own credential, issued when it joined a cell with authentication:
   * from then on only a call bearing it speaks for this agent id. Absent: issued none (yet).
   */
  credentialHash?: string;
}

/**
 * FrameworkRegistration is what a framework subscribed with (Mesos's FrameworkInfo, the fields the
 * master acts on). The built-in framework "muster" is not registered: it is always there.
 */
export interface FrameworkRegistration {
  frameworkId: string;
  name: string;
  user: string;
  /** The roles it takes offers for; its tasks run as the first. */
  roles: string[];
  principal?: string;
  hostname?: string;
  webuiUrl?: string;
  /** How long its tasks keep running once it has disconnected, before they are killed. */
  failoverTimeoutSecs: number;
  checkpoint: boolean;
  capabilities: string[];
}

/** FrameworkLaunch is what an external framework's task runs: its command, as the agent runs it. */
export interface FrameworkLaunch {
  /** The framework's own name for the task. */
  name: string;
  /** The framework's task id (unique within the framework); taskId is the master's, safe for paths. */
  externalId: string;
  /** A shell command line. */
  cmd: string;
  env: Record<string, string>;
  killGraceSecs: number;
}

/**
 * LaunchedTask is one placement a framework's accept committed. A task of the built-in framework
 * belongs to a job's instance; an external framework's task has frameworkId and launch, and a job
 * key made for it (ROLE/framework/FRAMEWORK_ID, instance 0) that names no job.
 */
export interface LaunchedTask {
  taskId: string;
  job: string;
  instance: number;
  /** The framework whose task it is; absent: the built-in framework "muster". */
  frameworkId?: string;
  launch?: FrameworkLaunch;
  agentId: string;
  /** What the task consumes on its agent, its ports included. */
  resources: Resources;
  ports: Record<string, number>;
  /** The GPU devices it holds on its agent (absent: none). */
  gpus?: GpuShare[];
  /** It runs on revocable resources: its cpus and mem are held in the agent's slack. */
  revocable?: boolean;
}

/** PreemptionRecord: victims killed so that a pending instance fits on an agent once they end. */
export interface PreemptionRecord {
  /** The pending instance they make room for. */
  job: string;
  instance: number;
  agentId: string;
  victims: string[];
}

/**
 * InstanceOutcome is what the job's controller decided for an instance whose task stopped running
 * (service: run again, maybe after a backoff; batch: run again, finished, or failed and with it the
 * job). The command that records the end decides it and writes it in the event, so that apply only
 * folds it and every master, whatever its policy code, rebuilds the same state from the same log.
 */
export type InstanceOutcome =
  | { state: 'PENDING'; notBefore: number; failures: number }
  | { state: 'FINISHED' }
  | { state: 'FAILED'; failures: number };

/** HostMode is an operator's maintenance mode for a host; a host with none is ACTIVE. */
export type HostMode = 'ACTIVE' | 'DRAINING';

/** StatusRecord is a task status as recorded: the agent's update, or one the master made itself. */
export type StatusRecord = TaskStatus;

/**
 * RoleQuota is what a role's preferred-tier jobs may hold in all, in exact units (milli-cores,
 * MiB, GPUs exact to the milli). A resource left out is not limited.
 */
export interface RoleQuota {
  cpusMilli?: number;
  memMiB?: number;
  diskMiB?: number;
  gpus?: number;
}

/**
 * TokenRecord is an access token as the log holds it: the sha-256 of its secret, never the secret,
 * so that the log (and every standby following it) can check a token without being able to use one.
 */
export interface TokenRecord extends TokenView {
  /** Hex sha-256 of the secret. */
  secretHash: string;
}

/** PolicyGrant gives actions (or "*") on roles (or "*"). */
export interface PolicyGrant {
  actions: string[];
  roles: string[];
}

/** PolicyRecord is a named set of grants that tokens are given by name. */
export interface PolicyRecord {
  name: string;
  description?: string;
  grants: PolicyGrant[];
  setAt: number;
}

/**
 * UpdateStart is an update as it starts: its scope in forward order (each instance with what is
 * done to it and the version it ran), the new config (absent for a rolling restart, which runs the
 * same version again) and its settings resolved.
 */
export interface UpdateStart {
  id: string;
  job: string;
  kind: UpdateKind;
  from: number;
  to: number;
  spec?: JobSpec;
  instanceCount: number;
  settings: UpdateSettings;
  instances: { instance: number; change: InstanceChange; initial?: number }[];
  /** Instances outside the work whose config the new version leaves as it is: they run it from now on. */
  relabel: number[];
  message?: string;
}

/** UpdateAction is one step an update took for one instance. */
export interface UpdateAction {
  instance: number;
  action: InstanceAction;
  message?: string;
}

/** Attribution is who caused an event: the principal of the call (a token's name), absent for the master's own. */
export interface Attribution {
  by?: string;
}

export type Event = EventBody & Attribution;

export type EventBody =
  /** An agent subscribed for the first time or again: its facts replace the old ones, it is reachable. */
  | { type: 'AgentRegistered'; at: number; agent: AgentRegistration }
  /** An agent was silent past the agent timeout: its tasks are unreachable and their instances pending. */
  | {
      type: 'AgentUnreachable';
      at: number;
      agentId: string;
      message: string;
      /** What became of each lost task's instance, by task id (absent from logs written before outcomes were recorded). */
      outcomes?: Record<string, InstanceOutcome>;
      /**
       * Tasks whose instances wait for the agent (their job's unreachable.replaceAfterSecs): they
       * stay their instances' tasks until UnreachableReplaced, or the agent's return. Absent from
       * logs written before the policy existed, when every instance moved on at once.
       */
      waiting?: string[];
    }
  /** Unreachable tasks waited out their jobs' replaceAfterSecs: their instances move on (outcomes by task id). */
  | { type: 'UnreachableReplaced'; at: number; outcomes: Record<string, InstanceOutcome> }
  | { type: 'JobCreated'; at: number; spec: JobSpec }
  /** The job scheduler placed tasks; one event for a whole pass keeps the log compact. */
  | { type: 'TasksLaunched'; at: number; tasks: LaunchedTask[] }
  /**
   * outcome: what became of the task's instance when this status ended it (absent: it did not, or an
   * older log). guess: the status is the master's own guess (TASK_LOST for a task its agent did not
   * report); corrects: the agent's real end replaces such a guess. returned: the task was replaced
   * while its agent was away and is heard of again: 'reclaim', it is its instance's task again (the
   * replacement, if launched, is killed); 'surplus', it is the copy killed (see UnreachablePolicy).
   */
  | {
      type: 'TaskStatusUpdated';
      at: number;
      status: StatusRecord;
      outcome?: InstanceOutcome;
      guess?: true;
      corrects?: true;
      returned?: 'reclaim' | 'surplus';
    }
  /**
   * A user (or the master itself) asked to stop instances. With restart, each comes back as a new
   * task; without, the instances stay killed. wholeJob marks the job KILLING so it is removed once
   * its last task has ended.
   */
  | {
      type: 'KillRequested';
      at: number;
      job: string;
      instances: number[];
      restart: boolean;
      wholeJob: boolean;
      reason: TaskReason;
      /** Why, for a person, where the reason does not say it (a run replaced by the next): the job's end reason. */
      message?: string;
    }
  /**
   * The scheduler preempted tasks: each victim is killed with REASON_PREEMPTED and its instance
   * goes back to pending, marked preempted (it may not preempt in turn: no cascades). reclaimed are
   * revocable tasks killed because the slack they ran on was taken back.
   */
  | { type: 'TasksPreempted'; at: number; preemptions: PreemptionRecord[]; reclaimed: string[] }
  /** An operator drained or activated hosts (by hostname): a DRAINING host gets no new tasks. */
  | { type: 'HostMaintenance'; at: number; hostnames: string[]; mode: HostMode }
  /** An operator set a role's quota, replacing the old one; without quota, the role's quota is removed (unlimited). */
  | { type: 'QuotaSet'; at: number; role: string; quota?: RoleQuota }
  /** A framework subscribed, first or again (its info replaces the old one). */
  | { type: 'FrameworkRegistered'; at: number; framework: FrameworkRegistration }
  /** A framework was torn down, or stayed away past its failover timeout: its tasks are killed. */
  | { type: 'FrameworkRemoved'; at: number; frameworkId: string; message: string }
  /** A framework killed tasks of its own (by the master's task ids). */
  | { type: 'FrameworkTasksKilled'; at: number; frameworkId: string; taskIds: string[] }
  /** A framework acknowledged the status update with this uuid: it need not be sent again. */
  | { type: 'StatusAcknowledged'; at: number; frameworkId: string; taskId: string; uuid: string }
  /** An access token was made (its secret's hash only). */
  | { type: 'TokenCreated'; at: number; token: TokenRecord }
  /** An access token was revoked: from this event on, no master accepts it. */
  | { type: 'TokenRevoked'; at: number; accessorId: string }
  /** A policy was set, replacing one of that name. */
  | { type: 'PolicySet'; at: number; policy: PolicyRecord }
  /** A policy was deleted; tokens naming it lose its grants. */
  | { type: 'PolicyDeleted'; at: number; name: string }
  /** An update (or a rolling restart, or a scale) of a job started: the job's one active update. */
  | { type: 'UpdateStarted'; at: number; update: UpdateStart }
  /**
   * An update acted on instances: UPDATING/ROLLING_BACK replaces an instance's task (or adds or
   * removes the instance), UPDATED/ROLLED_BACK and the FAILED ones judge it. newBatch: a batch
   * begins, of these instances (the budget may hold some back: they start later, in this batch).
   */
  | { type: 'UpdateInstancesActed'; at: number; id: string; actions: UpdateAction[]; newBatch?: number[] }
  /** An update's status changed: by a person (pause, resume, abort, promote, rollback) or by its own progress. */
  | { type: 'UpdateStatusChanged'; at: number; id: string; status: UpdateStatus; message?: string }
  /**
   * A cron or dependent job started a run: the run's own batch job is created (run.spec), the
   * template's cursor moves past run.scheduledAt (and any earlier times owed), and ended runs
   * beyond its history are forgotten (run.prune).
   */
  | { type: 'RunStarted'; at: number; run: RunStart }
  /** A cron job's scheduled times (or a dependent job's parents' trigger) started no run, and why: the cursor moves past them. */
  | ({ type: 'RunSkipped'; job: string } & RunSkip)
  /** A cron or dependent job was suspended or resumed; the times skipped while suspended are recorded on resume. */
  | { type: 'RunsSuspended'; at: number; job: string; suspended: boolean; skipped?: OwedFires }
  /** Ended jobs and updates past the master's retention are forgotten. */
  | { type: 'JobsPruned'; at: number; jobs: string[]; updates: string[] };

export type EventType = Event['type'];

/** LoggedEvent is an event with its position in the log (1-based, gapless). */
export interface LoggedEvent {
  index: number;
  event: Event;
}
