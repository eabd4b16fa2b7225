// store: where the master's log and snapshots live.
import { MusterError } from '../../core/index.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export type { Store, Loaded } from './store.js';
export { SqliteStore } from './sqlite.js';

/** openStore reads a store URL: "sqlite:PATH" (etcd:// comes with HA masters). */
export function openStore(url: string): Store {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === '') throw new MusterError('INVALID_ARGUMENT', '--store sqlite: needs a file path, e.g. sqlite:.muster/master.db');
    return new SqliteStore(path);
  }
  throw new MusterError('INVALID_ARGUMENT', `--store "${url}" is not supported; use sqlite:PATH`);
}
