import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { daemonMessage, parseTimestampNs, processScript } from './docker.js';

describe('parseTimestampNs', () => {
  const second = BigInt(Date.UTC(2026, 11, 3, 8, 13, 33)) * 1_000_000n;

  test('reads the Engine timestamp to the nanosecond', () => {
    assert.equal(parseTimestampNs('2026-12-03T08:13:33.321410920Z'), second + 321_410_920n);
    assert.equal(parseTimestampNs('2026-12-03T08:13:33.000000001Z'), second + 1n);
    assert.equal(parseTimestampNs('1970-01-01T00:00:00.000000001Z'), 1n);
  });

  test('reads a fraction the Engine trimmed of its trailing zeros, and none at all', () => {
    assert.equal(parseTimestampNs('2026-12-03T08:13:33.5Z'), second + 500_000_000n);
    assert.equal(parseTimestampNs('2026-12-03T08:13:33.0321Z'), second + 32_100_000n);
    assert.equal(parseTimestampNs('2026-12-03T08:13:33Z'), second);
  });

  test('orders two lines of the same second, and across a second', () => {
    const ns = (text: string): bigint => {
      const v = parseTimestampNs(text);
      assert.ok(v !== undefined, text);
      return v;
    };
    assert.ok(ns('2026-12-03T08:13:33.000000001Z') < ns('2026-12-03T08:13:33.000000002Z'));
    assert.ok(ns('2026-12-03T08:13:33.49Z') < ns('2026-12-03T08:13:33.5Z'));
    assert.ok(ns('2026-12-03T08:13:33.123456788Z') < ns('2026-12-03T08:13:33.123456789Z'), 'beyond what a double holds');
    assert.ok(ns('2026-12-03T08:13:33.999999999Z') < ns('2026-12-03T08:13:34Z'));
  });

  test('is undefined for anything else', () => {
    for (const bad of [
      '',
      'hello world',
      '2026-12-03T08:13:33',
      '2026-12-03 08:13:33Z',
      '2026-12-03T08:13:33.Z',
      '2026-12-03T08:13:33.1234567890Z',
      '2026-12-03T08:13:33+01:00',
      '2026-13-03T08:13:33Z',
      ' 2026-12-03T08:13:33Z',
    ]) {
      assert.equal(parseTimestampNs(bad), undefined, JSON.stringify(bad));
    }
  });
});

describe('daemonMessage', () => {
  test("is the daemon's own message when the error carries one", () => {
    const err = Object.assign(new Error('(HTTP code 404) no such container - No such image: nope:latest '), {
      statusCode: 404,
      reason: 'no such container',
      json: { message: 'No such image: nope:latest' },
    });
    assert.equal(daemonMessage(err), 'No such image: nope:latest');
  });

  test("is a plain error's message", () => {
    assert.equal(daemonMessage(new Error('connect ENOENT /var/run/docker.sock')), 'connect ENOENT /var/run/docker.sock');
    assert.equal(daemonMessage(Object.assign(new Error('socket hang up'), { json: null })), 'socket hang up');
  });

  test("drops the client's HTTP prefix when the body was not JSON", () => {
    const err = Object.assign(new Error('(HTTP code 500) server error - driver failed programming external connectivity '), { reason: 'server error', json: null });
    assert.equal(daemonMessage(err), 'driver failed programming external connectivity');
  });

  test('names a reason the message leaves out', () => {
    assert.equal(daemonMessage(Object.assign(new Error('boom'), { reason: 'server error' })), 'server error: boom');
  });

  test('is the text of something thrown that is not an Error', () => {
    assert.equal(daemonMessage('the daemon did not answer'), 'the daemon did not answer');
  });
});

/** run runs a generated script with /bin/sh, as the container does. */
function run(script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.error, undefined);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('processScript', () => {
  test('one process: its output and exit status pass through', () => {
    assert.deepEqual(run(processScript([{ name: 'main', cmd: 'echo hello; echo oops >&2; exit 7' }])), { status: 7, stdout: 'hello\n', stderr: 'oops\n' });
    assert.deepEqual(run(processScript([{ name: 'main', cmd: 'echo ok' }])), { status: 0, stdout: 'ok\n', stderr: '' });
  });

  test('two processes: both run, and the task fails with the one that failed, named', () => {
    const r = run(
      processScript([
        { name: 'one', cmd: 'sleep 0.2; echo one ran' },
        { name: 'two', cmd: 'echo two ran; exit 3' },
      ]),
    );
    assert.equal(r.status, 3);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean).sort(), ['one ran', 'two ran']);
    assert.equal(r.stderr, 'muster: process two exited with status 3\n');
  });

  test('a process that fails at once does not stop the others, which run to their end', () => {
    const r = run(
      processScript([
        { name: 'quick', cmd: 'exit 4' },
        { name: 'slow', cmd: 'sleep 0.3; echo slow finished' },
      ]),
    );
    assert.equal(r.status, 4);
    assert.equal(r.stdout, 'slow finished\n');
    assert.equal(r.stderr, 'muster: process quick exited with status 4\n');
  });

  test("the first failed process in the job's order decides the status, whichever failed first", () => {
    const r = run(
      processScript([
        { name: 'first', cmd: 'sleep 0.3; exit 5' },
        { name: 'second', cmd: 'exit 6' },
        { name: 'third', cmd: 'true' },
      ]),
    );
    assert.equal(r.status, 5);
    assert.match(r.stderr, /^muster: process first exited with status 5\n/);
  });

  test('all processes succeeding is success, with nothing said', () => {
    const r = run(
      processScript([
        { name: 'a', cmd: 'true' },
        { name: 'b', cmd: 'sleep 0.1' },
      ]),
    );
    assert.deepEqual(r, { status: 0, stdout: '', stderr: '' });
  });

  test('commands holding single quotes, double quotes and shell syntax run as written', () => {
    const cmd = `printf '%s\\n' "it's" 'say "hi"' '$HOME' \`echo back\`; x='a'\\''b'; echo "$x"`;
    const expected = `it's\nsay "hi"\n$HOME\nback\na'b\n`;
    assert.deepEqual(run(processScript([{ name: 'main', cmd }])), { status: 0, stdout: expected, stderr: '' });
    const two = run(
      processScript([
        { name: 'one', cmd },
        { name: 'two', cmd: `sleep 0.2; echo 'two'"'"'s turn'` },
      ]),
    );
    assert.equal(two.status, 0);
    assert.equal(two.stdout, `${expected}two's turn\n`);
  });

  test('SIGTERM to the script reaches every process', async () => {
    const script = processScript([
      { name: 'one', cmd: `trap 'echo one got TERM; exit 0' TERM; echo one ready; while :; do sleep 0.05; done` },
      { name: 'two', cmd: `trap 'echo two got TERM; exit 0' TERM; echo two ready; while :; do sleep 0.05; done` },
    ]);
    // Its own process group, so that whatever happens every process it started can be ended.
    const child = spawn('/bin/sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const group = child.pid as number;
    const killGroup = (): void => {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // all ended
      }
    };
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    let exited = false;
    const exit = once(child, 'exit').then(([code]) => {
      exited = true;
      return code as number | null;
    });
    const waitFor = async (done: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 5000;
      while (!done()) {
        assert.ok(Date.now() < deadline, `${what}; output so far: ${JSON.stringify(out)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      await waitFor(() => exited || (out.includes('one ready') && out.includes('two ready')), 'the processes never got ready');
      assert.equal(exited, false, `the script ended before its processes were ready: ${out}`);
      child.kill('SIGTERM');
      const code = await exit;
      await waitFor(() => out.includes('one got TERM') && out.includes('two got TERM'), 'SIGTERM did not reach both processes');
      // Both ended with 0 on TERM: the task's status is theirs, not that of the interrupted wait.
      assert.equal(code, 0, `the script's status; stderr: ${err}`);
      assert.equal(err, '', 'no process is said to have failed');
    } finally {
      killGroup();
    }
  });
});
