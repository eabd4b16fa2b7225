// The muster command people run is package.json's bin.muster: the bundle `npm run build` writes
// (scripts/bundle-cli.mjs), not the separate modules the other tests spawn. These tests run it:
// a client command loads nothing it does not need, and the daemons it starts from their own
// chunks (master, agent) make a working cell that the same entry point drives.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { MusterClient } from '../src/client/index.js';
import { VERSION } from '../src/core/index.js';
import { cell, freePort, REPO_ROOT, waitFor } from './harness.js';
import { serviceConfig, yamlOf } from './jobconfig.js';
import { killQuietly } from './proc.js';

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: { muster: string } };
const BIN = join(REPO_ROOT, pkg.bin.muster);

/** run runs the bin to its end. */
function run(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** staticImports lists what a bundle file imports before it runs: its chunks, recursively, and the packages. */
function staticImports(file: string, seen = new Set<string>()): Set<string> {
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s*"([^"]+)"|^import\s*"([^"]+)"/gms)) {
    const spec = m[1] ?? m[2] ?? '';
    if (spec.startsWith('.')) {
      const path = join(dirname(file), spec);
      if (!seen.has(path)) {
        seen.add(path);
        staticImports(path, seen);
      }
    } else seen.add(spec);
  }
  return seen;
}

test("package.json's bin.muster is an executable bundle that loads only node's own modules before a command runs", () => {
  accessSync(BIN, constants.X_OK);
  assert.match(readFileSync(BIN, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  const packages = [...staticImports(BIN)].filter((s) => !s.startsWith('/') && !s.startsWith('node:'));
  assert.deepEqual(packages, [], 'zod, yaml, better-sqlite3 and etcd3 are for the daemons, imported when one starts');
  const version = run(['--version']);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout, `${VERSION}\n`);
});

test('the bin runs a master and an agent and drives them: create --wait, list, status, kill', async (t) => {
  const daemons: ChildProcess[] = [];
  // Registered before the cell's teardown, so that the daemons stop before it sweeps their tasks.
  t.after(() => {
    for (const d of daemons) if (d.pid !== undefined) killQuietly(-d.pid);
  });
  const c = cell(t);
  const start = (name: string, args: string[]): void => {
    const log = openSync(join(c.dir, `${name}.log`), 'a');
    daemons.push(spawn(process.execPath, [BIN, ...args], { cwd: c.dir, stdio: ['ignore', log, log], detached: true }));
  };
  const port = await freePort();
  const master = `http://127.0.0.1:${port}`;
  start('bin-master', ['master', '--port', String(port), '--store', `sqlite:${join(c.dir, 'master.db')}`, '--heartbeat', '1', '--insecure-no-auth', '--dns-port', '0']);
  start('bin-agent', [
    'agent', '--master', master, '--port', String(await freePort()), '--work-dir', join(c.dir, 'agent'),
    '--resources', 'cpus:2;mem:1024;disk:1024;ports:[34000-34099]', '--cgroup-root', `${c.cgroupRoot}/bin-agent`,
  ]);
  const client = new MusterClient({ masters: [master], timeoutMs: 2000 });
  await waitFor(() => client.cell(), {
    what: 'the agent the bin started to connect to the master the bin started',
    until: (view) => view.agents.some((a) => a.state === 'CONNECTED'),
  });

  const key = 'web/prod/bin';
  const file = join(c.dir, 'bin.yaml');
  writeFileSync(file, yamlOf(serviceConfig(key, { instances: 2 })));
  const env = { MUSTER_MASTER: master };
  const created = run(['job', 'create', file, '--wait', '--settle', '1', '--timeout', '60'], env);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stderr, /^web\/prod\/bin: 2\/2 running, up for 1s$/m);

  const list = run(['job', 'list', '--json'], env);
  assert.equal(list.code, 0, list.stderr);
  assert.equal((JSON.parse(list.stdout) as { jobs: { job: string }[] }).jobs[0]?.job, key);

  const status = run(['task', 'status', `${key}/0`], env);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^state +TASK_RUNNING$/m);
  assert.match(status.stdout, /^launched +\d+[smhd] ago$/m);

  const killed = run(['job', 'kill', key], env);
  assert.equal(killed.code, 0, killed.stderr);
  assert.match(killed.stdout, /asked the master to kill web\/prod\/bin instances 0-1/);
});
