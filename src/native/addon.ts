/**
 * Loads build/Release/qwen_hybrid.node (through `bindings`) once per process and hands out the
 * typed addon. Load failures become QwenHybridError NATIVE_ADDON_NOT_BUILT (no file found) or
 * NATIVE_ADDON_LOAD_FAILED (a file exists but does not load, or is stale).
 * Env QWEN_HYBRID_ADDON=<path of a .node> loads that file instead (the ASan/UBSan build of `npm run test:asan`).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import bindings from 'bindings';

import { QwenHybridError } from '../errors.js';
import { NATIVE_EXPORTS } from './types.js';
import type { BuildInfo, CudaDeviceList, CudaSelfTestResult, NativeAddon } from './types.js';

/** Package root: this file is src/native/addon.ts or dist/native/addon.js. */
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILD_HINT = 'build it with `npm run build:native` (needs a C++17 compiler, and CMake >= 3.18 or node-gyp)';

let cached: { addon: NativeAddon; path: string } | null = null;

/** The loaded addon; throws NATIVE_ADDON_NOT_BUILT / NATIVE_ADDON_LOAD_FAILED. */
export function loadNativeAddon(): NativeAddon {
  return load().addon;
}

/** Absolute path of the .node file that was loaded. */
export function nativeAddonPath(): string {
  return load().path;
}

function load(): { addon: NativeAddon; path: string } {
  if (cached) return cached;
  let mod: Record<string, unknown>;
  const override = process.env.QWEN_HYBRID_ADDON;
  if (override) {
    const file = path.resolve(PACKAGE_ROOT, override);
    if (!existsSync(file)) throw new QwenHybridError('NATIVE_ADDON_NOT_BUILT', `QWEN_HYBRID_ADDON=${override}: ${file} does not exist`, { file });
    try {
      mod = createRequire(import.meta.url)(file) as Record<string, unknown>;
    } catch (e) {
      throw new QwenHybridError('NATIVE_ADDON_LOAD_FAILED', `QWEN_HYBRID_ADDON=${override}: ${file} failed to load: ${(e as Error)?.message ?? String(e)}`, { file }, { cause: e });
    }
    return finishLoad(mod, file);
  }
  try {
    mod = bindings({ bindings: 'qwen_hybrid', module_root: PACKAGE_ROOT }) as Record<string, unknown>;
  } catch (e) {
    const tries = (e as { tries?: unknown }).tries;
    if (Array.isArray(tries)) {
      throw new QwenHybridError('NATIVE_ADDON_NOT_BUILT', `qwen-hybrid native addon qwen_hybrid.node not found under ${PACKAGE_ROOT}; ${BUILD_HINT}`, { packageRoot: PACKAGE_ROOT, tried: tries }, { cause: e });
    }
    throw new QwenHybridError('NATIVE_ADDON_LOAD_FAILED', `qwen-hybrid native addon failed to load: ${(e as Error)?.message ?? String(e)}; rebuild it with \`npm run build:native\``, { packageRoot: PACKAGE_ROOT }, { cause: e });
  }
  // bindings() adds `path` to the module's exports object; keep the export list the addon's own.
  const file = typeof mod.path === 'string' ? mod.path : path.join(PACKAGE_ROOT, 'build', 'Release', 'qwen_hybrid.node');
  delete mod.path;
  return finishLoad(mod, file);
}

function finishLoad(mod: Record<string, unknown>, file: string): { addon: NativeAddon; path: string } {
  const missing = NATIVE_EXPORTS.filter((name) => typeof mod[name] !== 'function');
  if (missing.length > 0) {
    throw new QwenHybridError('NATIVE_ADDON_LOAD_FAILED', `qwen-hybrid native addon ${file} is stale: missing export(s) ${missing.join(', ')}; rebuild it with \`npm run build:native\``, { file, missing });
  }
  cached = { addon: mod as unknown as NativeAddon, path: file };
  return cached;
}

export interface NativeInfo {
  /** Absolute path of the loaded .node file. */
  path: string;
  build: BuildInfo;
  devices: CudaDeviceList;
}

/** Build facts and CUDA devices in one object, for `qwen-hybrid inspect`/bench reports. */
export function nativeInfo(): NativeInfo {
  const { addon, path: file } = load();
  return { path: file, build: addon.buildInfo(), devices: addon.cudaDevices() };
}

/**
 * cudaSelfTest with the addon's coded Errors turned into QwenHybridError
 * (NO_CUDA_DEVICE, INVALID_ARGUMENT). A kernel that ran but computed wrong values is { ok: false }.
 */
export function cudaSelfTest(deviceIndex: number): CudaSelfTestResult {
  const addon = loadNativeAddon();
  try {
    return addon.cudaSelfTest(deviceIndex);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'NO_CUDA_DEVICE' || code === 'INVALID_ARGUMENT') {
      throw new QwenHybridError(code, (e as Error).message, { deviceIndex }, { cause: e });
    }
    throw e;
  }
}
