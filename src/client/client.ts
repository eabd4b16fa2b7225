// MusterClient is the one typed client of the master's REST API: the CLI, the UI and the tests all
// speak to the master through it, so that masters lists, leader redirects and error bodies are
// handled in one place.

import { ERROR_STATUS, isErrorCode, MusterError } from '../core/index.js';
import type { ErrorCode } from '../core/index.js';
import type {
  AuditEntryView,
  PolicyGrantView,
  PolicyView,
  TokenCreatedView,
  TokenView,
  WhoAmIView,
  FrameworkList,
  FrameworkView,
  AgentList,
  AgentView,
  TaskHistoryView,
  JobList,
  TaskList,
  JobInstancesAnswer,
  CellView,
  EndpointsView,
  JobGraphView,
  RunStartedView,
  RunsView,
  EventResetView,
  EventView,
  ExecEvent,
  ExecRequest,
  HostsAnswer,
  HostsRequest,
  HostView,
  JobCreated,
  JobPlanView,
  JobSummary,
  JobView,
  KillRequest,
  LogChunk,
  QuotaRequest,
  QuotaView,
  RestartRequest,
  TaskFileChunk,
  TaskFileDownload,
  TaskFileListing,
  TaskView,
  JobDiffView,
  JobHistoryView,
  ScaleRequest,
  UpdateStarted,
  UpdateSummaryView,
  UpdateView,
} from '../protocol/index.js';
import { RecordIODecoder } from '../protocol/index.js';
import { certificateProblem, trustingDispatcher } from '../tls/index.js';
import { SseParser } from './sse.js';

export interface MusterClientOptions {
  /** Master URLs ("http://host:5050" or "host:5050"); tried in turn when one cannot be reached. */
  masters: string[];
  /** How long a request to one master may take, redirects included (default 10 s); event streams only until they open. */
  timeoutMs?: number;
  /**
   * fetch sends the requests whose answer is read whole (default: the global fetch); streams
   * (events, exec, downloads) always go through the global fetch. The CLI passes nodeFetch, which
   * spares a short-lived process the cost of loading fetch's implementation. With `ca`, an
   * https:// request carries it in init.ca, which this fetch must trust (nodeFetch does).
   */
  fetch?: (url: URL, init: RequestInit & { ca?: string }) => Promise<Response>;
  /** The token sent with every request (Authorization: Bearer), for a master with authentication. */
  token?: string;
  /**
   * The CA (PEM text) that https:// masters' certificates must chain to, instead of the system's
   * CAs: a cell's own CA (muster cell init-tls).
   */
  ca?: string;
}


export type JobContentType = 'application/yaml' | 'application/json';

/** UpdateAnswer is the master's answer to starting an update or a scale: the update, or noop when the config changes nothing. */
export type UpdateAnswer = UpdateStarted | { noop: true; diff: JobDiffView };

/** EventStreamOptions tune MusterClient.events(). */
export interface EventStreamOptions {
  /** Start after this log index: the master sends the events after it first (default: live events only). */
  since?: number;
  /**
   * reconnect: when the stream ends or breaks (a dropped connection, a master restart, a failover),
   * connect again, as EventSource does, with the index of the last event delivered as
   * Last-Event-ID, so that no event is missed or delivered twice; until signal aborts. Default false.
   */
  reconnect?: boolean;
  /**
   * onReset is told when the master cannot send the events after the index asked for (a snapshot
   * truncated its log past it, or its log ends before it): the caller must read the state again.
   * The stream then goes on after reset.index. Without onReset a reset rejects events() with
   * CONFLICT, rather than let the caller go on unaware of the events it missed.
   */
  onReset?: (reset: EventResetView) => void;
  /**
   * onConnection is told true each time the stream is open (the master answered), and false each
   * time it is lost or cannot be opened: what a UI shows as "live" or "disconnected".
   */
  onConnection?: (connected: boolean) => void;
}

/** The pause before reconnecting an event stream until the master says otherwise (SSE `retry`). */
const EVENTS_RETRY_MS = 1000;
/** Failed reconnections back off, doubling, up to this. */
const EVENTS_MAX_RETRY_MS = 30_000;

/** FAILOVER_RETRY_MS is the first pause before asking the masters again while none leads. */
const FAILOVER_RETRY_MS = 250;

/** MAX_REDIRECTS bounds leader redirects, so that two standbys pointing at each other cannot loop. */
const MAX_REDIRECTS = 3;
const DEFAULT_TIMEOUT_MS = 10_000;

interface SendOptions {
  body?: string;
  contentType?: string;
  accept?: string;
  /** Aborts the request; for streams, keeps aborting the body after the headers arrived. */
  signal?: AbortSignal;
  /** Only until the response headers arrive (event streams run for as long as they like). */
  headersOnlyTimeout?: boolean;
  /** More request headers. */
  headers?: Record<string, string>;
}

/** normalizeMaster accepts "host:port" as well as a URL, and drops a trailing slash. */
export function normalizeMaster(text: string): string {
  const trimmed = text.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new MusterError('INVALID_ARGUMENT', `master "${text}" is not a URL; write it like http://127.0.0.1:5050`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MusterError('INVALID_ARGUMENT', `master "${text}" must be an http:// or https:// URL`);
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/** PageOptions ask for one page of a list: where it starts and how long it is (at most 1000). */
export interface PageOptions {
  offset?: number;
  limit?: number;
}
export interface JobsPageOptions extends PageOptions {
  role?: string;
  env?: string;
  q?: string;
  state?: string;
  kind?: string;
  pending?: boolean;
  facets?: boolean;
  all?: boolean;
}
export interface TasksPageOptions extends PageOptions {
  job?: string;
  agent?: string;
  state?: string;
  all?: boolean;
}
export interface AgentsPageOptions extends PageOptions {
  q?: string;
  state?: string;
  sort?: string;
}

function pageParams(opts: PageOptions): URLSearchParams {
  return new URLSearchParams({ offset: String(opts.offset ?? 0), limit: String(opts.limit ?? 100) });
}

function encodeJobKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/**
 * connectionProblem tells whether fetch failed before any answer: the master is down, not
 * listening, or unknown. Only then is it safe and useful to try the next master.
 */
function connectionProblem(err: unknown): string | undefined {
  if (!(err instanceof TypeError)) return undefined;
  const cause: unknown = err.cause;
  if (cause !== null && typeof cause === 'object') {
    const code = (cause as { code?: unknown }).code;
    const message = (cause as { message?: unknown }).message;
    if (typeof code === 'string') return code;
    if (typeof message === 'string' && message !== '') return message;
  }
  return err.message;
}

/** statusCode picks our code for an error answer that carries none (a proxy's page, an old master). */
function statusCode(status: number): ErrorCode {
  for (const [code, s] of Object.entries(ERROR_STATUS)) if (s === status && isErrorCode(code)) return code;
  if (status >= 400 && status < 500) return 'INVALID_ARGUMENT';
  return 'INTERNAL';
}

export class MusterClient {
  readonly masters: readonly string[];
  private readonly timeoutMs: number;
  private readonly fetchWhole: (url: URL, init: RequestInit & { ca?: string }) => Promise<Response>;
  private readonly token: string | undefined;
  private readonly ca: string | undefined;
  /** The leader found by the last redirect; asked first next time, saving a hop. */
  private leader: string | undefined;

  constructor(options: MusterClientOptions) {
    if (options.masters.length === 0) throw new MusterError('INVALID_ARGUMENT', 'no master URL given');
    this.masters = options.masters.map(normalizeMaster);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.fetchWhole = options.fetch ?? ((url, init) => this.fetchTrusting(url, init));
    this.token = options.token;
    this.ca = options.ca;
  }

  cell(): Promise<CellView> {
    return this.request<CellView>('GET', '/api/v1/cell');
  }

  /** listJobs lists the jobs of the cell; with all, killed jobs the master still keeps too. */
  async listJobs(opts: { all?: boolean } = {}): Promise<JobSummary[]> {
    return (await this.request<{ jobs: JobSummary[] }>('GET', `/api/v1/jobs${opts.all === true ? '?all=true' : ''}`)).jobs;
  }

  /**
   * jobsPage lists one page of jobs, sorted by key, with the total that match: role, env, q (a part
   * of the key), state and kind (comma-separated) narrow it; facets adds the jobs per role and env.
   */
  jobsPage(opts: JobsPageOptions = {}): Promise<JobList> {
    const params = pageParams(opts);
    for (const name of ['role', 'env', 'q', 'state', 'kind'] as const) {
      const v = opts[name];
      if (v !== undefined && v !== '') params.set(name, v);
    }
    if (opts.pending === true) params.set('pending', 'true');
    if (opts.facets === true) params.set('facets', 'true');
    if (opts.all === true) params.set('all', 'true');
    return this.request<JobList>('GET', `/api/v1/jobs?${params.toString()}`);
  }

  /** tasksPage lists one page of tasks (of a job, an agent, in some states) with the total that match. */
  tasksPage(opts: TasksPageOptions = {}): Promise<TaskList> {
    const params = pageParams(opts);
    if (opts.job !== undefined) params.set('job', opts.job);
    if (opts.agent !== undefined) params.set('agent', opts.agent);
    if (opts.state !== undefined && opts.state !== '') params.set('state', opts.state);
    if (opts.all === true) params.set('all', 'true');
    return this.request<TaskList>('GET', `/api/v1/tasks?${params.toString()}`);
  }

  /** agentsPage lists agents sorted (hostname, state, tasks, cpus, mem, registered; "-" reverses), filtered by q and state. */
  agentsPage(opts: AgentsPageOptions = {}): Promise<AgentList> {
    const params = pageParams(opts);
    if (opts.q !== undefined && opts.q !== '') params.set('q', opts.q);
    if (opts.state !== undefined && opts.state !== '') params.set('state', opts.state);
    if (opts.sort !== undefined) params.set('sort', opts.sort);
    return this.request<AgentList>('GET', `/api/v1/agents${params.size === 0 ? '' : `?${params.toString()}`}`);
  }

  getAgent(agentId: string): Promise<AgentView> {
    return this.request<AgentView>('GET', `/api/v1/agents/${encodeURIComponent(agentId)}`);
  }

  /** cellSummary is the cell view without its list of agents (their counts by state stay). */
  cellSummary(): Promise<CellView> {
    return this.request<CellView>('GET', '/api/v1/cell?agents=false');
  }

  /** createJob sends the config text as written; the master parses and validates it. */
  async createJob(text: string, opts: { contentType: JobContentType; job?: string }): Promise<JobCreated> {
    const query = opts.job === undefined ? '' : `?job=${encodeURIComponent(opts.job)}`;
    const path = `/api/v1/jobs${query}`;
    return this.json<JobCreated>(await this.send('POST', path, { body: text, contentType: opts.contentType }), 'POST', path);
  }

  /** planJob asks what creating (or replacing) the job would do now; the master changes nothing. */
  async planJob(text: string, opts: { contentType: JobContentType; job?: string }): Promise<JobPlanView> {
    const query = opts.job === undefined ? '' : `?job=${encodeURIComponent(opts.job)}`;
    const path = `/api/v1/jobs/plan${query}`;
    return this.json<JobPlanView>(await this.send('POST', path, { body: text, contentType: opts.contentType }), 'POST', path);
  }

  getJob(key: string): Promise<JobView> {
    return this.request<JobView>('GET', `/api/v1/jobs/${encodeJobKey(key)}`);
  }

  /** killJob kills the given instances, or every instance when none are given. */
  killJob(key: string, instances?: number[]): Promise<JobInstancesAnswer> {
    const body: KillRequest = instances === undefined ? {} : { instances };
    return this.request<JobInstancesAnswer>('POST', `/api/v1/jobs/${encodeJobKey(key)}/kill`, body);
  }

  /** restartJob restarts the given instances, or every instance when none are given. */
  restartJob(key: string, instances?: number[]): Promise<JobInstancesAnswer> {
    const body: RestartRequest = instances === undefined ? {} : { instances };
    return this.request<JobInstancesAnswer>('POST', `/api/v1/jobs/${encodeJobKey(key)}/restart`, body);
  }

  // ---- updates -----------------------------------------------------------------------------------

  /** diffJob asks what updating the job to this config would change; the master changes nothing. */
  async diffJob(key: string, text: string, opts: { contentType: JobContentType }): Promise<JobDiffView> {
    const path = `/api/v1/jobs/${encodeJobKey(key)}/diff`;
    return this.json<JobDiffView>(await this.send('POST', path, { body: text, contentType: opts.contentType }), 'POST', path);
  }

  /** jobHistory lists the versions of a job's config and its updates; with specs, each version's config too. */
  jobHistory(key: string, opts: { specs?: boolean } = {}): Promise<JobHistoryView> {
    return this.request<JobHistoryView>('GET', `/api/v1/jobs/${encodeJobKey(key)}/history${opts.specs === true ? '?specs=true' : ''}`);
  }

  /** getUpdate shows the job's active update, else its latest; NOT_FOUND when it has had none. */
  getUpdate(key: string): Promise<UpdateView> {
    return this.request<UpdateView>('GET', `/api/v1/jobs/${encodeJobKey(key)}/update`);
  }

  getUpdateById(id: string): Promise<UpdateView> {
    return this.request<UpdateView>('GET', `/api/v1/updates/${encodeURIComponent(id)}`);
  }

  /**
   * startUpdate rolls the job to the config text (only the instances given, e.g. "0-3,7", when
   * given). noop: the config changes nothing, and no update was started.
   */
  async startUpdate(
    key: string,
    text: string,
    opts: { contentType: JobContentType; instances?: string; message?: string },
  ): Promise<UpdateAnswer> {
    const params = new URLSearchParams();
    if (opts.instances !== undefined) params.set('instances', opts.instances);
    if (opts.message !== undefined) params.set('message', opts.message);
    const path = `/api/v1/jobs/${encodeJobKey(key)}/update${params.size === 0 ? '' : `?${params.toString()}`}`;
    return this.json<UpdateAnswer>(await this.send('POST', path, { body: text, contentType: opts.contentType }), 'POST', path);
  }

  /** steerUpdate pauses, resumes, aborts, rolls back or promotes the job's active update. */
  steerUpdate(key: string, verb: 'pause' | 'resume' | 'abort' | 'rollback' | 'promote', message?: string): Promise<UpdateView> {
    const query = message === undefined ? '' : `?${new URLSearchParams({ message }).toString()}`;
    return this.request<UpdateView>('POST', `/api/v1/jobs/${encodeJobKey(key)}/update/${verb}${query}`);
  }

  /** scaleJob changes a service's instance count, as an update of kind scale. */
  scaleJob(key: string, instances: number, message?: string): Promise<UpdateAnswer> {
    const body: ScaleRequest = { instances };
    const query = message === undefined ? '' : `?${new URLSearchParams({ message }).toString()}`;
    return this.request<UpdateAnswer>('POST', `/api/v1/jobs/${encodeJobKey(key)}/scale${query}`, body);
  }

  /** listUpdates lists updates, newest first; status is a status or a group (active, paused, succeeded, failed, inactive, all), comma-separated. */
  async listUpdates(opts: { role?: string; job?: string; status?: string } = {}): Promise<UpdateSummaryView[]> {
    const params = new URLSearchParams();
    if (opts.role !== undefined) params.set('role', opts.role);
    if (opts.job !== undefined) params.set('job', opts.job);
    if (opts.status !== undefined) params.set('status', opts.status);
    return (await this.request<{ updates: UpdateSummaryView[] }>('GET', `/api/v1/updates${params.size === 0 ? '' : `?${params.toString()}`}`)).updates;
  }

  /** listQuotas lists every role that has a quota, with what it holds against it. */
  async listQuotas(): Promise<QuotaView[]> {
    return (await this.request<{ quotas: QuotaView[] }>('GET', '/api/v1/quotas')).quotas;
  }

  /** getQuota shows a role's quota (absent: unlimited), what it holds and what is left. */
  getQuota(role: string): Promise<QuotaView> {
    return this.request<QuotaView>('GET', `/api/v1/quotas/${encodeURIComponent(role)}`);
  }

  /** setQuota replaces a role's quota; resources left out are not limited. */
  setQuota(role: string, quota: QuotaRequest): Promise<QuotaView> {
    return this.request<QuotaView>('PUT', `/api/v1/quotas/${encodeURIComponent(role)}`, quota);
  }

  /** clearQuota removes a role's quota, leaving it unlimited. */
  clearQuota(role: string): Promise<QuotaView> {
    return this.request<QuotaView>('DELETE', `/api/v1/quotas/${encodeURIComponent(role)}`);
  }

  // ---- access control ----------------------------------------------------------------------------

  /** whoAmI is who the master takes this client's token for. */
  whoAmI(): Promise<WhoAmIView> {
    return this.request<WhoAmIView>('GET', '/api/v1/acl/whoami');
  }

  async listTokens(all = false): Promise<TokenView[]> {
    return (await this.request<{ tokens: TokenView[] }>('GET', `/api/v1/acl/tokens${all ? '?all=true' : ''}`)).tokens;
  }

  /** createToken makes a token; the answer holds its secret, which the master never shows again. */
  createToken(request: { name: string; policies?: string[]; management?: boolean; ttlSecs?: number }): Promise<TokenCreatedView> {
    return this.request<TokenCreatedView>('POST', '/api/v1/acl/tokens', request);
  }

  /** revokeToken revokes a token by accessor id or name. */
  async revokeToken(idOrName: string): Promise<TokenView> {
    return (await this.request<{ token: TokenView }>('DELETE', `/api/v1/acl/tokens/${encodeURIComponent(idOrName)}`)).token;
  }

  async listPolicies(): Promise<PolicyView[]> {
    return (await this.request<{ policies: PolicyView[] }>('GET', '/api/v1/acl/policies')).policies;
  }

  async setPolicy(name: string, policy: { grants: PolicyGrantView[]; description?: string }): Promise<PolicyView> {
    return (await this.request<{ policy: PolicyView }>('PUT', `/api/v1/acl/policies/${encodeURIComponent(name)}`, policy)).policy;
  }

  async deletePolicy(name: string): Promise<void> {
    await this.request('DELETE', `/api/v1/acl/policies/${encodeURIComponent(name)}`);
  }

  /** audit lists the latest recorded changes and who made them, oldest first. */
  async audit(options: { limit?: number; principal?: string } = {}): Promise<AuditEntryView[]> {
    const q = new URLSearchParams();
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    if (options.principal !== undefined) q.set('principal', options.principal);
    return (await this.request<{ entries: AuditEntryView[] }>('GET', `/api/v1/audit${q.size === 0 ? '' : `?${q.toString()}`}`)).entries;
  }

  /** listFrameworks lists the built-in framework and every external one the master knows. */
  async listFrameworks(): Promise<FrameworkView[]> {
    return (await this.request<FrameworkList>('GET', '/api/v1/frameworks')).frameworks;
  }

  /** teardownFramework removes an external framework: its offers go back and its tasks are killed. */
  async teardownFramework(frameworkId: string): Promise<void> {
    await this.request<unknown>('POST', `/api/v1/frameworks/${encodeURIComponent(frameworkId)}/teardown`);
  }

  /** listHosts lists every host with its maintenance mode and what still runs on it. */
  async listHosts(): Promise<HostView[]> {
    return (await this.request<HostsAnswer>('GET', '/api/v1/hosts')).hosts;
  }

  /** drainHosts puts hosts in maintenance: nothing new lands there and their services move off. */
  async drainHosts(hostnames: string[]): Promise<HostView[]> {
    const body: HostsRequest = { hostnames };
    return (await this.request<HostsAnswer>('POST', '/api/v1/hosts/drain', body)).hosts;
  }

  /** activateHosts takes hosts out of maintenance: they get new tasks again. */
  async activateHosts(hostnames: string[]): Promise<HostView[]> {
    const body: HostsRequest = { hostnames };
    return (await this.request<HostsAnswer>('POST', '/api/v1/hosts/activate', body)).hosts;
  }

  async listTasks(opts: { job?: string; all?: boolean } = {}): Promise<TaskView[]> {
    const params = new URLSearchParams();
    if (opts.job !== undefined) params.set('job', opts.job);
    if (opts.all === true) params.set('all', 'true');
    const query = params.size === 0 ? '' : `?${params.toString()}`;
    return (await this.request<{ tasks: TaskView[] }>('GET', `/api/v1/tasks${query}`)).tasks;
  }

  /** taskHistory is the states a task went through, as the master remembers them (complete: all of them). */
  taskHistory(id: string): Promise<TaskHistoryView> {
    return this.request<TaskHistoryView>('GET', `/api/v1/tasks/${encodeURIComponent(id)}/history`);
  }

  getTask(id: string): Promise<TaskView> {
    return this.request<TaskView>('GET', `/api/v1/tasks/${encodeURIComponent(id)}`);
  }

  /** taskLogs reads part of a task's stdout or stderr; without offset, the last `length` bytes. */
  taskLogs(id: string, opts: { file: 'stdout' | 'stderr'; offset?: number; length?: number }): Promise<LogChunk> {
    const params = new URLSearchParams({ file: opts.file });
    if (opts.offset !== undefined) params.set('offset', String(opts.offset));
    if (opts.length !== undefined) params.set('length', String(opts.length));
    return this.request<LogChunk>('GET', `/api/v1/tasks/${encodeURIComponent(id)}/logs?${params.toString()}`);
  }

  /** browseTaskFiles lists a directory of a task's sandbox ("" or absent: the sandbox itself). */
  browseTaskFiles(taskId: string, path?: string): Promise<TaskFileListing> {
    const query = path === undefined || path === '' ? '' : `?${new URLSearchParams({ path }).toString()}`;
    return this.request<TaskFileListing>('GET', `/api/v1/tasks/${encodeURIComponent(taskId)}/files${query}`);
  }

  /** readTaskFile reads part of any file in a task's sandbox; without offset, the last `length` bytes. */
  readTaskFile(taskId: string, opts: { path: string; offset?: number; length?: number }): Promise<TaskFileChunk> {
    const params = new URLSearchParams({ path: opts.path });
    if (opts.offset !== undefined) params.set('offset', String(opts.offset));
    if (opts.length !== undefined) params.set('length', String(opts.length));
    return this.request<TaskFileChunk>('GET', `/api/v1/tasks/${encodeURIComponent(taskId)}/files/read?${params.toString()}`);
  }

  /**
   * downloadTaskFile opens a download of one file of a task's sandbox. It resolves once the master
   * has answered with the headers; the bytes come as a web ReadableStream (what fetch gives, in Node
   * and in browsers alike; Readable.fromWeb turns it into a Node stream). The timeout covers the
   * headers only, so a large file may take as long as it needs; cancel the body, or abort signal,
   * to stop early.
   */
  async downloadTaskFile(taskId: string, path: string, opts: { signal?: AbortSignal } = {}): Promise<TaskFileDownload> {
    const params = new URLSearchParams({ path });
    const options: SendOptions = { accept: 'application/octet-stream', headersOnlyTimeout: true };
    if (opts.signal !== undefined) options.signal = opts.signal;
    const res = await this.send('GET', `/api/v1/tasks/${encodeURIComponent(taskId)}/files/download?${params.toString()}`, options);
    const download: TaskFileDownload = {
      taskId,
      path,
      name: safeFileName(dispositionName(res.headers.get('content-disposition')) ?? path),
      body: res.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() }),
    };
    const length = res.headers.get('content-length');
    if (length !== null && /^\d+$/.test(length)) download.size = Number(length);
    return download;
  }

  /**
   * downloadSnapshot opens the leader's snapshot of the cell state (GET /api/v1/snapshot) for
   * `muster cell snapshot save`. It resolves once the headers are in, with the log index the
   * snapshot was taken at; the body, JSON {"index", "data"}, comes as a web ReadableStream, since
   * it may be hundreds of MB. The timeout covers the headers only.
   */
  async downloadSnapshot(opts: { signal?: AbortSignal } = {}): Promise<{ index: number; body: ReadableStream<Uint8Array> }> {
    const options: SendOptions = { headersOnlyTimeout: true };
    if (opts.signal !== undefined) options.signal = opts.signal;
    const res = await this.send('GET', '/api/v1/snapshot', options);
    const header = res.headers.get('x-muster-log-index') ?? '';
    if (!/^\d{1,16}$/.test(header) || res.body === null) {
      await res.body?.cancel();
      throw new MusterError('INTERNAL', 'the master answered GET /api/v1/snapshot without a log index or a body; is it an older master?');
    }
    return { index: Number(header), body: res.body };
  }

  /**
   * execTask runs argv inside a running task (no shell: pass ["sh", "-c", "..."] for one) and
   * calls onOutput with each piece of its stdout and stderr as it comes. It resolves with how the
   * command ended. A task that is not running is a TASK_NOT_RUNNING error; the command's own
   * failure is not an error, it is the exit code.
   */
  async execTask(
    taskId: string,
    request: ExecRequest,
    onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void,
    opts: { signal?: AbortSignal } = {},
  ): Promise<{ exitCode: number | null; signal: string | null }> {
    const options: SendOptions = {
      body: JSON.stringify(request),
      contentType: 'application/json',
      accept: 'application/recordio',
      headersOnlyTimeout: true,
    };
    if (opts.signal !== undefined) options.signal = opts.signal;
    const res = await this.send('POST', `/api/v1/tasks/${encodeURIComponent(taskId)}/exec`, options);
    const decoder = new RecordIODecoder();
    try {
      for await (const chunk of res.body ?? []) {
        for (const record of decoder.push(Buffer.from(chunk as Uint8Array))) {
          const event = record as ExecEvent;
          if (event.type === 'OUTPUT') onOutput(event.stream === 'stderr' ? 'stderr' : 'stdout', Buffer.from(event.data, 'base64'));
          else if (event.type === 'EXIT') return { exitCode: event.exitCode, signal: event.signal };
          else if (event.type === 'ERROR') throw new MusterError('INTERNAL', event.message);
        }
      }
    } catch (err) {
      if (err instanceof MusterError) throw err;
      throw new MusterError('UNAVAILABLE', `the exec stream from the master broke: ${String(err)}`, { retryable: false, cause: err });
    }
    throw new MusterError('UNAVAILABLE', 'the exec stream ended before the command did (the agent or the master went away)');
  }

  /**
   * events calls onEvent for each event the master streams, in log order, until the stream ends
   * (resolves; with options.reconnect it connects again instead) or signal aborts (resolves too:
   * stopping is not a failure). Connecting fails like any request; with reconnect, a failure that
   * may pass (no master reachable, none leading) is retried with backoff until signal aborts.
   */
  async events(onEvent: (event: EventView) => void, signal: AbortSignal, options: EventStreamOptions = {}): Promise<void> {
    let last = options.since;
    let retryMs = EVENTS_RETRY_MS;
    let failures = 0;
    for (;;) {
      let res: Response;
      try {
        const send: SendOptions = { accept: 'text/event-stream', signal, headersOnlyTimeout: true };
        if (last !== undefined) send.headers = { 'last-event-id': String(last) };
        res = await this.send('GET', '/api/v1/events', send);
      } catch (err) {
        if (signal.aborted) return;
        options.onConnection?.(false);
        if (options.reconnect !== true || !(err instanceof MusterError && err.retryable)) throw err;
        failures++;
        if (!(await pause(Math.min(retryMs * 2 ** (failures - 1), EVENTS_MAX_RETRY_MS), signal))) return;
        continue;
      }
      failures = 0;
      options.onConnection?.(true);
      const parser = new SseParser();
      const decoder = new TextDecoder();
      // An error thrown by a callback is the caller's and goes back to it as it is.
      let inCallback = false;
      let broke: unknown;
      try {
        for await (const chunk of res.body ?? []) {
          for (const message of parser.push(decoder.decode(chunk as Uint8Array, { stream: true }))) {
            if (message.event === 'reset') {
              const reset = JSON.parse(message.data) as EventResetView;
              last = reset.index;
              if (options.onReset === undefined) {
                throw new MusterError('CONFLICT', `the event stream was reset: ${reset.message}`, { details: { ...reset } });
              }
              inCallback = true;
              options.onReset(reset);
              inCallback = false;
              continue;
            }
            let event: EventView;
            try {
              event = JSON.parse(message.data) as EventView;
            } catch {
              continue; // a message not meant for us
            }
            if (typeof event.index === 'number') last = event.index;
            inCallback = true;
            onEvent(event);
            inCallback = false;
          }
        }
      } catch (err) {
        if (signal.aborted) return;
        if (inCallback || err instanceof MusterError) throw err;
        broke = err;
      }
      if (signal.aborted) return;
      options.onConnection?.(false);
      if (options.reconnect !== true) {
        if (broke === undefined) return;
        throw new MusterError('UNAVAILABLE', `the event stream from the master broke: ${broke instanceof Error ? broke.message : 'the connection was lost'}`, { retryable: true, cause: broke });
      }
      retryMs = parser.retryMs ?? retryMs;
      if (!(await pause(retryMs, signal))) return;
    }
  }

  /** jobRuns is a cron or dependent job's schedule, next times, runs going and kept, and skipped times. */
  jobRuns(key: string): Promise<RunsView> {
    return this.request<RunsView>('GET', `/api/v1/jobs/${encodeJobKey(key)}/runs`);
  }

  /** startRun starts a run of a cron or dependent job now (`muster cron start`), under its concurrency policy. */
  startRun(key: string): Promise<RunStartedView> {
    return this.request<RunStartedView>('POST', `/api/v1/jobs/${encodeJobKey(key)}/runs`, {});
  }

  /** suspendRuns stops (true) or resumes (false) a cron or dependent job's runs; runs going are left alone. */
  suspendRuns(key: string, suspended: boolean): Promise<{ job: string; suspended: boolean }> {
    return this.request('POST', `/api/v1/jobs/${encodeJobKey(key)}/${suspended ? 'suspend' : 'resume'}`, {});
  }

  /** jobGraph is the graph of jobs connected to one by after:. */
  jobGraph(key: string): Promise<JobGraphView> {
    return this.request<JobGraphView>('GET', `/api/v1/jobs/${encodeJobKey(key)}/graph`);
  }

  /** endpoints lists the job's instances that have a live task: where they run, their ports, whether they are ready. */
  endpoints(key: string): Promise<EndpointsView> {
    return this.request<EndpointsView>('GET', `/api/v1/endpoints/${encodeJobKey(key)}`);
  }

  /**
   * watchEndpoints calls onView with the job's endpoints at once and again each time they change,
   * until signal aborts (then it resolves). Each view is whole, so a dropped stream (a master
   * restart, a failover) is simply opened again, with backoff while no master can serve it; the
   * first view after a reconnect may equal the last one before it. A refusal that retrying cannot
   * fix (no such job, no permission) rejects.
   */
  async watchEndpoints(key: string, onView: (view: EndpointsView) => void, signal: AbortSignal): Promise<void> {
    const path = `/api/v1/endpoints/${encodeJobKey(key)}?watch=true`;
    let retryMs = EVENTS_RETRY_MS;
    let failures = 0;
    for (;;) {
      let res: Response;
      try {
        res = await this.send('GET', path, { accept: 'text/event-stream', signal, headersOnlyTimeout: true });
      } catch (err) {
        if (signal.aborted) return;
        if (!(err instanceof MusterError && err.retryable)) throw err;
        failures++;
        if (!(await pause(Math.min(retryMs * 2 ** (failures - 1), EVENTS_MAX_RETRY_MS), signal))) return;
        continue;
      }
      failures = 0;
      const parser = new SseParser();
      const decoder = new TextDecoder();
      let inCallback = false;
      try {
        for await (const chunk of res.body ?? []) {
          for (const message of parser.push(decoder.decode(chunk as Uint8Array, { stream: true }))) {
            if (message.event !== 'endpoints') continue;
            let view: EndpointsView;
            try {
              view = JSON.parse(message.data) as EndpointsView;
            } catch {
              continue; // a message not meant for us
            }
            inCallback = true;
            onView(view);
            inCallback = false;
          }
        }
      } catch (err) {
        if (signal.aborted) return;
        // An error thrown by onView is the caller's and goes back to it as it is; a broken stream is opened again.
        if (inCallback) throw err;
      }
      if (signal.aborted) return;
      retryMs = parser.retryMs ?? retryMs;
      if (!(await pause(retryMs, signal))) return;
    }
  }

  /** request sends body (if any) as JSON and returns the JSON answer; an error answer throws MusterError. */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const options: SendOptions = body === undefined ? {} : { body: JSON.stringify(body), contentType: 'application/json' };
    return this.json<T>(await this.send(method, path, options), method, path);
  }

  /**
   * send tries the leader (if known), then each master in order, moving on only when a master
   * cannot be reached, says it is unavailable, or is a standby that knows no leader; it returns the
   * first 2xx answer's response.
   */
  private async send(method: string, path: string, options: SendOptions): Promise<Response> {
    // During a failover the masters answer but none leads yet (503 NOT_LEADER), or they still
    // redirect to the leader that just died: wait for the new one rather than fail, as long as no
    // request may have reached a master and been acted on (a retried POST must not run twice).
    const deadline = Date.now() + this.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const pass = await this.sendOnce(method, path, options);
      if (pass.res !== undefined) return pass.res;
      const error = pass.error;
      const again = pass.failover && (method === 'GET' || !pass.maybeApplied) && Date.now() + FAILOVER_RETRY_MS <= deadline;
      if (!again || options.signal?.aborted === true) throw error;
      await new Promise((r) => setTimeout(r, Math.min(FAILOVER_RETRY_MS * 2 ** attempt, 1000)));
    }
  }

  /**
   * sendOnce is one pass over the masters. failover: some master answered but none could serve
   * (the cell is between leaders); maybeApplied: a request was sent and its answer lost.
   */
  private async sendOnce(
    method: string,
    path: string,
    options: SendOptions,
  ): Promise<{ res: Response; error?: undefined; failover?: undefined; maybeApplied?: undefined } | { res?: undefined; error: MusterError; failover: boolean; maybeApplied: boolean }> {
    let failover = false;
    let maybeApplied = false;
    const order = this.leader === undefined ? [...this.masters] : [this.leader, ...this.masters.filter((m) => m !== this.leader)];
    const problems: string[] = [];
    let unavailable: MusterError | undefined;
    for (const master of order) {
      let res: Response | undefined;
      try {
        res = await this.follow(master, path, method, options);
      } catch (err) {
        if (err instanceof MusterError && err.code === 'UNAVAILABLE' && err.details?.['unreachable'] === true) {
          problems.push(err.message);
          if (this.leader === master) this.leader = undefined;
          if (err.details['afterRedirect'] === true) failover = true;
          if (err.details['refused'] !== true) maybeApplied = true;
          continue;
        }
        throw err;
      }
      if (res.ok) return { res };
      const error = await this.errorOf(res, method, path);
      // A standby that knows no leader yet says NOT_LEADER: another master may know better.
      if (error.code !== 'UNAVAILABLE' && error.code !== 'NOT_LEADER') throw error;
      if (error.code === 'NOT_LEADER') failover = true;
      if (this.leader === master) this.leader = undefined;
      unavailable = error;
    }
    if (unavailable !== undefined) return { error: unavailable, failover, maybeApplied };
    const message = problems.length === 1 ? (problems[0] as string) : `cannot reach any master: ${problems.join('; ')}`;
    return { error: new MusterError('UNAVAILABLE', message, { retryable: true, details: { masters: order } }), failover, maybeApplied };
  }

  /**
   * follow sends one request to one master and follows its redirects to the leader itself: fetch's
   * own redirect handling would turn a redirected POST into a GET without its body.
   */
  private async follow(master: string, path: string, method: string, options: SendOptions): Promise<Response> {
    // The timeout covers reading the body too, except for streams, which may stay open for hours:
    // their timer stops once the headers are in. Until the headers are in, the timer is an ordinary
    // (ref'd) one: AbortSignal.timeout does not keep the process alive, and a request whose
    // connection went quiet (its master killed mid-request) would let a CLI process run out of
    // work and exit 0 with its command unfinished, instead of failing with TIMEOUT.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException('timed out', 'TimeoutError')), this.timeoutMs);
    const headersIn = (): void => clearTimeout(timer);
    const timeout = options.headersOnlyTimeout === true ? controller.signal : AbortSignal.any([controller.signal, AbortSignal.timeout(this.timeoutMs)]);
    const signal = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal]);
    const headers: Record<string, string> = { ...options.headers, accept: options.accept ?? 'application/json' };
    if (this.token !== undefined) headers['authorization'] = `Bearer ${this.token}`;
    if (options.contentType !== undefined) headers['content-type'] = options.contentType;
    let url = new URL(master + path);
    try {
      for (let hop = 0; ; hop++) {
        let res: Response;
        try {
          const init: RequestInit & { ca?: string } = { method, headers, redirect: 'manual', signal };
          if (options.body !== undefined) init.body = options.body;
          if (this.ca !== undefined && url.protocol === 'https:') init.ca = this.ca;
          res = await (options.headersOnlyTimeout === true ? this.fetchTrusting(url, init) : this.fetchWhole(url, init));
        } catch (err) {
          if (timeout.aborted) throw this.timeoutError(method, url, err);
          if (options.signal?.aborted === true) throw err;
          // A certificate refused is a setting to fix, not a master that is down: no other master is tried.
          const tls = certificateProblem(err);
          if (tls !== undefined) {
            throw new MusterError('UNAVAILABLE', `cannot trust the master at ${url.origin}: its certificate ${tls.why} (${tls.code})`, {
              details: { url: url.origin, certificate: tls.code, tls: tls.kind },
              cause: err,
            });
          }
          const why = connectionProblem(err);
          if (why === undefined) throw err;
          throw new MusterError('UNAVAILABLE', `cannot reach the master at ${url.origin}: ${why}`, {
            retryable: true,
            // afterRedirect: a master answered and sent us to one that is gone (a leader that just
            // died); refused: the connection was refused, so the request was never received.
            details: { unreachable: true, url: url.origin, afterRedirect: hop > 0, refused: why === 'ECONNREFUSED' },
            cause: err,
          });
        }
        const location = res.headers.get('location');
        if (res.status < 300 || res.status >= 400 || location === null) {
          if (hop > 0 && res.ok) this.leader = url.origin;
          return res;
        }
        await res.body?.cancel();
        if (hop >= MAX_REDIRECTS) {
          throw new MusterError('UNAVAILABLE', `the masters redirected ${method} ${path} more than ${MAX_REDIRECTS} times; is a leader elected?`, {
            retryable: true,
            details: { lastLocation: location },
          });
        }
        url = redirectTarget(location, url);
      }
    } finally {
      headersIn();
    }
  }

  /** fetchTrusting is the global fetch, through a pool that trusts the client's CA for https:// masters. */
  private async fetchTrusting(url: URL, init: RequestInit & { ca?: string }): Promise<Response> {
    const { ca, ...rest } = init;
    if (ca === undefined || url.protocol !== 'https:') return fetch(url, rest);
    // dispatcher is node's extension of RequestInit (a browser never gets here: it sets no ca).
    const trusting = { ...rest, dispatcher: await trustingDispatcher(ca) };
    return fetch(url, trusting);
  }

  private timeoutError(method: string, url: URL, cause: unknown): MusterError {
    return new MusterError('TIMEOUT', `the master at ${url.origin} did not answer ${method} ${url.pathname} within ${this.timeoutMs / 1000}s`, {
      retryable: true,
      cause,
    });
  }

  /** json reads a 2xx answer's body as JSON (empty: undefined), turning a stalled or garbled body into MusterError. */
  private async json<T>(res: Response, method: string, path: string): Promise<T> {
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      if (err instanceof DOMException && err.name === 'TimeoutError') throw this.timeoutError(method, new URL(res.url), err);
      throw new MusterError('UNAVAILABLE', `the connection to the master broke while reading ${method} ${path}`, {
        retryable: true,
        cause: err,
      });
    }
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new MusterError('INTERNAL', `the master answered ${method} ${path} with something that is not JSON`, {
        details: { status: res.status, body: text.slice(0, 200) },
      });
    }
  }

  private async errorOf(res: Response, method: string, path: string): Promise<MusterError> {
    const text = await res.text().catch(() => '');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const error = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
    const code = isErrorCode(error?.code) ? error.code : statusCode(res.status);
    const message =
      typeof error?.message === 'string' && error.message !== ''
        ? error.message
        : `the master answered ${method} ${path} with ${res.status} ${res.statusText}`.trimEnd();
    const options: { retryable: boolean; details?: Record<string, unknown> } = { retryable: res.status === 503 };
    const details = error?.details;
    if (details !== null && typeof details === 'object' && !Array.isArray(details)) {
      options.details = details as Record<string, unknown>;
    }
    return new MusterError(code, message, options);
  }

  /** The master a request went to after its last redirect; undefined until a redirect was followed. */
  get knownLeader(): string | undefined {
    return this.leader;
  }
}

/** pause waits ms; false if signal aborted first. Its timer keeps the process alive, as a stream would. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * dispositionName reads the file name of a Content-Disposition header, preferring the exact
 * RFC 5987 form (filename*=UTF-8''…) to the plain one; undefined when there is none.
 */
function dispositionName(header: string | null): string | undefined {
  if (header === null) return undefined;
  const exact = /filename\*=UTF-8''([^;\s]+)/i.exec(header)?.[1];
  if (exact !== undefined) {
    try {
      return decodeURIComponent(exact);
    } catch {
      // a malformed escape: fall back to the plain name
    }
  }
  return /filename="([^"]*)"/i.exec(header)?.[1];
}

/**
 * safeFileName keeps the last component of a name and drops control characters, so that a caller
 * who saves a download under its name cannot be sent outside the directory it chose.
 */
function safeFileName(name: string): string {
  const last = (name.split(/[\\/]/).filter((s) => s !== '').pop() ?? '').replace(/[\u0000-\u001f\u007f]/g, '');
  return last === '' || last === '.' || last === '..' ? 'download' : last;
}

/**
 * redirectTarget resolves a Location against the URL that answered. Mesos-style masters send
 * scheme-relative locations ("//host:5050/path"), and /master/redirect sends the leader's bare
 * address ("//host:5050"): a bare address keeps the original path and query.
 */
function redirectTarget(location: string, from: URL): URL {
  const target = new URL(location, from);
  if (/^(?:[a-z][a-z0-9+.-]*:)?\/\/[^/?#]+\/?$/i.test(location)) {
    target.pathname = from.pathname;
    target.search = from.search;
  }
  return target;
}
