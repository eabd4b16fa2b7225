// tls: what the master, the agents, the client and the CLI share to speak TLS: reading PEM files,
// trusting a cell's own CA on outgoing calls, saying why a server's certificate was refused, and
// making a small cell's CA and certificates (muster cell init-tls). `export *`, as core's index:
// the CLI's bundle then leaves out the files a command does not use (node:tls, node:crypto).
export * from './trust.js';
export * from './pem.js';
export * from './server.js';
export * from './lifetimes.js';
export * from './cellca.js';
