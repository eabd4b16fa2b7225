// The web UI in a real browser: Debian's chromium, driven by playwright-core, against real masters
// and agents. Each test acts as a person would (clicks, forms, the confirm dialog) and checks what
// the page shows against what the API says, without reloading the page: it follows the event
// stream. Screenshots of every page go to test-output/ui-screenshots/ (printed at the start), which
// CI keeps in its log.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { MusterClient } from '../src/client/index.js';
import { startEtcd } from './etcd.js';
import { cell, REPO_ROOT, waitFor, type MusterProcess } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { waitRunning } from './jobs.js';
import { requireOrSkip } from './require.js';

const CHROMIUM = process.env['MUSTER_CHROMIUM'] ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(REPO_ROOT, 'test-output', 'ui-screenshots');
/** How long a page may take to show what the cell already did (a browser on a loaded 2-core machine). */
const SHOWS_WITHIN_MS = 60_000;

mkdirSync(SCREENSHOTS, { recursive: true });
console.log(`ui screenshots: ${SCREENSHOTS}`);

/** openBrowser starts headless chromium for one test (closed when it ends); undefined when the test was skipped. */
async function openBrowser(t: TestContext): Promise<Browser | undefined> {
  if (!requireOrSkip(t, existsSync(CHROMIUM), `needs chromium at ${CHROMIUM} (Debian's package chromium)`)) return undefined;
  assert.ok(existsSync(join(REPO_ROOT, 'dist', 'ui', 'index.html')), 'the web UI is built (npm run build runs scripts/bundle-ui.mjs)');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless', '--disable-gpu'] });
  t.after(() => browser.close());
  return browser;
}

/** newPage opens a page at 1280 px that fails the test on any script error of the app. */
async function newPage(browser: Browser, options: BrowserContextOptions = {}): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true, ...options });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.setDefaultTimeout(SHOWS_WITHIN_MS);
  return { page, errors };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** markPage tags the window, so that a test can tell the page was never reloaded. */
async function markPage(page: Page): Promise<void> {
  await page.evaluate('window.musterMark = 42');
}
async function stillSamePage(page: Page): Promise<boolean> {
  return (await page.evaluate('window.musterMark === 42')) === true;
}

async function bootstrapTokenOf(master: MusterProcess): Promise<string> {
  return waitFor(() => /MUSTER_TOKEN=(mst_[A-Za-z0-9_-]+)/.exec(readFileSync(master.logFile, 'utf8'))?.[1], { what: 'the bootstrap token in the master log' });
}

test('a job created while the jobs page is open shows up, and its instances turn running on its page without a reload', async (t) => {
  const browser = await openBrowser(t);
  if (browser === undefined) return;
  const c = cell(t);
  const { master, client } = await c.startCell(1);
  const { page, errors } = await newPage(browser);
  await page.goto(`${master.url}/`);
  await page.locator('[data-testid="connection"][data-state="live"]').waitFor();
  await shot(page, 'cell-empty');
  await page.click('header nav >> text=Jobs');
  await markPage(page);

  const key = 'web/prod/hello';
  await client.createJob(yamlOf(serviceConfig(key, { instances: 3 })), YAML);
  const row = page.locator(`tr[data-job="${key}"]`);
  await row.waitFor();
  await row.locator('a').click();
  assert.equal(new URL(page.url()).pathname, `/jobs/${key}`);
  for (const i of [0, 1, 2]) await page.locator(`[data-instance="${i}"][data-state="TASK_RUNNING"]`).waitFor();
  const job = await waitRunning(client, key);
  assert.equal(job.instances.length, 3);
  // The lists the pages read are paged and filtered by the master.
  const paged = await client.jobsPage({ role: 'web', q: 'HELL', limit: 10, facets: true });
  assert.deepEqual({ total: paged.total, jobs: paged.jobs.map((j) => j.job), facets: paged.facets }, { total: 1, jobs: [key], facets: { roles: [{ role: 'web', jobs: 1, envs: [{ env: 'prod', jobs: 1 }] }] } });
  assert.equal((await client.jobsPage({ role: 'other' })).total, 0);
  const tasks = await client.tasksPage({ job: key, state: 'TASK_RUNNING', limit: 2 });
  assert.deepEqual([tasks.total, tasks.tasks.length], [3, 2]);
  assert.ok(await stillSamePage(page), 'the page followed the events: it was never reloaded');
  await shot(page, 'job');

  await page.click('header nav >> text=Cell');
  await page.locator('[data-testid="timeline"] li').first().waitFor();
  assert.match((await page.textContent('[data-testid="timeline"]')) ?? '', new RegExp(`job ${key} created`));
  await page.locator('ul[aria-label="tasks by state"] li:has-text("RUNNING 3")').waitFor();
  await shot(page, 'cell');
  await page.click('header nav >> text=Jobs');
  await page.locator(`tr[data-job="${key}"]`).waitFor();
  await shot(page, 'jobs');
  for (const [nav, name] of [['Agents', 'agents'], ['Frameworks', 'frameworks'], ['Roles', 'roles'], ['Hosts', 'hosts'], ['Audit', 'audit']] as const) {
    await page.click(`header nav >> text=${nav}`);
    await page.locator('main h1').waitFor();
    await page.locator('main table').waitFor();
    await shot(page, name);
  }
  await page.click('header nav >> text=Agents');
  await page.click('tr[data-agent] a');
  await page.locator('text=Maintenance').waitFor();
  await shot(page, 'agent');

  // A cron job's page shows its schedule and next runs (read from GET .../runs).
  const nightly = 'web/prod/nightly';
  await client.createJob(yamlOf({ ...serviceConfig(nightly), kind: 'cron', cron: { schedule: '30 2 * * *', timezone: 'Europe/Berlin' } }), YAML);
  await page.goto(`${master.url}/jobs/${nightly}`);
  await page.locator('section[aria-labelledby="j-runs"] code:text("30 2 * * *")').waitFor();
  // Its next times in its own zone: 02:30 in Berlin, whatever the browser's zone.
  assert.match((await page.textContent('section[aria-labelledby="j-runs"]')) ?? '', /next \(Europe\/Berlin\): \d{4}-\d{2}-\d{2},? 02:30:00/);
  await page.click('button:text("Start a run now")');
  await page.locator('table[aria-label="runs"] a:text("#1")').waitFor();
  assert.equal((await client.jobRuns(nightly)).current.length + (await client.jobRuns(nightly)).runs.length > 0, true, 'the master started a run');
  await shot(page, 'job-cron');

  // Keyboard only: Tab reaches the skip link first, then, in order, the job's link; Enter opens its page.
  await page.goto(`${master.url}/jobs`);
  await page.locator(`tr[data-job="${key}"] a`).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate('document.activeElement?.textContent?.trim()'), 'Skip to the page');
  let reached = false;
  for (let i = 0; i < 80 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = (await page.evaluate(`document.activeElement?.closest('tr')?.getAttribute('data-job') === ${JSON.stringify(key)}`)) === true;
  }
  assert.ok(reached, 'the job is reached with Tab alone');
  await page.keyboard.press('Enter');
  await page.locator('[data-instance="0"][data-state="TASK_RUNNING"]').waitFor();
  assert.equal(new URL(page.url()).pathname, `/jobs/${key}`);

  // Dark mode follows the system, and the pages work on a phone-sized screen.
  const dark = await newPage(browser, { colorScheme: 'dark' });
  await dark.page.goto(`${master.url}/jobs/${key}`);
  await dark.page.locator('[data-instance="0"][data-state="TASK_RUNNING"]').waitFor();
  const background = await dark.page.evaluate('getComputedStyle(document.body).backgroundColor');
  assert.equal(background, 'rgb(17, 20, 24)', 'a dark system gets the dark palette');
  await shot(dark.page, 'job-dark');
  const phone = await newPage(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await phone.page.goto(`${master.url}/jobs/${key}`);
  await phone.page.locator('[data-instance="2"][data-state="TASK_RUNNING"]').waitFor();
  const overflow = Number(await phone.page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
  assert.ok(overflow <= 1, `nothing wider than a phone's screen (${overflow}px over)`);
  await shot(phone.page, 'job-phone');
  await phone.page.goto(`${master.url}/`);
  await phone.page.locator('text=Resources').waitFor();
  await shot(phone.page, 'cell-phone');
  assert.deepEqual([...errors, ...dark.errors, ...phone.errors], [], 'no script error on any page');
});

test("a task's page follows its log live, offers it for download, and browses its sandbox", async (t) => {
  const browser = await openBrowser(t);
  if (browser === undefined) return;
  const c = cell(t);
  const { master, client } = await c.startCell(1);
  const key = 'web/prod/talker';
  await client.createJob(yamlOf(serviceConfig(key, { processes: [{ name: 'main', cmd: 'i=0; while true; do i=$((i+1)); echo "line $i"; sleep 0.3; done' }] })), YAML);
  const job = await waitRunning(client, key);
  const taskId = job.instances[0]?.task?.taskId ?? '';
  const { page, errors } = await newPage(browser);
  await page.goto(`${master.url}/tasks/${taskId}`);
  const log = page.locator('[data-testid="log"]');
  await log.locator('text=/line 2\\b/').waitFor();
  const lastLine = async (): Promise<number> => Math.max(0, ...[...((await log.textContent()) ?? '').matchAll(/line (\d+)/g)].map((m) => Number(m[1])));
  const seen = await lastLine();
  // Lines written after the page read the log appear in it, with no reload: it follows the file.
  await log.locator(`text=/line ${seen + 3}\\b/`).waitFor();
  assert.equal(await page.locator('[data-testid="health"]').textContent(), 'not checked');
  const history = page.locator('[data-testid="history"]');
  await history.locator('li:has-text("RUNNING")').waitFor();
  assert.match((await history.textContent()) ?? '', /launched.*STARTING.*RUNNING/s, 'the states the task went through, in order');
  await shot(page, 'task');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[aria-label="log controls"] >> text=Download')]);
  assert.match(download.suggestedFilename(), /^stdout/);
  const saved = await download.path();
  assert.match(readFileSync(saved, 'utf8'), /line 1\n/);

  await page.locator('table[aria-label="sandbox files"] >> text=stdout').first().waitFor();
  assert.deepEqual(errors, []);
});

test('an update is paused and resumed from its buttons, and the job is scaled from its page', async (t) => {
  const browser = await openBrowser(t);
  if (browser === undefined) return;
  const c = cell(t);
  const { master, client } = await c.startCell(1);
  const key = 'web/prod/rolling';
  const config = serviceConfig(key, { instances: 2, update: { batchSize: 1, watchSecs: 60 } });
  await client.createJob(yamlOf(config), YAML);
  await waitRunning(client, key);
  const { page, errors } = await newPage(browser);
  await page.goto(`${master.url}/jobs/${key}`);
  await page.locator('[data-instance="1"][data-state="TASK_RUNNING"]').waitFor();
  await markPage(page);

  // A watch of 60 s per batch keeps the update rolling while the buttons are pressed.
  await client.startUpdate(key, yamlOf({ ...config, processes: [{ name: 'main', cmd: 'sleep 3601' }] }), YAML);
  const status = page.locator('[data-testid="update-status"]');
  await page.locator('[data-testid="update-status"]:text("ROLLING_FORWARD")').waitFor();
  await page.click('[aria-label="update controls"] >> text=Pause');
  await page.locator('[data-testid="update-status"]:text("ROLL_FORWARD_PAUSED")').waitFor();
  assert.equal((await client.getUpdate(key)).status, 'ROLL_FORWARD_PAUSED', 'the master paused it');
  await shot(page, 'job-update-paused');
  await page.click('[aria-label="update controls"] >> text=Resume');
  await page.locator('[data-testid="update-status"]:text("ROLLING_FORWARD")').waitFor();
  assert.equal((await client.getUpdate(key)).status, 'ROLLING_FORWARD', 'the master resumed it');
  assert.equal(await status.textContent(), 'ROLLING_FORWARD');
  // Abort asks first; cancelling leaves the update alone.
  await page.click('[aria-label="update controls"] >> text=Abort');
  await page.locator('dialog.confirm').waitFor();
  await shot(page, 'confirm');
  await page.click('dialog.confirm >> text=Cancel');
  assert.equal((await client.getUpdate(key)).status, 'ROLLING_FORWARD', 'a cancelled confirm does nothing');
  await page.click('[aria-label="update controls"] >> text=Abort');
  await page.click('dialog.confirm button.danger');
  await page.locator('[data-testid="update-status"]:text("ABORTED")').waitFor();

  // A scale is an update too, in batches of one here: one more instance is one batch.
  await page.fill('input[name="instances"]', '3');
  await page.click('button:text("Scale")');
  for (const i of [0, 1, 2]) await page.locator(`[data-instance="${i}"][data-state="TASK_RUNNING"]`).waitFor();
  assert.equal((await client.getJob(key)).instanceCount, 3, 'the master scaled the job');
  assert.ok(await stillSamePage(page), 'no reload');
  await shot(page, 'job-scaled');
  assert.deepEqual(errors, []);
});

test("a pending instance's page shows why it waits (reasons, nearest fit, what would fit), and an unhealthy task is not shown green", async (t) => {
  const browser = await openBrowser(t);
  if (browser === undefined) return;
  const c = cell(t);
  const { master, client } = await c.startCell(1);
  // One cpu of the agent's two is taken: a job asking 1.5 could run here, but not now.
  await client.createJob(yamlOf(serviceConfig('web/prod/first', { resources: { cpus: 1, mem: '16MiB', disk: '16MiB', ports: [] } })), YAML);
  await waitRunning(client, 'web/prod/first');
  const key = 'web/prod/huge';
  await client.createJob(yamlOf(serviceConfig(key, { resources: { cpus: 1.5, mem: '16MiB', disk: '16MiB', ports: [] } })), YAML);
  const job = await waitFor(() => client.getJob(key), { what: 'the scheduler to explain the pending instance', until: (j) => j.instances[0]?.why !== undefined });
  const why = job.instances[0]?.why;
  assert.ok(why !== undefined);
  const { page, errors } = await newPage(browser);
  await page.goto(`${master.url}/jobs/${key}`);
  const pending = page.locator('[data-testid="pending"]');
  await pending.waitFor();
  await page.locator('[data-instance="0"][data-state="PENDING"]').waitFor();
  const text = (await pending.textContent()) ?? '';
  assert.ok(text.includes(why.summary), `the page shows the scheduler's summary "${why.summary}": ${text}`);
  if (why.nearest !== undefined) assert.ok(text.includes(`lacks ${why.nearest.lacks}`), `the nearest fit: ${text}`);
  for (const change of why.changes) assert.ok(text.includes(change), `the change "${change}" that would fit: ${text}`);
  assert.ok(why.filters.length > 0 && text.includes(why.filters[0]?.filter ?? '?'), 'the filters that turned agents away');
  await shot(page, 'job-pending');

  // A running task its health check finds unhealthy is shown as failing, not green.
  const sick = 'web/prod/sick';
  await client.createJob(yamlOf(serviceConfig(sick, { health: { command: { cmd: 'exit 1' }, gracePeriodSecs: 0, intervalSecs: 0.5, consecutiveFailures: 1000 } })), YAML);
  const unhealthy = await waitFor(() => client.getJob(sick), { what: 'the health check to find the task unhealthy', until: (j) => j.instances[0]?.task?.healthy === false });
  await page.goto(`${master.url}/jobs/${sick}`);
  const box = page.locator('[data-instance="0"][data-state="TASK_RUNNING"]');
  await box.waitFor();
  assert.match((await box.getAttribute('class')) ?? '', /tone-bad/, 'an unhealthy running task is red');
  assert.match((await box.getAttribute('aria-label')) ?? '', /unhealthy/);
  await page.goto(`${master.url}/tasks/${unhealthy.instances[0]?.task?.taskId ?? ''}`);
  await page.locator('[data-testid="health"]:text("unhealthy")').waitFor();
  await shot(page, 'task-unhealthy');
  assert.deepEqual(errors, []);
});

test('an agent killed shows unreachable on the agents page, live', async (t) => {
  const browser = await openBrowser(t);
  if (browser === undefined) return;
  const c = cell(t);
  const { master, agents } = await c.startCell(2, { agentTimeoutSecs: 3 });
  const victim = agents[1];
  assert.ok(victim !== undefined);
  const { page, errors } = await newPage(browser);
  await page.goto(`${master.url}/agents`);
  const row = page.locator(`tr[data-agent="${victim.hostname}"]`);
  await row.locator('text=CONNECTED').waitFor();
  await markPage(page);
  await victim.kill('SIGKILL');
  await row.locator('text=UNREACHABLE').waitFor();
  assert.ok(await stillSamePage(page), 'no reload');
  await shot(page, 'agents-unreachable');
  await page.goto(`${master.url}/`);
  await page.locator('a:text("1 unreachable")').waitFor();
  assert.deepEqual(errors, []);
});

test('the page says when its master is gone, and catches up on what it missed when the master is back', async (t) => {
  const browser = await openBrowser(t);
  if (browser === undefined) return;
  const c = cell(t);
  const { master, client } = await c.startCell(1);
  const { page, errors } = await newPage(browser);
  await page.goto(`${master.url}/jobs`);
  const connection = page.locator('[data-testid="connection"]');
  await page.locator('[data-testid="connection"][data-state="live"]').waitFor();
  await markPage(page);
  await master.kill('SIGKILL');
  await page.locator('[data-testid="connection"][data-state="disconnected"]').waitFor();
  assert.match((await connection.textContent()) ?? '', /disconnected/);
  await shot(page, 'disconnected');
  await master.start();
  await page.locator('[data-testid="connection"][data-state="live"]').waitFor();
  // Created after the page reconnected, or while it was reconnecting: either way the page shows it,
  // the stream having resumed from the last event it saw (Last-Event-ID).
  await client.createJob(yamlOf(serviceConfig('web/prod/after')), YAML);
  await page.locator('tr[data-job="web/prod/after"]').waitFor();
  assert.ok(await stillSamePage(page), 'no reload');
  assert.deepEqual(errors, []);
});

test("logged in with a token of another role, an action is refused with the API's message", async (t) => {
  const browser = await openBrowser(t);
  if (browser === undefined) return;
  const c = cell(t);
  const master = await c.startMaster({ auth: true });
  const root = await bootstrapTokenOf(master);
  const admin = new MusterClient({ masters: [master.url], token: root });
  const key = 'web/prod/guarded';
  await admin.createJob(yamlOf(serviceConfig(key)), YAML);
  // Reads everything (the event stream needs that), writes only role "batch".
  await admin.setPolicy('batch-team', { grants: [{ actions: ['job:read'], roles: ['*'] }, { actions: ['job:write'], roles: ['batch'] }] });
  const token = (await admin.createToken({ name: 'batch-ci', policies: ['batch-team'] })).secret;

  const { page, errors } = await newPage(browser);
  await page.goto(`${master.url}/jobs/${key}`);
  await page.waitForURL(/\/login\?next=/);
  await shot(page, 'login');
  await page.fill('input[name="token"]', 'mst_not-a-token');
  await page.click('button:text("Log in")');
  await page.locator('.login .error').waitFor();
  await page.fill('input[name="token"]', token);
  await page.click('button:text("Log in")');
  await page.waitForURL(`${master.url}/jobs/${key}`);
  await page.locator('text=batch-ci').waitFor();
  await page.locator('[data-testid="connection"][data-state="live"]').waitFor();

  await page.click('button:text("Kill")');
  await page.click('dialog.confirm button.danger');
  const refusal = page.locator('.toast-bad');
  await refusal.waitFor();
  const message = (await refusal.textContent()) ?? '';
  assert.match(message, /job:write/, `the API's own message: ${message}`);
  assert.equal((await admin.getJob(key)).state, 'ACTIVE', 'nothing was killed');
  await shot(page, 'refused');
  assert.deepEqual(errors, []);
});

test('a standby master sends the browser to the leader, whose UI then serves the page', async (t) => {
  const browser = await openBrowser(t);
  if (browser === undefined) return;
  const etcd = await startEtcd(t, 1);
  if (etcd === undefined) return;
  const c = cell(t);
  const store = etcd.storeUrl('muster-ui');
  const first = await c.startMaster({ store, args: ['--leader-ttl', '2'] });
  const second = await c.startMaster({ store, args: ['--leader-ttl', '2'] });
  const client = new MusterClient({ masters: [first.url, second.url] });
  const leaderUrl = (await waitFor(() => client.cell(), { what: 'a leader', until: (v) => v.leader !== undefined })).leader ?? '';
  const standby = [first, second].find((m) => m.url !== leaderUrl);
  assert.ok(standby !== undefined, `a standby beside the leader ${leaderUrl}`);
  const { page, errors } = await newPage(browser);
  await page.goto(`${standby.url}/jobs`);
  assert.equal(new URL(page.url()).origin, new URL(leaderUrl).origin, 'the browser ended at the leader');
  assert.equal(new URL(page.url()).pathname, '/jobs', 'on the page it asked for');
  await page.locator('main h1:text("Jobs")').waitFor();
  await page.click('header nav >> text=Cell');
  await page.locator(`[data-testid="leader"]:text("${leaderUrl}")`).waitFor();
  await shot(page, 'cell-ha');
  assert.deepEqual(errors, []);
});
