// `muster cell init-tls DIR --host NAME…`: the action, in a module of its own that cell.ts imports
// when the command runs, so that what makes certificates (node:crypto, @peculiar/x509) is loaded by
// no other command.

import { MusterError } from '../core/index.js';
import { makeCellCertificates, type CellCertificates } from '../tls/index.js';
import { UsageError } from './exitcodes.js';
import { printJson, printLines } from './output.js';

export async function initTls(dir: string, options: { hosts: readonly string[]; days?: number; json: boolean }): Promise<void> {
  let made: CellCertificates;
  try {
    made = await makeCellCertificates({ dir, hosts: options.hosts, ...(options.days === undefined ? {} : { days: options.days }) });
  } catch (err) {
    if (err instanceof MusterError && err.code === 'INVALID_ARGUMENT') throw new UsageError(err.message);
    throw err;
  }
  if (options.json) {
    printJson(made);
    return;
  }
  const f = made.files;
  printLines([
    made.reusedCa ? `kept the CA in ${f.ca} (its key ${f.caKey})` : `made a CA: ${f.ca} (its key ${f.caKey}, 0600: keep it off the cell's machines)`,
    `master: ${f.masterCert}, ${f.masterKey}`,
    `agents: ${f.agentCert}, ${f.agentKey}`,
    `names:  ${made.names.join(', ')}; valid until ${made.notAfter.toISOString().slice(0, 10)}`,
    '',
    `  muster master --tls-cert ${f.masterCert} --tls-key ${f.masterKey} --tls-ca ${f.ca} ...`,
    `  muster agent --master https://HOST:5050 --tls-ca ${f.ca} --tls-cert ${f.agentCert} --tls-key ${f.agentKey} ...`,
    `  muster --ca ${f.ca} --master https://HOST:5050 job list     (or MUSTER_CA=${f.ca}, or ca: in the config file)`,
  ]);
}
