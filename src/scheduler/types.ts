// The scheduler package's inputs and outputs. Everything here is plain data: the master builds it
// from its state, `muster job plan` and the simulator build it from theirs, and the benchmarks from
// hollow agents. The same input and seed always give the same output.

import type { Resources, ResourceRequest } from '../core/index.js';

export type Attributes = Readonly<Record<string, string>>;

/** Tier: preferred (production) > preemptible > revocable. */
export type Tier = 'preferred' | 'preemptible' | 'revocable';

/** TIER_RANK orders tiers: higher is more important. */
export const TIER_RANK: Readonly<Record<Tier, number>> = Object.freeze({ preferred: 2, preemptible: 1, revocable: 0 });

/** Offer is free resources of one agent offered to one framework (the allocator's output). */
export interface Offer {
  readonly offerId: string;
  readonly frameworkId: string;
  readonly agentId: string;
  readonly hostname: string;
  readonly attributes: Attributes;
  readonly resources: Resources;
}

/** GpuShare is what a task holds of one GPU device: its index on the agent and milli (1000 = whole). */
export interface GpuShare {
  readonly device: number;
  readonly milli: number;
}

/**
 * AgentSlot is one agent as placement sees it. Placement puts tasks only on agents with an
 * offerId (offered to the framework now); preemption and explanation look at every agent given.
 */
export interface AgentSlot {
  readonly agentId: string;
  readonly hostname: string;
  readonly attributes: Attributes;
  readonly total: Resources;
  /**
   * What preferred and preemptible tasks may still take: total minus what non-revocable tasks hold
   * (and minus the disk and ports revocable tasks hold). Zero-ish when not offered.
   */
  readonly free: Resources;
  /** Free milli of each GPU device (index = device), 0..1000 each. Length = the agent's device count. */
  readonly gpuFree: readonly number[];
  /**
   * cpus and mem revocable tasks may still take here: slack (what non-revocable tasks reserve but
   * do not use) minus what revocable tasks already hold. Zero when the cell has no usage figures.
   */
  readonly revocable: { readonly cpusMilli: number; readonly memMiB: number };
  /** Operator drained or is draining the host: nothing new lands here. */
  readonly draining: boolean;
  /** The offer this agent's free resources came in; undefined: not offered, placement skips it. */
  readonly offerId?: string;
}

/** PendingTask is one instance waiting for a place. */
export interface PendingTask {
  /** Unique within one call, e.g. "web/prod/hello/2". */
  readonly key: string;
  readonly job: string;
  readonly instance: number;
  /** The job's role (the first part of its key): dedicated agents admit only theirs. */
  readonly role: string;
  /** gpus is whole devices (an integer ≥ 1), a share of one device (0 < gpus < 1, milli-precise) or 0. */
  readonly request: ResourceRequest;
  /** Attribute constraints as in the job config: "r1", "a|b", "!windows", "limit:1". */
  readonly constraints: Readonly<Record<string, string>>;
  readonly tier: Tier;
  readonly priority: number;
  /** The failure domain the job's instances spread over: an attribute name, "host" by default. */
  readonly spreadBy: string;
  /**
   * It may preempt lower tasks: only preferred tasks may, and never one that is pending because it
   * was itself preempted (no cascades) or that is already waiting for its victims to end.
   */
  readonly mayPreempt: boolean;
  /**
   * The agent whose preempted victims it waits for. Until it fits there, what that agent frees is
   * held for it: tasks after it in the pass may not take it (else a victim freed first is taken by
   * a lower task, and the preemptor preempts again).
   */
  readonly waitingOn?: string;
}

/** RunningTask is a non-terminal task already placed: limits and spread count it; preemption may pick it. */
export interface RunningTask {
  readonly taskId: string;
  readonly job: string;
  readonly instance: number;
  readonly role: string;
  readonly agentId: string;
  readonly tier: Tier;
  readonly priority: number;
  /** What it holds on the agent, ports included. For revocable tasks cpus and mem are held in slack. */
  readonly resources: Resources;
  readonly gpus: readonly GpuShare[];
  /** It is already being killed: not a victim, and what it holds frees up soon. */
  readonly killing: boolean;
  /**
   * How many more of its job's instances may be taken down now (its job's disruption budget,
   * maxUnavailable less those down already); absent: no limit. Preemption takes no more than that.
   */
  readonly disruptable?: number;
}

/** ScoreWeights weigh the parts of an agent's score (all ≥ 0; 0 switches a part off). */
export interface ScoreWeights {
  /** Multi-resource best fit: prefer agents the task fills most evenly, stranding least. */
  readonly fit: number;
  /** Spread a job's instances over its failure domain. */
  readonly spread: number;
  /** GPU packing: keep whole GPUs free for whole-GPU tasks, avoid GPU agents for GPU-less tasks. */
  readonly gpu: number;
}

export const DEFAULT_SCORE_WEIGHTS: ScoreWeights = Object.freeze({ fit: 1, spread: 2, gpu: 1 });

export interface PlacementOptions {
  /** Seeds the order agents are visited in; the same seed gives the same placement. */
  readonly seed: number;
  readonly weights: ScoreWeights;
  /**
   * Relaxed randomization (Borg): visit agents in a seeded random order and stop after this many
   * feasible ones (and at least sampleFraction of the agents). 0: look at every agent.
   */
  readonly sampleSize: number;
  /** Ablation switches: each true by default. */
  readonly equivalenceClasses: boolean;
  readonly cacheScores: boolean;
  /** Preemption: at most this many victims in this call (the master's rate limit); 0: none. */
  readonly preemptionBudget: number;
}

export const DEFAULT_PLACEMENT_OPTIONS: PlacementOptions = Object.freeze({
  seed: 1,
  weights: DEFAULT_SCORE_WEIGHTS,
  sampleSize: 64,
  equivalenceClasses: true,
  cacheScores: true,
  preemptionBudget: 0,
});

export interface Placement {
  readonly key: string;
  readonly offerId: string;
  readonly agentId: string;
  /** Port numbers chosen from the offer, by the names of the request. */
  readonly ports: Readonly<Record<string, number>>;
  /** What the task consumes on the agent, ports included. */
  readonly resources: Resources;
  /** The GPU devices it gets; empty without gpus. */
  readonly gpus: readonly GpuShare[];
  /** It was placed on revocable resources (slack). */
  readonly revocable: boolean;
}

/** Preemption: victims to kill so that a pending task fits on an agent once they have ended. */
export interface Preemption {
  /** The pending task it is for. */
  readonly key: string;
  readonly agentId: string;
  readonly victims: readonly string[];
}

/** FilterCount: how many agents one filter turned the task away from. */
export interface FilterCount {
  /** Stable name: draining, dedicated, constraint, limit, cpus, mem, disk, gpus, ports, revocable. */
  readonly filter: string;
  /** What it was about, as a person says it: "rack is not r1", "needs 4GiB, most free 1GiB". */
  readonly detail: string;
  readonly agents: number;
}

/** WhyPending is the whole answer to "why is this task pending?". */
export interface WhyPending {
  /** One sentence: "no agent fits: insufficient mem on 7 agents (needs 4GiB, most free 1GiB); rack limit:1 reached on 3 agents". */
  readonly summary: string;
  readonly filters: readonly FilterCount[];
  /** The agent that came closest and what it lacks, if any agent passed the constraints. */
  readonly nearest?: { readonly agentId: string; readonly hostname: string; readonly lacks: string };
  /** The smallest changes that would make it fit now, each with how many agents would then fit. */
  readonly changes: readonly string[];
}

export interface Unplaced {
  readonly key: string;
  /** why.summary, kept for callers that want one line. */
  readonly reason: string;
  readonly why: WhyPending;
}

export interface PlacementResult {
  readonly placements: Placement[];
  readonly preemptions: Preemption[];
  readonly unplaced: Unplaced[];
  /** Work done, for benchmarks and /metrics. */
  readonly stats: { readonly classes: number; readonly agentsVisited: number; readonly scoresComputed: number };
}

/** AllocatorAgent is one agent's free resources as the allocator sees them. */
export interface AllocatorAgent {
  readonly agentId: string;
  readonly hostname: string;
  readonly attributes: Attributes;
  /** Total minus what tasks use minus what is already out in offers. */
  readonly free: Resources;
  readonly total: Resources;
}

/** AllocatorFramework is a framework that may receive offers. */
export interface AllocatorFramework {
  readonly frameworkId: string;
  readonly role: string;
  /** Resources its tasks hold now, for dominant share. */
  readonly allocated: Resources;
  /** It has asked for no offers (Mesos's SUPPRESS). */
  readonly suppressed: boolean;
  /** Agents it declined, until the time (ms) its refuse filter ends. */
  readonly declined: ReadonlyMap<string, number>;
}

export interface AllocatorInput {
  readonly agents: readonly AllocatorAgent[];
  readonly frameworks: readonly AllocatorFramework[];
  readonly roleWeights: ReadonlyMap<string, number>;
  /**
   * Quota guarantees by role: a role whose allocation is below its quota in some resource the quota
   * names (cpus, mem, disk or gpus above 0) is offered to before any role that is not. Absent: none.
   */
  readonly quotas?: ReadonlyMap<string, Resources>;
  readonly now: number;
  /** Makes offer ids; the caller supplies it so ids stay unique across passes. */
  readonly nextOfferId: () => string;
}
