/** The CLI as a module to run (`node dist/cli/entry.js ARGS`): how kanari starts its own router processes. */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
