// Context is what every client command needs from the global flags: a client pointed at the
// masters of --master, MUSTER_MASTER or the local default, and whether to print JSON.

import type { Command } from 'commander';
import { MusterClient, nodeFetch } from '../client/index.js';
import { MusterError } from '../core/index.js';
import { cellConfig } from './config.js';
import { UsageError } from './exitcodes.js';

export const DEFAULT_MASTER = 'http://127.0.0.1:5050';

export interface GlobalOptions {
  master?: string;
  cell?: string;
  json?: boolean;
}

export interface Context {
  client: MusterClient;
  json: boolean;
}

/**
 * mastersOf reads a comma-separated list of master URLs from the flag, else MUSTER_MASTER, else
 * fallback; undefined when none of them is given (the agent has no sensible default).
 */
export function mastersOf(flag: string | undefined, fallback: string | undefined): string[] | undefined {
  const text = flag ?? process.env['MUSTER_MASTER'] ?? fallback;
  if (text === undefined) return undefined;
  const masters = text.split(',').map((m) => m.trim()).filter((m) => m !== '');
  if (masters.length === 0) throw new UsageError(`--master "${text}" names no master`, 'write it like http://10.0.0.1:5050,http://10.0.0.2:5050');
  return masters;
}

/** contextOf builds the context of the command being run from its own and its parents' options. */
export function contextOf(cmd: Command): Context {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  const cell = cellConfig(opts.cell);
  const envToken = process.env['MUSTER_TOKEN'];
  const token = envToken !== undefined && envToken !== '' ? envToken : cell.token;
  try {
    // nodeFetch: a command is one short process, and fetch would cost it more to load than the command takes.
    const masters = mastersOf(opts.master ?? process.env['MUSTER_MASTER'] ?? cell.master, DEFAULT_MASTER) ?? [DEFAULT_MASTER];
    const client = new MusterClient({ masters, fetch: nodeFetch, ...(token === undefined ? {} : { token: token.trim() }) });
    return { client, json: opts.json === true };
  } catch (err) {
    if (err instanceof MusterError) throw new UsageError(err.message);
    throw err;
  }
}
