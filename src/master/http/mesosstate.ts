// The cell as Mesos shows it, for tools written against a Mesos master (mesos-dns, dashboards, the
// mesos CLI): the legacy read-only endpoints (GET /master/state and its aliases, /master/state-summary,
// /master/frameworks, /master/slaves, /version, /metrics/snapshot), the synchronous GET_* calls of
// the v1 operator API (POST /api/v1) and its SUBSCRIBE event stream. Every answer is computed from
// the cell state when asked; nothing here changes it. The shapes are Mesos's: apache/mesos
// src/master/readonly_handler.cpp and src/common/http.cpp for the legacy JSON,
// include/mesos/v1/master/master.proto for the operator API (REFERENCE.md §4.7).
//
// How Muster maps onto Mesos's model:
// - The built-in framework is framework "muster" (role "*"), holding every task without a
//   frameworkId; its tasks are named JOB/INSTANCE and keep Muster's task id. An external
//   framework's tasks show the framework's own task id and name (launch.externalId, launch.name).
// - A task's role is the role it runs as: its job's role for Muster's tasks, its framework's first
//   role for the others.
// - An agent is listed while it is reachable (Mesos moves unreachable agents out of `slaves`); it is
//   active when it is also connected and its host is not draining.
// - There are no offers, reservations or executors in the cell state: those lists are empty and
//   offered resources are zero.
// - Task statuses are made from what the state keeps: TASK_STAGING at launch, TASK_RUNNING when it
//   first ran, and its current state when that is neither (at its end, if it ended).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { EMPTY, add, isTerminal, milliToCpus, MusterError, type Resources, type TaskState } from '../../core/index.js';
import { encodeRecord, mesos } from '../../protocol/index.js';
import type { AppendListener } from '../eventlog.js';
import type { AgentRecord, CellState, Event, FrameworkRecord, LoggedEvent, StatusRecord, TaskRecord } from '../state/index.js';
import { readBody, type Router } from './router.js';

/** MesosStateDeps is what the Mesos views read: the state and a few facts about this master. */
export interface MesosStateDeps {
  readonly state: () => CellState;
  readonly masterId: string;
  /** This master's URL as it advertises it (http://HOST:PORT); '' until it listens. */
  readonly selfUrl: () => string;
  /** The leading master as this one knows it; undefined while none is known. */
  readonly leader: () => { readonly masterId: string; readonly url: string } | undefined;
  /** When this master started (ms since the epoch). */
  readonly startedAt: number;
  /** When it became the leader (ms since the epoch); undefined while it does not lead. */
  readonly electedAt: () => number | undefined;
  readonly isConnected: (agentId: string) => boolean;
  /** An external framework's scheduler is subscribed now. */
  readonly frameworkConnected: (frameworkId: string) => boolean;
  readonly version: string;
  /** The allocator's role weights; a role not here weighs 1. */
  readonly roleWeights?: Readonly<Record<string, number>>;
  /** The clock (ms since the epoch), for uptime; Date.now when absent. */
  readonly now?: () => number;
  /**
   * The event log's onAppended: each batch once it is durable, in log order, with the state
   * already folded. SUBSCRIBE streams what it tells; without it, SUBSCRIBE answers 503.
   */
  readonly onAppended?: (listener: AppendListener) => () => void;
  /** How often a SUBSCRIBE stream sends HEARTBEAT, in seconds; Mesos's 15 when absent. */
  readonly heartbeatSecs?: number;
}

/** MAX_OPERATOR_CALL_BYTES bounds the body of POST /api/v1: a GET_* call is a few bytes. */
export const MAX_OPERATOR_CALL_BYTES = 1024 * 1024;

/** MAX_OPERATOR_SUBSCRIBERS bounds the SUBSCRIBE streams open at once; one more is answered 503. */
export const MAX_OPERATOR_SUBSCRIBERS = 64;

/**
 * MAX_SUBSCRIBER_BUFFER_BYTES is how much a SUBSCRIBE stream may hold unsent (beyond its SUBSCRIBED
 * record) before it is ended: a reader that slow must not grow the master's memory.
 */
export const MAX_SUBSCRIBER_BUFFER_BYTES = 8 * 1024 * 1024;

/** HEARTBEAT_SECS is Mesos's heartbeat interval for operator event streams (DEFAULT_HEARTBEAT_INTERVAL). */
const HEARTBEAT_SECS = 15;

/** The synchronous operator calls answered, by type; SUBSCRIBE is the one other answered (a stream). */
const ANSWERED = [
  'GET_HEALTH',
  'GET_FLAGS',
  'GET_VERSION',
  'GET_METRICS',
  'GET_STATE',
  'GET_AGENTS',
  'GET_FRAMEWORKS',
  'GET_EXECUTORS',
  'GET_TASKS',
  'GET_ROLES',
  'GET_MASTER',
] as const;
type AnsweredCall = (typeof ANSWERED)[number];

/** The calls answered, as a refusal lists them; every other call type is refused with 400 naming it. */
const ANSWERED_LIST = [...ANSWERED, 'SUBSCRIBE'].join(', ');

/** The other call types of master.proto: known to Mesos, not (yet) to Muster. */
const NOT_ANSWERED = new Set([
  'GET_LOGGING_LEVEL',
  'SET_LOGGING_LEVEL',
  'LIST_FILES',
  'READ_FILE',
  'GET_OPERATIONS',
  'GET_WEIGHTS',
  'UPDATE_WEIGHTS',
  'RESERVE_RESOURCES',
  'UNRESERVE_RESOURCES',
  'CREATE_VOLUMES',
  'DESTROY_VOLUMES',
  'GROW_VOLUME',
  'SHRINK_VOLUME',
  'GET_MAINTENANCE_STATUS',
  'GET_MAINTENANCE_SCHEDULE',
  'UPDATE_MAINTENANCE_SCHEDULE',
  'START_MAINTENANCE',
  'STOP_MAINTENANCE',
  'DRAIN_AGENT',
  'DEACTIVATE_AGENT',
  'REACTIVATE_AGENT',
  'GET_QUOTA',
  'UPDATE_QUOTA',
  'SET_QUOTA',
  'REMOVE_QUOTA',
  'TEARDOWN',
  'MARK_AGENT_GONE',
]);

/** addMesosStateRoutes serves the legacy Mesos state endpoints and the operator API (GET_* calls and SUBSCRIBE). */
export function addMesosStateRoutes(router: Router, deps: MesosStateDeps): void {
  const streams = new OperatorStreams(deps);
  const read = (): Snapshot => snapshot(deps, streams.size);
  for (const path of ['/master/state', '/master/state.json', '/state', '/state.json']) {
    router.add('GET', path, ({ req, res }) => sendMesosJson(req, res, legacyState(read())));
  }
  router.add('GET', '/master/state-summary', ({ req, res }) => sendMesosJson(req, res, stateSummary(read())));
  router.add('GET', '/master/frameworks', ({ req, res, url }) => {
    const s = read();
    const only = url.searchParams.get('framework_id');
    const frameworks = s.frameworks.filter((f) => only === null || f.id === only).map((f) => legacyFramework(s, f));
    return sendMesosJson(req, res, { frameworks, completed_frameworks: [], unregistered_frameworks: [] });
  });
  router.add('GET', '/master/slaves', ({ req, res, url }) => {
    const s = read();
    const only = url.searchParams.get('slave_id');
    const slaves = s.agents.filter((a) => only === null || a.agentId === only).map((a) => legacyAgent(s, a));
    return sendMesosJson(req, res, { slaves, recovered_slaves: [] });
  });
  router.add('GET', '/version', ({ req, res }) => sendMesosJson(req, res, { version: deps.version }));
  router.add('GET', '/metrics/snapshot', ({ req, res }) => sendMesosJson(req, res, metrics(read())));
  // A refused call is answered as Mesos does, in a line of text; an internal fault goes to the
  // router, which logs it.
  const operator = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      await operatorCall(req, res, streams);
    } catch (e) {
      if (!(e instanceof MusterError) || res.headersSent) throw e;
      answerText(res, e.status, e.message);
    }
  };
  // Mesos's own documentation writes both.
  router.add('POST', '/api/v1', ({ req, res }) => operator(req, res));
  router.add('POST', '/api/v1/', ({ req, res }) => operator(req, res));
}

// ---- the operator API ----------------------------------------------------------------------------

/** operatorCall checks a call's media types and body as Mesos does, then answers it. */
async function operatorCall(req: IncomingMessage, res: ServerResponse, streams: OperatorStreams): Promise<void> {
  const type = req.headers['content-type'];
  if (type === undefined) return answerText(res, 400, "Expecting 'Content-Type' to be present");
  const media = type.split(';')[0]?.trim().toLowerCase();
  if (media === 'application/x-protobuf') return answerText(res, 415, 'application/x-protobuf is not supported yet; send application/json');
  if (media !== 'application/json') return answerText(res, 415, `Expecting 'Content-Type' of application/json, not '${type}'`);
  const accept = req.headers.accept;
  if (accept !== undefined && !/(^|,)\s*(application\/json|application\/\*|\*\/\*)\s*(;|,|$)/i.test(accept)) {
    return answerText(res, 406, `Expecting 'Accept' to allow application/json, not '${accept}'`);
  }
  let body: unknown;
  try {
    body = JSON.parse(await readBody(req, MAX_OPERATOR_CALL_BYTES)) as unknown;
  } catch (e) {
    if (e instanceof MusterError) throw e;
    return answerText(res, 400, `Failed to parse body into JSON: ${(e as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return answerText(res, 400, 'Failed to validate master::Call: the body must be a JSON object');
  }
  const callType = (body as { type?: unknown }).type;
  if (callType === undefined || callType === null) return answerText(res, 400, "Failed to validate master::Call: Expecting 'type' to be present");
  if (typeof callType !== 'string') return answerText(res, 400, "Failed to validate master::Call: 'type' must be the name of a call type, e.g. \"GET_STATE\"");
  const shown = JSON.stringify(callType.slice(0, 64));
  if (NOT_ANSWERED.has(callType)) {
    return answerText(res, 400, `Muster does not support the operator call ${shown} yet; it answers ${ANSWERED_LIST}`);
  }
  if (callType === 'SUBSCRIBE') return streams.subscribe(req, res);
  if (!(ANSWERED as readonly string[]).includes(callType)) {
    return answerText(res, 400, `Failed to validate master::Call: unknown call type ${shown}; the calls answered are ${ANSWERED_LIST}`);
  }
  const answered = callType as AnsweredCall;
  await sendMesosJson(req, res, { type: answered, [answered.toLowerCase()]: answer(answered, snapshot(streams.deps, streams.size)) });
}

function answer(type: AnsweredCall, s: Snapshot): unknown {
  switch (type) {
    case 'GET_HEALTH':
      return { healthy: true };
    case 'GET_FLAGS':
      return { flags: [] };
    case 'GET_VERSION':
      return { version_info: { version: s.deps.version } };
    case 'GET_METRICS':
      return { metrics: Object.entries(metrics(s)).map(([name, value]) => ({ name, value })) };
    case 'GET_STATE':
      return { get_tasks: getTasks(s), get_executors: getExecutors(), get_frameworks: getFrameworks(s), get_agents: getAgents(s) };
    case 'GET_AGENTS':
      return getAgents(s);
    case 'GET_FRAMEWORKS':
      return getFrameworks(s);
    case 'GET_EXECUTORS':
      return getExecutors();
    case 'GET_TASKS':
      return getTasks(s);
    case 'GET_ROLES':
      return getRoles(s);
    case 'GET_MASTER': {
      const elected = s.deps.electedAt();
      const info = mesos.masterInfo({ id: s.deps.masterId, hostname: s.self.hostname, ip: s.self.hostname, port: s.self.port, version: s.deps.version });
      return { master_info: info, start_time: s.deps.startedAt / 1000, ...(elected === undefined ? {} : { elected_time: elected / 1000 }) };
    }
  }
}

function getAgents(s: Snapshot): unknown {
  return { agents: s.agents.map((a) => v1Agent(s, a)), recovered_agents: [] };
}

/** v1Agent is one agent as GET_AGENTS lists it (and AGENT_ADDED carries it). */
function v1Agent(v: View, a: AgentRecord): unknown {
  return {
    agent_info: {
      id: { value: a.agentId },
      hostname: a.hostname,
      port: a.port,
      resources: mesos.toMesosResources(a.resources),
      attributes: Object.entries(a.attributes).map(([name, value]) => ({ name, type: 'TEXT', text: { value } })),
    },
    active: v.active(a),
    deactivated: !v.active(a),
    version: a.version,
    pid: agentPid(a),
    registered_time: timeInfo(a.registeredAt),
    total_resources: mesos.toMesosResources(a.resources),
    allocated_resources: heldList(agentHeld(a)),
    offered_resources: [],
    capabilities: [],
    resource_providers: [],
  };
}

function getFrameworks(s: Snapshot): unknown {
  return { frameworks: s.frameworks.map((f) => v1Framework(s, f)), completed_frameworks: [], recovered_frameworks: [] };
}

/** v1Framework is one framework as GET_FRAMEWORKS lists it (and FRAMEWORK_ADDED/UPDATED carry it). */
function v1Framework(v: View, f: FrameworkEntry): unknown {
  const allocated: mesos.Resource[] = [];
  for (const [role, held] of heldByRole(v.state, f.tasks)) allocated.push(...heldList(held, role));
  return {
    framework_info: frameworkInfo(f),
    active: f.connected,
    connected: f.connected,
    recovered: false,
    registered_time: timeInfo(f.registeredAt),
    ...(f.reregisteredAt === undefined ? {} : { reregistered_time: timeInfo(f.reregisteredAt) }),
    offers: [],
    inverse_offers: [],
    allocated_resources: allocated,
    offered_resources: [],
  };
}

/** frameworkInfo is a framework's v1 FrameworkInfo (FRAMEWORK_REMOVED carries it alone). */
function frameworkInfo(f: FrameworkEntry): Record<string, unknown> {
  const info: Record<string, unknown> = {
    user: f.user,
    name: f.name,
    id: { value: f.id },
    failover_timeout: f.failoverTimeoutSecs,
    checkpoint: f.checkpoint,
    hostname: f.hostname,
    capabilities: f.capabilities.map((type) => ({ type })),
  };
  if (f.multiRole) info['roles'] = f.roles;
  else info['role'] = f.roles[0] ?? '*';
  if (f.principal !== undefined) info['principal'] = f.principal;
  if (f.webuiUrl !== '') info['webui_url'] = f.webuiUrl;
  return info;
}

function getExecutors(): unknown {
  return { executors: [], orphan_executors: [] };
}

function getTasks(s: Snapshot): unknown {
  const out: Record<TaskList, unknown[]> = { tasks: [], unreachable_tasks: [], completed_tasks: [] };
  for (const f of s.frameworks) {
    for (const t of f.tasks) out[listOf(t)].push(v1Task(s, f.id, t));
  }
  return { pending_tasks: [], ...out, orphan_tasks: [] };
}

/** v1Task is a task of framework frameworkId in the v1 Task shape (GET_TASKS, TASK_ADDED). */
function v1Task(v: View, frameworkId: string, t: TaskRecord): unknown {
  const agent = v.state.agents.get(t.agentId);
  const id = taskIdOf(t);
  const history = statusHistory(t);
  const statuses = history.map((p, i) => {
    const last = i === history.length - 1;
    const reason = last && t.reason !== undefined ? mesos.mesosReason(t.reason) : undefined;
    return mesos.taskStatus({
      taskId: id,
      state: p.state,
      timestampMs: p.at,
      agentId: t.agentId,
      ...(agent === undefined ? {} : { containerStatus: { network_infos: [{ ip_addresses: [{ ip_address: agent.address }], groups: [], port_mappings: [] }] } }),
      ...(reason === undefined ? {} : { reason }),
      ...(last && t.message !== undefined ? { message: t.message } : {}),
      ...(last && t.healthy !== undefined ? { healthy: t.healthy } : {}),
    });
  });
  const task: Record<string, unknown> = {
    name: taskNameOf(t),
    task_id: { value: id },
    framework_id: { value: frameworkId },
    agent_id: { value: t.agentId },
    state: t.state,
    resources: heldList(taskHeld(t), taskRole(v.state, t)),
    statuses,
  };
  const discovery = discoveryOf(t);
  if (discovery !== undefined) task['discovery'] = discovery;
  return task;
}

function getRoles(s: Snapshot): unknown {
  const names = new Set<string>(['*']);
  const frameworksIn = new Map<string, Set<string>>();
  const join = (role: string, frameworkId: string): void => {
    names.add(role);
    let set = frameworksIn.get(role);
    if (set === undefined) frameworksIn.set(role, (set = new Set()));
    set.add(frameworkId);
  };
  const held = new Map<string, Held>();
  for (const f of s.frameworks) {
    for (const role of f.roles) join(role, f.id);
    for (const [role, h] of heldByRole(s.state, f.tasks)) {
      join(role, f.id);
      held.set(role, plus(held.get(role) ?? NOTHING, h));
    }
  }
  for (const role of s.state.quotas.keys()) names.add(role);
  for (const role of Object.keys(s.deps.roleWeights ?? {})) names.add(role);
  const roles = [...names].sort().map((name) => ({
    name,
    weight: s.deps.roleWeights?.[name] ?? 1,
    frameworks: [...(frameworksIn.get(name) ?? [])].map((value) => ({ value })),
    resources: heldList(held.get(name) ?? NOTHING, name),
  }));
  return { roles };
}

// ---- the operator event stream (SUBSCRIBE) --------------------------------------------------------

/** HEARTBEAT_RECORD is the HEARTBEAT event, framed once. */
const HEARTBEAT_RECORD = encodeRecord({ type: 'HEARTBEAT' });

/** Subscriber is one open SUBSCRIBE stream. */
interface Subscriber {
  readonly res: ServerResponse;
  /** The most it may hold unsent: MAX_SUBSCRIBER_BUFFER_BYTES beyond its SUBSCRIBED record. */
  readonly limit: number;
  readonly heartbeat: NodeJS.Timeout;
}

/**
 * OperatorStreams serves SUBSCRIBE as Mesos's master does (src/master/master.cpp): a stream opens
 * with SUBSCRIBED, holding what GET_STATE answers, then carries each change the log records and a
 * HEARTBEAT every heartbeatSecs. One listener on the log serves every stream while any is open: a
 * batch is turned into events and framed once, and the same bytes are written to each stream.
 *
 * The log's events, as Mesos's:
 * - TasksLaunched: TASK_ADDED for each task launched.
 * - TaskStatusUpdated: TASK_UPDATED, with the status recorded.
 * - AgentRegistered: AGENT_ADDED, first time or again (its resources may have changed).
 * - AgentUnreachable: TASK_UPDATED (TASK_UNREACHABLE) for each of its tasks, then AGENT_REMOVED, as
 *   GET_AGENTS no longer lists it (Mesos sends AGENT_REMOVED only for an agent it removes for good).
 * - FrameworkRegistered: FRAMEWORK_ADDED the first time, FRAMEWORK_UPDATED after.
 * - FrameworkRemoved: FRAMEWORK_REMOVED. Nothing more is sent of its tasks: GET_STATE lists them
 *   under no framework once it is gone.
 *
 * Each batch is read from the state after it was applied, and the state may already hold the next
 * batch, applied while this one was written. So an event applied just before a client subscribed
 * can be both in its SUBSCRIBED snapshot and sent after it, and a TASK_ADDED can show a task
 * already past TASK_STAGING.
 */
class OperatorStreams {
  private readonly open = new Set<Subscriber>();
  private stopListening: (() => void) | undefined;
  /** The FrameworkInfo of each external framework, for FRAMEWORK_REMOVED: the state forgets a removed one. */
  private readonly frameworkInfos = new Map<string, Record<string, unknown>>();
  /**
   * Tasks of removed frameworks, being killed. The state forgets each as it ends; then this alone
   * tells its end from that of a Muster task forgotten as it ended (its job removed), which is sent.
   */
  private readonly orphans = new Set<string>();

  constructor(readonly deps: MesosStateDeps) {}

  /** size is how many streams are open. */
  get size(): number {
    return this.open.size;
  }

  subscribe(req: IncomingMessage, res: ServerResponse): void {
    const onAppended = this.deps.onAppended;
    if (onAppended === undefined) return answerText(res, 503, 'The operator event stream (SUBSCRIBE) is not available on this master');
    if (this.open.size >= MAX_OPERATOR_SUBSCRIBERS) {
      return answerText(res, 503, `This master already streams events to ${MAX_OPERATOR_SUBSCRIBERS} subscribers, the most it serves at once; retry later`);
    }
    // A client gone while its call was read has had its 'close' already: it would never be dropped.
    if (req.socket.destroyed) return;
    if (this.stopListening === undefined) {
      this.learn(this.deps.state());
      this.stopListening = onAppended((batch) => this.publish(batch));
    }
    const heartbeatSecs = this.deps.heartbeatSecs ?? HEARTBEAT_SECS;
    const s = snapshot(this.deps, this.open.size + 1);
    const subscribed = encodeRecord({ type: 'SUBSCRIBED', subscribed: { get_state: answer('GET_STATE', s), heartbeat_interval_seconds: heartbeatSecs } });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write(subscribed);
    const sub: Subscriber = {
      res,
      limit: subscribed.length + MAX_SUBSCRIBER_BUFFER_BYTES,
      heartbeat: setInterval(() => this.send(sub, HEARTBEAT_RECORD), heartbeatSecs * 1000),
    };
    sub.heartbeat.unref();
    this.open.add(sub);
    res.on('close', () => this.close(sub));
  }

  private send(sub: Subscriber, chunk: Buffer): void {
    if (sub.res.writableLength > sub.limit) {
      // Destroyed, not ended: an ended stream keeps what it holds until the client reads it, if ever.
      sub.res.destroy();
      this.close(sub);
      return;
    }
    sub.res.write(chunk);
  }

  private close(sub: Subscriber): void {
    clearInterval(sub.heartbeat);
    if (!this.open.delete(sub) || this.open.size > 0) return;
    this.stopListening?.();
    this.stopListening = undefined;
    this.frameworkInfos.clear();
    this.orphans.clear();
  }

  /** learn takes from the state what the streams remember, as they start listening to the log. */
  private learn(state: CellState): void {
    for (const f of state.frameworks.values()) this.frameworkInfos.set(f.frameworkId, frameworkInfo(externalEntry(f, false)));
    for (const t of state.tasks.values()) {
      if (t.frameworkId !== undefined && !state.frameworks.has(t.frameworkId)) this.orphans.add(t.taskId);
    }
  }

  private publish(batch: readonly LoggedEvent[]): void {
    const v = view(this.deps);
    const records: Buffer[] = [];
    for (const { event } of batch) for (const e of this.eventsOf(v, event)) records.push(encodeRecord(e));
    if (records.length === 0) return;
    const chunk = records.length === 1 ? (records[0] as Buffer) : Buffer.concat(records);
    for (const sub of [...this.open]) this.send(sub, chunk);
  }

  private eventsOf(v: View, event: Event): unknown[] {
    const state = v.state;
    switch (event.type) {
      case 'TasksLaunched': {
        const out: unknown[] = [];
        for (const launched of event.tasks) {
          const t = state.tasks.get(launched.taskId);
          const frameworkId = t === undefined ? undefined : listedUnder(state, t);
          if (t !== undefined && frameworkId !== undefined) out.push({ type: 'TASK_ADDED', task_added: { task: v1Task(v, frameworkId, t) } });
        }
        return out;
      }
      case 'TaskStatusUpdated': {
        const updated = this.taskUpdated(state, event.status, event.at);
        return updated === undefined ? [] : [updated];
      }
      case 'AgentRegistered': {
        const a = state.agents.get(event.agent.agentId);
        return a?.reachable === true ? [{ type: 'AGENT_ADDED', agent_added: { agent: v1Agent(v, a) } }] : [];
      }
      case 'AgentUnreachable': {
        const out: unknown[] = [];
        for (const id of state.agents.get(event.agentId)?.taskIds ?? []) {
          const t = state.tasks.get(id);
          const frameworkId = t === undefined ? undefined : listedUnder(state, t);
          if (t?.state !== 'TASK_UNREACHABLE' || frameworkId === undefined) continue;
          const reason = t.reason === undefined ? undefined : mesos.mesosReason(t.reason);
          out.push(
            taskUpdatedEvent(frameworkId, {
              taskId: taskIdOf(t),
              state: t.state,
              agentId: t.agentId,
              timestampMs: event.at,
              source: 'SOURCE_MASTER',
              message: event.message,
              ...(reason === undefined ? {} : { reason }),
            }),
          );
        }
        out.push({ type: 'AGENT_REMOVED', agent_removed: { agent_id: { value: event.agentId } } });
        return out;
      }
      case 'FrameworkRegistered': {
        const f = state.frameworks.get(event.framework.frameworkId);
        if (f === undefined) return [];
        const entry = externalEntry(f, this.deps.frameworkConnected(f.frameworkId));
        for (const id of f.taskIds) {
          const t = state.tasks.get(id);
          if (t !== undefined) entry.tasks.push(t);
        }
        const known = this.frameworkInfos.has(f.frameworkId);
        this.frameworkInfos.set(f.frameworkId, frameworkInfo(entry));
        const framework = v1Framework(v, entry);
        return [known ? { type: 'FRAMEWORK_UPDATED', framework_updated: { framework } } : { type: 'FRAMEWORK_ADDED', framework_added: { framework } }];
      }
      case 'FrameworkRemoved': {
        for (const t of state.tasks.values()) if (t.frameworkId === event.frameworkId) this.orphans.add(t.taskId);
        const info = this.frameworkInfos.get(event.frameworkId);
        if (info === undefined) return [];
        this.frameworkInfos.delete(event.frameworkId);
        return [{ type: 'FRAMEWORK_REMOVED', framework_removed: { framework_info: info } }];
      }
      default:
        return [];
    }
  }

  /** taskUpdated is TASK_UPDATED for a status recorded, or undefined for a task of a removed framework. */
  private taskUpdated(state: CellState, status: StatusRecord, at: number): unknown {
    const t = state.tasks.get(status.taskId);
    if (t === undefined && this.orphans.delete(status.taskId)) return undefined;
    // No task: a Muster task forgotten as it ended, its job removed (apply's removeJob); its id is the master's.
    const frameworkId = t === undefined ? BUILT_IN : listedUnder(state, t);
    if (frameworkId === undefined) return undefined;
    const reason = status.reason === undefined ? undefined : mesos.mesosReason(status.reason);
    return taskUpdatedEvent(frameworkId, {
      taskId: t === undefined ? status.taskId : taskIdOf(t),
      state: status.state,
      uuid: status.uuid,
      timestampMs: at,
      ...(t === undefined ? {} : { agentId: t.agentId }),
      ...(reason === undefined ? {} : { reason }),
      ...(status.message === undefined ? {} : { message: status.message }),
      ...(status.healthy === undefined ? {} : { healthy: status.healthy }),
    });
  }
}

/** taskUpdatedEvent is Mesos's TASK_UPDATED; its state is the one the status moved the task to. */
function taskUpdatedEvent(frameworkId: string, status: mesos.TaskStatusInput): unknown {
  return { type: 'TASK_UPDATED', task_updated: { framework_id: { value: frameworkId }, status: mesos.taskStatus(status), state: status.state } };
}

// ---- the legacy endpoints ------------------------------------------------------------------------

function legacyState(s: Snapshot): unknown {
  const elected = s.deps.electedAt();
  const leader = s.deps.leader();
  const out: Record<string, unknown> = {
    version: s.deps.version,
    start_time: s.deps.startedAt / 1000,
    ...(elected === undefined ? {} : { elected_time: elected / 1000 }),
    id: s.deps.masterId,
    pid: s.self.pid,
    hostname: s.self.hostname,
    capabilities: [],
    activated_slaves: s.agents.filter((a) => s.active(a)).length,
    deactivated_slaves: s.agents.filter((a) => !s.active(a)).length,
    unreachable_slaves: s.unreachable,
  };
  if (leader !== undefined) {
    const at = masterAddress(leader.url);
    out['leader'] = at.pid;
    out['leader_info'] = { id: leader.masterId, pid: at.pid, port: at.port, hostname: at.hostname };
  }
  out['flags'] = {};
  out['slaves'] = s.agents.map((a) => legacyAgent(s, a));
  out['recovered_slaves'] = [];
  out['frameworks'] = s.frameworks.map((f) => legacyFramework(s, f));
  out['completed_frameworks'] = [];
  out['orphan_tasks'] = [];
  out['unregistered_frameworks'] = [];
  return out;
}

function legacyAgent(s: Snapshot, a: AgentRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: a.agentId,
    hostname: a.hostname,
    port: a.port,
    attributes: { ...a.attributes },
    pid: agentPid(a),
    registered_time: a.registeredAt / 1000,
    resources: mesos.mesosResourcesObject(a.resources),
    used_resources: heldObject(agentHeld(a)),
    offered_resources: heldObject(NOTHING),
    reserved_resources: {},
    unreserved_resources: mesos.mesosResourcesObject(a.resources),
    active: s.active(a),
    deactivated: !s.active(a),
    version: a.version,
    capabilities: [],
  };
  if (s.state.maintenance.has(a.hostname)) out['drain_info'] = { state: 'DRAINING', config: { mark_gone: false } };
  return out;
}

/** legacyFramework is a framework as /master/state and /master/frameworks show it. */
function legacyFramework(s: Snapshot, f: FrameworkEntry): Record<string, unknown> {
  const used = f.tasks.filter(isLive).reduce((sum, t) => plus(sum, taskHeld(t)), NOTHING);
  const lists: Record<TaskList, unknown[]> = { tasks: [], unreachable_tasks: [], completed_tasks: [] };
  for (const t of f.tasks) lists[listOf(t)].push(legacyTask(s, f, t));
  const out: Record<string, unknown> = {
    ...frameworkSummary(f, used),
    user: f.user,
    failover_timeout: f.failoverTimeoutSecs,
    checkpoint: f.checkpoint,
    registered_time: f.registeredAt / 1000,
    unregistered_time: 0,
  };
  if (f.principal !== undefined) out['principal'] = f.principal;
  out['resources'] = heldObject(used);
  if (f.reregisteredAt !== undefined) out['reregistered_time'] = f.reregisteredAt / 1000;
  if (f.multiRole) out['roles'] = f.roles;
  else out['role'] = f.roles[0] ?? '*';
  Object.assign(out, lists, { offers: [], executors: [] });
  return out;
}

/** frameworkSummary is the part of a framework every legacy view shows. No pid: none is driver-based. */
function frameworkSummary(f: FrameworkEntry, used: Held): Record<string, unknown> {
  return {
    id: f.id,
    name: f.name,
    used_resources: heldObject(used),
    offered_resources: heldObject(NOTHING),
    capabilities: f.capabilities,
    hostname: f.hostname,
    webui_url: f.webuiUrl,
    active: f.connected,
    connected: f.connected,
    recovered: false,
  };
}

function legacyTask(s: Snapshot, f: FrameworkEntry, t: TaskRecord): unknown {
  const agent = s.state.agents.get(t.agentId);
  const history = statusHistory(t);
  const statuses = history.map((p, i) => {
    const status: Record<string, unknown> = { state: p.state, timestamp: p.at / 1000 };
    if (agent !== undefined) status['container_status'] = { network_infos: [{ ip_addresses: [{ ip_address: agent.address }] }] };
    if (i === history.length - 1 && t.healthy !== undefined) status['healthy'] = t.healthy;
    return status;
  });
  const out: Record<string, unknown> = {
    id: taskIdOf(t),
    name: taskNameOf(t),
    framework_id: f.id,
    executor_id: '',
    slave_id: t.agentId,
    state: t.state,
    resources: heldObject(taskHeld(t)),
    role: taskRole(s.state, t),
    statuses,
  };
  const discovery = discoveryOf(t);
  if (discovery !== undefined) out['discovery'] = discovery;
  return out;
}

function stateSummary(s: Snapshot): unknown {
  const frameworksOn = new Map<string, Set<string>>();
  const agentsOf = new Map<string, Set<string>>();
  const byAgent = new Map<string, TaskState[]>();
  for (const f of s.frameworks) {
    const agents = new Set<string>();
    agentsOf.set(f.id, agents);
    for (const t of f.tasks) {
      agents.add(t.agentId);
      let on = frameworksOn.get(t.agentId);
      if (on === undefined) frameworksOn.set(t.agentId, (on = new Set()));
      on.add(f.id);
      let states = byAgent.get(t.agentId);
      if (states === undefined) byAgent.set(t.agentId, (states = []));
      states.push(t.state);
    }
  }
  return {
    hostname: s.self.hostname,
    slaves: s.agents.map((a) => ({
      ...legacyAgent(s, a),
      ...stateCounts(byAgent.get(a.agentId) ?? []),
      framework_ids: [...(frameworksOn.get(a.agentId) ?? [])],
    })),
    frameworks: s.frameworks.map((f) => ({
      ...frameworkSummary(f, f.tasks.filter(isLive).reduce((sum, t) => plus(sum, taskHeld(t)), NOTHING)),
      ...stateCounts(f.tasks.map((t) => t.state)),
      slave_ids: [...(agentsOf.get(f.id) ?? [])],
    })),
  };
}

/** SUMMARY_STATES are the per-state task counts /master/state-summary gives (Mesos's list). */
const SUMMARY_STATES = [
  'TASK_STAGING',
  'TASK_STARTING',
  'TASK_RUNNING',
  'TASK_KILLING',
  'TASK_FINISHED',
  'TASK_KILLED',
  'TASK_FAILED',
  'TASK_LOST',
  'TASK_ERROR',
  'TASK_UNREACHABLE',
] as const;

function stateCounts(states: readonly TaskState[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of SUMMARY_STATES) out[name] = 0;
  for (const st of states) if (st in out) out[st] = (out[st] ?? 0) + 1;
  return out;
}

/**
 * metrics is GET /metrics/snapshot: the master/ gauges that the cell state answers. Mesos's
 * master/tasks_finished (failed, killed …) count every task that ever ended; here they count the
 * ended tasks the master still keeps, as the state holds no running totals.
 */
function metrics(s: Snapshot): Record<string, number> {
  const now = s.deps.now?.() ?? Date.now();
  const out: Record<string, number> = {
    'master/uptime_secs': Math.max(0, (now - s.deps.startedAt) / 1000),
    'master/elected': s.deps.electedAt() === undefined ? 0 : 1,
  };
  let connected = 0;
  let active = 0;
  for (const a of s.agents) {
    if (s.deps.isConnected(a.agentId)) connected++;
    if (s.active(a)) active++;
  }
  out['master/slaves_active'] = active;
  out['master/slaves_inactive'] = s.agents.length - active;
  out['master/slaves_connected'] = connected;
  out['master/slaves_disconnected'] = s.agents.length - connected;
  out['master/slaves_unreachable'] = s.unreachable;
  const frameworksConnected = s.frameworks.filter((f) => f.connected).length;
  out['master/frameworks_active'] = frameworksConnected;
  out['master/frameworks_inactive'] = s.frameworks.length - frameworksConnected;
  out['master/frameworks_connected'] = frameworksConnected;
  out['master/frameworks_disconnected'] = s.frameworks.length - frameworksConnected;
  const counts = new Map<string, number>();
  for (const f of s.frameworks) for (const t of f.tasks) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
  for (const st of mesos.MESOS_TASK_STATES) out[`master/tasks_${st.slice('TASK_'.length).toLowerCase()}`] = counts.get(st) ?? 0;
  let total = EMPTY;
  let used = NOTHING;
  for (const a of s.agents) {
    total = add(total, a.resources);
    used = plus(used, agentHeld(a));
  }
  const gauge = (name: string, t: number, u: number): void => {
    out[`master/${name}_total`] = t;
    out[`master/${name}_used`] = u;
    out[`master/${name}_percent`] = t > 0 ? u / t : 0;
  };
  gauge('cpus', milliToCpus(total.cpusMilli), milliToCpus(used.regular.cpusMilli));
  gauge('mem', total.memMiB, used.regular.memMiB);
  gauge('disk', total.diskMiB, used.regular.diskMiB);
  gauge('gpus', total.gpus, used.regular.gpus);
  out['master/cpus_revocable_used'] = milliToCpus(used.revocableCpusMilli);
  out['master/mem_revocable_used'] = used.revocableMemMiB;
  out['master/operator_event_stream_subscribers'] = s.subscribers;
  return out;
}

// ---- one request's view of the cell ---------------------------------------------------------------

/** FrameworkEntry is a framework as the Mesos views list it, the built-in one included. */
interface FrameworkEntry {
  id: string;
  name: string;
  user: string;
  roles: readonly string[];
  multiRole: boolean;
  hostname: string;
  webuiUrl: string;
  principal?: string;
  failoverTimeoutSecs: number;
  checkpoint: boolean;
  capabilities: readonly string[];
  registeredAt: number;
  reregisteredAt?: number;
  connected: boolean;
  tasks: TaskRecord[];
}

interface MasterAddress {
  hostname: string;
  port: number;
  pid: string;
}

/** View is what every answer reads, gathered without walking the state: cheap enough for each batch of the log. */
interface View {
  deps: MesosStateDeps;
  state: CellState;
  self: MasterAddress;
  active(a: AgentRecord): boolean;
}

/** Snapshot is what one request reads, gathered once: the agents listed and the frameworks with their tasks. */
interface Snapshot extends View {
  /** Reachable agents, by id. */
  agents: AgentRecord[];
  unreachable: number;
  frameworks: FrameworkEntry[];
  /** SUBSCRIBE streams open now. */
  subscribers: number;
}

function view(deps: MesosStateDeps): View {
  const state = deps.state();
  return {
    deps,
    state,
    self: masterAddress(deps.selfUrl()),
    active: (a) => a.reachable && deps.isConnected(a.agentId) && !state.maintenance.has(a.hostname),
  };
}

/** BUILT_IN is the id (and name) of the built-in framework, which holds every task without a frameworkId. */
const BUILT_IN = 'muster';

function snapshot(deps: MesosStateDeps, subscribers: number): Snapshot {
  const v = view(deps);
  const { state, self } = v;
  const agents = [...state.agents.values()].filter((a) => a.reachable).sort((a, b) => a.agentId.localeCompare(b.agentId));
  const builtIn: FrameworkEntry = {
    id: BUILT_IN,
    name: BUILT_IN,
    user: '',
    roles: ['*'],
    multiRole: false,
    hostname: self.hostname,
    webuiUrl: deps.selfUrl(),
    failoverTimeoutSecs: 0,
    checkpoint: false,
    capabilities: [],
    registeredAt: deps.startedAt,
    connected: true,
    tasks: [],
  };
  const external = new Map<string, FrameworkEntry>();
  for (const f of [...state.frameworks.values()].sort((a, b) => a.frameworkId.localeCompare(b.frameworkId))) {
    external.set(f.frameworkId, externalEntry(f, deps.frameworkConnected(f.frameworkId)));
  }
  // A task of a framework that has been removed (being killed) belongs to no framework listed.
  for (const t of state.tasks.values()) {
    const f = t.frameworkId === undefined ? builtIn : external.get(t.frameworkId);
    f?.tasks.push(t);
  }
  return { ...v, agents, unreachable: state.agents.size - agents.length, frameworks: [builtIn, ...external.values()], subscribers };
}

function externalEntry(f: FrameworkRecord, connected: boolean): FrameworkEntry {
  const e: FrameworkEntry = {
    id: f.frameworkId,
    name: f.name,
    user: f.user,
    roles: f.roles,
    multiRole: f.capabilities.includes('MULTI_ROLE'),
    hostname: f.hostname ?? '',
    webuiUrl: f.webuiUrl ?? '',
    failoverTimeoutSecs: f.failoverTimeoutSecs,
    checkpoint: f.checkpoint,
    capabilities: f.capabilities,
    registeredAt: f.registeredAt,
    connected,
    tasks: [],
  };
  if (f.principal !== undefined) e.principal = f.principal;
  if (f.reregisteredAt !== undefined) e.reregisteredAt = f.reregisteredAt;
  return e;
}

/** masterAddress reads http://HOST:PORT into the parts Mesos shows, with its pid "master@HOST:PORT". */
function masterAddress(url: string): MasterAddress {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { hostname: '', port: 0, pid: '' };
  }
  const hostname = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port);
  return { hostname, port, pid: `master@${hostname}:${port}` };
}

function agentPid(a: AgentRecord): string {
  return `slave(1)@${a.address}:${a.port}`;
}

// ---- tasks -----------------------------------------------------------------------------------------

type TaskList = 'tasks' | 'unreachable_tasks' | 'completed_tasks';

/**
 * listOf is where Mesos lists a task: completed once it ended (and, for an external framework's
 * task, once its framework acknowledged the end), unreachable while its agent is, else with tasks.
 */
function listOf(t: TaskRecord): TaskList {
  if (t.state === 'TASK_UNREACHABLE') return 'unreachable_tasks';
  if (isTerminal(t.state) && (t.frameworkId === undefined || t.unacked === undefined)) return 'completed_tasks';
  return 'tasks';
}

function isLive(t: TaskRecord): boolean {
  return !isTerminal(t.state);
}

/** listedUnder is the framework a task is listed under: none for a task of a removed framework (see snapshot). */
function listedUnder(state: CellState, t: TaskRecord): string | undefined {
  if (t.frameworkId === undefined) return BUILT_IN;
  return state.frameworks.has(t.frameworkId) ? t.frameworkId : undefined;
}

/** taskIdOf: Muster's task id for its own tasks, the framework's own id for an external framework's. */
function taskIdOf(t: TaskRecord): string {
  return t.frameworkId === undefined ? t.taskId : (t.launch?.externalId ?? t.taskId);
}

function taskNameOf(t: TaskRecord): string {
  return t.frameworkId === undefined ? `${t.job}/${t.instance}` : (t.launch?.name ?? t.taskId);
}

/** taskRole is the role a task runs as: the first part of its job key (an external task's is ROLE/framework/ID). */
function taskRole(state: CellState, t: TaskRecord): string {
  if (t.frameworkId !== undefined) {
    const role = state.frameworks.get(t.frameworkId)?.roles[0];
    if (role !== undefined) return role;
  }
  return t.job.split('/')[0] || '*';
}

/** statusHistory is the statuses the state can tell of, oldest first (see the head of this file). */
function statusHistory(t: TaskRecord): { state: TaskState; at: number }[] {
  const out: { state: TaskState; at: number }[] = [{ state: 'TASK_STAGING', at: t.launchedAt }];
  if (t.startedAt !== undefined) out.push({ state: 'TASK_RUNNING', at: t.startedAt });
  if (t.state !== 'TASK_STAGING' && t.state !== 'TASK_RUNNING') out.push({ state: t.state, at: t.endedAt ?? t.startedAt ?? t.launchedAt });
  return out;
}

/** discoveryOf names a Muster task's ports for service discovery (mesos-dns makes SRV records of them). */
function discoveryOf(t: TaskRecord): unknown {
  if (t.frameworkId !== undefined) return undefined;
  const ports = Object.entries(t.ports).map(([name, number]) => ({ number, name, protocol: 'tcp' }));
  return { visibility: 'FRAMEWORK', name: taskNameOf(t), ports: { ports } };
}

// ---- resources ---------------------------------------------------------------------------------

/**
 * Held is what tasks hold, with revocable cpus and mem apart: Mesos shows those under
 * cpus_revocable and mem_revocable (and marks them revocable in resource lists).
 */
interface Held {
  regular: Resources;
  revocableCpusMilli: number;
  revocableMemMiB: number;
}

const NOTHING: Held = { regular: EMPTY, revocableCpusMilli: 0, revocableMemMiB: 0 };

function plus(a: Held, b: Held): Held {
  return {
    regular: add(a.regular, b.regular),
    revocableCpusMilli: a.revocableCpusMilli + b.revocableCpusMilli,
    revocableMemMiB: a.revocableMemMiB + b.revocableMemMiB,
  };
}

function taskHeld(t: TaskRecord): Held {
  const r = t.resources;
  if (t.revocable !== true) return { regular: r, revocableCpusMilli: 0, revocableMemMiB: 0 };
  return { regular: { ...r, cpusMilli: 0, memMiB: 0 }, revocableCpusMilli: r.cpusMilli, revocableMemMiB: r.memMiB };
}

function agentHeld(a: AgentRecord): Held {
  return { regular: a.used, revocableCpusMilli: a.revocableUsed?.cpusMilli ?? 0, revocableMemMiB: a.revocableUsed?.memMiB ?? 0 };
}

/** heldByRole sums what live tasks hold by the role each runs as. */
function heldByRole(state: CellState, tasks: readonly TaskRecord[]): Map<string, Held> {
  const out = new Map<string, Held>();
  for (const t of tasks) {
    if (!isLive(t)) continue;
    const role = taskRole(state, t);
    out.set(role, plus(out.get(role) ?? NOTHING, taskHeld(t)));
  }
  return out;
}

/** heldObject is the legacy form: {cpus, gpus, mem, disk, ports: "[a-b, …]", cpus_revocable?, mem_revocable?}. */
function heldObject(h: Held): Record<string, number | string> {
  const out: Record<string, number | string> = { ...mesos.mesosResourcesObject(h.regular) };
  if (h.revocableCpusMilli > 0) out['cpus_revocable'] = milliToCpus(h.revocableCpusMilli);
  if (h.revocableMemMiB > 0) out['mem_revocable'] = h.revocableMemMiB;
  return out;
}

/** heldList is the operator API's form: a Resource list, allocated to role when one is given. */
function heldList(h: Held, role?: string): mesos.Resource[] {
  const out = mesos.toMesosResources(h.regular, '*', role);
  const revocable = (name: string, value: number): void => {
    if (value <= 0) return;
    out.push({ name, type: 'SCALAR', scalar: { value }, role: '*', revocable: {}, ...(role === undefined ? {} : { allocation_info: { role } }) });
  };
  revocable('cpus', milliToCpus(h.revocableCpusMilli));
  revocable('mem', h.revocableMemMiB);
  return out;
}

/** timeInfo is ms since the epoch as Mesos's TimeInfo (whole nanoseconds). */
function timeInfo(ms: number): { nanoseconds: number } {
  return { nanoseconds: Math.round(ms) * 1_000_000 };
}

// ---- answers -----------------------------------------------------------------------------------

const gzipped = promisify(gzip);

/** GZIP_FROM: answers this long or longer are gzipped for a client that accepts it, as Mesos does. */
const GZIP_FROM = 1024;

async function sendMesosJson(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
  const text = Buffer.from(JSON.stringify(body));
  if (text.length >= GZIP_FROM && acceptsGzip(req.headers['accept-encoding'])) {
    const zipped = await gzipped(text);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding', 'Content-Length': zipped.length });
    res.end(zipped);
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': text.length });
  res.end(text);
}

/** acceptsGzip: Accept-Encoding names gzip (or *) with a weight above 0. */
function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/** answerText answers a refused operator call as Mesos does: the status and a line a person can read. */
function answerText(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(message) });
  res.end(message);
}
