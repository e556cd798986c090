// Entry point of the packed agent's bin/edgeloop.js (scripts/pack-agent.mjs bundles it): the CLI's main(), of which
// only the agent command is packed.
import { main } from '../cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
