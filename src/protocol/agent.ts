// The agent link: the messages between an agent and the master.
//
// The agent calls POST /api/v1/agent with a SUBSCRIBE call; the response is a RecordIO stream of
// AgentEvents (SUBSCRIBED first, then LAUNCH, KILL, ACKNOWLEDGED, HEARTBEAT) that stays open. Every
// other call (UPDATE, HEARTBEAT) is a separate POST to the same path, answered 202. Shapes follow
// Mesos's v1 agent/executor APIs in spirit (type + one field named after it), in camelCase.

import type { ContainerSpec, HealthCheck, ResourcesView, TaskReason, TaskState } from '../core/index.js';

export const AGENT_API_PATH = '/api/v1/agent';
export const AGENT_PROTOCOL_VERSION = 1;

/** AgentInfo is what an agent tells the master about itself. */
export interface AgentInfo {
  /** Set by the master at first registration, then persisted by the agent in its work dir. */
  agentId?: string;
  hostname: string;
  /** The address other machines reach the agent at (an IP or a resolvable name). */
  address: string;
  /** The agent's own HTTP port (files, health, metrics). */
  port: number;
  resources: ResourcesView;
  attributes: Record<string, string>;
  version: string;
  /**
   * How the agent isolates tasks, for a person: e.g. "cgroups v1 (cpu, memory, pids), pid and mount
   * namespaces, role users", or "none: the agent is not root, tasks run as plain processes".
   */
  isolation?: string;
  /**
   * The agent's API token: the master sends it as `Authorization: Bearer <token>` on its calls to
   * the agent's /exec and /files/*. The master keeps it in memory only, never in its log or answers.
   */
  apiToken?: string;
  /**
   * The agent's port serves HTTPS (muster agent --tls-cert): the master calls it at https://,
   * trusting its own --tls-ca. Kept in memory beside the API token, which comes with it anyway.
   */
  tls?: boolean;
}

/** TaskGpu is what a task holds of one GPU device: its index on the agent, and milli (1000 = whole). */
export interface TaskGpu {
  device: number;
  milli: number;
}

/** TaskInfo is everything an agent needs to launch one task. */
export interface TaskInfo {
  taskId: string;
  job: string;
  instance: number;
  kind: 'service' | 'batch';
  role: string;
  resources: ResourcesView;
  /** Port numbers chosen by the master, by the names the job gave them (in the job's order). */
  ports: Record<string, number>;
  /**
   * The GPU devices the master chose, by index on the agent, and the milli of each the task holds
   * (1000 = the whole device): one entry per whole GPU, or one entry below 1000 for a share. Absent
   * for a task without GPUs. Structurally the scheduler's GpuShare.
   */
  gpus?: TaskGpu[];
  processes: { name: string; cmd: string }[];
  env: Record<string, string>;
  killGraceSecs: number;
  /** The job's health check, run by the agent once the task runs. */
  health?: HealthCheck;
  /** Run in this Docker image (the agent's docker containerizer); absent: plain processes. */
  container?: ContainerSpec;
}

/** TaskStatus is one status update about one task. uuid makes retries idempotent. */
export interface TaskStatus {
  taskId: string;
  state: TaskState;
  reason?: TaskReason;
  message?: string;
  /** Unique per update; the master acknowledges by uuid and records a uuid at most once. */
  uuid: string;
  /** When the agent observed the change (ms since epoch). */
  timestamp: number;
  healthy?: boolean;
}

/** TaskUsage is what one task consumes, measured by its agent. */
export interface TaskUsage {
  taskId: string;
  /** CPU time (user + system) of all its processes since it started, in seconds. */
  cpuSecs: number;
  /** Memory in use now (the cgroup's charge, or the processes' resident set without cgroups). */
  memBytes: number;
  /** Bytes in its sandbox at the last disk scan. */
  diskBytes: number;
  /** When the agent measured it (ms since epoch). */
  timestamp: number;
}

/** A task the agent already runs, reported when it (re)subscribes. */
export interface RunningTask {
  taskId: string;
  state: TaskState;
}

// ---- agent → master calls --------------------------------------------------------------------

/**
 * busyPorts, on SUBSCRIBE and USAGE: the ports of the agent's ranges that other programs on its
 * machine hold (not its tasks), in the ranges format of resources ("[31000-31002,31005-31005]").
 * The master offers none of them until a later report no longer names them.
 */
export type AgentCall =
  | { type: 'SUBSCRIBE'; subscribe: { agent: AgentInfo; tasks: RunningTask[]; busyPorts?: string } }
  | { type: 'UPDATE'; agentId: string; update: { status: TaskStatus } }
  | { type: 'HEARTBEAT'; agentId: string }
  /** Sent every usage interval: what each running task consumes. Not durable, not acknowledged. */
  | { type: 'USAGE'; agentId: string; usage: { tasks: TaskUsage[]; busyPorts?: string } }
  /**
   * The agent is stopping (a person stopped it, or the master asked it to): the master offers it
   * nothing more, so instances its stop ends are not launched on it again. Its status updates and
   * their acknowledgements go on until it disconnects. Answered 202.
   */
  | { type: 'STOPPING'; agentId: string }
  /**
   * Sent every reconcile interval (from SUBSCRIBED): every task the agent holds, so that the master
   * finds and heals any divergence between the two (see ReconcileReport). Answered 202.
   */
  | { type: 'RECONCILE'; agentId: string; reconcile: ReconcileReport };

/**
 * ReconcileReport is what an agent holds, as of a point in its stream: session is the SUBSCRIBED's,
 * seen the number of events the agent had received on that stream after SUBSCRIBED when it wrote the
 * report (so the master can tell a LAUNCH the agent has not read yet from one it lost).
 */
export interface ReconcileReport {
  session: string;
  seen: number;
  tasks: ReconciledTask[];
}

/** ReconciledTask: a task the agent holds, the state of its latest update, and whether the master acknowledged every update of it. */
export interface ReconciledTask {
  taskId: string;
  state: TaskState;
  settled: boolean;
}

// ---- master → agent events (RecordIO stream) -----------------------------------------------

export type AgentEvent =
  /** epoch: the leader's term with HA masters (it only grows); a single master sends none. */
  | {
      type: 'SUBSCRIBED';
      subscribed: {
        agentId: string;
        heartbeatIntervalSecs: number;
        masterId: string;
        epoch?: number;
        /** A credential of the agent's own, issued when it joined with a join token: keep it, send it from now on. */
        credential?: string;
        /** This stream's id, named in the agent's RECONCILE reports (absent from older masters: the agent sends none). */
        session?: string;
        /** How often the agent sends RECONCILE. */
        reconcileIntervalSecs?: number;
      };
    }
  | { type: 'LAUNCH'; launch: { task: TaskInfo } }
  | { type: 'KILL'; kill: { taskId: string; gracePeriodSecs: number; reason?: TaskReason } }
  | { type: 'ACKNOWLEDGED'; acknowledged: { taskId: string; uuid: string } }
  | { type: 'HEARTBEAT' }
  /** The master asks the agent to end: it was replaced or removed. The agent exits. */
  | { type: 'SHUTDOWN'; shutdown: { message: string } };
