// The seam between the master's offer cycle and the frameworks it offers to. Frameworks import
// these types; the offer cycle imports the frameworks' answers through them. Nothing here imports
// a framework, so no module imports one that imports it.

import type { TaskInfo } from '../../protocol/index.js';
import type { AllocatorFramework, Offer } from '../../scheduler/index.js';
import type { AcceptRequest, Refused } from '../commands/launch.js';
import type { CellState, LaunchedTask } from '../state/index.js';

/** AcceptOutcome is what the master committed of a framework's answer. */
export interface AcceptOutcome {
  /** Launched: appended to the log, LAUNCH sent. */
  readonly launched: readonly LaunchedTask[];
  /** Tasks killed by the preemptions and reclaims that were committed. */
  readonly victims: number;
  /** Launches the master would not take (offer gone, not the framework's, resources beyond it). */
  readonly refused: readonly Refused[];
}

/** InProcessFramework is a framework living inside the master. */
export interface InProcessFramework {
  readonly frameworkId: string;
  readonly role: string;
  /** wantsOffers: it has work it could place now (else it is left out, as Mesos's SUPPRESS). */
  wantsOffers(now: number): boolean;
  /**
   * resourceOffers answers the offers outstanding to it, at most one per agent, by agent id:
   * launches on them (each naming its offer) and, for the built-in framework, preemptions. What it
   * does not launch on stays declined for this pass. The map is the cycle's own: read it during
   * the call only. The master checks and commits the answer, then calls accepted().
   */
  resourceOffers(offers: ReadonlyMap<string, Offer>, now: number): AcceptRequest | undefined;
  /** accepted hears what the master committed of the last answer. */
  accepted(outcome: AcceptOutcome): void;
  /** taskInfo is what the agent is sent to run one of its launched tasks; undefined: nothing to send. */
  taskInfo(state: CellState, task: LaunchedTask): TaskInfo | undefined;
  /** offerChanged: the offer on an agent is not the one it answered with; it should look at that agent again. */
  offerChanged?(agentId: string): void;
  /** nextWakeAt: when it will next want offers without anything else happening (backoff), if ever. */
  nextWakeAt(): number | undefined;
}

/**
 * ExternalOffers is what the offer cycle asks of the external frameworks (Mesos v1 API). The cycle
 * books their offers in the master's one OfferBook; this side sends them, and their RESCINDs.
 */
export interface ExternalOffers {
  /** The connected frameworks that may receive offers now, as the allocator sees them (outstanding offers count as held). */
  candidates(now: number): AllocatorFramework[];
  /** Offers the allocator made to external frameworks, booked: send them. */
  offer(offers: readonly Offer[], now: number): void;
  /** Offers taken back from external frameworks (agent gone, or needed for a quota): send RESCIND. */
  rescinded(offers: readonly Offer[]): void;
}
