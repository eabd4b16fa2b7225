// The cell page: who leads (and the other masters, with the epoch), agents up and down, resources
// used of total, tasks by state, and the live timeline of events.

import type { JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import type { CellView, EventView } from '../protocol/index.js';
import { Bar, Chip, ErrorBox, Section, useData } from './components.js';
import { clock, describeEvent, formatCpus, formatMiB } from './format.js';
import { useLive, useTimeline } from './browser/live.js';
import { api } from './browser/session.js';

interface LeaderView {
  leader: { masterId: string; url: string; epoch: number } | null;
  self: { masterId: string; url: string; leading: boolean };
}

export function CellPage(): JSX.Element {
  const cell = useData(() => api().cellSummary(), []);
  const leader = useData(() => api().request<LeaderView>('GET', '/api/v1/leader'), []);
  // A big cell's task counts may be 2 s behind its log (see CellView.taskStates): the page reads
  // once more after the last event of a burst, so that it settles on the cell as it is.
  const trailing = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(trailing.current), []);
  useLive(() => {
    cell.reload();
    leader.reload();
    clearTimeout(trailing.current);
    trailing.current = setTimeout(cell.reload, 2500);
  }, { minGapMs: 1000 });
  const c = cell.data;
  return (
    <div>
      <h1>Cell</h1>
      <ErrorBox error={cell.error} />
      {c === undefined ? null : (
        <div class="grid">
          <Masters cell={c} leader={leader.data} />
          <Section title="Agents" id="agents-h">
            <p class="big">
              <a href="/agents?state=CONNECTED">{c.agentStates?.CONNECTED ?? 0} up</a>
              {' · '}
              <a href="/agents?state=DISCONNECTED">{c.agentStates?.DISCONNECTED ?? 0} disconnected</a>
              {' · '}
              <a href="/agents?state=UNREACHABLE" class={(c.agentStates?.UNREACHABLE ?? 0) > 0 ? 'tone-bad-text' : ''}>
                {c.agentStates?.UNREACHABLE ?? 0} unreachable
              </a>
            </p>
          </Section>
          <Section title="Resources" id="res-h">
            <Bar label="cpus" used={c.used.cpus} total={c.total.cpus} text={`${formatCpus(c.used.cpus)} / ${formatCpus(c.total.cpus)} cpus`} />
            <Bar label="mem" used={c.used.mem} total={c.total.mem} text={`${formatMiB(c.used.mem)} / ${formatMiB(c.total.mem)} mem`} />
            <Bar label="disk" used={c.used.disk} total={c.total.disk} text={`${formatMiB(c.used.disk)} / ${formatMiB(c.total.disk)} disk`} />
            {c.total.gpus > 0 ? <Bar label="gpus" used={c.used.gpus} total={c.total.gpus} text={`${c.used.gpus} / ${c.total.gpus} gpus`} /> : null}
          </Section>
          <Section title="Tasks" id="tasks-h">
            <p>
              <a href="/jobs">{c.jobCount.toLocaleString()} jobs</a>, {c.taskCount.toLocaleString()} tasks, {c.pendingCount.toLocaleString()} pending
            </p>
            <ul class="chips" aria-label="tasks by state">
              {Object.entries(c.taskStates ?? {})
                .sort(([a], [b]) => (a < b ? -1 : 1))
                .map(([state, n]) => (
                  <li key={state}>
                    <Chip state={state} /> {n.toLocaleString()}
                  </li>
                ))}
            </ul>
          </Section>
        </div>
      )}
      <Timeline />
    </div>
  );
}

function Masters({ cell, leader }: { cell: CellView; leader: LeaderView | undefined }): JSX.Element {
  const masters = cell.masters ?? [{ masterId: cell.masterId, url: leader?.self.url ?? location.origin, leading: true }];
  return (
    <Section title="Masters" id="masters-h">
      <p>
        leader: <strong data-testid="leader">{leader?.leader?.url ?? cell.leader ?? location.origin}</strong>
        {cell.epoch === undefined ? null : <span> · epoch {cell.epoch}</span>}
      </p>
      <ul class="plain">
        {masters.map((m) => (
          <li key={m.masterId}>
            <Chip state={m.leading ? 'ACTIVE' : 'PENDING'} label={m.leading ? 'leader' : 'standby'} /> {m.url}
          </li>
        ))}
      </ul>
      <p class="muted">
        version {cell.version} · log index {cell.logIndex.toLocaleString()}
        {cell.dns === undefined ? '' : ` · DNS :${cell.dns.port} (${cell.dns.domain}.)`}
      </p>
    </Section>
  );
}

function Timeline(): JSX.Element {
  const events = useTimeline(50);
  return (
    <Section title="Live events" id="timeline-h">
      {events.length === 0 ? <p class="muted">No events since this page opened.</p> : null}
      <ol class="timeline" data-testid="timeline">
        {events.map((e: EventView) => (
          <li key={e.index}>
            <time>{clock(e.at)}</time> <span class="muted">#{e.index}</span> {describeEvent(e)}
          </li>
        ))}
      </ol>
    </Section>
  );
}
