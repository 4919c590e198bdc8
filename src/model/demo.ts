/**
 * The built-in demo model: a tiny qwen35 GGUF with RANDOM weights, generated on first use and cached, so the
 * CLI and the README's first command work without downloading anything. Its outputs are meaningless.
 */
import { mkdir, rename, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { TINY_PRESETS, writeTinyModel, type TinyPresetName } from './tiny/index.js';

/** Preset used for the demo model: a dense qwen35 with the Q4_K_M type mix. */
export const DEMO_PRESET: TinyPresetName = 'dense-r2';

/** `$QWEN_HYBRID_CACHE`, else `$XDG_CACHE_HOME/qwen-hybrid`, else `~/.cache/qwen-hybrid`. */
export function cacheDir(): string {
  const env = process.env;
  if (env.QWEN_HYBRID_CACHE) return env.QWEN_HYBRID_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'qwen-hybrid');
}

/** Path of the demo model, generating it (atomically: temp dir + rename) when missing. */
export async function ensureDemoModel(): Promise<{ path: string; generated: boolean }> {
  const preset = TINY_PRESETS[DEMO_PRESET];
  const dir = cacheDir();
  const path = join(dir, `demo-${DEMO_PRESET}-v1.gguf`);
  try {
    await stat(path);
    return { path, generated: false };
  } catch {
    /* generate below */
  }
  const tmp = join(dir, `.tmp-${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  const written = await writeTinyModel(tmp, preset);
  await rename(written.path, path);
  return { path, generated: true };
}
