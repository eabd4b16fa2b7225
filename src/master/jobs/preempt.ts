// The master's side of preemption: how many victims a pass may take (a rate limit, so a burst of
// preferred work cannot tear down a cell's batch tier in one go), and which revocable tasks must go
// when the slack they run on shrinks. The choice of victims for a pending task is scheduler/'s.

import { isTerminal } from '../../core/index.js';
import type { CellState, TaskRecord } from '../state/index.js';

/**
 * PreemptionBudget is a token bucket of victims: it holds at most a minute's worth and refills
 * with time at perMinute. 0 per minute turns preemption off.
 */
export class PreemptionBudget {
  private tokens: number;
  private at: number;

  constructor(
    private readonly perMinute: number,
    now: number,
  ) {
    this.tokens = perMinute;
    this.at = now;
  }

  /** available is how many victims a pass starting now may take. */
  available(now: number): number {
    // A clock that steps back refills nothing rather than draining the bucket.
    const elapsed = Math.max(0, now - this.at);
    this.at = Math.max(this.at, now);
    this.tokens = Math.min(this.perMinute, this.tokens + (elapsed * this.perMinute) / 60_000);
    return Math.floor(this.tokens);
  }

  /** spend takes the victims a pass chose. */
  spend(victims: number): void {
    this.tokens = Math.max(0, this.tokens - victims);
  }
}

/** SlackSource is where the scheduler learns each agent's slack (the agent links, or a stub). */
export interface SlackSource {
  slackOf(agentId: string): { readonly cpusMilli: number; readonly memMiB: number };
  /** The agent has usage figures: without them its slack is unknown, not zero. */
  hasUsage(agentId: string): boolean;
}

/**
 * reclaimRevocable lists the revocable tasks to kill because their agent's slack shrank below what
 * revocable tasks hold there (cpus or mem): lowest priority first, the youngest first among equals
 * (it loses the least work), until the rest fit. Tasks already being killed count as gone. An agent
 * without usage figures (just after a master restart) is left alone: its slack is unknown, not zero.
 */
export function reclaimRevocable(state: CellState, slack: SlackSource): string[] {
  const out: string[] = [];
  // Only agents that lend slack now: reclaim runs every pass, and a walk over every agent would cost
  // a cell of 10,000 agents more than the pass itself.
  for (const agentId of state.revocableAgents) {
    const agent = state.agents.get(agentId);
    if (agent === undefined) continue;
    const held = agent.revocableUsed;
    if (!agent.reachable || held === undefined || (held.cpusMilli <= 0 && held.memMiB <= 0)) continue;
    if (!slack.hasUsage(agent.agentId)) continue;
    const room = slack.slackOf(agent.agentId);
    let cpus = held.cpusMilli;
    let mem = held.memMiB;
    const candidates: TaskRecord[] = [];
    for (const id of agent.taskIds) {
      const t = state.tasks.get(id);
      if (t === undefined || t.revocable !== true || isTerminal(t.state)) continue;
      if (t.kill !== undefined) {
        cpus -= t.resources.cpusMilli;
        mem -= t.resources.memMiB;
      } else {
        candidates.push(t);
      }
    }
    if (cpus <= room.cpusMilli && mem <= room.memMiB) continue;
    const priority = (t: TaskRecord): number => state.jobs.get(t.job)?.spec.priority ?? Number.NEGATIVE_INFINITY;
    candidates.sort((a, b) => priority(a) - priority(b) || b.launchedAt - a.launchedAt || (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0));
    for (const t of candidates) {
      if (cpus <= room.cpusMilli && mem <= room.memMiB) break;
      out.push(t.taskId);
      cpus -= t.resources.cpusMilli;
      mem -= t.resources.memMiB;
    }
  }
  return out;
}
