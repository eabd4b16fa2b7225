// The scheduler package's inputs and outputs. Everything here is plain data: the master builds it
// from its state, `muster job plan` and the simulator build it from theirs.

import type { Resources, ResourceRequest } from '../core/index.js';

export type Attributes = Readonly<Record<string, string>>;

/** Offer is free resources of one agent offered to one framework. */
export interface Offer {
  readonly offerId: string;
  readonly frameworkId: string;
  readonly agentId: string;
  readonly hostname: string;
  readonly attributes: Attributes;
  readonly resources: Resources;
}

/** PendingTask is one instance waiting for a place. */
export interface PendingTask {
  /** Unique within one call, e.g. "web/prod/hello/2". */
  readonly key: string;
  readonly job: string;
  readonly instance: number;
  readonly request: ResourceRequest;
  /** Attribute constraints as in the job config: "r1", "a|b", "!windows", "limit:1". */
  readonly constraints: Readonly<Record<string, string>>;
  readonly priority: number;
}

export interface PlacementInput {
  readonly tasks: readonly PendingTask[];
  readonly offers: readonly Offer[];
  /** Every known agent's attributes, offered or not: limit constraints count tasks per value. */
  readonly agents: ReadonlyMap<string, Attributes>;
  /** The non-terminal tasks already placed, by job and agent: limit constraints count them. */
  readonly placed: readonly { readonly job: string; readonly agentId: string }[];
}

export interface Placement {
  readonly key: string;
  readonly offerId: string;
  readonly agentId: string;
  /** Port numbers chosen from the offer, by the names of the request. */
  readonly ports: Readonly<Record<string, number>>;
  /** What the task consumes from the offer, ports included. */
  readonly resources: Resources;
}

export interface Unplaced {
  readonly key: string;
  /** One sentence a person can act on: "insufficient mem on 2 agents (needs 4GiB, most free 1GiB)". */
  readonly reason: string;
}

export interface PlacementResult {
  readonly placements: Placement[];
  readonly unplaced: Unplaced[];
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
  readonly now: number;
  /** Makes offer ids; the caller supplies it so ids stay unique across passes. */
  readonly nextOfferId: () => string;
}
