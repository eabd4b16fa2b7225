// mesos: the Mesos v1 HTTP scheduler API in JSON, as a pure codec. parseCall checks what a
// framework POSTs to /api/v1/scheduler; the event builders and encodeEvent make its stream; the
// resource conversions translate between Mesos's Resource lists and Muster's Resources. proto.ts
// carries the same plain objects as application/x-protobuf.
export type * from './types.js';
export {
  CALL_TYPES,
  EVENT_TYPES,
  FRAMEWORK_CAPABILITIES,
  MASTER_CAPABILITIES,
  MESOS_TASK_REASONS,
  MESOS_TASK_STATES,
  OPERATION_STATES,
  OPERATION_TYPES,
  RESOURCE_VALUE_TYPES,
  TASK_STATUS_SOURCES,
} from './types.js';
export { LIMITS } from './limits.js';
export { DEFAULT_REFUSE_SECONDS, MAX_REFUSE_SECONDS, frameworkRoles, parseCall } from './call.js';
export type { ParseCallResult } from './call.js';
export { fromMesosResources, mesosResourcesObject, toMesosResources } from './resources.js';
export type { FromMesosResult, MesosResourcesObject } from './resources.js';
export {
  DEFAULT_HEARTBEAT_SECS,
  encodeEvent,
  encodeStatusUuid,
  error,
  failure,
  heartbeat,
  masterInfo,
  mesosReason,
  message,
  offer,
  offers,
  rescind,
  subscribed,
  taskStatus,
  update,
  updateOperationStatus,
} from './events.js';
export type { OfferInput, TaskStatusInput } from './events.js';
export {
  MAX_PROTOBUF_CALL_BYTES,
  decodeCall as decodeProtobufCall,
  decodeEvent as decodeProtobufEvent,
  encodeEvent as encodeProtobufEvent,
} from './proto.js';
export type { DecodeResult as DecodeProtobufResult } from './proto.js';
