#!/usr/bin/env node
/**
 * Builds the llama.cpp that node-llama-cpp bundles, with CUDA, offline, through node-llama-cpp's own documented
 * source-build route (`node-llama-cpp source download --gpu cuda`): the release it ships as a git bundle
 * (node_modules/node-llama-cpp/llama/gitRelease.bundle, release named in llama/binariesGithubRelease.json) is cloned
 * from that bundle — no network — into node_modules/node-llama-cpp/llama/llama.cpp and compiled with GGML_CUDA into
 * llama/localBuilds/. The CUDA peer of the benches then finds it by itself: getLlama({ gpu: 'cuda', build: 'never' })
 * uses a local build first (src/bench/e2e.ts; bench/gpu/e2e.bench.ts reports peer: null with the reason otherwise).
 *
 * Needs: node-llama-cpp installed (devDependency), git, cmake ≥ 3.19 and nvcc (CUDA toolkit) on PATH, a C++ compiler;
 * ~10-20 min on 16 cores. Extra CMake options: NODE_LLAMA_CPP_CMAKE_OPTION_<NAME>=<value> (e.g.
 * NODE_LLAMA_CPP_CMAKE_OPTION_CMAKE_CUDA_ARCHITECTURES=90). Run: node scripts/build-llama-cuda.mjs [--timeout-min N]
 * Fails fast with a clear message when a tool or the bundle is missing, and is killed after --timeout-min (default 60)
 * minutes rather than hanging; exit status ≠ 0 on any failure.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

function fail(msg) {
  console.error(`build-llama-cuda: ${msg}`);
  process.exit(1);
}

function tool(cmd, args, what) {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 }).toString().trim().split('\n')[0];
  } catch {
    return fail(`${cmd} not found or not working: ${what}`);
  }
}

const i = process.argv.indexOf('--timeout-min');
const timeoutMin = i >= 0 ? Number(process.argv[i + 1]) : 60;
if (!(timeoutMin > 0)) fail(`--timeout-min must be a positive number, got ${process.argv[i + 1]}`);

// node-llama-cpp's package root (its exports hide package.json: walk up from the entry point)
let pkgDir;
try {
  pkgDir = dirname(createRequire(import.meta.url).resolve('node-llama-cpp'));
} catch {
  fail('node-llama-cpp is not installed (it is a devDependency: npm install in the repository)');
}
while (!existsSync(join(pkgDir, 'package.json')) && dirname(pkgDir) !== pkgDir) pkgDir = dirname(pkgDir);
const version = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
const bundle = join(pkgDir, 'llama', 'gitRelease.bundle');
if (!existsSync(bundle)) fail(`${bundle} is missing: this node-llama-cpp ${version} has no bundled llama.cpp source, and the GPU host has no network`);
const release = JSON.parse(readFileSync(join(pkgDir, 'llama', 'binariesGithubRelease.json'), 'utf8')).release;

console.error(`build-llama-cuda: node-llama-cpp ${version}, bundled llama.cpp release ${release}`);
console.error(`  ${tool('git', ['--version'], 'git clones the bundled source')}`);
console.error(`  ${tool('cmake', ['--version'], 'install cmake >= 3.19 (apt-get install cmake); node-llama-cpp would try to download one, and there is no network')}`);
tool('nvcc', ['--version'], 'the CUDA toolkit (nvcc) must be on PATH');
console.error(`  ${execFileSync('nvcc', ['--version']).toString().trim().split('\n').at(-1)}`);

const cli = join(pkgDir, 'dist', 'cli', 'cli.js');
if (!existsSync(cli)) fail(`${cli} is missing: cannot run node-llama-cpp's CLI`);
// `source download` clones the bundle when the release matches the bundled one (offline), then builds; --gpu cuda
// builds CUDA only (no fallback to CPU: a CPU build here would silently make the "CUDA peer" a CPU one).
const args = [cli, 'source', 'download', '--release', release, '--gpu', 'cuda', '--noUsageExample'];
console.error(`build-llama-cuda: node ${args.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ')}`);
const child = spawn(process.execPath, args, {
  stdio: ['ignore', 'inherit', 'inherit'],
  env: { ...process.env, NODE_LLAMA_CPP_GPU: 'cuda' },
});
const timer = setTimeout(() => {
  console.error(`build-llama-cuda: no result after ${timeoutMin} min; stopping the build`);
  child.kill('SIGTERM');
  setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
}, timeoutMin * 60_000);
child.on('exit', async (code, signal) => {
  clearTimeout(timer);
  if (code !== 0) fail(`node-llama-cpp source build failed (${signal ? `signal ${signal}` : `exit ${code}`}); see its output above`);
  // check that the result is usable as the benches will use it
  try {
    const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
    const llama = await getLlama({ gpu: 'cuda', build: 'never', logLevel: LlamaLogLevel.error });
    const gpu = llama.gpu;
    const devices = await llama.getGpuDeviceNames().catch(() => []);
    await llama.dispose();
    if (gpu !== 'cuda') fail(`the build finished but getLlama({ gpu: 'cuda' }) loaded a '${gpu}' binary`);
    console.error(`build-llama-cuda: ok — getLlama({ gpu: 'cuda', build: 'never' }) loads it (devices: ${devices.join(', ') || 'none visible'})`);
  } catch (e) {
    fail(`the build finished but node-llama-cpp cannot load it: ${e instanceof Error ? e.message : String(e)}`);
  }
});
