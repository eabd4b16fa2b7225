// ui: how fast the web UI shows a big cell. A cell of 10,000 hollow agents and 10,000 jobs × 100
// instances (1,000,000 tasks) is built by the hollow driver (placements committed through the real
// event log on SQLite), then a real master (startMaster, as `muster master` runs it) opens that
// store and serves the UI and the API; headless Chromium (playwright-core, Debian's chromium) loads
// the cell, jobs and job pages, each in a fresh browser context (nothing cached), several times.
//
// Per page: first render, from navigation start to the app's shell on screen (the header: bundle
// loaded, parsed and run); interactive, to the page's data on screen (the cell's resources, the
// first page of 50 jobs with their facets, a job's 100-instance grid) with the event stream live,
// so that a click acts and the page follows the cell. Times are the page's own performance.now(),
// taken by a MutationObserver installed before any script runs: no polling from outside. Also the
// API call behind each page, timed from node, and the bundle's size gzipped (goal < 150 KiB).
//
// The hollow agents have no daemon behind them: the master is started with an agent timeout far
// longer than the run, so that it does not declare them unreachable and move a million tasks.
// MUSTER_BENCH_SCALE shrinks the cell (0.01: 100 jobs, 10,000 tasks).

import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { MusterClient } from '../src/client/index.js';
import { silentLogger } from '../src/log/index.js';
import { DEFAULT_MASTER_OPTIONS, startMaster } from '../src/master/index.js';
import { DEFAULT_PLACEMENT_OPTIONS } from '../src/scheduler/index.js';
import { HollowCell, hollowAgents, hollowJobs } from '../src/sim/index.js';
import { benchScale, C1M_SEED } from './c1m.js';
import { printTable } from './report.js';
import { percentile, round } from './stats.js';

const AGENTS = 10_000;
const ROLES = 10;
const JOBS_PER_ROLE = 1000;
const INSTANCES = 100;
const RUNS = 5;
const GOAL_BUNDLE_KIB = 150;
const GOAL_INTERACTIVE_MS = 1000;
const CHROMIUM = process.env['MUSTER_CHROMIUM'] ?? '/usr/bin/chromium';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface PageCase {
  name: string;
  path: string;
  /** The page's data is on screen once this selector matches. */
  data: string;
  /** The API call behind the page, timed from node. */
  api: (c: MusterClient) => Promise<unknown>;
}

/** The script every page gets before its own: record when the shell and the data first show. */
const OBSERVER = (dataSelector: string): string => `
  window.__musterTimes = {};
  const want = { render: 'header.top', data: ${JSON.stringify(dataSelector)}, live: '[data-testid="connection"][data-state="live"]' };
  const seen = () => { for (const k in want) if (window.__musterTimes[k] === undefined && document.querySelector(want[k]) !== null) window.__musterTimes[k] = performance.now(); };
  new MutationObserver(seen).observe(document, { subtree: true, childList: true, attributes: true });
`;

export async function runUiBench(): Promise<Record<string, unknown>> {
  if (!existsSync(CHROMIUM)) throw new Error(`bench ui needs chromium at ${CHROMIUM} (Debian's package chromium)`);
  const uiDir = join(ROOT, 'dist', 'ui');
  if (!existsSync(join(uiDir, 'index.html'))) throw new Error('the web UI is not built: npm run build');
  const bundle = bundleSize(uiDir);

  const scale = benchScale();
  const agents = Math.max(10, Math.round(AGENTS * scale));
  const jobsPerRole = Math.max(1, Math.round(JOBS_PER_ROLE * scale));
  const dir = await mkdtemp(join(tmpdir(), 'muster-ui-bench-'));
  try {
    const b0 = performance.now();
    const hollow = await HollowCell.open({ dir, placement: { ...DEFAULT_PLACEMENT_OPTIONS, seed: C1M_SEED } });
    try {
      await hollow.registerAgents(hollowAgents(agents));
      for (let r = 0; r < ROLES; r++) await hollow.createJobs(hollowJobs(jobsPerRole, INSTANCES, { role: `team${r}`, seed: C1M_SEED + r }));
      await hollow.drain();
    } finally {
      await hollow.close();
    }
    const buildSec = (performance.now() - b0) / 1000;
    const o0 = performance.now();
    const master = await startMaster({
      ...DEFAULT_MASTER_OPTIONS,
      port: 0,
      store: `sqlite:${join(dir, 'master.db')}`,
      agentTimeoutSecs: 86_400,
      heartbeatSecs: 10,
      logger: silentLogger,
    });
    const openSec = (performance.now() - o0) / 1000;
    try {
      const client = new MusterClient({ masters: [master.url], timeoutMs: 120_000 });
      const cell = await client.cellSummary();
      const firstJob = (await client.jobsPage({ limit: 1 })).jobs[0]?.job ?? '';
      const cases: PageCase[] = [
        { name: 'cell', path: '/', data: 'section[aria-labelledby="res-h"] .bar', api: (c) => c.cellSummary() },
        { name: 'jobs', path: '/jobs', data: 'tr[data-job]', api: (c) => c.jobsPage({ limit: 50, facets: true }) },
        { name: 'job', path: `/jobs/${firstJob}`, data: `[data-instance="${INSTANCES - 1}"]`, api: (c) => c.getJob(firstJob) },
      ];
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless', '--disable-gpu'] });
      const rows: Record<string, number | string>[] = [];
      try {
        for (const pc of cases) {
          const render: number[] = [];
          const interactive: number[] = [];
          const api: number[] = [];
          for (let run = 0; run < RUNS; run++) {
            const a0 = performance.now();
            await pc.api(client);
            api.push(performance.now() - a0);
            const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
            const page = await context.newPage();
            await page.addInitScript(OBSERVER(pc.data));
            await page.goto(`${master.url}${pc.path}`);
            // A function, not a string: the page's Content-Security-Policy forbids eval.
            await page.waitForFunction(
              () => {
                const t = (globalThis as { __musterTimes?: { data?: number; live?: number } }).__musterTimes;
                return t?.data !== undefined && t.live !== undefined;
              },
              undefined,
              { timeout: 120_000 },
            );
            const t = await page.evaluate<{ render: number; data: number; live: number }>('window.__musterTimes');
            render.push(t.render);
            interactive.push(Math.max(t.data, t.live));
            await context.close();
          }
          rows.push({
            page: pc.name,
            firstRenderMs: round(percentile(render, 50), 0),
            interactiveMs: round(percentile(interactive, 50), 0),
            interactiveMaxMs: round(Math.max(...interactive), 0),
            apiMs: round(percentile(api, 50), 1),
          });
        }
      } finally {
        await browser.close();
      }
      const figures = {
        scale,
        agents: cell.agentStates === undefined ? agents : Object.values(cell.agentStates).reduce((n, c) => n + c, 0),
        jobs: cell.jobCount,
        tasks: cell.taskCount,
        pending: cell.pendingCount,
        buildCellSec: round(buildSec, 1),
        masterOpenSec: round(openSec, 1),
        runsPerPage: RUNS,
        pages: rows,
        bundleJsKiB: bundle.jsKiB,
        bundleGzipKiB: bundle.gzipKiB,
        goalBundleGzipKiB: GOAL_BUNDLE_KIB,
        goalInteractiveMs: GOAL_INTERACTIVE_MS,
      };
      printTable(
        'web UI on a cell of 10,000 jobs and 1,000,000 tasks (headless Chromium)',
        ['figure', 'value'],
        [
          ['cell', `${figures.agents.toLocaleString()} agents, ${figures.jobs.toLocaleString()} jobs, ${figures.tasks.toLocaleString()} tasks (${figures.pending.toLocaleString()} pending)`],
          ['built by the hollow driver / opened by the master, s', `${figures.buildCellSec} / ${figures.masterOpenSec}`],
          ...rows.map((r) => [`${r.page} page: first render / interactive (median of ${RUNS}; max) ms`, `${r.firstRenderMs} / ${r.interactiveMs} (${r.interactiveMaxMs})`]),
          ...rows.map((r) => [`${r.page} page: its API call, median ms`, String(r.apiMs)]),
          ['bundle: app.js / gzipped with app.css and index.html, KiB', `${bundle.jsKiB} / ${bundle.gzipKiB} (goal < ${GOAL_BUNDLE_KIB})`],
        ],
      );
      return figures;
    } finally {
      await master.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** bundleSize is what a browser downloads for the UI: app.js, and all three files gzipped as the master sends them. */
function bundleSize(uiDir: string): { jsKiB: number; gzipKiB: number } {
  const files = ['app.js', 'app.css', 'index.html'].map((f) => readFileSync(join(uiDir, f)));
  const gz = files.reduce((n, f) => n + gzipSync(f, { level: 9 }).length, 0);
  return { jsKiB: round((files[0]?.length ?? 0) / 1024, 1), gzipKiB: round(gz / 1024, 1) };
}
