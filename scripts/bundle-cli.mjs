#!/usr/bin/env node
// Bundles the muster command into dist/bin/muster.js, the file package.json's bin points to; `npm
// run build` runs it after tsc. A CLI call is one short process, so its start-up is most of its
// time: as separate modules, the command loaded ~300 files (zod and yaml among them, through
// core's index, though only the master parses configs) before doing anything.
//
// The bundle is one module graph, split in chunks: the entry holds what every command needs (the
// command tree, the client, core's small parts, commander); the daemons (master, agent, `dev`),
// which main.ts already imports lazily, are chunks of their own, loaded only when one starts.
// Dependencies other than commander stay in node_modules (better-sqlite3 is native, etcd3 reads
// its protos from disk), imported by the chunks that use them.
//
// esbuild splits by file, and keeps every file an entry's imports reach unless it knows the file
// has no side effects: core's index re-exports jobspec.ts, whose schema built at import time would
// pull zod and yaml into every command. Our modules only declare things when imported (no module
// of src/ runs anything at import but the entry), so they are marked side-effect free here, and a
// file whose exports an entry does not use stays out of that entry's chunk.
//
// The bundle is written to a temporary directory and renamed into place, so that a build never
// leaves half of one behind for a command that starts meanwhile.

import { build } from 'esbuild';
import { chmodSync, existsSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src') + sep;
const out = join(root, 'dist', 'bin');
const tmp = `${out}.tmp-${process.pid}`;
const old = `${out}.old-${process.pid}`;

/** muster marks our own modules side-effect free and keeps every package but commander external. */
const muster = {
  name: 'muster',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || args.path === 'commander' || args.path.startsWith('commander/')) return undefined;
      return { path: args.path, external: true };
    });
    b.onResolve({ filter: /^\.\.?\// }, async (args) => {
      if (args.pluginData === 'muster' || args.kind === 'entry-point') return undefined;
      const resolved = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer, pluginData: 'muster' });
      if (resolved.errors.length > 0) return { errors: resolved.errors };
      return { path: resolved.path, sideEffects: resolved.path.startsWith(src) ? false : undefined };
    });
  },
};

try {
  const result = await build({
    absWorkingDir: root,
    entryPoints: { muster: 'src/cli/main.ts' },
    outdir: tmp,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    plugins: [muster],
    // commander is CommonJS and requires node's modules; an ES module bundle has no require of its own.
    banner: { js: "import { createRequire as __musterCreateRequire } from 'node:module'; const require = __musterCreateRequire(import.meta.url);" },
    logLevel: 'warning',
    metafile: true,
  });
  chmodSync(join(tmp, 'muster.js'), 0o755);
  if (existsSync(out)) renameSync(out, old);
  renameSync(tmp, out);
  rmSync(old, { recursive: true, force: true });
  const entry = result.metafile.outputs[relative(root, join(tmp, 'muster.js'))];
  const kib = entry === undefined ? '?' : (entry.bytes / 1024).toFixed(0);
  console.log(`bundle-cli: ${relative(root, join(out, 'muster.js'))} (${kib} KiB, daemons in chunks/)`);
} catch (err) {
  rmSync(tmp, { recursive: true, force: true });
  console.error(`bundle-cli: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
