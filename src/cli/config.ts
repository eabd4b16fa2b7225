// The CLI's config file: named cells, as kubectl's contexts, so that one person can talk to several
// cells without exporting variables by hand. ~/.config/muster/config.yaml ($XDG_CONFIG_HOME, or
// $MUSTER_CONFIG for another file):
//
//   current: prod
//   cells:
//     prod:
//       master: https://10.0.0.1:5050,https://10.0.0.2:5050
//       token: mst_…
//       ca: tls/ca.pem          (the cell's CA: a file, relative to this one, or the PEM itself)
//     dev:
//       master: http://127.0.0.1:5050
//
// Flags and variables win over the file: --master or MUSTER_MASTER, MUSTER_TOKEN, --ca or MUSTER_CA; --cell or
// MUSTER_CELL picks a cell other than `current`. The file holds secrets: the CLI refuses one that
// others may read.

import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from './exitcodes.js';

/** CellConfig is one named cell of the config file. */
export interface CellConfig {
  master?: string;
  token?: string;
  /** The cell's CA for https:// masters: a PEM file (relative to the config file's directory) or the PEM text itself. */
  ca?: string;
}

/** The most bytes of config file worth reading: a few cells take a few hundred. */
const MAX_CONFIG_BYTES = 256 * 1024;

export function configPath(): string {
  const explicit = process.env['MUSTER_CONFIG'];
  if (explicit !== undefined && explicit !== '') return explicit;
  const base = process.env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config');
  return join(base, 'muster', 'config.yaml');
}

/** The config file as read before the command's action: undefined until then, null when there is none. */
let file: { path: string; doc: unknown } | null | undefined;

/**
 * loadConfigFile reads and parses the config file, once, before a command runs (a hook of the
 * program): the YAML parser is loaded only when there is a file to parse, so a command without one
 * starts as fast as before.
 */
export async function loadConfigFile(): Promise<void> {
  if (file !== undefined) return;
  const path = configPath();
  let text: string;
  try {
    const st = statSync(path);
    if (st.size > MAX_CONFIG_BYTES) throw new UsageError(`${path} is larger than ${MAX_CONFIG_BYTES} bytes`, 'it should hold a few cells');
    if ((st.mode & 0o077) !== 0) throw new UsageError(`${path} may be read by other users, and it holds tokens`, `chmod 600 ${path}`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      file = null;
      return;
    }
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
  const { parse } = await import('yaml');
  try {
    file = { path, doc: parse(text, { maxAliasCount: 10 }) as unknown };
  } catch (err) {
    throw new UsageError(`${path} is not valid YAML: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
}

/**
 * cellConfig is the cell the command talks to, from the config file: `name` (else MUSTER_CELL,
 * else the file's `current`). No file: an empty cell (the defaults apply), unless a cell was named.
 */
export function cellConfig(name: string | undefined): CellConfig {
  const wanted = name ?? process.env['MUSTER_CELL'];
  if (file === undefined || file === null) {
    if (wanted !== undefined) throw new UsageError(`no cell "${wanted}": ${configPath()} does not exist`, 'write it as the README describes, or drop --cell');
    return {};
  }
  const { path, doc } = file;
  const cells = (doc as { cells?: unknown } | null)?.cells;
  const current = (doc as { current?: unknown } | null)?.current;
  const pick = wanted ?? (typeof current === 'string' ? current : undefined);
  if (pick === undefined) return {};
  const cell = typeof cells === 'object' && cells !== null ? (cells as Record<string, unknown>)[pick] : undefined;
  if (typeof cell !== 'object' || cell === null) {
    const names = typeof cells === 'object' && cells !== null ? Object.keys(cells).join(', ') : '';
    throw new UsageError(`no cell "${pick}" in ${path}`, names === '' ? 'add it under cells:' : `its cells are ${names}`);
  }
  const out: CellConfig = {};
  for (const key of ['master', 'token', 'ca'] as const) {
    const v = (cell as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v === '') throw new UsageError(`cells.${pick}.${key} in ${path} must be text`);
    out[key] = v;
  }
  return out;
}
