// The agents: a sortable, filterable list paged on the master, and each agent's page with its
// tasks, what it holds, and drain / activate of its host.

import type { JSX } from 'preact';
import type { AgentView, HostView } from '../protocol/index.js';
import { Bar, Chip, ErrorBox, Loading, Pager, Section, act, confirmAction, useData } from './components.js';
import { ago, formatBytes, formatCpus, formatMiB } from './format.js';
import { useLive } from './browser/live.js';
import { setQuery, useLocation } from './browser/router.js';
import { api } from './browser/session.js';

const LIMIT = 50;

const COLUMNS: { key: string; label: string }[] = [
  { key: 'hostname', label: 'host' },
  { key: 'state', label: 'state' },
  { key: 'cpus', label: 'cpus' },
  { key: 'mem', label: 'mem' },
  { key: 'tasks', label: 'tasks' },
];

export function AgentsPage(): JSX.Element {
  const { query } = useLocation();
  const q = query.get('q') ?? '';
  const state = query.get('state') ?? '';
  const sort = query.get('sort') ?? 'hostname';
  const offset = Number(query.get('offset') ?? 0) || 0;
  const list = useData(() => api().agentsPage({ q, state, sort, offset, limit: LIMIT }), [q, state, sort, offset]);
  useLive(list.reload, { matches: (e) => e.type.startsWith('Agent') || e.type === 'TasksLaunched' || e.type === 'HostMaintenance', minGapMs: 1000 });
  const sortBy = (key: string): void => setQuery({ sort: sort === key ? `-${key}` : key === 'hostname' ? undefined : key, offset: undefined });
  return (
    <div>
      <h1>Agents</h1>
      <div class="filters">
        <label>
          Filter <input type="search" value={q} placeholder="host, id, rack:r1" onInput={(e) => setQuery({ q: e.currentTarget.value, offset: undefined }, { replace: true })} />
        </label>
        <label>
          State{' '}
          <select value={state} onChange={(e) => setQuery({ state: e.currentTarget.value, offset: undefined })}>
            <option value="">any</option>
            <option>CONNECTED</option>
            <option>DISCONNECTED</option>
            <option>UNREACHABLE</option>
          </select>
        </label>
        <Loading loading={list.loading} />
      </div>
      <ErrorBox error={list.error} />
      <table class="list" aria-label="agents">
        <thead>
          <tr>
            {COLUMNS.map((c) => (
              <th key={c.key} aria-sort={sort === c.key ? 'ascending' : sort === `-${c.key}` ? 'descending' : 'none'}>
                <button type="button" class="sort" onClick={() => sortBy(c.key)}>
                  {c.label}
                  {sort === c.key ? ' ▲' : sort === `-${c.key}` ? ' ▼' : ''}
                </button>
              </th>
            ))}
            <th>attributes</th>
          </tr>
        </thead>
        <tbody>
          {(list.data?.agents ?? []).map((a) => (
            <AgentRow key={a.agentId} a={a} />
          ))}
        </tbody>
      </table>
      {list.data === undefined ? null : <Pager total={list.data.total ?? list.data.agents.length} offset={offset} limit={LIMIT} />}
    </div>
  );
}

function AgentRow({ a }: { a: AgentView }): JSX.Element {
  return (
    <tr data-agent={a.hostname}>
      <td>
        <a href={`/agents/${encodeURIComponent(a.agentId)}`}>{a.hostname}</a>
      </td>
      <td>
        <Chip state={a.state} />
      </td>
      <td>
        <Bar label="cpus" used={a.used.cpus} total={a.total.cpus} text={`${formatCpus(a.used.cpus)}/${formatCpus(a.total.cpus)}`} />
      </td>
      <td>
        <Bar label="mem" used={a.used.mem} total={a.total.mem} text={`${formatMiB(a.used.mem)}/${formatMiB(a.total.mem)}`} />
      </td>
      <td>{a.taskCount}</td>
      <td class="attrs">
        {Object.entries(a.attributes).map(([k, v]) => (
          <code key={k}>
            {k}:{v}
          </code>
        ))}
      </td>
    </tr>
  );
}

export function AgentPage({ agentId }: { agentId: string }): JSX.Element {
  const agent = useData(() => api().getAgent(agentId), [agentId]);
  const tasks = useData(() => api().tasksPage({ agent: agentId, limit: 200 }), [agentId]);
  const hosts = useData(() => api().listHosts(), []);
  useLive(
    () => {
      agent.reload();
      tasks.reload();
      hosts.reload();
    },
    { matches: (_e, text) => text.includes(agentId) || text.includes('HostMaintenance') || text.includes('TaskStatusUpdated'), minGapMs: 1000 },
  );
  const a = agent.data;
  const host: HostView | undefined = a === undefined ? undefined : hosts.data?.find((h) => h.hostname === a.hostname);
  const setMode = async (mode: 'drain' | 'activate'): Promise<void> => {
    if (a === undefined) return;
    if (mode === 'drain' && !(await confirmAction(`Drain ${a.hostname}?`, 'Nothing new will be placed there, and its service instances move to other hosts in batches.', 'Drain'))) return;
    await act(`${mode} ${a.hostname}`, () => (mode === 'drain' ? api().drainHosts([a.hostname]) : api().activateHosts([a.hostname])), hosts.reload);
  };
  const usage = (tasks.data?.tasks ?? []).reduce((s, t) => ({ mem: s.mem + (t.usage?.memBytes ?? 0), disk: s.disk + (t.usage?.diskBytes ?? 0) }), { mem: 0, disk: 0 });
  return (
    <div>
      <h1>
        Agent {a?.hostname ?? agentId} {a === undefined ? null : <Chip state={a.state} />}
      </h1>
      <ErrorBox error={agent.error} />
      {a === undefined ? null : (
        <div class="grid">
          <Section title="Resources" id="a-res">
            <Bar label="cpus" used={a.used.cpus} total={a.total.cpus} text={`${formatCpus(a.used.cpus)} / ${formatCpus(a.total.cpus)} cpus`} />
            <Bar label="mem" used={a.used.mem} total={a.total.mem} text={`${formatMiB(a.used.mem)} / ${formatMiB(a.total.mem)} mem`} />
            <Bar label="disk" used={a.used.disk} total={a.total.disk} text={`${formatMiB(a.used.disk)} / ${formatMiB(a.total.disk)} disk`} />
            <p class="muted">
              measured use of its tasks: {formatBytes(usage.mem)} mem, {formatBytes(usage.disk)} disk · ports {a.total.ports || 'none'}
            </p>
          </Section>
          <Section title="Agent" id="a-info">
            <dl>
              <dt>id</dt>
              <dd>
                <code>{a.agentId}</code>
              </dd>
              <dt>address</dt>
              <dd>
                {a.address}:{a.port}
              </dd>
              <dt>registered</dt>
              <dd>{ago(Date.now(), a.registeredAt)}</dd>
              <dt>last seen</dt>
              <dd>{ago(Date.now(), a.lastSeenAt)}</dd>
              <dt>isolation</dt>
              <dd>{a.isolation ?? '—'}</dd>
              <dt>attributes</dt>
              <dd class="attrs">
                {Object.entries(a.attributes).map(([k, v]) => (
                  <code key={k}>
                    {k}:{v}
                  </code>
                ))}
              </dd>
            </dl>
          </Section>
          <Section title="Maintenance" id="a-maint">
            <p>
              host {a.hostname}: <Chip state={host?.mode ?? 'ACTIVE'} />
            </p>
            <div class="row">
              <button type="button" class="danger" disabled={host !== undefined && host.mode !== 'ACTIVE'} onClick={() => void setMode('drain')}>
                Drain host
              </button>
              <button type="button" disabled={host === undefined || host.mode === 'ACTIVE'} onClick={() => void setMode('activate')}>
                Activate host
              </button>
            </div>
          </Section>
        </div>
      )}
      <Section title={`Tasks (${tasks.data?.total ?? tasks.data?.tasks.length ?? 0})`} id="a-tasks">
        <table class="list" aria-label="tasks on this agent">
          <thead>
            <tr>
              <th>task</th>
              <th>job</th>
              <th>state</th>
              <th>cpus</th>
              <th>mem</th>
              <th>started</th>
            </tr>
          </thead>
          <tbody>
            {(tasks.data?.tasks ?? []).map((t) => (
              <tr key={t.taskId}>
                <td>
                  <a href={`/tasks/${encodeURIComponent(t.taskId)}`}>{t.taskId}</a>
                </td>
                <td>
                  <a href={`/jobs/${t.job}`}>
                    {t.job}/{t.instance}
                  </a>
                </td>
                <td>
                  <Chip state={t.state} healthy={t.healthy} />
                </td>
                <td>{formatCpus(t.resources.cpus)}</td>
                <td>{formatMiB(t.resources.mem)}</td>
                <td>{ago(Date.now(), t.startedAt ?? t.launchedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
    </div>
  );
}
