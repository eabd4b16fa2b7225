// Resources are exact. cpus are held as integer milli-cores, mem and disk as integer MiB, ports as
// sorted inclusive ranges, so that summing and subtracting the usage of ten thousand tasks never
// drifts (0.1 + 0.2 !== 0.3 is a scheduling bug waiting to happen). gpus are a number of devices
// that a task's share of one device makes fractional (0.5); they stay a plain number for the wire's
// sake, and every sum of them is rounded to milli so that it is exact all the same.

import { MusterError } from './errors.js';

/** PortRange is an inclusive range of port numbers. */
export interface PortRange {
  readonly begin: number;
  readonly end: number;
}

/** Resources is an amount held by an agent, offered, or consumed by a task. */
export interface Resources {
  readonly cpusMilli: number;
  readonly memMiB: number;
  readonly diskMiB: number;
  /** Devices: whole on an agent, possibly a share (milli-precise) in what tasks hold. */
  readonly gpus: number;
  /** Sorted, non-overlapping, non-adjacent ranges. */
  readonly ports: readonly PortRange[];
}

/** ResourceRequest is what one task of a job asks for: ports by name, numbers chosen at placement. */
export interface ResourceRequest {
  readonly cpusMilli: number;
  readonly memMiB: number;
  readonly diskMiB: number;
  /** Whole devices (1, 2, …), a share of one device below 1 (0.25, milli-precise), or 0. */
  readonly gpus: number;
  readonly ports: readonly string[];
}

/** ResourcesView is the wire and display form: cpus in cores, mem and disk in MiB. */
export interface ResourcesView {
  cpus: number;
  mem: number;
  disk: number;
  gpus: number;
  ports: string;
}

export const EMPTY: Resources = Object.freeze({ cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [] });

export const MAX_PORT = 65535;

/** MAX_GPU_DEVICES bounds the GPUs of one agent (the scheduler's device vectors are this long at most). */
export const MAX_GPU_DEVICES = 64;

export function cpusToMilli(cpus: number): number {
  return Math.round(cpus * 1000);
}

export function milliToCpus(milli: number): number {
  return milli / 1000;
}

/** isMilliPrecise: a cpus figure that milli-cores hold exactly (0.25 yes, 0.0001 no). */
export function isMilliPrecise(cpus: number): boolean {
  return Number.isFinite(cpus) && Math.abs(cpus * 1000 - Math.round(cpus * 1000)) < 1e-6;
}

/** gpusToMilli is a gpus figure in thousandths of a device, the unit GPU sums are exact in. */
export function gpusToMilli(gpus: number): number {
  return Math.round(gpus * 1000);
}

/** roundGpus rounds a gpus figure to milli, so that sums of shares do not drift (3 × 0.1 is 0.3). */
export function roundGpus(gpus: number): number {
  return gpusToMilli(gpus) / 1000;
}

/** isGpuAmount: whole devices, or a share of one device below 1 with at most 3 decimals, or 0. */
export function isGpuAmount(gpus: number): boolean {
  return Number.isFinite(gpus) && gpus >= 0 && (Number.isInteger(gpus) || (gpus < 1 && isMilliPrecise(gpus)));
}

// ---- port ranges ---------------------------------------------------------------------------

/** normalizeRanges sorts and merges overlapping or adjacent ranges. */
export function normalizeRanges(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.begin - b.begin);
  const out: PortRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.begin <= last.end + 1) {
      if (r.end > last.end) out[out.length - 1] = { begin: last.begin, end: r.end };
    } else {
      out.push({ begin: r.begin, end: r.end });
    }
  }
  return out;
}

export function countPorts(ranges: readonly PortRange[]): number {
  let n = 0;
  for (const r of ranges) n += r.end - r.begin + 1;
  return n;
}

export function addRanges(a: readonly PortRange[], b: readonly PortRange[]): PortRange[] {
  if (b.length === 0) return [...a];
  if (a.length === 0) return [...b];
  return normalizeRanges([...a, ...b]);
}

/** subtractRanges removes b from a; ports of b not in a are ignored. Both inputs normalized. */
export function subtractRanges(a: readonly PortRange[], b: readonly PortRange[]): PortRange[] {
  if (b.length === 0) return [...a];
  const out: PortRange[] = [];
  let j = 0;
  for (const r of a) {
    let begin = r.begin;
    while (j < b.length && (b[j] as PortRange).end < begin) j++;
    let k = j;
    while (begin <= r.end) {
      const cut = b[k];
      if (cut === undefined || cut.begin > r.end) {
        out.push({ begin, end: r.end });
        break;
      }
      if (cut.begin > begin) out.push({ begin, end: cut.begin - 1 });
      begin = Math.max(begin, cut.end + 1);
      k++;
    }
  }
  return out;
}

export function rangesContain(a: readonly PortRange[], b: readonly PortRange[]): boolean {
  return subtractRanges(b, a).length === 0;
}

/** portsToRanges turns single port numbers into normalized ranges. */
export function portsToRanges(ports: readonly number[]): PortRange[] {
  return normalizeRanges(ports.map((p) => ({ begin: p, end: p })));
}

/** takePorts picks the n lowest ports of the ranges (deterministic), or undefined if too few. */
export function takePorts(ranges: readonly PortRange[], n: number): number[] | undefined {
  const out: number[] = [];
  for (const r of ranges) {
    for (let p = r.begin; p <= r.end && out.length < n; p++) out.push(p);
    if (out.length === n) return out;
  }
  return out.length === n ? out : undefined;
}

/** parseRanges reads "[31000-31999,32500-32600]" or "31000-31999" or "8080". */
export function parseRanges(text: string, field = 'ports'): PortRange[] {
  const body = text.trim().replace(/^\[/, '').replace(/\]$/, '').trim();
  if (body === '') return [];
  const ranges: PortRange[] = [];
  for (const part of body.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (m === null) {
      throw new MusterError('INVALID_ARGUMENT', `${field}: "${part.trim()}" is not a port or a range like 31000-31999`);
    }
    const begin = Number(m[1]);
    const end = m[2] === undefined ? begin : Number(m[2]);
    if (begin < 1 || end > MAX_PORT || begin > end) {
      throw new MusterError('INVALID_ARGUMENT', `${field}: range ${begin}-${end} must lie within 1-${MAX_PORT}, low to high`);
    }
    ranges.push({ begin, end });
  }
  return normalizeRanges(ranges);
}

export function formatRanges(ranges: readonly PortRange[]): string {
  return `[${ranges.map((r) => (r.begin === r.end ? `${r.begin}` : `${r.begin}-${r.end}`)).join(',')}]`;
}

// ---- arithmetic ----------------------------------------------------------------------------

export function add(a: Resources, b: Resources): Resources {
  return {
    cpusMilli: a.cpusMilli + b.cpusMilli,
    memMiB: a.memMiB + b.memMiB,
    diskMiB: a.diskMiB + b.diskMiB,
    gpus: roundGpus(a.gpus + b.gpus),
    ports: addRanges(a.ports, b.ports),
  };
}

/** subtract takes b out of a. Scalars may go negative (overcommit shows as such), never silently clamp. */
export function subtract(a: Resources, b: Resources): Resources {
  return {
    cpusMilli: a.cpusMilli - b.cpusMilli,
    memMiB: a.memMiB - b.memMiB,
    diskMiB: a.diskMiB - b.diskMiB,
    gpus: roundGpus(a.gpus - b.gpus),
    ports: subtractRanges(a.ports, b.ports),
  };
}

/** contains: a holds at least b, ports included. */
export function contains(a: Resources, b: Resources): boolean {
  return (
    a.cpusMilli >= b.cpusMilli &&
    a.memMiB >= b.memMiB &&
    a.diskMiB >= b.diskMiB &&
    gpusToMilli(a.gpus) >= gpusToMilli(b.gpus) &&
    rangesContain(a.ports, b.ports)
  );
}

/** satisfies: a free amount can hold a request (ports counted, numbers not yet chosen). */
export function satisfies(free: Resources, req: ResourceRequest): boolean {
  return (
    free.cpusMilli >= req.cpusMilli &&
    free.memMiB >= req.memMiB &&
    free.diskMiB >= req.diskMiB &&
    gpusToMilli(free.gpus) >= gpusToMilli(req.gpus) &&
    (req.ports.length === 0 || countPorts(free.ports) >= req.ports.length)
  );
}

/** allocate turns a request and the port numbers chosen for it into the resources it consumes. */
export function allocate(req: ResourceRequest, ports: readonly number[]): Resources {
  return { cpusMilli: req.cpusMilli, memMiB: req.memMiB, diskMiB: req.diskMiB, gpus: req.gpus, ports: portsToRanges(ports) };
}

export function isEmpty(r: Resources): boolean {
  return r.cpusMilli === 0 && r.memMiB === 0 && r.diskMiB === 0 && gpusToMilli(r.gpus) === 0 && r.ports.length === 0;
}

// ---- sizes ---------------------------------------------------------------------------------

const UNIT_BYTES: Record<string, number> = {
  B: 1,
  KIB: 1024,
  MIB: 1024 ** 2,
  GIB: 1024 ** 3,
  TIB: 1024 ** 4,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
  TB: 1000 ** 4,
  K: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
  T: 1024 ** 4,
};

/**
 * parseSize reads a size as whole MiB: a bare number is MiB; "64MiB", "1.5GiB", "512KiB", "2GB" carry
 * their unit. Sizes that are not a whole MiB round up, so a task never gets less than it asked for.
 * Returns an error message instead of throwing, so schema code can attach it to the field.
 */
export function parseSize(value: string | number): { mib: number } | { error: string } {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return { error: `${value} is not a size` };
    return { mib: Math.ceil(value) };
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (m === null) return { error: `"${value}" is not a size; write it like 64MiB or 1GiB` };
  const amount = Number(m[1]);
  const unit = (m[2] ?? '').toUpperCase();
  if (unit === '') return { mib: Math.ceil(amount) };
  const bytes = UNIT_BYTES[unit];
  if (bytes === undefined) return { error: `"${m[2]}" in "${value}" is not a size unit; use KiB, MiB, GiB or TiB` };
  return { mib: Math.ceil((amount * bytes) / 1024 ** 2) };
}

export function formatMiB(mib: number): string {
  if (mib >= 1024 * 1024 && mib % (1024 * 1024) === 0) return `${mib / (1024 * 1024)}TiB`;
  if (mib >= 1024) {
    const gib = mib / 1024;
    return Number.isInteger(gib) ? `${gib}GiB` : `${gib.toFixed(1)}GiB`;
  }
  return `${mib}MiB`;
}

// ---- the agent's --resources flag ---------------------------------------------------------

/**
 * parseResourceFlag reads Mesos's syntax, "cpus:2;mem:1024;disk:10GiB;gpus:0;ports:[31000-31999]",
 * into the parts it names; the caller fills the rest from detection.
 */
export function parseResourceFlag(text: string): Partial<Resources> {
  const out: { -readonly [K in keyof Resources]?: Resources[K] } = {};
  for (const raw of text.split(';')) {
    const item = raw.trim();
    if (item === '') continue;
    const colon = item.indexOf(':');
    if (colon <= 0) throw new MusterError('INVALID_ARGUMENT', `--resources: "${item}" should be name:value, e.g. cpus:2`);
    const name = item.slice(0, colon).trim();
    const value = item.slice(colon + 1).trim();
    switch (name) {
      case 'cpus': {
        const cpus = Number(value);
        if (value === '' || !Number.isFinite(cpus) || cpus < 0 || !isMilliPrecise(cpus)) {
          throw new MusterError('INVALID_ARGUMENT', `--resources: cpus "${value}" must be a non-negative number with at most 3 decimals`);
        }
        out.cpusMilli = cpusToMilli(cpus);
        break;
      }
      case 'mem':
      case 'disk': {
        const size = parseSize(value);
        if ('error' in size) throw new MusterError('INVALID_ARGUMENT', `--resources: ${name}: ${size.error}`);
        if (name === 'mem') out.memMiB = size.mib;
        else out.diskMiB = size.mib;
        break;
      }
      case 'gpus': {
        // An agent offers whole devices; only what a task holds can be a share of one.
        const gpus = Number(value);
        if (value === '' || !Number.isInteger(gpus) || gpus < 0 || gpus > MAX_GPU_DEVICES) {
          throw new MusterError('INVALID_ARGUMENT', `--resources: gpus "${value}" must be a whole number of devices from 0 to ${MAX_GPU_DEVICES}`);
        }
        out.gpus = gpus;
        break;
      }
      case 'ports':
        out.ports = parseRanges(value, '--resources: ports');
        break;
      default:
        throw new MusterError('INVALID_ARGUMENT', `--resources: unknown resource "${name}"; use cpus, mem, disk, gpus or ports`);
    }
  }
  return out;
}

export function toView(r: Resources): ResourcesView {
  return { cpus: milliToCpus(r.cpusMilli), mem: r.memMiB, disk: r.diskMiB, gpus: r.gpus, ports: formatRanges(r.ports) };
}

export function fromView(v: ResourcesView): Resources {
  return { cpusMilli: cpusToMilli(v.cpus), memMiB: v.mem, diskMiB: v.disk, gpus: roundGpus(v.gpus), ports: parseRanges(v.ports) };
}

/** formatResources is the one-line human form: "0.25 cpus, 64MiB mem, 128MiB disk, 1 port". */
export function formatResources(r: Resources): string {
  const parts = [`${milliToCpus(r.cpusMilli)} cpus`, `${formatMiB(r.memMiB)} mem`, `${formatMiB(r.diskMiB)} disk`];
  // A share prints as a decimal ("0.5 gpus"); a sum that drifted would print 0.30000000000000004.
  if (gpusToMilli(r.gpus) !== 0) parts.push(`${roundGpus(r.gpus)} gpus`);
  if (r.ports.length > 0) parts.push(`ports ${formatRanges(r.ports)}`);
  return parts.join(', ');
}
