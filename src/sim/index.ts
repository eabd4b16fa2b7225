// sim: the simulator's parts. For now the loader of Alibaba's openb GPU trace and the seeded
// randomness that shuffles and samples it.
export {
  loadOpenbNodes,
  loadOpenbPods,
  MAX_ARRIVALS,
  MAX_GPUS_PER_NODE,
  MAX_TRACE_BYTES,
  MAX_TRACE_ROWS,
  mulberry32,
  openbArrivals,
  openbDir,
  OPENB_SET,
  parseOpenbNodes,
  parseOpenbPods,
  podGpuMilli,
  randomIndex,
  shuffle,
  tracesDir,
} from './openb.js';
export type { ArrivalOptions, OpenbNode, OpenbPod } from './openb.js';
