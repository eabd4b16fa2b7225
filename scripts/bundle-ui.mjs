#!/usr/bin/env node
// Bundles the web UI (src/ui/, TypeScript and TSX on Preact) into dist/ui/: app.js, app.css and
// index.html, which the master serves at / (src/master/http/ui.ts). `npm run build` runs it after
// tsc. Everything the page needs is in these files: no CDN, since a cell may have no internet.
//
// The UI imports the same typed client the CLI uses (src/client/), and through it parts of core and
// protocol. Those folders' index files re-export modules that only a node process can load (the
// job schema with zod and yaml, node:http for the CLI's fetch, node:tls); our modules run nothing at
// import, so they are marked side-effect free (as scripts/bundle-cli.mjs does) and whatever the
// UI does not call is left out; a node: import left in the bundle fails the build. `undici`, which the client loads only to trust a custom CA (never in
// a browser), is replaced by a stub that says so.
//
// index.html names app.js and app.css with a hash of their contents (?v=), so a browser may cache
// them for good and still never runs an old bundle after an upgrade; index.html itself is no-cache.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src') + sep;
const out = join(root, 'dist', 'ui');
const tmp = `${out}.tmp-${process.pid}`;
const old = `${out}.old-${process.pid}`;

const browser = {
  name: 'muster-browser',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: 'undici', namespace: 'muster-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'muster-stub' }, () => ({
      contents: "export class Agent { constructor() { throw new Error('a custom CA cannot be set in a browser: the browser trusts its own CAs'); } }",
      loader: 'js',
    }));
    // Resolved before tree shaking, so marked external here; the bundle is checked for any left below.
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, external: true }));
    b.onResolve({ filter: /^\.\.?\// }, async (args) => {
      if (args.pluginData === 'muster' || args.kind === 'entry-point') return undefined;
      const resolved = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer, pluginData: 'muster' });
      if (resolved.errors.length > 0) return { errors: resolved.errors };
      return { path: resolved.path, sideEffects: resolved.path.startsWith(src) ? false : undefined };
    });
  },
};

const hash = (buf) => createHash('sha256').update(buf).digest('hex').slice(0, 16);

try {
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { app: 'src/ui/main.tsx' },
    outdir: tmp,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: 'src/ui/tsconfig.json',
    minify: true,
    sourcemap: 'linked',
    legalComments: 'none',
    define: { 'process.env.NODE_ENV': '"production"' },
    plugins: [browser],
    logLevel: 'warning',
  });
  if (result.errors.length > 0) throw new Error('esbuild failed');
  const js = readFileSync(join(tmp, 'app.js'));
  const nodeImport = /(?:from|import)\s*\(?\s*["'](node:[a-z_/]+)["']/.exec(js.toString('utf8'));
  if (nodeImport !== null) throw new Error(`the bundle still imports ${nodeImport[1]}: a module the UI calls uses node; keep node-only code out of what src/ui/ imports`);
  const css = readFileSync(join(root, 'src', 'ui', 'styles.css'));
  writeFileSync(join(tmp, 'app.css'), css);
  const html = readFileSync(join(root, 'src', 'ui', 'index.html'), 'utf8').replace('__JS_HASH__', hash(js)).replace('__CSS_HASH__', hash(css));
  writeFileSync(join(tmp, 'index.html'), html);
  if (existsSync(out)) renameSync(out, old);
  renameSync(tmp, out);
  rmSync(old, { recursive: true, force: true });
  const gz = gzipSync(js, { level: 9 }).length + gzipSync(css, { level: 9 }).length + gzipSync(html, { level: 9 }).length;
  console.log(`bundle-ui: dist/ui/app.js ${(js.length / 1024).toFixed(0)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped with app.css and index.html`);
} catch (err) {
  rmSync(tmp, { recursive: true, force: true });
  console.error(`bundle-ui: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
