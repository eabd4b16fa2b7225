// tls: what the master, the agents, the client and the CLI share to speak TLS: reading PEM files,
// trusting a cell's own CA on outgoing calls, saying why a server's certificate was refused, and
// making a small cell's CA and certificates (muster cell init-tls).
export { certificateProblem, trustingDispatcher, type CertificateProblem, type FetchDispatcher } from './trust.js';
export { checkServerTls, readPem, type PemKind } from './pem.js';
export { DEFAULT_CERT_DAYS, hostNames, LOOPBACK_NAMES, makeCellCertificates, type CellCertificates, type CellCertificatesOptions } from './cellca.js';
