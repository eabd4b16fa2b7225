// A role that --role-users does not map gets a unix user of its own, allocated by the agent from a
// range of uids it owns (--role-uid-range), as systemd's DynamicUser does: no /etc/passwd entry, the
// same number as uid and gid, no supplementary groups. The supervisor sets the ids by number.
//
// A role keeps its uid: the agent writes its roles' uids to <work-dir>/role-uids.json before a task
// runs as one, so a restarted agent gives the role the same uid and its old sandboxes stay its own.
// Two roles never share a uid, on this agent nor with another agent on the same machine (`muster
// dev` beside a real agent, several agents of a test): each uid handed out is claimed host-wide by a
// file <claims-dir>/<uid> (default /var/lib/muster/uids) naming the work dir and the role, created
// with O_EXCL. A claim whose work dir no longer maps that role to that uid (the work dir was
// deleted) is stale and may be taken over. Ids that /etc/passwd or /etc/group name are never handed
// out, and the default range lies outside systemd's own (61184-65519) and below nobody (65534).

import { closeSync, constants, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { checkKeyPart, MusterError } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import { idsInUse, type UnixUser, type UserFiles } from './users.js';

/** UidRange is an inclusive range of uids. */
export interface UidRange {
  first: number;
  last: number;
}

/** DEFAULT_UID_RANGE: below systemd's DynamicUser range (61184-65519), inside Debian's reserved 60000-64999. */
export const DEFAULT_UID_RANGE: UidRange = { first: 60_000, last: 60_999 };
/** DEFAULT_UID_CLAIMS_DIR holds one file per uid handed out by an agent of this machine. */
export const DEFAULT_UID_CLAIMS_DIR = '/var/lib/muster/uids';
/** ROLE_UIDS_FILE is the agent's own record of its roles' uids, in its work dir. */
export const ROLE_UIDS_FILE = 'role-uids.json';

/** MIN_UID keeps allocated users clear of the system's own (0-999) and of login users by habit. */
const MIN_UID = 1000;
/** MAX_UID: (uid_t)-1 and -2 mean "no change" and overflow to the kernel and NFS. */
const MAX_UID = 2 ** 32 - 3;
/** RESERVED never goes to a role: nobody and its 16-bit overflow twin. */
const RESERVED = new Set([65_534, 65_535]);
const MAX_FILE_BYTES = 4 * 1024 * 1024;
/** A claim younger than this is another agent's allocation in progress (claimed, not yet recorded). */
const FRESH_CLAIM_MS = 60_000;

/** parseUidRange reads "60000-60999". Throws INVALID_ARGUMENT. */
export function parseUidRange(text: string): UidRange {
  const m = /^\s*(\d{1,10})\s*-\s*(\d{1,10})\s*$/.exec(text);
  const first = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (m === null || !(first >= MIN_UID && last <= MAX_UID && first <= last)) {
    throw new MusterError('INVALID_ARGUMENT', `uid range "${text.slice(0, 64)}" must be FIRST-LAST with ${MIN_UID} <= FIRST <= LAST <= ${MAX_UID}, e.g. 60000-60999`);
  }
  return { first, last };
}

export function formatUidRange(range: UidRange): string {
  return `${range.first}-${range.last}`;
}

export interface RoleUidsOptions {
  /** The agent's work dir: role-uids.json lives there, and claims name it. */
  workDir: string;
  range?: UidRange;
  claimsDir?: string;
  /** The passwd and group files whose ids are never handed out (default /etc/passwd, /etc/group). */
  userFiles?: UserFiles;
  logger: Logger;
}

/** RoleUids hands out and remembers the uid of each role the agent runs without a mapped user. */
export class RoleUids {
  private constructor(
    private readonly workDir: string,
    private readonly file: string,
    readonly range: UidRange,
    private readonly claimsDir: string,
    private readonly roles: Map<string, number>,
    private readonly userFiles: UserFiles,
  ) {}

  /**
   * open reads what the work dir recorded and makes the claims directory. A recorded uid outside the
   * range (the range changed) is forgotten: its role gets a new one. Throws INVALID_ARGUMENT for a
   * record it cannot read (a role must never silently change uid) or a claims directory others may write.
   */
  static open(options: RoleUidsOptions): RoleUids {
    const range = options.range ?? DEFAULT_UID_RANGE;
    const workDir = realpathSync(options.workDir);
    const file = path.join(workDir, ROLE_UIDS_FILE);
    const claimsDir = path.resolve(options.claimsDir ?? DEFAULT_UID_CLAIMS_DIR);
    const roles = readRecord(file);
    if (roles === undefined) throw new MusterError('INVALID_ARGUMENT', `${file} is not a record of roles' uids; move it away to allocate them afresh (old sandboxes keep their old owners)`);
    for (const [role, uid] of roles) {
      if (uid < range.first || uid > range.last) {
        options.logger.warn(`role "${role}" had uid ${uid}, outside --role-uid-range ${formatUidRange(range)}: it gets a new one`);
        roles.delete(role);
      }
    }
    try {
      mkdirSync(claimsDir, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw new MusterError('INVALID_ARGUMENT', `cannot make ${claimsDir}, where the machine's allocated uids are claimed: ${(err as Error).message}`, { cause: err });
    }
    const st = lstatSync(claimsDir);
    if (!st.isDirectory() || st.uid !== process.geteuid?.() || (st.mode & 0o022) !== 0) {
      throw new MusterError('INVALID_ARGUMENT', `${claimsDir} must be a directory of the agent's user that no one else may write: others could take a role's uid`);
    }
    return new RoleUids(workDir, file, range, claimsDir, roles, options.userFiles ?? {});
  }

  /** recorded: the uids this agent has handed out, by role. */
  recorded(): ReadonlyMap<string, number> {
    return this.roles;
  }

  /**
   * userOf returns the role's user, allocating and recording its uid first if it has none. A role's
   * recorded uid that another agent of this machine now holds, or a range with no uid left, throws
   * INVALID_ARGUMENT: the task fails with that message rather than share a uid.
   */
  userOf(role: string): UnixUser {
    if (checkKeyPart(role) !== undefined) throw new MusterError('INVALID_ARGUMENT', `role "${role.slice(0, 64)}" is not a valid role`);
    let uid = this.roles.get(role);
    if (uid === undefined) {
      uid = this.allocate(role);
    } else if (isLocalId(uid, this.userFiles)) {
      throw new MusterError('INVALID_ARGUMENT', `role "${role}" has uid ${uid} on this agent, but a local user or group now has that id; map the role with --role-users, or remove it from ${this.file} to allocate a new uid`);
    } else if (!this.claim(uid, role)) {
      throw new MusterError('INVALID_ARGUMENT', `role "${role}" has uid ${uid} on this agent, but ${this.claimFile(uid)} gives it to another agent of this machine; give the agents disjoint --role-uid-range`);
    }
    return { name: `uid ${uid}`, uid, gid: uid, groups: [] };
  }

  private allocate(role: string): number {
    const { uids, gids } = idsInUse(this.userFiles);
    const ours = new Set(this.roles.values());
    for (let uid = this.range.first; uid <= this.range.last; uid++) {
      if (uids.has(uid) || gids.has(uid) || RESERVED.has(uid) || ours.has(uid)) continue;
      if (!this.claim(uid, role)) continue;
      // Recorded before any task runs as it: a restart must find the same uid for the role.
      const next = new Map(this.roles).set(role, uid);
      writeRecord(this.file, next);
      this.roles.set(role, uid);
      return uid;
    }
    throw new MusterError('INVALID_ARGUMENT', `no uid of --role-uid-range ${formatUidRange(this.range)} is left for role "${role}": every one is a local user's or group's, or another role's on this machine`);
  }

  private claimFile(uid: number): string {
    return path.join(this.claimsDir, String(uid));
  }

  /** claim makes uid ours for role on this machine; false when another agent holds it. */
  private claim(uid: number, role: string): boolean {
    const file = this.claimFile(uid);
    const body = `${JSON.stringify({ workDir: this.workDir, role })}\n`;
    if (createExclusive(file, body)) return true;
    const held = readClaim(file);
    if (held !== undefined && held.workDir === this.workDir) {
      if (held.role === role) return true;
      // Our own claim for a role our record does not give this uid: left by a crash between claim
      // and record, or by a forgotten range. The record is the truth.
      if (this.roles.get(held.role) === uid) return false;
    } else if (isFresh(file) || (held !== undefined && isRecorded(held, uid))) {
      return false;
    }
    // Stale: taken over by removing it and claiming afresh, so that of two agents taking it over
    // at once only one succeeds.
    try {
      unlinkSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return createExclusive(file, body);
  }
}

function isLocalId(id: number, files: UserFiles): boolean {
  const { uids, gids } = idsInUse(files);
  return uids.has(id) || gids.has(id);
}

/** isFresh: a claim too young to be judged: another agent may be between claiming and recording it. */
function isFresh(file: string): boolean {
  try {
    return Date.now() - lstatSync(file).mtimeMs < FRESH_CLAIM_MS;
  } catch {
    return false;
  }
}

/** isRecorded: the claim's work dir still gives its role this uid (the claim is live). */
function isRecorded(held: { workDir: string; role: string }, uid: number): boolean {
  try {
    if (!statSync(held.workDir).isDirectory()) return false;
  } catch {
    return false;
  }
  return readRecord(path.join(held.workDir, ROLE_UIDS_FILE))?.get(held.role) === uid;
}

/** createExclusive writes a new file; false when one is there already. */
function createExclusive(file: string, body: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, body);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

function readClaim(file: string): { workDir: string; role: string } | undefined {
  let doc: unknown;
  try {
    doc = readJsonFile(file);
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null) return undefined;
  const { workDir, role } = doc as { workDir?: unknown; role?: unknown };
  return typeof workDir === 'string' && typeof role === 'string' ? { workDir, role } : undefined;
}

/** readRecord reads role-uids.json: an empty map when there is none, undefined when it is not valid. */
function readRecord(file: string): Map<string, number> | undefined {
  let doc: unknown;
  try {
    doc = readJsonFile(file);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? new Map() : undefined;
  }
  const roles = typeof doc === 'object' && doc !== null ? (doc as { roles?: unknown }).roles : undefined;
  if (typeof roles !== 'object' || roles === null || Array.isArray(roles)) return undefined;
  const out = new Map<string, number>();
  for (const [role, uid] of Object.entries(roles)) {
    if (checkKeyPart(role) !== undefined || typeof uid !== 'number' || !Number.isInteger(uid) || uid < MIN_UID || uid > MAX_UID) return undefined;
    out.set(role, uid);
  }
  return out;
}

/** readJsonFile reads a small JSON file without following a link; throws what open, read or parse threw. */
function readJsonFile(file: string): unknown {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    if (fstatSync(fd).size > MAX_FILE_BYTES) throw new Error(`${file} is larger than ${MAX_FILE_BYTES} bytes`);
    return JSON.parse(readFileSync(fd, 'utf8')) as unknown;
  } finally {
    closeSync(fd);
  }
}

/** writeRecord replaces role-uids.json atomically and durably; only root (the agent) reads it. */
function writeRecord(file: string, roles: ReadonlyMap<string, number>): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, `${JSON.stringify({ roles: Object.fromEntries(roles) }, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
