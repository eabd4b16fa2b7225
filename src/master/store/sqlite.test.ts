import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from './sqlite.js';
import { storeContract } from './store.contract.js';

storeContract({
  name: 'SqliteStore',
  async fresh() {
    const dir = await mkdtemp(join(tmpdir(), 'muster-store-'));
    return {
      open: () => Promise.resolve(new SqliteStore(join(dir, 'master.db'))),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
});
