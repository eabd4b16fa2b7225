import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { busyPorts, heldPorts, parseSocketTable } from './ports.js';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:7A69 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:7A6A 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 20 4 30 10 -1
   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 100 0 0 10 0
`;
const UDP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  10: 00000000:7A6B 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2001 2 0000000000000000 0
  11: 0100007F:7A6C 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 2002 2 0000000000000000 0
  12: 0100007F:7A6D 0100007F:0035 07 00000000:00000000 00:00000000 00000000     0        0 2003 2 0000000000000000 0
`;

test('parseSocketTable reads listening TCP sockets and unconnected UDP ones, not connections', () => {
  const tcp = new Set<number>();
  parseSocketTable(TCP, '0A', tcp);
  assert.deepEqual([...tcp].sort((a, b) => a - b), [8080, 31337]);
  const udp = new Set<number>();
  parseSocketTable(UDP, '07', udp);
  // 31341 is bound but connected to a DNS server: a client's socket, not something listening.
  assert.deepEqual([...udp], [31339]);
});

test("busyPorts keeps the agent's ranges, leaves out its own tasks' ports, and merges the rest into ranges", () => {
  const held = new Set([8080, 31000, 31001, 31002, 31005, 31100, 40000]);
  const ranges = [
    { begin: 31000, end: 31010 },
    { begin: 31100, end: 31100 },
  ];
  assert.deepEqual(busyPorts(ranges, new Set([31001]), held), [
    { begin: 31000, end: 31000 },
    { begin: 31002, end: 31002 },
    { begin: 31005, end: 31005 },
    { begin: 31100, end: 31100 },
  ]);
  assert.deepEqual(busyPorts(ranges, new Set(), new Set([9999])), []);
});

test('heldPorts finds a port this process listens on, and forgets it once closed', async (t) => {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  assert.ok(heldPorts().has(address.port), `port ${address.port} is listed as held`);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.equal(heldPorts().has(address.port), false);
});

test('heldPorts reads nothing, rather than failing, where there are no socket tables', () => {
  assert.deepEqual([...heldPorts('/nonexistent/proc/net')], []);
});
