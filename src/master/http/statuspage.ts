// The status page at /: agents, jobs and tasks in plain HTML, refreshed every few seconds, until the
// web UI exists. Everything shown is escaped: job configs and agent names come from users.

import { formatMiB } from '../../core/index.js';
import type { ViewContext } from '../views.js';
import { agentState, usageLine } from '../views.js';

function esc(s: string | number): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function ago(now: number, t: number | undefined): string {
  if (t === undefined) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

export function renderStatusPage(ctx: ViewContext, info: { masterId: string; version: string; logIndex: number; store: string; authentication?: 'tokens' | 'open' }): string {
  const { state, now } = ctx;
  const rows: string[] = [];
  for (const a of state.agents.values()) {
    const st = agentState(ctx, a);
    rows.push(
      `<tr><td>${esc(a.hostname)}</td><td>${esc(a.address)}:${esc(a.port)}</td><td class="${st}">${st}</td>` +
        `<td>${esc(usageLine(a.used, a.resources))}</td><td>${esc(formatMiB(a.used.diskMiB))}/${esc(formatMiB(a.resources.diskMiB))}</td>` +
        `<td>${a.taskIds.size}</td><td><code>${esc(a.agentId)}</code></td></tr>`,
    );
  }
  const jobs: string[] = [];
  const tasks: string[] = [];
  for (const job of state.jobs.values()) {
    const running = job.instances.filter((i) => i.state === 'ACTIVE').length;
    jobs.push(
      `<tr><td>${esc(job.key)}</td><td>${esc(job.spec.kind)}</td><td class="${esc(job.state)}">${esc(job.state)}</td>` +
        `<td>${running}/${job.instances.length}</td><td>${job.spec.resources.cpus} cpus, ${esc(formatMiB(job.spec.resources.mem))}</td><td>${ago(now, job.createdAt)}</td></tr>`,
    );
    for (const inst of job.instances) {
      const t = inst.taskId === undefined ? undefined : state.tasks.get(inst.taskId);
      const agent = t === undefined ? undefined : state.agents.get(t.agentId);
      const shown = inst.state === 'PENDING' ? 'PENDING' : (t?.state ?? inst.state);
      const why = inst.state === 'PENDING' ? (ctx.pendingReason(job.key, inst.instance) ?? '') : (t?.message ?? '');
      const ports = t === undefined ? '' : Object.entries(t.ports).map(([n, p]) => `${n}=${p}`).join(' ');
      tasks.push(
        `<tr><td>${esc(job.key)}/${inst.instance}</td><td class="${esc(shown)}">${esc(shown)}</td><td>${esc(agent?.hostname ?? '')}</td>` +
          `<td>${esc(ports)}</td><td><code>${esc(t?.taskId ?? '')}</code></td><td>${esc(why)}</td></tr>`,
      );
    }
  }
  const frameworks = [`<tr><td>muster</td><td><code>muster</code></td><td class="CONNECTED">built-in</td><td>${state.tasks.size - [...state.frameworks.values()].reduce((n, f) => n + f.taskIds.size, 0)}</td></tr>`];
  for (const f of state.frameworks.values()) {
    const connected = ctx.frameworkConnected?.(f.frameworkId) ?? false;
    frameworks.push(
      `<tr><td>${esc(f.name)}</td><td><code>${esc(f.frameworkId)}</code></td><td class="${connected ? 'CONNECTED' : 'DISCONNECTED'}">${connected ? 'connected' : 'disconnected'}</td><td>${f.taskIds.size}</td></tr>`,
    );
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Muster cell</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin-bottom:2em}
td,th{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:left}th{background:#f4f4f4}
code{font-size:12px}.CONNECTED,.TASK_RUNNING,.ACTIVE,.FINISHED,.TASK_FINISHED{color:#176c2e}
.UNREACHABLE,.TASK_FAILED,.FAILED,.TASK_LOST,.TASK_UNREACHABLE{color:#b3261e}.PENDING,.DISCONNECTED,.KILLING{color:#9a6700}
</style></head><body>
<h1>Muster cell</h1>
${info.authentication === 'open' ? '<p class="open"><strong>open:</strong> this master runs without authentication; anyone who reaches it may do anything with the cell</p>\n' : ''}<p>master <code>${esc(info.masterId)}</code> · version ${esc(info.version)} · log index ${info.logIndex} · store <code>${esc(info.store)}</code></p>
<h2>Agents (${state.agents.size})</h2>
<table><tr><th>host</th><th>address</th><th>state</th><th>cpus, mem used</th><th>disk used</th><th>tasks</th><th>id</th></tr>${rows.join('')}</table>
<h2>Frameworks (${state.frameworks.size + 1})</h2>
<table><tr><th>name</th><th>id</th><th>state</th><th>tasks</th></tr>${frameworks.join('')}</table>
<h2>Jobs (${state.jobs.size})</h2>
<table><tr><th>job</th><th>kind</th><th>state</th><th>running</th><th>per task</th><th>created</th></tr>${jobs.join('')}</table>
<h2>Instances</h2>
<table><tr><th>instance</th><th>state</th><th>agent</th><th>ports</th><th>task</th><th>why</th></tr>${tasks.join('')}</table>
</body></html>`;
}
