#!/usr/bin/env node
// Bundle each Lambda handler (cloud/lambda/) into one self-contained ES module, ready to zip and upload: the code
// and every npm dependency it imports (AWS SDK, pino, ...) in a single file, no node_modules. Handler setting for
// the Node.js 20+ runtime: `<name>.handler`, e.g. `processor.handler` for processor.mjs.
//
//   node scripts/build-lambda.mjs [--out DIR] [--quiet]   (DIR default dist/lambda/)
//
// ESM output needs a `require` of its own: esbuild turns the `require("node:os")` calls of bundled CommonJS
// packages (pino, the AWS SDK's dependencies) into a shim that throws `Dynamic require of "node:os" is not
// supported` unless a `require` function is in scope. The banner defines one with createRequire, so those calls
// load Node's built-in modules as they would outside the bundle.
import { build } from 'esbuild';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outArg = process.argv.indexOf('--out');
const out = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(root, 'dist', 'lambda');
const quiet = process.argv.includes('--quiet');

/** output name → handler module; each output exports `handler` */
export const LAMBDA_ENTRIES = { processor: 'cloud/lambda/processor-handler.ts' };

const t0 = performance.now();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: Object.entries(LAMBDA_ENTRIES).map(([name, file]) => ({ in: file, out: name })),
  outdir: out,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  banner: {
    js: "import { createRequire as __edgeloopCreateRequire } from 'node:module';\nconst require = __edgeloopCreateRequire(import.meta.url);",
  },
  metafile: true,
  logLevel: 'warning',
  charset: 'utf8',
  legalComments: 'none',
});
if (!quiet) {
  for (const [file, meta] of Object.entries(result.metafile.outputs)) {
    console.log(
      `edgeloop: ${relative(process.cwd(), join(root, file)) || file}  ${(meta.bytes / 1024 / 1024).toFixed(1)} MB  in ${Math.round(performance.now() - t0)} ms`,
    );
  }
}
