// sim: the simulator's parts: the loader of Alibaba's openb GPU trace and the seeded randomness
// that shuffles and samples it, hollow cells (agents without processes under the master's real log
// and scheduler input) for the scheduling benchmarks, the packing experiment (the master's own
// pass, and the research scorers and baselines it is compared with).
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
export {
  CHECKPOINTS,
  GPU_MODEL_ATTRIBUTE,
  makePackingCell,
  simulateMaster,
  simulateScorer,
  specOf,
} from './packing.js';
export type { MasterRunOptions, PackingCell, PackingRun } from './packing.js';
export {
  acceptsModel,
  fitsGpuNode,
  gpuFits,
  gpuRequestOf,
  GpuScorer,
  MAX_CELL,
  MAX_CLASSES,
  MAX_SCARCITY,
  PACKING_POLICIES,
  REFINED_CAPACITY_SHARE,
  REFINED_SCARCITY,
  TargetWorkload,
} from './scorers.js';
export type {
  GpuFitResult,
  GpuMisfit,
  GpuNodeView,
  GpuPodRequest,
  GpuScorerOptions,
  PackingPolicy,
  TargetWorkloadOptions,
  WorkloadShape,
} from './scorers.js';
