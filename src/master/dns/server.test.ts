// The DNS server over real sockets: queries built with dns-packet, sent over UDP and TCP to a
// server on a free port, answers decoded with dns-packet. The cell is built with apply(): three
// agents running web/prod/hello (3 instances, port http), a job with a health check (one instance
// healthy, one not), a 20-instance job for large answers, an external framework's task, an agent
// on an IPv6 address and one whose address is a host name.

import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { createServer } from 'node:http';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import dnsPacket, { type DecodedPacket, type Question } from 'dns-packet';
import { parseResourceFlag, validateJobSpec, type Resources, type TaskState } from '../../core/index.js';
import { silentLogger } from '../../log/index.js';
import { addMesosDnsRoutes } from '../http/mesosdns.js';
import { Router } from '../http/router.js';
import { apply, emptyState, type CellState, type Event, type LoggedEvent } from '../state/index.js';
import { Responder, startDnsServer, type DnsOptions } from './server.js';
import { RCODE } from './wire.js';

const T0 = 1_700_000_000_000;

function res(text: string): Resources {
  return { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [], ...parseResourceFlag(text) };
}

function agent(agentId: string, hostname: string, address: string): Event {
  return {
    type: 'AgentRegistered',
    at: T0,
    agent: { agentId, hostname, address, port: 5051, resources: res('cpus:64;mem:65536;disk:10000;ports:[31000-32000]'), attributes: {}, version: '0.1.0' },
  };
}

function job(key: string, instances: number, extra: Record<string, unknown> = {}): Event {
  return {
    type: 'JobCreated',
    at: T0 + 1000,
    spec: validateJobSpec({ job: key, kind: 'service', instances, resources: { cpus: 0.1, mem: '16MiB', ports: ['http'] }, processes: [{ name: 'main', cmd: 'sleep 100' }], ...extra }),
  };
}

function status(taskId: string, state: TaskState, healthy?: boolean): Event {
  const s: { taskId: string; state: TaskState; uuid: string; timestamp: number; healthy?: boolean } = { taskId, state, uuid: `${taskId}-${state}-${String(healthy)}`, timestamp: T0 + 5000 };
  if (healthy !== undefined) s.healthy = healthy;
  return { type: 'TaskStatusUpdated', at: T0 + 5000, status: s };
}

function launch(key: string, instance: number, agentId: string, port: number): Event {
  return {
    type: 'TasksLaunched',
    at: T0 + 2000,
    tasks: [{ taskId: `${key.replaceAll('/', '-')}-${instance}`, job: key, instance, agentId, resources: res('cpus:0.1;mem:16'), ports: { http: port } }],
  };
}

function cell(): CellState {
  const s = emptyState();
  const events: Event[] = [
    agent('a1', 'h1.example', '10.0.0.1'),
    agent('a2', 'h2.example', '10.0.0.2'),
    agent('a3', 'h3.example', '10.0.0.3'),
    agent('a4', 'node4', 'node4.local'),
    agent('a6', 'Six_Host', 'fd00::6'),
    job('web/prod/hello', 3),
    job('web/prod/checked', 2, { health: { tcp: { port: 'http' } } }),
    job('web/prod/many', 20),
    job('web/prod/six', 1),
    job('web/prod/named', 1),
  ];
  for (let i = 0; i < 3; i++) events.push(launch('web/prod/hello', i, `a${i + 1}`, 31000 + i), status(`web-prod-hello-${i}`, 'TASK_RUNNING'));
  events.push(launch('web/prod/checked', 0, 'a1', 31100), status('web-prod-checked-0', 'TASK_RUNNING', true));
  events.push(launch('web/prod/checked', 1, 'a2', 31101), status('web-prod-checked-1', 'TASK_RUNNING', false));
  for (let i = 0; i < 20; i++) events.push(launch('web/prod/many', i, `a${(i % 3) + 1}`, 31200 + i), status(`web-prod-many-${i}`, 'TASK_RUNNING'));
  events.push(launch('web/prod/six', 0, 'a6', 31300), status('web-prod-six-0', 'TASK_RUNNING'));
  events.push(launch('web/prod/named', 0, 'a4', 31400), status('web-prod-named-0', 'TASK_RUNNING'));
  events.push(
    {
      type: 'FrameworkRegistered',
      at: T0 + 3000,
      framework: { frameworkId: 'fw-1', name: 'Marathon.Prod', user: 'root', roles: ['web'], failoverTimeoutSecs: 3600, checkpoint: true, capabilities: [] },
    },
    {
      type: 'TasksLaunched',
      at: T0 + 4000,
      tasks: [
        {
          taskId: 'master-task-7',
          job: 'web/framework/fw-1',
          instance: 0,
          frameworkId: 'fw-1',
          launch: { name: 'My_Nginx', externalId: 'nginx.42', cmd: 'nginx', env: {}, killGraceSecs: 5 },
          agentId: 'a2',
          resources: res('cpus:1;mem:128;ports:[31005-31005]'),
          ports: {},
        },
      ],
    },
    status('master-task-7', 'TASK_RUNNING'),
  );
  for (const e of events) apply(s, e);
  return s;
}

interface Served {
  port: number;
  state: CellState;
  /** bump marks the state changed (what the event log's appliedIndex does). */
  bump(): void;
}

async function serve(t: TestContext, over: Partial<DnsOptions> = {}): Promise<Served> {
  const state = cell();
  let index = 1;
  const server = await startDnsServer({
    host: '127.0.0.1',
    port: 0,
    domain: 'muster',
    ttlSecs: 5,
    forward: [],
    state: () => state,
    masters: () => ({ leader: 'http://10.1.0.1:5050', all: ['http://10.1.0.1:5050', 'http://10.1.0.2:5050', 'http://[fd00::9]:5050'] }),
    self: '10.1.0.2',
    logger: silentLogger,
    stateIndex: () => index,
    indexRefreshMs: 0,
    seed: 42,
    ...over,
  });
  t.after(() => server.close());
  return { port: server.port, state, bump: () => index++ };
}

interface AskOptions {
  edns?: number;
  id?: number;
}

function query(name: string, type: Question['type'], o: AskOptions = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: o.id ?? 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: o.edns === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: o.edns, flags: 0, extendedRcode: 0, ednsVersion: 0, options: [] } as unknown as dnsPacket.Answer],
  });
}

/** udp sends a packet and resolves with the answer, or undefined when none came in 300 ms (dropped). */
function udp(port: number, packet: Buffer, waitMs = 300): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, waitMs);
    s.on('message', (msg) => {
      clearTimeout(timer);
      s.close();
      resolve(msg);
    });
    s.send(packet, port, '127.0.0.1');
  });
}

/** tcp sends packets on one connection (each with its 2-byte length) and resolves with as many answers. */
function tcp(port: number, packets: Buffer[]): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const answers: Buffer[] = [];
    let held = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      held = Buffer.concat([held, chunk]);
      while (held.length >= 2 && held.length >= 2 + held.readUInt16BE(0)) {
        answers.push(held.subarray(2, 2 + held.readUInt16BE(0)));
        held = held.subarray(2 + held.readUInt16BE(0));
      }
      if (answers.length === packets.length) {
        sock.destroy();
        resolve(answers);
      }
    });
    sock.on('error', reject);
    for (const p of packets) {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(p.length);
      sock.write(Buffer.concat([len, p]));
    }
  });
}

async function ask(port: number, name: string, type: Question['type'], o: AskOptions = {}): Promise<{ p: DecodedPacket; rcode: number; raw: Buffer }> {
  const raw = await udp(port, query(name, type, o));
  assert.ok(raw !== undefined, `no answer to ${name} ${type}`);
  return { p: dnsPacket.decode(raw), rcode: raw[3]! & 0xf, raw };
}

function data(p: DecodedPacket): string[] {
  return (p.answers ?? []).map((a) => {
    const d = (a as { data: unknown }).data;
    if (typeof d === 'string') return d;
    const srv = d as { port: number; target: string };
    return `${srv.port} ${srv.target}`;
  });
}

test('NAME.ENV.ROLE.muster. answers the ready instances\' agents, and N.NAME.ENV.ROLE.muster. one instance', async (t) => {
  const { port } = await serve(t);
  const { p, rcode } = await ask(port, 'hello.prod.web.muster', 'A');
  assert.equal(rcode, RCODE.NOERROR);
  assert.ok(p.flag_aa);
  assert.deepEqual(data(p).sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  assert.ok((p.answers ?? []).every((a) => a.name === 'hello.prod.web.muster' && (a as { ttl: number }).ttl === 5));
  assert.deepEqual(data((await ask(port, '1.hello.prod.web.muster', 'A')).p), ['10.0.0.2']);
  // Many instances on three agents: each address once.
  assert.deepEqual(data((await ask(port, 'many.prod.web.muster', 'A')).p).sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
});

test('names are case-insensitive and answers keep the question\'s case', async (t) => {
  const { port } = await serve(t);
  const { p } = await ask(port, 'HeLLo.PROD.web.MUSTER', 'A');
  assert.equal(p.answers?.length, 3);
  assert.ok((p.answers ?? []).every((a) => a.name === 'HeLLo.PROD.web.MUSTER'));
  assert.equal(p.questions?.[0]?.name, 'HeLLo.PROD.web.MUSTER');
});

test('an unhealthy instance is not answered; a job with an instance on an IPv6 agent answers AAAA and NODATA for A', async (t) => {
  const { port } = await serve(t);
  assert.deepEqual(data((await ask(port, 'checked.prod.web.muster', 'A')).p), ['10.0.0.1']);
  const nodata = await ask(port, '1.checked.prod.web.muster', 'A');
  assert.equal(nodata.rcode, RCODE.NOERROR);
  assert.equal(nodata.p.answers?.length, 0);
  assert.deepEqual(data((await ask(port, 'six.prod.web.muster', 'AAAA')).p), ['fd00::6']);
  const a = await ask(port, 'six.prod.web.muster', 'A');
  assert.equal(a.rcode, RCODE.NOERROR);
  assert.equal(a.p.answers?.length, 0);
  assert.equal(a.p.authorities?.[0]?.type, 'SOA');
  // An agent whose address is a host name cannot be an A record: the name exists, with no data.
  const named = await ask(port, 'named.prod.web.muster', 'A');
  assert.equal(named.rcode, RCODE.NOERROR);
  assert.equal(named.p.answers?.length, 0);
});

test('_PORT._tcp.NAME.ENV.ROLE.muster. answers SRV per instance with its target\'s A record in the additional section', async (t) => {
  const { port } = await serve(t);
  const { p } = await ask(port, '_http._tcp.hello.prod.web.muster', 'SRV');
  const srv = (p.answers ?? []).map((a) => (a as dnsPacket.SrvAnswer).data).sort((x, y) => x.port - y.port);
  assert.deepEqual(
    srv.map((s) => [s.priority, s.weight, s.port, s.target]),
    [0, 1, 2].map((i) => [0, 1, 31000 + i, `${i}.hello.prod.web.muster`]),
  );
  const extra = (p.additionals ?? []).map((a) => `${a.name} ${(a as { data: string }).data}`).sort();
  assert.deepEqual(extra, ['0.hello.prod.web.muster 10.0.0.1', '1.hello.prod.web.muster 10.0.0.2', '2.hello.prod.web.muster 10.0.0.3']);
  // The target resolves too.
  assert.deepEqual(data((await ask(port, '2.hello.prod.web.muster', 'A')).p), ['10.0.0.3']);
  // A port the job does not have: no such name.
  assert.equal((await ask(port, '_admin._tcp.hello.prod.web.muster', 'SRV')).rcode, RCODE.NXDOMAIN);
});

test('every order of three answers appears over 50 queries', async (t) => {
  const { port } = await serve(t, { seed: 1 });
  const seenA = new Set<string>();
  const seenSrv = new Set<string>();
  for (let i = 0; i < 50; i++) {
    seenA.add(data((await ask(port, 'hello.prod.web.muster', 'A')).p).join(','));
    seenSrv.add(data((await ask(port, '_http._tcp.hello.prod.web.muster', 'SRV')).p).join(','));
  }
  assert.equal(seenA.size, 6);
  assert.equal(seenSrv.size, 6);
});

test('leader, _leader._tcp, master, ns1, agent and HOST.agent name the cell itself', async (t) => {
  const { port } = await serve(t);
  assert.deepEqual(data((await ask(port, 'leader.muster', 'A')).p), ['10.1.0.1']);
  const srv = await ask(port, '_leader._tcp.muster', 'SRV');
  assert.deepEqual(data(srv.p), ['5050 leader.muster']);
  assert.equal((srv.p.additionals?.[0] as { data?: string } | undefined)?.data, '10.1.0.1');
  assert.deepEqual(data((await ask(port, 'master.muster', 'A')).p).sort(), ['10.1.0.1', '10.1.0.2']);
  assert.deepEqual(data((await ask(port, 'master.muster', 'AAAA')).p), ['fd00::9']);
  assert.deepEqual(data((await ask(port, 'ns1.muster', 'A')).p), ['10.1.0.2']);
  assert.deepEqual(data((await ask(port, 'agent.muster', 'A')).p).sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  assert.deepEqual(data((await ask(port, 'h2.example.agent.muster', 'A')).p), ['10.0.0.2']);
  assert.deepEqual(data((await ask(port, 'six-host.agent.muster', 'AAAA')).p), ['fd00::6']);
  // example.agent.muster has names below it: it exists, with no records.
  const ent = await ask(port, 'example.agent.muster', 'A');
  assert.equal(ent.rcode, RCODE.NOERROR);
  assert.equal(ent.p.answers?.length, 0);
});

test('the domain answers SOA and NS; the roles and envs of jobs exist as names with no data', async (t) => {
  const { port } = await serve(t);
  const soa = await ask(port, 'muster', 'SOA');
  const d = (soa.p.answers?.[0] as dnsPacket.SoaAnswer).data;
  assert.equal(d.mname, 'ns1.muster');
  assert.equal(d.rname, 'root.ns1.muster');
  assert.equal(d.minimum, 5);
  assert.equal(d.serial, 1);
  const ns = await ask(port, 'muster', 'NS');
  assert.deepEqual(data(ns.p), ['ns1.muster']);
  assert.equal((ns.p.additionals?.[0] as { data?: string } | undefined)?.data, '10.1.0.2');
  for (const name of ['web.muster', 'prod.web.muster', '_tcp.hello.prod.web.muster']) {
    const r = await ask(port, name, 'A');
    assert.equal(r.rcode, RCODE.NOERROR, name);
    assert.equal(r.p.answers?.length, 0);
  }
});

test('a name that does not exist is NXDOMAIN, with the SOA in the authority section', async (t) => {
  const { port } = await serve(t);
  for (const name of ['nope.prod.web.muster', '9.hello.prod.web.muster', 'x.y.z.w.v.u.muster', 'nobody.muster', '01.hello.prod.web.muster']) {
    const { p, rcode } = await ask(port, name, 'A');
    assert.equal(rcode, RCODE.NXDOMAIN, name);
    assert.equal(p.answers?.length, 0);
    assert.equal(p.authorities?.[0]?.type, 'SOA');
    assert.equal(p.authorities?.[0]?.name, 'muster');
  }
  // Unknown types: NODATA for a name that exists, NXDOMAIN for one that does not.
  const txt = await ask(port, 'hello.prod.web.muster', 'TXT');
  assert.equal(txt.rcode, RCODE.NOERROR);
  assert.equal(txt.p.answers?.length, 0);
  assert.equal(txt.p.authorities?.[0]?.type, 'SOA');
  assert.equal((await ask(port, 'nope.prod.web.muster', 'MX')).rcode, RCODE.NXDOMAIN);
});

test('answers follow the state: a killed instance leaves at once', async (t) => {
  const served = await serve(t);
  assert.equal(data((await ask(served.port, 'hello.prod.web.muster', 'A')).p).length, 3);
  apply(served.state, status('web-prod-hello-2', 'TASK_KILLED'));
  served.bump();
  assert.deepEqual(data((await ask(served.port, 'hello.prod.web.muster', 'A')).p).sort(), ['10.0.0.1', '10.0.0.2']);
  const soa = await ask(served.port, 'muster', 'SOA');
  assert.equal((soa.p.answers?.[0] as dnsPacket.SoaAnswer).data.serial, 2);
});

test('an answer over 512 bytes is truncated over UDP, fits with EDNS 4096 and comes whole over TCP', async (t) => {
  const { port } = await serve(t);
  const small = await ask(port, '_http._tcp.many.prod.web.muster', 'SRV');
  assert.ok(small.p.flag_tc);
  assert.equal(small.p.answers?.length, 0);
  assert.ok(small.raw.length <= 512);
  const edns = await ask(port, '_http._tcp.many.prod.web.muster', 'SRV', { edns: 4096 });
  assert.ok(!edns.p.flag_tc);
  assert.equal(edns.p.answers?.length, 20);
  assert.equal(edns.p.additionals?.filter((a) => a.type === 'A').length, 20);
  const opt = edns.p.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  assert.equal(opt?.udpPayloadSize, 4096);
  // EDNS with a small size: the answer is cut to what the client takes, never below 512.
  const cut = await ask(port, '_http._tcp.many.prod.web.muster', 'SRV', { edns: 600 });
  assert.ok(cut.p.flag_tc);
  assert.ok(cut.raw.length <= 600);
  const [whole, again] = await tcp(port, [query('_http._tcp.many.prod.web.muster', 'SRV'), query('hello.prod.web.muster', 'A', { id: 7 })]);
  const w = dnsPacket.decode(whole!);
  assert.ok(!w.flag_tc);
  assert.equal(w.answers?.length, 20);
  assert.equal(dnsPacket.decode(again!).answers?.length, 3);
  assert.equal(dnsPacket.decode(again!).id, 7);
});

test('PTR answers agents\' addresses with HOST.agent.muster.', async (t) => {
  const { port } = await serve(t);
  assert.deepEqual(data((await ask(port, '2.0.0.10.in-addr.arpa', 'PTR')).p), ['h2.example.agent.muster']);
  const v6 = '6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa';
  assert.deepEqual(data((await ask(port, v6, 'PTR')).p), ['six-host.agent.muster']);
  // An address no agent has is outside what this server knows.
  assert.equal((await ask(port, '9.9.9.10.in-addr.arpa', 'PTR')).rcode, RCODE.REFUSED);
});

test('external frameworks\' tasks have Mesos-DNS\'s names', async (t) => {
  const { port } = await serve(t);
  assert.deepEqual(data((await ask(port, 'my-nginx.marathon.prod.muster', 'A')).p), ['10.0.0.2']);
  assert.deepEqual(data((await ask(port, 'my-nginx.marathon.prod.slave.muster', 'A')).p), ['10.0.0.2']);
  assert.deepEqual(data((await ask(port, 'my-nginx-8cgxf-a2.marathon.prod.muster', 'A')).p), ['10.0.0.2']);
  for (const name of ['_my-nginx._tcp.marathon.prod.muster', '_my-nginx._udp.marathon.prod.muster', '_my-nginx._tcp.marathon.prod.slave.muster']) {
    assert.deepEqual(data((await ask(port, name, 'SRV')).p), ['31005 my-nginx-8cgxf-a2.marathon.prod.slave.muster'], name);
  }
  const ent = await ask(port, 'prod.muster', 'A');
  assert.equal(ent.rcode, RCODE.NOERROR);
});

test('names outside the domain are REFUSED without forward resolvers, relayed with them, SERVFAIL when none answers', async (t) => {
  const { port } = await serve(t);
  assert.equal((await ask(port, 'example.com', 'A')).rcode, RCODE.REFUSED);

  // An upstream that answers: a second server of ours for the domain "com".
  const upstream = await startDnsServer({
    host: '127.0.0.1', port: 0, domain: 'com', ttlSecs: 5, forward: [], state: () => emptyState(), masters: () => ({ all: [] }), self: '10.9.9.9', logger: silentLogger,
  });
  t.after(() => upstream.close());
  // A resolver that never answers, tried first.
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  t.after(() => silent.close());
  const forwarding = await serve(t, { forward: [`127.0.0.1:${silent.address().port}`, `127.0.0.1:${upstream.port}`], forwardTimeoutMs: 600 });
  const relayed = await udp(forwarding.port, query('ns1.com', 'A', { id: 999 }), 2000);
  assert.ok(relayed !== undefined);
  const r = dnsPacket.decode(relayed);
  assert.equal(r.id, 999);
  assert.deepEqual(data(r), ['10.9.9.9']);

  const dead = await serve(t, { forward: [`127.0.0.1:${silent.address().port}`], forwardTimeoutMs: 200 });
  const failed = await udp(dead.port, query('example.org', 'A', { id: 5 }), 2000);
  assert.ok(failed !== undefined);
  assert.equal(failed.readUInt16BE(0), 5);
  assert.equal(failed[3]! & 0xf, RCODE.SERVFAIL);
});

function header(id: number, flags: number, counts: [number, number, number, number]): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(flags, 2);
  counts.forEach((c, i) => b.writeUInt16BE(c, 4 + 2 * i));
  return b;
}

test('bad packets: FORMERR with the id where a header was read, NOTIMP for other opcodes, responses and fragments dropped', async (t) => {
  const { port } = await serve(t);
  const rcode = (b: Buffer | undefined): number | undefined => (b === undefined ? undefined : b[3]! & 0xf);
  // Too short for a header: dropped.
  assert.equal(await udp(port, Buffer.from([1, 2, 3])), undefined);
  // A header and no question.
  const noQuestion = await udp(port, header(77, 0x0100, [1, 0, 0, 0]));
  assert.equal(noQuestion?.readUInt16BE(0), 77);
  assert.equal(rcode(noQuestion), RCODE.FORMERR);
  // Five questions.
  const five = Buffer.concat([header(78, 0, [5, 0, 0, 0]), ...Array.from({ length: 5 }, () => query('hello.prod.web.muster', 'A').subarray(12))]);
  assert.equal(rcode(await udp(port, five)), RCODE.FORMERR);
  // No question at all.
  assert.equal(rcode(await udp(port, header(79, 0, [0, 0, 0, 0]))), RCODE.FORMERR);
  // Opcode STATUS (2) and NOTIFY (4).
  const status2 = Buffer.from(query('muster', 'SOA'));
  status2.writeUInt16BE(2 << 11, 2);
  assert.equal(rcode(await udp(port, status2)), RCODE.NOTIMP);
  // A response: dropped.
  const response = Buffer.from(query('muster', 'SOA'));
  response.writeUInt16BE(0x8000, 2);
  assert.equal(await udp(port, response), undefined);
  // A label of 64 bytes and a name over 255 bytes.
  const long = Buffer.concat([header(80, 0, [1, 0, 0, 0]), Buffer.from([64]), Buffer.alloc(64, 97), Buffer.from([0, 0, 1, 0, 1])]);
  assert.equal(rcode(await udp(port, long)), RCODE.FORMERR);
  const labels: Buffer[] = [];
  for (let i = 0; i < 5; i++) labels.push(Buffer.from([60]), Buffer.alloc(60, 98));
  const huge = Buffer.concat([header(81, 0, [1, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  assert.equal(rcode(await udp(port, huge)), RCODE.FORMERR);
  // A pointer in the question.
  const pointer = Buffer.concat([header(82, 0, [1, 0, 0, 0]), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
  assert.equal(rcode(await udp(port, pointer)), RCODE.FORMERR);
  // A question cut off before its type.
  const cut = query('hello.prod.web.muster', 'A').subarray(0, 20);
  assert.equal(rcode(await udp(port, cut)), RCODE.FORMERR);
  // Over 4096 bytes: dropped.
  assert.equal(await udp(port, Buffer.concat([query('muster', 'SOA'), Buffer.alloc(5000)])), undefined);
  // Class CHAOS: refused. EDNS version 1: BADVERS.
  const chaos = Buffer.from(query('muster', 'SOA'));
  chaos.writeUInt16BE(3, chaos.length - 2);
  assert.equal(rcode(await udp(port, chaos)), RCODE.REFUSED);
  const v1 = Buffer.from(query('muster', 'SOA', { edns: 1232 }));
  v1[v1.length - 5] = 1;
  const badvers = await udp(port, v1);
  assert.equal(dnsPacket.decode(badvers!).additionals?.find((a) => a.type === 'OPT')?.type, 'OPT');
  assert.equal(badvers![badvers!.length - 6], 1);
  // Still serving.
  assert.equal((await ask(port, 'hello.prod.web.muster', 'A')).p.answers?.length, 3);
});

test('random bytes, truncated packets and mangled queries never crash the server, and every answer carries its query\'s id', async (t) => {
  const { port } = await serve(t);
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const base = [query('hello.prod.web.muster', 'A', { edns: 4096 }), query('_http._tcp.many.prod.web.muster', 'SRV'), query('2.0.0.10.in-addr.arpa', 'PTR')];
  const packets: Buffer[] = [];
  for (let i = 0; i < 300; i++) {
    const kind = rand(3);
    if (kind === 0) packets.push(Buffer.from(Array.from({ length: rand(600) }, () => rand(256))));
    else if (kind === 1) packets.push(base[rand(3)]!.subarray(0, rand(base[0]!.length)));
    else {
      const b = Buffer.from(base[rand(3)]!);
      for (let j = 0; j < 4; j++) b[rand(b.length)] = rand(256);
      packets.push(b);
    }
  }
  // Over TCP, in one connection: each framed message answered or dropped, the connection kept.
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => sock.once('connect', resolve));
  for (const p of packets) {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(p.length);
    sock.write(Buffer.concat([len, p]));
  }
  sock.destroy();
  for (const p of packets.slice(0, 100)) await udp(port, p, 20);
  assert.equal((await ask(port, 'hello.prod.web.muster', 'A')).p.answers?.length, 3);

  // The same and many more straight into a Responder whose logger fails on any internal fault.
  const faults: unknown[] = [];
  const logger = { ...silentLogger, error: (m: string, f?: Record<string, unknown>) => faults.push([m, f]) };
  const state = cell();
  const r = new Responder(
    { host: '', port: 0, domain: 'muster', ttlSecs: 5, forward: [], state: () => state, masters: () => ({ all: [] }), self: '', logger, stateIndex: () => 1, indexRefreshMs: 0 },
    undefined,
  );
  let answered = 0;
  for (let i = 0; i < 20_000; i++) {
    const b = i < packets.length ? packets[i]! : Buffer.from(base[rand(3)]!);
    if (i >= packets.length) for (let j = 0; j < 1 + rand(6); j++) b[rand(b.length)] = rand(256);
    r.respond(b, rand(2) === 0, (a) => {
      answered++;
      assert.ok(a.length >= 12);
      if (b.length >= 12) assert.equal(a.readUInt16BE(0), b.readUInt16BE(0));
    });
  }
  assert.deepEqual(faults, []);
  assert.ok(answered > 10_000);
});

test('TCP answers several queries on one connection and closes an idle one', async (t) => {
  const { port } = await serve(t, { tcpIdleMs: 200 });
  const answers = await tcp(port, [query('leader.muster', 'A', { id: 1 }), query('nope.muster', 'A', { id: 2 }), query('muster', 'SOA', { id: 3 })]);
  assert.deepEqual(answers.map((a) => a.readUInt16BE(0)), [1, 2, 3]);
  const sock = net.connect(port, '127.0.0.1');
  const closed = await new Promise<boolean>((resolve) => {
    sock.on('close', () => resolve(true));
    setTimeout(() => resolve(false), 2000);
  });
  assert.ok(closed);
});

test('Mesos-DNS\'s HTTP API answers /v1/version, /v1/hosts and /v1/services in its shapes', async (t) => {
  const state = cell();
  const router = new Router(silentLogger);
  addMesosDnsRoutes(router, { state: () => state, masters: () => ({ leader: 'http://10.1.0.1:5050', all: ['http://10.1.0.1:5050'] }), self: '10.1.0.1', version: '0.1.0' });
  const server = createServer((req, res) => void router.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const get = async (path: string): Promise<unknown> => (await fetch(base + path)).json();
  assert.deepEqual(await get('/v1/version'), { Service: 'Mesos-DNS', Version: '0.1.0', URL: 'https://github.com/mesosphere/mesos-dns' });
  const hosts = (await get('/v1/hosts/Hello.prod.web.muster')) as { host: string; ip: string }[];
  assert.deepEqual(hosts.sort((a, b) => a.ip.localeCompare(b.ip)), ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map((ip) => ({ host: 'hello.prod.web.muster.', ip })));
  assert.deepEqual(await get('/v1/hosts/nope.muster.'), [{ host: '', ip: '' }]);
  const services = (await get('/v1/services/_http._tcp.hello.prod.web.muster.')) as { port: string }[];
  assert.deepEqual(
    services.sort((a, b) => a.port.localeCompare(b.port)),
    [0, 1, 2].map((i) => ({ service: '_http._tcp.hello.prod.web.muster.', host: `${i}.hello.prod.web.muster.`, ip: `10.0.0.${i + 1}`, port: String(31000 + i) })),
  );
  assert.deepEqual(await get('/v1/services/_my-nginx._tcp.marathon.prod.muster'), [
    { service: '_my-nginx._tcp.marathon.prod.muster.', host: 'my-nginx-8cgxf-a2.marathon.prod.slave.muster.', ip: '10.0.0.2', port: '31005' },
  ]);
  assert.deepEqual(await get('/v1/services/_x._tcp.nope.muster'), [{ service: '', host: '', ip: '', port: '' }]);
  assert.equal((await fetch(`${base}/v1/hosts/hello.prod.web.muster/ports`)).status, 501);
});

test('with the log\'s events, a job\'s cached answer outlives changes to other jobs and not one to its own', async (t) => {
  let listener: ((events: readonly LoggedEvent[]) => void) | undefined;
  let index = 100;
  const served = await serve(t, { stateIndex: () => index, onAppended: (l) => ((listener = l), () => (listener = undefined)) });
  const names = async (): Promise<string[]> => data((await ask(served.port, 'hello.prod.web.muster', 'A')).p).sort();
  assert.deepEqual(await names(), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  // hello's instance 2 ends, but the log tells only of an event of another job: the answer made
  // before is still good as far as the server can know (a real log tells of every event).
  const ended = status('web-prod-hello-2', 'TASK_KILLED');
  apply(served.state, ended);
  index++;
  listener?.([{ index, event: status('web-prod-many-0', 'TASK_RUNNING') }]);
  assert.equal((await names()).length, 3);
  // The event of hello's own task: made again.
  index++;
  listener?.([{ index, event: ended }]);
  assert.deepEqual(await names(), ['10.0.0.1', '10.0.0.2']);
  // An agent's event may touch any job: every answer is made again.
  apply(served.state, { type: 'AgentUnreachable', at: T0 + 9000, agentId: 'a1', message: 'silent' });
  index++;
  listener?.([{ index, event: { type: 'AgentUnreachable', at: T0 + 9000, agentId: 'a1', message: 'silent' } }]);
  assert.deepEqual(await names(), ['10.0.0.2']);
});
