// dns: the master's DNS server, answering names in the cell's domain from its state (Mesos-DNS's
// names and more; REFERENCE.md §3), and the lookups the Mesos-DNS HTTP API shares with it.
export { Responder, startDnsServer, type DnsOptions, type DnsServer } from './server.js';
export { Zone, domainLabels, type NameRecords, type Service, type ZoneOptions } from './records.js';
export { domainFrag, sanitizeLabel, taskHash } from './names.js';
