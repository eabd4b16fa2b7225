import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { containerSchema, imageName, parseImageRef, placementConstraints, type ContainerSpec } from './container.js';
import { parseVolumeList, volumeProblem } from './volumes.js';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

/** docker is a validated container block with the schema's defaults, for the placement tests. */
function docker(fields: Record<string, unknown> = {}): ContainerSpec {
  return containerSchema.parse({ docker: { image: 'busybox', ...fields } });
}

describe('parseImageRef', () => {
  test('a bare name means its latest tag', () => {
    assert.deepEqual(parseImageRef('busybox'), { name: 'busybox', tag: 'latest' });
  });

  test('a registry with a port, a path and a tag splits at the last colon only', () => {
    assert.deepEqual(parseImageRef('registry:5000/team/app:1.2'), { name: 'registry:5000/team/app', tag: '1.2' });
    assert.deepEqual(parseImageRef('registry.example.com:5000/team/app'), { name: 'registry.example.com:5000/team/app', tag: 'latest' });
  });

  test('a digest is kept without an implied tag, and beside a tag when both are given', () => {
    assert.deepEqual(parseImageRef(`app@${DIGEST}`), { name: 'app', digest: DIGEST });
    assert.deepEqual(parseImageRef(`app:1.2@${DIGEST}`), { name: 'app', tag: '1.2', digest: DIGEST });
  });

  test('refuses what Docker would not pull, saying what to write instead', () => {
    for (const bad of ['BusyBox', 'busybox:1.36 ', 'busy box', '', 'a:b:c', 'app@sha256:abc', '-app', 'app:', '/app']) {
      const ref = parseImageRef(bad);
      assert.ok('error' in ref, `${JSON.stringify(bad)} parsed as ${JSON.stringify(ref)}`);
      assert.match(ref.error, /is not an image reference: write name, name:tag or name@digest in lowercase/, JSON.stringify(bad));
    }
  });

  test('refuses a name over 255 characters and accepts one of 255', () => {
    const ok = parseImageRef(`${'a'.repeat(255)}:1`);
    assert.deepEqual(ok, { name: 'a'.repeat(255), tag: '1' });
    const long = parseImageRef(`${'a'.repeat(256)}:1`);
    assert.ok('error' in long);
    assert.equal(long.error, 'an image name is at most 255 characters');
  });

  test('cuts a long refused reference in its message', () => {
    const ref = parseImageRef(`${'A'.repeat(5000)}`);
    assert.ok('error' in ref);
    assert.ok(ref.error.length < 300, `${ref.error.length} characters`);
  });
});

describe('imageName', () => {
  test('writes the implied latest tag explicitly and round-trips tags and digests', () => {
    const name = (text: string): string => {
      const ref = parseImageRef(text);
      assert.ok(!('error' in ref), text);
      return imageName(ref);
    };
    assert.equal(name('busybox'), 'busybox:latest');
    assert.equal(name('registry:5000/team/app:1.2'), 'registry:5000/team/app:1.2');
    assert.equal(name(`app@${DIGEST}`), `app@${DIGEST}`);
    assert.equal(name(`app:1.2@${DIGEST}`), `app:1.2@${DIGEST}`);
  });
});

describe('placementConstraints', () => {
  test('a docker job needs an agent whose daemon is up, besides its own constraints', () => {
    const out = placementConstraints({ constraints: { rack: 'r1' }, container: docker() });
    assert.deepEqual(out, { rack: 'r1', docker: 'up' });
  });

  test('a bridge job also needs the bridge network', () => {
    assert.deepEqual(placementConstraints({ constraints: {}, container: docker({ network: 'bridge' }) }), { docker: 'up', 'docker.bridge': 'up' });
    assert.equal('docker.bridge' in placementConstraints({ constraints: {}, container: docker({ network: 'none' }) }), false);
  });

  test('at create an agent whose daemon is down still counts', () => {
    assert.deepEqual(placementConstraints({ constraints: { rack: 'r1' }, container: docker() }, true), { rack: 'r1', docker: 'up|down' });
  });

  test("the job's own constraints are not changed", () => {
    const constraints = { rack: 'r1' };
    placementConstraints({ constraints, container: docker({ network: 'bridge' }) });
    assert.deepEqual(constraints, { rack: 'r1' });
  });

  test("a job without a container is placed by its own constraints, the same object", () => {
    const constraints = { rack: 'r1|r2' };
    assert.equal(placementConstraints({ constraints }), constraints);
    assert.equal(placementConstraints({ constraints, container: undefined }, true), constraints);
  });
});

describe('volumeProblem', () => {
  test('allows an allowed directory itself and anything below it', () => {
    for (const hostPath of ['/srv/data', '/srv/data/', '/srv/data/a', '/srv/data/a/b.txt']) {
      assert.equal(volumeProblem(hostPath, ['/var/lib/x', '/srv/data']), undefined, hostPath);
    }
  });

  test('refuses a sibling that only shares a prefix, and a parent', () => {
    for (const hostPath of ['/srv/data2', '/srv/data-old/x', '/srv', '/']) {
      const why = volumeProblem(hostPath, ['/srv/data']);
      assert.equal(why, `host path ${hostPath} is outside the directories this cell lets tasks mount (--docker-volumes /srv/data)`, hostPath);
    }
  });

  test('/ allows every path', () => {
    for (const hostPath of ['/', '/etc', '/srv/data/x']) assert.equal(volumeProblem(hostPath, ['/']), undefined, hostPath);
  });

  test('an empty list allows nothing, and says so', () => {
    assert.equal(volumeProblem('/srv/data', []), 'host path /srv/data cannot be mounted: this cell allows no docker volumes (--docker-volumes)');
  });
});

describe('parseVolumeList', () => {
  test('reads a comma-separated list, each entry trimmed', () => {
    assert.deepEqual(parseVolumeList('/srv/data, /var/lib/app ,/'), ['/srv/data', '/var/lib/app', '/']);
  });

  test('nothing given is an empty list', () => {
    assert.deepEqual(parseVolumeList(undefined), []);
    assert.deepEqual(parseVolumeList(''), []);
    assert.deepEqual(parseVolumeList('  '), []);
  });

  test('refuses a relative path or one with .. or repeated slashes, naming the flag and the entry', () => {
    for (const bad of ['srv/data', './srv', '/srv/../etc', '/srv/data/..', '//srv', '/srv//data', '/srv/./data']) {
      assert.throws(
        () => parseVolumeList(`/ok,${bad}`),
        (e: unknown) => e instanceof Error && e.message === `--docker-volumes: "${bad}" must be an absolute directory written plainly, e.g. /srv/data`,
        bad,
      );
    }
    assert.throws(() => parseVolumeList('/srv/data,'), /--docker-volumes: "" must be an absolute directory/);
  });

  test('one trailing slash is the directory itself; two are refused', () => {
    assert.deepEqual(parseVolumeList('/srv/data/,/'), ['/srv/data', '/']);
    assert.equal(volumeProblem('/srv/data', parseVolumeList('/srv/data/')), undefined);
    assert.throws(() => parseVolumeList('/srv/data//'), /"\/srv\/data\/\/" must be an absolute directory written plainly/);
  });

  test('what it returns is what volumeProblem checks against', () => {
    const allowed = parseVolumeList(' /srv/data ');
    assert.equal(volumeProblem('/srv/data', allowed), undefined);
    assert.equal(volumeProblem('/srv/data/x', allowed), undefined);
    assert.notEqual(volumeProblem('/srv/data2', allowed), undefined);
  });
});
