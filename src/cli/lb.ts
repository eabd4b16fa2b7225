// `muster lb haproxy`: a load balancer that follows a job. It runs a real HAProxy as its child, in
// master-worker mode (-W, in the foreground), with a config it writes: a frontend on --listen and
// a backend with one server per ready instance, at the agent's address and the instance's port of
// --port-name. It follows the endpoints watch (GET /api/v1/endpoints/KEY?watch): each change that
// alters the backend writes the config again, has HAProxy check it (-c), and reloads it (SIGUSR2 to
// its master process), which starts new workers on the new config while the old ones finish the
// requests they hold. Changes that come in a burst (a rolling update's batch) are applied once,
// DEBOUNCE_MS after the last of them.
//
// Reloading the whole config, rather than setting servers over HAProxy's runtime API, keeps the
// config file the one truth a person can read, and needs no guess at how many server slots to
// keep. A config that HAProxy refuses is not applied: the old one goes on serving.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { MusterError } from '../core/index.js';
import type { MusterClient } from '../client/index.js';
import type { EndpointsView } from '../protocol/index.js';
import { contextOf } from './context.js';
import { UsageError } from './exitcodes.js';
import { instanceList, note } from './output.js';
import { jobKeyArg } from './refs.js';

/** DEBOUNCE_MS: changes closer together than this are applied as one reload. */
const DEBOUNCE_MS = 200;
/** How long HAProxy has to stop by itself (soft stop: the requests it holds finish) before it is made to. */
const STOP_GRACE_MS = 5000;
/** Old workers left by a reload are stopped after this, whatever they still hold (HAProxy's hard-stop-after). */
const HARD_STOP_AFTER = '30s';
const DEFAULT_HAPROXY = '/usr/sbin/haproxy';

export interface HaproxyConfigOptions {
  /** The named port of each instance that the servers point at. */
  portName: string;
  /** Where the frontend listens, as HAProxy's bind takes it ("127.0.0.1:8080", "[::]:80", ":80"). */
  listen: string;
  mode: 'http' | 'tcp';
  /** HAProxy's admin socket, which hands the listeners to the new workers on a reload. */
  socket?: string;
}

/** HaproxyConfig is the config text and what it says in words. */
export interface HaproxyConfig {
  text: string;
  /** The instances that are servers of the backend. */
  servers: number[];
  /** Ready instances left out, and why (no such port, an address HAProxy cannot take). */
  skipped: string[];
}

/**
 * haproxyConfig writes HAProxy's config for a view of a job's endpoints: only the ready instances
 * are servers, round-robin. The text depends on nothing but its inputs, so an unchanged backend is
 * the same text, and needs no reload.
 */
export function haproxyConfig(view: EndpointsView, opts: HaproxyConfigOptions): HaproxyConfig {
  const backend = `muster_${view.job.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
  const servers: number[] = [];
  const skipped: string[] = [];
  const lines: string[] = [];
  for (const e of view.instances) {
    if (!e.ready) continue;
    const port = e.ports[opts.portName];
    if (port === undefined) {
      skipped.push(`instance ${e.instance} has no port ${opts.portName}`);
      continue;
    }
    // An agent's address is an IP or a host name: anything else must not reach the config's syntax.
    if (!/^[A-Za-z0-9.:_-]{1,253}$/.test(e.address)) {
      skipped.push(`instance ${e.instance}'s address ${JSON.stringify(e.address.slice(0, 80))} is not an IP or a host name`);
      continue;
    }
    const host = e.address.includes(':') ? `[${e.address}]` : e.address;
    lines.push(`    server instance-${e.instance} ${host}:${port}  # ${view.job}/${e.instance} task ${e.taskId.replace(/[^A-Za-z0-9._-]/g, '?')}`);
    servers.push(e.instance);
  }
  const text = [
    `# Written by muster lb haproxy for ${view.job}, port ${opts.portName}: each change of the job's`,
    `# ready instances rewrites it and reloads HAProxy. Edits here are lost.`,
    'global',
    ...(opts.socket === undefined ? [] : [`    stats socket ${opts.socket} mode 600 level admin expose-fd listeners`]),
    `    hard-stop-after ${HARD_STOP_AFTER}`,
    '',
    'defaults',
    `    mode ${opts.mode}`,
    '    timeout connect 5s',
    '    timeout client 60s',
    '    timeout server 60s',
    // A server that refuses the connection (an instance that just stopped) is retried on another.
    '    retries 2',
    '    option redispatch',
    '',
    'frontend muster',
    `    bind ${opts.listen}`,
    `    default_backend ${backend}`,
    '',
    `backend ${backend}`,
    '    balance roundrobin',
    ...lines,
    '',
  ].join('\n');
  return { text, servers, skipped };
}

/** parseListen reads --listen: HOST:PORT, [IPv6]:PORT or :PORT (every address), as HAProxy's bind takes it. */
export function parseListen(text: string): string {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[2]);
  if (m === null || !(port >= 1 && port <= 65535)) {
    throw new UsageError(`--listen ${JSON.stringify(text.slice(0, 100))} is not HOST:PORT`, 'e.g. --listen 127.0.0.1:8080, or :8080 for every address');
  }
  return `${m[1] ?? ''}:${port}`;
}

/** summaryOf says what a config does, in a line for the log. */
function summaryOf(view: EndpointsView, config: HaproxyConfig): string {
  const n = config.servers.length;
  const which = n === 0 ? 'HAProxy answers 503' : `instance${n === 1 ? '' : 's'} ${instanceList(config.servers)}`;
  const skipped = config.skipped.length === 0 ? '' : `; left out: ${config.skipped.join('; ')}`;
  return `${view.job} v${view.version}: ${n} ready server${n === 1 ? '' : 's'} (${which})${skipped}`;
}

interface LbOptions {
  portName: string;
  listen: string;
  mode: 'http' | 'tcp';
  haproxy?: string;
  dir?: string;
}

export function addLbCommands(program: Command): void {
  const lb = program
    .command('lb')
    .description('run a load balancer that follows the ready instances of a job')
    .addHelpText(
      'after',
      `
Examples:
  $ muster lb haproxy web/prod/hello --port-name http --listen 127.0.0.1:8080`,
    );

  lb.command('haproxy')
    .description("run HAProxy in front of a job: its backend follows the job's ready instances")
    .argument('<KEY>', 'the job, role/env/name')
    .option('--port-name <name>', "the job's port the servers are at (one of its resources.ports)", 'http')
    .option('--listen <host:port>', 'where HAProxy listens, e.g. 127.0.0.1:8080, or :8080 for every address')
    .option('--mode <mode>', 'http (HTTP/1 and 2, each request balanced) or tcp (each connection)', 'http')
    .option('--haproxy <path>', `the haproxy program (default: ${DEFAULT_HAPROXY}, else haproxy on PATH)`)
    .option('--dir <dir>', "where to write HAProxy's config and socket (default: a temporary directory, removed on exit)")
    .addHelpText(
      'after',
      `
HAProxy runs as a child in master-worker mode. Its backend has one server per ready instance of the
job (running, healthy where the job has a health check, not being killed, its host reachable and
not draining), at the agent's address and the instance's port named by --port-name, round-robin.
The command follows the master's endpoints watch: on each change it rewrites DIR/haproxy.cfg and
reloads HAProxy (SIGUSR2), whose old workers finish the requests they hold. It reconnects to the
master by itself; meanwhile HAProxy goes on with the servers it has. Each reload is logged on
stderr. SIGTERM or SIGINT stops HAProxy and exits 0; HAProxy exiting by itself exits 1.

Examples:
  $ muster lb haproxy web/prod/hello --listen 127.0.0.1:8080
  $ muster lb haproxy web/prod/api --port-name admin --listen :9000 --mode tcp --dir /run/muster-lb`,
    )
    .action(async (keyText: string, opts: Partial<Omit<LbOptions, 'mode'>> & { mode?: string }, cmd: Command) => {
      const key = jobKeyArg(keyText);
      if (opts.listen === undefined) throw new UsageError('lb haproxy needs --listen HOST:PORT', 'e.g. --listen 127.0.0.1:8080');
      const listen = parseListen(opts.listen);
      const portName = opts.portName ?? 'http';
      if (!/^[a-z][a-z0-9_]{0,31}$/.test(portName)) throw new UsageError(`--port-name "${portName}" is not a port name`, 'a port name is lowercase letters, digits or _, as in resources.ports');
      const mode = opts.mode ?? 'http';
      if (mode !== 'http' && mode !== 'tcp') throw new UsageError(`--mode "${mode}" is not http or tcp`);
      const haproxy = haproxyProgram(opts.haproxy);
      const ctx = contextOf(cmd);
      await runHaproxy({ key, portName, listen, mode, haproxy, ...(opts.dir === undefined ? {} : { dir: resolve(opts.dir) }) }, ctx.client);
    });
}

/** haproxyProgram is the haproxy to run: --haproxy, else Debian's, else the one on PATH. */
function haproxyProgram(flag: string | undefined): string {
  const program = flag ?? (existsSync(DEFAULT_HAPROXY) ? DEFAULT_HAPROXY : 'haproxy');
  if (program.includes('/')) {
    try {
      accessSync(program, constants.X_OK);
    } catch {
      throw new UsageError(`--haproxy ${program}: no such program, or it is not executable`, 'install haproxy (apt-get install haproxy) or give its path');
    }
  }
  return program;
}

interface RunOptions {
  key: string;
  portName: string;
  listen: string;
  mode: 'http' | 'tcp';
  haproxy: string;
  dir?: string;
}

/**
 * runHaproxy follows the job until SIGTERM or SIGINT (it resolves) or a failure it cannot go on
 * from (it rejects): the job is not found, HAProxy will not start or exits.
 */
async function runHaproxy(opts: RunOptions, client: Pick<MusterClient, 'endpoints' | 'watchEndpoints'>): Promise<void> {
  // Asked once first, so that a wrong --master or job fails now (exit 6 or 4); the watch retries on its own.
  await client.endpoints(opts.key);
  const own = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'muster-lb-'));
  mkdirSync(dir, { recursive: true });
  const cfg = join(dir, 'haproxy.cfg');
  const configOptions: HaproxyConfigOptions = { portName: opts.portName, listen: opts.listen, mode: opts.mode, socket: join(dir, 'admin.sock') };

  const stop = new AbortController();
  let failure: Error | undefined;
  const fail = (err: unknown): void => {
    failure ??= err instanceof Error ? err : new Error(String(err));
    stop.abort();
  };
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let applied = '';
  let latest: EndpointsView | undefined;
  let timer: NodeJS.Timeout | undefined;
  let queue = Promise.resolve();

  const apply = async (view: EndpointsView): Promise<void> => {
    if (stop.signal.aborted) return;
    const config = haproxyConfig(view, configOptions);
    if (config.text === applied) return;
    const next = `${cfg}.next`;
    writeFileSync(next, config.text);
    const refused = await check(opts.haproxy, next);
    if (stop.signal.aborted) return;
    if (refused !== undefined) {
      // The first config must start HAProxy; a later one that it refuses leaves the last one serving.
      if (child === undefined) throw new MusterError('INVALID_ARGUMENT', `haproxy refused the config ${next}: ${refused}`);
      note(`muster lb: haproxy refused the new config (${refused}); the last one goes on serving`);
      return;
    }
    renameSync(next, cfg);
    applied = config.text;
    if (child === undefined) {
      const started = start(opts.haproxy, cfg);
      child = started.child;
      exited = started.exited.then((status) => {
        if (!stop.signal.aborted) fail(new MusterError('INTERNAL', `haproxy exited (${status}); its messages are above`));
      });
      note(`muster lb: ${summaryOf(view, config)}; haproxy started on ${opts.listen} (config ${cfg})`);
    } else {
      child.kill('SIGUSR2');
      note(`muster lb: ${summaryOf(view, config)}; haproxy reloaded`);
    }
  };
  const schedule = (): void => {
    if (timer !== undefined) return;
    // The first view is applied at once, so that HAProxy starts listening; later ones after the burst.
    timer = setTimeout(
      () => {
        timer = undefined;
        const view = latest;
        if (view !== undefined) queue = queue.then(() => apply(view)).catch(fail);
      },
      applied === '' && child === undefined ? 0 : DEBOUNCE_MS,
    );
  };

  const watching = client
    .watchEndpoints(
      opts.key,
      (view) => {
        latest = view;
        schedule();
      },
      stop.signal,
    )
    .catch(fail);
  try {
    await new Promise<void>((resolveStop) => stop.signal.addEventListener('abort', () => resolveStop(), { once: true }));
    if (timer !== undefined) clearTimeout(timer);
    await watching;
    await queue;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) await stopHaproxy(child, exited);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (own) rmSync(dir, { recursive: true, force: true });
  }
  if (failure !== undefined) throw failure;
}

/** check has HAProxy check a config (-c); undefined when it is valid, else HAProxy's first alert. */
function check(haproxy: string, file: string): Promise<string | undefined> {
  return new Promise((resolveCheck, reject) => {
    const child = spawn(haproxy, ['-c', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.once('error', (err: NodeJS.ErrnoException) => reject(spawnProblem(haproxy, err)));
    child.once('close', (code) => {
      if (code === 0) return resolveCheck(undefined);
      const lines = out.split('\n').map((l) => l.trim()).filter((l) => l !== '');
      const alert = lines.find((l) => l.includes('ALERT'));
      resolveCheck(alert?.replace(/^\[ALERT\]\s*\(\d+\)\s*:\s*/, '') ?? lines[0] ?? `it exited with code ${String(code)}`);
    });
  });
}

/**
 * ROUTINE matches what HAProxy says on every start, reload and stop (its version, each worker
 * forked, each proxy stopped with its counts): left out of our stderr, so that each change reads
 * as one line. Its alerts, and any warning not listed here, go through.
 */
const ROUTINE = /^\[NOTICE\]|Proxy \S+ stopped \(cumulated conns|worker \(\d+\) exited with code 0 \(Exit\)|Exiting Master process|All workers exited\. Exiting\.\.\. \(0\)/;

/** start runs HAProxy in master-worker mode in the foreground; its messages that matter go to our stderr. */
function start(haproxy: string, cfg: string): { child: ChildProcess; exited: Promise<string> } {
  const child = spawn(haproxy, ['-W', '-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue;
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      if (!ROUTINE.test(line)) process.stderr.write(`${line}\n`);
    });
  }
  const exited = new Promise<string>((resolveExit) => {
    child.once('error', (err: NodeJS.ErrnoException) => resolveExit(spawnProblem(haproxy, err).message));
    child.once('exit', (code, signal) => resolveExit(signal === null ? `code ${String(code)}` : `signal ${signal}`));
  });
  return { child, exited };
}

/** stopHaproxy asks HAProxy to stop softly (SIGUSR1), then hard (SIGTERM), then kills it. */
async function stopHaproxy(child: ChildProcess, exited: Promise<void>): Promise<void> {
  const within = (ms: number): Promise<boolean> =>
    Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
  child.kill('SIGUSR1');
  if (await within(STOP_GRACE_MS)) return;
  child.kill('SIGTERM');
  if (await within(2000)) return;
  child.kill('SIGKILL');
  await exited;
}

function spawnProblem(haproxy: string, err: NodeJS.ErrnoException): Error {
  if (err.code === 'ENOENT') return new UsageError(`cannot run ${haproxy}: not found`, 'install haproxy (apt-get install haproxy) or give --haproxy PATH');
  return new MusterError('INTERNAL', `cannot run ${haproxy}: ${err.message}`);
}
