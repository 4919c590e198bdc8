/**
 * The built-in demo model: a tiny qwen35 GGUF with RANDOM weights, generated on first use and cached, so the
 * CLI, the README's first command and library examples work without downloading anything. Its outputs are
 * meaningless.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { QwenHybridError, isQwenHybridError } from '../errors.js';
import { writeGGUF } from '../gguf/writer.js';
import { TINY_PRESETS, generateTinyModel, type TinyPresetName } from './tiny/index.js';

/** Preset used for the demo model: a dense qwen35 with the Q4_K_M type mix. */
export const DEMO_PRESET: TinyPresetName = 'dense-r2';

/** `$QWEN_HYBRID_CACHE`, else `$XDG_CACHE_HOME/qwen-hybrid`, else `~/.cache/qwen-hybrid`. */
export function cacheDir(): string {
  const env = process.env;
  if (env.QWEN_HYBRID_CACHE) return env.QWEN_HYBRID_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'qwen-hybrid');
}

/** One generation per path at a time within this process. */
const inFlight = new Map<string, Promise<{ path: string; generated: boolean }>>();

/**
 * Path of the demo model, generating it when missing: written to `<cache>/.demo-<pid>-<random>.tmp`, then renamed
 * (atomic on POSIX, so racing processes each land a complete, identical file). The temp file never outlives the
 * call, also on error.
 */
export function ensureDemoModel(): Promise<{ path: string; generated: boolean }> {
  const dir = cacheDir();
  const path = join(dir, `demo-${DEMO_PRESET}-v1.gguf`);
  let p = inFlight.get(path);
  if (!p) {
    p = materialize(dir, path).finally(() => inFlight.delete(path));
    inFlight.set(path, p);
  }
  return p;
}

/**
 * Path of the built-in demo model (random weights; generated into the cache directory on first use, about 2 MB),
 * for trying the library without a download:
 *
 *   const model = await loadModel(await demoModelPath());
 */
export async function demoModelPath(): Promise<string> {
  return (await ensureDemoModel()).path;
}

async function materialize(dir: string, path: string): Promise<{ path: string; generated: boolean }> {
  if (await isFile(path)) return { path, generated: false };
  // Filesystem failures (an unwritable cache, a full disk, a directory where the file goes) are FILE_WRITE_ERROR
  // naming the path (QWEN_HYBRID_CACHE moves the cache).
  const fsError = (what: string, target: string, e: unknown): QwenHybridError =>
    isQwenHybridError(e) ? e : new QwenHybridError('FILE_WRITE_ERROR', `demo model: cannot ${what} ${target}: ${(e as Error)?.message ?? String(e)} (set QWEN_HYBRID_CACHE to use another cache directory)`, { file: target }, { cause: e });
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw fsError('create the cache directory', dir, e);
  }
  const tmp = join(dir, `.demo-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    try {
      await writeGGUF(tmp, generateTinyModel(TINY_PRESETS[DEMO_PRESET]).quantized);
    } catch (e) {
      throw fsError('write', tmp, e);
    }
    try {
      await rename(tmp, path);
    } catch (e) {
      throw fsError('move the demo model to', path, e);
    }
  } finally {
    await rm(tmp, { force: true });
  }
  return { path, generated: true };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
