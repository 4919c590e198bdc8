#!/usr/bin/env node
// `npm run test:asan`: builds the AddressSanitizer + UBSan addon into build-asan/ (incremental; build/ is left
// alone) and runs the op tests (test/ops/**, or the test files given as arguments) against it.
//
// Node itself is not instrumented, so the sanitizer runtimes are preloaded (LD_PRELOAD) into node and every
// vitest worker; leak detection is off (Node's own allocations at exit are not ours to judge). Any ASan or UBSan
// report aborts the worker, which fails the run.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const say = (msg) => process.stderr.write(`test:asan: ${msg}\n`);

if (process.platform !== 'linux') {
  say('the sanitizer run is Linux-only (LD_PRELOAD of libasan/libubsan)');
  process.exit(1);
}

const build = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build-native.mjs'), '--force'], {
  cwd: ROOT,
  stdio: 'inherit',
  env: { ...process.env, QWEN_HYBRID_SANITIZE: '1' },
});
if (build.status !== 0) process.exit(build.status ?? 1);

const cxx = process.env.CXX || 'g++';
const preload = ['libasan.so', 'libubsan.so'].map((lib) => {
  const r = spawnSync(cxx, [`-print-file-name=${lib}`], { encoding: 'utf8' });
  const p = r.stdout?.trim();
  if (r.status !== 0 || !p || !path.isAbsolute(p)) {
    say(`${cxx} does not know where ${lib} is; install the compiler's sanitizer runtimes`);
    process.exit(1);
  }
  return p;
});

const files = process.argv.slice(2);
const t0 = performance.now();
const vitest = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...(files.length ? files : ['test/ops/'])], {
  cwd: ROOT,
  stdio: 'inherit',
  env: {
    ...process.env,
    QWEN_HYBRID_ADDON: 'build-asan/Release/qwen_hybrid.node',
    LD_PRELOAD: [process.env.LD_PRELOAD, ...preload].filter(Boolean).join(' '),
    ASAN_OPTIONS: ['detect_leaks=0', 'abort_on_error=1', process.env.ASAN_OPTIONS].filter(Boolean).join(':'),
    UBSAN_OPTIONS: ['print_stacktrace=1', 'halt_on_error=1', process.env.UBSAN_OPTIONS].filter(Boolean).join(':'),
  },
});
say(`vitest finished in ${((performance.now() - t0) / 1000).toFixed(1)} s with exit ${vitest.status ?? vitest.signal}`);
process.exit(vitest.status ?? 1);
