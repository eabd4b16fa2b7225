// MESOS_PROTO is the Mesos v1 scheduler API's protobuf definitions (the .proto text) that the
// protobuf codec (proto.ts) parses. It lives here as a string, the one copy: tsc does not copy
// .proto files into dist/, and a string cannot go missing at run time.

export const MESOS_PROTO = `// The Mesos v1 scheduler API's protobuf messages, as far as Muster's JSON codec (types.ts) reads or
// writes them: the wire form of the application/x-protobuf media type of /api/v1/scheduler.
//
// Source: apache/mesos (commit c1b42f79d157aa900be5cbb0c1023f1479962aa7),
// include/mesos/v1/mesos.proto and include/mesos/v1/scheduler/scheduler.proto. Field names,
// numbers, labels, defaults and enum values are Mesos's; a message or field left out here is an
// unknown field to the decoder, skipped, exactly as Mesos skips a field it does not know.
//
// One file and one package: Mesos keeps Call and Event in mesos.v1.scheduler, but package names do
// not travel on the wire.

syntax = "proto2";

package mesos.v1;

// ---- ids and small values ---------------------------------------------------------------------

message FrameworkID {
  required string value = 1;
}

message OfferID {
  required string value = 1;
}

message AgentID {
  required string value = 1;
}

message TaskID {
  required string value = 1;
}

message ExecutorID {
  required string value = 1;
}

message ContainerID {
  required string value = 1;
  optional ContainerID parent = 2;
}

message ResourceProviderID {
  required string value = 1;
}

message OperationID {
  required string value = 1;
}

message UUID {
  required bytes value = 1;
}

message TimeInfo {
  required int64 nanoseconds = 1;
}

message DurationInfo {
  required int64 nanoseconds = 1;
}

message Address {
  optional string hostname = 1;
  optional string ip = 2;
  required int32 port = 3;
}

message URL {
  required string scheme = 1;
  required Address address = 2;
  optional string path = 3;
  repeated Parameter query = 4;
  optional string fragment = 5;
}

message Unavailability {
  required TimeInfo start = 1;
  optional DurationInfo duration = 2;
}

message Parameter {
  required string key = 1;
  required string value = 2;
}

message Labels {
  repeated Label labels = 1;
}

message Label {
  required string key = 1;
  optional string value = 2;
}

message DomainInfo {
  message FaultDomain {
    message RegionInfo {
      required string name = 1;
    }
    message ZoneInfo {
      required string name = 1;
    }
    required RegionInfo region = 1;
    required ZoneInfo zone = 2;
  }
  optional FaultDomain fault_domain = 1;
}

// ---- frameworks and masters -------------------------------------------------------------------

message FrameworkInfo {
  required string user = 1;
  required string name = 2;
  optional FrameworkID id = 3;
  optional double failover_timeout = 4 [default = 0.0];
  optional bool checkpoint = 5 [default = false];
  optional string role = 6 [default = "*", deprecated = true];
  repeated string roles = 12;
  optional string hostname = 7;
  optional string principal = 8;
  optional string webui_url = 9;

  message Capability {
    enum Type {
      UNKNOWN = 0;
      REVOCABLE_RESOURCES = 1;
      TASK_KILLING_STATE = 2;
      GPU_RESOURCES = 3;
      SHARED_RESOURCES = 4;
      PARTITION_AWARE = 5;
      MULTI_ROLE = 6;
      RESERVATION_REFINEMENT = 7;
      REGION_AWARE = 8;
    }
    optional Type type = 1;
  }
  repeated Capability capabilities = 10;
  optional Labels labels = 11;
  // offer_filters = 13 (map<string, OfferFilters>) is left out.
}

message MasterInfo {
  required string id = 1;
  required uint32 ip = 2;
  required uint32 port = 3 [default = 5050];
  optional string pid = 4;
  optional string hostname = 5;
  optional string version = 6;
  optional Address address = 7;
  optional DomainInfo domain = 8;

  message Capability {
    enum Type {
      UNKNOWN = 0;
      AGENT_UPDATE = 1;
      AGENT_DRAINING = 2;
      QUOTA_V2 = 3;
    }
    optional Type type = 1;
  }
  repeated Capability capabilities = 9;
}

// ---- values, attributes and resources ---------------------------------------------------------

message Value {
  enum Type {
    SCALAR = 0;
    RANGES = 1;
    SET = 2;
    TEXT = 3;
  }

  message Scalar {
    required double value = 1;
  }

  message Range {
    required uint64 begin = 1;
    required uint64 end = 2;
  }

  message Ranges {
    repeated Range range = 1;
  }

  message Set {
    repeated string item = 1;
  }

  message Text {
    required string value = 1;
  }

  required Type type = 1;
  optional Scalar scalar = 2;
  optional Ranges ranges = 3;
  optional Set set = 4;
  optional Text text = 5;
}

message Attribute {
  required string name = 1;
  required Value.Type type = 2;
  optional Value.Scalar scalar = 3;
  optional Value.Ranges ranges = 4;
  optional Value.Set set = 6;
  optional Value.Text text = 5;
}

// Resource without reservations, disk and shared info (fields 7, 8, 10, 13), which Muster does not read.
message Resource {
  optional ResourceProviderID provider_id = 12;
  required string name = 1;
  required Value.Type type = 2;
  optional Value.Scalar scalar = 3;
  optional Value.Ranges ranges = 4;
  optional Value.Set set = 5;
  optional string role = 6 [default = "*", deprecated = true];

  message AllocationInfo {
    optional string role = 1;
  }
  optional AllocationInfo allocation_info = 11;

  message RevocableInfo {}
  optional RevocableInfo revocable = 9;
}

message Request {
  optional AgentID agent_id = 1;
  repeated Resource resources = 2;
}

message Filters {
  optional double refuse_seconds = 1 [default = 5.0];
}

// ---- commands, containers, health checks, discovery -------------------------------------------

message Environment {
  message Variable {
    required string name = 1;
    enum Type {
      UNKNOWN = 0;
      VALUE = 1;
      SECRET = 2;
    }
    optional Type type = 3 [default = VALUE];
    optional string value = 2;
    // secret = 4 (Secret) is left out.
  }
  repeated Variable variables = 1;
}

message CommandInfo {
  message URI {
    required string value = 1;
    optional bool executable = 2;
    optional bool extract = 3 [default = true];
    optional bool cache = 4;
    optional string output_file = 5;
  }
  repeated URI uris = 1;
  optional Environment environment = 2;
  optional bool shell = 6 [default = true];
  optional string value = 3;
  repeated string arguments = 7;
  optional string user = 5;
}

message Image {
  enum Type {
    APPC = 1;
    DOCKER = 2;
  }
  message Appc {
    required string name = 1;
    optional string id = 2;
    optional Labels labels = 3;
  }
  message Docker {
    required string name = 1;
  }
  required Type type = 1;
  optional Appc appc = 2;
  optional Docker docker = 3;
  optional bool cached = 4 [default = true];
}

message Volume {
  enum Mode {
    RW = 1;
    RO = 2;
  }
  required Mode mode = 3;
  required string container_path = 1;
  optional string host_path = 2;
  optional Image image = 4;
  // source = 5 is left out.
}

message NetworkInfo {
  enum Protocol {
    IPv4 = 1;
    IPv6 = 2;
  }
  message IPAddress {
    optional Protocol protocol = 1 [default = IPv4];
    optional string ip_address = 2;
  }
  repeated IPAddress ip_addresses = 5;
  optional string name = 6;
  repeated string groups = 3;
  optional Labels labels = 4;
  message PortMapping {
    required uint32 host_port = 1;
    required uint32 container_port = 2;
    optional string protocol = 3;
  }
  repeated PortMapping port_mappings = 7;
}

// ContainerInfo without linux_info, rlimit_info and tty_info (fields 8-10).
message ContainerInfo {
  enum Type {
    DOCKER = 1;
    MESOS = 2;
  }
  message DockerInfo {
    required string image = 1;
    enum Network {
      HOST = 1;
      BRIDGE = 2;
      NONE = 3;
      USER = 4;
    }
    optional Network network = 2 [default = HOST];
    message PortMapping {
      required uint32 host_port = 1;
      required uint32 container_port = 2;
      optional string protocol = 3;
    }
    repeated PortMapping port_mappings = 3;
    optional bool privileged = 4 [default = false];
    repeated Parameter parameters = 5;
    optional bool force_pull_image = 6;
  }
  message MesosInfo {
    optional Image image = 1;
  }
  required Type type = 1;
  repeated Volume volumes = 2;
  optional string hostname = 4;
  optional DockerInfo docker = 3;
  optional MesosInfo mesos = 5;
  repeated NetworkInfo network_infos = 7;
}

// ContainerStatus without cgroup_info (field 2).
message ContainerStatus {
  optional ContainerID container_id = 4;
  repeated NetworkInfo network_infos = 1;
  optional uint32 executor_pid = 3;
}

message HealthCheck {
  enum Type {
    UNKNOWN = 0;
    COMMAND = 1;
    HTTP = 2;
    TCP = 3;
  }
  message HTTPCheckInfo {
    optional NetworkInfo.Protocol protocol = 5 [default = IPv4];
    optional string scheme = 3;
    required uint32 port = 1;
    optional string path = 2;
    repeated uint32 statuses = 4;
  }
  message TCPCheckInfo {
    optional NetworkInfo.Protocol protocol = 2 [default = IPv4];
    required uint32 port = 1;
  }
  optional double delay_seconds = 2 [default = 15.0];
  optional double interval_seconds = 3 [default = 10.0];
  optional double timeout_seconds = 4 [default = 20.0];
  optional uint32 consecutive_failures = 5 [default = 3];
  optional double grace_period_seconds = 6 [default = 10.0];
  optional Type type = 8;
  optional CommandInfo command = 7;
  optional HTTPCheckInfo http = 1;
  optional TCPCheckInfo tcp = 9;
}

message KillPolicy {
  optional DurationInfo grace_period = 1;
}

message Port {
  required uint32 number = 1;
  optional string name = 2;
  optional string protocol = 3;
  optional DiscoveryInfo.Visibility visibility = 4;
  optional Labels labels = 5;
}

message Ports {
  repeated Port ports = 1;
}

message DiscoveryInfo {
  enum Visibility {
    FRAMEWORK = 0;
    CLUSTER = 1;
    EXTERNAL = 2;
  }
  required Visibility visibility = 1;
  optional string name = 2;
  optional string environment = 3;
  optional string location = 4;
  optional string version = 5;
  optional Ports ports = 6;
  optional Labels labels = 7;
}

// ---- executors, tasks, offers -----------------------------------------------------------------

message ExecutorInfo {
  enum Type {
    UNKNOWN = 0;
    DEFAULT = 1;
    CUSTOM = 2;
  }
  optional Type type = 15;
  required ExecutorID executor_id = 1;
  optional FrameworkID framework_id = 8;
  optional CommandInfo command = 7;
  optional ContainerInfo container = 11;
  repeated Resource resources = 5;
  optional string name = 9;
  optional bytes data = 4;
  optional DiscoveryInfo discovery = 12;
  optional DurationInfo shutdown_grace_period = 13;
  optional Labels labels = 14;
}

// TaskInfo without check (13) and limits (15).
message TaskInfo {
  required string name = 1;
  required TaskID task_id = 2;
  required AgentID agent_id = 3;
  repeated Resource resources = 4;
  optional ExecutorInfo executor = 5;
  optional CommandInfo command = 7;
  optional ContainerInfo container = 9;
  optional HealthCheck health_check = 8;
  optional KillPolicy kill_policy = 12;
  optional bytes data = 6;
  optional Labels labels = 10;
  optional DiscoveryInfo discovery = 11;
  optional DurationInfo max_completion_time = 14;
}

message TaskGroupInfo {
  repeated TaskInfo tasks = 1;
}

message Offer {
  required OfferID id = 1;
  required FrameworkID framework_id = 2;
  required AgentID agent_id = 3;
  required string hostname = 4;
  optional URL url = 8;
  optional DomainInfo domain = 11;
  repeated Resource resources = 5;
  repeated Attribute attributes = 7;
  repeated ExecutorID executor_ids = 6;
  optional Unavailability unavailability = 9;
  optional Resource.AllocationInfo allocation_info = 10;

  // Operation carries LAUNCH and LAUNCH_GROUP; the bodies of the others (reserve = 3 … destroy_disk
  // = 16) are left out, so they read as their type and id alone, which is what parseCall keeps.
  message Operation {
    enum Type {
      UNKNOWN = 0;
      LAUNCH = 1;
      LAUNCH_GROUP = 6;
      RESERVE = 2;
      UNRESERVE = 3;
      CREATE = 4;
      DESTROY = 5;
      GROW_VOLUME = 11;
      SHRINK_VOLUME = 12;
      CREATE_DISK = 13;
      DESTROY_DISK = 14;
    }
    message Launch {
      repeated TaskInfo task_infos = 1;
    }
    message LaunchGroup {
      required ExecutorInfo executor = 1;
      required TaskGroupInfo task_group = 2;
    }
    optional Type type = 1;
    optional OperationID id = 12;
    optional Launch launch = 2;
    optional LaunchGroup launch_group = 7;
  }
}

message InverseOffer {
  required OfferID id = 1;
  optional URL url = 2;
  required FrameworkID framework_id = 3;
  optional AgentID agent_id = 4;
  required Unavailability unavailability = 5;
  repeated Resource resources = 6;
}

// ---- task and operation status ----------------------------------------------------------------

enum TaskState {
  TASK_STAGING = 6;
  TASK_STARTING = 0;
  TASK_RUNNING = 1;
  TASK_KILLING = 8;
  TASK_FINISHED = 2;
  TASK_FAILED = 3;
  TASK_KILLED = 4;
  TASK_ERROR = 7;
  TASK_LOST = 5;
  TASK_DROPPED = 9;
  TASK_UNREACHABLE = 10;
  TASK_GONE = 11;
  TASK_GONE_BY_OPERATOR = 12;
  TASK_UNKNOWN = 13;
}

// TaskStatus without check_status (15), unreachable_time (14) and limitation (16).
message TaskStatus {
  enum Source {
    SOURCE_MASTER = 0;
    SOURCE_AGENT = 1;
    SOURCE_EXECUTOR = 2;
  }
  enum Reason {
    REASON_COMMAND_EXECUTOR_FAILED = 0;
    REASON_CONTAINER_LAUNCH_FAILED = 21;
    REASON_CONTAINER_LIMITATION = 19;
    REASON_CONTAINER_LIMITATION_DISK = 20;
    REASON_CONTAINER_LIMITATION_MEMORY = 8;
    REASON_CONTAINER_PREEMPTED = 17;
    REASON_CONTAINER_UPDATE_FAILED = 22;
    REASON_MAX_COMPLETION_TIME_REACHED = 33;
    REASON_EXECUTOR_REGISTRATION_TIMEOUT = 23;
    REASON_EXECUTOR_REREGISTRATION_TIMEOUT = 24;
    REASON_EXECUTOR_TERMINATED = 1;
    REASON_EXECUTOR_UNREGISTERED = 2;
    REASON_FRAMEWORK_REMOVED = 3;
    REASON_GC_ERROR = 4;
    REASON_INVALID_FRAMEWORKID = 5;
    REASON_INVALID_OFFERS = 6;
    REASON_IO_SWITCHBOARD_EXITED = 27;
    REASON_MASTER_DISCONNECTED = 7;
    REASON_RECONCILIATION = 9;
    REASON_RESOURCES_UNKNOWN = 18;
    REASON_AGENT_DISCONNECTED = 10;
    REASON_AGENT_DRAINING = 34;
    REASON_AGENT_REMOVED = 11;
    REASON_AGENT_REMOVED_BY_OPERATOR = 31;
    REASON_AGENT_REREGISTERED = 32;
    REASON_AGENT_RESTARTED = 12;
    REASON_AGENT_UNKNOWN = 13;
    REASON_TASK_KILLED_DURING_LAUNCH = 30;
    REASON_TASK_CHECK_STATUS_UPDATED = 28;
    REASON_TASK_HEALTH_CHECK_STATUS_UPDATED = 29;
    REASON_TASK_GROUP_INVALID = 25;
    REASON_TASK_GROUP_UNAUTHORIZED = 26;
    REASON_TASK_INVALID = 14;
    REASON_TASK_UNAUTHORIZED = 15;
    REASON_TASK_UNKNOWN = 16;
  }
  required TaskID task_id = 1;
  required TaskState state = 2;
  optional string message = 4;
  optional Source source = 9;
  optional Reason reason = 10;
  optional bytes data = 3;
  optional AgentID agent_id = 5;
  optional ExecutorID executor_id = 7;
  optional double timestamp = 6;
  optional bytes uuid = 11;
  optional bool healthy = 8;
  optional Labels labels = 12;
  optional ContainerStatus container_status = 13;
}

enum OperationState {
  OPERATION_UNSUPPORTED = 0;
  OPERATION_PENDING = 1;
  OPERATION_FINISHED = 2;
  OPERATION_FAILED = 3;
  OPERATION_ERROR = 4;
  OPERATION_DROPPED = 5;
  OPERATION_UNREACHABLE = 6;
  OPERATION_GONE_BY_OPERATOR = 7;
  OPERATION_RECOVERING = 8;
  OPERATION_UNKNOWN = 9;
}

message OperationStatus {
  optional OperationID operation_id = 1;
  required OperationState state = 2;
  optional string message = 3;
  repeated Resource converted_resources = 4;
  optional UUID uuid = 5;
  optional AgentID agent_id = 6;
  optional ResourceProviderID resource_provider_id = 7;
}

// ---- scheduler.proto: Event and Call ----------------------------------------------------------

message Event {
  enum Type {
    UNKNOWN = 0;
    SUBSCRIBED = 1;
    OFFERS = 2;
    INVERSE_OFFERS = 9;
    RESCIND = 3;
    RESCIND_INVERSE_OFFER = 10;
    UPDATE = 4;
    UPDATE_OPERATION_STATUS = 11;
    MESSAGE = 5;
    FAILURE = 6;
    ERROR = 7;
    HEARTBEAT = 8;
  }

  message Subscribed {
    required FrameworkID framework_id = 1;
    optional double heartbeat_interval_seconds = 2;
    optional MasterInfo master_info = 3;
  }

  message Offers {
    repeated Offer offers = 1;
  }

  message InverseOffers {
    repeated InverseOffer inverse_offers = 1;
  }

  message Rescind {
    required OfferID offer_id = 1;
  }

  message RescindInverseOffer {
    required OfferID inverse_offer_id = 1;
  }

  message Update {
    required TaskStatus status = 1;
  }

  message UpdateOperationStatus {
    required OperationStatus status = 1;
  }

  message Message {
    required AgentID agent_id = 1;
    required ExecutorID executor_id = 2;
    required bytes data = 3;
  }

  message Failure {
    optional AgentID agent_id = 1;
    optional ExecutorID executor_id = 2;
    optional int32 status = 3;
  }

  message Error {
    required string message = 1;
  }

  optional Type type = 1;
  optional Subscribed subscribed = 2;
  optional Offers offers = 3;
  optional InverseOffers inverse_offers = 9;
  optional Rescind rescind = 4;
  optional RescindInverseOffer rescind_inverse_offer = 10;
  optional Update update = 5;
  optional UpdateOperationStatus update_operation_status = 11;
  optional Message message = 6;
  optional Failure failure = 7;
  optional Error error = 8;
}

message Call {
  enum Type {
    UNKNOWN = 0;
    SUBSCRIBE = 1;
    TEARDOWN = 2;
    ACCEPT = 3;
    DECLINE = 4;
    ACCEPT_INVERSE_OFFERS = 13;
    DECLINE_INVERSE_OFFERS = 14;
    REVIVE = 5;
    KILL = 6;
    SHUTDOWN = 7;
    ACKNOWLEDGE = 8;
    ACKNOWLEDGE_OPERATION_STATUS = 15;
    RECONCILE = 9;
    RECONCILE_OPERATIONS = 16;
    MESSAGE = 10;
    REQUEST = 11;
    SUPPRESS = 12;
    UPDATE_FRAMEWORK = 17;
  }

  // Subscribe and UpdateFramework without offer_constraints (3), which Muster ignores.
  message Subscribe {
    required FrameworkInfo framework_info = 1;
    repeated string suppressed_roles = 2;
  }

  message Accept {
    repeated OfferID offer_ids = 1;
    repeated Offer.Operation operations = 2;
    optional Filters filters = 3;
  }

  message Decline {
    repeated OfferID offer_ids = 1;
    optional Filters filters = 2;
  }

  message AcceptInverseOffers {
    repeated OfferID inverse_offer_ids = 1;
    optional Filters filters = 2;
  }

  message DeclineInverseOffers {
    repeated OfferID inverse_offer_ids = 1;
    optional Filters filters = 2;
  }

  message Revive {
    repeated string roles = 1;
  }

  message Kill {
    required TaskID task_id = 1;
    optional AgentID agent_id = 2;
    optional KillPolicy kill_policy = 3;
  }

  message Shutdown {
    required ExecutorID executor_id = 1;
    required AgentID agent_id = 2;
  }

  message Acknowledge {
    required AgentID agent_id = 1;
    required TaskID task_id = 2;
    required bytes uuid = 3;
  }

  message AcknowledgeOperationStatus {
    optional AgentID agent_id = 1;
    optional ResourceProviderID resource_provider_id = 2;
    required bytes uuid = 3;
    required OperationID operation_id = 4;
  }

  message Reconcile {
    message Task {
      required TaskID task_id = 1;
      optional AgentID agent_id = 2;
    }
    repeated Task tasks = 1;
  }

  message ReconcileOperations {
    message Operation {
      required OperationID operation_id = 1;
      optional AgentID agent_id = 2;
      optional ResourceProviderID resource_provider_id = 3;
    }
    repeated Operation operations = 1;
  }

  message Message {
    required AgentID agent_id = 1;
    required ExecutorID executor_id = 2;
    required bytes data = 3;
  }

  message Request {
    repeated .mesos.v1.Request requests = 1;
  }

  message Suppress {
    repeated string roles = 1;
  }

  message UpdateFramework {
    required FrameworkInfo framework_info = 1;
    repeated string suppressed_roles = 2;
  }

  optional FrameworkID framework_id = 1;
  optional Type type = 2;
  optional Subscribe subscribe = 3;
  optional Accept accept = 4;
  optional Decline decline = 5;
  optional AcceptInverseOffers accept_inverse_offers = 13;
  optional DeclineInverseOffers decline_inverse_offers = 14;
  optional Revive revive = 15;
  optional Kill kill = 6;
  optional Shutdown shutdown = 7;
  optional Acknowledge acknowledge = 8;
  optional AcknowledgeOperationStatus acknowledge_operation_status = 17;
  optional Reconcile reconcile = 9;
  optional ReconcileOperations reconcile_operations = 18;
  optional Message message = 10;
  optional Request request = 11;
  optional Suppress suppress = 16;
  optional UpdateFramework update_framework = 19;
}
`;
