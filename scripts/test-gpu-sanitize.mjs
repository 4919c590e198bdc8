#!/usr/bin/env node
// Runs GPU tests under NVIDIA compute-sanitizer (issue 6: "compute-sanitizer clean"):
//
//   node scripts/test-gpu-sanitize.mjs [--tool memcheck|racecheck|synccheck|initcheck|all] [test files...]
//   npm run test:gpu:sanitize -- --tool racecheck test/gpu/ops-gdn.test.ts
//
// Default tool memcheck; default files: the per-op GPU tests (test/gpu/ops-*.test.ts, sample, matmul); the whole-model
// test is slow under the sanitizer, name it to include it. Test files run one at a time in one fork chain
// (--target-processes all follows vitest's forked workers). Exit 0 when every tool reports no error, 1 when a tool
// reports errors or a test fails, 2 on bad usage or when compute-sanitizer is not found (it ships with the CUDA
// toolkit: $COMPUTE_SANITIZER if set, else PATH, $CUDA_PATH/bin, /usr/local/cuda/bin).
// racecheck and synccheck slow kernels down a lot; run them on a few files at a time.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOOLS = ['memcheck', 'racecheck', 'synccheck', 'initcheck'];
const say = (msg) => process.stderr.write(`test-gpu-sanitize: ${msg}\n`);

function usage(msg) {
  say(msg);
  say('usage: node scripts/test-gpu-sanitize.mjs [--tool memcheck|racecheck|synccheck|initcheck|all] [test files...]');
  process.exit(2);
}

function parseArgs(argv) {
  let tools = ['memcheck'];
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--tool') {
      const v = argv[++i];
      if (v === undefined) usage('--tool needs a value');
      if (v === 'all') tools = [...TOOLS];
      else if (TOOLS.includes(v)) tools = [v];
      else usage(`unknown tool '${v}' (expected ${TOOLS.join(', ')} or all)`);
    } else if (a === '-h' || a === '--help') {
      usage('runs GPU tests under compute-sanitizer');
    } else if (a.startsWith('-')) {
      usage(`unknown option '${a}'`);
    } else {
      if (!existsSync(path.resolve(ROOT, a))) usage(`no such test file: ${a}`);
      files.push(a);
    }
  }
  return { tools, files };
}

function findSanitizer() {
  const forced = process.env.COMPUTE_SANITIZER;
  if (forced) {
    if (!existsSync(forced)) usage(`COMPUTE_SANITIZER=${forced} does not exist`);
    return forced;
  }
  const candidates = [];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) candidates.push(path.join(dir, 'compute-sanitizer'));
  if (process.env.CUDA_PATH) candidates.push(path.join(process.env.CUDA_PATH, 'bin', 'compute-sanitizer'));
  candidates.push('/usr/local/cuda/bin/compute-sanitizer');
  return candidates.find((c) => existsSync(c)) ?? null;
}

function defaultFiles() {
  const dir = path.join(ROOT, 'test', 'gpu');
  return readdirSync(dir)
    .filter((f) => /^(ops-.*|sample|matmul)\.test\.ts$/.test(f))
    .sort()
    .map((f) => path.join('test', 'gpu', f));
}

const { tools, files: named } = parseArgs(process.argv.slice(2));
const files = named.length > 0 ? named : defaultFiles();
const sanitizer = findSanitizer();
if (!sanitizer) usage('compute-sanitizer not found (PATH, $CUDA_PATH/bin, /usr/local/cuda/bin; or set COMPUTE_SANITIZER)');
const vitest = path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
if (!existsSync(vitest)) usage('vitest is not installed (npm install)');

let failed = false;
for (const tool of tools) {
  say(`${tool}: ${files.length} file(s) with ${sanitizer}`);
  const args = [
    '--tool', tool, '--target-processes', 'all', '--error-exitcode', '86', '--print-limit', '20',
    process.execPath, vitest, 'run', '--config', 'vitest.gpu.config.ts', '--no-file-parallelism', '--maxWorkers', '1', ...files,
  ];
  const r = spawnSync(sanitizer, args, { cwd: ROOT, stdio: 'inherit' });
  if (r.error) usage(`could not run ${sanitizer}: ${r.error.message}`);
  if (r.status === 86) say(`${tool}: errors reported (see above)`);
  else if (r.status !== 0) say(`${tool}: tests failed (exit ${r.status ?? r.signal})`);
  else say(`${tool}: clean`);
  failed ||= r.status !== 0;
}
process.exit(failed ? 1 : 0);
