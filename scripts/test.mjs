#!/usr/bin/env node
// Runs every compiled test (dist/**/*.test.js) with node's test runner, after `npm run build`.
//
//   node scripts/test.mjs              unit tests (src/, in parallel), then integration tests (test/)
//   node scripts/test.mjs service cli  only test files whose path contains one of the words
//
// Integration tests start real masters, agents and tasks. Most of their time is spent waiting (for
// a heartbeat, a health check, a grace period), so they run three files at a time (unit tests two).
// The few whose assertions depend on having the machine to themselves run one at a time after
// them (SOLO): the drills (a 1,000-task storm that must not miss a heartbeat), the hostile corpus
// (the master's event loop is timed) and the HA tests (a 2 s leader lease on a 3-member etcd). Each
// run prints node's spec report as it goes, and the summary lines of its TAP report (# tests,
// # pass, # fail, # skipped ...); then the totals, and every failed test again.
//
// The run fails if any test fails or is cancelled, if a file cannot be run, if no test file was
// found, and, with MUSTER_REQUIRE_ALL=1 (CI), if any test was skipped: under CI every system part a
// test needs has been installed, so a skip means a test silently did not run.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const requireAll = process.env.MUSTER_REQUIRE_ALL === '1';
const filters = process.argv.slice(2);

/** testFiles lists dist/**\/*.test.js whose TypeScript source still exists (tsc never deletes outputs). */
function testFiles(dir) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') out.push(...testFiles(path));
    } else if (entry.name.endsWith('.test.js')) {
      const source = join(root, relative(dist, path)).replace(/\.js$/, '.ts');
      if (existsSync(source)) out.push(path);
    }
  }
  return out.sort();
}

const all = testFiles(dist).filter((f) => filters.length === 0 || filters.some((w) => relative(root, f).includes(w)));
// --test-concurrency came in Node 20.10 and --test-timeout in 20.11; older 20.x run without them.
const [major, minor] = process.versions.node.split('.').map(Number);
const atLeast = (m, n) => major > m || (major === m && minor >= n);
const timeout = (ms) => (atLeast(20, 11) ? [`--test-timeout=${ms}`] : []);
const concurrency = (n) => (atLeast(20, 10) ? [`--test-concurrency=${n}`] : []);
const integrationDir = join(dist, 'test') + sep;
/** SOLO: integration test files that run alone, after the others (see above). */
const SOLO = ['drill.test.js', 'hostile-input.test.js', 'ha.test.js'];
const isSolo = (f) => SOLO.some((name) => f.endsWith(sep + name));
/**
 * LONGEST: the integration files that take longest (about 60-80 s each; cron's tests run in real
 * time, about 3 minutes), started first so that no
 * long file starts last and runs on alone while the other slots sit idle. The rest follow in order.
 */
const LONGEST = ['cron.test.js', 'update.test.js', 'docker.test.js', 'scheduler-api.test.js', 'service.test.js', 'cli-wait.test.js', 'isolation.test.js'];
const rank = (f) => {
  const i = LONGEST.findIndex((name) => f.endsWith(sep + name));
  return i < 0 ? LONGEST.length : i;
};
const integration = all.filter((f) => f.startsWith(integrationDir)).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
const groups = [
  { name: 'unit tests (src/)', files: all.filter((f) => !f.startsWith(integrationDir)), args: [...concurrency(2), ...timeout(120_000)] },
  { name: 'integration tests (test/), three at a time', files: integration.filter((f) => !isSolo(f)), args: [...concurrency(3), ...timeout(240_000)] },
  { name: 'integration tests (test/), one at a time', files: integration.filter(isSolo), args: [...concurrency(1), ...timeout(240_000)] },
];

if (all.length === 0) {
  console.error(`no test files found under ${relative(root, dist)}/${filters.length > 0 ? ` matching ${filters.join(', ')}` : ''}; did the build run?`);
  process.exit(1);
}

const KEYS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo', 'duration_ms'];
const tmp = mkdtempSync(join(tmpdir(), 'muster-test-report-'));
const totals = Object.fromEntries(KEYS.map((k) => [k, 0]));
const skippedTests = [];
const failedTests = [];
let failed = false;

/** run spawns one `node --test` and resolves with its exit code. */
function run(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
    const forward = (signal) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal === null ? 1 : 128));
    });
  });
}

/**
 * failures lists each failed test of a TAP report with where it is and the first line of its error.
 * A failing subtest also fails its parents; only the innermost one is listed.
 */
function failures(report) {
  const lines = report.split('\n');
  const out = [];
  for (const [i, line] of lines.entries()) {
    const m = /^(\s*)not ok \d+ - (.*)$/.exec(line);
    if (m === null) continue;
    let location = '';
    let error = '';
    let parent = false;
    for (let j = i + 1; j < lines.length && j < i + 40; j++) {
      const l = lines[j];
      if (/^\s*\.\.\.$/.test(l)) break;
      const loc = /^\s*location: '(.*)'$/.exec(l);
      if (loc !== null) location = relative(root, loc[1].replace(/^file:\/\//, ''));
      const err = /^\s*error: (.*)$/.exec(l);
      // A multi-line error is a YAML block: its first line is the next one.
      if (err !== null) error = (/^[|>]-?$/.test(err[1]) ? (lines[j + 1] ?? '').trim() : err[1]).replace(/^'|'$/g, '').slice(0, 400);
      if (/^\s*failureType: 'subtestsFailed'$/.test(l)) parent = true;
    }
    if (parent) continue;
    out.push(`${m[2]}${location === '' ? '' : ` [${location}]`}${error === '' ? '' : `: ${error}`}`);
  }
  return out;
}

for (const [i, group] of groups.entries()) {
  if (group.files.length === 0) continue;
  const tap = join(tmp, `report-${i}.tap`);
  console.log(`\n=== ${group.name}: ${group.files.length} file${group.files.length === 1 ? '' : 's'} ===`);
  const code = await run([
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...group.args,
    ...group.files.map((f) => relative(root, f)),
  ]);
  const report = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  const summary = {};
  // The summary is the last block of top-level "# key value" lines of the TAP report.
  for (const line of report.split('\n')) {
    const m = /^# (\w+) ([\d.]+)$/.exec(line);
    if (m !== null && KEYS.includes(m[1])) summary[m[1]] = Number(m[2]);
  }
  for (const line of report.split('\n')) {
    const m = /^\s*ok \d+ - (.*) # SKIP(?: (.*))?$/.exec(line);
    if (m !== null) skippedTests.push(`${m[1]}${m[2] === undefined ? '' : ` (${m[2]})`}`);
  }
  failedTests.push(...failures(report));
  console.log(`\n--- ${group.name}: summary ---`);
  for (const key of KEYS) {
    if (summary[key] !== undefined) {
      console.log(`# ${key} ${summary[key]}`);
      totals[key] += summary[key];
    }
  }
  if (summary.tests === undefined) {
    console.error(`${group.name}: the test runner wrote no summary (exit code ${code})`);
    failed = true;
  }
  if (code !== 0 || (summary.fail ?? 0) > 0 || (summary.cancelled ?? 0) > 0) failed = true;
}
rmSync(tmp, { recursive: true, force: true });

console.log('\n=== all tests ===');
for (const key of KEYS) console.log(`# ${key} ${key === 'duration_ms' ? totals[key].toFixed(0) : totals[key]}`);
// The failures are listed again at the end because CI keeps only the tail of the output: the spec
// report printed them many screens earlier.
if (failedTests.length > 0) console.log(`\nfailed:\n${failedTests.map((s) => `  - ${s}`).join('\n')}`);
if (skippedTests.length > 0) console.log(`\nskipped:\n${skippedTests.map((s) => `  - ${s}`).join('\n')}`);
if (totals.skipped > 0 || skippedTests.length > 0) {
  if (requireAll) {
    const n = Math.max(totals.skipped, skippedTests.length);
    console.error(`\nMUSTER_REQUIRE_ALL=1: ${n} test${n === 1 ? ' was' : 's were'} skipped; under CI every test must run`);
    failed = true;
  }
}
// test/ui.test.ts writes a screenshot of every page of the web UI; CI's log names where they are.
const screenshots = join(root, 'test-output', 'ui-screenshots');
if (existsSync(screenshots)) console.log(`\nweb UI screenshots: ${screenshots} (${readdirSync(screenshots).filter((f) => f.endsWith('.png')).length} files)`);
if (totals.tests === 0) {
  console.error('no tests ran');
  failed = true;
}
console.log(failed ? '\nFAILED' : '\nok');
process.exit(failed ? 1 : 0);
