// How long the certificates of `muster cell init-tls` live: apart from cellca.ts, so that the CLI's
// help can say it without loading what makes certificates.

/** DEFAULT_CERT_DAYS: the master's and agents' certificates, unless --days says otherwise. */
export const DEFAULT_CERT_DAYS = 825;
/** MAX_CERT_DAYS bounds --days; a certificate never outlives its CA anyway. */
export const MAX_CERT_DAYS = 3650;
/** CA_DAYS: the cell's CA. */
export const CA_DAYS = 3650;
