#!/usr/bin/env node
// Entry point of the `qwen-hybrid` command: runs the compiled CLI from dist/.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'main.js');
if (!existsSync(main)) {
  process.stderr.write("error[NOT_BUILT]: qwen-hybrid's TypeScript is not compiled (dist/ is missing); run 'npm run build:ts'\n");
  process.exit(2);
}
const { runCli } = await import(pathToFileURL(main).href);
process.exitCode = await runCli(process.argv.slice(2));
