// The session: the token a person logged in with (kept in sessionStorage, so it lasts as long as
// the tab and no longer) and the one typed client made with it. The UI reads and acts only through
// this client, as the CLI does, so it may do exactly what the token may do through the API.

import { MusterClient } from '../../client/index.js';

const TOKEN_KEY = 'muster.token';

let client: MusterClient | undefined;
const listeners = new Set<() => void>();

export function token(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

/** api is the client of this master (the page's origin) with the session's token. */
export function api(): MusterClient {
  if (client === undefined) {
    const t = token();
    client = new MusterClient({ masters: [location.origin], timeoutMs: 30_000, ...(t === undefined ? {} : { token: t }) });
  }
  return client;
}

/** setToken logs in (a token) or out (undefined): a new client, and every page reads again. */
export function setToken(t: string | undefined): void {
  if (t === undefined || t === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, t);
  client = undefined;
  for (const l of listeners) l();
}

export function onSessionChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
