// Builders for the events the master streams to a subscribed framework, in Mesos's JSON form, and
// their RecordIO framing. They take Muster's vocabulary (plain id strings, ms timestamps, Muster's
// Resources and uuid text) and produce exactly what a Mesos master would send.

import { TASK_STATES } from '../../core/index.js';
import type { Resources, TaskReason } from '../../core/index.js';
import { encodeRecord } from '../recordio.js';
import { compact } from './reader.js';
import { toMesosResources } from './resources.js';
import { MESOS_TASK_REASONS } from './types.js';
import type {
  Attribute,
  ContainerStatus,
  Event,
  Label,
  MasterInfo,
  MesosTaskReason,
  MesosTaskState,
  Offer,
  OperationState,
  TaskStatus,
  TaskStatusSource,
} from './types.js';

// Muster's task states are Mesos's, so a core state goes out as is; this fails to compile the day
// core gains one Mesos does not have.
const _coreStatesAreMesos: readonly MesosTaskState[] = TASK_STATES;

/** Mesos's default heartbeat interval (DEFAULT_HEARTBEAT_INTERVAL). */
export const DEFAULT_HEARTBEAT_SECS = 15;

/** encodeEvent frames one event as a RecordIO record for the subscription stream. */
export function encodeEvent(event: Event): Buffer {
  return encodeRecord(event);
}

/** subscribed opens a stream; master (see masterInfo()) is optional, as in Mesos. */
export function subscribed(frameworkId: string, heartbeatSecs: number, master?: MasterInfo): Event {
  return {
    type: 'SUBSCRIBED',
    subscribed: compact({ framework_id: { value: frameworkId }, heartbeat_interval_seconds: heartbeatSecs, master_info: master }),
  };
}

export function offers(list: Offer[]): Event {
  return { type: 'OFFERS', offers: { offers: list } };
}

export function rescind(offerId: string): Event {
  return { type: 'RESCIND', rescind: { offer_id: { value: offerId } } };
}

export function update(status: TaskStatusInput): Event {
  return { type: 'UPDATE', update: { status: taskStatus(status) } };
}

/** failure: an agent was removed (agentId alone) or an executor exited (with its exit status). */
export function failure(input: { agentId?: string; executorId?: string; status?: number }): Event {
  return {
    type: 'FAILURE',
    failure: compact({
      agent_id: input.agentId === undefined ? undefined : { value: input.agentId },
      executor_id: input.executorId === undefined ? undefined : { value: input.executorId },
      status: input.status,
    }),
  };
}

/** error ends a subscription: sent instead of SUBSCRIBED, or later ("Framework failed over"). */
export function error(message: string): Event {
  return { type: 'ERROR', error: { message } };
}

export function heartbeat(): Event {
  return { type: 'HEARTBEAT' };
}

/** message carries an executor's bytes to its framework (base64 on the wire). */
export function message(input: { agentId: string; executorId: string; data: Uint8Array }): Event {
  return {
    type: 'MESSAGE',
    message: {
      agent_id: { value: input.agentId },
      executor_id: { value: input.executorId },
      data: Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength).toString('base64'),
    },
  };
}

/**
 * updateOperationStatus answers an operation the framework gave an id to; Muster carries out only
 * LAUNCH and LAUNCH_GROUP, so this is how it says OPERATION_ERROR (or DROPPED) to the others.
 */
export function updateOperationStatus(input: { operationId: string; state: OperationState; message?: string; agentId?: string }): Event {
  return {
    type: 'UPDATE_OPERATION_STATUS',
    update_operation_status: {
      status: compact({
        operation_id: { value: input.operationId },
        state: input.state,
        message: input.message,
        agent_id: input.agentId === undefined ? undefined : { value: input.agentId },
      }),
    },
  };
}

// ---- task status ------------------------------------------------------------------------------

/** TaskStatusInput is one task status in Muster's terms. */
export interface TaskStatusInput {
  taskId: string;
  /** Muster's core states are all Mesos states. */
  state: MesosTaskState;
  /** The status's uuid as Muster holds it; absent for a reconciliation answer, which is not acknowledged. */
  uuid?: string;
  /** When it happened, ms since the epoch (Muster's clock); sent as fractional seconds. */
  timestampMs?: number;
  source?: TaskStatusSource;
  reason?: MesosTaskReason;
  message?: string;
  agentId?: string;
  executorId?: string;
  healthy?: boolean;
  labels?: Label[];
  containerStatus?: ContainerStatus;
  data?: Uint8Array;
}

export function taskStatus(s: TaskStatusInput): TaskStatus {
  return compact({
    task_id: { value: s.taskId },
    state: s.state,
    message: s.message,
    source: s.source,
    reason: s.reason,
    data: s.data === undefined ? undefined : Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength).toString('base64'),
    agent_id: s.agentId === undefined ? undefined : { value: s.agentId },
    executor_id: s.executorId === undefined ? undefined : { value: s.executorId },
    timestamp: s.timestampMs === undefined ? undefined : s.timestampMs / 1000,
    uuid: s.uuid === undefined ? undefined : encodeStatusUuid(s.uuid),
    healthy: s.healthy,
    labels: s.labels === undefined ? undefined : { labels: s.labels },
    container_status: s.containerStatus,
  });
}

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * encodeStatusUuid is a status uuid as the framework sees it (base64 bytes) and acknowledges it: a
 * UUID's 16 bytes, as Mesos sends, for the uuids Muster makes (randomUUID); the UTF-8 bytes of any
 * other uuid string an agent chose. The master matches an ACKNOWLEDGE by comparing its uuid (which
 * parseCall returns in this canonical form) with encodeStatusUuid of the pending update's uuid.
 */
export function encodeStatusUuid(uuid: string): string {
  const bytes = UUID_TEXT.test(uuid) ? Buffer.from(uuid.replaceAll('-', ''), 'hex') : Buffer.from(uuid, 'utf8');
  return bytes.toString('base64');
}

/**
 * RENAMED maps the reasons of Muster's whose Mesos counterpart has another name. A core reason that
 * is also a Mesos reason (REASON_RECONCILIATION, REASON_CONTAINER_LIMITATION_MEMORY …) goes out as
 * is; the rest (a command that exited, a kill asked for, a job killed) go out with no reason, as
 * Mesos's own executor and master send none for those, so a framework reads the update as it would
 * from Mesos.
 */
const RENAMED: Readonly<Partial<Record<TaskReason, MesosTaskReason>>> = {
  REASON_AGENT_UNREACHABLE: 'REASON_AGENT_REMOVED',
  REASON_AGENT_SHUTDOWN: 'REASON_AGENT_REMOVED',
  REASON_AGENT_REREGISTERED_UNKNOWN: 'REASON_AGENT_REREGISTERED',
  REASON_LAUNCH_FAILED: 'REASON_CONTAINER_LAUNCH_FAILED',
  REASON_SANDBOX_FAILED: 'REASON_CONTAINER_LAUNCH_FAILED',
  REASON_CONTAINER_PREPARE_FAILED: 'REASON_CONTAINER_LAUNCH_FAILED',
  REASON_INVALID_TASK: 'REASON_TASK_INVALID',
  REASON_PREEMPTED: 'REASON_CONTAINER_PREEMPTED',
};

function isMesosReason(reason: string): reason is MesosTaskReason {
  return (MESOS_TASK_REASONS as readonly string[]).includes(reason);
}

/** mesosReason is the Mesos reason for one of Muster's, or undefined where Mesos would send none. */
export function mesosReason(reason: TaskReason): MesosTaskReason | undefined {
  return RENAMED[reason] ?? (isMesosReason(reason) ? reason : undefined);
}

// ---- offers and master info -------------------------------------------------------------------

/** OfferInput is one offer in Muster's terms. */
export interface OfferInput {
  id: string;
  frameworkId: string;
  agentId: string;
  hostname: string;
  resources: Resources;
  /** The framework's role the offer is made to; unreserved resources show role "*". */
  role: string;
  attributes?: Readonly<Record<string, string>>;
  /** The agent's address, which Mesos gives as the offer's url (frameworks read url.address.ip). */
  agentAddress?: { ip: string; port: number };
}

/** offer is one Offer as Mesos sends it to a MULTI_ROLE-era framework (allocation_info set). */
export function offer(input: OfferInput): Offer {
  const attributes: Attribute[] = [];
  for (const [name, value] of Object.entries(input.attributes ?? {})) attributes.push({ name, type: 'TEXT', text: { value } });
  return {
    id: { value: input.id },
    framework_id: { value: input.frameworkId },
    agent_id: { value: input.agentId },
    hostname: input.hostname,
    ...(input.agentAddress === undefined
      ? {}
      : { url: { scheme: 'http', address: { hostname: input.hostname, ip: input.agentAddress.ip, port: input.agentAddress.port }, path: '/slave(1)' } }),
    resources: toMesosResources(input.resources, '*', input.role),
    attributes,
    executor_ids: [],
    allocation_info: { role: input.role },
  };
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * masterInfo describes the leading master for SUBSCRIBED. Mesos packs the IPv4 address as its
 * in_addr bytes read as a little-endian uint32 (127.0.0.1 is 16777343); an address that is not
 * IPv4 packs as 0 and is given in address.ip only.
 */
export function masterInfo(input: { id: string; hostname: string; ip: string; port: number; version?: string }): MasterInfo {
  const m = IPV4.exec(input.ip);
  let packed = 0;
  if (m !== null) {
    const octets = m.slice(1, 5).map(Number);
    if (octets.every((o) => o <= 255)) packed = ((octets[0] ?? 0) | ((octets[1] ?? 0) << 8) | ((octets[2] ?? 0) << 16) | ((octets[3] ?? 0) << 24)) >>> 0;
  }
  return compact({
    id: input.id,
    ip: packed,
    port: input.port,
    pid: `master@${input.ip}:${input.port}`,
    hostname: input.hostname,
    version: input.version,
    address: { hostname: input.hostname, ip: input.ip, port: input.port },
  });
}
