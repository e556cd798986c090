#!/usr/bin/env node
// Entry point of the `edgeloop` command. The sources are TypeScript; tsx registers a loader so they run as-is
// on Node 20, 22 and 24 without a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
