// A task's page: its state and how it got there, health, usage sparklines, the live tail of its
// stdout and stderr (follow, download) and a browser of its sandbox.

import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { TaskView } from '../protocol/index.js';
import { Chip, ErrorBox, Section, Sparkline, act, asError, useData } from './components.js';
import { ago, clock, duration, formatBytes, formatCpus, formatMiB, shortState } from './format.js';
import { useLive } from './browser/live.js';
import { api } from './browser/session.js';

/** How much of a log the tail shows at first, and keeps. */
const TAIL_BYTES = 64 * 1024;
const FOLLOW_MS = 1000;
const USAGE_MS = 2000;
const USAGE_POINTS = 60;

interface Sample {
  at: number;
  cpu: number;
  mem: number;
}

export function TaskPage({ taskId }: { taskId: string }): JSX.Element {
  const task = useData(() => api().getTask(taskId), [taskId]);
  const history = useData(() => api().taskHistory(taskId), [taskId]);
  useLive(
    () => {
      task.reload();
      history.reload();
    },
    { matches: (_e, text) => text.includes(taskId), minGapMs: 300 },
  );
  const t = task.data;
  const runs = useData(() => (t === undefined || t.framework !== 'muster' ? Promise.resolve(undefined) : api().tasksPage({ job: t.job, all: true, limit: 1000 })), [t?.job]);
  const earlier = (runs.data?.tasks ?? []).filter((x) => t !== undefined && x.instance === t.instance && x.taskId !== t.taskId);
  return (
    <div>
      <h1>
        Task <code>{taskId}</code> {t === undefined ? null : <Chip state={t.state} healthy={t.healthy} />}
      </h1>
      <ErrorBox error={task.error} />
      {t === undefined ? null : (
        <>
          <div class="grid">
            <Section title="State" id="t-state">
              <p>
                <a href={`/jobs/${t.job}`}>
                  {t.job}/{t.instance}
                </a>{' '}
                on <a href={`/agents/${encodeURIComponent(t.agentId)}`}>{t.hostname}</a> ({t.address})
              </p>
              <p>
                health: <strong data-testid="health">{t.healthy === undefined ? 'not checked' : t.healthy ? 'healthy' : 'unhealthy'}</strong>
              </p>
              <ol class="timeline" data-testid="history" aria-label="state history">
                {history.data === undefined || history.data.complete ? null : (
                  <li class="muted">
                    <time>{clock(t.launchedAt)}</time> launched (this master knows its history from a later point)
                  </li>
                )}
                {(history.data?.entries ?? []).map((h) => (
                  <li key={h.index}>
                    <time title={new Date(h.at).toLocaleString()}>{clock(h.at)}</time> {h.state === 'LAUNCHED' ? 'launched' : shortState(h.state)}
                    {h.healthy === undefined ? '' : h.healthy ? ', healthy' : ', unhealthy'}
                    {h.reason === undefined ? '' : ` (${h.reason})`}
                    {h.message === undefined ? '' : `: ${h.message}`}
                    {h.guess === true ? ' (the master’s guess)' : ''}
                  </li>
                ))}
              </ol>
              {t.endedAt === undefined && t.message !== undefined ? <p class="muted">{t.message}</p> : null}
              <p class="muted">
                {formatCpus(t.resources.cpus)} cpus, {formatMiB(t.resources.mem)} mem · ports{' '}
                {Object.entries(t.ports)
                  .map(([n, p]) => `${n}=${p}`)
                  .join(' ') || 'none'}{' '}
                · {t.endedAt === undefined ? `up ${duration(Date.now() - (t.startedAt ?? t.launchedAt))}` : `ran ${duration(t.endedAt - (t.startedAt ?? t.launchedAt))}`}
              </p>
              {t.killRequested ? <p class="muted">a kill was asked for</p> : null}
            </Section>
            <Usage task={t} />
          </div>
          {earlier.length === 0 ? null : (
            <Section title="Earlier runs of this instance" id="t-runs">
              <ul class="plain">
                {earlier.map((x) => (
                  <li key={x.taskId}>
                    <a href={`/tasks/${encodeURIComponent(x.taskId)}`}>{x.taskId}</a> <Chip state={x.state} /> {ago(Date.now(), x.endedAt ?? x.launchedAt)}
                    {x.message === undefined ? '' : ` — ${x.message}`}
                  </li>
                ))}
              </ul>
            </Section>
          )}
          <Logs task={t} />
          <Files taskId={t.taskId} />
        </>
      )}
    </div>
  );
}

/** Usage samples the task's usage, as its agent reports it (not in the event log), while the page is open. */
function Usage({ task }: { task: TaskView }): JSX.Element {
  const [samples, setSamples] = useState<Sample[]>([]);
  useEffect(() => {
    let prev: { cpuSecs: number; timestamp: number } | undefined;
    let stop = false;
    const tick = async (): Promise<void> => {
      try {
        const u = (await api().getTask(task.taskId)).usage;
        if (u !== undefined && !stop && (prev === undefined || u.timestamp > prev.timestamp)) {
          const cpu = prev === undefined ? 0 : (u.cpuSecs - prev.cpuSecs) / ((u.timestamp - prev.timestamp) / 1000);
          prev = { cpuSecs: u.cpuSecs, timestamp: u.timestamp };
          setSamples((xs) => [...xs.slice(-(USAGE_POINTS - 1)), { at: u.timestamp, cpu: Math.max(0, cpu), mem: u.memBytes }]);
        }
      } catch {
        // shown by the page's own read
      }
    };
    void tick();
    const timer = setInterval(() => void tick(), USAGE_MS);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [task.taskId]);
  const last = samples[samples.length - 1];
  return (
    <Section title="Usage" id="t-usage">
      {last === undefined ? (
        <p class="muted">No usage reported{task.endedAt === undefined ? ' yet' : ''}.</p>
      ) : (
        <>
          <p>
            cpu {formatCpus(last.cpu)} of {formatCpus(task.resources.cpus)} <Sparkline values={samples.map((s) => s.cpu)} label="cpu use over time" />
          </p>
          <p>
            mem {formatBytes(last.mem)} of {formatMiB(task.resources.mem)} <Sparkline values={samples.map((s) => s.mem)} label="memory use over time" />
          </p>
        </>
      )}
    </Section>
  );
}

function Logs({ task }: { task: TaskView }): JSX.Element {
  const [file, setFile] = useState<'stdout' | 'stderr'>('stdout');
  const [follow, setFollow] = useState(true);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const pre = useRef<HTMLPreElement>(null);
  const followRef = useRef(follow);
  followRef.current = follow;
  useEffect(() => {
    let offset: number | undefined;
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setText('');
    setError(undefined);
    const read = async (): Promise<void> => {
      try {
        const chunk = await api().taskLogs(task.taskId, offset === undefined ? { file, length: TAIL_BYTES } : { file, offset, length: TAIL_BYTES });
        if (stop) return;
        offset = chunk.offset + new TextEncoder().encode(chunk.data).length;
        if (chunk.data !== '') setText((t) => (t + chunk.data).slice(-TAIL_BYTES));
        setError(undefined);
        if (chunk.eof && offset >= chunk.size) return;
      } catch (e) {
        if (stop) return;
        setError(asError(e).message);
      }
      if (!stop && followRef.current) timer = setTimeout(() => void read(), FOLLOW_MS);
    };
    void read();
    return () => {
      stop = true;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [task.taskId, file, follow]);
  useEffect(() => {
    const el = pre.current;
    if (el !== null && follow) el.scrollTop = el.scrollHeight;
  }, [text, follow]);
  return (
    <Section title="Logs" id="t-logs">
      <div class="row" role="toolbar" aria-label="log controls">
        <div role="tablist" class="row">
          {(['stdout', 'stderr'] as const).map((f) => (
            <button key={f} type="button" role="tab" aria-selected={file === f} onClick={() => setFile(f)}>
              {f}
            </button>
          ))}
        </div>
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} /> follow
        </label>
        <button type="button" onClick={() => void download(task.taskId, file)}>
          Download
        </button>
      </div>
      {error === undefined ? null : <div class="error">{error}</div>}
      <pre class="log" ref={pre} data-testid="log" tabIndex={0} aria-label={`${file} of the task`}>
        {text}
      </pre>
    </Section>
  );
}

/** download saves a sandbox file through the API (with the session's token), as the browser's own download. */
async function download(taskId: string, path: string): Promise<void> {
  await act(`download ${path}`, async () => {
    const d = await api().downloadTaskFile(taskId, path);
    const blob = await new Response(d.body).blob();
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = d.name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
}

function Files({ taskId }: { taskId: string }): JSX.Element {
  const [dir, setDir] = useState('');
  const [open, setOpen] = useState<string | undefined>(undefined);
  const listing = useData(() => api().browseTaskFiles(taskId, dir), [taskId, dir]);
  const content = useData(() => (open === undefined ? Promise.resolve(undefined) : api().readTaskFile(taskId, { path: open, length: TAIL_BYTES })), [taskId, open]);
  const parts = dir === '' ? [] : dir.split('/');
  return (
    <Section title="Sandbox" id="t-files">
      <nav class="crumbs" aria-label="sandbox path">
        <button type="button" class="link" onClick={() => setDir('')}>
          sandbox
        </button>
        {parts.map((p, i) => (
          <span key={i}>
            {' / '}
            <button type="button" class="link" onClick={() => setDir(parts.slice(0, i + 1).join('/'))}>
              {p}
            </button>
          </span>
        ))}
      </nav>
      <ErrorBox error={listing.error} />
      <table class="list compact" aria-label="sandbox files">
        <thead>
          <tr>
            <th>name</th>
            <th>size</th>
            <th>mode</th>
            <th>modified</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(listing.data?.entries ?? []).map((f) => (
            <tr key={f.path}>
              <td>
                {f.type === 'dir' ? (
                  <button type="button" class="link" onClick={() => setDir(f.path)}>
                    {f.name}/
                  </button>
                ) : f.type === 'file' ? (
                  <button type="button" class="link" onClick={() => setOpen(f.path)}>
                    {f.name}
                  </button>
                ) : (
                  f.name
                )}
              </td>
              <td>{formatBytes(f.size)}</td>
              <td>
                <code>{f.mode}</code>
              </td>
              <td>{ago(Date.now(), f.mtime)}</td>
              <td>
                {f.type === 'file' ? (
                  <button type="button" onClick={() => void download(taskId, f.path)}>
                    Download
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open === undefined ? null : (
        <div>
          <h3>{open}</h3>
          <ErrorBox error={content.error} />
          <pre class="log">{content.data?.data ?? ''}</pre>
        </div>
      )}
    </Section>
  );
}
