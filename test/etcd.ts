// A real etcd cluster for tests: 1, 3 or 5 members of Debian's etcd-server on loopback ports, each
// with its data in a temp dir, stopped and removed when the test ends. Members can be killed,
// paused (SIGSTOP) and started again to test failover and fencing.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort, testTmpDir, tailOf } from './harness.js';
import { hasBinary, requireOrSkip } from './require.js';
import { waitFor } from './wait.js';

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The running process, if started. */
  process: ChildProcess | undefined;
  /** start (again) on the same data dir and ports. */
  start(): void;
  /** kill sends SIGKILL and waits for the exit. */
  kill(): Promise<void>;
  pause(): void;
  resume(): void;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Client URLs of every member, e.g. ["http://127.0.0.1:23790", …]. */
  readonly endpoints: readonly string[];
  /** The store URL for `muster master --store`: etcd://127.0.0.1:P1,127.0.0.1:P2,…/prefix. */
  storeUrl(prefix: string): string;
  /** stop kills every member (the test's after hook does it too). */
  stop(): Promise<void>;
}

/** hasEtcd: the etcd binary is on PATH (Debian's etcd-server). */
export function hasEtcd(): boolean {
  return hasBinary('etcd');
}

/**
 * startEtcd starts an n-member cluster and waits until every member answers /health. Returns
 * undefined when the test was skipped for want of etcd (the caller returns at once).
 */
export async function startEtcd(t: TestContext, n: 1 | 3 | 5 = 1): Promise<EtcdCluster | undefined> {
  if (!requireOrSkip(t, hasEtcd(), 'needs etcd on PATH (apt-get install etcd-server)')) return undefined;
  const root = mkdtempSync(join(testTmpDir(), 'muster-etcd-'));
  const specs: { name: string; client: number; peer: number }[] = [];
  for (let i = 0; i < n; i++) specs.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',');
  const clusterToken = `muster-test-${process.pid}-${specs[0]?.client ?? 0}`;

  const members: EtcdMember[] = specs.map((s) => {
    const dataDir = join(root, s.name);
    const logFile = join(root, `${s.name}.log`);
    const clientUrl = `http://127.0.0.1:${s.client}`;
    const peerUrl = `http://127.0.0.1:${s.peer}`;
    let state: 'new' | 'existing' = 'new';
    const member: EtcdMember = {
      name: s.name,
      clientUrl,
      peerUrl,
      dataDir,
      logFile,
      process: undefined,
      start() {
        const fd = openSync(logFile, 'a');
        const child = spawn(
          'etcd',
          [
            '--name', s.name,
            '--data-dir', dataDir,
            '--listen-client-urls', clientUrl,
            '--advertise-client-urls', clientUrl,
            '--listen-peer-urls', peerUrl,
            '--initial-advertise-peer-urls', peerUrl,
            '--initial-cluster', initialCluster,
            '--initial-cluster-token', clusterToken,
            '--initial-cluster-state', state,
            // Loopback: elections in well under a second, as a test wants.
            '--heartbeat-interval', '50',
            '--election-timeout', '500',
            '--log-level', 'warn',
          ],
          { stdio: ['ignore', fd, fd] },
        );
        closeSync(fd);
        state = 'existing';
        member.process = child;
      },
      async kill() {
        const child = member.process;
        member.process = undefined;
        if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        });
      },
      pause() {
        member.process?.kill('SIGSTOP');
      },
      resume() {
        member.process?.kill('SIGCONT');
      },
    };
    return member;
  });

  const stop = async (): Promise<void> => {
    for (const m of members) {
      m.resume();
      await m.kill();
    }
  };
  t.after(async () => {
    await stop();
    rmSync(root, { recursive: true, force: true });
  });

  for (const m of members) m.start();
  for (const m of members) {
    await waitFor(
      async () => {
        try {
          const res = await fetch(`${m.clientUrl}/health`);
          return res.ok;
        } catch {
          return false;
        }
      },
      { what: `etcd member ${m.name} to be healthy (log: ${tailOf(m.logFile, 20)})`, timeoutMs: 20_000, intervalMs: 100 },
    );
  }
  const endpoints = members.map((m) => m.clientUrl);
  assert.equal(endpoints.length, n);
  return {
    members,
    endpoints,
    storeUrl: (prefix: string) => `etcd://${members.map((m) => m.clientUrl.replace('http://', '')).join(',')}/${prefix.replace(/^\//, '')}`,
    stop,
  };
}
