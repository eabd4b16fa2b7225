// Runs mesos-framework (npm, tobilg/mesos-framework 0.5.3), a third-party JavaScript library for
// writing Mesos frameworks over the v1 HTTP scheduler API, unmodified, against a Muster master:
// node mesos-framework-lib.cjs HOST PORT INSTANCES. It prints one line per event it hears, as
// "EVENT <type> <json>", for test/mesos-framework-lib.test.ts to read. CommonJS, as the library is.
'use strict';
const { Scheduler, Mesos: M } = require('mesos-framework');

const Mesos = M.getMesos();
const [host, port, instances] = process.argv.slice(2);
const scheduler = new Scheduler({
  masterUrl: host,
  port: Number(port),
  frameworkName: 'mesos-framework-lib',
  frameworkFailoverTimeout: 60,
  logging: { level: 'info' },
  restartStates: [],
  tasks: {
    hello: {
      priority: 1,
      instances: Number(instances),
      commandInfo: new Mesos.CommandInfo(null, null, true, 'echo hello from mesos-framework; sleep 0.5', null, null),
      resources: { cpus: 0.1, mem: 32, ports: 1, disk: 0 },
    },
  },
});
const say = (type, body) => process.stdout.write(`EVENT ${type} ${JSON.stringify(body)}\n`);
scheduler.on('subscribed', (o) => say('subscribed', o));
scheduler.on('update', (u) => say('update', u));
scheduler.on('error', (e) => say('error', { message: e.message, stack: e.stack }));
scheduler.on('ready', () => scheduler.subscribe());
process.on('SIGTERM', () => process.exit(0));
