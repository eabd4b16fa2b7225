// The REST API's shapes (/api/v1/...): camelCase JSON, used by the CLI, the UI and tests through
// the typed client. Errors travel as core's ErrorBody.

import type { JobKind, JobSpec, ResourcesView, TaskReason, TaskState, Tier } from '../core/index.js';

/** KILLED: killed and every task ended; kept (with FINISHED and FAILED) for the master's --job-retention, then pruned. */
export type JobState = 'ACTIVE' | 'KILLING' | 'FINISHED' | 'FAILED' | 'KILLED';
export type InstanceState = 'PENDING' | 'ACTIVE' | 'FINISHED' | 'FAILED' | 'KILLED';
export type AgentState = 'CONNECTED' | 'DISCONNECTED' | 'UNREACHABLE';

export interface TaskView {
  taskId: string;
  job: string;
  instance: number;
  /**
   * The framework whose task it is: "muster" (the built-in one, whose tasks are jobs' instances) or
   * an external framework's id. Absent from masters older than external frameworks: "muster".
   */
  framework?: string;
  /** An external framework's own name and id for the task. */
  name?: string;
  frameworkTaskId?: string;
  agentId: string;
  hostname: string;
  address: string;
  state: TaskState;
  reason?: TaskReason;
  message?: string;
  healthy?: boolean;
  /** The latest usage the agent reported; absent until the first report, or once the task ended. */
  usage?: TaskUsageView;
  ports: Record<string, number>;
  resources: ResourcesView;
  launchedAt: number;
  startedAt?: number;
  endedAt?: number;
  /** The master has asked the agent to kill this task (it shows TASK_KILLING once the agent says so). */
  killRequested: boolean;
}

/** TaskUsageView is a task's consumption, as its agent last reported it. */
export interface TaskUsageView {
  cpuSecs: number;
  memBytes: number;
  diskBytes: number;
  /** When the agent measured it (ms since epoch). */
  timestamp: number;
}

export interface InstanceView {
  instance: number;
  state: InstanceState;
  /** The current task: running, or the last one that ran when the instance is pending or ended. */
  task?: TaskView;
  /** Failed runs counted against maxTaskFailures (batch), or in a row (service backoff). */
  failures: number;
  /** How many tasks this instance has had. */
  runs: number;
  /** When pending: the earliest time (ms) it may be placed; restart backoff puts it in the future. */
  notBefore?: number;
  /** When pending: why it is not running yet, for a person. */
  pendingReason?: string;
  /** When its task's agent is unreachable and it waits for it (its job's unreachable.replaceAfterSecs): when it will be placed elsewhere (ms). */
  replaceAt?: number;
  /** When pending and the last scheduling pass could not place it: the whole answer, filter by filter. */
  why?: WhyPendingView;
  /** The job config version it runs (or will run, when pending); absent from older masters. */
  version?: number;
}

/**
 * WhyPendingView is the scheduler's answer to "why is this task pending?" (the same shape as the
 * scheduler's WhyPending, declared here because protocol/ imports nothing of the master's parts).
 */
export interface WhyPendingView {
  /** One sentence: "no agent fits: insufficient mem on 7 agents (needs 4GiB, most free 1GiB)". */
  summary: string;
  /** How many agents each filter turned it away from. */
  filters: { filter: string; detail: string; agents: number }[];
  /** The agent that came closest and what it lacks, if any agent passed the constraints. */
  nearest?: { agentId: string; hostname: string; lacks: string };
  /** The smallest changes to the job that would make it fit now, each saying how many agents would then fit. */
  changes: string[];
}

/** PendingInstanceView is an instance waiting for a place, as GET /api/v1/tasks lists it beside the tasks. */
export interface PendingInstanceView {
  job: string;
  instance: number;
  /** Why it is not running yet, for a person (as InstanceView.pendingReason). */
  reason: string;
  why?: WhyPendingView;
}

/** TaskList is GET /api/v1/tasks: the tasks asked for and the instances of those jobs still pending. */
export interface TaskList {
  tasks: TaskView[];
  /** Added after tasks: absent from masters older than `muster job plan`. */
  pending?: PendingInstanceView[];
  /** Paged (?limit=, ?offset=): the tasks matching over every page, and where this page starts. */
  total?: number;
  offset?: number;
  limit?: number;
  /** Paged: every pending instance matching (pending holds at most limit of them). */
  pendingTotal?: number;
}

/** JobList is GET /api/v1/jobs; total, offset and limit when paged (?limit=, ?offset=). */
export interface JobList {
  jobs: JobSummary[];
  total?: number;
  offset?: number;
  limit?: number;
  /** ?facets=true: the jobs per role and env, over the filters other than role and env. */
  facets?: JobFacetsView;
}

/** JobFacetsView counts jobs per role, and per env within each role. */
export interface JobFacetsView {
  roles: { role: string; jobs: number; envs: { env: string; jobs: number }[] }[];
}

/** AgentList is GET /api/v1/agents; total, offset and limit when paged. */
export interface AgentList {
  agents: AgentView[];
  total?: number;
  offset?: number;
  limit?: number;
}

export interface JobSummary {
  job: string;
  kind: JobKind;
  state: JobState;
  tier: Tier;
  priority: number;
  instanceCount: number;
  /** Count of instances by their current task state, plus PENDING for instances with no task. */
  taskStates: Partial<Record<TaskState | 'PENDING', number>>;
  createdAt: number;
  endedAt?: number;
  /** Why it ended (killed by whom, which instance failed). */
  endReason?: string;
  /** The version of its config (spec); absent from older masters. */
  version?: number;
  /** Its active update: id and status. */
  update?: { id: string; status: string; kind: string };
  /** A run of a cron or dependent job: the job it is a run of, and its number. */
  parent?: string;
  run?: number;
  /** A cron or dependent job: its next fire time (ms), and its runs going now. */
  nextRunAt?: number;
  currentRuns?: string[];
}

export interface JobView extends JobSummary {
  spec: JobSpec;
  instances: InstanceView[];
}

export interface AgentView {
  agentId: string;
  hostname: string;
  address: string;
  port: number;
  state: AgentState;
  attributes: Record<string, string>;
  total: ResourcesView;
  used: ResourcesView;
  taskCount: number;
  registeredAt: number;
  lastSeenAt?: number;
  /** How the agent isolates tasks, as it describes it. */
  isolation?: string;
}

export interface CellView {
  masterId: string;
  version: string;
  /** "tokens": every call needs a token; "open": the master runs without authentication. Absent from older masters. */
  authentication?: 'tokens' | 'open';
  startedAt: number;
  logIndex: number;
  agents: AgentView[];
  total: ResourcesView;
  used: ResourcesView;
  jobCount: number;
  taskCount: number;
  pendingCount: number;
  /** HA masters (etcd store): every master registered, and which leads. */
  masters?: MasterView[];
  /** HA masters: the leader's URL, when one is known. */
  leader?: string;
  /** This master's DNS server (absent: it runs none): where to ask, and the domain it answers for. */
  dns?: { port: number; domain: string };
  /** HA masters: the leader's epoch (its term; it only grows). */
  epoch?: number;
  /** HA masters: each etcd endpoint of the store, as the leader found it when the view was built. */
  etcd?: EtcdMemberView[];
  /** External frameworks (the built-in "muster" is always there); absent from older masters. */
  frameworks?: FrameworkSummaryView[];
  /**
   * Live (not terminal) tasks by state, external frameworks' too, and PENDING for instances waiting
   * for a place; absent from older masters. On a cell big enough that counting takes a while (tens
   * of thousands of tasks), the task states may be up to 2 s older than logIndex.
   */
  taskStates?: Partial<Record<TaskState | 'PENDING', number>>;
  /** Agents by state, over every agent (GET /api/v1/cell?agents=false leaves the list out, not these). */
  agentStates?: Partial<Record<AgentState, number>>;
}

/** FrameworkSummaryView is one external framework in the cell view. */
export interface FrameworkSummaryView {
  frameworkId: string;
  name: string;
  connected: boolean;
  /** Tasks the master keeps for it: live, or ended and not yet acknowledged. */
  tasks: number;
}

/** EtcdMemberView is one etcd endpoint of an HA cell's store and its health. */
export interface EtcdMemberView {
  endpoint: string;
  /** The member answered and says it is healthy (it has a raft leader and can serve). */
  healthy: boolean;
  /** The member is etcd's raft leader; absent when its status could not be read. */
  leader?: boolean;
  /** Why the member is not healthy: an unreachable endpoint, a timeout, an etcd alarm. */
  error?: string;
}

/** MasterView is one master of an HA cell. */
export interface MasterView {
  masterId: string;
  url: string;
  leading: boolean;
}

export interface JobCreated {
  job: string;
  instances: number;
}

/** PlannedPlacementView is an instance the plan puts on an agent. */
export interface PlannedPlacementView {
  instance: number;
  agentId: string;
  hostname: string;
  /** Port numbers it would get, by the names of its request. */
  ports: Record<string, number>;
  /** GPU devices it would get: device index and milli (1000 = the whole device). */
  gpus: { device: number; milli: number }[];
  /** It would run on revocable resources (slack). */
  revocable: boolean;
}

/** PlannedPreemptionView is an instance that would get its place once lower tasks were preempted. */
export interface PlannedPreemptionView {
  instance: number;
  agentId: string;
  hostname: string;
  victims: { taskId: string; job: string; instance: number }[];
}

/** PlannedPendingView is an instance the plan could not place, and why. */
export interface PlannedPendingView {
  instance: number;
  reason: string;
  why: WhyPendingView;
}

/**
 * JobPlanView is POST /api/v1/jobs/plan: what creating (or replacing) the job would do in the cell
 * as it is now, worked out by the master's own scheduler. A plan changes nothing.
 */
export interface JobPlanView {
  job: string;
  /** The job exists: the plan replaces it, so its own tasks' resources count as free. */
  existing: boolean;
  placements: PlannedPlacementView[];
  preemptions: PlannedPreemptionView[];
  pending: PlannedPendingView[];
  /** Present when creating the job would be refused for its role's quota: the refusal's message. */
  quota?: string;
}

export interface KillRequest {
  /** Instances to kill; all when absent. */
  instances?: number[];
}

export interface RestartRequest {
  /** Instances to restart; all when absent. */
  instances?: number[];
}

/** JobInstancesAnswer is the master's answer to kill and restart: the instances it acted on. */
export interface JobInstancesAnswer {
  job: string;
  instances: number[];
  /** A restart of a service is a rolling restart: the update that carries it out (see muster update status). */
  update?: string;
}

/**
 * QuotaAmountsView is an amount of each resource a quota limits, in the API's units: cpus in cores,
 * mem and disk in MiB, gpus in devices.
 */
export interface QuotaAmountsView {
  cpus: number;
  mem: number;
  disk: number;
  gpus: number;
}

/** QuotaLimitsView is a role's quota: a resource left out is not limited. */
export type QuotaLimitsView = Partial<QuotaAmountsView>;

/**
 * QuotaView is GET /api/v1/quotas/:role: a role's quota and what its preferred-tier jobs hold
 * against it (each pending or running instance counts its job's per-task request).
 */
export interface QuotaView {
  role: string;
  /** Absent when the role has no quota: it is unlimited. */
  quota?: QuotaLimitsView;
  used: QuotaAmountsView;
  /** quota − used of each limited resource; negative when a quota was lowered below what is held. */
  free?: QuotaLimitsView;
  /** When the quota was set (ms since epoch); absent with the quota. */
  setAt?: number;
}

/**
 * QuotaRequest is the body of PUT /api/v1/quotas/:role: the whole quota, replacing the old one. mem
 * and disk are MiB as numbers, or sizes as strings ("16GiB"); a resource left out is not limited.
 */
export interface QuotaRequest {
  cpus?: number;
  mem?: number | string;
  disk?: number | string;
  gpus?: number;
}

/** LogChunk is a piece of a task's stdout or stderr, read through the master from the agent. */
export interface LogChunk {
  taskId: string;
  file: 'stdout' | 'stderr';
  offset: number;
  /** Size of the whole file now; follow by asking again from offset + data length. */
  size: number;
  data: string;
  /** The task has ended: nothing will be added. */
  eof: boolean;
}

/** FileEntryType: what a sandbox entry is; a symbolic link is reported as one, never followed. */
export type FileEntryType = 'file' | 'dir' | 'symlink' | 'other';

/** FileEntry is one entry of a sandbox directory, as `ls -l` shows it. */
export interface FileEntry {
  name: string;
  /** The path relative to the sandbox, to pass back to browse, read or download. */
  path: string;
  type: FileEntryType;
  /** Bytes; for a link, the length of its target. */
  size: number;
  /** As ls writes it: "-rw-r--r--", "drwxr-xr-x", "lrwxrwxrwx". */
  mode: string;
  /** Last modification (ms since epoch). */
  mtime: number;
  uid: number;
  gid: number;
}

/** FileListing is the agent's answer to GET /files/browse: a directory's entries sorted by name. */
export interface FileListing {
  /** The directory listed, relative to the sandbox ("" for the sandbox itself). */
  path: string;
  entries: FileEntry[];
  /** Present when the directory holds more entries than one listing returns (10,000). */
  truncated?: boolean;
}

/** TaskFileListing is GET /api/v1/tasks/:taskId/files: the agent's listing, naming the task. */
export interface TaskFileListing extends FileListing {
  taskId: string;
}

/** TaskFileChunk is GET /api/v1/tasks/:taskId/files/read: a slice of any file in the sandbox. */
export interface TaskFileChunk {
  taskId: string;
  path: string;
  offset: number;
  /** Size of the whole file now. */
  size: number;
  /** The bytes read, decoded as UTF-8. */
  data: string;
  /** The task has ended: the file will not grow any more. */
  eof: boolean;
}

/**
 * TaskFileDownload is an open download of one sandbox file (GET /api/v1/tasks/:taskId/files/download):
 * read body to the end, or cancel it to stop.
 */
export interface TaskFileDownload {
  taskId: string;
  path: string;
  /** The file's base name, from Content-Disposition. */
  name: string;
  /** Bytes to expect, from Content-Length; absent if the answer did not say. */
  size?: number;
  body: ReadableStream<Uint8Array>;
}

/** EventView is one event of the log as streamed by GET /api/v1/events (Server-Sent Events). */
export interface EventView {
  index: number;
  type: string;
  at: number;
  [field: string]: unknown;
}

/**
 * EventResetView is the `reset` message of GET /api/v1/events: the events after `since`, which the
 * client asked to resume from, cannot be sent. TRUNCATED: a snapshot replaced them (the stored log
 * begins at firstIndex); AHEAD: the log ends before since. The client must read the state again;
 * the stream goes on with the events after `index`, the message's SSE id.
 */
export interface EventResetView {
  index: number;
  since: number;
  firstIndex: number;
  reason: 'TRUNCATED' | 'AHEAD';
  message: string;
}

/** ExecRequest is the body of POST /api/v1/tasks/:taskId/exec (and of the agent's POST /exec, plus taskId). */
export interface ExecRequest {
  /** The command and its arguments, run without a shell (give ["sh", "-c", "..."] for one). */
  argv: string[];
  /** The command is killed after this long (default 600, at most 3600). */
  timeoutSecs?: number;
}

/**
 * ExecEvent is one RecordIO record of an exec's answer: output as it comes (base64, since a
 * command may print anything), then exactly one EXIT or ERROR.
 */
export type ExecEvent =
  | { type: 'OUTPUT'; stream: 'stdout' | 'stderr'; data: string }
  | { type: 'EXIT'; exitCode: number | null; signal: string | null }
  | { type: 'ERROR'; message: string };

/** FrameworkView is one framework of the cell: the built-in "muster" or an external one. */
export interface FrameworkView {
  frameworkId: string;
  name: string;
  builtIn: boolean;
  /** An external framework has a live subscription (always true for the built-in one). */
  connected: boolean;
  roles: string[];
  user?: string;
  principal?: string;
  hostname?: string;
  webuiUrl?: string;
  failoverTimeoutSecs?: number;
  registeredAt?: number;
  reregisteredAt?: number;
  /** Tasks the master keeps for it: live ones, and ended ones it has not acknowledged. */
  tasks: number;
  /** What its live tasks hold. */
  used: ResourcesView;
  /** Its outstanding offers (the first 100; absent on a standby, which holds none), and how many there are. */
  offers?: OfferView[];
  offerCount?: number;
}

/** TaskHistoryView is GET /api/v1/tasks/:taskId/history: the states the task went through, oldest first. */
export interface TaskHistoryView {
  taskId: string;
  entries: TaskHistoryEntryView[];
  /**
   * The master saw the whole of it. Kept in memory, not in the log: false when it started (or took
   * over) after the task was launched, or the task's oldest entries made room for newer ones.
   */
  complete: boolean;
}

/** TaskHistoryEntryView is one state of a task: LAUNCHED when placed, then each status update. */
export interface TaskHistoryEntryView {
  at: number;
  /** The log index of the event that recorded it. */
  index: number;
  state: TaskState | 'LAUNCHED';
  reason?: TaskReason;
  message?: string;
  healthy?: boolean;
  /** The master's own guess (TASK_LOST for a task its agent did not report). */
  guess?: boolean;
}

/** OfferView is one outstanding offer: an agent's free resources offered to a framework. */
export interface OfferView {
  offerId: string;
  agentId: string;
  hostname: string;
  resources: ResourcesView;
  offeredAt: number;
  expiresAt?: number;
}

export interface FrameworkList {
  frameworks: FrameworkView[];
}

// ---- access control ------------------------------------------------------------------------------

/** TokenView is an access token as the API shows it: never its secret, nor the secret's hash. */
export interface TokenView {
  /** Public id (uuid): what list, revoke and the audit name it by. */
  accessorId: string;
  /** A person's name for it, unique among live tokens; the principal its calls are recorded under. */
  name: string;
  /** The policies whose grants it has; a management token has every permission. */
  policies: string[];
  management: boolean;
  createdAt: number;
  /** It stops working then (ms); absent: never. */
  expiresAt?: number;
  /** Revoked then (ms): kept, so that the audit still names it. */
  revokedAt?: number;
  createdBy?: string;
}

/** TokenCreated is the answer to making a token: the secret, shown this once. */
export interface TokenCreatedView {
  token: TokenView;
  secret: string;
}

export interface PolicyGrantView {
  actions: string[];
  roles: string[];
}

export interface PolicyView {
  name: string;
  description?: string;
  grants: PolicyGrantView[];
  setAt: number;
}

/** AuditEntryView is one recorded change: when, who, what, to what. */
export interface AuditEntryView {
  at: number;
  by: string;
  action: string;
  subject?: string;
}

/** WhoAmIView is who the master takes the caller for. */
export interface WhoAmIView {
  principal: string;
  /** The master runs without authentication: every call may do everything. */
  open: boolean;
  management: boolean;
  policies: string[];
  expiresAt?: number;
}

/**
 * EndpointView is one instance of a job with a live task, as GET /api/v1/endpoints/... shows it:
 * where it runs, its named ports, and whether a client may be sent to it now (ready), or why not.
 */
export interface EndpointView {
  instance: number;
  taskId: string;
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
  /** Why it is not ready, for a person. */
  why?: string;
}

/**
 * EndpointsView is GET /api/v1/endpoints/:role/:env/:name, and each `endpoints` message of its
 * watch (?watch): every instance of the job that has a live task, in instance order, ready or not.
 * A job killed (or pruned while watched) has none.
 */
export interface EndpointsView {
  job: string;
  /** The version of the job's config last rolled out whole. */
  version: number;
  instances: EndpointView[];
}

// ---- Runs of cron and dependent jobs ----------------------------------------------------------

/** What started a run: its schedule, a person (`muster cron start`), or its parents' runs. */
export type RunTrigger = 'schedule' | 'manual' | 'parents';
/** How a run ended: every instance finished, one failed, or it was killed. */
export type RunOutcome = 'SUCCEEDED' | 'FAILED' | 'KILLED';

/** RunView is one run of a cron or dependent job; its tasks are its job's (`key`). */
export interface RunView {
  number: number;
  /** The run's own job: role/env/name--number. */
  key: string;
  trigger: RunTrigger;
  /** The scheduled time it is the run of (ms). */
  scheduledAt?: number;
  startedAt: number;
  endedAt?: number;
  /** Absent while it runs. */
  outcome?: RunOutcome;
  reason?: string;
  /** The template's config version it ran. */
  version: number;
  by?: string;
  /** The parents' runs it followed. */
  parents?: { job: string; run?: number; outcome: RunOutcome; endedAt: number }[];
  /** Its job's state now (absent once pruned). */
  state?: JobState;
  /** Its instances' latest tasks: where its exit codes and logs are. */
  tasks?: { instance: number; taskId: string; state: TaskState; message?: string }[];
}

/** RunSkipView is a scheduled time (or range) or a parents' trigger that started no run, and why. */
export interface RunSkipView {
  at: number;
  reason: string;
  times?: { count: number; first: number; last: number; atLeast?: true };
  parents?: { job: string; run?: number; outcome: RunOutcome; endedAt: number }[];
}

/** RunsView is GET /api/v1/jobs/:role/:env/:name/runs: a cron or dependent job's schedule, next times and runs. */
export interface RunsView {
  job: string;
  kind: JobKind;
  schedule?: {
    expression: string;
    /** The schedule in words ("At 02:30"). */
    description: string;
    timezone: string;
    concurrency: 'allow' | 'forbid' | 'replace';
    startingDeadlineSecs: number;
  };
  after: string[];
  onParentFailure: 'skip' | 'run';
  suspended: boolean;
  /** The next fire times (ms; absent while suspended), at most 5. */
  next: number[];
  /** The runs going now. */
  current: RunView[];
  /** Runs, newest first (kept: runHistory). */
  runs: RunView[];
  skips: RunSkipView[];
  runHistory: number;
}

/** RunStartedView answers `cron start`: the run made. */
export interface RunStartedView {
  job: string;
  run: number;
  key: string;
  /** Runs killed for it (concurrency replace). */
  replaced?: string[];
}

/** JobGraphView is GET /api/v1/jobs/:role/:env/:name/graph: the jobs connected to one by after:, and their edges. */
export interface JobGraphView {
  job: string;
  nodes: { job: string; kind?: JobKind; state?: JobState; lastOutcome?: RunOutcome; missing?: true }[];
  /** parent → child: the child runs after the parent. */
  edges: { from: string; to: string }[];
}
