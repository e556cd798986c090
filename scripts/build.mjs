#!/usr/bin/env node
// Compile the TypeScript sources to plain ES modules in dist/ (same folder layout), so `edgeloop` runs without a
// TypeScript loader: on Node 20 tsx's off-thread loader costs ~30 MB of RSS in every process, which an agent on a
// small board should not pay. Transpile only (esbuild); type checking is `npm run typecheck`. Runs on `npm install`
// (prepare) and `npm run build`; bin/edgeloop.js uses dist/ only while it is up to date with the sources.
//
//   node scripts/build.mjs [--quiet] [--out DIR]   (DIR default dist/; it must lie inside the package)
import { build } from 'esbuild';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SOURCE_DIRS, scanSources } from './build-info.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outArg = process.argv.indexOf('--out');
const out = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(root, 'dist');
const quiet = process.argv.includes('--quiet');
const t0 = performance.now();

const scan = scanSources(root);
const entries = scan.files.filter((f) => f.endsWith('.ts'));
const assets = scan.files.filter((f) => !f.endsWith('.ts'));

rmSync(out, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: entries.map((f) => relative(root, f)),
  outdir: out,
  outbase: '.',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  bundle: false,
  write: false,
  logLevel: 'warning',
  charset: 'utf8',
});
// Relative module specifiers name the .ts sources (allowImportingTsExtensions): in the compiled tree they are .js.
// This covers static imports, literal dynamic imports and the module paths passed to import() helpers alike.
const SPECIFIER = /(["'`])(\.{1,2}\/[^"'`\n]*?)\.ts\1/g;
for (const f of result.outputFiles) {
  mkdirSync(dirname(f.path), { recursive: true });
  writeFileSync(
    f.path,
    f.text.replace(SPECIFIER, (_m, q, p) => `${q}${p}.js${q}`),
  );
}
for (const a of assets) {
  const to = join(out, relative(root, a));
  mkdirSync(dirname(to), { recursive: true });
  cpSync(a, to);
}
// dist/ is an ES module tree whatever the nearest package.json says
writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module', private: true }) + '\n');
writeFileSync(
  join(out, 'build-info.json'),
  JSON.stringify({ sources: scan.files.length, newestMtimeMs: scan.newestMtimeMs, dirs: SOURCE_DIRS }) + '\n',
);
if (!quiet)
  console.log(
    `edgeloop: compiled ${entries.length} modules (+${assets.length} assets) to ${relative(root, out) || '.'}/ in ${Math.round(performance.now() - t0)} ms`,
  );
