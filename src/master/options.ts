// MasterOptions are the flags of `muster master` (and the master half of `muster dev`).

import type { Logger } from '../log/index.js';

export interface MasterOptions {
  /** Port for the REST API, the agent link, the status page and /metrics; 0 picks a free one. */
  port: number;
  /** Address to listen on. */
  host: string;
  /** "sqlite:PATH" (default ./.muster/master.db). */
  store: string;
  /** An agent silent this long is marked unreachable and its tasks are placed elsewhere. */
  agentTimeoutSecs: number;
  /** Interval of heartbeats the master sends on each agent stream (and asks agents to send). */
  heartbeatSecs: number;
  /** A snapshot is taken every this many events, and the log is truncated behind it. */
  snapshotEvery: number;
  logger?: Logger;
}

export const DEFAULT_MASTER_OPTIONS: MasterOptions = {
  port: 5050,
  host: '127.0.0.1',
  store: 'sqlite:.muster/master.db',
  agentTimeoutSecs: 10,
  heartbeatSecs: 2,
  snapshotEvery: 10_000,
};

/** MasterHandle is a running master. */
export interface MasterHandle {
  readonly url: string;
  readonly port: number;
  /** Stops serving, closes agent streams and the store. Tasks on agents keep running. */
  close(): Promise<void>;
}
