// MusterFramework is the built-in job scheduler: the framework "muster". On each offer round it
// collects the instances that are pending and past their backoff, orders them by tier, priority and
// fair share (DRF among roles), asks scheduler/ to place them on the offers (preempting lower tasks
// for preferred ones, within a rate limit), and answers the offers with those launches and
// preemptions. The master checks the answer against the offers and the state, appends it, and only
// once that is durable sends LAUNCH (commands/launch.ts, frameworks/offers.ts); the KILLs of
// victims go out through the master's owed-kills path. What it could not place keeps its
// why-pending answer.

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { EMPTY, add, isTerminal, makeTaskId, parseJobKey, requestOf, toView, type Resources } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import type { TaskInfo } from '../../protocol/index.js';
import { drfOrder, GpuDemand, place, type Offer, type PendingTask, type PlacementOptions, type PlacementResult, type WhyPending } from '../../scheduler/index.js';
import type { AgentLinks } from '../agents/index.js';
import type { EventLog } from '../eventlog.js';
import type { Launch, AcceptRequest } from '../commands/launch.js';
import type { AcceptOutcome, InProcessFramework } from '../frameworks/types.js';
import type { SchedulingOptions } from '../options.js';
import { roleOf, specAt, type CellState, type LaunchedTask, type PreemptionRecord } from '../state/index.js';
import { AgentSlotCache, pendingTasks, runningOfJob, runningOnAgent } from './input.js';
import { PreemptionBudget, reclaimRevocable } from './preempt.js';

export const MUSTER_FRAMEWORK_ID = 'muster';

/** FrameworkLinks is what the job scheduler needs of the agent links (a stub in tests). */
export type FrameworkLinks = Pick<AgentLinks, 'send' | 'launch' | 'isOfferable' | 'busyPortsOf' | 'slackOf' | 'hasUsage'> & Partial<Pick<AgentLinks, 'expect' | 'unexpect'>>;

export interface MusterFrameworkOptions {
  readonly logger: Logger;
  readonly scheduling: SchedulingOptions;
  /** onPass is told how long each pass that had tasks to place took to decide, before its append (for /metrics). */
  readonly onPass?: (seconds: number) => void;
}

export class MusterFramework implements InProcessFramework {
  readonly frameworkId = MUSTER_FRAMEWORK_ID;
  readonly role = '*';
  /** Why each pending instance ("role/env/name/3") was not placed when it was last considered. */
  private why = new Map<string, WhyPending>();
  private ready: PendingTask[] = [];
  private reclaim: string[] = [];
  private wakeAt: number | undefined;
  private readonly budget: PreemptionBudget;
  /** The agents as compact vectors, kept from pass to pass and updated where they changed. */
  private readonly slots = new AgentSlotCache();
  /**
   * The GPU tasks asked of the cell, which GPU scoring measures fragmentation against (demand.ts).
   * Not durable: a master that starts (or takes over) seeds it from the GPU tasks running.
   */
  private readonly demand = new GpuDemand();
  private demandSeeded = false;
  /** Tasks launched and preempted since start, for /metrics. */
  launched = 0;
  preempted = 0;

  constructor(
    private readonly log: EventLog,
    private readonly links: FrameworkLinks,
    private readonly options: MusterFrameworkOptions,
  ) {
    this.budget = new PreemptionBudget(options.scheduling.preemptionsPerMinute, log.now());
    this.slots.watch(log);
  }

  /**
   * agentChanged: something the log does not hold changed for an agent (its usage, hence its
   * slack), or, without an id, for agents in general (one connected or disconnected).
   */
  agentChanged(agentId?: string): void {
    if (agentId === undefined) this.slots.markAll();
    else this.slots.markDirty(agentId);
  }

  /**
   * placementOptions are the options of this master's passes; `muster job plan` uses them too, so
   * a plan and the pass that follows it weigh agents alike. The log index seeds the agent order:
   * the same log gives the same placements, reproducible in the simulator and in a postmortem.
   */
  placementOptions(preemptionBudget: number): PlacementOptions {
    const scheduling = this.options.scheduling;
    return {
      seed: this.log.lastIndex >>> 0,
      weights: scheduling.scoreWeights,
      sampleSize: scheduling.sampleSize,
      equivalenceClasses: true,
      cacheScores: true,
      preemptionBudget,
    };
  }

  /** pendingReason is the one-line answer to "why is this instance pending?". */
  pendingReason(job: string, instance: number): string | undefined {
    return this.why.get(`${job}/${instance}`)?.summary;
  }

  /** pendingWhy is the whole answer: filter counts, the nearest fit and the changes that would fit. */
  pendingWhy(job: string, instance: number): WhyPending | undefined {
    return this.why.get(`${job}/${instance}`);
  }

  nextWakeAt(): number | undefined {
    return this.wakeAt;
  }

  wantsOffers(now: number): boolean {
    this.wakeAt = undefined;
    const state = this.log.state;
    this.ready = pendingTasks(state, now, (at) => {
      if (this.wakeAt === undefined || at < this.wakeAt) this.wakeAt = at;
    });
    this.reclaim = reclaimRevocable(state, this.links);
    if (this.ready.length === 0) this.why.clear();
    return this.ready.length > 0 || this.reclaim.length > 0;
  }

  resourceOffers(offers: ReadonlyMap<string, Offer>, now: number): AcceptRequest | undefined {
    const state = this.log.state;
    const reclaimed = this.reclaim;
    this.reclaim = [];
    let tasks = this.ready;
    this.ready = [];
    const { scheduling } = this.options;
    if (tasks.length > 0) this.observeDemand(state, tasks);

    let result: PlacementResult | undefined;
    let more = false;
    if (tasks.length > 0) {
      const start = performance.now();
      // Fairness between roles only matters when more than one role waits: a cell where one role
      // has pending work (the usual case) skips the O(jobs + agents) shares.
      if (!oneRole(tasks)) {
        tasks = drfOrder(tasks, {
          allocatedByRole: allocatedByRole(state),
          total: reachableTotal(state),
          roleWeights: scheduling.roleWeights,
        });
      }
      // One pass places a bounded number of tasks, so one TasksLaunched event stays a few MB even
      // with a million pending; the rest wait for the pass that follows at once.
      if (tasks.length > scheduling.maxTasksPerPass) {
        more = true;
        tasks = tasks.slice(0, scheduling.maxTasksPerPass);
      }
      // Disruption budgets of the jobs preemption looks at, each worked out once this pass.
      const budgets = new Map<string, number>();
      const table = this.slots.refresh(
        state,
        offers,
        (id) => this.links.slackOf(id),
        (id) => this.links.isOfferable(id),
      );
      result = place({
        tasks,
        agents: table.agents,
        table,
        runningOf: (job) => runningOfJob(state, job),
        runningOn: (agentId) => runningOnAgent(state, agentId, budgets),
        options: this.placementOptions(this.budget.available(now)),
        demand: this.demand,
      });
      this.remember(tasks, result);
      this.options.onPass?.((performance.now() - start) / 1000);
    }

    const launches = result === undefined ? [] : launchesOf(tasks, result);
    const preemptions = result === undefined ? [] : preemptionsOf(tasks, result);
    this.budget.spend(preemptions.reduce((n, p) => n + p.victims.length, 0));
    if (more && (launches.length > 0 || preemptions.length > 0)) this.wakeAt = now;
    if (launches.length === 0 && preemptions.length === 0 && reclaimed.length === 0) return undefined;
    return { frameworkId: this.frameworkId, launches, preemptions, reclaimed };
  }

  /** accepted hears what the master committed of the last answer. */
  accepted(outcome: AcceptOutcome): void {
    this.launched += outcome.launched.length;
    this.preempted += outcome.victims;
    if (outcome.victims > 0) this.options.logger.info('preempting', { victims: outcome.victims });
    for (const r of outcome.refused) this.options.logger.warn('launch refused by the master', { taskId: r.taskId, reason: r.reason });
  }

  /** offerChanged: the offer it placed on is not the one outstanding: its slot of that agent is looked at again. */
  offerChanged(agentId: string): void {
    this.slots.markDirty(agentId);
  }

  /** taskInfo is what the agent is sent to run a task this framework launched. */
  taskInfo(state: CellState, task: LaunchedTask): TaskInfo | undefined {
    return taskInfoOf(state, task);
  }

  /**
   * observeDemand counts the GPU tasks newly pending; the first time, the GPU tasks running count
   * as arrivals too, so that a master that took over measures against the cell's mix at once.
   */
  private observeDemand(state: CellState, pending: readonly PendingTask[]): void {
    if (!this.demandSeeded) {
      this.demandSeeded = true;
      for (const t of state.tasks.values()) {
        if (!isTerminal(t.state) && t.resources.gpus > 0) this.demand.arrive(t.resources.cpusMilli, t.resources.memMiB, t.resources.gpus);
      }
    }
    this.demand.observe(pending);
  }

  /**
   * remember keeps why each task considered was not placed. Tasks past this pass's bound keep
   * their last answer; the map holds pending instances only, so it is bounded by them.
   */
  private remember(considered: readonly PendingTask[], result: PlacementResult): void {
    const next = new Map<string, WhyPending>();
    for (const u of result.unplaced) next.set(u.key, u.why);
    const seen = new Set(considered.map((t) => t.key));
    const state = this.log.state;
    for (const [key, why] of this.why) {
      if (seen.has(key) || next.has(key)) continue;
      const cut = key.lastIndexOf('/');
      const inst = state.jobs.get(key.slice(0, cut))?.instances[Number(key.slice(cut + 1))];
      if (inst?.state === 'PENDING') next.set(key, why);
    }
    this.why = next;
  }
}

/** launchesOf turns placements into the tasks to launch, each with a fresh task id and the offer it uses. */
function launchesOf(tasks: readonly PendingTask[], result: PlacementResult): Launch[] {
  const byKey = new Map(tasks.map((t) => [t.key, t]));
  const out: Launch[] = [];
  for (const p of result.placements) {
    const t = byKey.get(p.key);
    if (t === undefined) continue;
    const l: LaunchedTask = {
      taskId: makeTaskId(parseJobKey(t.job), t.instance, randomUUID()),
      job: t.job,
      instance: t.instance,
      agentId: p.agentId,
      resources: p.resources,
      ports: { ...p.ports },
    };
    if (p.gpus.length > 0) l.gpus = p.gpus.map((g) => ({ device: g.device, milli: g.milli }));
    if (p.revocable) l.revocable = true;
    out.push({ offerId: p.offerId, task: l });
  }
  return out;
}

/** preemptionsOf turns the scheduler's preemptions into records of the instances they are for. */
function preemptionsOf(tasks: readonly PendingTask[], result: PlacementResult): PreemptionRecord[] {
  if (result.preemptions.length === 0) return [];
  const byKey = new Map(tasks.map((t) => [t.key, t]));
  const out: PreemptionRecord[] = [];
  for (const p of result.preemptions) {
    const t = byKey.get(p.key);
    if (t === undefined || p.victims.length === 0) continue;
    out.push({ job: t.job, instance: t.instance, agentId: p.agentId, victims: [...p.victims] });
  }
  return out;
}

/** oneRole: every task is of the same role. */
function oneRole(tasks: readonly PendingTask[]): boolean {
  const role = tasks[0]?.role;
  for (const t of tasks) if (t.role !== role) return false;
  return true;
}

/**
 * allocatedByRole is what each role's non-revocable tasks hold, for DRF: active instances times the
 * job's request. Revocable tasks run on slack and take nothing from anyone's fair share.
 */
export function allocatedByRole(state: CellState): Map<string, Resources> {
  const out = new Map<string, Resources>();
  for (const job of state.jobs.values()) {
    if (job.spec.tier === 'revocable') continue;
    let active = 0;
    for (const inst of job.instances) if (inst.state === 'ACTIVE') active++;
    if (active === 0) continue;
    const r = requestOf(job.spec);
    const held: Resources = { cpusMilli: r.cpusMilli * active, memMiB: r.memMiB * active, diskMiB: r.diskMiB * active, gpus: r.gpus * active, ports: [] };
    const role = roleOf(job.key);
    out.set(role, add(out.get(role) ?? EMPTY, held));
  }
  return out;
}

/** reachableTotal is the sum of the reachable agents' resources: the cell DRF takes shares of. */
export function reachableTotal(state: CellState): Resources {
  let cpusMilli = 0;
  let memMiB = 0;
  let diskMiB = 0;
  let gpus = 0;
  for (const a of state.agents.values()) {
    if (!a.reachable) continue;
    cpusMilli += a.resources.cpusMilli;
    memMiB += a.resources.memMiB;
    diskMiB += a.resources.diskMiB;
    gpus += a.resources.gpus;
  }
  return { cpusMilli, memMiB, diskMiB, gpus, ports: [] };
}

/** taskInfoOf is what the agent needs to launch a task. */
export function taskInfoOf(state: CellState, l: LaunchedTask): TaskInfo | undefined {
  const job = state.jobs.get(l.job);
  if (job === undefined) return undefined;
  // The config of the version its instance runs (an update moves instances from one to another).
  const spec = specAt(job, state.tasks.get(l.taskId)?.version ?? job.instances[l.instance]?.version);
  const info: TaskInfo = {
    taskId: l.taskId,
    job: l.job,
    instance: l.instance,
    // A cron job's template never runs; its runs are batch jobs.
    kind: spec.kind === 'cron' ? 'batch' : spec.kind,
    role: parseJobKey(l.job).role,
    resources: toView(l.resources),
    ports: l.ports,
    processes: spec.processes.map((p) => ({ name: p.name, cmd: p.cmd })),
    env: spec.env,
    killGraceSecs: spec.killGraceSecs,
  };
  if (spec.health !== undefined) info.health = spec.health;
  if (spec.container !== undefined) info.container = spec.container;
  if (l.gpus !== undefined && l.gpus.length > 0) info.gpus = l.gpus.map((g) => ({ device: g.device, milli: g.milli }));
  return info;
}
