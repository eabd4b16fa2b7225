// The REST API's shapes for changing a running job: config versions, diffs, rolling updates (with
// canaries and automatic rollback), rolling restarts and scaling. See README "Updates".

import type { JobSpec, UpdateSettings } from '../core/index.js';

/**
 * UpdateStatus is where an update stands (Aurora's JobUpdateStatus, less its pulses, plus the wait
 * for a canary's promotion). The first five are active: one per job at a time.
 */
export type UpdateStatus =
  | 'ROLLING_FORWARD'
  | 'ROLLING_BACK'
  | 'ROLL_FORWARD_PAUSED'
  | 'ROLL_BACK_PAUSED'
  | 'AWAITING_PROMOTION'
  | 'ROLLED_FORWARD'
  | 'ROLLED_BACK'
  | 'ABORTED'
  | 'FAILED';

export const ACTIVE_UPDATE_STATUSES: readonly UpdateStatus[] = ['ROLLING_FORWARD', 'ROLLING_BACK', 'ROLL_FORWARD_PAUSED', 'ROLL_BACK_PAUSED', 'AWAITING_PROMOTION'];

/** UpdateKind: a change of config (or of instance count: scale), or a rolling restart of the same config. */
export type UpdateKind = 'update' | 'scale' | 'restart';

/** InstanceAction is what an update did to one instance, as recorded (Aurora's JobUpdateAction). */
export type InstanceAction = 'UPDATING' | 'UPDATED' | 'UPDATE_FAILED' | 'ROLLING_BACK' | 'ROLLED_BACK' | 'ROLLBACK_FAILED';

/**
 * UpdateSettingsView is a job's `update:` block as it is applied, every default filled in and
 * every size a number (core's UpdateSettings: batchSizes, the last repeating; maxUnavailable, the
 * disruption budget; canary and autoPromoteSecs).
 */
export type UpdateSettingsView = UpdateSettings;

/** UpdateInstanceView is one instance in an update's scope. */
export interface UpdateInstanceView {
  instance: number;
  /** What the update does to it: add it, remove it, or replace its task (change: a new config; restart: the same). */
  change: 'add' | 'remove' | 'change' | 'restart';
  /** Its progress in the current direction. */
  status: 'IDLE' | 'WORKING' | 'SUCCEEDED' | 'FAILED';
  /** Runs of its new task that failed in the current direction. */
  failures: number;
  /** The config version it runs now (absent: it does not exist). */
  version?: number;
  /** When it started working in the current direction (ms). */
  workingAt?: number;
  /** Why it failed, when it did. */
  message?: string;
}

/** UpdateEventView is one change of an update's status. */
export interface UpdateEventView {
  status: UpdateStatus;
  at: number;
  by?: string;
  message?: string;
}

/** InstanceEventView is one action on an instance. */
export interface InstanceEventView {
  instance: number;
  action: InstanceAction;
  at: number;
  message?: string;
}

/** UpdateSummaryView is an update in a list. */
export interface UpdateSummaryView {
  id: string;
  job: string;
  kind: UpdateKind;
  status: UpdateStatus;
  /** The job's version when it started, and the version it rolls to. */
  fromVersion: number;
  toVersion: number;
  by?: string;
  message?: string;
  createdAt: number;
  lastModifiedAt: number;
  /** Instances in scope, and how many of them have reached the current direction's goal / failed. */
  total: number;
  done: number;
  failed: number;
}

/** UpdateView is GET /api/v1/jobs/KEY/update (the active or latest update) and GET /api/v1/updates/ID. */
export interface UpdateView extends UpdateSummaryView {
  settings: UpdateSettingsView;
  /** Instances in scope in the order the update takes them (rollback takes them in reverse). */
  instances: UpdateInstanceView[];
  /** Which version each instance of the job runs now, by instance number. */
  versions: Record<string, number>;
  /** The batch being worked on (1-based), and how many batches there are in the current direction. */
  batch: number;
  batches: number;
  /** Canary instances not yet promoted. */
  canaries?: number[];
  events: UpdateEventView[];
  instanceEvents: InstanceEventView[];
}

/** UpdateStartRequest: the query of POST /api/v1/jobs/KEY/update (the config is the body). */
export interface UpdateStarted {
  update: UpdateView;
  diff: JobDiffView;
}

/** FieldChangeView is one field the new config changes (path as a person writes it: processes[0].cmd). */
export interface FieldChangeView {
  field: string;
  from?: unknown;
  to?: unknown;
}

/** JobDiffView is POST /api/v1/jobs/KEY/diff: what an update to a config would change. */
export interface JobDiffView {
  job: string;
  fromVersion: number;
  /** Fields that change, against the job's current config. */
  fields: FieldChangeView[];
  /** Instances the update would add, remove, replace (its config changes), or leave alone. */
  add: number[];
  remove: number[];
  change: number[];
  unchanged: number[];
}

/** ConfigVersionView is one version of a job's config in its history. */
export interface ConfigVersionView {
  version: number;
  at: number;
  by?: string;
  message?: string;
  /** How it came: the job's creation, or an update of this kind (and its id). */
  cause: 'create' | UpdateKind;
  updateId?: string;
  /** Instances running it now. */
  instances: number[];
  spec?: JobSpec;
}

/** JobHistoryView is GET /api/v1/jobs/KEY/history. */
export interface JobHistoryView {
  job: string;
  version: number;
  versions: ConfigVersionView[];
  updates: UpdateSummaryView[];
}

/** ScaleRequest is the body of POST /api/v1/jobs/KEY/scale. */
export interface ScaleRequest {
  instances: number;
}
