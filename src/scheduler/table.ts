// AgentTable is the cell's agents as compact per-agent vectors (Borg's "compact vectors"), kept
// across scheduling passes. A pass copies the few typed arrays it changes (a memcpy each) instead
// of reading 10,000 AgentSlot objects again, and the caller updates only the agents that changed
// since the last pass (set), so a pass costs what its tasks cost, not what the cell has.
//
// The agents' visiting order for relaxed randomization is a seeded permutation made when the table
// is built; each pass varies where each class starts walking it (from the pass's own seed).

import { MusterError, type PortRange } from '../core/index.js';
import { GPU_MILLI, MAX_DEVICES } from './gpus.js';
import { mulberry32, permutation } from './random.js';
import type { AgentSlot } from './types.js';

/** MAX_AGENTS bounds the agents of one table (one cell). */
export const MAX_AGENTS = 1_000_000;

const NO_DEVICES = new Int32Array(0);

function invalid(message: string): MusterError {
  return new MusterError('INVALID_ARGUMENT', message);
}

/** checkAgent validates what a caller could get wrong about one agent. */
function checkAgent(a: AgentSlot): void {
  if (a.gpuFree.length > MAX_DEVICES) throw invalid(`agent ${a.agentId} has ${a.gpuFree.length} GPU devices; at most ${MAX_DEVICES}`);
  for (const f of a.gpuFree) {
    if (!Number.isInteger(f) || f < 0 || f > GPU_MILLI) throw invalid(`agent ${a.agentId} has a GPU device with ${f} milli free; free is 0..${GPU_MILLI}`);
  }
}

export class AgentTable {
  /** The agents by index; replaced one by one with set(). */
  readonly agents: AgentSlot[];
  /** Index of each agent id. */
  readonly index = new Map<string, number>();
  readonly freeCpu: Float64Array;
  readonly freeMem: Float64Array;
  readonly freeDisk: Float64Array;
  readonly freeGpus: Float64Array;
  readonly revCpu: Float64Array;
  readonly revMem: Float64Array;
  readonly totalCpu: Float64Array;
  readonly totalMem: Float64Array;
  readonly totalDisk: Float64Array;
  readonly portCount: Float64Array;
  readonly ports: (readonly PortRange[])[];
  readonly gpuFree: Int32Array[];
  /** Every agent index in the seeded random order. */
  readonly order: Int32Array;
  #placeableOrder: Int32Array | undefined;

  /** The agents (each id once) and the seed of their visiting order. */
  constructor(agents: readonly AgentSlot[], seed: number) {
    const n = agents.length;
    if (n > MAX_AGENTS) throw invalid(`placement takes at most ${MAX_AGENTS} agents, not ${n}`);
    if (!Number.isFinite(seed)) throw invalid(`seed must be a finite number, not ${seed}`);
    this.agents = new Array<AgentSlot>(n);
    this.freeCpu = new Float64Array(n);
    this.freeMem = new Float64Array(n);
    this.freeDisk = new Float64Array(n);
    this.freeGpus = new Float64Array(n);
    this.revCpu = new Float64Array(n);
    this.revMem = new Float64Array(n);
    this.totalCpu = new Float64Array(n);
    this.totalMem = new Float64Array(n);
    this.totalDisk = new Float64Array(n);
    this.portCount = new Float64Array(n);
    this.ports = new Array<readonly PortRange[]>(n);
    this.gpuFree = new Array<Int32Array>(n);
    for (let i = 0; i < n; i++) {
      const a = agents[i] as AgentSlot;
      if (this.index.has(a.agentId)) throw invalid(`agent ${a.agentId} is given twice`);
      this.index.set(a.agentId, i);
      this.write(i, a);
    }
    this.order = permutation(n, mulberry32(seed));
  }

  get length(): number {
    return this.agents.length;
  }

  /** set replaces agent i (the same agent id) with what it is now. */
  set(i: number, a: AgentSlot): void {
    const old = this.agents[i];
    if (old === undefined || old.agentId !== a.agentId) throw invalid(`agent ${a.agentId} is not at index ${i} of the table`);
    if ((old.offerId === undefined) !== (a.offerId === undefined)) this.#placeableOrder = undefined;
    this.write(i, a);
  }

  private write(i: number, a: AgentSlot): void {
    checkAgent(a);
    this.agents[i] = a;
    this.freeCpu[i] = a.free.cpusMilli;
    this.freeMem[i] = a.free.memMiB;
    this.freeDisk[i] = a.free.diskMiB;
    this.freeGpus[i] = a.free.gpus;
    this.revCpu[i] = a.revocable.cpusMilli;
    this.revMem[i] = a.revocable.memMiB;
    this.totalCpu[i] = a.total.cpusMilli;
    this.totalMem[i] = a.total.memMiB;
    this.totalDisk[i] = a.total.diskMiB;
    this.ports[i] = a.free.ports;
    let count = 0;
    for (const r of a.free.ports) count += r.end - r.begin + 1;
    this.portCount[i] = count;
    this.gpuFree[i] = a.gpuFree.length === 0 ? NO_DEVICES : Int32Array.from(a.gpuFree);
  }

  /** placeableOrder is the offered agents (those placement may use) in the visiting order. */
  placeableOrder(): Int32Array {
    if (this.#placeableOrder !== undefined) return this.#placeableOrder;
    let m = 0;
    for (const i of this.order) if ((this.agents[i] as AgentSlot).offerId !== undefined) m++;
    const out = new Int32Array(m);
    m = 0;
    for (const i of this.order) if ((this.agents[i] as AgentSlot).offerId !== undefined) out[m++] = i;
    this.#placeableOrder = out;
    return out;
  }
}
