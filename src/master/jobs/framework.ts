// MusterFramework is the built-in job scheduler: the framework "muster". On each offer round it
// collects the instances that are pending and past their backoff, asks scheduler/ to place them
// on the offers, commits the placements as one TasksLaunched event, and only once that is durable
// sends LAUNCH to the agents. What it could not place keeps its reason for "why pending".

import { randomUUID } from 'node:crypto';
import { makeTaskId, parseJobKey, requestOf, toView } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import type { TaskInfo } from '../../protocol/index.js';
import { place, type Offer, type PendingTask } from '../../scheduler/index.js';
import type { AgentLinks } from '../agents/index.js';
import type { EventLog } from '../eventlog.js';
import type { InProcessFramework } from '../frameworks/offers.js';
import type { CellState, LaunchedTask } from '../state/index.js';

export const MUSTER_FRAMEWORK_ID = 'muster';

export class MusterFramework implements InProcessFramework {
  readonly frameworkId = MUSTER_FRAMEWORK_ID;
  readonly role = '*';
  /** Why each pending instance ("role/env/name/3") was not placed in the last round. */
  private readonly reasons = new Map<string, string>();
  private ready: PendingTask[] = [];
  private wakeAt: number | undefined;
  /** Tasks launched since start, for /metrics. */
  launched = 0;

  constructor(
    private readonly log: EventLog,
    private readonly links: AgentLinks,
    private readonly logger: Logger,
  ) {}

  pendingReason(job: string, instance: number): string | undefined {
    return this.reasons.get(`${job}/${instance}`);
  }

  nextWakeAt(): number | undefined {
    return this.wakeAt;
  }

  wantsOffers(now: number): boolean {
    this.wakeAt = undefined;
    this.ready = collectReady(this.log.state, now, (at) => {
      if (this.wakeAt === undefined || at < this.wakeAt) this.wakeAt = at;
    });
    if (this.ready.length === 0) this.reasons.clear();
    return this.ready.length > 0;
  }

  async resourceOffers(offers: Offer[], _now: number): Promise<void> {
    const tasks = this.ready;
    this.ready = [];
    if (tasks.length === 0) return;
    const state = this.log.state;
    const agents = new Map<string, Readonly<Record<string, string>>>();
    for (const a of state.agents.values()) agents.set(a.agentId, a.attributes);
    const placed = placedTasksOf(state, tasks);
    const result = place({ tasks, offers, agents, placed });

    this.reasons.clear();
    for (const u of result.unplaced) this.reasons.set(u.key, u.reason);
    if (result.placements.length === 0) return;

    const byKey = new Map(tasks.map((t) => [t.key, t]));
    const launches: LaunchedTask[] = [];
    for (const p of result.placements) {
      const t = byKey.get(p.key);
      if (t === undefined) continue;
      launches.push({
        taskId: makeTaskId(parseJobKey(t.job), t.instance, randomUUID()),
        job: t.job,
        instance: t.instance,
        agentId: p.agentId,
        resources: p.resources,
        ports: { ...p.ports },
      });
    }
    await this.log.submit((s, at) => {
      // place() ran on this same state in this same turn, so every instance is still pending; the
      // check keeps that true should anything ever await in between.
      const still = launches.filter((l) => s.jobs.get(l.job)?.instances[l.instance]?.state === 'PENDING');
      return { events: still.length === 0 ? [] : [{ type: 'TasksLaunched', at, tasks: still }], result: undefined };
    });
    this.launched += launches.length;
    for (const l of launches) {
      const info = taskInfoOf(this.log.state, l);
      if (info === undefined) continue;
      if (!this.links.send(l.agentId, { type: 'LAUNCH', launch: { task: info } })) {
        // The agent's stream dropped after the offer: when it re-subscribes without this task the
        // task is marked lost and the instance placed again.
        this.logger.warn('agent not connected for LAUNCH', { taskId: l.taskId, agentId: l.agentId });
      }
    }
  }
}

/** collectReady lists pending instances past their backoff, most important first. */
function collectReady(state: CellState, now: number, later: (at: number) => void): PendingTask[] {
  const ready: { t: PendingTask; createdAt: number }[] = [];
  for (const job of state.jobs.values()) {
    if (job.state !== 'ACTIVE') continue;
    let request;
    for (const inst of job.instances) {
      if (inst.state !== 'PENDING') continue;
      if (inst.notBefore > now) {
        later(inst.notBefore);
        continue;
      }
      request ??= requestOf(job.spec);
      ready.push({
        t: {
          key: `${job.key}/${inst.instance}`,
          job: job.key,
          instance: inst.instance,
          request,
          constraints: job.spec.constraints,
          priority: job.spec.priority,
        },
        createdAt: job.createdAt,
      });
    }
  }
  ready.sort(
    (a, b) =>
      b.t.priority - a.t.priority ||
      a.createdAt - b.createdAt ||
      (a.t.job < b.t.job ? -1 : a.t.job > b.t.job ? 1 : 0) ||
      a.t.instance - b.t.instance,
  );
  return ready.map((r) => r.t);
}

/** placedTasksOf lists where the running tasks of jobs with limit constraints are. */
function placedTasksOf(state: CellState, tasks: readonly PendingTask[]): { job: string; agentId: string }[] {
  const jobs = new Set<string>();
  for (const t of tasks) if (Object.values(t.constraints).some((c) => c.startsWith('limit:'))) jobs.add(t.job);
  const out: { job: string; agentId: string }[] = [];
  for (const key of jobs) {
    for (const inst of state.jobs.get(key)?.instances ?? []) {
      if (inst.state !== 'ACTIVE' || inst.taskId === undefined) continue;
      const task = state.tasks.get(inst.taskId);
      if (task !== undefined) out.push({ job: key, agentId: task.agentId });
    }
  }
  return out;
}

/** taskInfoOf is what the agent needs to launch a task. */
export function taskInfoOf(state: CellState, l: LaunchedTask): TaskInfo | undefined {
  const job = state.jobs.get(l.job);
  if (job === undefined) return undefined;
  const spec = job.spec;
  const info: TaskInfo = {
    taskId: l.taskId,
    job: l.job,
    instance: l.instance,
    kind: spec.kind,
    role: parseJobKey(l.job).role,
    resources: toView(l.resources),
    ports: l.ports,
    processes: spec.processes.map((p) => ({ name: p.name, cmd: p.cmd })),
    env: spec.env,
    killGraceSecs: spec.killGraceSecs,
  };
  if (spec.health !== undefined) info.health = spec.health;
  return info;
}
