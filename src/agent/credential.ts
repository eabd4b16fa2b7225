// The agent's credential with the master. A master with authentication believes an agent only with
// it: the agent joins with a join token (a token with agent:join: --join-token-file, or
// MUSTER_JOIN_TOKEN), is issued a credential of its own in SUBSCRIBED, keeps it in
// <work-dir>/credential (0600) and sends it from then on; its id alone proves nothing. The
// credential is saved before the id is, so that an agent id on disk always comes with the
// credential the master holds for it (an agent that lost it joins again under a new id: remove
// <work-dir>/agent.json).

import path from 'node:path';
import { readPrivateFile, writePrivateFile } from './apitoken.js';

export const CREDENTIAL_FILE = 'credential';
/** A credential as masters issue them: mac_ and 32 bytes in base64url. */
const CREDENTIAL_PATTERN = /^mac_[A-Za-z0-9_-]{43}$/;

export function readCredential(workDir: string): string | undefined {
  return readPrivateFile(path.join(workDir, CREDENTIAL_FILE), CREDENTIAL_PATTERN);
}

/** saveCredential keeps a credential the master issued; a malformed one is refused (a master's bug, or not a master). */
export function saveCredential(workDir: string, credential: string): void {
  if (!CREDENTIAL_PATTERN.test(credential)) throw new Error('the master issued a credential that is not one');
  writePrivateFile(path.join(workDir, CREDENTIAL_FILE), credential);
}
