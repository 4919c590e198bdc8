/**
 * On-disk cache of generated tiny models: os.tmpdir()/qwen-hybrid-test-cache/<name>-<hash>{.gguf,.f32.gguf}.
 * The hash covers the options, TINY_GENERATOR_VERSION and the source of everything that shapes the bytes
 * (generator, quant references, tiny vocab, GGUF writer), so an edit regenerates instead of reusing stale files.
 * Safe when several vitest workers race: each writes to a unique temp name and renames (atomic on POSIX);
 * both writers produce identical bytes, so whichever rename lands last is equally valid.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeGGUF } from '../../src/gguf/writer.js';
import {
  TINY_GENERATOR_VERSION,
  TINY_PRESETS,
  generateTinyModel,
  tinyModelConfig,
  type TinyModelConfig,
  type TinyModelOptions,
  type TinyPresetName,
} from '../../src/model/tiny/index.js';

export interface CachedTinyModel {
  /** The quantized model. */
  readonly path: string;
  /** Its exact-F32 twin. */
  readonly twinPath: string;
  readonly config: TinyModelConfig;
}

export const MODEL_CACHE_DIR = join(tmpdir(), 'qwen-hybrid-test-cache');

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE_DIRS = ['src/model/tiny', 'src/quant'];
const SOURCE_FILES = ['src/tokenizer/tiny-vocab.ts', 'src/tokenizer/bytes.ts', 'src/gguf/writer.ts', 'src/gguf/types.ts'];

let sourceHash: string | undefined;
function generatorSourceHash(): string {
  if (sourceHash !== undefined) return sourceHash;
  const h = createHash('sha256');
  const files = [...SOURCE_FILES];
  for (const d of SOURCE_DIRS) {
    for (const f of readdirSync(join(repoRoot, d)).sort()) if (f.endsWith('.ts')) files.push(`${d}/${f}`);
  }
  for (const f of files) {
    const p = join(repoRoot, f);
    h.update(f);
    h.update(existsSync(p) ? readFileSync(p) : 'missing');
  }
  sourceHash = h.digest('hex');
  return sourceHash;
}

function cacheKey(opts: TinyModelOptions): string {
  return createHash('sha256')
    .update(JSON.stringify(opts))
    .update(`v${TINY_GENERATOR_VERSION}`)
    .update(generatorSourceHash())
    .digest('hex')
    .slice(0, 16);
}

const inFlight = new Map<string, Promise<CachedTinyModel>>();

/** A tiny model for arbitrary options, generated once per (options, generator source). */
export function getTinyModelFor(opts: TinyModelOptions): Promise<CachedTinyModel> {
  const stem = `${opts.name}-${cacheKey(opts)}`;
  let p = inFlight.get(stem);
  if (!p) {
    p = materialize(stem, opts);
    inFlight.set(stem, p);
    p.catch(() => inFlight.delete(stem));
  }
  return p;
}

/** A preset's tiny model (quantized + F32 twin) from the cache, generating it on first use. */
export function getTinyModel(presetName: TinyPresetName): Promise<CachedTinyModel> {
  const opts = TINY_PRESETS[presetName];
  if (!opts) throw new Error(`unknown tiny preset '${String(presetName)}'`);
  return getTinyModelFor(opts);
}

async function materialize(stem: string, opts: TinyModelOptions): Promise<CachedTinyModel> {
  await mkdir(MODEL_CACHE_DIR, { recursive: true });
  const path = join(MODEL_CACHE_DIR, `${stem}.gguf`);
  const twinPath = join(MODEL_CACHE_DIR, `${stem}.f32.gguf`);
  if (existsSync(path) && existsSync(twinPath)) return { path, twinPath, config: tinyModelConfig(opts) };
  const m = generateTinyModel(opts);
  const tag = `${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const tmpQ = `${path}.${tag}`;
  const tmpT = `${twinPath}.${tag}`;
  try {
    await writeGGUF(tmpT, m.f32Twin);
    await writeGGUF(tmpQ, m.quantized);
    await rename(tmpT, twinPath);
    await rename(tmpQ, path);
  } finally {
    await rm(tmpQ, { force: true });
    await rm(tmpT, { force: true });
  }
  await pruneStale(opts.name, stem);
  return { path, twinPath, config: m.config };
}

/** Deletes this model's files from older option/source versions (same name, other hash). */
async function pruneStale(name: string, keepStem: string): Promise<void> {
  const re = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-[0-9a-f]{16}(\\.f32)?\\.gguf$`);
  for (const f of await readdir(MODEL_CACHE_DIR)) {
    if (re.test(f) && !f.startsWith(`${keepStem}.`)) await rm(join(MODEL_CACHE_DIR, f), { force: true });
  }
}
