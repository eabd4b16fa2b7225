// A job's page: its config version and settings, the instance grid coloured by state and health,
// why each pending instance waits (nearest fit, changes that would make it fit), the update in
// progress with its controls, scale / restart / kill, config history with a diff, cron runs, and
// its DNS names and endpoints. Every action goes through the API as the person logged in.

import type { JSX } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { ACTIVE_UPDATE_STATUSES } from '../protocol/index.js';
import type { InstanceView, JobView, UpdateView } from '../protocol/index.js';
import { Bar, Chip, ErrorBox, Section, act, asError, confirmAction, useData } from './components.js';
import { ago, diffConfigs, dnsNames, duration, formatCpus, formatMiB, shortState, toneOf } from './format.js';
import { useLive } from './browser/live.js';
import { api } from './browser/session.js';

type Verb = 'pause' | 'resume' | 'abort' | 'rollback' | 'promote';

/** VERBS_BY_STATUS: which update controls apply in which status (the master refuses the others anyway). */
const VERBS_BY_STATUS: Record<string, Verb[]> = {
  ROLLING_FORWARD: ['pause', 'abort', 'rollback'],
  ROLLING_BACK: ['pause', 'abort'],
  ROLL_FORWARD_PAUSED: ['resume', 'abort', 'rollback'],
  ROLL_BACK_PAUSED: ['resume', 'abort'],
  AWAITING_PROMOTION: ['promote', 'abort', 'rollback'],
};

export function JobPage({ jobKey }: { jobKey: string }): JSX.Element {
  const job = useData(() => api().getJob(jobKey), [jobKey]);
  // Asked only of a job that has had an update (no 404 to show for the others); once seen, kept,
  // so that an update aborted or rolled back stays on the page with its outcome.
  const sawUpdate = useRef(false);
  if (job.data !== undefined && ((job.data.version ?? 1) > 1 || job.data.update !== undefined)) sawUpdate.current = true;
  const hadUpdate = sawUpdate.current;
  const update = useData(async () => {
    if (!hadUpdate) return undefined;
    try {
      return await api().getUpdate(jobKey);
    } catch (e) {
      // A job that has had no update: nothing to show.
      if (asError(e).code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }, [jobKey, hadUpdate]);
  const ids = useRef<string[]>([]);
  const updateId = useRef<string | undefined>(undefined);
  updateId.current = update.data?.id ?? job.data?.update?.id;
  ids.current = (job.data?.instances ?? []).flatMap((i) => (i.task === undefined ? [] : [i.task.taskId]));
  useLive(
    () => {
      job.reload();
      update.reload();
    },
    { matches: (_e, text) => text.includes(`"${jobKey}`) || (updateId.current !== undefined && text.includes(updateId.current)) || ids.current.some((id) => text.includes(id)), minGapMs: 400 },
  );
  const j = job.data;
  return (
    <div>
      <h1>
        {jobKey} {j === undefined ? null : <Chip state={j.state} />}
      </h1>
      <ErrorBox error={job.error} />
      {j === undefined ? null : (
        <>
          <Summary job={j} />
          <Actions job={j} reload={job.reload} />
          {/* A cron job is a template: its runs are jobs of their own, listed under Schedule and runs. */}
          {j.kind === 'cron' && j.instances.length === 0 ? null : (
            <>
              <Instances job={j} />
              <Pending job={j} />
            </>
          )}
          <Update update={update.data} jobKey={jobKey} reload={update.reload} />
          {j.kind === 'cron' ? null : <Names job={j} />}
          {j.spec.kind === 'cron' || (j.spec as { after?: unknown }).after !== undefined || j.nextRunAt !== undefined ? <Runs jobKey={jobKey} /> : null}
          <History jobKey={jobKey} version={j.version ?? 1} />
        </>
      )}
    </div>
  );
}

function Summary({ job }: { job: JobView }): JSX.Element {
  const r = job.spec.resources;
  return (
    <Section title="Config" id="j-config">
      <p>
        {job.kind} · version <strong data-testid="version">{job.version ?? 1}</strong> · {job.instanceCount} instances · tier {job.tier}, priority {job.priority} · {formatCpus(r.cpus)} cpus,{' '}
        {formatMiB(r.mem)} mem{r.disk === undefined ? '' : `, ${formatMiB(r.disk)} disk`} per instance · created {ago(Date.now(), job.createdAt)}
      </p>
      {job.endReason === undefined ? null : <p class="muted">{job.endReason}</p>}
      <details>
        <summary>whole config</summary>
        <pre class="code">{JSON.stringify(job.spec, null, 2)}</pre>
      </details>
    </Section>
  );
}

function Actions({ job, reload }: { job: JobView; reload: () => void }): JSX.Element {
  const [count, setCount] = useState(String(job.instanceCount));
  const live = job.state === 'ACTIVE';
  const scale = async (e: Event): Promise<void> => {
    e.preventDefault();
    const n = Number(count);
    if (!Number.isInteger(n) || n < 0) {
      await act('scale', () => Promise.reject(new Error('give a whole number of instances')));
      return;
    }
    if (n < job.instanceCount && !(await confirmAction(`Scale ${job.job} down to ${n}?`, `Instances ${n} to ${job.instanceCount - 1} will be killed.`, 'Scale down'))) return;
    await act(`scale to ${n}`, () => api().scaleJob(job.job, n, 'scaled from the web UI'), reload);
  };
  const restart = async (): Promise<void> => {
    if (!(await confirmAction(`Restart ${job.job}?`, 'Every instance is killed and started again, in the batches of its update settings.', 'Restart'))) return;
    await act('restart', () => api().restartJob(job.job), reload);
  };
  const kill = async (): Promise<void> => {
    if (!(await confirmAction(`Kill ${job.job}?`, 'Every instance is killed and the job ends. This cannot be undone.', 'Kill job'))) return;
    await act('kill', () => api().killJob(job.job), reload);
  };
  return (
    <Section title="Actions" id="j-actions">
      <div class="row">
        {job.kind === 'service' ? (
          <form class="row" onSubmit={(e) => void scale(e)}>
            <label>
              Instances <input type="number" min={0} value={count} onInput={(e) => setCount(e.currentTarget.value)} name="instances" aria-label="instances" disabled={!live} />
            </label>
            <button type="submit" disabled={!live}>
              Scale
            </button>
          </form>
        ) : null}
        {job.kind === 'cron' ? null : (
          <button type="button" onClick={() => void restart()} disabled={!live}>
            Restart
          </button>
        )}
        <button type="button" class="danger" onClick={() => void kill()} disabled={!live}>
          Kill
        </button>
      </div>
    </Section>
  );
}

function instanceState(i: InstanceView): string {
  return i.state === 'ACTIVE' ? (i.task?.state ?? 'ACTIVE') : i.state;
}

function Instances({ job }: { job: JobView }): JSX.Element {
  return (
    <Section title="Instances" id="j-instances">
      <ul class="instance-grid" aria-label="instances">
        {job.instances.map((i) => {
          const state = instanceState(i);
          const healthy = i.task?.healthy;
          const label = `instance ${i.instance}: ${shortState(state)}${healthy === false ? ', unhealthy' : healthy === true ? ', healthy' : ''}${i.task?.hostname === undefined ? '' : ` on ${i.task.hostname}`}`;
          const href = i.state === 'PENDING' || i.task === undefined ? `#pending-${i.instance}` : `/tasks/${encodeURIComponent(i.task.taskId)}`;
          return (
            <li key={i.instance}>
              <a href={href} class={`cell-box tone-${toneOf(state, healthy)}`} title={label} aria-label={label} data-instance={i.instance} data-state={state}>
                {i.instance}
              </a>
            </li>
          );
        })}
      </ul>
      <p class="legend muted">
        <span class="tone-good">■</span> running (healthy) <span class="tone-busy">■</span> starting <span class="tone-wait">■</span> pending / killing <span class="tone-bad">■</span> failed or
        unhealthy
      </p>
    </Section>
  );
}

function Pending({ job }: { job: JobView }): JSX.Element | null {
  const pending = job.instances.filter((i) => i.state === 'PENDING');
  if (pending.length === 0) return null;
  // Instances waiting for the same reason are shown once, with their numbers.
  const groups = new Map<string, InstanceView[]>();
  for (const i of pending) {
    const k = JSON.stringify([i.pendingReason, i.why]);
    groups.set(k, [...(groups.get(k) ?? []), i]);
  }
  return (
    <Section title={`Pending (${pending.length})`} id="j-pending">
      {[...groups.values()].map((insts) => {
        const first = insts[0] as InstanceView;
        const why = first.why;
        return (
          <div class="pending" key={first.instance} id={`pending-${first.instance}`} data-testid="pending">
            <p>
              <strong>instance{insts.length === 1 ? '' : 's'} {insts.map((i) => i.instance).join(', ')}</strong>: {first.pendingReason ?? 'waiting for the next scheduling pass'}
            </p>
            {why === undefined ? null : (
              <>
                {why.summary === first.pendingReason ? null : <p>{why.summary}</p>}
                {why.filters.length === 0 ? null : (
                  <table class="list compact" aria-label="agents turned away, by filter">
                    <thead>
                      <tr>
                        <th>filter</th>
                        <th>agents</th>
                        <th>detail</th>
                      </tr>
                    </thead>
                    <tbody>
                      {why.filters.map((f) => (
                        <tr key={f.filter + f.detail}>
                          <td>{f.filter}</td>
                          <td>{f.agents}</td>
                          <td>{f.detail}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
                {why.nearest === undefined ? null : (
                  <p data-testid="nearest">
                    nearest fit: <a href={`/agents/${encodeURIComponent(why.nearest.agentId)}`}>{why.nearest.hostname}</a>, which lacks {why.nearest.lacks}
                  </p>
                )}
                {why.changes.length === 0 ? null : (
                  <div data-testid="changes">
                    would fit with:
                    <ul>
                      {why.changes.map((c) => (
                        <li key={c}>{c}</li>
                      ))}
                    </ul>
                  </div>
                )}
              </>
            )}
          </div>
        );
      })}
    </Section>
  );
}

function Update({ update, jobKey, reload }: { update: UpdateView | undefined; jobKey: string; reload: () => void }): JSX.Element | null {
  if (update === undefined) return null;
  const active = ACTIVE_UPDATE_STATUSES.includes(update.status);
  const verbs = VERBS_BY_STATUS[update.status] ?? [];
  const steer = async (verb: Verb): Promise<void> => {
    if ((verb === 'abort' || verb === 'rollback') && !(await confirmAction(`${verb === 'abort' ? 'Abort' : 'Roll back'} the update of ${jobKey}?`, verb === 'abort' ? 'The update stops where it is; instances already updated keep the new config.' : 'Updated instances go back to the old config.', verb === 'abort' ? 'Abort' : 'Roll back'))) return;
    await act(`${verb} the update`, () => api().steerUpdate(jobKey, verb, `${verb} from the web UI`), reload);
  };
  return (
    <Section title={active ? 'Update in progress' : 'Latest update'} id="j-update">
      <p>
        <Chip state={update.status} /> <span data-testid="update-status">{update.status}</span> · {update.kind} v{update.fromVersion} → v{update.toVersion} · batch {update.batch + 1} of{' '}
        {update.batches} · {update.failed} failed{update.by === undefined ? '' : ` · by ${update.by}`} · {ago(Date.now(), update.lastModifiedAt)}
      </p>
      <Bar label="update progress" used={update.done} total={update.total} text={`${update.done} / ${update.total} instances`} />
      {active ? (
        <div class="row" role="group" aria-label="update controls">
          {(['pause', 'resume', 'abort', 'rollback', 'promote'] as const).map((v) => (
            <button key={v} type="button" class={v === 'abort' || v === 'rollback' ? 'danger' : ''} disabled={!verbs.includes(v)} onClick={() => void steer(v)}>
              {v[0]?.toUpperCase()}
              {v.slice(1)}
            </button>
          ))}
        </div>
      ) : null}
      {update.events.length === 0 ? null : (
        <details>
          <summary>{update.events.length} status changes</summary>
          <ol class="plain">
            {update.events.map((e, n) => (
              <li key={n}>
                {new Date(e.at).toLocaleTimeString()} {e.status}
                {e.by === undefined ? '' : ` by ${e.by}`}
                {e.message === undefined ? '' : `: ${e.message}`}
              </li>
            ))}
          </ol>
        </details>
      )}
    </Section>
  );
}

function Names({ job }: { job: JobView }): JSX.Element {
  const cell = useData(() => api().cellSummary(), []);
  const endpoints = useData(() => api().endpoints(job.job), [job.job, job.instances.map((i) => i.task?.state ?? i.state).join()]);
  const domain = cell.data?.dns?.domain;
  const ports = job.spec.resources.ports;
  return (
    <Section title="DNS and endpoints" id="j-names">
      {domain === undefined ? <p class="muted">This master runs no DNS server.</p> : (
        <ul class="plain">
          {dnsNames(job.job, domain, ports).map((n) => (
            <li key={n}>
              <code>{n}</code>
            </li>
          ))}
        </ul>
      )}
      <table class="list compact" aria-label="endpoints">
        <thead>
          <tr>
            <th>instance</th>
            <th>host</th>
            <th>ports</th>
            <th>ready</th>
          </tr>
        </thead>
        <tbody>
          {(endpoints.data?.instances ?? []).map((e) => (
            <tr key={e.instance}>
              <td>{e.instance}</td>
              <td>
                {e.host} ({e.address})
              </td>
              <td>
                {Object.entries(e.ports)
                  .map(([n, p]) => `${n}=${p}`)
                  .join(' ')}
              </td>
              <td>{e.ready ? 'ready' : (e.why ?? 'not ready')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

/** inZone writes a time as the job's zone reads it (a cron job's times are in its zone, not the browser's). */
function inZone(at: number, zone: string): string {
  try {
    return new Date(at).toLocaleString('en-CA', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  } catch {
    return new Date(at).toISOString();
  }
}

function Runs({ jobKey }: { jobKey: string }): JSX.Element {
  const runs = useData(() => api().jobRuns(jobKey), [jobKey]);
  useLive(runs.reload, { matches: (_e, text) => text.includes(jobKey), minGapMs: 1000 });
  const r = runs.data;
  const zone = r?.schedule?.timezone ?? 'UTC';
  return (
    <Section title="Schedule and runs" id="j-runs">
      <ErrorBox error={runs.error} />
      {r === undefined ? null : (
        <>
          {r.schedule === undefined ? null : (
            <p>
              <code>{r.schedule.expression}</code> ({r.schedule.description}, {r.schedule.timezone}) · concurrency {r.schedule.concurrency}
              {r.suspended ? ' · suspended' : ''}
            </p>
          )}
          {r.after.length === 0 ? null : <p>runs after {r.after.join(', ')}</p>}
          <div class="row">
            <button type="button" onClick={() => void act('start a run', () => api().startRun(jobKey), runs.reload)}>
              Start a run now
            </button>
            <button type="button" onClick={() => void act(r.suspended ? 'resume runs' : 'suspend runs', () => api().suspendRuns(jobKey, !r.suspended), runs.reload)}>
              {r.suspended ? 'Resume runs' : 'Suspend runs'}
            </button>
          </div>
          <p>
            next ({zone}): {r.next.length === 0 ? '—' : r.next.map((t) => inZone(t, zone)).join(', ')}
          </p>
          <table class="list compact" aria-label="runs">
            <thead>
              <tr>
                <th>run</th>
                <th>trigger</th>
                <th>scheduled ({zone})</th>
                <th>started</th>
                <th>took</th>
                <th>outcome</th>
                <th>note</th>
              </tr>
            </thead>
            <tbody>
              {[...r.current, ...r.runs.filter((x) => !r.current.some((c) => c.number === x.number))].map((x) => (
                <tr key={x.number}>
                  <td>
                    <a href={`/jobs/${x.key}`}>#{x.number}</a>
                  </td>
                  <td>{x.trigger === 'parents' ? `after ${(x.parents ?? []).map((p) => `${p.job}#${p.run ?? ''}`).join(', ')}` : x.trigger}</td>
                  <td>{x.scheduledAt === undefined ? '—' : inZone(x.scheduledAt, zone)}</td>
                  <td>{ago(Date.now(), x.startedAt)}</td>
                  <td>{duration((x.endedAt ?? Date.now()) - x.startedAt)}</td>
                  <td>{x.outcome === undefined ? <Chip state="ROLLING_FORWARD" label="running" /> : <Chip state={x.outcome} />}</td>
                  <td>{x.reason ?? x.tasks?.find((t) => t.message !== undefined)?.message ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {r.skips.length === 0 ? null : (
            <>
              <h3>Skipped</h3>
              <ul aria-label="skipped times">
                {r.skips.slice(0, 10).map((k, i) => (
                  <li key={i}>
                    {ago(Date.now(), k.at)}
                    {k.times === undefined ? '' : ` · ${k.times.count === 1 ? inZone(k.times.first, zone) : `${k.times.count} times, ${inZone(k.times.first, zone)} to ${inZone(k.times.last, zone)}`}`}: {k.reason}
                  </li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
    </Section>
  );
}

function History({ jobKey, version }: { jobKey: string; version: number }): JSX.Element {
  const history = useData(() => api().jobHistory(jobKey, { specs: true }), [jobKey, version]);
  const [compare, setCompare] = useState<number | undefined>(undefined);
  const h = history.data;
  const current = h?.versions.find((v) => v.version === h.version);
  const other = h?.versions.find((v) => v.version === compare);
  const diff = other === undefined || current === undefined ? [] : diffConfigs(other.spec, current.spec);
  return (
    <Section title="Config history" id="j-history">
      <table class="list compact" aria-label="config versions">
        <thead>
          <tr>
            <th>version</th>
            <th>cause</th>
            <th>when</th>
            <th>by</th>
            <th>message</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(h?.versions ?? []).map((v) => (
            <tr key={v.version}>
              <td>v{v.version}</td>
              <td>{v.cause}</td>
              <td>{ago(Date.now(), v.at)}</td>
              <td>{v.by ?? ''}</td>
              <td>{v.message ?? ''}</td>
              <td>
                {v.version === h?.version ? (
                  'current'
                ) : (
                  <button type="button" onClick={() => setCompare(v.version)} aria-pressed={compare === v.version}>
                    diff with current
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {other === undefined ? null : (
        <div data-testid="diff">
          <h3>
            v{other.version} → v{h?.version}
          </h3>
          {diff.length === 0 ? <p class="muted">No field differs.</p> : null}
          <table class="list compact diff">
            <tbody>
              {diff.map((d) => (
                <tr key={d.field}>
                  <td>
                    <code>{d.field}</code>
                  </td>
                  <td class="del">{JSON.stringify(d.from) ?? '—'}</td>
                  <td class="ins">{JSON.stringify(d.to) ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
