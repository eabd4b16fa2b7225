// Host maintenance on the wire: POST /api/v1/hosts/drain and /activate, GET /api/v1/hosts. A host
// is named by its hostname, as agents report it; one host may run several agents.

/**
 * HostModeView is a host's maintenance mode as the API shows it: DRAINED is a DRAINING host with
 * no non-terminal task left on it, so that an operator knows it can be taken down.
 */
export type HostModeView = 'ACTIVE' | 'DRAINING' | 'DRAINED';

/** HostView is one host in GET /api/v1/hosts. */
export interface HostView {
  hostname: string;
  /** The agents registered with this hostname, sorted. */
  agentIds: string[];
  mode: HostModeView;
  /** When it was drained (ms since epoch); absent while ACTIVE. */
  since?: number;
  /** Its non-terminal tasks, of every job. */
  tasks: number;
  /** How many of those are service instances: a drain moves them off in batches. */
  services: number;
}

/** HostsRequest is the body of POST /api/v1/hosts/drain and /api/v1/hosts/activate. */
export interface HostsRequest {
  hostnames: string[];
}

/** HostsAnswer is what drain and activate answer: the hosts named, as they are now. */
export interface HostsAnswer {
  hosts: HostView[];
}
