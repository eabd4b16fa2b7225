// A third-party Mesos framework library from npm, unmodified: mesos-framework (0.5.3, a
// devDependency) subscribes to a Muster master over the Mesos v1 scheduler API, takes offers,
// launches its command tasks (each with a port from the offer) and hears them finish. It is
// CommonJS and writes its logs under ./logs, so it runs as its own process in the cell's directory.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cell, REPO_ROOT, waitFor } from './harness.js';

interface Update {
  status: { task_id: { value: string }; state: string; uuid?: string };
}

test('mesos-framework (npm), unmodified, runs its tasks to TASK_FINISHED on a Muster cell', async (t) => {
  const c = cell(t);
  const { master } = await c.startCell(1);
  const cwd = join(c.dir, 'framework');
  mkdirSync(join(cwd, 'logs'), { recursive: true });
  const child = spawn(process.execPath, [join(REPO_ROOT, 'test', 'mesos-framework-lib.cjs'), '127.0.0.1', String(master.port), '2'], {
    cwd,
    env: { ...process.env, NODE_PATH: join(REPO_ROOT, 'node_modules') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  const lines: string[] = [];
  let stderr = '';
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts.filter((l) => l.startsWith('EVENT ')));
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const events = (type: string): unknown[] => lines.filter((l) => l.startsWith(`EVENT ${type} `)).map((l) => JSON.parse(l.slice(`EVENT ${type} `.length)) as unknown);

  await waitFor(() => events('subscribed').length > 0, { what: `the library to subscribe; stderr: ${stderr}` });
  const finished = await waitFor(
    () => new Set((events('update') as Update[]).filter((u) => u.status.state === 'TASK_FINISHED').map((u) => u.status.task_id.value)),
    { what: 'both of its tasks to finish', until: (s) => s.size === 2, timeoutMs: 60_000 },
  );
  for (const id of finished) assert.match(id, /^mesos-framework-lib\.hello-\d\./);
  assert.deepEqual(events('error'), [], 'the library met no error');
  // It acknowledged every update: the master keeps none of its tasks.
  const list = await waitFor(async () => ((await (await fetch(`${master.url}/api/v1/frameworks`)).json()) as { frameworks: { name: string; tasks: number; connected: boolean }[] }).frameworks, {
    what: 'the library framework with every update acknowledged',
    until: (fs) => fs.some((f) => f.name === 'mesos-framework-lib' && f.connected && f.tasks === 0),
  });
  assert.equal(list.length, 2);
});
