#!/usr/bin/env node
// Entry point of the `edgeloop` command. The sources are TypeScript. `npm install` compiles them to dist/
// (scripts/build.mjs, no loader needed at run time: ~30 MB less RSS per process on Node 20); while dist/ is
// missing or older than the sources (a checkout being edited), tsx registers a loader and the sources run as-is.
// EDGELOOP_FROM_SOURCE=1 forces the sources.
import { fileURLToPath } from 'node:url';
import { distIsFresh } from '../scripts/build-info.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
let main;
if (process.env.EDGELOOP_FROM_SOURCE !== '1' && distIsFresh(root)) {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
