#!/usr/bin/env node
// Builds the native addon into build/Release/qwen_hybrid.node.
//
//   node scripts/build-native.mjs            npm `install`: builds unless the addon already exists
//   node scripts/build-native.mjs --force    `npm run build:native`: always (re)builds, incrementally
//   node scripts/build-native.mjs --clean    wipes build/ first
//
// Builder: cmake-js when CMake >= 3.18 is found (CPU backend + CUDA backend when nvcc is found),
// otherwise node-gyp (CPU only). The choice and its reason are printed on stderr.
// Environment:
//   QWEN_HYBRID_BUILDER=cmake|gyp   force a builder; fails if it is unavailable
//   QWEN_HYBRID_CPU_ONLY=1          no CUDA backend even when nvcc is present
//   QWEN_HYBRID_SANITIZE=1          AddressSanitizer + UBSan build (CPU only, cmake-js) into build-asan/ instead
//                                   of build/; load it with QWEN_HYBRID_ADDON=build-asan/Release/qwen_hybrid.node
//                                   and libasan/libubsan in LD_PRELOAD (scripts/test-asan.mjs does both)
//   QWEN_HYBRID_CUDA_ARCHS=90       dev only: device code for these SMs only (comma list), to iterate faster;
//                                   buildInfo().cudaArchs reports it and the shipped-arch test fails until a
//                                   full build (unset) is done
//   QWEN_HYBRID_BUILD_DIR=build-x   dev only: build into build-x/ instead of build/ (load it with QWEN_HYBRID_ADDON)
//   QWEN_HYBRID_CMAKE=/path/cmake   CMake executable (default: `cmake` on PATH)
//   CUDACXX=/path/nvcc              nvcc to use (default: PATH, then $CUDA_PATH/bin, /usr/local/cuda/bin)
// A failed build exits non-zero; there is never a fallback from one builder to the other after a failure.
// Dependencies: node builtins, cmake-js, node-addon-api; node-gyp is npm's bundled copy.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SANITIZE = /^(1|true|yes|on)$/i.test(process.env.QWEN_HYBRID_SANITIZE ?? '');
// QWEN_HYBRID_BUILD_DIR (dev only): build into this directory (relative to the package root) instead, e.g. to keep
// several work trees' builds apart; load the result with QWEN_HYBRID_ADDON=<dir>/Release/qwen_hybrid.node.
const BUILD_DIR = path.resolve(ROOT, process.env.QWEN_HYBRID_BUILD_DIR || (SANITIZE ? 'build-asan' : 'build'));
const ADDON = path.join(BUILD_DIR, 'Release', 'qwen_hybrid.node');
const STAMP = path.join(BUILD_DIR, 'qwen-hybrid-build.json');
const MIN_CMAKE = [3, 18];
// sm_120 needs nvcc >= 12.8.
const MIN_NVCC = [12, 8];
const require = createRequire(path.join(ROOT, 'package.json'));

const say = (msg) => process.stderr.write(`qwen-hybrid: ${msg}\n`);

class BuildError extends Error {}

function versionAtLeast(v, min) {
  for (let i = 0; i < min.length; i++) {
    const a = v[i] ?? 0;
    if (a !== min[i]) return a > min[i];
  }
  return true;
}

function run(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { encoding: 'utf8', ...opts });
}

/** { path, version: [maj, min, patch], text } or { missing: reason } */
function findCmake() {
  const exe = process.env.QWEN_HYBRID_CMAKE || 'cmake';
  const r = run(exe, ['--version']);
  if (r.error || r.status !== 0) return { missing: `${exe} not found` };
  const m = /cmake version (\d+)\.(\d+)\.(\d+)/.exec(r.stdout);
  if (!m) return { missing: `could not parse \`${exe} --version\`` };
  const version = [Number(m[1]), Number(m[2]), Number(m[3])];
  const text = version.join('.');
  // cmake-js wants a file path (it lstat()s cmakePath), not a bare command name.
  let resolved = exe;
  if (!path.isAbsolute(exe)) {
    const w = run(process.platform === 'win32' ? 'where' : 'which', [exe]);
    if (w.status === 0 && w.stdout.trim()) resolved = w.stdout.trim().split(/\r?\n/)[0];
  }
  if (!versionAtLeast(version, MIN_CMAKE)) return { missing: `cmake ${text} found, need >= ${MIN_CMAKE.join('.')}` };
  return { path: resolved, version, text };
}

/** { path, version: [maj, min], text } or { missing: reason } */
function findNvcc() {
  const candidates = [];
  if (process.env.CUDACXX) candidates.push(process.env.CUDACXX);
  candidates.push('nvcc');
  for (const dir of [process.env.CUDA_PATH, process.env.CUDA_HOME, '/usr/local/cuda']) {
    if (dir) candidates.push(path.join(dir, 'bin', process.platform === 'win32' ? 'nvcc.exe' : 'nvcc'));
  }
  for (const exe of candidates) {
    const r = run(exe, ['--version']);
    if (r.error || r.status !== 0) continue;
    const m = /release (\d+)\.(\d+)/.exec(r.stdout);
    if (!m) continue;
    let resolved = exe;
    if (!path.isAbsolute(exe)) {
      const w = run(process.platform === 'win32' ? 'where' : 'which', [exe]);
      if (w.status === 0 && w.stdout.trim()) resolved = w.stdout.trim().split(/\r?\n/)[0];
    }
    return { path: resolved, version: [Number(m[1]), Number(m[2])], text: `${m[1]}.${m[2]}` };
  }
  return { missing: 'nvcc not found (PATH, CUDACXX, CUDA_PATH, /usr/local/cuda/bin)' };
}

/** SM list from CMakeLists.txt's CMAKE_CUDA_ARCHITECTURES block, e.g. [80, 86, 89, 90, 120]. */
function cmakeCudaArchs() {
  const text = readFileSync(path.join(ROOT, 'CMakeLists.txt'), 'utf8');
  const block = /set\(CMAKE_CUDA_ARCHITECTURES\s*\n([\s\S]*?)^\s*\)/m.exec(text);
  if (!block) return [];
  return [...block[1].matchAll(/^\s*(\d+)(?:-real|-virtual)?\s/gm)].map((m) => Number(m[1]));
}

/** Dev SM list from env QWEN_HYBRID_CUDA_ARCHS ("90" or "89,90"); [] = the shipped set. */
function devCudaArchs() {
  const v = (process.env.QWEN_HYBRID_CUDA_ARCHS ?? '').trim();
  if (!v) return [];
  const list = v.split(/[,;\s]+/).filter(Boolean);
  if (!list.every((a) => /^\d{2,3}$/.test(a))) throw new BuildError(`QWEN_HYBRID_CUDA_ARCHS=${v} is not valid (expected SM numbers like 90 or 89,90)`);
  return list.map(Number);
}

/** Path of node-gyp.js: a local install, else the copy bundled with npm. */
function findNodeGyp() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    // not installed locally: look next to npm
  }
  const npmCli = [];
  if (process.env.npm_execpath) npmCli.push(process.env.npm_execpath);
  const w = run(process.platform === 'win32' ? 'where' : 'which', ['npm']);
  if (w.status === 0 && w.stdout.trim()) {
    try {
      npmCli.push(realpathSync(w.stdout.trim().split(/\r?\n/)[0]));
    } catch {
      // dangling link
    }
  }
  const candidates = npmCli.map((cli) => path.join(path.dirname(path.dirname(cli)), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => existsSync(c)) ?? null;
}

/** Local Node headers (so node-gyp needs no download): npm's nodedir, else the prefix of this node. */
function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..')];
  return candidates.find((d) => d && existsSync(path.join(d, 'include', 'node', 'common.gypi')) && existsSync(path.join(d, 'include', 'node', 'node_api.h'))) ?? null;
}

function readStamp() {
  try {
    return JSON.parse(readFileSync(STAMP, 'utf8'));
  } catch {
    return null;
  }
}

/** buildInfo() of the freshly built addon, read in a child process (this one must not dlopen it). */
function probeAddon() {
  const env = SANITIZE ? { ...process.env, LD_PRELOAD: sanitizerPreload(), ASAN_OPTIONS: 'detect_leaks=0' } : process.env;
  const r = run(process.execPath, ['-e', `process.stdout.write(JSON.stringify(require(${JSON.stringify(ADDON)}).buildInfo()))`], { env });
  if (r.status !== 0) throw new BuildError(`the built addon ${ADDON} does not load:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** "libasan.so libubsan.so" paths of the C++ compiler that builds the addon (a sanitized .node needs them preloaded into node). */
function sanitizerPreload() {
  const cxx = process.env.CXX || 'g++';
  return ['libasan.so', 'libubsan.so']
    .map((lib) => run(cxx, [`-print-file-name=${lib}`]).stdout?.trim())
    .filter((p) => p && path.isAbsolute(p))
    .join(' ');
}

async function buildWithCmakeJs(cmake, nvcc, jobs) {
  let BuildSystem;
  try {
    ({ BuildSystem } = require('cmake-js'));
  } catch (e) {
    throw new BuildError(`cmake-js is not installed (${e.message}); run npm install`);
  }
  // Always passed (empty = shipped archs) so a dev arch list never lingers in the CMake cache.
  const cMakeOptions = {
    QWEN_HYBRID_CUDA: nvcc ? 'ON' : 'OFF',
    QWEN_HYBRID_SANITIZE: SANITIZE ? 'ON' : 'OFF',
    QWEN_HYBRID_CUDA_ARCHS: devCudaArchs().join(','),
  };
  if (nvcc) cMakeOptions.CMAKE_CUDA_COMPILER = nvcc.path;
  const bs = new BuildSystem({
    directory: ROOT,
    out: BUILD_DIR,
    config: 'Release',
    parallel: jobs,
    cmakePath: cmake.path,
    cMakeOptions,
  });
  // Node-API mode: headers from node-api-headers + node-addon-api, nothing downloaded. cmake-js only
  // infers it from package.json "binary.napi_versions", so set it on the shared options object.
  bs.options.isNodeApi = true;
  try {
    await bs.configure();
    await bs.build();
  } catch (e) {
    throw new BuildError(`cmake-js build failed: ${e?.message ?? e}`);
  }
}

function buildWithNodeGyp(nodeGyp, jobs) {
  const nodeDir = findNodeDir();
  const common = nodeDir ? [`--nodedir=${nodeDir}`] : [];
  if (!nodeDir) say('no local Node headers found; node-gyp will download them');
  for (const step of [['configure', '--release', ...common], ['build', '--release', `--jobs=${jobs}`, ...common]]) {
    const r = spawnSync(process.execPath, [nodeGyp, ...step], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new BuildError(`node-gyp ${step[0]} failed (exit ${r.status ?? r.signal})`);
  }
}

async function main() {
  const args = new Set(process.argv.slice(2));
  for (const a of args) {
    if (!['--force', '--clean'].includes(a)) throw new BuildError(`unknown argument ${a} (expected --force, --clean)`);
  }
  const forced = process.env.QWEN_HYBRID_BUILDER ?? '';
  if (forced && forced !== 'cmake' && forced !== 'gyp') {
    throw new BuildError(`QWEN_HYBRID_BUILDER=${forced} is not valid (expected cmake or gyp)`);
  }
  const cpuOnly = /^(1|true|yes|on)$/i.test(process.env.QWEN_HYBRID_CPU_ONLY ?? '');

  // Without --force, an existing addon is kept unless the environment asks for a different one.
  const force = args.has('--force') || args.has('--clean');
  if (!force && existsSync(ADDON)) {
    const stamp = readStamp();
    const wantBuilder = forced === 'gyp' ? 'node-gyp' : forced === 'cmake' ? 'cmake-js' : null;
    const differs = (wantBuilder && stamp?.builder !== wantBuilder) || (cpuOnly && stamp?.cuda !== false);
    if (!differs) {
      say(`${path.relative(ROOT, ADDON)} already built${stamp ? ` (${stamp.builder}, ${stamp.cuda ? 'CUDA' : 'CPU only'})` : ''}; skipping (npm run build:native rebuilds)`);
      return;
    }
  }
  const jobs = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;

  let builder;
  let reason;
  const cmake = forced === 'gyp' ? null : findCmake();
  if (forced === 'gyp') {
    builder = 'gyp';
    reason = 'QWEN_HYBRID_BUILDER=gyp';
  } else if (cmake && !cmake.missing) {
    builder = 'cmake';
    reason = `${forced === 'cmake' ? 'QWEN_HYBRID_BUILDER=cmake, ' : ''}cmake ${cmake.text} found`;
  } else if (forced === 'cmake') {
    throw new BuildError(`QWEN_HYBRID_BUILDER=cmake but CMake is unavailable: ${cmake.missing}`);
  } else {
    builder = 'gyp';
    reason = `${cmake.missing}`;
  }

  let nodeGyp = null;
  if (builder === 'gyp') {
    nodeGyp = findNodeGyp();
    if (!nodeGyp) throw new BuildError(`node-gyp is unavailable (not installed locally, not bundled with npm) and ${reason}`);
  }

  // CUDA: only through cmake-js.
  let nvcc = null;
  let cudaText;
  if (SANITIZE && builder === 'gyp') {
    throw new BuildError('QWEN_HYBRID_SANITIZE=1 needs cmake-js (CMake >= 3.18)');
  }
  if (builder === 'gyp') {
    cudaText = 'CUDA: off (node-gyp builds are CPU-only)';
  } else if (SANITIZE) {
    cudaText = 'CUDA: off (QWEN_HYBRID_SANITIZE=1: ASan/UBSan build of the CPU code into build-asan/)';
  } else if (cpuOnly) {
    cudaText = 'CUDA: off (QWEN_HYBRID_CPU_ONLY=1)';
  } else {
    const found = findNvcc();
    if (found.missing) {
      cudaText = `CUDA: off (${found.missing})`;
    } else if (!versionAtLeast(found.version, MIN_NVCC)) {
      throw new BuildError(
        `nvcc ${found.text} found at ${found.path}, but the CUDA build (sm_120) needs CUDA >= ${MIN_NVCC.join('.')}; ` +
          'upgrade the toolkit, or set QWEN_HYBRID_CPU_ONLY=1 for a CPU-only build',
      );
    } else {
      nvcc = found;
      const dev = devCudaArchs();
      cudaText = `CUDA: nvcc ${found.text} found (${found.path}) → sm_${(dev.length ? dev : cmakeCudaArchs()).join(',')}${dev.length ? ' (QWEN_HYBRID_CUDA_ARCHS, dev only)' : ''}`;
    }
  }
  say(builder === 'cmake'
    ? `building with cmake-js (${reason}), ${cudaText}, -j${jobs}`
    : `building with node-gyp (${reason}), ${cudaText}, -j${jobs}`);

  // build/ holds one builder's tree at a time; switching builders starts clean.
  const prev = readStamp();
  const builderName = builder === 'cmake' ? 'cmake-js' : 'node-gyp';
  if (args.has('--clean') || (existsSync(BUILD_DIR) && prev?.builder !== builderName)) {
    rmSync(BUILD_DIR, { recursive: true, force: true });
  }

  // A failed build must not leave the previous addon behind for the next install to skip on.
  rmSync(ADDON, { force: true });
  rmSync(STAMP, { force: true });

  const t0 = performance.now();
  process.chdir(ROOT);
  if (builder === 'cmake') await buildWithCmakeJs(cmake, nvcc, jobs);
  else buildWithNodeGyp(nodeGyp, jobs);
  const seconds = (performance.now() - t0) / 1000;

  if (!existsSync(ADDON)) throw new BuildError(`${builderName} finished but ${ADDON} does not exist`);
  const info = probeAddon();
  if (info.builder !== builderName) throw new BuildError(`built addon reports builder ${info.builder}, expected ${builderName}`);
  if (Boolean(nvcc) !== info.cuda) {
    throw new BuildError(`built addon has cuda=${info.cuda} but nvcc was ${nvcc ? 'found' : 'not used'}; refusing a silent CPU-only build`);
  }
  mkdirSync(BUILD_DIR, { recursive: true });
  writeFileSync(STAMP, JSON.stringify({ builder: builderName, cuda: info.cuda, cudaArchs: info.cudaArchs, seconds: Number(seconds.toFixed(1)) }, null, 2) + '\n');
  say(`built ${path.relative(ROOT, ADDON)} in ${seconds.toFixed(1)} s (${builderName}, ${info.cuda ? `CUDA ${info.cudaRuntimeVersion}, sm_${info.cudaArchs.join(',')}` : 'CPU only'}, ${info.compiler})`);
}

main().catch((e) => {
  say(`native build FAILED: ${e instanceof BuildError ? e.message : e?.stack ?? e}`);
  process.exit(1);
});
