// scheduler: pure placement and allocation. No node:* imports, no clock, no randomness beyond a seed.
export type * from './types.js';
export { DEFAULT_PLACEMENT_OPTIONS, DEFAULT_SCORE_WEIGHTS, TIER_RANK } from './types.js';
export {
  classKey,
  classOf,
  DEDICATED_ATTRIBUTE,
  fitsResources,
  gpuFitsDevices,
  gpuRequestOfTask,
  limitReject,
  resourceShortfalls,
  staticReject,
} from './filters.js';
export type { AgentFree, FilterName, Rejection, TaskClass } from './filters.js';
export { place, type PlacementInput } from './placement.js';
export { GpuDemand } from './demand.js';
export { AgentTable } from './table.js';
export { mulberry32, permutation, randomBelow } from './random.js';
export { allocate, drfOrder } from './allocator.js';
export { explain, FITS_NOW, MAX_AGENTS, MAX_CHANGES, neverFits, NO_OFFERS } from './explain.js';
export type { AgentCapacity, ExplainInput } from './explain.js';
export {
  attributeOf,
  checkConstraint,
  checkEquals,
  checkLimit,
  checkNotEqual,
  checkOneOf,
  LimitCounts,
  limitValueOf,
  parseConstraint,
  parseConstraints,
} from './constraints.js';
export type { AgentView, Constraint, ConstraintResult } from './constraints.js';
export { chooseDevices, GPU_MILLI, MAX_DEVICES } from './gpus.js';
export type { DevicePolicy, GpuRequest } from './gpus.js';
