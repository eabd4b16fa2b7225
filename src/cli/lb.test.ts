import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EndpointView, EndpointsView } from '../protocol/index.js';
import { haproxyConfig, parseListen } from './lb.js';

function endpoint(instance: number, over: Partial<EndpointView> = {}): EndpointView {
  return { instance, taskId: `t-${instance}`, host: `box${instance}`, address: `10.0.0.${instance + 1}`, ports: { http: 31000 + instance, admin: 32000 + instance }, state: 'TASK_RUNNING', healthy: true, ready: true, ...over };
}

function view(instances: EndpointView[]): EndpointsView {
  return { job: 'web/prod/hello', version: 2, instances };
}

const options = { portName: 'http', listen: '127.0.0.1:8080', mode: 'http' as const, socket: '/run/lb/admin.sock' };

test('haproxyConfig makes one round-robin server per ready instance, at its address and named port', () => {
  const config = haproxyConfig(view([endpoint(0), endpoint(1), endpoint(2)]), options);
  assert.deepEqual(config.servers, [0, 1, 2]);
  assert.deepEqual(config.skipped, []);
  const servers = config.text.split('\n').filter((l) => l.trim().startsWith('server '));
  assert.deepEqual(
    servers.map((l) => l.trim().split(/\s+/).slice(0, 3).join(' ')),
    ['server instance-0 10.0.0.1:31000', 'server instance-1 10.0.0.2:31001', 'server instance-2 10.0.0.3:31002'],
  );
  assert.match(config.text, /^frontend muster\n {4}bind 127\.0\.0\.1:8080\n {4}default_backend muster_web_prod_hello$/m);
  assert.match(config.text, /^backend muster_web_prod_hello\n {4}balance roundrobin$/m);
  assert.match(config.text, /^ {4}mode http$/m);
  assert.match(config.text, /^ {4}stats socket \/run\/lb\/admin\.sock mode 600 level admin expose-fd listeners$/m);
});

test('haproxyConfig leaves out instances that are not ready, lack the port, or have an address HAProxy cannot take', () => {
  const config = haproxyConfig(
    view([
      endpoint(0, { ready: false, healthy: false, why: 'it is unhealthy' }),
      endpoint(1, { ports: { admin: 32001 } }),
      endpoint(2, { address: '10.0.0.3 backup' }),
      endpoint(3),
    ]),
    { ...options, portName: 'http' },
  );
  assert.deepEqual(config.servers, [3]);
  assert.deepEqual(config.skipped, ['instance 1 has no port http', `instance 2's address "10.0.0.3 backup" is not an IP or a host name`]);
  assert.doesNotMatch(config.text, /backup/);
});

test('haproxyConfig brackets IPv6 addresses, follows --port-name and --mode, and writes an empty backend with no ready instance', () => {
  const v6 = haproxyConfig(view([endpoint(0, { address: 'fd00::1' })]), { ...options, portName: 'admin', mode: 'tcp' });
  assert.match(v6.text, /server instance-0 \[fd00::1\]:32000 /);
  assert.match(v6.text, /^ {4}mode tcp$/m);
  const none = haproxyConfig(view([]), options);
  assert.deepEqual(none.servers, []);
  assert.doesNotMatch(none.text, /^\s*server /m);
  assert.match(none.text, /backend muster_web_prod_hello\n {4}balance roundrobin\n$/);
});

test('haproxyConfig writes the same text for the same backend, so a change elsewhere in the view reloads nothing', () => {
  const a = haproxyConfig(view([endpoint(0), endpoint(1, { ready: false, why: 'it is TASK_STARTING', state: 'TASK_STARTING' })]), options);
  const b = haproxyConfig(view([endpoint(0), endpoint(1, { ready: false, why: 'its health check has not passed yet' })]), options);
  assert.equal(a.text, b.text);
  const c = haproxyConfig(view([endpoint(0), endpoint(1)]), options);
  assert.notEqual(a.text, c.text);
});

test('parseListen takes HOST:PORT, [IPv6]:PORT and :PORT, and refuses the rest in one line', () => {
  assert.equal(parseListen('127.0.0.1:8080'), '127.0.0.1:8080');
  assert.equal(parseListen('[::1]:80'), '[::1]:80');
  assert.equal(parseListen(':9000'), ':9000');
  assert.equal(parseListen('lb.example.com:443'), 'lb.example.com:443');
  for (const bad of ['8080', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', 'a b:80', '127.0.0.1:80\nbind :81']) {
    assert.throws(() => parseListen(bad), /--listen .* is not HOST:PORT/, bad);
  }
});
