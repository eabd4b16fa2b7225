// Job configs for integration tests, as small builders: a config that runs, small enough that many
// fit a 2-cpu test agent, with fast restarts and kills. Tests override what they are about.

import { stringify } from 'yaml';
import type { JobSpecInput } from '../src/core/index.js';

/** serviceConfig is a service of one `sleep 3600` instance, restarted after 0.2 s, killed within 1 s. */
export function serviceConfig(job: string, overrides: Partial<JobSpecInput> = {}): JobSpecInput {
  return {
    job,
    kind: 'service',
    instances: 1,
    resources: { cpus: 0.1, mem: '16MiB', disk: '16MiB', ports: [] },
    processes: [{ name: 'main', cmd: 'sleep 3600' }],
    restartBackoff: { initialSecs: 0.2, maxSecs: 1, stableSecs: 60 },
    killGraceSecs: 1,
    ...overrides,
  };
}

/** batchConfig is a batch job of one instance that exits 0 at once. */
export function batchConfig(job: string, overrides: Partial<JobSpecInput> = {}): JobSpecInput {
  return serviceConfig(job, { kind: 'batch', processes: [{ name: 'main', cmd: 'true' }], ...overrides });
}

/** yamlOf writes a config as the YAML a user would send. */
export function yamlOf(config: JobSpecInput | Record<string, unknown>): string {
  return stringify(config);
}

/** YAML is the content type of job configs written by yamlOf. */
export const YAML = { contentType: 'application/yaml' } as const;
