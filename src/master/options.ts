// MasterOptions are the flags of `muster master` (and the master half of `muster dev`).

import type { Logger } from '../log/index.js';
import type { ScoreWeights } from '../scheduler/index.js';

export interface MasterOptions {
  /** Port for the REST API, the agent link, the status page and /metrics; 0 picks a free one. */
  port: number;
  /** Address to listen on. */
  host: string;
  /** "sqlite:PATH" (default ./.muster/master.db), or "etcd://HOST:PORT,…/PREFIX" for HA masters. */
  store: string;
  /** HA masters (etcd store): the leader's lease TTL in whole seconds (default 2). */
  leaderTtlSecs?: number;
  /** HA masters: the URL other masters redirect clients and agents to (default http://HOST:PORT, https:// with tls). */
  advertiseUrl?: string;
  /** An agent silent this long is marked unreachable and its tasks are placed elsewhere. */
  agentTimeoutSecs: number;
  /** An offer to an external framework left unanswered this long is rescinded (default: never, as Mesos). */
  offerTimeoutSecs?: number;
  /** How often each agent reports what it holds, for the master to find and heal any divergence (default 30). */
  reconcileIntervalSecs?: number;
  /** Ended jobs and updates are kept this long, then pruned (default 86400). */
  jobRetentionSecs?: number;
  /** Interval of heartbeats the master sends on each agent stream (and asks agents to send). */
  heartbeatSecs: number;
  /** A snapshot is taken every this many events, and the log is truncated behind it. */
  snapshotEvery: number;
  /** How many of the latest events are kept in memory for event streams that resume (default 4096). */
  recentEvents?: number;
  /** How placement weighs best fit, spread and GPU packing (default fit=1,spread=2,gpu=1). */
  scoreWeights?: ScoreWeights;
  /** Relaxed randomization: stop after this many feasible agents per task class; 0 looks at all (default 64). */
  sampleSize?: number;
  /** At most this many tasks preempted per minute, as a token bucket; 0 turns preemption off (default 30). */
  preemptionsPerMinute?: number;
  /** DRF weight of each role (default 1): a role of weight 2 is entitled to twice the share. */
  roleWeights?: Readonly<Record<string, number>>;
  /** At most this many pending tasks are placed per pass, the most important first (default 10,000). */
  maxTasksPerPass?: number;
  /**
   * Authenticate and authorize every call (tokens and policies; `muster master` turns it on unless
   * --insecure-no-auth). Off: the master runs open, every call may do everything, and it says so.
   */
  auth?: boolean;
  /** Host names (besides loopback names and IP literals) a master running open answers to: the rest is a rebound name. */
  allowedHosts?: readonly string[];
  /**
   * The DNS server's port, UDP and TCP, on --host (`muster master` and `muster dev` default 8053; 0
   * picks a free one); absent: no DNS server.
   */
  dnsPort?: number;
  /** The domain the DNS server answers for (default "muster"). */
  dnsDomain?: string;
  /** The TTL of its answers in seconds (default 5). */
  dnsTtlSecs?: number;
  /** Resolvers ("ip" or "ip:port") names outside the domain are forwarded to; none: they are REFUSED. */
  dnsForward?: string[];
  /** Cron schedules may not fire more often than this (--cron-min-interval, default 10). */
  cronMinIntervalSecs?: number;
  /** The zone of cron jobs that name none (--cron-timezone, default UTC). */
  cronTimezone?: string;
  /** Host directories docker jobs may mount as volumes (--docker-volumes); a job with another is refused. Default none. */
  dockerVolumes?: readonly string[];
  /**
   * Serve the whole API over HTTPS with this certificate and key (PEM text); the URL the master
   * advertises becomes https://. With clientCa, clients are asked for a certificate: one signed by
   * that CA is accepted, one that is not is refused (401), none is fine (tokens are the identity).
   */
  tls?: { cert: string; key: string; clientCa?: string };
  /** The CA (PEM text) the master trusts on its calls to agents that serve HTTPS (default: the system's CAs). */
  agentCa?: string;
  /** Called once with the bootstrap token's secret when a cell with authentication starts with no token. */
  onBootstrapToken?: (secret: string) => void;
  logger?: Logger;
}

/** SchedulingOptions is what the job scheduler's pass takes from MasterOptions, defaults filled in. */
export interface SchedulingOptions {
  readonly scoreWeights: ScoreWeights;
  readonly sampleSize: number;
  readonly preemptionsPerMinute: number;
  readonly roleWeights: ReadonlyMap<string, number>;
  readonly maxTasksPerPass: number;
}

export const DEFAULT_SCHEDULING_OPTIONS: SchedulingOptions = Object.freeze({
  scoreWeights: Object.freeze({ fit: 1, spread: 2, gpu: 1 }),
  sampleSize: 64,
  preemptionsPerMinute: 30,
  roleWeights: new Map<string, number>(),
  maxTasksPerPass: 10_000,
});

/** Bounds of the scheduling options, so that a typo cannot make one pass unbounded. */
export const SCHEDULING_LIMITS = Object.freeze({ weight: 1000, sampleSize: 100_000, preemptionsPerMinute: 100_000, maxTasksPerPass: 1_000_000, roles: 10_000 });

/** schedulingOptionsOf fills in the defaults; startMaster validates the values first. */
export function schedulingOptionsOf(opts: MasterOptions): SchedulingOptions {
  const d = DEFAULT_SCHEDULING_OPTIONS;
  return {
    scoreWeights: opts.scoreWeights ?? d.scoreWeights,
    sampleSize: opts.sampleSize ?? d.sampleSize,
    preemptionsPerMinute: opts.preemptionsPerMinute ?? d.preemptionsPerMinute,
    roleWeights: new Map(Object.entries(opts.roleWeights ?? {})),
    maxTasksPerPass: opts.maxTasksPerPass ?? d.maxTasksPerPass,
  };
}

export const DEFAULT_MASTER_OPTIONS: MasterOptions = {
  port: 5050,
  host: '127.0.0.1',
  store: 'sqlite:.muster/master.db',
  agentTimeoutSecs: 10,
  heartbeatSecs: 2,
  snapshotEvery: 10_000,
  scoreWeights: Object.freeze({ fit: 1, spread: 2, gpu: 1 }),
  sampleSize: 64,
  preemptionsPerMinute: 30,
};

/** MasterHandle is a running master. */
export interface MasterHandle {
  readonly url: string;
  readonly port: number;
  /** The DNS server's port, when it runs one. */
  readonly dnsPort?: number;
  /** Stops serving, closes agent streams and the store. Tasks on agents keep running. */
  close(): Promise<void>;
}
