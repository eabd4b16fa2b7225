// Each role's tasks run as a unix user of their own, so that one tenant's tasks cannot read or kill
// another's, nor touch the agent's files. The agent maps roles to users with --role-users and
// resolves a user's ids from /etc/passwd and /etc/group itself, rather than through getpwnam(3),
// which Node does not expose for other users. Directory services (LDAP via NSS) are therefore not
// seen: tasks' users must be local, as they are on the machines of a cluster built for this.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { checkKeyPart, MusterError } from '../../core/index.js';

/** UnixUser is a user a task may run as, with the groups it is in. */
export interface UnixUser {
  name: string;
  uid: number;
  gid: number;
  /** Supplementary groups: the primary gid first, then every group that lists the user. */
  groups: number[];
}

/** UserFiles names the databases to read; tests pass sample files. */
export interface UserFiles {
  passwd?: string;
  group?: string;
}

/** USER_NAME is a user name as useradd(8) accepts it by default (plus the trailing '$' of machine accounts). */
const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;
/** MAX_DB_BYTES bounds /etc/passwd and /etc/group: far beyond any local database. */
const MAX_DB_BYTES = 16 * 1024 * 1024;
/** NGROUPS_MAX is the kernel's: a process cannot hold more supplementary groups. */
const NGROUPS_MAX = 65_536;
/** MAX_ID is the largest valid id: (uid_t)-1 means "no change" to the kernel. */
const MAX_ID = 2 ** 32 - 2;
/** MAX_FLAG_LENGTH bounds --role-users: thousands of roles fit. */
const MAX_FLAG_LENGTH = 64 * 1024;

/** isValidUserName tells whether a string is usable as a unix user name. */
export function isValidUserName(name: string): boolean {
  return USER_NAME.test(name);
}

/**
 * resolveUser looks a user up in the passwd and group files. Throws INVALID_ARGUMENT for a name
 * that is not valid or not there, and for databases too large or malformed to trust.
 */
export function resolveUser(name: string, files: UserFiles = {}): UnixUser {
  if (!isValidUserName(name)) throw new MusterError('INVALID_ARGUMENT', `"${name.slice(0, 64)}" is not a valid user name`);
  const passwdFile = files.passwd ?? '/etc/passwd';
  const groupFile = files.group ?? '/etc/group';

  let user: UnixUser | undefined;
  for (const line of readDb(passwdFile).split('\n')) {
    // name:password:uid:gid:gecos:home:shell
    const fields = line.split(':');
    if (fields[0] !== name || fields.length < 4) continue;
    const uid = parseId(fields[2]);
    const gid = parseId(fields[3]);
    if (uid === undefined || gid === undefined) throw new MusterError('INVALID_ARGUMENT', `${passwdFile}: the entry of user "${name}" has no valid uid and gid`);
    user = { name, uid, gid, groups: [gid] };
    break;
  }
  if (user === undefined) throw new MusterError('INVALID_ARGUMENT', `unknown user "${name}": it is not in ${passwdFile}`);

  for (const line of readDb(groupFile).split('\n')) {
    // name:password:gid:member,member
    const fields = line.split(':');
    if (fields.length < 4) continue;
    const members = (fields[3] ?? '').trim().split(',');
    if (!members.includes(name)) continue;
    const gid = parseId(fields[2]);
    if (gid === undefined || user.groups.includes(gid)) continue;
    if (user.groups.length >= NGROUPS_MAX) break;
    user.groups.push(gid);
  }
  return user;
}

/**
 * idsInUse lists every uid of the passwd file and every gid of the group file: the ids an agent
 * must not hand out to a role of its own (a role's user gets the same number as uid and gid).
 */
export function idsInUse(files: UserFiles = {}): { uids: Set<number>; gids: Set<number> } {
  const uids = new Set<number>();
  const gids = new Set<number>();
  for (const line of readDb(files.passwd ?? '/etc/passwd').split('\n')) {
    const fields = line.split(':');
    const uid = parseId(fields[2]);
    const gid = parseId(fields[3]);
    if (uid !== undefined) uids.add(uid);
    if (gid !== undefined) gids.add(gid);
  }
  for (const line of readDb(files.group ?? '/etc/group').split('\n')) {
    const gid = parseId(line.split(':')[2]);
    if (gid !== undefined) gids.add(gid);
  }
  return { uids, gids };
}

/**
 * parseRoleUsers reads the agent's --role-users flag, "web=www-data,batch=nobody", into a map from
 * role to user name. It checks the names' form only: the agent resolves the users when it starts.
 */
export function parseRoleUsers(flag: string): Record<string, string> {
  if (flag.length > MAX_FLAG_LENGTH) throw new MusterError('INVALID_ARGUMENT', `--role-users is longer than ${MAX_FLAG_LENGTH} characters`);
  const out: Record<string, string> = {};
  for (const raw of flag.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq < 0) throw new MusterError('INVALID_ARGUMENT', `--role-users: "${item.slice(0, 64)}" should be role=user, e.g. web=www-data`);
    const role = item.slice(0, eq).trim();
    const user = item.slice(eq + 1).trim();
    const why = checkKeyPart(role);
    if (why !== undefined) throw new MusterError('INVALID_ARGUMENT', `--role-users: role in "${item.slice(0, 64)}" ${why}`);
    if (!isValidUserName(user)) {
      throw new MusterError(
        'INVALID_ARGUMENT',
        `--role-users: user in "${item.slice(0, 64)}" must be a unix user name (letters, digits, '_', '.', '-'; up to 32)`,
      );
    }
    if (Object.hasOwn(out, role)) throw new MusterError('INVALID_ARGUMENT', `--role-users: role "${role}" is given twice`);
    out[role] = user;
  }
  return out;
}

function parseId(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  const id = Number(text);
  return id <= MAX_ID ? id : undefined;
}

/** readDb reads a whole database file, refusing one past MAX_DB_BYTES rather than reading part of it. */
function readDb(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new MusterError('INVALID_ARGUMENT', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_DB_BYTES) throw new MusterError('INVALID_ARGUMENT', `${file} is larger than ${MAX_DB_BYTES} bytes`);
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
