// AgentOptions are the flags of `muster agent` (and the agent half of `muster dev`).

import type { Logger } from '../log/index.js';

export interface AgentOptions {
  /** Master URLs; the agent tries them in turn and follows redirects to the leader. */
  masters: string[];
  /** Holds the agent's id, its task checkpoints and the task sandboxes. */
  workDir: string;
  /** Port of the agent's own HTTP server (files, health, metrics); 0 picks a free one. */
  port: number;
  /** Address to listen on. */
  host: string;
  /** Address the master and other machines reach this agent at; defaults to host, or the hostname. */
  advertiseAddress?: string;
  /** Overrides the detected hostname (attribute "host"). */
  hostname?: string;
  /** Mesos syntax, "cpus:2;mem:1024;ports:[31000-31999]": overrides what is detected. */
  resources?: string;
  /** "rack:r1;zone:a" (Mesos syntax) or "rack=r1,zone=a": added to the detected attributes. */
  attributes?: string;
  logger?: Logger;
}

/** AgentHandle is a running agent. */
export interface AgentHandle {
  readonly url: string;
  readonly port: number;
  /** The id the master gave this agent, once subscribed. */
  agentId(): string | undefined;
  /**
   * Stops the agent. With killTasks every task is killed gracefully first, so nothing is orphaned:
   * `muster agent` and `muster dev` do so on SIGINT and SIGTERM, since a task cannot yet outlive
   * its agent (a restarted agent kills what it finds). Without, tasks are left to that restart.
   */
  close(options?: { killTasks?: boolean }): Promise<void>;
}
