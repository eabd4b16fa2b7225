// sim: the simulator's parts: the loader of Alibaba's openb GPU trace and the seeded randomness
// that shuffles and samples it, and hollow cells (agents without processes under the master's
// real log and scheduler input) for the scheduling benchmarks.
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
export {
  HOLLOW_CONSTRAINTS,
  HollowCell,
  hollowAgents,
  hollowJobs,
  MAX_HOLLOW_AGENTS,
  MAX_HOLLOW_JOBS,
  MAX_TASKS_PER_PASS,
} from './hollow.js';
export type { HollowAgent, HollowAgentOptions, HollowCellOptions, HollowJobOptions, PassStats } from './hollow.js';
export { attachMasterLoop, type MasterLoop } from './masterloop.js';
