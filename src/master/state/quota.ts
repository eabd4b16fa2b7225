// Quotas, as Aurora has them: the preferred-tier (production) jobs of a role may hold at most its
// quota of cpus, mem, disk and gpus in all. Preemptible and revocable jobs do not count: they run on
// what production leaves and are the first to go. A role without a quota is unlimited.
//
// What a role holds is what it asked for, not what its tasks use now: every pending or running
// instance of its active preferred-tier jobs counts its job's per-task request. That is what the
// scheduler will place, so a quota bounds what the role can take from the cell, running or not.
// These helpers are pure; the figures they return are in exact units (milli-cores, MiB), and gpus,
// which a share of one device makes fractional, are rounded to milli at every sum so they stay exact.

import { gpusToMilli, milliToCpus, requestOf, roundGpus, type JobSpec } from '../../core/index.js';
import type { RoleQuota } from './events.js';
import type { CellState, JobRecord } from './state.js';

/** QUOTA_RESOURCES are the resources a quota can limit, in the order they are shown. */
export const QUOTA_RESOURCES = ['cpus', 'mem', 'disk', 'gpus'] as const;
export type QuotaResource = (typeof QUOTA_RESOURCES)[number];

/** QuotaAmounts is an amount of each quota resource, in exact units. */
export interface QuotaAmounts {
  cpusMilli: number;
  memMiB: number;
  diskMiB: number;
  /** Devices, milli-precise: a job of shares holds a fraction of one (4 tasks × 0.25 hold 1). */
  gpus: number;
}

/** QUOTA_FIELDS maps a resource's name to its field in QuotaAmounts and RoleQuota. */
export const QUOTA_FIELDS = { cpus: 'cpusMilli', mem: 'memMiB', disk: 'diskMiB', gpus: 'gpus' } as const satisfies Record<
  QuotaResource,
  keyof QuotaAmounts & keyof RoleQuota
>;

export function noQuotaUsage(): QuotaAmounts {
  return { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0 };
}

/** roleOf is the role of a job key: its first part. */
export function roleOf(jobKey: string): string {
  const slash = jobKey.indexOf('/');
  return slash < 0 ? jobKey : jobKey.slice(0, slash);
}

/** countsAgainstQuota: only preferred-tier jobs consume quota, as only production jobs do in Aurora. */
export function countsAgainstQuota(spec: JobSpec): boolean {
  return spec.tier === 'preferred';
}

/** addRequests adds n tasks' worth of a job's per-task request to sum, in place. */
function addRequests(sum: QuotaAmounts, spec: JobSpec, n: number): void {
  if (n === 0) return;
  const r = requestOf(spec);
  sum.cpusMilli += r.cpusMilli * n;
  sum.memMiB += r.memMiB * n;
  sum.diskMiB += r.diskMiB * n;
  sum.gpus = roundGpus(sum.gpus + gpusToMilli(r.gpus) * n / 1000);
}

/** liveInstances counts the instances of a job that hold quota: pending or running, not ended. */
function liveInstances(job: JobRecord): number {
  let n = 0;
  for (const inst of job.instances) if (inst.state === 'PENDING' || inst.state === 'ACTIVE') n++;
  return n;
}

/** specQuotaUsage is what a job created from spec would hold: instances × its per-task request. */
export function specQuotaUsage(spec: JobSpec): QuotaAmounts {
  const sum = noQuotaUsage();
  if (countsAgainstQuota(spec)) addRequests(sum, spec, spec.instances);
  return sum;
}

/** jobQuotaUsage is what a job holds against its role's quota: nothing once it is no longer ACTIVE. */
export function jobQuotaUsage(job: JobRecord): QuotaAmounts {
  const sum = noQuotaUsage();
  if (job.state === 'ACTIVE' && countsAgainstQuota(job.spec)) addRequests(sum, job.spec, liveInstances(job));
  return sum;
}

/** roleQuotaUsage adds up what the jobs of one role hold against its quota. */
export function roleQuotaUsage(state: CellState, role: string): QuotaAmounts {
  const sum = noQuotaUsage();
  for (const job of state.jobs.values()) {
    if (job.state !== 'ACTIVE' || !countsAgainstQuota(job.spec) || roleOf(job.key) !== role) continue;
    addRequests(sum, job.spec, liveInstances(job));
  }
  return sum;
}

/** quotaUsageByRole is what every role holds against its quota, in one pass over the jobs. */
export function quotaUsageByRole(state: CellState): Map<string, QuotaAmounts> {
  const byRole = new Map<string, QuotaAmounts>();
  for (const job of state.jobs.values()) {
    if (job.state !== 'ACTIVE' || !countsAgainstQuota(job.spec)) continue;
    const role = roleOf(job.key);
    let sum = byRole.get(role);
    if (sum === undefined) byRole.set(role, (sum = noQuotaUsage()));
    addRequests(sum, job.spec, liveInstances(job));
  }
  return byRole;
}

/**
 * QuotaLedger is what roles hold during one decision that creates many jobs (the run controller
 * starting ten thousand cron runs at one time): each role's usage is added up once, and each job
 * decided is added to it, so that the jobs of one decision cannot together exceed a quota that
 * each alone would fit.
 */
export class QuotaLedger {
  private readonly used = new Map<string, QuotaAmounts>();

  usedBy(state: CellState, role: string): QuotaAmounts {
    let sum = this.used.get(role);
    if (sum === undefined) this.used.set(role, (sum = roleQuotaUsage(state, role)));
    return sum;
  }

  /** add records a job decided in this decision (a no-op for a role without quota). */
  add(state: CellState, spec: JobSpec): void {
    const role = roleOf(spec.job);
    if (!countsAgainstQuota(spec) || state.quotas.get(role) === undefined) return;
    const sum = this.usedBy(state, role);
    addRequests(sum, spec, spec.instances);
  }
}

/** QuotaShortfall is one resource that a job would take past its role's quota, in exact units. */
export interface QuotaShortfall {
  resource: QuotaResource;
  quota: number;
  /** What the role holds now, the job it replaces included. */
  used: number;
  /** What the job adds: its request, less what the job it replaces holds. */
  needs: number;
}

/** QuotaRefusal says why a job does not fit its role's quota: each resource short, and a sentence. */
export interface QuotaRefusal {
  role: string;
  shortfalls: QuotaShortfall[];
  /** `role "web" has 2 cpus of quota left, the job needs 3 (quota 8 cpus, used 6)` and so on. */
  message: string;
}

/**
 * checkQuota tells whether the job of spec keeps its role within its quota, or why not. A job that
 * replaces an active one of the same key counts what it holds beyond the old one, so that a job
 * may always shrink, even in a role already over a quota that was lowered under it.
 */
export function checkQuota(state: CellState, spec: JobSpec, ledger?: QuotaLedger): QuotaRefusal | undefined {
  if (!countsAgainstQuota(spec)) return undefined;
  const role = roleOf(spec.job);
  const quota = state.quotas.get(role)?.quota;
  if (quota === undefined) return undefined;
  const used = ledger === undefined ? roleQuotaUsage(state, role) : ledger.usedBy(state, role);
  const wanted = specQuotaUsage(spec);
  const old = state.jobs.get(spec.job);
  const held = old === undefined ? noQuotaUsage() : jobQuotaUsage(old);
  const shortfalls: QuotaShortfall[] = [];
  for (const resource of QUOTA_RESOURCES) {
    const field = QUOTA_FIELDS[resource];
    const limit = quota[field];
    if (limit === undefined) continue;
    const needs = exactDifference(resource, wanted[field], held[field]);
    if (needs > 0 && exceeds(resource, used[field] + needs, limit)) shortfalls.push({ resource, quota: limit, used: used[field], needs });
  }
  if (shortfalls.length === 0) return undefined;
  const replacing = held.cpusMilli + held.memMiB + held.diskMiB + gpusToMilli(held.gpus) > 0;
  const clauses = shortfalls.map((s, i) => {
    const left = `${amountText(s.resource, Math.max(0, s.quota - s.used))} ${s.resource}`;
    const needs = `${amountText(s.resource, s.needs)}${replacing ? ' more than the job it replaces' : ''}`;
    const figures = `(quota ${amountText(s.resource, s.quota)} ${s.resource}, used ${amountText(s.resource, s.used)})`;
    return i === 0 ? `role "${role}" has ${left} of quota left, the job needs ${needs} ${figures}` : `${left} left, the job needs ${needs} ${figures}`;
  });
  return { role, shortfalls, message: clauses.join('; and ') };
}

/** exactDifference is a - b; for gpus rounded to milli, so that 0.3 - 0.1 is 0.2 and not 0.19999999999999998. */
function exactDifference(resource: QuotaResource, a: number, b: number): number {
  return resource === 'gpus' ? roundGpus(a - b) : a - b;
}

/** exceeds: amount is more than limit; gpus compared in milli, so a sum of shares equal to the limit fits. */
function exceeds(resource: QuotaResource, amount: number, limit: number): boolean {
  return resource === 'gpus' ? gpusToMilli(amount) > gpusToMilli(limit) : amount > limit;
}

/** apiAmount turns an exact amount into the API's unit: cores for cpus, MiB as they are, devices to milli. */
export function apiAmount(resource: QuotaResource, exact: number): number {
  if (resource === 'cpus') return milliToCpus(exact);
  return resource === 'gpus' ? roundGpus(exact) : exact;
}

/**
 * amountText writes an exact amount for a person: cores for cpus, a size for mem and disk in the
 * largest unit that holds it exactly (quota figures must add up when read, so nothing is rounded).
 */
export function amountText(resource: QuotaResource, exact: number): string {
  if (resource === 'cpus') return String(milliToCpus(exact));
  if (resource === 'gpus') return String(roundGpus(exact));
  const sign = exact < 0 ? '-' : '';
  const mib = Math.abs(exact);
  if (mib !== 0 && mib % (1024 * 1024) === 0) return `${sign}${mib / (1024 * 1024)}TiB`;
  if (mib !== 0 && mib % 1024 === 0) return `${sign}${mib / 1024}GiB`;
  return `${sign}${mib}MiB`;
}
