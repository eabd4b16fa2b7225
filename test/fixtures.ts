// Fixture builders for tests, as Nomad's mock.Node() and mock.Job(): each returns a plausible,
// valid object, and a test overrides only the fields it is about. Resources are written in the
// agent's --resources syntax ("cpus:1;mem:1024;ports:[31000-31010]") so a test reads like a cell.
// No counters or clocks: the same calls build the same objects, whatever ran before.

import { EMPTY, parseResourceFlag } from '../src/core/index.js';
import type { ResourceRequest, Resources } from '../src/core/index.js';
import type { TaskInfo } from '../src/protocol/index.js';
import type {
  AllocatorAgent,
  AllocatorFramework,
  Attributes,
  Offer,
} from '../src/scheduler/index.js';

/** resources reads "cpus:1;mem:1024;disk:10GiB;gpus:1;ports:[31000-31010]"; what it omits is zero. */
export function resources(text = ''): Resources {
  return { ...EMPTY, ...parseResourceFlag(text) };
}

/** request is one task's request: cpus, mem, disk and gpus as in resources(), ports by name. */
export function request(text = 'cpus:0.1;mem:32', ports: readonly string[] = []): ResourceRequest {
  const r = resources(text);
  return { cpusMilli: r.cpusMilli, memMiB: r.memMiB, diskMiB: r.diskMiB, gpus: r.gpus, ports };
}

type WithResources<T, K extends keyof T> = Omit<Partial<T>, K> & { [P in K]?: string | Resources };

function res(r: string | Resources | undefined, fallback: string): Resources {
  if (r === undefined) return resources(fallback);
  return typeof r === 'string' ? resources(r) : r;
}

/**
 * agent is an agent of the cell, "agent-0" with 4 cpus, 8GiB mem and ports 31000-31999, all free
 * unless `free` says otherwise. It serves the allocator, and neverFits() as an agent's capacity.
 */
export function agent(overrides: WithResources<AllocatorAgent, 'total' | 'free'> = {}): AllocatorAgent {
  const agentId = overrides.agentId ?? 'agent-0';
  const total = res(overrides.total, 'cpus:4;mem:8GiB;disk:100GiB;ports:[31000-31999]');
  return {
    agentId,
    hostname: overrides.hostname ?? `${agentId}.example`,
    attributes: overrides.attributes ?? { host: `${agentId}.example` },
    total,
    free: overrides.free === undefined ? total : res(overrides.free, ''),
  };
}

/** offer is agent-0's resources offered to the framework "muster"; ids derive from the agent. */
export function offer(overrides: WithResources<Offer, 'resources'> = {}): Offer {
  const agentId = overrides.agentId ?? 'agent-0';
  return {
    offerId: overrides.offerId ?? `offer-${agentId}`,
    frameworkId: overrides.frameworkId ?? 'muster',
    agentId,
    hostname: overrides.hostname ?? `${agentId}.example`,
    attributes: overrides.attributes ?? { host: `${agentId}.example` },
    resources: res(overrides.resources, 'cpus:4;mem:8GiB;disk:100GiB;ports:[31000-31999]'),
  };
}

/** offers is n offers "agent-0".."agent-(n-1)" alike; attributes(i) may tell them apart. */
export function offers(n: number, text: string, attributes?: (i: number) => Attributes): Offer[] {
  const out: Offer[] = [];
  for (let i = 0; i < n; i++) {
    const agentId = `agent-${i}`;
    out.push(offer({ agentId, resources: text, attributes: { host: `${agentId}.example`, ...attributes?.(i) } }));
  }
  return out;
}

/** framework is the framework "muster" of role "muster", holding nothing, wanting offers. */
export function framework(overrides: WithResources<AllocatorFramework, 'allocated'> = {}): AllocatorFramework {
  return {
    frameworkId: overrides.frameworkId ?? 'muster',
    role: overrides.role ?? 'muster',
    allocated: res(overrides.allocated, ''),
    suppressed: overrides.suppressed ?? false,
    declined: overrides.declined ?? new Map(),
  };
}

/** offerIds counts offer ids "o-1", "o-2", … for one allocator call, as the master's counter would. */
export function offerIds(prefix = 'o'): () => string {
  let n = 0;
  return () => `${prefix}-${++n}`;
}

/** taskInfo is a LAUNCH's task: one `sleep 1` process with an http port, as the master sends it. */
export function taskInfo(overrides: Partial<TaskInfo> = {}): TaskInfo {
  return {
    taskId: 'web-prod-hello-0-abc',
    job: 'web/prod/hello',
    instance: 0,
    kind: 'service',
    role: 'web',
    resources: { cpus: 0.1, mem: 16, disk: 0, gpus: 0, ports: '[31000]' },
    ports: { http: 31000 },
    processes: [{ name: 'main', cmd: 'sleep 1' }],
    env: {},
    killGraceSecs: 2,
    ...overrides,
  };
}
