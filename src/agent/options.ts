// AgentOptions are the flags of `muster agent` (and the agent half of `muster dev`).

import type { Logger } from '../log/index.js';
import type { UidRange } from './isolation/index.js';

export interface AgentOptions {
  /** Master URLs; the agent tries them in turn and follows redirects to the leader. */
  masters: string[];
  /** Holds the agent's id, its task checkpoints and the task sandboxes. */
  workDir: string;
  /** A token with agent:join, to join a master with authentication (then the agent uses the credential it is issued). */
  joinToken?: string;
  /** Port of the agent's own HTTP server (files, health, metrics); 0 picks a free one. */
  port: number;
  /** Address to listen on. */
  host: string;
  /** Serve the agent's port over HTTPS with this certificate and key (PEM text); the master is told at SUBSCRIBE. */
  tls?: { cert: string; key: string };
  /** The CA (PEM text) the agent trusts for https:// masters (default: the system's CAs). */
  masterCa?: string;
  /** Address the master and other machines reach this agent at; defaults to host, or the hostname. */
  advertiseAddress?: string;
  /** Overrides the detected hostname (attribute "host"). */
  hostname?: string;
  /** Mesos syntax, "cpus:2;mem:1024;ports:[31000-31999]": overrides what is detected. */
  resources?: string;
  /** "rack:r1;zone:a" (Mesos syntax) or "rack=r1,zone=a": added to the detected attributes. */
  attributes?: string;
  /** The agent's root cgroup, relative to each hierarchy's mount point (default "muster"). */
  cgroupRoot?: string;
  /** Which unix user each role's tasks run as, e.g. { web: 'www-data' }. */
  roleUsers?: Record<string, string>;
  /** The user of every role not in roleUsers; by default each such role gets a uid of its own. */
  taskUser?: string;
  /** The uids the agent allocates to roles not in roleUsers (default 60000-60999). */
  roleUidRange?: UidRange;
  /** Where every agent of the machine claims the uids it allocated (default /var/lib/muster/uids). */
  uidClaimsDir?: string;
  /** "none" turns isolation off; "auto" (the default) uses what the machine and the agent's user allow. */
  isolation?: 'auto' | 'none';
  /** Lets a role map to root. Off by default: a task escaping as root owns the machine. */
  allowRootTasks?: boolean;
  /** Rotate a task's stdout and stderr past this many bytes (default 10 MiB; 0 never). */
  logMaxBytes?: number;
  /** Rotated files kept per stream (default 5). */
  logMaxFiles?: number;
  /** Which containerizers run tasks: process (muster-supervisor), docker (the Docker Engine); default process. */
  containerizers?: ('process' | 'docker')[];
  /** The Docker daemon's unix socket (default /var/run/docker.sock). */
  dockerSocket?: string;
  /** Host directories docker tasks may mount as volumes (default none). */
  dockerVolumes?: string[];
  /** The daemon's network that network: bridge tasks join (default "bridge"). */
  dockerBridge?: string;
  /** Seconds between usage reports (cpu, memory) to the master (default 10). */
  usageIntervalSecs?: number;
  /** How many tasks the agent sets up at once; the rest wait their turn (default 8). */
  launchConcurrency?: number;
  /** Seconds between measurements of the sandboxes' disk use (default 15). */
  diskWatchIntervalSecs?: number;
  /** How long the sandbox of an ended task is kept (default 7 days; sooner under disk pressure). */
  sandboxRetentionSecs?: number;
  logger?: Logger;
}

/** AgentHandle is a running agent. */
export interface AgentHandle {
  readonly url: string;
  readonly port: number;
  /** The id the master gave this agent, once subscribed. */
  agentId(): string | undefined;
  /**
   * Stops the agent. With killTasks every task is killed gracefully first (`muster dev` on Ctrl-C,
   * `muster agent` on SIGUSR1). Without, tasks run on under their supervisors, and the next agent
   * started on the same work dir reattaches to them (`muster agent` on SIGTERM and SIGINT).
   */
  close(options?: { killTasks?: boolean }): Promise<void>;
}
