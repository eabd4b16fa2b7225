// Context is what every client command needs from the global flags: a client pointed at the
// masters of --master, MUSTER_MASTER or the local default, and whether to print JSON.

import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { MusterClient, nodeFetch } from '../client/index.js';
import { MusterError } from '../core/index.js';
import { readPem } from '../tls/index.js';
import { cellConfig, configPath } from './config.js';
import { UsageError } from './exitcodes.js';

export const DEFAULT_MASTER = 'http://127.0.0.1:5050';

export interface GlobalOptions {
  master?: string;
  cell?: string;
  ca?: string;
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
  const env = process.env['MUSTER_MASTER'];
  const text = flag ?? (env === undefined || env === '' ? undefined : env) ?? fallback;
  if (text === undefined) return undefined;
  const masters = text.split(',').map((m) => m.trim()).filter((m) => m !== '');
  if (masters.length === 0) throw new UsageError(`--master "${text}" names no master`, 'write it like http://10.0.0.1:5050,http://10.0.0.2:5050');
  return masters;
}

/**
 * caOf reads the CA that https:// masters' certificates must chain to: --ca FILE, else MUSTER_CA
 * (a file), else the cell's ca: in the config file (a file relative to it, or the PEM itself);
 * undefined: the system's CAs.
 */
function caOf(flag: string | undefined, fromConfig: string | undefined): string | undefined {
  const env = process.env['MUSTER_CA'];
  const [file, what] = flag !== undefined ? [flag, '--ca'] : env !== undefined && env !== '' ? [env, 'MUSTER_CA'] : [fromConfig, `ca: in ${configPath()}`];
  if (file === undefined) return undefined;
  if (what.startsWith('ca:') && file.includes('-----BEGIN CERTIFICATE-----')) return file;
  try {
    return readPem(what.startsWith('ca:') ? resolve(dirname(configPath()), file) : file, { kind: 'certificate', flag: what });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err), "give the cell's CA, the ca.pem that muster cell init-tls made");
  }
}

/** contextOf builds the context of the command being run from its own and its parents' options. */
export function contextOf(cmd: Command): Context {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  const cell = cellConfig(opts.cell);
  const envToken = process.env['MUSTER_TOKEN'];
  const token = envToken !== undefined && envToken !== '' ? envToken : cell.token;
  try {
    // nodeFetch: a command is one short process, and fetch would cost it more to load than the command takes.
    // --master, else MUSTER_MASTER (mastersOf reads it; empty counts as unset), else the cell's.
    const masters = mastersOf(opts.master, cell.master ?? DEFAULT_MASTER) ?? [DEFAULT_MASTER];
    const ca = caOf(opts.ca, cell.ca);
    const client = new MusterClient({ masters, fetch: nodeFetch, ...(token === undefined ? {} : { token: token.trim() }), ...(ca === undefined ? {} : { ca }) });
    return { client, json: opts.json === true };
  } catch (err) {
    if (err instanceof MusterError) throw new UsageError(err.message);
    throw err;
  }
}
