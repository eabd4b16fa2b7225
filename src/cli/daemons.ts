// `muster master`, `muster agent` and `muster dev`: the long-running processes. Their code is
// imported only when one of them starts, so that `muster job list` does not load the store, the
// HTTP server or the containerizers.

import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { AgentHandle, AgentOptions } from '../agent/index.js';
import { CRON_DEFAULTS, MusterError, isTimeZone, parseVolumeList } from '../core/index.js';
import { createLogger } from '../log/index.js';
import type { MasterHandle, MasterOptions } from '../master/index.js';
import { readPem } from '../tls/index.js';
import { mastersOf } from './context.js';
import type { GlobalOptions } from './context.js';
import { UsageError } from './exitcodes.js';
import * as flags from './flags.js';
import { note } from './output.js';

const DEFAULT_AGENT_PORT = 5051;
const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_AGENT_WORK_DIR = './.muster/agent';
const DEFAULT_DEV_DIR = '.muster';

/** DnsFlags are the DNS server's flags, shared by `muster master` and `muster dev`. */
interface DnsFlags {
  dnsPort?: number;
  dns?: boolean;
  dnsDomain?: string;
  dnsTtl?: number;
  dnsForward?: string[];
}

/** The DNS port unless --dns-port says otherwise (53 needs root, and is often taken by a resolver). */
const DEFAULT_DNS_PORT = 8053;

/** dnsDomain reads --dns-domain: one or more DNS labels, e.g. muster or cell1.example. */
function dnsDomainFlag(value: string): string {
  const d = value.trim().toLowerCase().replace(/\.$/, '');
  if (d.length === 0 || d.length > 200 || !d.split('.').every((l) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(l))) {
    throw new InvalidArgumentError('give a domain of DNS labels (letters, digits and -), e.g. muster or cell1.example.');
  }
  return d;
}

/** resolversFlag reads --dns-forward "10.0.0.2,10.0.0.3:5353": IPv4 resolvers, each with an optional port. */
function resolversFlag(value: string): string[] {
  const out = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (out.length === 0 || out.length > 8) throw new InvalidArgumentError('give 1 to 8 resolvers, e.g. 10.0.0.2 or 10.0.0.2:53,10.0.0.3.');
  for (const r of out) {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(r);
    if (m === null || m[1]?.split('.').some((o) => Number(o) > 255) === true || Number(m[2] ?? 53) > 65535 || Number(m[2] ?? 53) < 1) {
      throw new InvalidArgumentError(`"${r}" is not a resolver: give an IPv4 address and an optional port, e.g. 10.0.0.2:53.`);
    }
  }
  return out;
}

/** addDnsOptions adds the DNS server's flags to `muster master` and `muster dev`. */
function addDnsOptions(cmd: Command): Command {
  return cmd
    .option('--dns-port <port>', `the DNS server's port, UDP and TCP, on --host (default ${DEFAULT_DNS_PORT}; 0 picks a free one)`, flags.port)
    .option('--no-dns', 'run no DNS server')
    .option('--dns-domain <domain>', 'the domain the DNS server answers for (default muster)', dnsDomainFlag)
    .option('--dns-ttl <secs>', 'the TTL of DNS answers (default 5)', flags.positiveInt(86_400))
    .option('--dns-forward <resolvers>', 'forward names outside the domain to these resolvers (default: refuse them)', resolversFlag);
}

/** applyDnsFlags copies the DNS flags into the master's options. */
function applyDnsFlags(options: MasterOptions, opts: DnsFlags): void {
  if (opts.dns === false) return;
  options.dnsPort = opts.dnsPort ?? DEFAULT_DNS_PORT;
  if (opts.dnsDomain !== undefined) options.dnsDomain = opts.dnsDomain;
  if (opts.dnsTtl !== undefined) options.dnsTtlSecs = opts.dnsTtl;
  if (opts.dnsForward !== undefined) options.dnsForward = opts.dnsForward;
}

/** CronFlags are the cron flags, shared by `muster master` and `muster dev`. */
interface CronFlags {
  cronMinInterval?: number;
  cronTimezone?: string;
}

/** timeZoneFlag reads --cron-timezone: an IANA zone name. */
function timeZoneFlag(value: string): string {
  if (!isTimeZone(value)) throw new InvalidArgumentError('give an IANA time zone name, e.g. UTC, Europe/Berlin or America/New_York.');
  return value;
}

/** addCronOptions adds the cron flags to `muster master` and `muster dev`. */
function addCronOptions(cmd: Command): Command {
  return cmd
    .option('--cron-min-interval <secs>', `refuse cron schedules that fire more often than this (default ${CRON_DEFAULTS.minIntervalSecs})`, flags.positiveInt(86_400))
    .option('--cron-timezone <zone>', "the time zone of cron jobs that name none (default UTC)", timeZoneFlag);
}

/** applyCronFlags copies the cron flags into the master's options. */
function applyCronFlags(options: MasterOptions, opts: CronFlags): void {
  if (opts.cronMinInterval !== undefined) options.cronMinIntervalSecs = opts.cronMinInterval;
  if (opts.cronTimezone !== undefined) options.cronTimezone = opts.cronTimezone;
}

/** SchedulingFlags are the scheduler's flags, shared by `muster master` and `muster dev`. */
interface SchedulingFlags {
  scoreWeights?: Partial<Record<ScoreWeightName, number>>;
  sampleSize?: number;
  preemptionsPerMinute?: number;
  roleWeights?: Record<string, number>;
}

interface MasterFlags extends SchedulingFlags, DnsFlags, CronFlags {
  port?: number;
  host?: string;
  store?: string;
  agentTimeout?: number;
  heartbeat?: number;
  leaderTtl?: number;
  advertiseUrl?: string;
  offerTimeout?: number;
  reconcileInterval?: number;
  jobRetention?: number;
  insecureNoAuth?: boolean;
  allowedHost?: string[];
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsClientCa?: string;
  dockerVolumes?: string[];
}

/** DockerFlags are the agent's docker flags, shared by `muster agent` and `muster dev`. */
interface DockerFlags {
  containerizers?: ('process' | 'docker')[];
  dockerSocket?: string;
  dockerVolumes?: string[];
  dockerBridge?: string;
}

interface AgentFlags extends DockerFlags {
  joinTokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  workDir?: string;
  port?: number;
  host?: string;
  advertiseAddress?: string;
  hostname?: string;
  resources?: string;
  attributes?: string;
  cgroupRoot?: string;
  roleUsers?: string;
  taskUser?: string;
  roleUidRange?: string;
  allowRootTasks?: boolean;
  isolation?: 'auto' | 'none';
  logMaxSize?: number;
  logMaxFiles?: number;
  usageInterval?: number;
  launchConcurrency?: number;
  diskWatchInterval?: number;
  sandboxRetention?: number;
}

interface DevFlags extends SchedulingFlags, DockerFlags, DnsFlags, CronFlags {
  port?: number;
  agentPort?: number;
  dir?: string;
  cgroupRoot?: string;
}

const SCORE_WEIGHT_NAMES = ['fit', 'spread', 'gpu'] as const;
type ScoreWeightName = (typeof SCORE_WEIGHT_NAMES)[number];
const MAX_WEIGHT = 1000;
const MAX_LIST = 1000;

/** weightPairs reads "name=number,name=number" into pairs, each number 0..MAX_WEIGHT. */
function weightPairs(value: string, example: string): [string, number][] {
  const parts = value.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) throw new InvalidArgumentError(`give name=weight pairs, e.g. "${example}".`);
  if (parts.length > MAX_LIST) throw new InvalidArgumentError(`at most ${MAX_LIST} pairs.`);
  const seen = new Set<string>();
  return parts.map((part) => {
    const m = /^([A-Za-z0-9_.-]{1,64})\s*=\s*(\S+)$/.exec(part);
    if (m === null) throw new InvalidArgumentError(`"${part}" must be name=weight, e.g. "${example}".`);
    const name = m[1] as string;
    const n = Number(m[2]);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`the weight of ${name} must be a number, not "${m[2]}".`);
    if (n < 0) throw new InvalidArgumentError(`the weight of ${name} must not be negative (${n}).`);
    if (n > MAX_WEIGHT) throw new InvalidArgumentError(`the weight of ${name} must be at most ${MAX_WEIGHT} (${n}).`);
    if (seen.has(name)) throw new InvalidArgumentError(`${name} is given twice.`);
    seen.add(name);
    return [name, n];
  });
}

/** scoreWeights reads --score-weights "fit=1,spread=2,gpu=1"; a weight left out keeps its default. */
export function scoreWeights(value: string): Partial<Record<ScoreWeightName, number>> {
  const out: Partial<Record<ScoreWeightName, number>> = {};
  for (const [name, n] of weightPairs(value, 'fit=1,spread=2,gpu=1')) {
    if (!(SCORE_WEIGHT_NAMES as readonly string[]).includes(name)) {
      throw new InvalidArgumentError(`unknown weight "${name}"; the weights are ${SCORE_WEIGHT_NAMES.join(', ')}.`);
    }
    out[name as ScoreWeightName] = n;
  }
  return out;
}

/** roleWeights reads --role-weights "web=2,batch=1": each role's DRF weight, above 0. */
export function roleWeights(value: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [role, n] of weightPairs(value, 'web=2,batch=1')) {
    if (n === 0) throw new InvalidArgumentError(`the weight of role ${role} must be above 0.`);
    out[role] = n;
  }
  return out;
}

/** wholeNumber reads a whole number from 0 to max (0 has a meaning: all, or off). */
function wholeNumber(max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value.trim()) || Number(value) > max) throw new InvalidArgumentError(`give a whole number from 0 to ${max}.`);
    return Number(value);
  };
}

/**
 * readJoinToken reads the join token from --join-token-file, else MUSTER_JOIN_TOKEN. A file rather
 * than a flag: a flag's value is in every process listing.
 */
function readJoinToken(file: string | undefined): string | undefined {
  if (file === undefined) {
    const env = process.env['MUSTER_JOIN_TOKEN']?.trim();
    return env === undefined || env === '' ? undefined : env;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`--join-token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'give a file holding a token made with muster acl token create');
  }
  if (text === '' || text.length > 1024 || /\s/.test(text)) throw new UsageError(`--join-token-file ${file} does not hold one token`, 'write the token alone in it');
  return text;
}

/**
 * readTls reads --tls-cert and --tls-key (both or neither) and a CA flag's file. The files are read
 * here, once: a daemon keeps its certificate until it restarts.
 */
function readTls(flags: { tlsCert?: string; tlsKey?: string }, cas: Record<string, string | undefined>): { server?: { cert: string; key: string }; cas: Record<string, string> } {
  const pem = (file: string, kind: 'certificate' | 'private key', flag: string): string => {
    try {
      return readPem(file, { kind, flag });
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err), 'muster cell init-tls DIR --host NAME makes a CA and certificates');
    }
  };
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw new UsageError(`${flags.tlsCert === undefined ? '--tls-key' : '--tls-cert'} needs ${flags.tlsCert === undefined ? '--tls-cert' : '--tls-key'} too`, 'give the certificate and its key');
  }
  const out: { server?: { cert: string; key: string }; cas: Record<string, string> } = { cas: {} };
  if (flags.tlsCert !== undefined && flags.tlsKey !== undefined) {
    out.server = { cert: pem(flags.tlsCert, 'certificate', '--tls-cert'), key: pem(flags.tlsKey, 'private key', '--tls-key') };
  }
  for (const [flag, file] of Object.entries(cas)) if (file !== undefined) out.cas[flag] = pem(file, 'certificate', flag);
  return out;
}

/** isLoopback: an address only this machine reaches. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** containerizersFlag reads --containerizers "process,docker". */
function containerizersFlag(value: string): ('process' | 'docker')[] {
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw new InvalidArgumentError('give one or more of process, docker, e.g. process,docker.');
  for (const n of names) if (n !== 'process' && n !== 'docker') throw new InvalidArgumentError(`"${n}" is not a containerizer; use process, docker or both (process,docker).`);
  return [...new Set(names)] as ('process' | 'docker')[];
}

/** volumesFlag reads --docker-volumes "/srv/data,/var/cache/app": host directories docker tasks may mount. */
function volumesFlag(value: string): string[] {
  try {
    return parseVolumeList(value);
  } catch (err) {
    throw new InvalidArgumentError(`${err instanceof Error ? err.message.replace(/^--docker-volumes: /, '') : String(err)}.`);
  }
}

/** addDockerOptions adds the agent's docker flags to `muster agent` and `muster dev`. */
function addDockerOptions(cmd: Command): Command {
  return cmd
    .option('--containerizers <list>', 'what runs tasks: process (muster-supervisor), docker (the Docker Engine), or process,docker (default process)', containerizersFlag)
    .option('--docker-socket <path>', 'the Docker daemon\'s unix socket (default /var/run/docker.sock)')
    .option('--docker-volumes <dirs>', 'host directories docker tasks may mount as volumes, comma-separated (default none)', volumesFlag)
    .option('--docker-bridge <network>', 'the daemon network that network: bridge tasks join (default bridge)');
}

/** applyDockerFlags copies the docker flags given into the agent's options. */
function applyDockerFlags(options: AgentOptions, opts: DockerFlags): void {
  if (opts.containerizers !== undefined) options.containerizers = opts.containerizers;
  if (opts.dockerSocket !== undefined) options.dockerSocket = opts.dockerSocket;
  if (opts.dockerVolumes !== undefined) options.dockerVolumes = opts.dockerVolumes;
  if (opts.dockerBridge !== undefined) options.dockerBridge = opts.dockerBridge;
}

/** addSchedulingOptions adds the scheduler's flags to `muster master` and `muster dev`. */
function addSchedulingOptions(cmd: Command): Command {
  return cmd
    .option('--score-weights <list>', 'how placement weighs best fit, spread over failure domains and GPU packing (default fit=1,spread=2,gpu=1; 0 turns one off)', scoreWeights)
    .option('--sample-size <n>', 'look at agents in random order until this many fit a task, then take the best; 0 looks at all (default 64)', wholeNumber(100_000))
    .option('--preemptions-per-minute <n>', 'at most this many tasks preempted per minute for preferred ones; 0 turns preemption off (default 30)', wholeNumber(100_000))
    .option('--role-weights <list>', 'fair-share (DRF) weight of roles, e.g. web=2,batch=1; a role left out weighs 1', roleWeights);
}

const SCHEDULING_HELP = `
Scheduling: pending tasks go by tier (preferred, preemptible, revocable) and priority, and roles
take turns by weighted dominant share (--role-weights). Each task goes to the best-scoring agent
of a random sample (--sample-size, --score-weights). A preferred task that fits nowhere may
preempt lower-tier or lower-priority tasks, at most --preemptions-per-minute of them.`;

/** applySchedulingFlags copies the scheduling flags given into the master's options. */
function applySchedulingFlags(options: MasterOptions, opts: SchedulingFlags, defaults: MasterOptions): void {
  if (opts.scoreWeights !== undefined && defaults.scoreWeights !== undefined) options.scoreWeights = { ...defaults.scoreWeights, ...opts.scoreWeights };
  if (opts.sampleSize !== undefined) options.sampleSize = opts.sampleSize;
  if (opts.preemptionsPerMinute !== undefined) options.preemptionsPerMinute = opts.preemptionsPerMinute;
  if (opts.roleWeights !== undefined) options.roleWeights = opts.roleWeights;
}

export function addDaemonCommands(program: Command): void {
  addCronOptions(addDnsOptions(addSchedulingOptions(
    program
      .command('master')
    .description('run the master: the REST API, the agent link, the web UI and /metrics')
    .option('--port <port>', 'port to listen on; 0 picks a free one (default 5050)', flags.port)
    .option('--host <addr>', `address to listen on (default ${DEFAULT_HOST}; 0.0.0.0 for every interface)`)
    .option('--store <url>', 'where the master keeps its log: sqlite:PATH (default sqlite:.muster/master.db) or etcd://HOST:PORT,.../PREFIX for HA masters')
    .option('--agent-timeout <secs>', 'mark an agent unreachable after this long without a word (default 10)', flags.seconds)
      .option('--offer-timeout <secs>', "rescind an external framework's offer left unanswered this long (default: never, as Mesos)", flags.seconds)
      .option('--reconcile-interval <secs>', 'how often each agent reports what it holds, so that any divergence is found and healed (default 30)', flags.seconds)
      .option('--heartbeat <secs>', 'interval of heartbeats on each agent stream (default 2)', flags.seconds)
      .option('--job-retention <secs>', 'keep ended jobs (killed, finished, failed) and ended updates this long for job list --all and update list, then prune them (default 86400: a day)', flags.seconds)
      .option('--leader-ttl <secs>', 'HA masters: the leader lease TTL in whole seconds; a dead leader is replaced within about this long (default 2)', flags.positiveInt(600))
      .option('--advertise-url <url>', 'HA masters: the URL other masters send clients and agents to (default http://HOST:PORT)')
      .option('--insecure-no-auth', 'run open: no tokens, every call may do everything (the log, cell status and the status page say so)')
      .option('--allowed-host <name>', 'run open: a host name (besides loopback names and IP addresses) the master answers to; repeat for more', (v: string, all: string[] = []) => [...all, v])
      .option('--tls-cert <file>', 'serve the API, the agent link and the status page over HTTPS with this certificate (PEM; with --tls-key)')
      .option('--tls-key <file>', "the certificate's private key (PEM)")
      .option('--tls-ca <file>', 'the CA that agents serving HTTPS have certificates of, for logs, files and exec (default: the system\'s CAs)')
      .option('--tls-client-ca <file>', 'ask clients for a certificate: accept those this CA signed, refuse others; tokens stay the identity')
      .option('--docker-volumes <dirs>', 'host directories docker jobs may mount as volumes, comma-separated; a job with another is refused at create (default none)', volumesFlag),
  )))
    .addHelpText(
      'after',
      `
The master keeps the cell's state as a log of events in its store; restarting it with the same
--store resumes every job. Stop it with Ctrl-C or SIGTERM: tasks on the agents keep running.

Every call needs a token (Authorization: Bearer; the CLI reads MUSTER_TOKEN or
~/.config/muster/config.yaml). A cell that starts with none prints a bootstrap token once: keep it,
and make others with muster acl token create. --insecure-no-auth runs open instead.

With --tls-cert and --tls-key everything is served over HTTPS (clients trust the CA with --ca FILE,
agents with --tls-ca FILE); muster cell init-tls DIR --host NAME makes a small cell's CA and
certificates.
${SCHEDULING_HELP}

Examples:
  $ muster master
  $ muster master --host 0.0.0.0 --port 5050 --store sqlite:/var/lib/muster/master.db
  $ muster master --agent-timeout 30 --heartbeat 5
  $ muster master --store etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379/muster --host 0.0.0.0 --advertise-url http://10.0.0.7:5050
  $ muster master --host 0.0.0.0 --tls-cert tls/master.pem --tls-key tls/master-key.pem --tls-ca tls/ca.pem
  $ muster master --role-weights web=2,batch=1 --preemptions-per-minute 10
  $ muster master --score-weights fit=1,spread=4 --sample-size 0`,
    )
    .action(async (opts: MasterFlags) => {
      const { startMaster, DEFAULT_MASTER_OPTIONS } = await import('../master/index.js');
      const options: MasterOptions = { ...DEFAULT_MASTER_OPTIONS, logger: createLogger('master') };
      if (opts.port !== undefined) options.port = opts.port;
      if (opts.host !== undefined) options.host = opts.host;
      if (opts.store !== undefined) options.store = opts.store;
      if (opts.agentTimeout !== undefined) options.agentTimeoutSecs = opts.agentTimeout;
      if (opts.offerTimeout !== undefined) options.offerTimeoutSecs = opts.offerTimeout;
      if (opts.reconcileInterval !== undefined) options.reconcileIntervalSecs = opts.reconcileInterval;
      if (opts.jobRetention !== undefined) options.jobRetentionSecs = opts.jobRetention;
      if (opts.heartbeat !== undefined) options.heartbeatSecs = opts.heartbeat;
      if (opts.leaderTtl !== undefined) options.leaderTtlSecs = opts.leaderTtl;
      if (opts.advertiseUrl !== undefined) options.advertiseUrl = opts.advertiseUrl;
      options.auth = opts.insecureNoAuth !== true;
      if (opts.allowedHost !== undefined) options.allowedHosts = opts.allowedHost;
      if (opts.dockerVolumes !== undefined) options.dockerVolumes = opts.dockerVolumes;
      applyDnsFlags(options, opts);
      applyCronFlags(options, opts);
      const tls = readTls(opts, { '--tls-ca': opts.tlsCa, '--tls-client-ca': opts.tlsClientCa });
      if (tls.cas['--tls-client-ca'] !== undefined && tls.server === undefined) throw new UsageError('--tls-client-ca needs --tls-cert and --tls-key: client certificates come with TLS');
      if (tls.server !== undefined) options.tls = { ...tls.server, ...(tls.cas['--tls-client-ca'] === undefined ? {} : { clientCa: tls.cas['--tls-client-ca'] }) };
      if (tls.cas['--tls-ca'] !== undefined) options.agentCa = tls.cas['--tls-ca'];
      options.onBootstrapToken = (secret) => note(`muster master: this cell had no token; its bootstrap token (a management token, shown this once: keep it):\n  ${secret}\n  export MUSTER_TOKEN=${secret}`);
      if (!options.auth) {
        note(
          isLoopback(options.host)
            ? 'muster master: running open (--insecure-no-auth): any program that reaches this machine may do anything with the cell'
            : `muster master: running open (--insecure-no-auth) on ${options.host}: anyone on the network may do anything with the cell`,
        );
      }
      applySchedulingFlags(options, opts, DEFAULT_MASTER_OPTIONS);
      await makeStoreDir(options.store);
      const master = await starting(() => startMaster(options), { what: 'master', host: options.host, port: options.port });
      note(`muster master listening on ${master.url}`);
      stopOnSignal(() => master.close());
    });

  addDockerOptions(
    program
      .command('agent')
      .description('run an agent: offer this machine to the master and run the tasks it places here'),
  )
    .option('--work-dir <dir>', `agent id, task checkpoints and sandboxes (default ${DEFAULT_AGENT_WORK_DIR})`)
    .option('--port <port>', `port of the agent's files, health and metrics server; 0 picks a free one (default ${DEFAULT_AGENT_PORT})`, flags.port)
    .option('--host <addr>', `address to listen on (default ${DEFAULT_HOST})`)
    .option('--advertise-address <addr>', 'address the master and other machines reach this agent at (default: --host)')
    .option('--hostname <name>', 'the hostname to report (attribute "host"; default: detected)')
    .option('--resources <spec>', 'override detected resources, e.g. "cpus:2;mem:1024;ports:[31000-31999]"', flags.resources)
    .option('--attributes <spec>', 'attributes for constraints, e.g. "rack:r1;zone:a"', flags.attributes)
    .option('--role-users <map>', 'the unix user of each role\'s tasks, e.g. "web=www-data,batch=nobody"')
    .option('--task-user <user>', 'one user for every role not in --role-users, e.g. nobody (default: each such role gets a uid of its own)')
    .option('--role-uid-range <first-last>', 'the uids the agent allocates, one per role not in --role-users (default 60000-60999)')
    .option('--allow-root-tasks', 'let a role map to root (refused by default)')
    .option('--isolation <mode>', 'auto (cgroups, namespaces and role users where the agent may) or none (plain processes)', flags.isolation)
    .option('--cgroup-root <path>', 'the agent\'s cgroup, under each hierarchy\'s root (default muster)', flags.cgroupRoot)
    .option('--log-max-size <size>', 'rotate a task\'s stdout and stderr past this size (default 10MiB; 0 never)', flags.byteSize)
    .option('--log-max-files <n>', 'rotated files kept per stream (default 5)', flags.positiveInt(1000))
    .option('--usage-interval <secs>', 'how often task usage is measured and sent to the master (default 10)', flags.seconds)
    .option('--launch-concurrency <n>', 'how many tasks are set up at once; the rest wait their turn (default 8)', flags.positiveInt(256))
    .option('--disk-watch-interval <secs>', 'how often sandboxes are measured against their disk limit (default 15)', flags.seconds)
    .option('--sandbox-retention <secs>', 'keep an ended task\'s sandbox this long, less under disk pressure (default 604800: 7 days)', flags.seconds)
    .option('--join-token-file <path>', 'a file holding a token with agent:join, to join a master with authentication (or MUSTER_JOIN_TOKEN)')
    .option('--tls-cert <file>', "serve the agent's port over HTTPS with this certificate (PEM; with --tls-key); the master is told")
    .option('--tls-key <file>', "the certificate's private key (PEM)")
    .option('--tls-ca <file>', "the CA of https:// masters' certificates, e.g. the cell's ca.pem (default: the system's CAs)")
    .addHelpText(
      'after',
      `
--master URL[,URL...] (or MUSTER_MASTER) is required: the agent tries each master in turn and
follows redirects to the leader.

As root the agent isolates each task: cgroups (v2, or v1) limit its cpus, memory and pids, it gets
its own pid and mount namespaces (and private /tmp, /var/tmp and /dev/shm), and it runs as its
role's user: the one --role-users names, else a uid of --role-uid-range that the agent allocates
to that role alone and keeps in its work dir; never as root unless --allow-root-tasks. Without root
tasks run as plain processes of the agent's user.

Tasks run under a supervisor that outlives the agent: SIGTERM or Ctrl-C stops the agent and leaves
its tasks running, and the next agent on the same --work-dir reattaches to them. SIGUSR1 kills
every task first (to take a machine out of service).

With --containerizers process,docker the agent also runs jobs with container.docker through the
Docker daemon at --docker-socket, and advertises the attribute docker:up while the daemon answers
(docker:down while it does not: no docker task is placed here then). Docker tasks' containers
outlive the agent too, and are found again by their labels.

Examples:
  $ muster agent --master http://10.0.0.1:5050
  $ muster agent --master http://m1:5050,http://m2:5050 --host 0.0.0.0 --advertise-address 10.0.0.7
  $ muster agent --master http://127.0.0.1:5050 --resources "cpus:2;mem:2GiB" --attributes "rack:r1"
  $ muster agent --master http://10.0.0.1:5050 --role-users "web=www-data" --task-user nobody
  $ muster agent --master https://10.0.0.1:5050 --tls-ca tls/ca.pem --tls-cert tls/agent.pem --tls-key tls/agent-key.pem
  $ muster agent --master http://10.0.0.1:5050 --containerizers process,docker --docker-volumes /srv/data`,
    )
    .action(async (opts: AgentFlags, cmd: Command) => {
      const masters = mastersOf(cmd.optsWithGlobals<GlobalOptions>().master, undefined);
      if (masters === undefined) {
        throw new UsageError('the agent needs a master to register with', 'give --master URL[,URL...] or set MUSTER_MASTER');
      }
      const { startAgent, parseRoleUsers, parseUidRange } = await import('../agent/index.js');
      const options: AgentOptions = {
        masters,
        workDir: opts.workDir ?? DEFAULT_AGENT_WORK_DIR,
        port: opts.port ?? DEFAULT_AGENT_PORT,
        host: opts.host ?? DEFAULT_HOST,
        logger: createLogger('agent'),
      };
      if (opts.advertiseAddress !== undefined) options.advertiseAddress = opts.advertiseAddress;
      const tls = readTls(opts, { '--tls-ca': opts.tlsCa });
      if (tls.server !== undefined) options.tls = tls.server;
      if (tls.cas['--tls-ca'] !== undefined) options.masterCa = tls.cas['--tls-ca'];
      const joinToken = readJoinToken(opts.joinTokenFile);
      if (joinToken !== undefined) options.joinToken = joinToken;
      if (opts.hostname !== undefined) options.hostname = opts.hostname;
      if (opts.resources !== undefined) options.resources = opts.resources;
      if (opts.attributes !== undefined) options.attributes = opts.attributes;
      if (opts.roleUsers !== undefined) {
        try {
          options.roleUsers = parseRoleUsers(opts.roleUsers);
        } catch (err) {
          throw new UsageError(`--role-users: ${err instanceof Error ? err.message : String(err)}`, 'write role=user pairs, e.g. "web=www-data,batch=nobody"');
        }
      }
      if (opts.taskUser !== undefined) options.taskUser = opts.taskUser;
      if (opts.roleUidRange !== undefined) {
        try {
          options.roleUidRange = parseUidRange(opts.roleUidRange);
        } catch (err) {
          throw new UsageError(`--role-uid-range: ${err instanceof Error ? err.message : String(err)}`, 'give the first and last uid, e.g. 60000-60999');
        }
      }
      if (opts.allowRootTasks === true) options.allowRootTasks = true;
      if (opts.isolation !== undefined) options.isolation = opts.isolation;
      if (opts.cgroupRoot !== undefined) options.cgroupRoot = opts.cgroupRoot;
      if (opts.logMaxSize !== undefined) options.logMaxBytes = opts.logMaxSize;
      if (opts.logMaxFiles !== undefined) options.logMaxFiles = opts.logMaxFiles;
      if (opts.usageInterval !== undefined) options.usageIntervalSecs = opts.usageInterval;
      if (opts.launchConcurrency !== undefined) options.launchConcurrency = opts.launchConcurrency;
      if (opts.diskWatchInterval !== undefined) options.diskWatchIntervalSecs = opts.diskWatchInterval;
      if (opts.sandboxRetention !== undefined) options.sandboxRetentionSecs = opts.sandboxRetention;
      applyDockerFlags(options, opts);
      const agent = await starting(() => startAgent(options), { what: 'agent', host: options.host, port: options.port });
      note(`muster agent listening on ${agent.url}, registering with ${masters.join(', ')}`);
      stopOnSignal(() => agent.close());
      // SIGUSR1 takes the machine out of service: every task is killed, then the agent stops.
      process.once('SIGUSR1', () => {
        note('muster: SIGUSR1, killing every task, then stopping');
        agent.close({ killTasks: true }).then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`muster: stopping failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
            process.exit(1);
          },
        );
      });
    });

  addCronOptions(addDnsOptions(addDockerOptions(addSchedulingOptions(
    program
      .command('dev')
      .description('run a master and one local agent in this process: a whole cell to try Muster on')
      .option('--port <port>', 'port of the master, its API and UI (default 5050)', flags.port)
      .option('--agent-port <port>', `port of the agent (default ${DEFAULT_AGENT_PORT})`, flags.port)
      .option('--dir <dir>', `where the master's store and the agent's sandboxes live (default ${DEFAULT_DEV_DIR})`)
      .option('--cgroup-root <path>', "the agent's cgroup when run as root (default muster)", flags.cgroupRoot),
  ))))
    .addHelpText(
      'after',
      `
Everything stays under --dir: run it again in the same place and it resumes the same jobs.
Ctrl-C kills every task and stops; a second Ctrl-C exits at once.
${SCHEDULING_HELP}

Examples:
  $ muster dev
  $ muster dev --port 6050 --agent-port 6051 --dir /tmp/muster-play
  $ muster dev --preemptions-per-minute 0
  $ muster dev --containerizers process,docker`,
    )
    .action(async (opts: DevFlags) => {
      const dir = opts.dir ?? DEFAULT_DEV_DIR;
      await mkdir(dir, { recursive: true });
      const [{ startMaster, DEFAULT_MASTER_OPTIONS }, { startAgent }] = await Promise.all([
        import('../master/index.js'),
        import('../agent/index.js'),
      ]);
      const masterOptions: MasterOptions = {
        ...DEFAULT_MASTER_OPTIONS,
        store: `sqlite:${join(dir, 'master.db')}`,
        port: opts.port ?? DEFAULT_MASTER_OPTIONS.port,
        host: DEFAULT_HOST,
        logger: createLogger('master'),
      };
      applySchedulingFlags(masterOptions, opts, DEFAULT_MASTER_OPTIONS);
      if (opts.dockerVolumes !== undefined) masterOptions.dockerVolumes = opts.dockerVolumes;
      applyDnsFlags(masterOptions, opts);
      applyCronFlags(masterOptions, opts);
      const master = await starting(() => startMaster(masterOptions), { what: 'master', host: DEFAULT_HOST, port: masterOptions.port });
      let agent: AgentHandle;
      try {
        const agentPort = opts.agentPort ?? DEFAULT_AGENT_PORT;
        const agentOptions: AgentOptions = {
          masters: [master.url],
          workDir: join(dir, 'agent'),
          port: agentPort,
          host: DEFAULT_HOST,
          logger: createLogger('agent'),
          ...(opts.cgroupRoot === undefined ? {} : { cgroupRoot: opts.cgroupRoot }),
        };
        applyDockerFlags(agentOptions, opts);
        agent = await starting(() => startAgent(agentOptions), { what: 'agent', host: DEFAULT_HOST, port: agentPort });
      } catch (err) {
        await master.close();
        throw err;
      }
      note(
        [
          '',
          `muster dev: a master and one agent are running (state in ${dir}/)`,
          `  open        no authentication, on ${DEFAULT_HOST} only: any program on this machine may drive the cell`,
          `  web UI      ${master.url}/`,
          ...(master.dnsPort === undefined ? [] : [`  dns         dig @${DEFAULT_HOST} -p ${master.dnsPort} hello.prod.web.${masterOptions.dnsDomain ?? 'muster'}`]),
          `  try         npx muster job create examples/hello-service.yaml --wait`,
          `              npx muster job status web/prod/hello`,
          `  stop        Ctrl-C (kills the tasks; the jobs resume on the next muster dev)`,
          '',
        ].join('\n'),
      );
      stopOnSignal(async () => {
        await agent.close({ killTasks: true });
        await master.close();
      });
    });
}

/**
 * starting runs a daemon's start and turns the mistakes a person can fix into one-line usage
 * errors: a port already taken, an address that is not on this machine, a flag the daemon refused.
 */
async function starting<T extends MasterHandle | AgentHandle>(
  start: () => Promise<T>,
  where: { what: string; host: string; port: number },
): Promise<T> {
  try {
    return await start();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const at = `${where.host}:${where.port}`;
    if (code === 'EADDRINUSE') throw new UsageError(`cannot start the ${where.what}: ${at} is already in use`, 'is another muster running? Pick another --port');
    if (code === 'EADDRNOTAVAIL') throw new UsageError(`cannot start the ${where.what}: ${where.host} is not an address of this machine`, 'check --host');
    if (code === 'EACCES') throw new UsageError(`cannot start the ${where.what}: no permission to listen on ${at}`, 'pick a port above 1023');
    if (err instanceof MusterError && err.code === 'INVALID_ARGUMENT') throw new UsageError(`cannot start the ${where.what}: ${err.message}`);
    throw err;
  }
}

/** makeStoreDir creates the directory of a sqlite store, so that the default path works on a fresh checkout. */
async function makeStoreDir(store: string): Promise<void> {
  if (store.startsWith('sqlite:')) await mkdir(dirname(store.slice('sqlite:'.length)), { recursive: true });
}

/**
 * stopOnSignal stops the daemon on the first SIGINT or SIGTERM and exits 0 once it has stopped;
 * a second signal exits at once, for a shutdown that hangs.
 */
function stopOnSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      note(`muster: ${signal} again, exiting now`);
      process.exit(130);
    }
    stopping = true;
    note(`muster: ${signal}, stopping (again to exit at once)`);
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`muster: stopping failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
