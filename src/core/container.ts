// A job's `container:` block: run the job's tasks in a Docker image instead of as plain processes on
// the agent. The shape follows Mesos's DockerInfo and Marathon's JSON (image, network, port
// mappings, volumes, parameters), in this project's camelCase; what each field does on the agent
// is in agent/containerizers/docker.ts, and the README's reference is written from this schema.
//
// `parameters` is not Mesos's open door to every `docker run` flag (privileged, devices, the host's
// pid namespace): it is a bounded allow-list of options that change how the task runs without
// reaching past its container. Host paths in `volumes` are checked against a list the operator
// allows (--docker-volumes, on the master at create and again on the agent at launch).

import path from 'node:path';
import { z } from 'zod';


/** Where the task's sandbox is mounted inside its container, and MESOS_SANDBOX's value, as in Mesos. */
export const CONTAINER_SANDBOX = '/mnt/mesos/sandbox';

export const PULL_POLICIES = ['always', 'missing', 'never'] as const;
export const DOCKER_NETWORKS = ['host', 'bridge', 'none'] as const;
export type DockerNetwork = (typeof DOCKER_NETWORKS)[number];

export const CONTAINER_LIMITS = {
  imageLength: 512,
  volumes: 32,
  parameters: 32,
  argv: 256,
  argLength: 16 * 1024,
  parameterValueLength: 1024,
} as const;

// The Docker reference grammar (distribution/reference): [domain[:port]/]path[:tag][@digest].
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);

/** ImageRef is an image reference split into what the Engine's pull takes: fromImage and tag (or digest). */
export interface ImageRef {
  name: string;
  /** The tag, "latest" when neither tag nor digest is given. */
  tag?: string;
  digest?: string;
}

/**
 * parseImageRef reads an image reference ("busybox", "registry:5000/team/app:1.2",
 * "app@sha256:…"), or says what is wrong with it. A name is at most 255 characters, as Docker's is.
 */
export function parseImageRef(text: string): ImageRef | { error: string } {
  const m = REFERENCE.exec(text);
  if (m === null) {
    return { error: `"${text.slice(0, 80)}" is not an image reference: write name, name:tag or name@digest in lowercase, e.g. busybox:1.36 or registry.example.com:5000/team/app:2` };
  }
  const [, name = '', tag, digest] = m;
  if (name.length > 255) return { error: 'an image name is at most 255 characters' };
  if (digest !== undefined) return tag === undefined ? { name, digest } : { name, tag, digest };
  return { name, tag: tag ?? 'latest' };
}

/** imageName writes a parsed reference back, with the implied "latest" made explicit. */
export function imageName(ref: ImageRef): string {
  return `${ref.name}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/**
 * DOCKER_PARAMETERS is the allow-list of `docker run` options a job may pass, each with the check
 * its value must pass. Anything that would give the task more than its container (privileged,
 * cap-add, device, pid, ipc, network, volume, cgroup-parent) or change what the scheduler placed
 * (cpus, memory) is left out on purpose.
 */
export const DOCKER_PARAMETERS: Readonly<Record<string, { check: RegExp; example: string; repeatable: boolean }>> = {
  hostname: { check: /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/, example: 'web-1', repeatable: false },
  user: { check: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$/, example: '1000:1000 or nobody', repeatable: false },
  workdir: { check: /^\/[^\0]{0,1023}$/, example: '/app', repeatable: false },
  'read-only': { check: /^(true|false)$/, example: 'true', repeatable: false },
  init: { check: /^(true|false)$/, example: 'true', repeatable: false },
  'stop-signal': { check: /^(SIG)?[A-Z0-9]{2,10}$/, example: 'SIGINT', repeatable: false },
  'shm-size': { check: /^[0-9]{1,12}[bkmg]?$/i, example: '64m', repeatable: false },
  'cap-drop': { check: /^[A-Z_]{2,32}$/, example: 'NET_RAW', repeatable: true },
  label: { check: /^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,127}=[^\0\n]{0,512}$/, example: 'team=search', repeatable: true },
  tmpfs: { check: /^\/[A-Za-z0-9_.\-/]{1,255}(:[A-Za-z0-9=,]{1,128})?$/, example: '/run:size=64m', repeatable: true },
  ulimit: { check: /^(nofile|nproc|core|stack|memlock)=[0-9]{1,10}(:[0-9]{1,10})?$/, example: 'nofile=1024:2048', repeatable: true },
  'add-host': { check: /^[A-Za-z0-9.-]{1,253}:[0-9a-fA-F.:]{2,45}$/, example: 'db.local:10.0.0.5', repeatable: true },
};

const absolutePath = (what: string) =>
  z
    .string({ error: `${what} must be an absolute path` })
    .min(1)
    .max(4096)
    .refine((p) => path.posix.isAbsolute(p) && !p.includes('\0'), `${what} must be an absolute path, e.g. /data`)
    .refine((p) => path.posix.normalize(p) === p || path.posix.normalize(p) === `${p}/` || `${path.posix.normalize(p)}/` === p, `${what} must be written plainly: no "..", "." or repeated slashes`);

const volumeSchema = z.strictObject({
  hostPath: absolutePath('hostPath'),
  containerPath: absolutePath('containerPath').refine(
    (p) => p !== '/' && !(p === CONTAINER_SANDBOX || p.startsWith(`${CONTAINER_SANDBOX}/`)),
    `containerPath cannot be / or ${CONTAINER_SANDBOX} (the sandbox is mounted there)`,
  ),
  readOnly: z.boolean({ error: 'readOnly must be true or false' }).default(false),
});

const argSchema = z
  .string()
  .max(CONTAINER_LIMITS.argLength)
  .refine((s) => !s.includes('\0'), 'an argument cannot hold a NUL character');

const parameterSchema = z
  .strictObject({ key: z.string().max(64), value: z.string().max(CONTAINER_LIMITS.parameterValueLength) })
  .superRefine((p, ctx) => {
    const allowed = DOCKER_PARAMETERS[p.key];
    if (allowed === undefined || !Object.hasOwn(DOCKER_PARAMETERS, p.key)) {
      ctx.addIssue({ code: 'custom', path: ['key'], message: `"${p.key.slice(0, 64)}" is not an allowed docker parameter; allowed: ${Object.keys(DOCKER_PARAMETERS).join(', ')}` });
    } else if (!allowed.check.test(p.value)) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `"${p.value.slice(0, 64)}" is not a valid value for ${p.key}, e.g. ${allowed.example}` });
    } else if (p.key === 'label' && p.value.startsWith('muster.')) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: 'labels starting with "muster." are Muster\'s own (they name the task and agent)' });
    }
  });

export const dockerSchema = z
  .strictObject({
    image: z
      .string({ error: 'image is required, e.g. busybox:1.36' })
      .max(CONTAINER_LIMITS.imageLength)
      .superRefine((v, ctx) => {
        const ref = parseImageRef(v);
        if ('error' in ref) ctx.addIssue({ code: 'custom', message: ref.error });
      }),
    /** always: pull at every launch; missing: only when the agent lacks it (Mesos's default); never: the agent must have it. */
    pull: z.enum(PULL_POLICIES, { error: `pull must be one of ${PULL_POLICIES.join(', ')}` }).default('missing'),
    /** host: the agent's network (Mesos's default); bridge: the agent's bridge network, ports mapped; none: no network. */
    network: z.enum(DOCKER_NETWORKS, { error: `network must be one of ${DOCKER_NETWORKS.join(', ')}` }).default('host'),
    /** The container port of each of the job's named ports (bridge only); an unnamed one is the same number as the host port. */
    portMappings: z.record(z.string(), z.number().int().min(1).max(65535)).default({}),
    volumes: z.array(volumeSchema).max(CONTAINER_LIMITS.volumes).default([]),
    /** Replaces the image's ENTRYPOINT. */
    entrypoint: z.array(argSchema).max(CONTAINER_LIMITS.argv).optional(),
    /** Replaces the image's CMD (the arguments of its entrypoint). */
    args: z.array(argSchema).max(CONTAINER_LIMITS.argv).optional(),
    parameters: z.array(parameterSchema).max(CONTAINER_LIMITS.parameters).default([]),
  })
  .superRefine((d, ctx) => {
    const seen = new Set<string>();
    d.parameters.forEach((p, i) => {
      if (DOCKER_PARAMETERS[p.key]?.repeatable === false && seen.has(p.key)) {
        ctx.addIssue({ code: 'custom', path: ['parameters', i, 'key'], message: `${p.key} is given twice` });
      }
      seen.add(p.key);
    });
    if (d.network !== 'bridge' && Object.keys(d.portMappings).length > 0) {
      ctx.addIssue({ code: 'custom', path: ['portMappings'], message: `portMappings need network: bridge (with ${d.network} the task's ports are the host's)` });
    }
    const targets = new Set<string>();
    d.volumes.forEach((v, i) => {
      if (targets.has(v.containerPath)) ctx.addIssue({ code: 'custom', path: ['volumes', i, 'containerPath'], message: `${v.containerPath} is mounted twice` });
      targets.add(v.containerPath);
    });
  });

export const containerSchema = z.strictObject({
  docker: dockerSchema,
});

/** DockerContainer is a validated `container.docker` block, defaults filled in. */
export type DockerContainer = z.output<typeof dockerSchema>;
export type ContainerSpec = z.output<typeof containerSchema>;

/**
 * The agent attributes docker tasks are placed by: `docker` is "up" while the agent's daemon
 * answers and "down" while it does not (absent where the agent runs no docker containerizer);
 * `docker.bridge` is "up" where the agent has the bridge network its bridge tasks join.
 */
export const DOCKER_ATTRIBUTE = 'docker';
export const DOCKER_BRIDGE_ATTRIBUTE = 'docker.bridge';

/**
 * placementConstraints are the constraints a job's tasks are placed by: its own, and for a docker
 * job an agent whose daemon is up (and has a bridge network, for bridge). `atCreate` asks instead
 * whether an agent could ever run it: one whose daemon is down now still can.
 */
export function placementConstraints(spec: { constraints: Readonly<Record<string, string>>; container?: ContainerSpec | undefined }, atCreate = false): Readonly<Record<string, string>> {
  const docker = spec.container?.docker;
  if (docker === undefined) return spec.constraints;
  const out: Record<string, string> = { ...spec.constraints, [DOCKER_ATTRIBUTE]: atCreate ? 'up|down' : 'up' };
  if (docker.network === 'bridge') out[DOCKER_BRIDGE_ATTRIBUTE] = 'up';
  return out;
}
