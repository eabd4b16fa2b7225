// LeaderElection against a real etcd (test/etcd.ts): who wins, handover on resign and on death,
// growing epochs, an etcd member lost, and a leader cut off from etcd stepping down in time.

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdCluster, type EtcdMember } from '../../test/etcd.js';
import { waitFor } from '../../test/wait.js';
import { silentLogger } from '../log/index.js';
import { LeaderElection, type LeaderInfo } from './leader.js';

/** raftLeaderOf asks each member for its status and returns the one that is etcd's own raft leader. */
async function raftLeaderOf(cluster: EtcdCluster): Promise<EtcdMember | undefined> {
  for (const member of cluster.members) {
    const client = new Etcd3({ hosts: member.clientUrl });
    try {
      const status = await client.maintenance.status();
      if (status.header.member_id === status.leader) return member;
    } finally {
      client.close();
    }
  }
  return undefined;
}

/** candidates starts n elections on one prefix; all are closed when the test ends. */
function candidates(t: TestContext, cluster: EtcdCluster, n: number, ttlSecs: number): LeaderElection[] {
  const all: LeaderElection[] = [];
  for (let i = 0; i < n; i++) {
    const e = new LeaderElection({
      endpoints: cluster.endpoints,
      prefix: '/muster-test',
      candidate: { masterId: `master-${i}`, url: `http://127.0.0.1:${5050 + i}` },
      ttlSecs,
      logger: silentLogger,
    });
    e.start();
    all.push(e);
  }
  t.after(async () => {
    for (const e of all) await e.close();
  });
  return all;
}

/** settled waits until exactly one of the live candidates leads and every one of them agrees on it. */
async function settled(live: readonly LeaderElection[], timeoutMs = 15_000): Promise<{ leader: LeaderElection; info: LeaderInfo }> {
  return waitFor(
    () => {
      const leaders = live.filter((e) => e.isLeader());
      const views = live.map((e) => e.leader());
      const leader = leaders[0];
      const view = views[0];
      if (leaders.length !== 1 || leader === undefined || view === undefined) return { leaders: leaders.length, views };
      if (!views.every((v) => v !== undefined && v.masterId === view.masterId && v.epoch === view.epoch)) return { leaders: 1, views };
      if (view.epoch !== leader.epoch()) return { leaders: 1, views };
      return { leader, info: view };
    },
    { what: 'one leader that every candidate sees', timeoutMs, intervalMs: 50, until: (v) => 'leader' in v },
  ) as Promise<{ leader: LeaderElection; info: LeaderInfo }>;
}

test('one of three candidates wins and the others see it as leader()', async (t) => {
  const cluster = await startEtcd(t, 1);
  if (cluster === undefined) return;
  const all = candidates(t, cluster, 3, 2);
  const { leader, info } = await settled(all);
  const i = all.indexOf(leader);
  assert.equal(info.masterId, `master-${i}`);
  assert.equal(info.url, `http://127.0.0.1:${5050 + i}`);
  const fence = leader.fence();
  assert.ok(fence !== undefined);
  assert.equal(fence.key, '/muster-test/leader');
  assert.equal((JSON.parse(fence.value) as { masterId: string }).masterId, `master-${i}`);
  for (const other of all.filter((e) => e !== leader)) {
    assert.equal(other.fence(), undefined);
    assert.equal(other.epoch(), undefined);
  }
  // The fence is the stored value byte for byte: that is what the Store's transactions compare.
  const client = new Etcd3({ hosts: [...cluster.endpoints] });
  try {
    assert.equal(await client.get(fence.key).string(), fence.value);
  } finally {
    client.close();
  }
});

test('close() resigns and hands leadership over at once, long before the lease would end', async (t) => {
  const cluster = await startEtcd(t, 1);
  if (cluster === undefined) return;
  // A 30 s lease: a handover within the wait below can only come from resigning.
  const all = candidates(t, cluster, 3, 30);
  const first = await settled(all);
  const reasons: string[] = [];
  first.leader.onDeposed((r) => reasons.push(r));
  await first.leader.close();
  assert.deepEqual(reasons, ['resigned']);
  assert.equal(first.leader.fence(), undefined);
  const next = await settled(all.filter((e) => e !== first.leader), 10_000);
  assert.ok(next.info.epoch > first.info.epoch, `epoch ${next.info.epoch} > ${first.info.epoch}`);
});

test('a leader that dies without resigning is replaced once its lease runs out', async (t) => {
  const cluster = await startEtcd(t, 1);
  if (cluster === undefined) return;
  const all = candidates(t, cluster, 3, 1);
  const first = await settled(all);
  first.leader.abandon();
  const live = all.filter((e) => e !== first.leader);
  // Until the lease runs out the others still see the dead leader; then one of them takes over.
  const next = await settled(live, 15_000);
  assert.notEqual(next.info.masterId, first.info.masterId);
  assert.ok(next.info.epoch > first.info.epoch, `epoch ${next.info.epoch} > ${first.info.epoch}`);
});

test('epochs strictly increase from one leader to the next', async (t) => {
  const cluster = await startEtcd(t, 1);
  if (cluster === undefined) return;
  const all = candidates(t, cluster, 4, 2);
  let live = [...all];
  const epochs: number[] = [];
  const elected: number[] = [];
  for (const e of all) e.onElected((epoch) => elected.push(epoch));
  for (let round = 0; round < 3; round++) {
    const { leader, info } = await settled(live);
    epochs.push(info.epoch);
    await leader.close();
    live = live.filter((e) => e !== leader);
  }
  epochs.push((await settled(live)).info.epoch);
  for (let i = 1; i < epochs.length; i++) assert.ok(epochs[i]! > epochs[i - 1]!, `epochs ${epochs.join(', ')}`);
  // Every leader saw its own win; a spurious step-down under load may add wins, never reorder them.
  for (const epoch of epochs) assert.ok(elected.includes(epoch), `elected ${elected.join(', ')} lacks ${epoch}`);
  for (let i = 1; i < elected.length; i++) assert.ok(elected[i]! > elected[i - 1]!, `elected ${elected.join(', ')}`);
});

test('with one of three etcd members killed there is still a leader, and handover still works', async (t) => {
  const cluster = await startEtcd(t, 3);
  if (cluster === undefined) return;
  const all = candidates(t, cluster, 3, 2);
  const first = await settled(all);
  // Kill etcd's own raft leader, the harder case: etcd elects a new one while we keep our lease.
  const victim = (await raftLeaderOf(cluster)) ?? cluster.members[0]!;
  await victim.kill();
  const afterKill = await settled(all);
  assert.ok(afterKill.info.epoch >= first.info.epoch);
  await afterKill.leader.close();
  const next = await settled(all.filter((e) => e !== afterKill.leader));
  assert.ok(next.info.epoch > afterKill.info.epoch);
});

test('a leader cut off from etcd steps down before its lease can end, and a leader is elected after etcd returns', async (t) => {
  const cluster = await startEtcd(t, 3);
  if (cluster === undefined) return;
  const ttlSecs = 2;
  const all = candidates(t, cluster, 3, ttlSecs);
  const first = await settled(all);
  // Poll the lease deadline as keepalives renew it; the last value seen before the pause is the
  // earliest moment the lease could end (the true one is as late or later).
  let deadline = first.leader.leaseDeadline();
  const poll = setInterval(() => {
    const d = first.leader.leaseDeadline();
    if (d !== undefined) deadline = d;
  }, 10);
  t.after(() => clearInterval(poll));
  let deposedAt: number | undefined;
  let fenceAtDeposed: unknown = 'unset';
  first.leader.onDeposed(() => {
    deposedAt = performance.now();
    fenceAtDeposed = first.leader.fence();
  });

  for (const m of cluster.members) m.pause();
  const pausedAt = performance.now();
  await waitFor(() => deposedAt, { what: 'the cut-off leader to step down', timeoutMs: ttlSecs * 3000 });
  clearInterval(poll);
  assert.ok(deadline !== undefined);
  assert.ok(deposedAt! < deadline, `deposed ${Math.round(deposedAt! - pausedAt)} ms after the pause, lease deadline ${Math.round(deadline - pausedAt)} ms`);
  assert.equal(fenceAtDeposed, undefined);
  assert.equal(first.leader.fence(), undefined);
  assert.equal(first.leader.isLeader(), false);
  assert.ok(all.every((e) => !e.isLeader()), 'nobody claims to lead while etcd is paused');

  // Keep etcd stopped past the lease, then bring it back: someone (maybe the same master) leads again.
  await new Promise((r) => setTimeout(r, ttlSecs * 1000));
  for (const m of cluster.members) m.resume();
  const next = await settled(all, 30_000);
  assert.ok(next.info.epoch > first.info.epoch);
});

test('a leader whose process stalls past its lease knows it is deposed before anything else runs', async (t) => {
  const cluster = await startEtcd(t, 1);
  if (cluster === undefined) return;
  const ttlSecs = 1;
  const all = candidates(t, cluster, 2, ttlSecs);
  const first = await settled(all);
  // Block the event loop as a SIGSTOP would: no timer, no keepalive answer gets to run meanwhile.
  const until = Date.now() + ttlSecs * 1000 + 500;
  while (Date.now() < until) {
    // busy-wait
  }
  assert.equal(first.leader.fence(), undefined, 'the first call after waking sees the term over');
  assert.equal(first.leader.epoch(), undefined);
  const next = await settled(all);
  assert.ok(next.info.epoch > first.info.epoch);
});

test('the constructor rejects a bad TTL and an empty endpoint list', () => {
  const base = { endpoints: ['http://127.0.0.1:1'], prefix: '/p', candidate: { masterId: 'm', url: 'http://x' }, logger: silentLogger };
  assert.throws(() => new LeaderElection({ ...base, ttlSecs: 0 }), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => new LeaderElection({ ...base, ttlSecs: 1.5 }), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => new LeaderElection({ ...base, endpoints: [] }), { code: 'INVALID_ARGUMENT' });
});
