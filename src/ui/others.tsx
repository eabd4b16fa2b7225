// The smaller pages: frameworks, roles (quota used of total and DRF shares), hosts in maintenance,
// the audit log, and the login with a token.

import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { QuotaView } from '../protocol/index.js';
import { Bar, Chip, ErrorBox, act, asError, confirmAction, useData } from './components.js';
import { ago, dominantShare, formatCpus, formatMiB, percent } from './format.js';
import { useLive } from './browser/live.js';
import { navigate, useLocation } from './browser/router.js';
import { api, setToken } from './browser/session.js';

export function FrameworksPage(): JSX.Element {
  const list = useData(() => api().listFrameworks(), []);
  useLive(list.reload, { matches: (e) => e.type.startsWith('Framework'), minGapMs: 1000 });
  const teardown = async (id: string, name: string): Promise<void> => {
    if (!(await confirmAction(`Tear down ${name}?`, 'Its offers go back and every task it runs is killed.', 'Tear down'))) return;
    await act(`tear down ${name}`, () => api().teardownFramework(id), list.reload);
  };
  return (
    <div>
      <h1>Frameworks</h1>
      <ErrorBox error={list.error} />
      <table class="list" aria-label="frameworks">
        <thead>
          <tr>
            <th>name</th>
            <th>id</th>
            <th>state</th>
            <th>roles</th>
            <th>tasks</th>
            <th>holds</th>
            <th>offers</th>
            <th>registered</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(list.data ?? []).map((f) => (
            <tr key={f.frameworkId}>
              <td>{f.webuiUrl === undefined ? f.name : <a href={f.webuiUrl}>{f.name}</a>}</td>
              <td>
                <code>{f.frameworkId}</code>
              </td>
              <td>
                <Chip state={f.connected ? 'CONNECTED' : 'DISCONNECTED'} label={f.builtIn ? 'built-in' : f.connected ? 'connected' : 'disconnected'} />
              </td>
              <td>{f.roles.join(', ')}</td>
              <td>{f.tasks}</td>
              <td>
                {formatCpus(f.used.cpus)} cpus, {formatMiB(f.used.mem)}
              </td>
              <td>
                {f.offers === undefined || f.offers.length === 0 ? (
                  (f.offerCount ?? 0)
                ) : (
                  <details>
                    <summary>{f.offerCount ?? f.offers.length}</summary>
                    <ul class="plain">
                      {f.offers.map((o) => (
                        <li key={o.offerId}>
                          <a href={`/agents/${encodeURIComponent(o.agentId)}`}>{o.hostname}</a>: {formatCpus(o.resources.cpus)} cpus, {formatMiB(o.resources.mem)}
                          {o.expiresAt === undefined ? '' : `, expires ${ago(Date.now(), o.expiresAt)}`}
                        </li>
                      ))}
                    </ul>
                  </details>
                )}
              </td>
              <td>{ago(Date.now(), f.registeredAt)}</td>
              <td>
                {f.builtIn ? null : (
                  <button type="button" class="danger" onClick={() => void teardown(f.frameworkId, f.name)}>
                    Tear down
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted">Offers: an agent's free resources offered to a framework, until it accepts or declines them (or they time out).</p>
    </div>
  );
}

export function RolesPage(): JSX.Element {
  const cell = useData(() => api().cellSummary(), []);
  const roles = useData(async () => {
    const facets = (await api().jobsPage({ limit: 1, facets: true })).facets?.roles ?? [];
    const quotas = await api().listQuotas();
    const byRole = new Map<string, QuotaView>(quotas.map((q) => [q.role, q]));
    // Roles with jobs but no quota: their use, read one by one (a page of them at most).
    const missing = facets.map((r) => r.role).filter((r) => !byRole.has(r)).slice(0, 100);
    for (const q of await Promise.all(missing.map((r) => api().getQuota(r)))) byRole.set(q.role, q);
    return [...byRole.values()].sort((a, b) => (a.role < b.role ? -1 : 1));
  }, []);
  useLive(() => {
    roles.reload();
    cell.reload();
  }, { matches: (e) => e.type === 'QuotaSet' || e.type === 'TasksLaunched' || e.type === 'JobCreated', minGapMs: 2000 });
  const total = cell.data?.total;
  return (
    <div>
      <h1>Roles</h1>
      <ErrorBox error={roles.error ?? cell.error} />
      <table class="list" aria-label="roles">
        <thead>
          <tr>
            <th>role</th>
            <th>cpus</th>
            <th>mem</th>
            <th>disk</th>
            <th>DRF share</th>
          </tr>
        </thead>
        <tbody>
          {(roles.data ?? []).map((q) => (
            <tr key={q.role}>
              <td>
                <a href={`/jobs/${encodeURIComponent(q.role)}`}>{q.role}</a>
              </td>
              <td>
                <QuotaBar used={q.used.cpus} limit={q.quota?.cpus} text={formatCpus} label="cpus" />
              </td>
              <td>
                <QuotaBar used={q.used.mem} limit={q.quota?.mem} text={formatMiB} label="mem" />
              </td>
              <td>
                <QuotaBar used={q.used.disk} limit={q.quota?.disk} text={formatMiB} label="disk" />
              </td>
              <td>{total === undefined ? '' : `${percent(dominantShare(q.used, total), 1)}%`}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted">The DRF share is the largest part of the cell's cpus, mem or disk the role holds; roles with the smallest share are offered first.</p>
    </div>
  );
}

function QuotaBar({ used, limit, text, label }: { used: number; limit: number | undefined; text: (n: number) => string; label: string }): JSX.Element {
  if (limit === undefined) return <span>{text(used)} (no quota)</span>;
  return <Bar label={`${label} quota`} used={used} total={limit} text={`${text(used)} / ${text(limit)}`} />;
}

export function HostsPage(): JSX.Element {
  const hosts = useData(() => api().listHosts(), []);
  const [all, setAll] = useState(false);
  useLive(hosts.reload, { matches: (e) => e.type === 'HostMaintenance' || e.type.startsWith('Agent') || e.type === 'TaskStatusUpdated', minGapMs: 1000 });
  const shown = (hosts.data ?? []).filter((h) => all || h.mode !== 'ACTIVE');
  const activate = async (hostname: string): Promise<void> => {
    await act(`activate ${hostname}`, () => api().activateHosts([hostname]), hosts.reload);
  };
  const drain = async (hostname: string): Promise<void> => {
    if (!(await confirmAction(`Drain ${hostname}?`, 'Nothing new will be placed there, and its service instances move to other hosts in batches.', 'Drain'))) return;
    await act(`drain ${hostname}`, () => api().drainHosts([hostname]), hosts.reload);
  };
  return (
    <div>
      <h1>Hosts in maintenance</h1>
      <label>
        <input type="checkbox" checked={all} onChange={(e) => setAll(e.currentTarget.checked)} /> show every host
      </label>
      <ErrorBox error={hosts.error} />
      {shown.length === 0 ? <p class="muted">No host is in maintenance.</p> : null}
      <table class="list" aria-label="hosts">
        <thead>
          <tr>
            <th>host</th>
            <th>mode</th>
            <th>since</th>
            <th>tasks</th>
            <th>services</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {shown.map((h) => (
            <tr key={h.hostname}>
              <td>{h.hostname}</td>
              <td>
                <Chip state={h.mode} />
              </td>
              <td>{ago(Date.now(), h.since)}</td>
              <td>{h.tasks}</td>
              <td>{h.services}</td>
              <td>
                {h.mode === 'ACTIVE' ? (
                  <button type="button" class="danger" onClick={() => void drain(h.hostname)}>
                    Drain
                  </button>
                ) : (
                  <button type="button" onClick={() => void activate(h.hostname)}>
                    Activate
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function AuditPage(): JSX.Element {
  const { query } = useLocation();
  const principal = query.get('principal') ?? undefined;
  const audit = useData(() => api().audit({ limit: 500, ...(principal === undefined ? {} : { principal }) }), [principal]);
  useLive(audit.reload, { minGapMs: 2000 });
  return (
    <div>
      <h1>Audit log</h1>
      <ErrorBox error={audit.error} />
      <table class="list" aria-label="audit log">
        <thead>
          <tr>
            <th>when</th>
            <th>who</th>
            <th>what</th>
            <th>subject</th>
          </tr>
        </thead>
        <tbody>
          {[...(audit.data ?? [])].reverse().map((e, n) => (
            <tr key={n}>
              <td>{new Date(e.at).toLocaleString()}</td>
              <td>
                <a href={`/audit?principal=${encodeURIComponent(e.by)}`}>{e.by}</a>
              </td>
              <td>{e.action}</td>
              <td>{e.subject ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function LoginPage(): JSX.Element {
  const { query } = useLocation();
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setToken(value.trim());
    try {
      await api().whoAmI();
      const next = query.get('next') ?? '/';
      navigate(next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
    } catch (err) {
      setToken(undefined);
      setError(asError(err).message);
    }
  };
  return (
    <div class="login">
      <h1>Log in</h1>
      <p>This cell asks for a token: paste one made with <code>muster acl token create</code>. It is kept in this tab only.</p>
      <form onSubmit={(e) => void submit(e)}>
        <label>
          Token <input type="password" name="token" autocomplete="off" value={value} onInput={(e) => setValue(e.currentTarget.value)} required autofocus />
        </label>
        <button type="submit">Log in</button>
      </form>
      {error === undefined ? null : (
        <div class="error" role="alert">
          {error}
        </div>
      )}
    </div>
  );
}
