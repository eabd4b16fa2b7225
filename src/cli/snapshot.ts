// `muster cell snapshot save|restore`: back up the cell state, and seed a new store with it. save
// asks the leader over the API; restore is offline, it writes the store itself, with no master
// running on it, and only into an empty store, so that it can never mix two cells' logs.

import type { Command } from 'commander';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { MusterError } from '../core/index.js';
import { contextOf, type GlobalOptions } from './context.js';
import { UsageError } from './exitcodes.js';
import { printJson, printLines } from './output.js';

const MiB = 1024 * 1024;

/** SnapshotFile is what `save` writes and `restore` reads: the body of GET /api/v1/snapshot. */
export interface SnapshotFile {
  index: number;
  data: string;
}

export function addSnapshotCommands(cell: Command): void {
  const snapshot = cell
    .command('snapshot')
    .description("save the cell state to a file, or restore one into a new, empty store")
    .addHelpText(
      'after',
      `
A snapshot is the whole cell state (agents, jobs, tasks, quotas, maintenance) at one log index.
save asks the leading master for it, while the cell runs. restore writes it into an empty store
for a master to start on: to move a cell to another store (sqlite: to etcd://, or the other way),
or to recover from a lost store. The agents re-register with the new master as it starts.

Examples:
  $ muster cell snapshot save cell-$(date +%F).json
  $ muster cell snapshot restore cell-2024-05-01.json --store sqlite:/var/lib/muster/master.db
  $ muster cell snapshot restore cell.json --store etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379/muster`,
    );

  snapshot
    .command('save')
    .description('write the leading master\'s state to FILE (atomically: a temp file, then a rename)')
    .argument('<FILE>', 'where to write the snapshot; an existing file is replaced only once the new one is complete')
    .addHelpText(
      'after',
      `
The master takes the snapshot once its log has flushed, at the log index printed; the file is JSON,
{"index": N, "data": "..."}, readable only by you (mode 0600).

Examples:
  $ muster cell snapshot save backup.json
  $ muster cell snapshot save backup.json --master http://10.0.0.1:5050,http://10.0.0.2:5050
  $ muster cell snapshot save backup.json --json | jq .index`,
    )
    .action(async (fileText: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const file = resolve(fileText);
      const download = await ctx.client.downloadSnapshot();
      const bytes = await saveAtomically(file, download.body);
      if (ctx.json) return printJson({ index: download.index, file, bytes });
      printLines([`saved snapshot at log index ${download.index} to ${fileText} (${(bytes / MiB).toFixed(1)} MiB)`]);
    });

  snapshot
    .command('restore')
    .description('write a saved snapshot into a new, empty store, for a master to start on (offline: no master is asked)')
    .argument('<FILE>', 'a snapshot written by muster cell snapshot save')
    .requiredOption('--store <url>', 'the store to seed: sqlite:PATH or etcd://HOST:PORT,.../PREFIX, as muster master --store takes it')
    .addHelpText(
      'after',
      `
The file is checked first: it must be a snapshot of a state version this muster reads. The store
must be empty (no log, no snapshot); a store in use is refused and left as it was. Then start the
master (or the HA masters) with the same --store: the log continues after the snapshot's index.

Examples:
  $ muster cell snapshot restore backup.json --store sqlite:.muster/master.db && muster master
  $ muster cell snapshot restore backup.json --store etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379/muster`,
    )
    .action(async (fileText: string, opts: { store: string }, cmd: Command) => {
      const json = cmd.optsWithGlobals<GlobalOptions>().json === true;
      const snap = await readSnapshotFile(fileText);
      const counts = await checkState(fileText, snap.data);
      // The store's code (SQLite, etcd) loads only for this command, as for `muster master`.
      const { openStore } = await import('../master/store/index.js');
      const store = (() => {
        try {
          return openStore(opts.store);
        } catch (err) {
          if (err instanceof MusterError && err.code === 'INVALID_ARGUMENT') throw new UsageError(err.message);
          throw err;
        }
      })();
      try {
        await store.restore(snap.index, snap.data);
      } finally {
        await store.close();
      }
      if (json) return printJson({ index: snap.index, store: store.description, ...counts });
      printLines([
        `restored the snapshot at log index ${snap.index} into ${store.description}: ` +
          `${counts.jobs} jobs, ${counts.tasks} tasks, ${counts.agents} agents, ${counts.quotas} quotas`,
        `start the master on it with: muster master --store ${opts.store}`,
      ]);
    });
}

/**
 * saveAtomically writes body to a temp file beside file, syncs it and renames it over file, so
 * that file is either the old one or the whole new one. It returns the bytes written.
 */
async function saveAtomically(file: string, body: ReadableStream<Uint8Array>): Promise<number> {
  // node:crypto is loaded here, not at start-up: every other command would pay for it.
  const { randomBytes } = await import('node:crypto');
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  let handle;
  try {
    handle = await open(temp, 'wx', 0o600);
  } catch (err) {
    await body.cancel();
    throw new UsageError(`cannot write ${file}: ${(err as Error).message}`);
  }
  let bytes = 0;
  let first = '';
  let last = 0;
  try {
    try {
      for await (const chunk of body) {
        if (first.length < 16) first += Buffer.from(chunk).toString('utf8', 0, 16);
        if (chunk.length > 0) last = chunk[chunk.length - 1] ?? 0;
        await handle.write(chunk);
        bytes += chunk.length;
      }
    } catch (err) {
      if (err instanceof MusterError) throw err;
      throw new MusterError('UNAVAILABLE', `the snapshot download broke after ${bytes} bytes: ${(err as Error).message}`, {
        retryable: true,
        cause: err,
      });
    }
    // The master writes {"index":N,"data":"..."}: a body cut short cannot end in '}'.
    if (!first.startsWith('{"index":') || last !== 0x7d) {
      throw new MusterError('UNAVAILABLE', `the snapshot download ended after ${bytes} bytes without the whole snapshot`, { retryable: true });
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, file);
    return bytes;
  } finally {
    await handle?.close();
    await rm(temp, { force: true });
  }
}

/** readSnapshotFile reads and checks the shape of a saved snapshot; a bad file is a usage error. */
export async function readSnapshotFile(fileText: string): Promise<SnapshotFile> {
  let text: string;
  try {
    if (!(await stat(fileText)).isFile()) throw new Error('it is not a file');
    text = await readFile(fileText, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${fileText}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw notSnapshot(`${fileText} is not a snapshot: it is not JSON (${(err as Error).message})`);
  }
  const { index, data } = (doc ?? {}) as { index?: unknown; data?: unknown };
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0 || typeof data !== 'string') {
    throw notSnapshot(`${fileText} is not a snapshot: it has no log index and state data`);
  }
  return { index, data };
}

/** StateCounts is what a restored snapshot holds, for the line restore prints. */
interface StateCounts {
  agents: number;
  jobs: number;
  tasks: number;
  quotas: number;
}

/**
 * checkState reads a snapshot's state as a master starting on it would, so that a file from a
 * newer muster, or a damaged one, is refused before the store is touched.
 */
async function checkState(fileText: string, data: string): Promise<StateCounts> {
  // Loaded only for this command, like the store, so that other commands start fast.
  const { deserializeState } = await import('../master/state/index.js');
  try {
    const state = deserializeState(data);
    return { agents: state.agents.size, jobs: state.jobs.size, tasks: state.tasks.size, quotas: state.quotas.size };
  } catch (err) {
    throw notSnapshot(`${fileText} holds no state this muster can restore: ${(err as Error).message}`);
  }
}

/** notSnapshot is the error for a file that is not a snapshot this muster reads: exit 3, like a bad config. */
function notSnapshot(message: string): MusterError {
  return new MusterError('INVALID_ARGUMENT', `${message}; nothing was written (make one with muster cell snapshot save FILE)`);
}
