/**
 * `qwen-hybrid bench` from the source tree (no build of dist/ needed): `npm run bench` runs the CPU suite (ops + e2e,
 * full shapes) and writes bench/results/suite-cpu.json and .svg; arguments after `--` are added, e.g.
 *   npm run bench -- --quick --threads 1        node --import tsx bench/run.ts --backend cuda --json out.json
 */
import { runCli } from '../src/cli/main.js';

process.exitCode = await runCli(['bench', ...process.argv.slice(2)]);
