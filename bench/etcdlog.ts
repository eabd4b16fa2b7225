// etcdlog: what keeping the master's log in etcd (issue #5, HA masters) costs beside SQLite. Events
// of about 200 bytes, the size of a task transition, appended straight through Store.append in
// batches of 1, 10, 100 and 1,000: to a 1-member etcd, to a 3-member one (every append is a Raft
// commit, a round to a quorum and an fsync on each member), and to a SqliteStore in a temp dir.
//
// Store.append, not EventLog.submit: the figures are the store's, so that the three compare on the
// same work. Every member of an etcd runs on this machine and fsyncs to the same disk as SQLite.

import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TestContext } from 'node:test';
import { EtcdStore, SqliteStore, type Store } from '../src/master/store/index.js';
import type { Event } from '../src/master/state/index.js';
import { startEtcd, type EtcdCluster } from '../test/etcd.js';
import { testTmpDir } from '../test/harness.js';
import { filesystemOf, printTable } from './report.js';
import { percentile, round } from './stats.js';

const BATCH_SIZES = [1, 10, 100, 1000] as const;
/** Measured time per phase: enough batches for a stable rate without a long run on a slow disk. */
const PHASE_MS = 2000;
const MIN_BATCHES = 5;
const MAX_EVENTS_PER_PHASE = 100_000;

/** event n is about 200 bytes of JSON, as in the EtcdStore tests: a typical task transition. */
const event = (n: number): Event => ({ type: 'AgentUnreachable', at: n, agentId: `a${n}`, message: `task ${n} `.padEnd(140, 'x') });

interface PhaseFigures {
  store: string;
  eventsPerBatch: number;
  events: number;
  batches: number;
  seconds: number;
  eventsPerSec: number;
  batchP50Ms: number;
  batchP99Ms: number;
}

/**
 * BenchContext stands in for the node:test context that startEtcd takes for its cleanups and its
 * skip: a benchmark has no test, so it runs the cleanups itself and a skip becomes an error.
 */
export interface BenchContext {
  readonly context: TestContext;
  cleanup(): Promise<void>;
}

export function benchContext(): BenchContext {
  const cleanups: (() => unknown)[] = [];
  const context = {
    after: (fn: () => unknown) => cleanups.push(fn),
    skip: (reason?: string) => {
      throw new Error(`cannot run: ${reason ?? 'a requirement is missing'}`);
    },
  } as unknown as TestContext;
  return {
    context,
    cleanup: async () => {
      for (const fn of cleanups.reverse()) await fn();
    },
  };
}

/** startCluster starts an n-member etcd, failing (rather than skipping) when etcd is missing. */
export async function startCluster(ctx: BenchContext, n: 1 | 3): Promise<EtcdCluster> {
  const cluster = await startEtcd(ctx.context, n);
  if (cluster === undefined) throw new Error('etcd did not start');
  return cluster;
}

/** phase appends batches of size events until PHASE_MS of measured time; next is the next index. */
async function phase(store: Store, name: string, size: number, next: { index: number }): Promise<PhaseFigures> {
  const latencies: number[] = [];
  let measured = 0;
  let events = 0;
  while ((measured < PHASE_MS || latencies.length < MIN_BATCHES) && events + size <= MAX_EVENTS_PER_PHASE) {
    const first = next.index;
    // Made before the clock starts: the figure is the store's cost, not the generator's.
    const batch = Array.from({ length: size }, (_, i) => event(first + i));
    const t0 = performance.now();
    await store.append(first, batch);
    const ms = performance.now() - t0;
    next.index += size;
    latencies.push(ms);
    measured += ms;
    events += size;
  }
  const seconds = measured / 1000;
  return {
    store: name,
    eventsPerBatch: size,
    events,
    batches: latencies.length,
    seconds: round(seconds),
    eventsPerSec: Math.round(events / seconds),
    batchP50Ms: round(percentile(latencies, 50)),
    batchP99Ms: round(percentile(latencies, 99)),
  };
}

/** phases runs every batch size on one store, after a few untimed appends to warm it up. */
async function phases(store: Store, name: string): Promise<PhaseFigures[]> {
  const next = { index: 1 };
  for (let i = 0; i < 20; i++) {
    await store.append(next.index, [event(next.index)]);
    next.index++;
  }
  const out: PhaseFigures[] = [];
  for (const size of BATCH_SIZES) out.push(await phase(store, name, size, next));
  return out;
}

export async function runEtcdLogBench(): Promise<Record<string, unknown>> {
  // Where startEtcd puts its members' data, so that SQLite and etcd fsync to the same disk.
  const dir = await mkdtemp(join(testTmpDir(), 'muster-bench-etcdlog-'));
  const results: PhaseFigures[] = [];
  try {
    const sqlite = new SqliteStore(join(dir, 'master.db'));
    try {
      results.push(...(await phases(sqlite, 'sqlite')));
    } finally {
      await sqlite.close();
    }
    for (const n of [1, 3] as const) {
      const ctx = benchContext();
      try {
        const cluster = await startCluster(ctx, n);
        const store = new EtcdStore({ endpoints: cluster.endpoints, prefix: `bench/etcdlog/${process.pid}` });
        try {
          results.push(...(await phases(store, `etcd ×${n}`)));
        } finally {
          await store.close();
        }
      } finally {
        await ctx.cleanup();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const fs = filesystemOf(dir);
  printTable(
    `Store.append of ~200-byte events (SQLite WAL synchronous=FULL; etcd members on loopback, all on ${fs})`,
    ['store', 'events/batch', 'events', 'batches', 'events/s', 'p50 ms', 'p99 ms'],
    results.map((p) => [p.store, p.eventsPerBatch, p.events, p.batches, p.eventsPerSec, p.batchP50Ms, p.batchP99Ms]),
  );
  return { eventBytes: Buffer.byteLength(JSON.stringify(event(1))), filesystem: fs, append: results };
}
