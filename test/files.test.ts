// A task's sandbox seen from outside: `muster task ls`, and reading and downloading its files
// through the master, which asks the agent. The task writes into its own working directory; what
// it writes must come back byte for byte, and a path that leaves the sandbox must be refused.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MusterError } from '../src/core/index.js';
import type { TaskFileListing } from '../src/protocol/index.js';
import { cell, waitFor, type CliResult } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { taskOf, waitRunning } from './jobs.js';

const KEY = 'web/prod/files';
const REPORT = 'line one\nline two\n';

function ok(result: CliResult, what: string): string {
  assert.equal(result.code, 0, `${what} exits 0; stderr: ${result.stderr}`);
  return result.stdout;
}

test('a task\'s sandbox files can be listed, read and downloaded through the master, and nothing outside it', async (t) => {
  const c = cell(t);
  const { client, agents } = await c.startCell(1);
  await client.createJob(
    yamlOf(
      serviceConfig(KEY, {
        processes: [{ name: 'main', cmd: `mkdir -p out && printf '${REPORT.replace(/\n/g, '\\n')}' > out/report.txt && echo ready && exec sleep 3600` }],
      }),
    ),
    YAML,
  );
  const job = await waitRunning(client, KEY);
  const taskId = taskOf(job, 0).taskId;
  await waitFor(() => client.taskLogs(taskId, { file: 'stdout' }), { what: `${taskId} to print ready`, until: (chunk) => chunk.data.includes('ready') });

  // The root of the sandbox, through the client and the CLI.
  const root = await client.browseTaskFiles(taskId);
  assert.equal(root.taskId, taskId);
  assert.equal(root.path, '');
  const names = root.entries.map((e) => e.name);
  assert.deepEqual(names, [...names].sort(), 'entries are sorted by name');
  for (const name of ['out', 'stdout', 'stderr']) assert.ok(names.includes(name), `the sandbox lists ${name}: ${names.join(', ')}`);
  assert.equal(root.entries.find((e) => e.name === 'out')?.type, 'dir');

  const ls = ok(await c.cli(['task', 'ls', `${KEY}/0`]), 'muster task ls KEY/0');
  assert.match(ls, /^d\S{9}\s+-\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+out\/$/m, `out/ is listed as a directory:\n${ls}`);
  assert.match(ls, /^-\S{9}\s+\d+\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+stdout$/m, `stdout is listed as a file:\n${ls}`);

  const sub = ok(await c.cli(['task', 'ls', `${KEY}/0`, 'out']), 'muster task ls KEY/0 out');
  assert.match(sub, new RegExp(`^-\\S{9}\\s+${REPORT.length}\\s+\\S+ \\S+\\s+report\\.txt$`, 'm'), `report.txt and its size are listed:\n${sub}`);

  const json = JSON.parse(ok(await c.cli(['task', 'ls', taskId, 'out', '--json']), 'muster task ls TASK_ID out --json')) as TaskFileListing;
  assert.deepEqual(json.entries.map((e) => [e.name, e.path, e.type, e.size]), [['report.txt', 'out/report.txt', 'file', REPORT.length]]);

  // Read a slice, and download the whole file as a stream.
  const chunk = await client.readTaskFile(taskId, { path: 'out/report.txt', offset: 5, length: 3 });
  assert.deepEqual({ path: chunk.path, offset: chunk.offset, size: chunk.size, data: chunk.data }, { path: 'out/report.txt', offset: 5, size: REPORT.length, data: 'one' });
  const download = await client.downloadTaskFile(taskId, 'out/report.txt');
  assert.equal(download.name, 'report.txt');
  assert.equal(download.size, REPORT.length);
  assert.equal(await new Response(download.body).text(), REPORT);

  // Escapes are refused with FORBIDDEN, through every route and the CLI.
  for (const attempt of [
    () => client.browseTaskFiles(taskId, '..'),
    () => client.browseTaskFiles(taskId, '/etc'),
    () => client.readTaskFile(taskId, { path: '../../agent.json' }),
    () => client.readTaskFile(taskId, { path: 'out/../../x' }),
    () => client.downloadTaskFile(taskId, '/etc/passwd'),
  ]) {
    await assert.rejects(attempt(), (e: unknown) => e instanceof MusterError && e.code === 'FORBIDDEN');
  }
  const res = await fetch(`${c.masters[0]?.url ?? ''}/api/v1/tasks/${taskId}/files/read?path=..%2F..%2Fagent.json`);
  assert.equal(res.status, 403);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'FORBIDDEN');
  const cliEscape = await c.cli(['task', 'ls', `${KEY}/0`, '../..']);
  assert.notEqual(cliEscape.code, 0);
  assert.match(cliEscape.stderr, /outside the task's sandbox/);
  assert.equal(cliEscape.stderr.trim().split('\n').length, 1, `one line of error: ${cliEscape.stderr}`);

  // What does not exist is not found, with the codes of the agent or the master.
  await assert.rejects(client.readTaskFile(taskId, { path: 'out/nope' }), (e: unknown) => e instanceof MusterError && e.code === 'NOT_FOUND');
  await assert.rejects(client.browseTaskFiles('web-prod-files-0-nosuchtask'), (e: unknown) => e instanceof MusterError && e.code === 'TASK_NOT_FOUND');

  // With the agent down the master says so, and that it is worth trying again.
  await agents[0]?.kill('SIGKILL');
  for (const attempt of [() => client.browseTaskFiles(taskId), () => client.downloadTaskFile(taskId, 'out/report.txt')]) {
    await assert.rejects(attempt(), (e: unknown) => e instanceof MusterError && e.code === 'AGENT_UNREACHABLE');
  }
});
