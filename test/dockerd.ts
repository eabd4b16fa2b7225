// A real Docker daemon for tests and benchmarks: Debian's docker.io dockerd with its own data root,
// exec root and socket in a temp dir (vfs storage, no iptables, no default bridge: what works on a
// machine without overlayfs or a firewall to spare), and a test image with no registry, imported
// from a root filesystem of Debian's busybox-static (one static binary and its applet links).
// It can be stopped (SIGSTOP), killed and started again on the same dirs, and is removed at the end.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { tailOf } from './harness.js';
import { hasBinary, isRoot } from './require.js';
import { waitFor } from './wait.js';

/** The test image, imported from busybox-static; TEST_IMAGE_2 is the same image under another tag. */
export const TEST_IMAGE = 'muster-test/busybox:1';
export const TEST_IMAGE_2 = 'muster-test/busybox:2';
/** A user-defined bridge network the daemon gets (its default bridge is off): --docker-bridge. */
export const TEST_BRIDGE = 'muster-test-br';

export interface Dockerd {
  readonly socket: string;
  readonly dataRoot: string;
  readonly logFile: string;
  readonly docker: Docker;
  /** The daemon's process, while it runs. */
  process: ChildProcess | undefined;
  /** start (again) on the same dirs, and wait until it answers. */
  start(): Promise<void>;
  /** pause (SIGSTOP) and resume (SIGCONT) the daemon: it is there but answers nothing. */
  pause(): void;
  resume(): void;
  /** stop ends the daemon gracefully (SIGTERM), which stops its containers, and waits for it. */
  stop(): Promise<void>;
  /** remove removes every container, stops the daemon and removes its dirs. */
  remove(): Promise<void>;
}

/** Registry is a real registry (Debian's docker-registry) on a loopback port, which the daemon may use over plain HTTP. */
export interface Registry {
  /** host:port, the prefix of its images' names. */
  readonly address: string;
  stop(): Promise<void>;
}

/**
 * startRegistry runs docker-registry on a free loopback port with its storage in a temp dir. The
 * daemon talks plain HTTP to registries on 127.0.0.0/8 without being told.
 */
export async function startRegistry(port: number): Promise<Registry> {
  const root = mkdtempSync('/tmp/mreg-');
  const config = join(root, 'config.yml');
  writeFileSync(config, `version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: ${join(root, 'data')}}}\nhttp: {addr: "127.0.0.1:${port}"}\n`);
  const logFile = join(root, 'registry.log');
  const log = openSync(logFile, 'a');
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', log, log] });
  closeSync(log);
  const address = `127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}:\n${tailOf(logFile, 20)}`);
      return (await fetch(`http://${address}/v2/`)).ok;
    },
    { what: 'the registry to answer', timeoutMs: 20_000, intervalMs: 100 },
  );
  return {
    address,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * pushImage imports the busybox root filesystem with `payloadBytes` of random data added (so that
 * its layer is its own, and a pull has something to download) as `name`, pushes it to its registry
 * and removes it from the daemon: the next use of `name` has to pull it.
 */
export async function pushImage(d: Dockerd, name: string, payloadBytes: number): Promise<void> {
  const root = mkdtempSync('/tmp/mimg-');
  try {
    const rootfs = buildRootfs(root);
    writeFileSync(join(rootfs, 'payload'), randomBytes(payloadBytes));
    const at = name.lastIndexOf(':');
    await importRootfs(d, rootfs, name.slice(0, at), name.slice(at + 1));
    // The Engine wants an X-Registry-Auth header on a push, even an empty one for a registry without auth.
    const stream = await d.docker.getImage(name).push({ authconfig: {} });
    await new Promise<void>((resolve, reject) =>
      d.docker.modem.followProgress(
        stream,
        (err: Error | null, events: { error?: string }[]) => {
          const failed = events.find((e) => e.error !== undefined);
          if (err !== null) reject(err);
          else if (failed !== undefined) reject(new Error(`pushing ${name}: ${failed.error ?? ''}`));
          else resolve();
        },
      ),
    );
    await d.docker.getImage(name).remove({ force: true });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** whyNoDocker says what is missing to run a test daemon, or undefined. */
export function whyNoDocker(): string | undefined {
  if (!isRoot()) return 'needs root to run dockerd';
  for (const bin of ['dockerd', 'containerd', 'runc', 'busybox', 'tar']) {
    if (!hasBinary(bin)) return `needs ${bin} on PATH (apt-get install docker.io busybox-static)`;
  }
  return undefined;
}

/**
 * startDockerd starts a daemon in a temp dir and imports the test image (TEST_IMAGE, and
 * TEST_IMAGE_2 tagged on it) and creates TEST_BRIDGE. Call whyNoDocker() first.
 */
export async function startDockerd(): Promise<Dockerd> {
  // Short paths: the daemon's and containerd's unix sockets live under the exec root.
  const root = mkdtempSync('/tmp/mdk-');
  const socket = join(root, 'd.sock');
  const dataRoot = join(root, 'data');
  const logFile = join(root, 'dockerd.log');
  const docker = new Docker({ socketPath: socket });
  const d: Dockerd = {
    socket,
    dataRoot,
    logFile,
    docker,
    process: undefined,
    async start() {
      const log = openSync(logFile, 'a');
      const child = spawn(
        'dockerd',
        [
          '--host', `unix://${socket}`,
          '--data-root', dataRoot,
          '--exec-root', join(root, 'x'),
          '--pidfile', join(root, 'dockerd.pid'),
          '--storage-driver=vfs',
          '--iptables=false',
          '--ip-masq=false',
          '--bridge=none',
        ],
        { stdio: ['ignore', log, log], detached: true },
      );
      closeSync(log);
      d.process = child;
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`dockerd exited with ${child.exitCode}:\n${tailOf(logFile, 20)}`);
          await docker.ping();
          return true;
        },
        { what: 'dockerd to answer', timeoutMs: 30_000, intervalMs: 100 },
      );
    },
    pause() {
      if (d.process?.pid !== undefined) process.kill(d.process.pid, 'SIGSTOP');
    },
    resume() {
      if (d.process?.pid !== undefined) process.kill(d.process.pid, 'SIGCONT');
    },
    async stop() {
      const child = d.process;
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
      d.process = undefined;
    },
    remove: () => cleanup(d, root),
  };
  await d.start();
  await importTestImage(d, root);
  const networks = await docker.listNetworks({ filters: { name: [TEST_BRIDGE] } });
  if (!networks.some((n) => n.Name === TEST_BRIDGE)) {
    // A subnet of its own, away from the default pools, so that it clashes with nothing on the host.
    const third = 100 + (process.pid % 100);
    await docker.createNetwork({ Name: TEST_BRIDGE, Driver: 'bridge', IPAM: { Config: [{ Subnet: `10.213.${third}.0/24` }] } });
  }
  return d;
}

async function cleanup(d: Dockerd, root: string): Promise<void> {
  d.resume();
  try {
    for (const c of await d.docker.listContainers({ all: true })) await d.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    await d.docker.getNetwork(TEST_BRIDGE).remove().catch(() => undefined);
  } catch {
    // a daemon that is gone has nothing left to remove
  }
  await d.stop();
  // vfs layers may hold read-only dirs and the exec root mounts: unmount what is left, then remove.
  spawnSync('sh', ['-c', `grep -o " ${root}[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l`], { stdio: 'ignore' });
  rmSync(root, { recursive: true, force: true });
}

/** importTestImage builds a busybox root filesystem and imports it as TEST_IMAGE (docker import, through the Engine API). */
async function importTestImage(d: Dockerd, root: string): Promise<void> {
  await importRootfs(d, buildRootfs(root), 'muster-test/busybox', '1');
  await d.docker.getImage(TEST_IMAGE).tag({ repo: 'muster-test/busybox', tag: '2' });
  const images = await d.docker.listImages();
  assert.ok(images.some((i) => (i.RepoTags ?? []).includes(TEST_IMAGE)), `the test image was imported: ${JSON.stringify(images.map((i) => i.RepoTags))}`);
}

/** buildRootfs lays out busybox-static and its applet links under root/rootfs. */
function buildRootfs(root: string): string {
  const rootfs = join(root, 'rootfs');
  for (const dir of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev']) mkdirSync(join(rootfs, dir), { recursive: true });
  const busybox = spawnSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).stdout.trim();
  copyFileSync(busybox, join(rootfs, 'bin', 'busybox'));
  const applets = spawnSync(busybox, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter((a) => a !== '' && a !== 'busybox' && !a.includes('/'));
  for (const applet of applets) symlinkSync('busybox', join(rootfs, 'bin', applet));
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  return rootfs;
}

/** importRootfs packs a root filesystem with tar and imports it as repo:tag (docker import, through the Engine API). */
async function importRootfs(d: Dockerd, rootfs: string, repo: string, tag: string): Promise<void> {
  const tar = spawn('tar', ['-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stream = await d.docker.importImage(tar.stdout, { repo, tag, changes: ['CMD ["/bin/sh"]', 'ENV PATH=/bin'] } as Record<string, unknown>);
  await new Promise<void>((resolve, reject) => d.docker.modem.followProgress(stream, (err: Error | null) => (err === null ? resolve() : reject(err))));
}
