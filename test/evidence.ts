// Evidence from the agents themselves, not from the master's records: what ran is what left a
// sandbox under an agent's work dir (<workDir>/sandboxes/<taskId>/, kept for days by the sandbox GC),
// and how it ended is what the task's supervisor wrote in the sandbox (.muster/exit.json) when its
// processes were gone; what runs now is what /proc shows. Drills read these to count, for each
// instance of a job, the copies that ran, the ones that succeeded and the ones alive, and hold them
// against what the master says: a status the master lost, a success it counted twice or made up.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskState } from '../src/core/index.js';
import type { TaskView } from '../src/protocol/index.js';
import { taskProcesses } from './proc.js';

/** ProcessExit is how one process of a task ended, as the supervisor recorded it. */
export interface ProcessExit {
  name: string;
  pid: number;
  exitCode?: number;
  /** A signal number. */
  signal?: number;
}

/** ExitFile is the part of <sandbox>/.muster/exit.json (the supervisor's SupervisorExit) that evidence reads. */
export interface ExitFile {
  /** ms since the epoch. */
  startedAt?: number;
  endedAt?: number;
  /** In the order the processes ended. */
  exits: ProcessExit[];
  /** The supervisor was asked to stop the task (the strongest request). */
  killed?: 'SIGTERM' | 'SIGKILL';
  /** Setup failed (a cgroup, a namespace, the user, exec). */
  error?: string;
}

/**
 * SandboxOutcome is what a sandbox says of its task: every process exited 0 (succeeded), the task
 * was stopped on request (killed), anything else (failed), or no word yet: no exit file (the task
 * runs, or never started, or its supervisor was killed), or one that cannot be read.
 */
export type SandboxOutcome = 'succeeded' | 'failed' | 'killed' | 'no exit file' | 'unreadable';

/** ENDED are the outcomes of a task the supervisor saw end: the master must have heard of each. */
const ENDED: ReadonlySet<SandboxOutcome> = new Set(['succeeded', 'failed', 'killed']);

/** SandboxEvidence is one sandbox of a job's task on one agent. */
export interface SandboxEvidence {
  /** The agent's name in the cell (agent-1 ...). */
  agent: string;
  taskId: string;
  instance: number;
  dir: string;
  outcome: SandboxOutcome;
  exit?: ExitFile;
  /** Why the exit file could not be read, for an unreadable one. */
  problem?: string;
}

/** InstanceEvidence sums up one instance's sandboxes over every agent. */
export interface InstanceEvidence {
  instance: number;
  /** Copies that were started (sandboxes made). */
  sandboxes: number;
  /** Copies whose every process exited 0. */
  succeeded: number;
  taskIds: string[];
}

/** AgentDirs is what evidence needs of an agent: an AgentProcess is one. */
export interface AgentDirs {
  readonly name: string;
  readonly workDir: string;
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

/**
 * taskIdPattern matches the task ids of one job: `${role}-${env}-${name}-${instance}-${uuid}` (see
 * makeTaskId in src/core/ids.ts), the instance in group 1. The uuid is matched whole, so that the
 * tasks of batch/prod/storm-2 are not taken for instances of batch/prod/storm.
 */
export function taskIdPattern(job: string): RegExp {
  const parts = job.split('/');
  if (parts.length !== 3 || parts.some((p) => !/^[a-z0-9-]+$/.test(p))) throw new Error(`"${job}" is not a job key role/env/name`);
  return new RegExp(`^${parts.join('-')}-(\\d+)-${UUID}$`);
}

/** readExit reads and checks an exit file; undefined when there is none. */
export function readExit(sandbox: string): ExitFile | undefined {
  let text: string;
  try {
    text = readFileSync(join(sandbox, '.muster', 'exit.json'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const doc = JSON.parse(text) as unknown;
  if (doc === null || typeof doc !== 'object' || !Array.isArray((doc as { exits?: unknown }).exits)) {
    throw new Error('exit.json has no list of exits');
  }
  const exit = doc as ExitFile;
  for (const e of exit.exits) {
    if (e === null || typeof e !== 'object' || typeof e.name !== 'string') throw new Error('exit.json has an exit without a process name');
  }
  return exit;
}

/** outcomeOf judges an exit file: see SandboxOutcome. */
export function outcomeOf(exit: ExitFile): SandboxOutcome {
  if (exit.error !== undefined) return 'failed';
  if (exit.exits.length > 0 && exit.exits.every((e) => e.exitCode === 0 && e.signal === undefined)) return 'succeeded';
  if (exit.killed !== undefined) return 'killed';
  return 'failed';
}

/**
 * JobEvidence is every sandbox of one job's tasks on the given agents, read once. Its counts are
 * by instance; instances that left no sandbox anywhere are absent from them (see missing()).
 */
export class JobEvidence {
  readonly job: string;
  readonly sandboxes: readonly SandboxEvidence[];
  readonly instances: ReadonlyMap<number, InstanceEvidence>;

  constructor(job: string, sandboxes: readonly SandboxEvidence[]) {
    this.job = job;
    this.sandboxes = sandboxes;
    const instances = new Map<number, InstanceEvidence>();
    for (const s of sandboxes) {
      let i = instances.get(s.instance);
      if (i === undefined) {
        i = { instance: s.instance, sandboxes: 0, succeeded: 0, taskIds: [] };
        instances.set(s.instance, i);
      }
      i.sandboxes++;
      if (s.outcome === 'succeeded') i.succeeded++;
      i.taskIds.push(s.taskId);
    }
    this.instances = new Map([...instances.entries()].sort((a, b) => a[0] - b[0]));
  }

  /** instance sums up one instance (all zero when it left no sandbox). */
  instance(n: number): InstanceEvidence {
    return this.instances.get(n) ?? { instance: n, sandboxes: 0, succeeded: 0, taskIds: [] };
  }

  /** doubled: instances that succeeded more than once, on whatever agents. */
  doubled(): InstanceEvidence[] {
    return [...this.instances.values()].filter((i) => i.succeeded > 1);
  }

  /** ranTwice: instances started more than once (more than one sandbox), however they ended. */
  ranTwice(): InstanceEvidence[] {
    return [...this.instances.values()].filter((i) => i.sandboxes > 1);
  }

  /** unsucceeded: the instances 0..count-1 with no sandbox that succeeded. */
  unsucceeded(count: number): number[] {
    const out: number[] = [];
    for (let n = 0; n < count; n++) if (this.instance(n).succeeded === 0) out.push(n);
    return out;
  }

  /** outcomes counts the sandboxes by outcome: "succeeded 98, no exit file 2". */
  outcomes(): string {
    const counts = new Map<SandboxOutcome, number>();
    for (const s of this.sandboxes) counts.set(s.outcome, (counts.get(s.outcome) ?? 0) + 1);
    return [...counts.entries()].map(([o, n]) => `${o} ${n}`).join(', ') || 'no sandbox';
  }

  /** endedBetween: sandboxes on one agent whose task ended in [from, to] (ms): what ended while it was away. */
  endedBetween(agent: string, from: number, to: number): SandboxEvidence[] {
    return this.sandboxes.filter((s) => s.agent === agent && s.exit?.endedAt !== undefined && s.exit.endedAt >= from && s.exit.endedAt <= to);
  }
}

/**
 * jobEvidence lists every sandbox of the job's tasks under each agent's work dir and reads its
 * exit file. An agent with no sandboxes dir (it never ran a task) contributes nothing.
 */
export function jobEvidence(agents: readonly AgentDirs[], job: string): JobEvidence {
  const pattern = taskIdPattern(job);
  const sandboxes: SandboxEvidence[] = [];
  for (const agent of agents) {
    const root = join(agent.workDir, 'sandboxes');
    let names: string[];
    try {
      names = readdirSync(root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    for (const taskId of names.sort()) {
      const m = pattern.exec(taskId);
      if (m === null) continue;
      const dir = join(root, taskId);
      const s: SandboxEvidence = { agent: agent.name, taskId, instance: Number(m[1]), dir, outcome: 'no exit file' };
      try {
        const exit = readExit(dir);
        if (exit !== undefined) {
          s.exit = exit;
          s.outcome = outcomeOf(exit);
        }
      } catch (e) {
        s.outcome = 'unreadable';
        s.problem = (e as Error).message;
      }
      sandboxes.push(s);
    }
  }
  return new JobEvidence(job, sandboxes);
}

/** StatusMismatch is a task on which the master's record and the agent's evidence disagree. */
export interface StatusMismatch {
  taskId: string;
  instance: number;
  /** Where its sandbox is; undefined when no agent has one. */
  agent: string | undefined;
  evidence: SandboxOutcome | 'no sandbox';
  master: TaskState | 'unknown to the master';
}

/** MATCHING: the master states that agree with how a sandbox says its task ended. */
const MATCHING: Readonly<Record<'succeeded' | 'failed' | 'killed', readonly TaskState[]>> = {
  succeeded: ['TASK_FINISHED'],
  failed: ['TASK_FAILED', 'TASK_ERROR'],
  killed: ['TASK_KILLED', 'TASK_FAILED'],
};

/**
 * lostStatuses: the tasks whose end an agent's sandbox records but the master does not have, or
 * has otherwise (an exit 0 the master calls TASK_LOST, or still TASK_UNREACHABLE, or does not
 * know). tasks should be the master's `task list --all` of the job.
 */
export function lostStatuses(evidence: JobEvidence, tasks: readonly TaskView[]): StatusMismatch[] {
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const out: StatusMismatch[] = [];
  for (const s of evidence.sandboxes) {
    if (!ENDED.has(s.outcome)) continue;
    const task = byId.get(s.taskId);
    const allowed = MATCHING[s.outcome as keyof typeof MATCHING];
    if (task !== undefined && allowed.includes(task.state)) continue;
    out.push({ taskId: s.taskId, instance: s.instance, agent: s.agent, evidence: s.outcome, master: task?.state ?? 'unknown to the master' });
  }
  return out;
}

/**
 * unfoundedSuccesses: the tasks the master calls TASK_FINISHED that no agent's sandbox shows
 * succeeding: a success the master made up.
 */
export function unfoundedSuccesses(evidence: JobEvidence, tasks: readonly TaskView[]): StatusMismatch[] {
  const bySandbox = new Map(evidence.sandboxes.map((s) => [s.taskId, s]));
  const out: StatusMismatch[] = [];
  for (const t of tasks) {
    if (t.state !== 'TASK_FINISHED') continue;
    const s = bySandbox.get(t.taskId);
    if (s?.outcome === 'succeeded') continue;
    out.push({ taskId: t.taskId, instance: t.instance, agent: s?.agent, evidence: s?.outcome ?? 'no sandbox', master: t.state });
  }
  return out;
}

/** countedSuccesses: how many TASK_FINISHED tasks the master records for each instance (from `task list --all`). */
export function countedSuccesses(tasks: readonly TaskView[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const t of tasks) if (t.state === 'TASK_FINISHED') counts.set(t.instance, (counts.get(t.instance) ?? 0) + 1);
  return counts;
}

/** LiveCopies are the live task processes of one job, as /proc shows them. */
export interface LiveCopies {
  /** Task ids with at least one live process, by instance. */
  byInstance: Map<number, Set<string>>;
  taskIds: Set<string>;
  /** Live processes (a task has several: its supervisor's init, a shell, the command). */
  processes: number;
  /** Live processes whose argv is exactly the given argv (e.g. sleep 3600), when one was given. */
  commands: number;
}

/**
 * liveCopies finds the job's live task processes by the MUSTER_JOB, MUSTER_INSTANCE and
 * MUSTER_TASK_ID every task process inherits; under limits them to sandboxes below a directory
 * (a test's cell), argv counts the processes running that exact command.
 */
export function liveCopies(job: string, options: { under?: string; argv?: readonly string[] } = {}): LiveCopies {
  const processes = taskProcesses({ job, ...(options.under === undefined ? {} : { under: options.under }) });
  const byInstance = new Map<number, Set<string>>();
  const taskIds = new Set<string>();
  const pattern = taskIdPattern(job);
  let commands = 0;
  for (const p of processes) {
    const taskId = p.env.get('MUSTER_TASK_ID') as string;
    const instance = Number(p.env.get('MUSTER_INSTANCE') ?? pattern.exec(taskId)?.[1] ?? -1);
    taskIds.add(taskId);
    let ids = byInstance.get(instance);
    if (ids === undefined) byInstance.set(instance, (ids = new Set()));
    ids.add(taskId);
    const want = options.argv;
    if (want !== undefined && p.argv.length === want.length && p.argv.every((a, i) => a === want[i])) commands++;
  }
  return { byInstance, taskIds, processes: processes.length, commands };
}

/** copiesBrief is a one-line picture of live copies: "0:[a] 1:[b c]" (task ids shortened to their uuid's first 8). */
export function copiesBrief(copies: LiveCopies): string {
  const short = (id: string): string => id.slice(id.length - 36, id.length - 28);
  return [...copies.byInstance.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([i, ids]) => `${i}:[${[...ids].map(short).join(' ')}]`)
    .join(' ') || '(none)';
}
