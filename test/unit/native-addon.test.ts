/**
 * The native addon build: it loads, its exports match the hand-written TS mirror, it reports CUDA
 * cleanly on a machine without a GPU, a CUDA build really contains device code for every arch we
 * ship (read from the binary's fatbin, not from the addon's own report), cudart is linked
 * statically, and the node-gyp and CPU-only cmake-js routes build from the same sources.
 *
 * Needs the addon built first (`npm install` / `npm run build:native`); a missing addon FAILS.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

import { QwenHybridError } from '../../src/errors.js';
import { cudaSelfTest, loadNativeAddon, nativeAddonPath, nativeInfo, NATIVE_EXPORTS } from '../../src/native/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ADDON_FILE = path.join(ROOT, 'build', 'Release', 'qwen_hybrid.node');
const SHIPPED_ARCHS = [80, 86, 89, 90, 120];

function hasCommand(cmd: string, args: string[] = ['--version']): boolean {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

const cpuOnlyEnv = /^(1|true|yes|on)$/i.test(process.env.QWEN_HYBRID_CPU_ONLY ?? '');
const nvccOnPath = hasCommand('nvcc');
const cmakeOnPath = hasCommand('cmake');
// A GPU node exists only where the NVIDIA kernel driver is loaded; independent of the addon.
const gpuNodePresent = existsSync('/dev/nvidia0');
// Network namespace without interfaces: proves the builds never download anything (root only).
const offline = process.platform === 'linux' && hasCommand('unshare', ['-n', 'true']);

describe('native addon: load and mirror', () => {
  it('loads build/Release/qwen_hybrid.node through the loader', () => {
    expect(existsSync(ADDON_FILE), `${ADDON_FILE} missing: run npm run build:native`).toBe(true);
    const addon = loadNativeAddon();
    expect(path.resolve(nativeAddonPath())).toBe(ADDON_FILE);
    for (const name of NATIVE_EXPORTS) expect(typeof addon[name]).toBe('function');
  });

  it("the real export names equal the TS mirror's NATIVE_EXPORTS", () => {
    // A fresh process: nothing but the addon's own Init has touched its exports object.
    const r = spawnSync(process.execPath, ['-e', `process.stdout.write(JSON.stringify(Object.keys(require(${JSON.stringify(ADDON_FILE)}))))`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as string[]).sort()).toEqual([...NATIVE_EXPORTS].sort());
    // The loader hands out the same list (bindings' `path` property removed).
    expect(Object.keys(loadNativeAddon()).sort()).toEqual([...NATIVE_EXPORTS].sort());
  });

  it('buildInfo() has exactly the mirrored fields, and the package version', () => {
    const b = loadNativeAddon().buildInfo();
    expect(Object.keys(b).sort()).toEqual(['builder', 'compiler', 'cpu', 'cpuThreads', 'cuda', 'cudaArchs', 'cudaRuntimeVersion', 'version']);
    expect(Object.keys(b.cpu).sort()).toEqual(['avx2', 'avx512f', 'f16c', 'fma']);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(b.version).toBe(pkg.version);
    expect(['cmake-js', 'cmake', 'node-gyp']).toContain(b.builder);
    expect(b.compiler).toMatch(/^(GCC|Clang|MSVC) \d/);
    if (b.cuda) {
      expect(b.cudaRuntimeVersion).toMatch(/^\d+\.\d+$/);
      expect(b.cudaArchs.length).toBeGreaterThan(0);
    } else {
      expect(b.cudaRuntimeVersion).toBeNull();
      expect(b.cudaArchs).toEqual([]);
    }
  });

  it.skipIf(!(process.platform === 'linux' && process.arch === 'x64'))('CPU features agree with /proc/cpuinfo (the kernel\'s independent view)', () => {
    const b = loadNativeAddon().buildInfo();
    const flagsLine = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    expect(flagsLine).toBeDefined();
    const flags = new Set((flagsLine ?? '').split(':')[1]?.trim().split(/\s+/));
    // The kernel hides AVX* flags when it does not save the register state, as our XCR0 check does.
    expect(b.cpu).toEqual({ avx2: flags.has('avx2'), avx512f: flags.has('avx512f'), fma: flags.has('fma'), f16c: flags.has('f16c') });
  });

  it('cpuThreads equals the CPUs this process may run on (libuv affinity count)', () => {
    expect(loadNativeAddon().buildInfo().cpuThreads).toBe(os.availableParallelism());
  });

  it('nativeInfo() bundles buildInfo and cudaDevices', () => {
    const info = nativeInfo();
    expect(info.build.version).toBe(loadNativeAddon().buildInfo().version);
    expect(typeof info.devices.available).toBe('boolean');
    expect(path.resolve(info.path)).toBe(ADDON_FILE);
  });
});

describe('native addon: CUDA without a GPU', () => {
  it.skipIf(gpuNodePresent)('cudaDevices() returns available:false with a reason, and does not throw', () => {
    const addon = loadNativeAddon();
    const d = addon.cudaDevices();
    expect(d.available).toBe(false);
    expect(d.devices).toEqual([]);
    if (addon.buildInfo().cuda) expect(d.reason).toMatch(/^no CUDA device \(.+\)$/);
    else expect(d.reason).toBe('CUDA not compiled in');
  });

  it.skipIf(gpuNodePresent)('cudaSelfTest throws code NO_CUDA_DEVICE (native Error and QwenHybridError)', () => {
    const addon = loadNativeAddon();
    let raw: unknown;
    try {
      addon.cudaSelfTest(0);
    } catch (e) {
      raw = e;
    }
    expect(raw).toBeInstanceOf(Error);
    expect((raw as { code?: string }).code).toBe('NO_CUDA_DEVICE');
    expect((raw as Error).message).toContain(addon.cudaDevices().reason);
    expect(() => cudaSelfTest(0)).toThrow(QwenHybridError);
    try {
      cudaSelfTest(0);
    } catch (e) {
      expect((e as QwenHybridError).code).toBe('NO_CUDA_DEVICE');
    }
  });

  it('cudaSelfTest rejects a bad deviceIndex with code INVALID_ARGUMENT before touching CUDA', () => {
    const addon = loadNativeAddon();
    const cases: [unknown, ErrorConstructor][] = [[-1, RangeError], [1.5, RangeError], [Number.NaN, RangeError], [Infinity, RangeError], ['0', TypeError], [undefined, TypeError]];
    for (const [bad, kind] of cases) {
      let err: unknown;
      try {
        (addon.cudaSelfTest as (x: unknown) => unknown)(bad);
      } catch (e) {
        err = e;
      }
      expect(err, `deviceIndex ${String(bad)}`).toBeInstanceOf(kind);
      expect((err as { code?: string }).code).toBe('INVALID_ARGUMENT');
      expect((err as Error).message).toContain('deviceIndex');
    }
  });
});

/**
 * CUDA fatbins embedded in an ELF/PE file: { kind: 'sass' | 'ptx', sm }[] per fatbin.
 * Layout (as the CUDA runtime reads it): header { u32 magic 0xBA55ED50, u16 version, u16 headerSize,
 * u64 payloadSize }, then entries { u16 kind (1 PTX, 2 ELF), u16, u32 entryHeaderSize, u64 size, ...,
 * u32 sm at +28 } back to back, each followed by its payload; the entries tile the payload exactly,
 * which rejects accidental magic matches.
 */
function readFatbins(file: string): { kind: 'sass' | 'ptx'; sm: number }[][] {
  const buf = readFileSync(file);
  const out: { kind: 'sass' | 'ptx'; sm: number }[][] = [];
  for (let at = buf.indexOf(Buffer.from([0x50, 0xed, 0x55, 0xba])); at >= 0; at = buf.indexOf(Buffer.from([0x50, 0xed, 0x55, 0xba]), at + 4)) {
    if (at + 16 > buf.length) break;
    const headerSize = buf.readUInt16LE(at + 6);
    const payload = Number(buf.readBigUInt64LE(at + 8));
    let p = at + headerSize;
    const end = p + payload;
    if (headerSize !== 16 || end > buf.length) continue;
    const entries: { kind: 'sass' | 'ptx'; sm: number }[] = [];
    let valid = true;
    while (p < end) {
      const kind = buf.readUInt16LE(p);
      const eh = buf.readUInt32LE(p + 4);
      const size = Number(buf.readBigUInt64LE(p + 8));
      if ((kind !== 1 && kind !== 2) || eh < 32 || p + eh + size > end) {
        valid = false;
        break;
      }
      entries.push({ kind: kind === 2 ? 'sass' : 'ptx', sm: buf.readUInt32LE(p + 28) });
      p += eh + size;
    }
    if (valid && p === end && entries.length > 0) out.push(entries);
  }
  return out;
}

describe('native addon: CUDA build contents', () => {
  const expectCuda = nvccOnPath && !cpuOnlyEnv;

  it.skipIf(!expectCuda)('nvcc on PATH → cuda compiled in, cudaArchs = [80, 86, 89, 90, 120]', () => {
    const b = loadNativeAddon().buildInfo();
    expect(b.builder, 'a CUDA build needs cmake-js: run npm run build:native').toBe('cmake-js');
    expect(b.cuda).toBe(true);
    expect(b.cudaArchs).toEqual(SHIPPED_ARCHS);
  });

  it.skipIf(!expectCuda)('every fatbin in the binary has SASS for each shipped arch and PTX for sm_120 only', () => {
    const fatbins = readFatbins(ADDON_FILE);
    // One fatbin per .cu translation unit.
    const cuFiles = readdirSync(path.join(ROOT, 'native', 'cuda')).filter((f) => f.endsWith('.cu'));
    expect(fatbins.length).toBe(cuFiles.length);
    for (const entries of fatbins) {
      const sass = [...new Set(entries.filter((e) => e.kind === 'sass').map((e) => e.sm))].sort((a, b) => a - b);
      const ptx = [...new Set(entries.filter((e) => e.kind === 'ptx').map((e) => e.sm))];
      expect(sass).toEqual(SHIPPED_ARCHS);
      expect(ptx).toEqual([120]);
    }
  });

  it.skipIf(!expectCuda || process.platform !== 'linux' || !hasCommand('readelf', ['--version']))('cudart is linked statically: no libcudart/libcuda in DT_NEEDED', () => {
    const r = spawnSync('readelf', ['-d', ADDON_FILE], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const needed = [...r.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    expect(needed.length).toBeGreaterThan(0);
    expect(needed.filter((n) => /cuda|nvrtc|cublas/i.test(n ?? ''))).toEqual([]);
  });
});

describe('native build: one source list for CMake and node-gyp', () => {
  const listed = (text: string, varName: string) => {
    const m = new RegExp(`set\\(${varName}\\s*\\n([\\s\\S]*?)\\)`).exec(text);
    return (m?.[1] ?? '').split(/\s+/).filter(Boolean);
  };
  const onDisk = (exts: string[]) =>
    (readdirSync(path.join(ROOT, 'native'), { recursive: true }) as string[])
      .map((f) => f.split(path.sep).join('/'))
      .filter((f) => exts.some((e) => f.endsWith(e)))
      .map((f) => `native/${f}`)
      .sort();

  it('CMakeLists.txt lists every .cc/.cu under native/, and binding.gyp every .cc', () => {
    const cm = readFileSync(path.join(ROOT, 'CMakeLists.txt'), 'utf8');
    const cpu = listed(cm, 'QH_CPU_SOURCES');
    const cuda = listed(cm, 'QH_CUDA_SOURCES');
    const stub = listed(cm, 'QH_CUDA_STUB_SOURCES');
    expect([...cpu, ...cuda, ...stub].sort()).toEqual(onDisk(['.cc', '.cu']));
    const gyp = readFileSync(path.join(ROOT, 'binding.gyp'), 'utf8');
    const gypSources = [...(/'sources':\s*\[([\s\S]*?)\]/.exec(gyp)?.[1] ?? '').matchAll(/'([^']+)'/g)].map((m) => m[1]).sort();
    expect(gypSources).toEqual([...cpu, ...stub].sort());
    expect(gypSources).toEqual(onDisk(['.cc']));
  });
});

describe('native build: scripts/build-native.mjs in a scratch copy', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function scratchCopy(): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'qh-native-'));
    dirs.push(dir);
    for (const f of ['package.json', 'CMakeLists.txt', 'binding.gyp', 'native', 'scripts']) cpSync(path.join(ROOT, f), path.join(dir, f), { recursive: true });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    return dir;
  }

  function buildScript(dir: string, env: Record<string, string>, args: string[] = ['--force']) {
    const cmd = offline ? ['unshare', '-n', process.execPath] : [process.execPath];
    const r = spawnSync(cmd[0] as string, [...cmd.slice(1), path.join(dir, 'scripts', 'build-native.mjs'), ...args], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, QWEN_HYBRID_BUILDER: '', QWEN_HYBRID_CPU_ONLY: '', ...env },
    });
    return { status: r.status, stderr: r.stderr ?? '', stdout: r.stdout ?? '' };
  }

  /** buildInfo, cudaDevices and the cudaSelfTest error code of a .node, in a child process. */
  function probe(file: string) {
    const code = `const a = require(${JSON.stringify(file)});
      let st = null; try { a.cudaSelfTest(0); } catch (e) { st = e.code; }
      process.stdout.write(JSON.stringify({ keys: Object.keys(a), build: a.buildInfo(), devices: a.cudaDevices(), selfTestCode: st }));`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { keys: string[]; build: { builder: string; cuda: boolean; cudaArchs: number[] }; devices: { available: boolean; reason: string }; selfTestCode: string | null };
  }

  it('rejects an unknown QWEN_HYBRID_BUILDER, and a forced builder that is unavailable, before building', () => {
    const dir = scratchCopy();
    const bogus = buildScript(dir, { QWEN_HYBRID_BUILDER: 'bazel' });
    expect(bogus.status).toBe(1);
    expect(bogus.stderr).toContain('QWEN_HYBRID_BUILDER=bazel is not valid');
    const noCmake = buildScript(dir, { QWEN_HYBRID_BUILDER: 'cmake', QWEN_HYBRID_CMAKE: path.join(dir, 'no-such-cmake') });
    expect(noCmake.status).toBe(1);
    expect(noCmake.stderr).toMatch(/QWEN_HYBRID_BUILDER=cmake but CMake is unavailable: .*no-such-cmake not found/);
    expect(existsSync(path.join(dir, 'build'))).toBe(false);
  });

  it('without CMake it chooses node-gyp, says why, and builds a CPU-only addon from the same sources', () => {
    const dir = scratchCopy();
    const r = buildScript(dir, { QWEN_HYBRID_CMAKE: path.join(dir, 'no-such-cmake') });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/qwen-hybrid: building with node-gyp \(.*no-such-cmake not found\), CUDA: off/);
    const p = probe(path.join(dir, 'build', 'Release', 'qwen_hybrid.node'));
    expect(p.keys.sort()).toEqual([...NATIVE_EXPORTS].sort());
    expect(p.build.builder).toBe('node-gyp');
    expect(p.build.cuda).toBe(false);
    expect(p.build.cudaArchs).toEqual([]);
    expect(p.devices).toMatchObject({ available: false, reason: 'CUDA not compiled in' });
    expect(p.selfTestCode).toBe('NO_CUDA_DEVICE');
    // Without --force an existing build is kept.
    const again = buildScript(dir, { QWEN_HYBRID_CMAKE: path.join(dir, 'no-such-cmake') }, []);
    expect(again.status).toBe(0);
    expect(again.stderr).toContain('already built');
  });

  it.skipIf(!cmakeOnPath)('a failed cmake-js build exits non-zero, tries no other builder, and leaves no addon', () => {
    const dir = scratchCopy();
    writeFileSync(path.join(dir, 'native', 'core', 'build_info.cc'), 'this is not C++;\n');
    const r = buildScript(dir, { QWEN_HYBRID_CPU_ONLY: '1' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('qwen-hybrid: building with cmake-js');
    expect(r.stderr).toContain('qwen-hybrid: native build FAILED: cmake-js build failed');
    expect(r.stderr + r.stdout).not.toMatch(/node-gyp|gyp info/);
    expect(existsSync(path.join(dir, 'build', 'Release', 'qwen_hybrid.node'))).toBe(false);
  });

  it.skipIf(!cmakeOnPath)('QWEN_HYBRID_CPU_ONLY=1 with cmake-js builds without CUDA even where nvcc exists', () => {
    const dir = scratchCopy();
    const r = buildScript(dir, { QWEN_HYBRID_BUILDER: 'cmake', QWEN_HYBRID_CPU_ONLY: '1' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/qwen-hybrid: building with cmake-js \(QWEN_HYBRID_BUILDER=cmake, cmake \d+\.\d+\.\d+ found\), CUDA: off \(QWEN_HYBRID_CPU_ONLY=1\)/);
    const p = probe(path.join(dir, 'build', 'Release', 'qwen_hybrid.node'));
    expect(p.build.builder).toBe('cmake-js');
    expect(p.build.cuda).toBe(false);
    expect(p.devices).toMatchObject({ available: false, reason: 'CUDA not compiled in' });
  });
});
