// Detection of what an agent offers: its resources (cpus, memory, disk of the work dir, a port
// range, GPUs) and the attributes constraints match on. Flags override what is detected, because an
// operator who shares a machine with other services knows better than the kernel what is free.

import { execFile } from 'node:child_process';
import { readdirSync, statfsSync } from 'node:fs';
import os from 'node:os';
import { MAX_GPU_DEVICES, MusterError, parseRanges, parseResourceFlag, type Resources } from '../core/index.js';
import type { Logger } from '../log/index.js';

const MiB = 1024 * 1024;

/** DEFAULT_PORTS is the range Mesos agents offer unless told otherwise. */
export const DEFAULT_PORTS = '[31000-32000]';

/** GPU_PROBE_TIMEOUT_MS bounds `nvidia-smi -L`: a wedged driver must not stall the agent's start. */
const GPU_PROBE_TIMEOUT_MS = 2000;

/** memReserveMiB keeps memory for the agent and the system: 1 GiB, or half of a small machine. */
export function memReserveMiB(totalMiB: number): number {
  return Math.min(1024, Math.floor(totalMiB / 2));
}

/** diskReserveMiB keeps room on the work dir's filesystem: 5 GiB, or 10% of a small one. */
export function diskReserveMiB(freeMiB: number): number {
  return Math.min(5 * 1024, Math.floor(freeMiB / 10));
}

/** GpuProbe says where to look for GPUs; tests point it at fakes, the agent uses the defaults. */
export interface GpuProbe {
  /** The PATH nvidia-smi is looked up in (default: the agent's own). */
  path?: string;
  /** Where the driver's device files are (default: /dev). */
  devDir?: string;
}

/** NVIDIA_DEVICE_FILE matches one GPU's device file; nvidiactl, nvidia-uvm and the like are not GPUs. */
const NVIDIA_DEVICE_FILE = /^nvidia(\d+)$/;

/**
 * countGpus counts the GPUs of `nvidia-smi -L` (one line each). Without nvidia-smi (a driver
 * installed without its tools, or a container that has the devices but not the binary) it counts
 * the /dev/nvidiaN device files instead. A failing or hanging nvidia-smi counts as none: its
 * devices cannot be trusted. The count is bounded by MAX_GPU_DEVICES.
 */
export function countGpus(logger: Logger, probe: GpuProbe = {}): Promise<number> {
  const env = probe.path === undefined ? process.env : { ...process.env, PATH: probe.path };
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['-L'], { timeout: GPU_PROBE_TIMEOUT_MS, maxBuffer: 256 * 1024, env }, (err, stdout) => {
      if (err !== null) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          // The common case on a machine without an NVIDIA driver, not worth a warning.
          resolve(countDeviceFiles(probe.devDir ?? '/dev', logger));
          return;
        }
        logger.warn('nvidia-smi failed; offering no GPUs', { error: err });
        resolve(0);
        return;
      }
      resolve(capped(stdout.split('\n').filter((line) => /^GPU \d+/.test(line.trim())).length, logger));
    });
  });
}

/** countDeviceFiles counts /dev/nvidia0, /dev/nvidia1, …; an unreadable directory counts as none. */
function countDeviceFiles(devDir: string, logger: Logger): number {
  let names: string[];
  try {
    names = readdirSync(devDir);
  } catch {
    return 0;
  }
  const n = names.filter((name) => NVIDIA_DEVICE_FILE.test(name)).length;
  if (n > 0) logger.info('nvidia-smi not found; counted GPU device files instead', { devDir, gpus: n });
  return capped(n, logger);
}

function capped(n: number, logger: Logger): number {
  if (n <= MAX_GPU_DEVICES) return n;
  logger.warn(`found more GPUs than an agent can offer; offering ${MAX_GPU_DEVICES}`, { found: n });
  return MAX_GPU_DEVICES;
}

/** detectResources measures the machine and applies the --resources flag over what it found. */
export async function detectResources(options: { workDir: string; flag?: string; logger: Logger }): Promise<Resources> {
  // Parse the flag first: a typo should fail the start before we probe anything.
  const override = options.flag === undefined ? {} : parseResourceFlag(options.flag);

  const totalMiB = Math.floor(os.totalmem() / MiB);
  const fsStats = statfsSync(options.workDir);
  const freeMiB = Math.floor((fsStats.bavail * fsStats.bsize) / MiB);
  const gpus = override.gpus ?? (await countGpus(options.logger));

  return {
    cpusMilli: override.cpusMilli ?? os.availableParallelism() * 1000,
    memMiB: override.memMiB ?? totalMiB - memReserveMiB(totalMiB),
    diskMiB: override.diskMiB ?? freeMiB - diskReserveMiB(freeMiB),
    gpus,
    ports: override.ports ?? parseRanges(DEFAULT_PORTS),
  };
}

const ATTRIBUTE_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const ATTRIBUTE_VALUE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/**
 * parseAttributes reads the --attributes flag: Mesos's "rack:r1;zone:a" or "rack=r1,zone=a".
 * Each item is split at its first ':' or '=', so either separator works in either list form.
 */
export function parseAttributes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/[;,]/)) {
    const item = raw.trim();
    if (item === '') continue;
    const m = /^([^:=]*)[:=](.*)$/.exec(item);
    if (m === null) {
      throw new MusterError('INVALID_ARGUMENT', `--attributes: "${item}" should be name:value (or name=value), e.g. rack:r1`);
    }
    const name = (m[1] ?? '').trim();
    const value = (m[2] ?? '').trim();
    if (!ATTRIBUTE_NAME.test(name)) {
      throw new MusterError(
        'INVALID_ARGUMENT',
        `--attributes: name "${name}" must be 1-64 letters, digits, '_', '.' or '-', starting with a letter`,
      );
    }
    if (!ATTRIBUTE_VALUE.test(value)) {
      throw new MusterError(
        'INVALID_ARGUMENT',
        `--attributes: value "${value}" of ${name} must be 1-128 letters, digits, '_', '.', ':' or '-', starting with a letter or digit`,
      );
    }
    if (Object.hasOwn(out, name)) throw new MusterError('INVALID_ARGUMENT', `--attributes: "${name}" is given twice`);
    out[name] = value;
  }
  return out;
}

/** detectAttributes: host, os and arch, then the flag's attributes (which may override them). */
export function detectAttributes(options: { hostname: string; flag?: string }): Record<string, string> {
  const flagged = options.flag === undefined ? {} : parseAttributes(options.flag);
  return { host: options.hostname, os: 'linux', arch: process.arch, ...flagged };
}

const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::', '[::]']);

/** advertiseAddress: the flag, else the listen address unless it is a wildcard, else the hostname. */
export function advertiseAddress(options: { advertiseAddress?: string; host: string }): string {
  if (options.advertiseAddress !== undefined && options.advertiseAddress !== '') return options.advertiseAddress;
  if (!WILDCARD_HOSTS.has(options.host)) return options.host;
  return os.hostname();
}
