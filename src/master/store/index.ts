// store: where the master's log and snapshots live.
import { MusterError } from '../../core/index.js';
import { EtcdStore } from './etcd.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export type { FollowableStore, Store, Loaded } from './store.js';
export { SqliteStore } from './sqlite.js';
export { EtcdStore } from './etcd.js';
export type { EtcdStoreOptions, Fence, Follower } from './etcd.js';

/** MAX_ETCD_ENDPOINTS bounds the endpoint list of an etcd:// URL (etcd clusters have 3, 5 or 7 members). */
const MAX_ETCD_ENDPOINTS = 16;

/**
 * openStore reads a store URL: "sqlite:PATH", or "etcd://HOST:PORT,HOST:PORT/PREFIX" where each
 * HOST:PORT is a member's client endpoint (plain http) and PREFIX the key prefix of this cell.
 */
export function openStore(url: string): Store {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === '') throw new MusterError('INVALID_ARGUMENT', '--store sqlite: needs a file path, e.g. sqlite:.muster/master.db');
    return new SqliteStore(path);
  }
  if (url.startsWith('etcd://')) {
    const { endpoints, prefix } = parseEtcdUrl(url);
    return new EtcdStore({ endpoints, prefix, description: url });
  }
  throw new MusterError('INVALID_ARGUMENT', `--store "${url}" is not supported; use sqlite:PATH or etcd://HOST:PORT,.../PREFIX`);
}

/** parseEtcdUrl splits "etcd://h1:p1,h2:p2/prefix" into http endpoints and a key prefix. */
export function parseEtcdUrl(url: string): { endpoints: string[]; prefix: string } {
  const example = 'e.g. etcd://127.0.0.1:2379,127.0.0.1:22379/muster';
  const rest = url.slice('etcd://'.length);
  const slash = rest.indexOf('/');
  if (slash < 0) throw new MusterError('INVALID_ARGUMENT', `--store "${url}" has no key prefix after the endpoints; ${example}`);
  const hosts = rest.slice(0, slash);
  const prefix = rest.slice(slash + 1).replace(/\/+$/, '');
  if (hosts === '') throw new MusterError('INVALID_ARGUMENT', `--store "${url}" names no etcd endpoint; ${example}`);
  if (prefix === '') throw new MusterError('INVALID_ARGUMENT', `--store "${url}" has an empty key prefix; ${example}`);
  const parts = hosts.split(',');
  if (parts.length > MAX_ETCD_ENDPOINTS) {
    throw new MusterError('INVALID_ARGUMENT', `--store "${url}" names ${parts.length} endpoints; at most ${MAX_ETCD_ENDPOINTS}`);
  }
  const endpoints = parts.map((hp) => {
    const m = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})$/.exec(hp);
    const port = Number(m?.[2]);
    if (m === null || port < 1 || port > 65535) {
      throw new MusterError('INVALID_ARGUMENT', `--store "${url}": the endpoint "${hp}" is not HOST:PORT; ${example}`);
    }
    return `http://${hp}`;
  });
  if (!/^[A-Za-z0-9_./-]+$/.test(prefix)) {
    throw new MusterError(
      'INVALID_ARGUMENT',
      `--store "${url}": the key prefix "${prefix}" may hold only letters, digits and _ . / -`,
    );
  }
  return { endpoints, prefix };
}
