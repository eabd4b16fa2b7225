// Network partitions for drills: a network namespace joined to the host by a veth pair, in which an
// agent runs (cell(t).startAgent(master, { netns })). cut() takes the host's end of the pair down:
// from then on nothing passes either way and nobody is told, as when a switch dies (the agent's
// packets vanish; the host's, which would otherwise follow the default route out of the machine,
// hit a blackhole route). heal() brings it up again. The namespace, its veth pair and its route
// are removed when the test ends, after every process inside has been killed, pass or fail.
//
//   const why = netnsProblem();
//   if (!requireOrSkip(t, why === undefined, `needs network namespaces, and here ${why}`)) return;
//   const ns = Netns.create(t);
//   const master = await c.startMaster({ host: '0.0.0.0' });
//   const agent = await c.startAgent(master, { netns: ns });
//   ns.cut(); ...; ns.heal();
//
// Processes enter the namespace with `nsenter --net=/run/netns/NAME`, not `ip netns exec NAME`: the
// latter also unmounts /sys and mounts a fresh sysfs for the namespace, which hides the cgroup
// hierarchies below /sys/fs/cgroup, and the agent would then run its tasks without cgroups, unlike
// every other agent of the test. nsenter changes the network namespace only, and execs the
// command, so the pid the harness holds is the agent's own.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { killQuietly } from './proc.js';
import { hasBinary, isRoot } from './require.js';

/** NETNS_DIR is where `ip netns add` mounts a named namespace, for nsenter --net=. */
const NETNS_DIR = '/run/netns';

/** Addresses come from 10.213.0.0/16, one /30 per namespace: .1 the host's end, .2 the inside. */
const SUBNET_PREFIX = '10.213';
const SLOTS = 16_384;

/** The blackhole route stays under the veth's own route (metric 0) while the link is up. */
const BLACKHOLE_METRIC = 4000;

/** How many times teardown looks for processes left in the namespace (supervisors may fork meanwhile). */
const KILL_ROUNDS = 20;

let created = 0;

/** ip runs `ip ARGS` and returns its stdout; a failure throws with its stderr. */
function ip(...args: string[]): string {
  const result = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (result.error !== undefined) throw new Error(`ip ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`ip ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** ipQuietly runs `ip ARGS` for cleanup: a failure (the thing is gone already) is no error. */
function ipQuietly(...args: string[]): void {
  spawnSync('ip', args, { stdio: 'ignore', timeout: 10_000 });
}

/** pidsIn lists the processes in a named namespace (`ip netns pids`), none when it is gone. */
function pidsIn(name: string): number[] {
  const result = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8', timeout: 10_000 });
  if (result.status !== 0) return [];
  return result.stdout
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 1 && n !== process.pid);
}

/** isProcessAlive tells whether a pid names a process (of any state). */
function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** namesOf are the names of the n-th namespace of a test process: interface names must fit 15 bytes. */
function namesOf(pid: number, n: number): { name: string; hostVeth: string; insideVeth: string } {
  const name = `mst${pid}x${n}`;
  return { name, hostVeth: `${name}h`, insideVeth: `${name}i` };
}

/** slotAddresses: the /30 of a slot, and its two usable addresses. */
function slotAddresses(slot: number): { prefix: string; host: string; inside: string } {
  const third = slot >> 6;
  const base = (slot & 63) * 4;
  return {
    prefix: `${SUBNET_PREFIX}.${third}.${base}/30`,
    host: `${SUBNET_PREFIX}.${third}.${base + 1}`,
    inside: `${SUBNET_PREFIX}.${third}.${base + 2}`,
  };
}

/** slotTaken tells whether some interface or route of the host already uses the /30. */
function slotTaken(slot: number): boolean {
  const { prefix, host, inside } = slotAddresses(slot);
  const addresses = ip('-4', '-o', 'addr', 'show');
  if (addresses.includes(` ${host}/`) || addresses.includes(` ${inside}/`)) return true;
  // Any route for exactly this /30 (a veth's, or the blackhole of another test's namespace).
  return ip('-4', 'route', 'show', 'table', 'all').split('\n').some((line) => line.split(/\s+/).includes(prefix));
}

/**
 * sweepStale removes the namespaces (and their veth pairs and routes) left by test processes that
 * died without a teardown (SIGKILL of the runner): their names carry the dead process's pid.
 */
function sweepStale(): void {
  if (!existsSync(NETNS_DIR)) return;
  for (const name of readdirSync(NETNS_DIR)) {
    const m = /^mst(\d+)x(\d+)$/.exec(name);
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isProcessAlive(pid)) continue;
    for (const p of pidsIn(name)) killQuietly(p);
    const hostVeth = `${name}h`;
    const addr = /inet (\d+\.\d+\.\d+\.\d+)\/30/.exec(spawnSync('ip', ['-4', '-o', 'addr', 'show', 'dev', hostVeth], { encoding: 'utf8' }).stdout ?? '');
    if (addr?.[1] !== undefined) {
      const octets = addr[1].split('.').map(Number);
      const network = `${octets[0]}.${octets[1]}.${octets[2]}.${(octets[3] ?? 1) - 1}/30`;
      ipQuietly('route', 'del', 'blackhole', network, 'metric', String(BLACKHOLE_METRIC));
    }
    ipQuietly('link', 'del', hostVeth);
    ipQuietly('netns', 'del', name);
  }
}

let problem: string | undefined | null = null;

/**
 * netnsProblem says why this machine cannot run an agent in a network namespace (not root, no `ip`
 * or `nsenter`, or the kernel or container refuses namespaces or veth pairs), or undefined when it
 * can. It tries once, by making and removing a namespace with a veth pair, and remembers.
 *
 *   const why = netnsProblem();
 *   if (!requireOrSkip(t, why === undefined, `needs network namespaces, and here ${why}`)) return;
 */
export function netnsProblem(): string | undefined {
  if (problem !== null) return problem;
  problem = findProblem();
  return problem;
}

function findProblem(): string | undefined {
  if (process.platform !== 'linux') return 'this is not Linux';
  if (!isRoot()) return 'the tests do not run as root';
  if (!hasBinary('ip')) return 'ip (iproute2) is not on PATH';
  if (!hasBinary('nsenter')) return 'nsenter (util-linux) is not on PATH';
  const name = `mst${process.pid}p`;
  try {
    ip('netns', 'add', name);
    ip('link', 'add', `${name}h`, 'type', 'veth', 'peer', 'name', `${name}i`);
    ip('link', 'set', `${name}i`, 'netns', name);
    ip('-n', name, 'link', 'set', 'lo', 'up');
    return undefined;
  } catch (e) {
    return `a network namespace with a veth pair cannot be made here: ${(e as Error).message}`;
  } finally {
    ipQuietly('link', 'del', `${name}h`);
    ipQuietly('netns', 'del', name);
  }
}

/**
 * Netns is a network namespace with a veth pair to the host: hostAddress on the host's end,
 * insideAddress inside, in a /30 of their own; lo is up inside too. A daemon started with
 * `command` in front of its own command line runs inside.
 */
export class Netns {
  readonly name: string;
  /** The host's end of the veth pair: cut() takes it down. */
  readonly hostVeth: string;
  readonly insideVeth: string;
  /** The host's address on the pair: what a process inside reaches the host (a master on 0.0.0.0) at. */
  readonly hostAddress: string;
  /** The address inside: what the host reaches a daemon inside at (its --host and advertised address). */
  readonly insideAddress: string;
  private readonly prefix: string;
  private isCut = false;
  private destroyed = false;

  private constructor(options: { name: string; hostVeth: string; insideVeth: string; prefix: string; hostAddress: string; insideAddress: string }) {
    this.name = options.name;
    this.hostVeth = options.hostVeth;
    this.insideVeth = options.insideVeth;
    this.prefix = options.prefix;
    this.hostAddress = options.hostAddress;
    this.insideAddress = options.insideAddress;
  }

  /**
   * create makes the namespace and its veth pair, both ends and lo up, and registers destroy() to
   * run when the test ends. Call netnsProblem() first: on a machine that cannot, this throws.
   */
  static create(t: TestContext): Netns {
    sweepStale();
    const n = created++;
    const names = namesOf(process.pid, n);
    let slot = (process.pid * 31 + n * 7) % SLOTS;
    for (let tries = 0; slotTaken(slot); tries++) {
      if (tries >= 64) throw new Error(`no free /30 in ${SUBNET_PREFIX}.0.0/16 for a test namespace after 64 tries`);
      slot = (slot + 1) % SLOTS;
    }
    const { prefix, host, inside } = slotAddresses(slot);
    const ns = new Netns({ ...names, prefix, hostAddress: host, insideAddress: inside });
    // Registered before anything is made, so that a failure half-way is cleaned up too.
    t.after(() => ns.destroy());
    ip('netns', 'add', ns.name);
    ip('link', 'add', ns.hostVeth, 'type', 'veth', 'peer', 'name', ns.insideVeth);
    ip('link', 'set', ns.insideVeth, 'netns', ns.name);
    ip('addr', 'add', `${host}/30`, 'dev', ns.hostVeth);
    // While the host's end is down its route goes, and packets for the inside address would follow
    // the default route off the machine: this route drops them instead, as a dead link does.
    ip('route', 'add', 'blackhole', prefix, 'metric', String(BLACKHOLE_METRIC));
    ip('link', 'set', ns.hostVeth, 'up');
    ip('-n', ns.name, 'addr', 'add', `${inside}/30`, 'dev', ns.insideVeth);
    ip('-n', ns.name, 'link', 'set', ns.insideVeth, 'up');
    ip('-n', ns.name, 'link', 'set', 'lo', 'up');
    return ns;
  }

  /** command runs what follows it inside the namespace (and only its network there). */
  get command(): string[] {
    return ['nsenter', `--net=${NETNS_DIR}/${this.name}`];
  }

  /** cut partitions the namespace from the host: nothing passes either way until heal(). */
  cut(): void {
    ip('link', 'set', this.hostVeth, 'down');
    this.isCut = true;
  }

  /** heal joins the namespace to the host again; the veth's route comes back with the link. */
  heal(): void {
    ip('link', 'set', this.hostVeth, 'up');
    this.isCut = false;
  }

  get partitioned(): boolean {
    return this.isCut;
  }

  /** pids lists the processes inside the namespace now. */
  pids(): number[] {
    return pidsIn(this.name);
  }

  /**
   * destroy kills every process inside (the agent, its supervisors and tasks) and removes the veth
   * pair, the blackhole route and the namespace. It never throws: a test's cleanup must not hide
   * its result. A second call does nothing.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (let round = 0; round < KILL_ROUNDS; round++) {
      const pids = this.pids();
      if (pids.length === 0) break;
      for (const pid of pids) killQuietly(pid);
      await sleep(100);
    }
    const left = this.pids();
    if (left.length > 0) console.error(`network namespace ${this.name}: processes ${left.join(' ')} survived SIGKILL; removing the namespace anyway`);
    ipQuietly('link', 'del', this.hostVeth);
    ipQuietly('route', 'del', 'blackhole', this.prefix, 'metric', String(BLACKHOLE_METRIC));
    ipQuietly('netns', 'del', this.name);
  }
}
