// The JSON forms of the Mesos v1 scheduler API (apache/mesos include/mesos/v1/mesos.proto and
// scheduler/scheduler.proto), field for field in Mesos's snake_case, so that a framework written
// against Mesos talks to Muster unchanged. Only the messages and fields Muster reads or writes are
// here; a field left out is ignored on input exactly as Mesos ignores a field it does not know.
//
// What parseCall returns has the proto defaults filled in (FrameworkInfo.failover_timeout 0,
// CommandInfo.shell true, Filters.refuse_seconds 5 …) and every repeated field present as an array,
// so that the master never needs to know a default. bytes fields are base64 strings, as on the wire.

/** ID is how Mesos wraps every identifier: {"value": "…"}. */
export interface ID {
  value: string;
}
export type FrameworkID = ID;
export type OfferID = ID;
export type AgentID = ID;
export type TaskID = ID;
export type ExecutorID = ID;
export type OperationID = ID;
export type ResourceProviderID = ID;
export type ContainerID = ID;

// ---- values and resources --------------------------------------------------------------------

/** Value types a Resource can have (Value.Type; TEXT exists only for attributes). */
export const RESOURCE_VALUE_TYPES = ['SCALAR', 'RANGES', 'SET'] as const;
export type ResourceValueType = (typeof RESOURCE_VALUE_TYPES)[number];

export interface Scalar {
  value: number;
}
/** Range is inclusive at both ends (Value.Range, uint64). */
export interface Range {
  begin: number;
  end: number;
}
export interface Ranges {
  range: Range[];
}
export interface ValueSet {
  item: string[];
}
export interface Text {
  value: string;
}

export interface AllocationInfo {
  role?: string;
}

/** Resource is one named amount: cpus, mem, disk, gpus as SCALAR, ports as RANGES. */
export interface Resource {
  name: string;
  type: ResourceValueType;
  scalar?: Scalar;
  ranges?: Ranges;
  set?: ValueSet;
  /** Deprecated by Mesos for allocation_info and reservations, still sent ("*") and read. */
  role?: string;
  allocation_info?: AllocationInfo;
  /** Present (empty) on revocable resources. */
  revocable?: Record<string, never>;
}

/** Attribute describes an agent (rack, zone …); TEXT is allowed here. */
export interface Attribute {
  name: string;
  type: ResourceValueType | 'TEXT';
  scalar?: Scalar;
  ranges?: Ranges;
  set?: ValueSet;
  text?: Text;
}

// ---- common messages -------------------------------------------------------------------------

export interface Label {
  key: string;
  value?: string;
}
export interface Labels {
  labels: Label[];
}

/** DurationInfo is an int64 count of nanoseconds. */
export interface DurationInfo {
  nanoseconds: number;
}
export interface TimeInfo {
  nanoseconds: number;
}

export interface Address {
  hostname?: string;
  ip?: string;
  port: number;
}
export interface URL {
  scheme: string;
  address: Address;
  path?: string;
}

export interface DomainInfo {
  fault_domain?: { region: { name: string }; zone: { name: string } };
}

export interface Parameter {
  key: string;
  value: string;
}

// ---- frameworks ------------------------------------------------------------------------------

export const FRAMEWORK_CAPABILITIES = [
  'REVOCABLE_RESOURCES',
  'TASK_KILLING_STATE',
  'GPU_RESOURCES',
  'SHARED_RESOURCES',
  'PARTITION_AWARE',
  'MULTI_ROLE',
  'RESERVATION_REFINEMENT',
  'REGION_AWARE',
] as const;
export type FrameworkCapabilityType = (typeof FRAMEWORK_CAPABILITIES)[number];

export interface FrameworkCapability {
  type: FrameworkCapabilityType;
}

export interface FrameworkInfo {
  user: string;
  name: string;
  id?: FrameworkID;
  /** Seconds the master keeps a disconnected framework's tasks; default 0. */
  failover_timeout: number;
  checkpoint: boolean;
  /**
   * The single role of a framework without MULTI_ROLE. Left unset when absent (not defaulted to "*")
   * because Mesos refuses it on a MULTI_ROLE framework only when it was given; frameworkRoles()
   * applies the default.
   */
  role?: string;
  roles: string[];
  hostname?: string;
  principal?: string;
  webui_url?: string;
  /** Capabilities of a type this Mesos version does not know are dropped. */
  capabilities: FrameworkCapability[];
  labels?: Labels;
}

export const MASTER_CAPABILITIES = ['AGENT_UPDATE', 'AGENT_DRAINING', 'QUOTA_V2'] as const;
export type MasterCapabilityType = (typeof MASTER_CAPABILITIES)[number];

export interface MasterInfo {
  id: string;
  /** IPv4 address as Mesos packs it: the in_addr bytes read as a little-endian uint32. */
  ip: number;
  port: number;
  pid?: string;
  hostname?: string;
  version?: string;
  address?: Address;
  domain?: DomainInfo;
  capabilities?: { type: MasterCapabilityType }[];
}

// ---- tasks -----------------------------------------------------------------------------------

export interface CommandURI {
  value: string;
  executable?: boolean;
  extract: boolean;
  cache?: boolean;
  output_file?: string;
}

export interface EnvironmentVariable {
  name: string;
  /** SECRET variables carry a secret Muster does not read; their value is absent. */
  type: 'VALUE' | 'SECRET';
  value?: string;
}
export interface Environment {
  variables: EnvironmentVariable[];
}

export interface CommandInfo {
  uris: CommandURI[];
  environment?: Environment;
  /** true (the default): value runs under /bin/sh -c; false: value is the program, arguments its argv. */
  shell: boolean;
  value?: string;
  arguments: string[];
  user?: string;
}

export interface Image {
  type: 'APPC' | 'DOCKER';
  docker?: { name: string };
  appc?: { name: string; id?: string; labels?: Labels };
  cached: boolean;
}

export interface Volume {
  mode: 'RW' | 'RO';
  container_path: string;
  host_path?: string;
  image?: Image;
}

export interface PortMapping {
  host_port: number;
  container_port: number;
  protocol?: string;
}

export interface IPAddress {
  protocol?: 'IPv4' | 'IPv6';
  ip_address?: string;
}

export interface NetworkInfo {
  ip_addresses: IPAddress[];
  name?: string;
  groups: string[];
  labels?: Labels;
  port_mappings: PortMapping[];
}

export interface DockerInfo {
  image: string;
  network: 'HOST' | 'BRIDGE' | 'NONE' | 'USER';
  port_mappings: PortMapping[];
  privileged: boolean;
  parameters: Parameter[];
  force_pull_image?: boolean;
}

/** ContainerInfo: Muster reads type, docker, mesos.image, volumes, hostname and network_infos. */
export interface ContainerInfo {
  type: 'DOCKER' | 'MESOS';
  volumes: Volume[];
  hostname?: string;
  docker?: DockerInfo;
  mesos?: { image?: Image };
  network_infos: NetworkInfo[];
}

export interface HealthCheck {
  type?: 'COMMAND' | 'HTTP' | 'TCP';
  delay_seconds: number;
  interval_seconds: number;
  timeout_seconds: number;
  consecutive_failures: number;
  grace_period_seconds: number;
  command?: CommandInfo;
  http?: { protocol?: 'IPv4' | 'IPv6'; scheme?: string; port: number; path?: string; statuses: number[] };
  tcp?: { protocol?: 'IPv4' | 'IPv6'; port: number };
}

export type DiscoveryVisibility = 'FRAMEWORK' | 'CLUSTER' | 'EXTERNAL';

export interface DiscoveryPort {
  number: number;
  name?: string;
  protocol?: string;
  visibility?: DiscoveryVisibility;
  labels?: Labels;
}

export interface DiscoveryInfo {
  visibility: DiscoveryVisibility;
  name?: string;
  environment?: string;
  location?: string;
  version?: string;
  ports?: { ports: DiscoveryPort[] };
  labels?: Labels;
}

export interface KillPolicy {
  grace_period?: DurationInfo;
}

export interface ExecutorInfo {
  type?: 'DEFAULT' | 'CUSTOM';
  executor_id: ExecutorID;
  framework_id?: FrameworkID;
  command?: CommandInfo;
  container?: ContainerInfo;
  resources: Resource[];
  name?: string;
  data?: string;
  discovery?: DiscoveryInfo;
  shutdown_grace_period?: DurationInfo;
  labels?: Labels;
}

/**
 * TaskInfo is one task a framework launches. Mesos wants exactly one of command and executor for a
 * LAUNCH (and no executor inside a LAUNCH_GROUP); breaking that earns the task TASK_ERROR, not a 400,
 * so the master checks it, not the codec.
 */
export interface TaskInfo {
  name: string;
  task_id: TaskID;
  agent_id: AgentID;
  resources: Resource[];
  executor?: ExecutorInfo;
  command?: CommandInfo;
  container?: ContainerInfo;
  health_check?: HealthCheck;
  kill_policy?: KillPolicy;
  data?: string;
  labels?: Labels;
  discovery?: DiscoveryInfo;
  max_completion_time?: DurationInfo;
}

export interface TaskGroupInfo {
  tasks: TaskInfo[];
}

// ---- offers and operations -------------------------------------------------------------------

export interface Offer {
  id: OfferID;
  framework_id: FrameworkID;
  agent_id: AgentID;
  hostname: string;
  url?: URL;
  domain?: DomainInfo;
  resources: Resource[];
  attributes: Attribute[];
  executor_ids: ExecutorID[];
  allocation_info?: AllocationInfo;
}

export interface Unavailability {
  start: TimeInfo;
  duration?: DurationInfo;
}

export interface InverseOffer {
  id: OfferID;
  url?: URL;
  framework_id: FrameworkID;
  agent_id?: AgentID;
  unavailability: Unavailability;
  resources: Resource[];
}

/** Offer.Operation types; UNKNOWN is what a type this version does not know reads as (Mesos ignores it). */
export const OPERATION_TYPES = [
  'UNKNOWN',
  'LAUNCH',
  'LAUNCH_GROUP',
  'RESERVE',
  'UNRESERVE',
  'CREATE',
  'DESTROY',
  'GROW_VOLUME',
  'SHRINK_VOLUME',
  'CREATE_DISK',
  'DESTROY_DISK',
] as const;
export type OperationType = (typeof OPERATION_TYPES)[number];

/** The operations Muster recognises but does not carry out (reservations, volumes, disks). */
export type UnsupportedOperationType = Exclude<OperationType, 'LAUNCH' | 'LAUNCH_GROUP'>;

export type Operation =
  | { type: 'LAUNCH'; id?: OperationID; launch: { task_infos: TaskInfo[] } }
  | { type: 'LAUNCH_GROUP'; id?: OperationID; launch_group: { executor: ExecutorInfo; task_group: TaskGroupInfo } }
  | { type: UnsupportedOperationType; id?: OperationID };

export interface Filters {
  /** Seconds the declined resources are not offered to this framework again: 0 … 31536000, default 5. */
  refuse_seconds: number;
}

// ---- task status -----------------------------------------------------------------------------

/** Mesos's task states (TaskState). Muster's core states are a subset. */
export const MESOS_TASK_STATES = [
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
  'TASK_GONE_BY_OPERATOR',
  'TASK_UNKNOWN',
] as const;
export type MesosTaskState = (typeof MESOS_TASK_STATES)[number];

export const TASK_STATUS_SOURCES = ['SOURCE_MASTER', 'SOURCE_AGENT', 'SOURCE_EXECUTOR'] as const;
export type TaskStatusSource = (typeof TASK_STATUS_SOURCES)[number];

/** Mesos's TaskStatus.Reason values; Muster's own reasons map onto them with mesosReason(). */
export const MESOS_TASK_REASONS = [
  'REASON_COMMAND_EXECUTOR_FAILED',
  'REASON_CONTAINER_LAUNCH_FAILED',
  'REASON_CONTAINER_LIMITATION',
  'REASON_CONTAINER_LIMITATION_DISK',
  'REASON_CONTAINER_LIMITATION_MEMORY',
  'REASON_CONTAINER_PREEMPTED',
  'REASON_CONTAINER_UPDATE_FAILED',
  'REASON_MAX_COMPLETION_TIME_REACHED',
  'REASON_EXECUTOR_REGISTRATION_TIMEOUT',
  'REASON_EXECUTOR_REREGISTRATION_TIMEOUT',
  'REASON_EXECUTOR_TERMINATED',
  'REASON_EXECUTOR_UNREGISTERED',
  'REASON_FRAMEWORK_REMOVED',
  'REASON_GC_ERROR',
  'REASON_INVALID_FRAMEWORKID',
  'REASON_INVALID_OFFERS',
  'REASON_IO_SWITCHBOARD_EXITED',
  'REASON_MASTER_DISCONNECTED',
  'REASON_RECONCILIATION',
  'REASON_RESOURCES_UNKNOWN',
  'REASON_AGENT_DISCONNECTED',
  'REASON_AGENT_DRAINING',
  'REASON_AGENT_REMOVED',
  'REASON_AGENT_REMOVED_BY_OPERATOR',
  'REASON_AGENT_REREGISTERED',
  'REASON_AGENT_RESTARTED',
  'REASON_AGENT_UNKNOWN',
  'REASON_TASK_KILLED_DURING_LAUNCH',
  'REASON_TASK_CHECK_STATUS_UPDATED',
  'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED',
  'REASON_TASK_GROUP_INVALID',
  'REASON_TASK_GROUP_UNAUTHORIZED',
  'REASON_TASK_INVALID',
  'REASON_TASK_UNAUTHORIZED',
  'REASON_TASK_UNKNOWN',
] as const;
export type MesosTaskReason = (typeof MESOS_TASK_REASONS)[number];

export interface ContainerStatus {
  container_id?: ContainerID;
  network_infos?: NetworkInfo[];
  executor_pid?: number;
}

export interface TaskStatus {
  task_id: TaskID;
  state: MesosTaskState;
  message?: string;
  source?: TaskStatusSource;
  reason?: MesosTaskReason;
  data?: string;
  agent_id?: AgentID;
  executor_id?: ExecutorID;
  /** Seconds since the epoch, fractional. */
  timestamp?: number;
  /** base64; present on updates the framework must ACKNOWLEDGE, absent on reconciliation answers. */
  uuid?: string;
  healthy?: boolean;
  labels?: Labels;
  container_status?: ContainerStatus;
}

export const OPERATION_STATES = [
  'OPERATION_UNSUPPORTED',
  'OPERATION_PENDING',
  'OPERATION_FINISHED',
  'OPERATION_FAILED',
  'OPERATION_ERROR',
  'OPERATION_DROPPED',
  'OPERATION_UNREACHABLE',
  'OPERATION_GONE_BY_OPERATOR',
  'OPERATION_RECOVERING',
  'OPERATION_UNKNOWN',
] as const;
export type OperationState = (typeof OPERATION_STATES)[number];

export interface OperationStatus {
  operation_id?: OperationID;
  state: OperationState;
  message?: string;
  converted_resources?: Resource[];
  /** UUID message: {"value": base64}. */
  uuid?: { value: string };
  agent_id?: AgentID;
  resource_provider_id?: ResourceProviderID;
}

// ---- calls -----------------------------------------------------------------------------------

export const CALL_TYPES = [
  'SUBSCRIBE',
  'TEARDOWN',
  'ACCEPT',
  'DECLINE',
  'ACCEPT_INVERSE_OFFERS',
  'DECLINE_INVERSE_OFFERS',
  'REVIVE',
  'KILL',
  'SHUTDOWN',
  'ACKNOWLEDGE',
  'ACKNOWLEDGE_OPERATION_STATUS',
  'RECONCILE',
  'RECONCILE_OPERATIONS',
  'MESSAGE',
  'REQUEST',
  'SUPPRESS',
  'UPDATE_FRAMEWORK',
] as const;
export type CallType = (typeof CALL_TYPES)[number];

export interface Subscribe {
  framework_info: FrameworkInfo;
  suppressed_roles: string[];
}
export interface Accept {
  offer_ids: OfferID[];
  operations: Operation[];
  filters: Filters;
}
export interface Decline {
  offer_ids: OfferID[];
  filters: Filters;
}
export interface AcceptInverseOffers {
  inverse_offer_ids: OfferID[];
  filters: Filters;
}
export type DeclineInverseOffers = AcceptInverseOffers;
/** Revive and Suppress: no roles means all of the framework's roles. */
export interface Roles {
  roles: string[];
}
export interface Kill {
  task_id: TaskID;
  agent_id?: AgentID;
  kill_policy?: KillPolicy;
}
export interface Shutdown {
  executor_id: ExecutorID;
  agent_id: AgentID;
}
export interface Acknowledge {
  agent_id: AgentID;
  task_id: TaskID;
  /** The status's uuid, base64 in canonical (padded) form: compare it with encodeStatusUuid(). */
  uuid: string;
}
export interface AcknowledgeOperationStatus {
  agent_id: AgentID;
  resource_provider_id?: ResourceProviderID;
  uuid: string;
  operation_id: OperationID;
}
export interface Reconcile {
  /** Empty: implicit reconciliation, every task of the framework. */
  tasks: { task_id: TaskID; agent_id?: AgentID }[];
}
export interface ReconcileOperations {
  operations: { operation_id: OperationID; agent_id?: AgentID; resource_provider_id?: ResourceProviderID }[];
}
export interface Message {
  agent_id: AgentID;
  executor_id: ExecutorID;
  data: string;
}
export interface Request {
  requests: { agent_id?: AgentID; resources: Resource[] }[];
}
export type UpdateFramework = Subscribe;

/** Call is one scheduler call: SUBSCRIBE alone may come without framework_id. */
export type Call =
  | { type: 'SUBSCRIBE'; framework_id?: FrameworkID; subscribe: Subscribe }
  | { type: 'TEARDOWN'; framework_id: FrameworkID }
  | { type: 'ACCEPT'; framework_id: FrameworkID; accept: Accept }
  | { type: 'DECLINE'; framework_id: FrameworkID; decline: Decline }
  | { type: 'ACCEPT_INVERSE_OFFERS'; framework_id: FrameworkID; accept_inverse_offers: AcceptInverseOffers }
  | { type: 'DECLINE_INVERSE_OFFERS'; framework_id: FrameworkID; decline_inverse_offers: DeclineInverseOffers }
  | { type: 'REVIVE'; framework_id: FrameworkID; revive: Roles }
  | { type: 'SUPPRESS'; framework_id: FrameworkID; suppress: Roles }
  | { type: 'KILL'; framework_id: FrameworkID; kill: Kill }
  | { type: 'SHUTDOWN'; framework_id: FrameworkID; shutdown: Shutdown }
  | { type: 'ACKNOWLEDGE'; framework_id: FrameworkID; acknowledge: Acknowledge }
  | { type: 'ACKNOWLEDGE_OPERATION_STATUS'; framework_id: FrameworkID; acknowledge_operation_status: AcknowledgeOperationStatus }
  | { type: 'RECONCILE'; framework_id: FrameworkID; reconcile: Reconcile }
  | { type: 'RECONCILE_OPERATIONS'; framework_id: FrameworkID; reconcile_operations: ReconcileOperations }
  | { type: 'MESSAGE'; framework_id: FrameworkID; message: Message }
  | { type: 'REQUEST'; framework_id: FrameworkID; request: Request }
  | { type: 'UPDATE_FRAMEWORK'; framework_id: FrameworkID; update_framework: UpdateFramework };

// ---- events ----------------------------------------------------------------------------------

export const EVENT_TYPES = [
  'SUBSCRIBED',
  'OFFERS',
  'INVERSE_OFFERS',
  'RESCIND',
  'RESCIND_INVERSE_OFFER',
  'UPDATE',
  'UPDATE_OPERATION_STATUS',
  'MESSAGE',
  'FAILURE',
  'ERROR',
  'HEARTBEAT',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type Event =
  | {
      type: 'SUBSCRIBED';
      subscribed: { framework_id: FrameworkID; heartbeat_interval_seconds?: number; master_info?: MasterInfo };
    }
  | { type: 'OFFERS'; offers: { offers: Offer[] } }
  | { type: 'INVERSE_OFFERS'; inverse_offers: { inverse_offers: InverseOffer[] } }
  | { type: 'RESCIND'; rescind: { offer_id: OfferID } }
  | { type: 'RESCIND_INVERSE_OFFER'; rescind_inverse_offer: { inverse_offer_id: OfferID } }
  | { type: 'UPDATE'; update: { status: TaskStatus } }
  | { type: 'UPDATE_OPERATION_STATUS'; update_operation_status: { status: OperationStatus } }
  | { type: 'MESSAGE'; message: { agent_id: AgentID; executor_id: ExecutorID; data: string } }
  | { type: 'FAILURE'; failure: { agent_id?: AgentID; executor_id?: ExecutorID; status?: number } }
  | { type: 'ERROR'; error: { message: string } }
  | { type: 'HEARTBEAT' };
