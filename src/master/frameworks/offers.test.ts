// The offer cycle with the built-in framework on a real event log (SQLite in a temp dir), the agent
// links stubbed: an agent re-offered with the same resources keeps its offer id, so the framework's
// placements name offers the master still holds, and none is refused. Each agent fits one task, so
// every round places on agents the framework's slot cache has not looked at since its first pass:
// had their offers been made again under new ids, the cache would name the old ones.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseResourceFlag, validateJobSpec, type Resources } from '../../core/index.js';
import { silentLogger } from '../../log/index.js';
import { EventLog } from '../eventlog.js';
import { MusterFramework } from '../jobs/framework.js';
import { DEFAULT_SCHEDULING_OPTIONS } from '../options.js';
import type { Event } from '../state/index.js';
import { SqliteStore } from '../store/index.js';
import { OfferBook } from './book.js';
import { OfferCycle } from './offers.js';
import type { ExternalOffers } from './types.js';

function res(text: string): Resources {
  return { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [], ...parseResourceFlag(text) };
}

const job = (key: string, instances: number): Event => ({
  type: 'JobCreated',
  at: 1,
  spec: validateJobSpec({ job: key, instances, resources: { cpus: 0.1, mem: 16 }, processes: [{ name: 'main', cmd: 'sleep 1000' }] }),
});

void test('offers re-made for every agent keep their ids where nothing changed, so no placement is refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'muster-offers-'));
  const store = new SqliteStore(join(dir, 'db'));
  const log = await EventLog.open(store, { snapshotEvery: 100_000, logger: silentLogger });
  let sent = 0;
  const links = {
    send: () => {
      sent++;
      return true;
    },
    launch: () => {
      sent++;
    },
    isOfferable: () => true,
    busyPortsOf: () => undefined,
    slackOf: () => ({ cpusMilli: 0, memMiB: 0 }),
    hasUsage: () => false,
  };
  const framework = new MusterFramework(log, links, { logger: silentLogger, scheduling: DEFAULT_SCHEDULING_OPTIONS });
  const cycle = new OfferCycle(log, links, [framework], { masterId: 'm', logger: silentLogger, book: new OfferBook() });
  const off = log.onAppended(() => cycle.kick());
  try {
    const agents: Event[] = Array.from({ length: 40 }, (_, i) => ({
      type: 'AgentRegistered',
      at: 0,
      agent: { agentId: `a${i}`, hostname: `h${i}`, address: '10.0.0.1', port: 5051, resources: res('cpus:0.1;mem:64'), attributes: {}, version: 't' },
    }));
    await log.submit(() => ({ events: [...agents, job('web/prod/one', 10)], result: undefined }));
    const placed = async (n: number): Promise<void> => {
      for (let i = 0; i < 200 && sent < n; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(sent, n, `${n} LAUNCHes sent`);
    };
    await placed(10);
    // Every agent is allocated again (as once a second, or when an agent connects), then more work comes.
    for (let round = 0; round < 3; round++) {
      await log.submit(() => ({ events: [job(`web/prod/more${round}`, 10)], result: undefined }));
      // In the same turn as the append's kick: the pass that places the job re-offers every agent.
      cycle.agentChanged();
      await placed(20 + round * 10);
    }
    assert.equal(cycle.stats.refused, 0, 'no launch named an offer the master had replaced');
  } finally {
    off();
    cycle.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

void test('a role below its quota guarantee gets offers rescinded from a framework of a role that holds every agent', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'muster-offers-'));
  const store = new SqliteStore(join(dir, 'db'));
  const log = await EventLog.open(store, { snapshotEvery: 100_000, logger: silentLogger });
  const links = { send: () => true, launch: () => undefined, isOfferable: () => true, busyPortsOf: () => undefined };
  const book = new OfferBook();
  // Two external frameworks as the cycle sees them: "greedy" (role batch) connected first and
  // sitting on its offers, "analytics" (role analytics, quota 6 cpus) connecting later.
  const connected: string[] = ['greedy'];
  const roles: Record<string, string> = { greedy: 'batch', analytics: 'analytics' };
  const offered = new Map<string, string[]>();
  const rescinded: string[] = [];
  const external: ExternalOffers = {
    candidates: () => connected.map((id) => ({ frameworkId: id, role: roles[id] as string, allocated: book.offeredResources(id), suppressed: false, declined: new Map() })),
    offer: (offers) => {
      for (const o of offers) offered.set(o.frameworkId, [...(offered.get(o.frameworkId) ?? []), o.agentId]);
    },
    rescinded: (offers) => rescinded.push(...offers.map((o) => o.offerId)),
  };
  const cycle = new OfferCycle(log, links, [], { masterId: 'm', logger: silentLogger, book, external });
  try {
    const agents: Event[] = Array.from({ length: 5 }, (_, i) => ({
      type: 'AgentRegistered',
      at: 0,
      agent: { agentId: `a${i}`, hostname: `h${i}`, address: '10.0.0.1', port: 5051, resources: res('cpus:4;mem:4096'), attributes: {}, version: 't' },
    }));
    await log.submit(() => ({ events: [...agents, { type: 'QuotaSet', at: 0, role: 'analytics', quota: { cpusMilli: 6000 } }], result: undefined }));
    const settle = async (ok: () => boolean): Promise<void> => {
      for (let i = 0; i < 300 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
    };
    cycle.kick();
    await settle(() => (offered.get('greedy') ?? []).length === 5);
    assert.equal(book.outstanding('greedy').length, 5, 'the only framework connected is offered every agent');
    connected.push('analytics');
    // The next pass over every agent (as once a second) finds the guarantee unmet and nothing free.
    cycle.agentChanged();
    cycle.kick();
    await settle(() => (offered.get('analytics') ?? []).length >= 2);
    assert.equal(rescinded.length, 2, 'two 4-cpu offers cover a 6-cpu shortfall; no more are taken');
    assert.equal(book.outstanding('greedy').length, 3);
    assert.deepEqual(book.outstanding('analytics').length, 2, 'the rescinded agents go to the role below its guarantee');
    assert.equal(cycle.stats.rescinded, 2);
    // Once the guarantee is met, nothing more is rescinded.
    cycle.agentChanged();
    cycle.kick();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(rescinded.length, 2);
  } finally {
    cycle.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
