// GPUs are devices, and a device may be shared. An agent's GPUs are a list of free amounts in milli
// (1000 = a whole free GPU). A task asks for whole GPUs (n ≥ 1 devices, each wholly free) or for a
// share of one (0 < milli < 1000, all of it on ONE device: a process cannot spread one CUDA context
// over two cards). Sharing is what makes GPUs fragment: a cell can have many GPUs' worth free in
// slivers that no arriving task fits, so placement must keep free GPU in usable shapes.
//
// This file holds the device model: which devices of an agent a request takes (chooseDevices).
// How placement keeps free GPU in usable shapes is scoring.ts's; the research scorers it is
// measured against (FGD and the paper's baselines) live in src/sim/scorers.ts.

import { MusterError } from '../core/index.js';

/** GPU_MILLI is one whole GPU. */
export const GPU_MILLI = 1000;

/** MAX_DEVICES bounds the devices of one agent, and so every loop over them. */
export const MAX_DEVICES = 64;

/** GpuRequest is whole devices (each wholly free), or a share of one device in milli. */
export type GpuRequest = { readonly whole: number } | { readonly milli: number };

/**
 * DevicePolicy picks devices on one agent:
 * - pack: shares go to the fitting device with the least free, which puts them on devices already
 *   partially used before whole free ones, so whole GPUs stay free for whole-GPU tasks;
 * - spread: shares go to the device with the most free (least interference between sharers);
 * - first: the lowest-indexed device that fits.
 * Whole-GPU requests take the lowest-indexed wholly free devices under every policy: wholly free
 * devices are alike.
 */
export type DevicePolicy = 'pack' | 'spread' | 'first';

function checkRequest(request: GpuRequest): void {
  if ('whole' in request) {
    if (!Number.isInteger(request.whole) || request.whole < 1 || request.whole > MAX_DEVICES) {
      throw new MusterError('INVALID_ARGUMENT', `a whole-GPU request is 1..${MAX_DEVICES} devices, not ${request.whole}`);
    }
  } else if (!Number.isInteger(request.milli) || request.milli < 1 || request.milli >= GPU_MILLI) {
    throw new MusterError('INVALID_ARGUMENT', `a GPU share is 1..999 milli of one device, not ${request.milli}`);
  }
}

function checkFree(free: ArrayLike<number>): void {
  if (free.length > MAX_DEVICES) throw new MusterError('INVALID_ARGUMENT', `an agent has at most ${MAX_DEVICES} GPU devices, not ${free.length}`);
  for (let i = 0; i < free.length; i++) {
    const f = free[i] as number;
    if (!Number.isInteger(f) || f < 0 || f > GPU_MILLI) {
      throw new MusterError('INVALID_ARGUMENT', `GPU device ${i} has ${f} milli free; free is 0..${GPU_MILLI}`);
    }
  }
}

/**
 * shareDevice is the device a share of milli goes to under policy, or -1 when none has room.
 * Ties go to the lower index, so the choice is the same on every run.
 */
function shareDevice(free: ArrayLike<number>, milli: number, policy: DevicePolicy): number {
  let best = -1;
  let bestFree = 0;
  for (let i = 0; i < free.length; i++) {
    const f = free[i] as number;
    if (f < milli) continue;
    if (policy === 'first') return i;
    if (best < 0 || (policy === 'pack' ? f < bestFree : f > bestFree)) {
      best = i;
      bestFree = f;
    }
  }
  return best;
}

/**
 * chooseDevices returns the indexes of the devices a request takes on an agent whose devices have
 * free[i] milli free, or undefined when it does not fit. A share must fit within one device.
 */
export function chooseDevices(free: ArrayLike<number>, request: GpuRequest, policy: DevicePolicy = 'pack'): number[] | undefined {
  checkRequest(request);
  checkFree(free);
  if ('milli' in request) {
    const d = shareDevice(free, request.milli, policy);
    return d < 0 ? undefined : [d];
  }
  const out: number[] = [];
  for (let i = 0; i < free.length && out.length < request.whole; i++) if (free[i] === GPU_MILLI) out.push(i);
  return out.length === request.whole ? out : undefined;
}
