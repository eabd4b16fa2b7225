// The jobs: role → env → job, filtered and paged on the master (a cell of 10,000 jobs sends 50 at a
// time), with each job's instances counted by state.

import type { JSX } from 'preact';
import type { JobSummary } from '../protocol/index.js';
import { Chip, ErrorBox, Loading, Pager, useData } from './components.js';
import { ago } from './format.js';
import { useLive } from './browser/live.js';
import { setQuery, useLocation } from './browser/router.js';
import { api } from './browser/session.js';

const LIMIT = 50;

export function JobsPage({ role, env }: { role?: string | undefined; env?: string | undefined }): JSX.Element {
  const { query } = useLocation();
  const q = query.get('q') ?? '';
  const state = query.get('state') ?? '';
  const pending = query.get('pending') === 'true';
  const offset = Number(query.get('offset') ?? 0) || 0;
  const list = useData(
    () => api().jobsPage({ ...(role === undefined ? {} : { role }), ...(env === undefined ? {} : { env }), q, state, pending, offset, limit: LIMIT, facets: true }),
    [role, env, q, state, pending, offset],
  );
  useLive(list.reload, { minGapMs: 1500 });
  const jobs = list.data?.jobs ?? [];
  return (
    <div class="with-side">
      <nav class="side" aria-label="roles and envs">
        <a href="/jobs" aria-current={role === undefined ? 'page' : undefined}>
          all roles
        </a>
        <ul class="tree">
          {(list.data?.facets?.roles ?? []).map((r) => (
            <li key={r.role}>
              <a href={`/jobs/${encodeURIComponent(r.role)}`} aria-current={r.role === role && env === undefined ? 'page' : undefined}>
                {r.role} <span class="muted">{r.jobs}</span>
              </a>
              {r.role === role ? (
                <ul>
                  {r.envs.map((e) => (
                    <li key={e.env}>
                      <a href={`/jobs/${encodeURIComponent(r.role)}/${encodeURIComponent(e.env)}`} aria-current={e.env === env ? 'page' : undefined}>
                        {e.env} <span class="muted">{e.jobs}</span>
                      </a>
                    </li>
                  ))}
                </ul>
              ) : null}
            </li>
          ))}
        </ul>
      </nav>
      <div class="main-col">
        <h1>
          Jobs{role === undefined ? '' : ` of ${role}`}
          {env === undefined ? '' : `/${env}`}
        </h1>
        <div class="filters">
          <label>
            Filter <input type="search" value={q} placeholder="part of role/env/name" onInput={(e) => setQuery({ q: e.currentTarget.value, offset: undefined }, { replace: true })} />
          </label>
          <label>
            State{' '}
            <select value={state} onChange={(e) => setQuery({ state: e.currentTarget.value, offset: undefined })}>
              <option value="">live</option>
              <option>ACTIVE</option>
              <option>KILLING</option>
              <option>FINISHED</option>
              <option>FAILED</option>
              <option>KILLED</option>
            </select>
          </label>
          <label>
            <input type="checkbox" checked={pending} onChange={(e) => setQuery({ pending: e.currentTarget.checked ? 'true' : undefined, offset: undefined })} /> with pending instances
          </label>
          <Loading loading={list.loading} />
        </div>
        <ErrorBox error={list.error} />
        <table class="list" aria-label="jobs">
          <thead>
            <tr>
              <th>job</th>
              <th>kind</th>
              <th>state</th>
              <th>instances</th>
              <th>by state</th>
              <th>update</th>
              <th>created</th>
            </tr>
          </thead>
          <tbody>{rowsWithGroups(jobs)}</tbody>
        </table>
        {list.data === undefined ? null : <Pager total={list.data.total ?? jobs.length} offset={offset} limit={LIMIT} />}
      </div>
    </div>
  );
}

/** rowsWithGroups puts a heading row before each role/env of the page (the list is sorted by key). */
function rowsWithGroups(jobs: JobSummary[]): JSX.Element[] {
  const rows: JSX.Element[] = [];
  let group = '';
  const now = Date.now();
  for (const j of jobs) {
    const g = j.job.split('/').slice(0, 2).join('/');
    if (g !== group) {
      group = g;
      rows.push(
        <tr key={`g-${g}`} class="group">
          <th colSpan={7} scope="colgroup">
            <a href={`/jobs/${g}`}>{g}</a>
          </th>
        </tr>,
      );
    }
    rows.push(
      <tr key={j.job} data-job={j.job}>
        <td>
          <a href={`/jobs/${j.job}`}>{j.job.split('/')[2]}</a>
        </td>
        <td>{j.kind}</td>
        <td>
          <Chip state={j.state} />
        </td>
        <td>{j.instanceCount}</td>
        <td class="counts">
          {Object.entries(j.taskStates).map(([s, n]) => (
            <span key={s}>
              <Chip state={s} /> {n}
            </span>
          ))}
        </td>
        <td>{j.update === undefined ? '' : <Chip state={j.update.status} />}</td>
        <td>{j.nextRunAt === undefined ? ago(now, j.createdAt) : `next run ${ago(now, j.nextRunAt)}`}</td>
      </tr>,
    );
  }
  return rows;
}
