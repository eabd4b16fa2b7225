// Muster's Resources (integer milli-cores, MiB, gpus, port ranges) in Mesos's shape (a list of named
// Resource entries: cpus in cores, mem and disk in MB, gpus, ports as RANGES) and back. Offers go
// out as Resource lists; the resources of a framework's TaskInfo come back as one and must be summed
// into what Muster can place. Only the five resources Muster has exist: a name it does not know is
// refused, not dropped, so that a task never runs with less than its framework thinks it asked for.

import {
  MAX_PORT,
  gpusToMilli,
  isGpuAmount,
  milliToCpus,
  normalizeRanges,
  roundGpus,
} from '../../core/index.js';
import type { PortRange, Resources } from '../../core/index.js';
import type { Resource } from './types.js';

export type FromMesosResult = { ok: true; resources: Resources } | { ok: false; field: string; message: string };

/** MesosResourcesObject is the legacy /master/state form of an amount. */
export interface MesosResourcesObject {
  cpus: number;
  mem: number;
  disk: number;
  gpus: number;
  /** "[31000-31001, 31005-31005]"; absent when there are no ports. */
  ports?: string;
}

const KNOWN = ['cpus', 'mem', 'disk', 'gpus', 'ports'] as const;
type Known = (typeof KNOWN)[number];

function isKnown(name: string): name is Known {
  return (KNOWN as readonly string[]).includes(name);
}

/**
 * toMesosResources lists r as Mesos Resources, unreserved ("*" or the given role) and, for a
 * MULTI_ROLE framework's offer, allocated to allocationRole. Zero amounts are left out, as Mesos
 * leaves out what an agent does not have; an overcommitted (negative) amount offers nothing either.
 */
export function toMesosResources(r: Resources, role = '*', allocationRole?: string): Resource[] {
  const out: Resource[] = [];
  const scalar = (name: string, value: number): void => {
    if (value > 0) out.push(entry({ name, type: 'SCALAR', scalar: { value } }, role, allocationRole));
  };
  scalar('cpus', milliToCpus(r.cpusMilli));
  scalar('mem', r.memMiB);
  scalar('disk', r.diskMiB);
  scalar('gpus', gpusToMilli(r.gpus) / 1000);
  if (r.ports.length > 0) {
    const range = r.ports.map((p) => ({ begin: p.begin, end: p.end }));
    out.push(entry({ name: 'ports', type: 'RANGES', ranges: { range } }, role, allocationRole));
  }
  return out;
}

function entry(resource: Resource, role: string, allocationRole: string | undefined): Resource {
  resource.role = role;
  if (allocationRole !== undefined) resource.allocation_info = { role: allocationRole };
  return resource;
}

/**
 * fromMesosResources sums a Resource list (a TaskInfo's, an executor's) into Muster's Resources:
 * entries of one name add up whatever their role; cpus round up to the milli-core and mem and disk
 * to the MiB, so that a task never gets less than it asked for; ports merge. field is the list's
 * path, named in the answer when something is wrong.
 */
export function fromMesosResources(list: readonly Resource[], field = 'resources'): FromMesosResult {
  const sums = { cpus: 0, mem: 0, disk: 0, gpus: 0 };
  const ports: PortRange[] = [];
  const unknown: string[] = [];
  let firstUnknown = -1;
  for (let i = 0; i < list.length; i++) {
    const res = list[i] as Resource;
    const at = `${field}[${i}]`;
    if (!isKnown(res.name)) {
      if (firstUnknown < 0) firstUnknown = i;
      if (!unknown.includes(res.name)) unknown.push(res.name);
      continue;
    }
    if (res.name === 'ports') {
      if (res.type !== 'RANGES' || res.ranges === undefined) return bad(`${at}.type`, `${at} (ports) must be a RANGES resource`);
      for (let j = 0; j < res.ranges.range.length; j++) {
        const { begin, end } = res.ranges.range[j] as PortRange;
        if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 1 || end > MAX_PORT || begin > end) {
          return bad(`${at}.ranges.range[${j}]`, `${at}.ranges.range[${j}]: ports ${begin}-${end} must lie within 1-${MAX_PORT}, low to high`);
        }
        ports.push({ begin, end });
      }
      continue;
    }
    const value = res.scalar?.value;
    if (res.type !== 'SCALAR' || value === undefined) return bad(`${at}.type`, `${at} (${res.name}) must be a SCALAR resource`);
    if (!Number.isFinite(value) || value < 0) {
      return bad(`${at}.scalar.value`, `${at}.scalar.value (${res.name}) must be a finite number of at least 0, not ${value}`);
    }
    sums[res.name] += value;
  }
  if (unknown.length > 0) {
    const names = unknown.map((n) => `"${n.slice(0, 64)}"`).join(', ');
    return bad(`${field}[${firstUnknown}].name`, `${field}: Muster has no resource ${names}; it offers cpus, mem, disk, gpus and ports`);
  }

  const cpusMilli = ceilScaled(sums.cpus, 1000);
  const memMiB = ceilScaled(sums.mem, 1);
  const diskMiB = ceilScaled(sums.disk, 1);
  for (const [name, n] of [['cpus', cpusMilli], ['mem', memMiB], ['disk', diskMiB]] as const) {
    if (!Number.isSafeInteger(n)) return bad(field, `${field}: ${name} ${sums[name]} is too large`);
  }
  // Mesos wants whole GPUs; Muster also places a share of one device (0.5), milli-precise.
  const gpus = roundGpus(sums.gpus);
  if (!isGpuAmount(gpus) || Math.abs(sums.gpus - gpus) > 1e-9) {
    return bad(field, `${field}: gpus ${sums.gpus} must be whole devices, or a share of one device below 1 with at most 3 decimals`);
  }
  return { ok: true, resources: { cpusMilli, memMiB, diskMiB, gpus, ports: normalizeRanges(ports) } };
}

function bad(field: string, message: string): FromMesosResult {
  return { ok: false, field, message };
}

/**
 * ceilScaled is value × scale rounded up to a whole number, except that a float a hair above a
 * whole number is that number: 0.1 + 0.2 cpus is 300 milli-cores, not 301.
 */
function ceilScaled(value: number, scale: number): number {
  const scaled = value * scale;
  const nearest = Math.round(scaled);
  return Math.abs(scaled - nearest) < 1e-6 ? nearest : Math.ceil(scaled);
}

/** mesosResourcesObject is r as /master/state shows it: {cpus, mem, disk, gpus, ports: "[a-b, c-d]"}. */
export function mesosResourcesObject(r: Resources): MesosResourcesObject {
  const out: MesosResourcesObject = { cpus: milliToCpus(r.cpusMilli), mem: r.memMiB, disk: r.diskMiB, gpus: roundGpus(r.gpus) };
  // Mesos prints every range as begin-end, single ports included, joined by ", ".
  if (r.ports.length > 0) out.ports = `[${r.ports.map((p) => `${p.begin}-${p.end}`).join(', ')}]`;
  return out;
}
