#!/usr/bin/env node
// Builds the native part of Muster: dist/native/muster-supervisor, the small C program every task
// runs under (src/agent/supervisor/supervisor.c). `npm run build` runs it after tsc.
//
// It does nothing when the binary is newer than its source. It compiles to a temporary name and
// renames, so that an interrupted build, or two builds at once (test files run in parallel), never
// leave a half-written binary behind. CC picks another compiler (default: cc).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'agent', 'supervisor', 'supervisor.c');
const output = join(root, 'dist', 'native', 'muster-supervisor');

if (existsSync(output) && statSync(output).mtimeMs > statSync(source).mtimeMs) process.exit(0);

const cc = process.env.CC || 'cc';
const tmp = `${output}.tmp-${process.pid}`;
mkdirSync(dirname(output), { recursive: true });
const flags = ['-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11', '-o', tmp, relative(root, source)];
// Linked statically where the C library allows it: every task starts one supervisor, and a static
// one skips the dynamic loader (about a fifth of a task's start-up CPU here). It needs nothing of
// NSS. Where static linking is not possible (no libc.a), it is linked as usual.
let result = spawnSync(cc, ['-static', ...flags], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
if (result.error === undefined && result.status !== 0) result = spawnSync(cc, flags, { cwd: root, stdio: 'inherit' });
if (result.error !== undefined) {
  rmSync(tmp, { force: true });
  if (result.error.code === 'ENOENT') {
    console.error(`build-native: no C compiler found ("${cc}"): install one (Debian: apt-get install gcc) and run npm run build again`);
  } else {
    console.error(`build-native: cannot run ${cc}: ${result.error.message}`);
  }
  process.exit(1);
}
if (result.status !== 0) {
  rmSync(tmp, { force: true });
  console.error(`build-native: ${cc} failed to compile ${relative(root, source)}`);
  process.exit(1);
}
renameSync(tmp, output);
