// The shell of the web UI: the header with the pages, who is logged in, whether the event stream is
// live, and the page the address names.

import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { WhoAmIView } from '../protocol/index.js';
import { ConfirmDialog, Toasts } from './components.js';
import { CellPage } from './cell.js';
import { AgentPage, AgentsPage } from './agents.js';
import { JobsPage } from './jobs.js';
import { JobPage } from './job.js';
import { TaskPage } from './task.js';
import { AuditPage, FrameworksPage, HostsPage, LoginPage, RolesPage } from './others.js';
import { otherMastersNow, useConnection } from './browser/live.js';
import { navigate, useLocation } from './browser/router.js';
import { api, onSessionChange, setToken, token } from './browser/session.js';

const NAV: { href: string; label: string }[] = [
  { href: '/', label: 'Cell' },
  { href: '/agents', label: 'Agents' },
  { href: '/jobs', label: 'Jobs' },
  { href: '/frameworks', label: 'Frameworks' },
  { href: '/roles', label: 'Roles' },
  { href: '/hosts', label: 'Hosts' },
  { href: '/audit', label: 'Audit' },
];

export function App(): JSX.Element {
  const { path } = useLocation();
  // After a move to another page, keyboard and screen-reader users start at its content, not at the
  // link they followed (the first render keeps the browser's own focus).
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [path]);
  const section = path === '/' || path === '/cell' ? '/' : `/${path.split('/')[1] ?? ''}`;
  return (
    <>
      <a class="skip" href="#main">
        Skip to the page
      </a>
      <header class="top">
        <a href="/" class="brand">
          Muster
        </a>
        <nav aria-label="pages">
          {NAV.map((n) => (
            <a key={n.href} href={n.href} aria-current={section === n.href ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
        <Status />
        <Who />
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} />
      </main>
      <ConfirmDialog />
      <Toasts />
    </>
  );
}

function Page({ path }: { path: string }): JSX.Element {
  const parts = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
  const [first, a, b, c] = parts;
  useEffect(() => {
    document.title = parts.length === 0 ? 'Muster · cell' : `Muster · ${parts.join('/')}`;
  }, [path]);
  switch (first) {
    case undefined:
    case 'cell':
      return <CellPage />;
    case 'login':
      return <LoginPage />;
    case 'agents':
      return a === undefined ? <AgentsPage /> : <AgentPage agentId={a} />;
    case 'jobs':
      return a !== undefined && b !== undefined && c !== undefined ? <JobPage jobKey={`${a}/${b}/${c}`} key={`${a}/${b}/${c}`} /> : <JobsPage role={a} env={b} />;
    case 'tasks':
      return a === undefined ? <JobsPage /> : <TaskPage taskId={a} key={a} />;
    case 'frameworks':
      return <FrameworksPage />;
    case 'roles':
      return <RolesPage />;
    case 'hosts':
      return <HostsPage />;
    case 'audit':
      return <AuditPage />;
    default:
      return (
        <div>
          <h1>Not found</h1>
          <p>
            No page {path}. <a href="/">Back to the cell</a>
          </p>
        </div>
      );
  }
}

function Status(): JSX.Element {
  const c = useConnection();
  const text = c === 'live' ? 'live' : c === 'connecting' ? 'connecting…' : 'disconnected: reconnecting';
  const others = c === 'disconnected' ? otherMastersNow() : [];
  return (
    <span class={`conn conn-${c}`} role="status" aria-live="polite" data-testid="connection" data-state={c}>
      {text}
      {others.length === 0 ? null : (
        <span>
          {' '}
          · the leader may have moved: try{' '}
          {others.map((m) => (
            <a key={m} href={`${m}${location.pathname}${location.search}`} target="_self">
              {new URL(m).host}{' '}
            </a>
          ))}
        </span>
      )}
    </span>
  );
}

function Who(): JSX.Element {
  const [who, setWho] = useState<WhoAmIView | undefined>(undefined);
  useEffect(() => {
    const read = (): void => {
      api()
        .whoAmI()
        .then(setWho, () => setWho(undefined));
    };
    read();
    return onSessionChange(read);
  }, []);
  if (who?.open === true && token() === undefined) {
    return (
      <span class="who" title="this master runs without authentication: anyone who reaches it may do anything">
        open cell
      </span>
    );
  }
  if (token() === undefined) {
    return (
      <a href="/login" class="who">
        Log in
      </a>
    );
  }
  return (
    <span class="who">
      {who?.principal ?? 'token'}{' '}
      <button
        type="button"
        class="link"
        onClick={() => {
          setToken(undefined);
          navigate('/login');
        }}
      >
        log out
      </button>
    </span>
  );
}
