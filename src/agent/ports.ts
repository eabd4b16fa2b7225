// Ports that other programs on the machine already hold. The master hands out ports from the
// agent's ranges; one that some other process listens on would make the task fail with "Address
// already in use" seconds after it was reported running. The agent reads the kernel's socket tables
// (/proc/net/tcp, tcp6, udp, udp6 of its network namespace, where its tasks run too), reports the
// ports of its ranges held by anything but its own tasks with SUBSCRIBE and every USAGE report, so
// the master never offers them, and checks a LAUNCH's ports against a fresh read.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { portsToRanges, type PortRange } from '../core/index.js';

/** TCP_LISTEN and the state of a bound, unconnected UDP socket, as /proc/net/* write them (hex). */
const TCP_LISTEN = '0A';
const UDP_UNCONNECTED = '07';
/** A socket table larger than this is read only up to it: the machine has bigger problems then. */
const MAX_TABLE_BYTES = 32 * 1024 * 1024;

/**
 * heldPorts returns the local ports of listening TCP sockets and bound, unconnected UDP sockets in
 * the reading process's network namespace. A table that cannot be read (no /proc, another OS)
 * adds nothing: the agent then behaves as before, and a clash shows as the task's own failure.
 */
export function heldPorts(procNet = '/proc/net'): Set<number> {
  const held = new Set<number>();
  for (const [file, state] of [
    ['tcp', TCP_LISTEN],
    ['tcp6', TCP_LISTEN],
    ['udp', UDP_UNCONNECTED],
    ['udp6', UDP_UNCONNECTED],
  ] as const) {
    let text: string;
    try {
      text = readFileSync(join(procNet, file), 'latin1');
    } catch {
      continue;
    }
    parseSocketTable(text.length > MAX_TABLE_BYTES ? text.slice(0, MAX_TABLE_BYTES) : text, state, held);
  }
  return held;
}

/**
 * parseSocketTable adds the local port of every row in the given state. A row reads
 * `sl local_address rem_address st ...` with addresses as HEXIP:HEXPORT; for UDP only sockets
 * with no remote (port 0000) count: a connected one is a client's, not something listening.
 */
export function parseSocketTable(text: string, state: string, into: Set<number>): void {
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4 || fields[3] !== state) continue;
    const local = fields[1] ?? '';
    const remote = fields[2] ?? '';
    if (state === UDP_UNCONNECTED && !remote.endsWith(':0000')) continue;
    const colon = local.lastIndexOf(':');
    if (colon < 0) continue;
    const port = Number.parseInt(local.slice(colon + 1), 16);
    if (Number.isInteger(port) && port > 0 && port <= 65535) into.add(port);
  }
}

/**
 * busyPorts is what of `ranges` is held on the machine by anything but the agent's own tasks
 * (`own`: the ports its live tasks were given, which the master already counts as used), as
 * normalized ranges.
 */
export function busyPorts(ranges: readonly PortRange[], own: ReadonlySet<number>, held: ReadonlySet<number>): PortRange[] {
  const busy: number[] = [];
  for (const port of held) {
    if (own.has(port)) continue;
    if (ranges.some((r) => port >= r.begin && port <= r.end)) busy.push(port);
  }
  return portsToRanges(busy);
}
