// The bounds parseCall holds a scheduler call to. Mesos itself bounds little beyond ids (NAME_MAX);
// these keep one call from making the master hold, log or pass to an agent more than a sane
// framework ever sends. The HTTP layer bounds the body's bytes; these bound its shape.

export const LIMITS = {
  /** Ids ({"value": …}): Mesos allows NAME_MAX (255) characters. */
  idChars: 256,
  /** Names, keys, roles, users, hostnames, paths, URLs, image names. */
  nameChars: 1024,
  /** Command values, arguments, environment values, URIs, label values, messages. */
  textChars: 64 * 1024,
  /** Decoded bytes of a MESSAGE's data, a TaskInfo's or ExecutorInfo's data. */
  dataBytes: 1024 * 1024,
  /** Decoded bytes of an acknowledged status uuid (Mesos's are 16; Muster's agents send up to 64). */
  uuidBytes: 64,
  offerIds: 1000,
  operations: 1000,
  /** Tasks in one call, all LAUNCH and LAUNCH_GROUP operations together. */
  taskInfos: 10_000,
  /** Resource entries of one task, executor or request. */
  resources: 256,
  /** Ranges of one RANGES resource, items of one SET resource. */
  rangesOrItems: 1024,
  /** Tasks or operations named by one RECONCILE or RECONCILE_OPERATIONS. */
  reconcile: 10_000,
  requests: 1000,
  /** Arguments, environment variables, port mappings, discovery ports. */
  longList: 1024,
  /** Roles, labels, URIs, volumes, parameters, capabilities, networks, groups, statuses. */
  shortList: 256,
} as const;
