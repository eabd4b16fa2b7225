// The durable records of a job's config versions and its updates (rolling updates, rolling
// restarts, scaling), as apply() keeps them. The decisions are made elsewhere: commands/updates.ts
// starts, pauses, resumes, aborts, promotes and rolls back; jobs/updater.ts moves active updates
// along. Every step is an event, so a master that restarts or takes over carries on where the log
// says, with every failure counted.

import type { JobSpec, UpdateSettings } from '../../core/index.js';
import type { InstanceAction, InstanceEventView, UpdateEventView, UpdateKind, UpdateStatus } from '../../protocol/index.js';

/** ConfigVersion is one version of a job's config. */
export interface ConfigVersion {
  version: number;
  spec: JobSpec;
  at: number;
  by?: string;
  message?: string;
  cause: 'create' | UpdateKind;
  updateId?: string;
}

/** What an update does to an instance: add it, remove it, run it with a new config, or restart it. */
export type InstanceChange = 'add' | 'remove' | 'change' | 'restart';

/** UpdateInstanceRecord is one instance in an update's scope. */
export interface UpdateInstanceRecord {
  instance: number;
  change: InstanceChange;
  /** The version it ran when the update started (absent: it did not exist). Rollback restores it. */
  initial?: number;
  status: 'IDLE' | 'WORKING' | 'SUCCEEDED' | 'FAILED';
  /** Runs of its new task that ended badly since it started working in this direction. */
  failures: number;
  /** When it started working in this direction. */
  workingAt?: number;
  /** Its task when it started working: only a later task counts as the new one. */
  fromTask?: string;
  /** The update acted on it rolling forward: rollback restores it. */
  touched?: boolean;
  message?: string;
}

/** UpdateRecord is one update of one job. */
export interface UpdateRecord {
  id: string;
  job: string;
  kind: UpdateKind;
  status: UpdateStatus;
  /** The job's version when the update started, and the version it rolls forward to. */
  from: number;
  to: number;
  /** The instance count once rolled forward. */
  instanceCount: number;
  settings: UpdateSettings;
  by?: string;
  message?: string;
  createdAt: number;
  lastModifiedAt: number;
  /** The instances in scope, by instance number. */
  instances: Record<string, UpdateInstanceRecord>;
  /** Their forward order: adds, then changes, then removals, each ascending (Aurora's). */
  order: number[];
  direction: 'forward' | 'back';
  /** The batches started in this direction, each its instances in the order taken. */
  batches: number[][];
  /** Rolling back: its batches (the forward ones reversed, each reversed), and their instances in order. */
  backPlan?: number[][];
  backOrder?: number[];
  /**
   * How many instances of the current direction's scope have been started: they are always taken
   * in scope order, so the idle ones are the scope from here on. Kept by apply, with working, so a
   * step of a 10,000-instance update looks at what is in flight, not at every instance.
   */
  started: number;
  /** The instances working now, in the order they started. */
  working: number[];
  /** Instances that failed in this direction. */
  failed: number;
  /** The canaries were promoted (or there were none). */
  promoted: boolean;
  /** When the last canary counted as updated. */
  canariesDoneAt?: number;
  events: UpdateEventView[];
  /** Instance actions, the latest INSTANCE_EVENTS_KEPT. */
  instanceEvents: InstanceEventView[];
}

/** How many instance actions an update keeps (the oldest go first): 3 per instance of a 1,000-instance job. */
export const INSTANCE_EVENTS_KEPT = 3000;

/** How many config versions and ended updates a job keeps (besides the versions its instances run). */
export const VERSIONS_KEPT = 10;

const ACTIVE: ReadonlySet<UpdateStatus> = new Set(['ROLLING_FORWARD', 'ROLLING_BACK', 'ROLL_FORWARD_PAUSED', 'ROLL_BACK_PAUSED', 'AWAITING_PROMOTION']);

export function isActiveUpdate(status: UpdateStatus): boolean {
  return ACTIVE.has(status);
}

/**
 * UPDATE_MOVES: the moves an update's status may make (Aurora's, with AWAITING_PROMOTION for a
 * canary, and ROLLING_BACK from ABORTED or FAILED so that a half-updated job is one command from
 * its old config).
 */
export const UPDATE_MOVES: Readonly<Record<UpdateStatus, readonly UpdateStatus[]>> = {
  ROLLING_FORWARD: ['ROLLING_BACK', 'ROLL_FORWARD_PAUSED', 'AWAITING_PROMOTION', 'ROLLED_FORWARD', 'ABORTED', 'FAILED'],
  ROLLING_BACK: ['ROLL_BACK_PAUSED', 'ROLLED_BACK', 'ABORTED', 'FAILED'],
  ROLL_FORWARD_PAUSED: ['ROLLING_FORWARD', 'ROLLING_BACK', 'ABORTED'],
  ROLL_BACK_PAUSED: ['ROLLING_BACK', 'ABORTED'],
  AWAITING_PROMOTION: ['ROLLING_FORWARD', 'ROLL_FORWARD_PAUSED', 'ROLLING_BACK', 'ABORTED'],
  ROLLED_FORWARD: [],
  ROLLED_BACK: [],
  ABORTED: ['ROLLING_BACK'],
  FAILED: ['ROLLING_BACK'],
};

export function updateMayMove(from: UpdateStatus, to: UpdateStatus): boolean {
  return UPDATE_MOVES[from].includes(to);
}

/** forwardAction / backAction: the action recorded for an instance's status in each direction. */
export function actionFor(direction: 'forward' | 'back', status: 'WORKING' | 'SUCCEEDED' | 'FAILED'): InstanceAction {
  if (direction === 'forward') return status === 'WORKING' ? 'UPDATING' : status === 'SUCCEEDED' ? 'UPDATED' : 'UPDATE_FAILED';
  return status === 'WORKING' ? 'ROLLING_BACK' : status === 'SUCCEEDED' ? 'ROLLED_BACK' : 'ROLLBACK_FAILED';
}

/**
 * targetVersion: the version an instance in scope is to run in the update's current direction, or
 * undefined where it is to be gone (removed forward, or added forward and rolled back).
 */
export function targetVersion(update: UpdateRecord, ui: UpdateInstanceRecord): number | undefined {
  if (update.direction === 'back') return ui.initial;
  return ui.change === 'remove' ? undefined : update.to;
}

/** scopeOf: the instances an update works on in its current direction, in the order it takes them. */
export function scopeOf(u: UpdateRecord): readonly number[] {
  return u.direction === 'forward' ? u.order : (u.backOrder ?? []);
}

/** specAt is the config of a job's version: its spec where it is the job's version, else from its versions. */
export function specAt(job: { spec: JobSpec; version?: number; versions?: ConfigVersion[] }, version: number | undefined): JobSpec {
  if (version === undefined || version === (job.version ?? 1)) return job.spec;
  return job.versions?.find((v) => v.version === version)?.spec ?? job.spec;
}
