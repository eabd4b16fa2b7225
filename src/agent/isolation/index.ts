// isolation: how the agent confines a task (cgroups, pid and mount namespaces, its role's unix user).
// The containerizer uses the Isolator; the rest is public for the agent's flags and for tests.
export { Isolator, IsolationError } from './isolator.js';
export type { IsolationMode, IsolatorOptions, PreparedIsolation, TaskToIsolate } from './isolator.js';
export { Cgroups, DEFAULT_CGROUP_ROOT, checkCgroupRoot, detectCgroupLayout } from './cgroups.js';
export type { CgroupLayout, CgroupLimits, CgroupUsage, MemoryLimitation } from './cgroups.js';
export { DEFAULT_UID_RANGE, formatUidRange, parseUidRange, RoleUids } from './uids.js';
export type { UidRange } from './uids.js';
export { parseRoleUsers, resolveUser } from './users.js';
export type { UnixUser, UserFiles } from './users.js';
