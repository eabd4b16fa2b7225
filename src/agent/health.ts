// Health checks of a running task, with Mesos's semantics. One HealthChecker per task runs one check
// at a time: the first right after start(), each next one intervalSecs after the previous ENDED, so
// a slow task is never probed twice at once. During the grace period failures do not count (the
// task may still be starting); the first success ends it early. After consecutiveFailures counted
// failures in a row the checker reports the task unhealthy once and stops: the agent kills it.

import { connect } from 'node:net';
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { MusterError } from '../core/index.js';
import type { HealthCheck } from '../core/index.js';
import type { Logger } from '../log/index.js';

/** CommandResult is what a command check's process did: its exit code (none if killed) and output. */
export interface CommandResult {
  exitCode: number | null;
  output: string;
}

export interface HealthCheckerOptions {
  check: HealthCheck;
  /** The task's ports by name; an http or tcp check reaches the one it names. */
  ports: Record<string, number>;
  /** Where the task listens, seen from the agent; 127.0.0.1 unless the task has its own network. */
  host?: string;
  /**
   * runCommand runs a command check inside the task and kills it after timeoutMs. A rejection counts
   * as a failed check. The checker stops waiting at timeoutMs whatever runCommand does.
   */
  runCommand(cmd: string, timeoutMs: number): Promise<CommandResult>;
  /** onHealthChange runs when health is first known (after the grace period) and each time it flips. */
  onHealthChange(healthy: boolean, detail: string): void;
  /** onUnhealthy runs once, when consecutiveFailures failures in a row are reached; the checker has stopped. */
  onUnhealthy(detail: string): void;
  /** onFailure runs for each failed check that counts (not those in the grace period), for /metrics. */
  onFailure?: () => void;
  logger: Logger;
  /** A monotonic clock in ms for the grace period; tests inject one. */
  now?: () => number;
}

/** Outcome is the result of one check, with a sentence for people. */
interface Outcome {
  ok: boolean;
  detail: string;
}

/** MAX_OUTPUT_IN_DETAIL bounds how much of a command's output a detail quotes. */
const MAX_OUTPUT_IN_DETAIL = 200;

/** HealthChecker runs one task's health check until it is stopped or finds the task unhealthy. */
export class HealthChecker {
  private readonly check: HealthCheck;
  private readonly host: string;
  private readonly port: number | undefined;
  private readonly now: () => number;
  private startedAt = 0;
  private started = false;
  private stopped = false;
  /** True until the grace period has passed or a check has succeeded. */
  private inGrace = false;
  private timer: NodeJS.Timeout | undefined;
  /** The check in flight: aborting it cancels its socket; a result that arrives after is dropped. */
  private inFlight: { controller: AbortController; deadline: NodeJS.Timeout } | undefined;
  private healthyNow: boolean | undefined;
  private failures = 0;

  constructor(private readonly options: HealthCheckerOptions) {
    this.check = options.check;
    this.host = options.host ?? '127.0.0.1';
    this.now = options.now ?? (() => performance.now());
    const kinds = [options.check.http, options.check.tcp, options.check.command].filter((k) => k !== undefined);
    if (kinds.length !== 1) throw new MusterError('INVALID_ARGUMENT', 'a health check needs exactly one of http, tcp or command');
    const portName = options.check.http?.port ?? options.check.tcp?.port;
    if (portName !== undefined) {
      const port = Object.hasOwn(options.ports, portName) ? options.ports[portName] : undefined;
      if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
        throw new MusterError('INVALID_ARGUMENT', `the health check's port "${portName}" is not one of the task's ports`);
      }
      this.port = port;
    }
  }

  /** healthy is undefined until the first check that counts, then the latest counted result. */
  get healthy(): boolean | undefined {
    return this.healthyNow;
  }

  /** consecutiveFailures counts the counted failures since the last success. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** start runs the first check now and starts the grace period. It runs once; a stopped checker stays stopped. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.startedAt = this.now();
    this.inGrace = this.check.gracePeriodSecs > 0;
    this.runCheck();
  }

  /** stop cancels the next check and the one in flight; no callback runs after it. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const inFlight = this.inFlight;
    this.inFlight = undefined;
    if (inFlight !== undefined) {
      clearTimeout(inFlight.deadline);
      inFlight.controller.abort();
    }
  }

  private runCheck(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const controller = new AbortController();
    const timeoutMs = this.check.timeoutSecs * 1000;
    // The deadline resolves the race below with a failure; aborting then closes the probe's socket.
    let timedOut: (o: Outcome) => void = () => undefined;
    const late: Outcome = { ok: false, detail: `${this.target()} timed out after ${this.check.timeoutSecs}s` };
    const deadline = setTimeout(() => timedOut(late), timeoutMs);
    const inFlight = { controller, deadline };
    this.inFlight = inFlight;
    Promise.race([this.probe(controller.signal, timeoutMs), new Promise<Outcome>((resolve) => (timedOut = resolve))])
      .then((outcome) => {
        clearTimeout(deadline);
        controller.abort();
        // stop() ran while the check was in flight (or this is a stale check): say nothing.
        if (this.inFlight !== inFlight) return;
        this.inFlight = undefined;
        this.record(outcome);
      })
      .catch((err: unknown) => {
        // Only a bug in a callback lands here; the checker goes on with the next check.
        this.options.logger.error('health check failed unexpectedly', { err });
        this.scheduleNext();
      });
  }

  /** record turns one outcome into health, counts and callbacks, then schedules the next check. */
  private record(outcome: Outcome): void {
    if (outcome.ok) {
      this.inGrace = false;
      this.failures = 0;
      this.setHealthy(true, outcome.detail);
      this.scheduleNext();
      return;
    }
    if (this.inGrace && this.now() - this.startedAt < this.check.gracePeriodSecs * 1000) {
      this.options.logger.debug('health check failed in the grace period', { detail: outcome.detail });
      this.scheduleNext();
      return;
    }
    this.inGrace = false;
    this.failures++;
    this.options.onFailure?.();
    this.setHealthy(false, outcome.detail);
    if (this.stopped) return;
    if (this.failures >= this.check.consecutiveFailures) {
      this.stop();
      this.options.logger.warn('task is unhealthy', { failures: this.failures, detail: outcome.detail });
      this.options.onUnhealthy(outcome.detail);
      return;
    }
    this.scheduleNext();
  }

  private setHealthy(healthy: boolean, detail: string): void {
    if (this.healthyNow === healthy) return;
    this.healthyNow = healthy;
    this.options.logger.info(healthy ? 'task is healthy' : 'task failed a health check', { detail });
    this.options.onHealthChange(healthy, detail);
  }

  private scheduleNext(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.timer = setTimeout(() => this.runCheck(), this.check.intervalSecs * 1000);
  }

  /** target names what is checked, as the first words of a detail. */
  private target(): string {
    const http = this.check.http;
    if (http !== undefined) return `GET http://${hostInUrl(this.host)}:${this.port}${http.path}`;
    if (this.check.tcp !== undefined) return `connect to ${hostInUrl(this.host)}:${this.port}`;
    return 'command';
  }

  /** probe runs one check; it never rejects, and it gives up its socket when signal aborts. */
  private probe(signal: AbortSignal, timeoutMs: number): Promise<Outcome> {
    const http = this.check.http;
    const command = this.check.command;
    if (http !== undefined) return this.probeHttp(http.path, http.statuses, signal);
    if (command !== undefined) return this.probeCommand(command.cmd, timeoutMs);
    return this.probeTcp(signal);
  }

  private probeHttp(path: string, statuses: readonly number[], signal: AbortSignal): Promise<Outcome> {
    const target = this.target();
    return new Promise((resolve) => {
      try {
        // agent: false is a fresh connection per check, closed after it: nothing stays open to the
        // task between checks. Redirects are not followed (node's http never does); a 3xx counts as
        // it is. Only the status line and headers are read (node bounds them at 16 KiB).
        const req = request({
          host: this.host,
          port: this.port,
          path,
          method: 'GET',
          agent: false,
          signal,
          headers: { 'user-agent': 'muster-health-check', connection: 'close' },
        });
        req.once('response', (res) => {
          const status = res.statusCode ?? 0;
          res.destroy();
          const ok = statuses.length === 0 ? status >= 200 && status < 400 : statuses.includes(status);
          resolve({ ok, detail: `${target} answered ${status}` });
        });
        req.once('error', (err) => resolve({ ok: false, detail: `${target} failed: ${errorCode(err)}` }));
        req.once('close', () => resolve({ ok: false, detail: `${target} failed: the connection closed` }));
        req.end();
      } catch (err) {
        resolve({ ok: false, detail: `${target} failed: ${errorCode(err)}` });
      }
    });
  }

  private probeTcp(signal: AbortSignal): Promise<Outcome> {
    const target = this.target();
    return new Promise((resolve) => {
      const socket = connect({ host: this.host, port: this.port ?? 0 });
      const onAbort = (): void => {
        socket.destroy();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        resolve({ ok: true, detail: `${target} succeeded` });
        socket.destroy();
      });
      socket.once('error', (err) => resolve({ ok: false, detail: `${target} failed: ${errorCode(err)}` }));
      socket.once('close', () => {
        signal.removeEventListener('abort', onAbort);
        resolve({ ok: false, detail: `${target} failed: the connection closed` });
      });
    });
  }

  private probeCommand(cmd: string, timeoutMs: number): Promise<Outcome> {
    let running: Promise<CommandResult>;
    try {
      running = this.options.runCommand(cmd, timeoutMs);
    } catch (err) {
      return Promise.resolve({ ok: false, detail: `command could not run: ${errorCode(err)}` });
    }
    return running.then(
      (r) => {
        const output = quote(r.output);
        const said = output === '' ? '' : `: ${output}`;
        if (r.exitCode === null) return { ok: false, detail: `command was killed before it exited${said}` };
        return { ok: r.exitCode === 0, detail: `command exited with status ${r.exitCode}${said}` };
      },
      (err: unknown) => ({ ok: false, detail: `command could not run: ${errorCode(err)}` }),
    );
  }
}

/** hostInUrl brackets an IPv6 address, as a URL writes it. */
function hostInUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** errorCode is the short name of a socket error (ECONNREFUSED), else its message. */
function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    const message = (err as { message?: unknown }).message;
    if (typeof message === 'string') return quote(message);
  }
  return quote(String(err));
}

/** quote keeps the start of a command's output on one line, for a detail. */
function quote(text: string): string {
  return text
    .slice(0, MAX_OUTPUT_IN_DETAIL * 2)
    .replace(/[\x00-\x1f\x7f]+/g, ' ')
    .trim()
    .slice(0, MAX_OUTPUT_IN_DETAIL);
}
