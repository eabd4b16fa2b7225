// parseCall reads a Mesos v1 scheduler Call from its JSON body (POST /api/v1/scheduler) into a
// checked, bounded value, or says which field is wrong and why. It holds the call to what Mesos's
// master would refuse with 400 (a field of the wrong JSON type, missing required fields, unknown
// required enums, framework_id missing or not matching FrameworkInfo.id) plus Muster's bounds
// (limits.ts). What
// Mesos answers with a status update or an ERROR event instead (a TaskInfo with both command and
// executor, a bad role, an unknown offer) passes: the master decides those with the state in hand.

import { LIMITS } from './limits.js';
import { FieldError, compact, readObject, UINT32_MAX } from './reader.js';
import type { Reader } from './reader.js';
import {
  CALL_TYPES,
  FRAMEWORK_CAPABILITIES,
  OPERATION_TYPES,
  RESOURCE_VALUE_TYPES,
} from './types.js';
import type {
  Call,
  CommandInfo,
  ContainerInfo,
  DiscoveryInfo,
  DurationInfo,
  ExecutorInfo,
  Filters,
  FrameworkCapability,
  FrameworkInfo,
  HealthCheck,
  ID,
  Image,
  Labels,
  NetworkInfo,
  Operation,
  PortMapping,
  Resource,
  Subscribe,
  TaskInfo,
  Volume,
} from './types.js';

export type ParseCallResult = { ok: true; call: Call } | { ok: false; field: string; message: string };

/** refuse_seconds when a call gives no filters, or a negative figure (mesos.proto Filters). */
export const DEFAULT_REFUSE_SECONDS = 5;
/** Mesos caps refuse_seconds at a year. */
export const MAX_REFUSE_SECONDS = 31_536_000;

const NAME = { max: LIMITS.nameChars } as const;
const TEXT = { max: LIMITS.textChars } as const;
/** Strings that reach exec: argv, environment, the user to run as. */
const EXEC_NAME = { max: LIMITS.nameChars, noNul: true } as const;
const EXEC_TEXT = { max: LIMITS.textChars, noNul: true } as const;
const SHORT = { max: 64 } as const;

const PROTOCOLS = ['IPv4', 'IPv6'] as const;
const VISIBILITIES = ['FRAMEWORK', 'CLUSTER', 'EXTERNAL'] as const;
/** int64 and uint64 fields hold what a double holds exactly. */
const INT64_MIN = Number.MIN_SAFE_INTEGER;
const INT64_MAX = Number.MAX_SAFE_INTEGER;

/**
 * ParseContext counts what bounds span the whole call. The parse throws FieldError from deep in the
 * descent (a result threaded through thirty readers would bury the logic); parseCall catches it.
 */
interface ParseContext {
  tasks: number;
}

/**
 * parseCall checks a scheduler call, already JSON-parsed. It never throws: a bad body is an answer
 * ({ ok: false, field, message }) that the HTTP layer turns into 400 with the message.
 */
export function parseCall(body: unknown): ParseCallResult {
  try {
    return { ok: true, call: readCall(readObject(body, ''), { tasks: 0 }) };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, field: err.field, message: err.message };
    throw err;
  }
}

function readCall(r: Reader, ctx: ParseContext): Call {
  // Mesos drops an unknown type and then finds none ("Expecting 'type' to be present"); saying
  // which type was not known is kinder and refuses the same calls.
  const type = r.enum('type', CALL_TYPES);
  const frameworkId = r.optId('framework_id');

  if (type === 'SUBSCRIBE') {
    const subscribe = r.message('subscribe', readSubscribe);
    // A re-subscription names its id twice; Mesos wants the two to agree, and both absent is a new framework.
    if (subscribe.framework_info.id?.value !== frameworkId?.value) {
      throw new FieldError('framework_id', "framework_id differs from subscribe.framework_info.id");
    }
    return compact({ type, framework_id: frameworkId, subscribe });
  }
  if (frameworkId === undefined) throw new FieldError('framework_id', `framework_id is required for a ${type} call`);
  const framework_id = frameworkId;

  switch (type) {
    case 'TEARDOWN':
      return { type, framework_id };
    case 'ACCEPT':
      return {
        type,
        framework_id,
        accept: r.message('accept', (a) => ({
          offer_ids: a.ids('offer_ids', LIMITS.offerIds),
          operations: a.messages('operations', LIMITS.operations, (o) => readOperation(o, ctx)),
          filters: readFilters(a),
        })),
      };
    case 'DECLINE':
      return {
        type,
        framework_id,
        decline: r.message('decline', (d) => ({ offer_ids: d.ids('offer_ids', LIMITS.offerIds), filters: readFilters(d) })),
      };
    case 'ACCEPT_INVERSE_OFFERS':
      return { type, framework_id, accept_inverse_offers: r.message('accept_inverse_offers', readInverseOffers) };
    case 'DECLINE_INVERSE_OFFERS':
      return { type, framework_id, decline_inverse_offers: r.message('decline_inverse_offers', readInverseOffers) };
    // REVIVE and SUPPRESS may come without a body: all of the framework's roles.
    case 'REVIVE':
      return { type, framework_id, revive: r.optMessage('revive', readRoles) ?? { roles: [] } };
    case 'SUPPRESS':
      return { type, framework_id, suppress: r.optMessage('suppress', readRoles) ?? { roles: [] } };
    case 'KILL':
      return {
        type,
        framework_id,
        kill: r.message('kill', (k) =>
          compact({ task_id: k.id('task_id'), agent_id: k.optId('agent_id'), kill_policy: k.optMessage('kill_policy', readKillPolicy) }),
        ),
      };
    case 'SHUTDOWN':
      return { type, framework_id, shutdown: r.message('shutdown', (s) => ({ executor_id: s.id('executor_id'), agent_id: s.id('agent_id') })) };
    case 'ACKNOWLEDGE':
      return {
        type,
        framework_id,
        acknowledge: r.message('acknowledge', (a) => ({
          agent_id: a.id('agent_id'),
          task_id: a.id('task_id'),
          uuid: a.bytes('uuid', 1, LIMITS.uuidBytes),
        })),
      };
    case 'ACKNOWLEDGE_OPERATION_STATUS':
      return {
        type,
        framework_id,
        acknowledge_operation_status: r.message('acknowledge_operation_status', (a) =>
          compact({
            // Optional in the proto, yet Mesos's validation wants it (no external resource providers).
            agent_id: a.id('agent_id'),
            resource_provider_id: a.optId('resource_provider_id'),
            uuid: a.bytes('uuid', 1, LIMITS.uuidBytes),
            operation_id: a.id('operation_id'),
          }),
        ),
      };
    case 'RECONCILE':
      return {
        type,
        framework_id,
        reconcile: r.message('reconcile', (c) => ({
          tasks: c.messages('tasks', LIMITS.reconcile, (t) => compact({ task_id: t.id('task_id'), agent_id: t.optId('agent_id') })),
        })),
      };
    case 'RECONCILE_OPERATIONS':
      return {
        type,
        framework_id,
        reconcile_operations: r.message('reconcile_operations', (c) => ({
          operations: c.messages('operations', LIMITS.reconcile, (o) =>
            compact({ operation_id: o.id('operation_id'), agent_id: o.optId('agent_id'), resource_provider_id: o.optId('resource_provider_id') }),
          ),
        })),
      };
    case 'MESSAGE':
      return {
        type,
        framework_id,
        message: r.message('message', (m) => ({
          agent_id: m.id('agent_id'),
          executor_id: m.id('executor_id'),
          data: m.bytes('data', 0, LIMITS.dataBytes),
        })),
      };
    case 'REQUEST':
      return {
        type,
        framework_id,
        request: r.message('request', (q) => ({
          requests: q.messages('requests', LIMITS.requests, (e) => compact({ agent_id: e.optId('agent_id'), resources: readResources(e, 'resources') })),
        })),
      };
    case 'UPDATE_FRAMEWORK': {
      const update = r.message('update_framework', readSubscribe);
      if (update.framework_info.id?.value !== framework_id.value) {
        throw new FieldError('framework_id', 'framework_id differs from update_framework.framework_info.id');
      }
      return { type, framework_id, update_framework: update };
    }
  }
}

// ---- frameworks -------------------------------------------------------------------------------

function readSubscribe(r: Reader): Subscribe {
  return {
    framework_info: r.message('framework_info', readFrameworkInfo),
    suppressed_roles: r.strings('suppressed_roles', LIMITS.shortList, NAME),
  };
}

function readFrameworkInfo(r: Reader): FrameworkInfo {
  const capabilities: FrameworkCapability[] = [];
  for (const c of r.messages('capabilities', LIMITS.shortList, (c) => c.optEnum('type', FRAMEWORK_CAPABILITIES))) {
    // A capability this version does not know reads as UNKNOWN in Mesos, and means nothing.
    if (c !== undefined) capabilities.push({ type: c });
  }
  return compact({
    user: r.string('user', EXEC_NAME),
    name: r.string('name', NAME),
    id: r.optId('id'),
    failover_timeout: r.optNumber('failover_timeout') ?? 0,
    checkpoint: r.optBoolean('checkpoint') ?? false,
    role: r.optString('role', NAME),
    roles: r.strings('roles', LIMITS.shortList, NAME),
    hostname: r.optString('hostname', NAME),
    principal: r.optString('principal', NAME),
    webui_url: r.optString('webui_url', NAME),
    capabilities,
    labels: r.optMessage('labels', readLabels),
  });
}

/**
 * frameworkRoles is the roles a framework subscribes with: roles for a MULTI_ROLE framework, else
 * its single role, "*" when it gave none (FrameworkInfo.role's default).
 */
export function frameworkRoles(info: FrameworkInfo): string[] {
  if (info.capabilities.some((c) => c.type === 'MULTI_ROLE')) return info.roles;
  return [info.role ?? '*'];
}

function readRoles(r: Reader): { roles: string[] } {
  return { roles: r.strings('roles', LIMITS.shortList, NAME) };
}

function readInverseOffers(r: Reader): { inverse_offer_ids: ID[]; filters: Filters } {
  return { inverse_offer_ids: r.ids('inverse_offer_ids', LIMITS.offerIds), filters: readFilters(r) };
}

/** readFilters reads the filters field of r: absent or negative is 5 s, more than a year is a year. */
function readFilters(r: Reader): Filters {
  const seconds = r.optMessage('filters', (f) => f.optNumber('refuse_seconds'));
  if (seconds === undefined || seconds < 0) return { refuse_seconds: DEFAULT_REFUSE_SECONDS };
  return { refuse_seconds: Math.min(seconds, MAX_REFUSE_SECONDS) };
}

// ---- operations ---------------------------------------------------------------------------------

function readOperation(r: Reader, ctx: ParseContext): Operation {
  // Type is optional in the proto: absent or unknown reads as UNKNOWN, which Mesos ignores.
  const type = r.optEnum('type', OPERATION_TYPES) ?? 'UNKNOWN';
  const id = r.optId('id');
  switch (type) {
    case 'LAUNCH':
      return compact({
        type,
        id,
        launch: r.message('launch', (l) => ({ task_infos: l.messages('task_infos', LIMITS.taskInfos, (t) => readTaskInfo(t, ctx)) })),
      });
    case 'LAUNCH_GROUP':
      return compact({
        type,
        id,
        launch_group: r.message('launch_group', (g) => ({
          executor: g.message('executor', readExecutorInfo),
          task_group: g.message('task_group', (tg) => ({
            tasks: tg.messages('tasks', LIMITS.taskInfos, (t) => readTaskInfo(t, ctx)),
          })),
        })),
      });
    default:
      // Recognised, not carried out: the master answers it (or ignores it, as Mesos does UNKNOWN).
      return compact({ type, id });
  }
}

function readTaskInfo(r: Reader, ctx: ParseContext): TaskInfo {
  ctx.tasks++;
  if (ctx.tasks > LIMITS.taskInfos) {
    throw new FieldError(r.path, `${r.path}: a call may launch at most ${LIMITS.taskInfos} tasks`);
  }
  return compact({
    name: r.string('name', NAME),
    task_id: r.id('task_id'),
    agent_id: r.id('agent_id'),
    resources: readResources(r, 'resources'),
    executor: r.optMessage('executor', readExecutorInfo),
    command: r.optMessage('command', readCommandInfo),
    container: r.optMessage('container', readContainerInfo),
    health_check: r.optMessage('health_check', readHealthCheck),
    kill_policy: r.optMessage('kill_policy', readKillPolicy),
    data: r.optBytes('data', LIMITS.dataBytes),
    labels: r.optMessage('labels', readLabels),
    discovery: r.optMessage('discovery', readDiscoveryInfo),
    max_completion_time: r.optMessage('max_completion_time', readDuration),
  });
}

function readExecutorInfo(r: Reader): ExecutorInfo {
  return compact({
    type: r.optEnum('type', ['DEFAULT', 'CUSTOM'] as const),
    executor_id: r.id('executor_id'),
    framework_id: r.optId('framework_id'),
    command: r.optMessage('command', readCommandInfo),
    container: r.optMessage('container', readContainerInfo),
    resources: readResources(r, 'resources'),
    name: r.optString('name', NAME),
    data: r.optBytes('data', LIMITS.dataBytes),
    discovery: r.optMessage('discovery', readDiscoveryInfo),
    shutdown_grace_period: r.optMessage('shutdown_grace_period', readDuration),
    labels: r.optMessage('labels', readLabels),
  });
}

// ---- resources ----------------------------------------------------------------------------------

/** readResources reads a repeated Resource field; resources.ts turns the list into Muster's Resources. */
export function readResources(r: Reader, key: string): Resource[] {
  return r.messages(key, LIMITS.resources, readResource);
}

function readResource(r: Reader): Resource {
  const name = r.string('name', NAME);
  const type = r.enum('type', RESOURCE_VALUE_TYPES);
  const resource = compact({
    name,
    type,
    scalar: r.optMessage('scalar', (s) => ({ value: s.number('value') })),
    ranges: r.optMessage('ranges', (g) => ({
      range: g.messages('range', LIMITS.rangesOrItems, (x) => ({ begin: x.integer('begin', 0, INT64_MAX), end: x.integer('end', 0, INT64_MAX) })),
    })),
    set: r.optMessage('set', (s) => ({ item: s.strings('item', LIMITS.rangesOrItems, NAME) })),
    role: r.optString('role', NAME),
    allocation_info: r.optMessage('allocation_info', (a) => compact({ role: a.optString('role', NAME) })),
    revocable: r.optMessage('revocable', () => ({})),
  });
  // Mesos's Resources::validate: a resource carries the value its type names.
  const value = type === 'SCALAR' ? 'scalar' : type === 'RANGES' ? 'ranges' : 'set';
  if (resource[value] === undefined) throw new FieldError(r.at(value), `${r.at(value)} is required for a ${type} resource`);
  return resource;
}

// ---- commands and containers --------------------------------------------------------------------

function readCommandInfo(r: Reader): CommandInfo {
  return compact({
    uris: r.messages('uris', LIMITS.shortList, (u) =>
      compact({
        value: u.string('value', EXEC_TEXT),
        executable: u.optBoolean('executable'),
        extract: u.optBoolean('extract') ?? true,
        cache: u.optBoolean('cache'),
        output_file: u.optString('output_file', EXEC_NAME),
      }),
    ),
    environment: r.optMessage('environment', (e) => ({
      variables: e.messages('variables', LIMITS.longList, (v) =>
        compact({
          name: v.string('name', EXEC_NAME),
          type: v.optEnum('type', ['VALUE', 'SECRET'] as const) ?? 'VALUE',
          value: v.optString('value', EXEC_TEXT),
        }),
      ),
    })),
    shell: r.optBoolean('shell') ?? true,
    value: r.optString('value', EXEC_TEXT),
    arguments: r.strings('arguments', LIMITS.longList, EXEC_TEXT),
    user: r.optString('user', EXEC_NAME),
  });
}

function readContainerInfo(r: Reader): ContainerInfo {
  return compact({
    type: r.enum('type', ['DOCKER', 'MESOS'] as const),
    volumes: r.messages('volumes', LIMITS.shortList, readVolume),
    hostname: r.optString('hostname', NAME),
    docker: r.optMessage('docker', (d) =>
      compact({
        image: d.string('image', NAME),
        network: d.optEnum('network', ['HOST', 'BRIDGE', 'NONE', 'USER'] as const) ?? 'HOST',
        port_mappings: d.messages('port_mappings', LIMITS.longList, readPortMapping),
        privileged: d.optBoolean('privileged') ?? false,
        parameters: d.messages('parameters', LIMITS.shortList, (p) => ({ key: p.string('key', NAME), value: p.string('value', TEXT) })),
        force_pull_image: d.optBoolean('force_pull_image'),
      }),
    ),
    mesos: r.optMessage('mesos', (m) => compact({ image: m.optMessage('image', readImage) })),
    network_infos: r.messages('network_infos', LIMITS.shortList, readNetworkInfo),
  });
}

function readVolume(r: Reader): Volume {
  return compact({
    mode: r.enum('mode', ['RW', 'RO'] as const),
    container_path: r.string('container_path', NAME),
    host_path: r.optString('host_path', NAME),
    image: r.optMessage('image', readImage),
  });
}

function readImage(r: Reader): Image {
  return compact({
    type: r.enum('type', ['APPC', 'DOCKER'] as const),
    docker: r.optMessage('docker', (d) => ({ name: d.string('name', NAME) })),
    appc: r.optMessage('appc', (a) => compact({ name: a.string('name', NAME), id: a.optString('id', NAME), labels: a.optMessage('labels', readLabels) })),
    cached: r.optBoolean('cached') ?? true,
  });
}

function readPortMapping(r: Reader): PortMapping {
  return compact({
    host_port: r.integer('host_port', 0, UINT32_MAX),
    container_port: r.integer('container_port', 0, UINT32_MAX),
    protocol: r.optString('protocol', SHORT),
  });
}

function readNetworkInfo(r: Reader): NetworkInfo {
  return compact({
    ip_addresses: r.messages('ip_addresses', LIMITS.shortList, (a) =>
      compact({ protocol: a.optEnum('protocol', PROTOCOLS), ip_address: a.optString('ip_address', SHORT) }),
    ),
    name: r.optString('name', NAME),
    groups: r.strings('groups', LIMITS.shortList, NAME),
    labels: r.optMessage('labels', readLabels),
    port_mappings: r.messages('port_mappings', LIMITS.longList, readPortMapping),
  });
}

// ---- health, discovery, labels, durations -------------------------------------------------------

function readHealthCheck(r: Reader): HealthCheck {
  return compact({
    type: r.optEnum('type', ['COMMAND', 'HTTP', 'TCP'] as const),
    // The proto's defaults, so that the agent need not know them.
    delay_seconds: r.optNumber('delay_seconds') ?? 15,
    interval_seconds: r.optNumber('interval_seconds') ?? 10,
    timeout_seconds: r.optNumber('timeout_seconds') ?? 20,
    consecutive_failures: r.optInteger('consecutive_failures', 0, UINT32_MAX) ?? 3,
    grace_period_seconds: r.optNumber('grace_period_seconds') ?? 10,
    command: r.optMessage('command', readCommandInfo),
    http: r.optMessage('http', (h) =>
      compact({
        protocol: h.optEnum('protocol', PROTOCOLS),
        scheme: h.optString('scheme', SHORT),
        port: h.integer('port', 0, UINT32_MAX),
        path: h.optString('path', NAME),
        statuses: h.integers('statuses', LIMITS.shortList, 0, UINT32_MAX),
      }),
    ),
    tcp: r.optMessage('tcp', (t) => compact({ protocol: t.optEnum('protocol', PROTOCOLS), port: t.integer('port', 0, UINT32_MAX) })),
  });
}

function readDiscoveryInfo(r: Reader): DiscoveryInfo {
  return compact({
    visibility: r.enum('visibility', VISIBILITIES),
    name: r.optString('name', NAME),
    environment: r.optString('environment', NAME),
    location: r.optString('location', NAME),
    version: r.optString('version', NAME),
    ports: r.optMessage('ports', (p) => ({
      ports: p.messages('ports', LIMITS.longList, (q) =>
        compact({
          number: q.integer('number', 0, UINT32_MAX),
          name: q.optString('name', NAME),
          protocol: q.optString('protocol', SHORT),
          visibility: q.optEnum('visibility', VISIBILITIES),
          labels: q.optMessage('labels', readLabels),
        }),
      ),
    })),
    labels: r.optMessage('labels', readLabels),
  });
}

function readLabels(r: Reader): Labels {
  return { labels: r.messages('labels', LIMITS.shortList, (l) => compact({ key: l.string('key', NAME), value: l.optString('value', TEXT) })) };
}

function readKillPolicy(r: Reader): { grace_period?: DurationInfo } {
  return compact({ grace_period: r.optMessage('grace_period', readDuration) });
}

function readDuration(r: Reader): DurationInfo {
  return { nanoseconds: r.integer('nanoseconds', INT64_MIN, INT64_MAX) };
}
