// Small parts every page uses: data loading, bars, state chips, the pager, the confirm dialog and
// the toasts that show what an action did or the API's own message when it was refused.

import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { MusterError } from '../core/index.js';
import { pageWindow, percent, shortState, toneOf } from './format.js';
import { navigate, setQuery } from './browser/router.js';
import { onSessionChange } from './browser/session.js';

// ---- data --------------------------------------------------------------------------------------

export interface Data<T> {
  data: T | undefined;
  error: MusterError | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * useData loads what a page shows, again when deps change, the session changes, or reload() is
 * called (live events); the last data stays on screen while the next loads. A call refused for want
 * of a token sends the person to the login page.
 */
export function useData<T>(load: () => Promise<T>, deps: readonly unknown[]): Data<T> {
  const [state, setState] = useState<{ data: T | undefined; error: MusterError | undefined; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  useEffect(() => onSessionChange(reload), [reload]);
  const seq = useRef(0);
  useEffect(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => {
        if (mine === seq.current) setState({ data, error: undefined, loading: false });
      },
      (e: unknown) => {
        if (mine !== seq.current) return;
        const err = asError(e);
        if (err.code === 'UNAUTHENTICATED') navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
        setState((s) => ({ data: s.data, error: err, loading: false }));
      },
    );
  }, [...deps, tick]);
  return { ...state, reload };
}

export function asError(e: unknown): MusterError {
  if (e instanceof MusterError) return e;
  return new MusterError('INTERNAL', e instanceof Error ? e.message : String(e));
}

// ---- toasts and actions ------------------------------------------------------------------------

interface Toast {
  id: number;
  text: string;
  bad: boolean;
}
let toasts: Toast[] = [];
let toastSeq = 0;
const toastListeners = new Set<(t: Toast[]) => void>();

export function toast(text: string, bad = false): void {
  const t = { id: ++toastSeq, text, bad };
  toasts = [...toasts, t];
  for (const l of toastListeners) l(toasts);
  setTimeout(() => {
    toasts = toasts.filter((x) => x.id !== t.id);
    for (const l of toastListeners) l(toasts);
  }, bad ? 12_000 : 5000);
}

export function Toasts(): JSX.Element {
  const [list, setList] = useState(toasts);
  useEffect(() => {
    toastListeners.add(setList);
    return () => void toastListeners.delete(setList);
  }, []);
  return (
    <div class="toasts" role="status" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} class={`toast ${t.bad ? 'toast-bad' : ''}`} role={t.bad ? 'alert' : undefined}>
          {t.text}
        </div>
      ))}
    </div>
  );
}

/** act runs an action, and says what happened: done, or the API's message when it was refused. */
export async function act(what: string, run: () => Promise<unknown>, after?: () => void): Promise<boolean> {
  try {
    await run();
    toast(`${what}: done`);
    after?.();
    return true;
  } catch (e) {
    toast(`${what}: ${asError(e).message}`, true);
    return false;
  }
}

// ---- confirm -----------------------------------------------------------------------------------

interface Asking {
  title: string;
  body: string;
  confirm: string;
  resolve: (yes: boolean) => void;
}
let asking: Asking | undefined;
const askListeners = new Set<(a: Asking | undefined) => void>();

/** confirmAction asks before a destructive action; resolves true when the person confirms. */
export function confirmAction(title: string, body: string, confirm = 'Confirm'): Promise<boolean> {
  return new Promise((resolve) => {
    asking = { title, body, confirm, resolve };
    for (const l of askListeners) l(asking);
  });
}

export function ConfirmDialog(): JSX.Element | null {
  const [a, setA] = useState(asking);
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    askListeners.add(setA);
    return () => void askListeners.delete(setA);
  }, []);
  useEffect(() => {
    const d = ref.current;
    if (a !== undefined && d !== null && !d.open) d.showModal();
  }, [a]);
  if (a === undefined) return null;
  const done = (yes: boolean): void => {
    ref.current?.close();
    asking = undefined;
    setA(undefined);
    a.resolve(yes);
  };
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title" onCancel={() => done(false)}>
      <h2 id="confirm-title">{a.title}</h2>
      <p>{a.body}</p>
      <div class="row">
        <button type="button" onClick={() => done(false)} autofocus>
          Cancel
        </button>
        <button type="button" class="danger" onClick={() => done(true)}>
          {a.confirm}
        </button>
      </div>
    </dialog>
  );
}

// ---- display -----------------------------------------------------------------------------------

export function Chip({ state, healthy, label }: { state: string; healthy?: boolean | undefined; label?: string }): JSX.Element {
  const text = label ?? (healthy === false && state === 'TASK_RUNNING' ? 'RUNNING, UNHEALTHY' : shortState(state));
  return <span class={`chip tone-${toneOf(state, healthy)}`}>{text}</span>;
}

/** Bar is used of total as a filled bar with the figures beside it. */
export function Bar({ used, total, label, text }: { used: number; total: number; label: string; text: string }): JSX.Element {
  const p = percent(used, total);
  return (
    <div class="bar" title={`${label}: ${text}`}>
      <div class="bar-track" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={p}>
        <div class={`bar-fill ${p >= 90 ? 'bar-high' : ''}`} style={{ width: `${p}%` }} />
      </div>
      <span class="bar-text">{text}</span>
    </div>
  );
}

export function ErrorBox({ error }: { error: MusterError | undefined }): JSX.Element | null {
  if (error === undefined) return null;
  return (
    <div class="error" role="alert">
      {error.message}
    </div>
  );
}

export function Loading({ loading }: { loading: boolean }): JSX.Element | null {
  return loading ? <span class="loading" aria-live="polite">loading…</span> : null;
}

/** Pager moves through a paged list by changing the page's ?offset=. */
export function Pager({ total, offset, limit }: { total: number; offset: number; limit: number }): JSX.Element {
  const w = pageWindow(total, offset, limit);
  return (
    <nav class="pager" aria-label="pages">
      <button type="button" disabled={w.prevOffset === undefined} onClick={() => setQuery({ offset: 0 })}>
        « first
      </button>
      <button type="button" disabled={w.prevOffset === undefined} onClick={() => setQuery({ offset: w.prevOffset })}>
        ‹ previous
      </button>
      <span class="pager-text">
        {w.from}–{w.to} of {w.total.toLocaleString()} (page {w.page} of {w.pages.toLocaleString()})
      </span>
      <button type="button" disabled={w.nextOffset === undefined} onClick={() => setQuery({ offset: w.nextOffset })}>
        next ›
      </button>
      <button type="button" disabled={w.nextOffset === undefined} onClick={() => setQuery({ offset: w.lastOffset })}>
        last »
      </button>
    </nav>
  );
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }): JSX.Element {
  return (
    <section class="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

/** Sparkline draws the last values as a small line. */
export function Sparkline({ values, label }: { values: number[]; label: string }): JSX.Element {
  const w = 160;
  const h = 32;
  const max = Math.max(1e-9, ...values);
  const pts = values.map((v, i) => `${values.length < 2 ? 0 : (i / (values.length - 1)) * w},${h - (v / max) * (h - 2) - 1}`).join(' ');
  return (
    <svg class="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={label}>
      <polyline points={pts} fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  );
}
