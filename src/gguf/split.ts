/**
 * Split GGUF models: `<prefix>-00001-of-0000N.gguf` … (llama.cpp's `%s-%05d-of-%05d.gguf`). Each shard is a
 * complete GGUF holding a subset of the tensors; shard 0 carries the model metadata. gguf-split writes
 * u16 `split.no` (0-based), u16 `split.count` and i32 `split.tensors.count` (the total over all shards).
 */
import { basename, dirname, join } from 'node:path';
import { GGUFError, QwenHybridError } from '../errors.js';
import { getUint } from './metadata.js';
import { readGGUF, type ReadGGUFOptions } from './reader.js';
import type { GGUFFile, GGUFMetadataValue, GGUFTensorInfo } from './types.js';

export const SPLIT_NO_KEY = 'split.no';
export const SPLIT_COUNT_KEY = 'split.count';
export const SPLIT_TENSORS_COUNT_KEY = 'split.tensors.count';

/** A tensor of a (possibly split) model, with the shard that holds its data. */
export interface GGUFModelTensor extends GGUFTensorInfo {
  /** 0-based shard index. */
  readonly shard: number;
  /** Path of the shard file; `offset` is absolute within it. */
  readonly path: string;
}

export interface GGUFModel {
  /** In shard order; one entry for a non-split file. */
  readonly shards: readonly GGUFFile[];
  /** Metadata of shard 0 (the model metadata). */
  readonly metadata: ReadonlyMap<string, GGUFMetadataValue>;
  /** All tensors, shard by shard, in tensor-table order. */
  readonly tensors: readonly GGUFModelTensor[];
}

const SPLIT_RE = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/;

/** Parses a shard path: `{ prefix, no (1-based), count }`, or undefined when the name is not a shard name. */
export function parseSplitPath(path: string): { prefix: string; no: number; count: number } | undefined {
  const m = SPLIT_RE.exec(basename(path));
  if (!m) return undefined;
  return { prefix: join(dirname(path), m[1]!), no: Number(m[2]), count: Number(m[3]) };
}

/** `<prefix>-%05d-of-%05d.gguf` for a 1-based shard number. */
export function splitPath(prefix: string, no: number, count: number): string {
  return `${prefix}-${String(no).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.gguf`;
}

function splitError(file: string, message: string, details: Record<string, unknown> = {}): never {
  throw new GGUFError('GGUF_SPLIT_ERROR', `${file}: ${message}`, { file, ...details });
}

/** Checks `split.*` of shard `index` (0-based) of `count`; returns its `split.tensors.count` if present. */
function checkShard(f: GGUFFile, index: number, count: number): number | undefined {
  const no = getUint(f, SPLIT_NO_KEY, { optional: true });
  const n = getUint(f, SPLIT_COUNT_KEY, { optional: true });
  const total = getUint(f, SPLIT_TENSORS_COUNT_KEY, { optional: true });
  if (count === 1 && n === undefined) {
    if (no !== undefined && no !== 0) splitError(f.path, `${SPLIT_NO_KEY}=${no} in a file that is not split`, { key: SPLIT_NO_KEY });
    return total;
  }
  if (n === undefined) splitError(f.path, `shard ${index + 1} of ${count} has no ${SPLIT_COUNT_KEY}`, { key: SPLIT_COUNT_KEY });
  if (n !== count) splitError(f.path, `${SPLIT_COUNT_KEY}=${n} but the model has ${count} shards`, { key: SPLIT_COUNT_KEY });
  if (no === undefined) splitError(f.path, `shard ${index + 1} of ${count} has no ${SPLIT_NO_KEY}`, { key: SPLIT_NO_KEY });
  if (no !== index) splitError(f.path, `${SPLIT_NO_KEY}=${no} but this is shard ${index + 1} of ${count} (expected ${SPLIT_NO_KEY}=${index}, 0-based)`, { key: SPLIT_NO_KEY });
  return total;
}

/**
 * Opens a model given any shard's path (or a plain file): reads every shard's header and checks the split
 * metadata, that no shard is missing, and that no tensor appears twice.
 */
export async function readGGUFModel(path: string, options: ReadGGUFOptions = {}): Promise<GGUFModel> {
  const parsed = parseSplitPath(path);
  let paths: string[];
  if (parsed && parsed.count > 1) {
    if (parsed.no < 1 || parsed.no > parsed.count) splitError(path, `shard number ${parsed.no} is outside 1..${parsed.count}`);
    paths = Array.from({ length: parsed.count }, (_, i) => splitPath(parsed.prefix, i + 1, parsed.count));
  } else {
    if (parsed && parsed.count === 0) splitError(path, 'shard count 0 in the file name');
    paths = [path];
  }

  const shards: GGUFFile[] = [];
  for (const [i, p] of paths.entries()) {
    try {
      shards.push(await readGGUF(p, options));
    } catch (e) {
      if (e instanceof QwenHybridError && e.code === 'FILE_NOT_FOUND' && paths.length > 1) {
        splitError(p, `shard ${i + 1} of ${paths.length} is missing (opened from ${path})`, { shard: i });
      }
      throw e;
    }
  }

  if (paths.length === 1) {
    // A plain name: refuse a file that says it is one shard of several (its siblings cannot be found by name).
    const f = shards[0]!;
    const n = getUint(f, SPLIT_COUNT_KEY, { optional: true });
    if (n !== undefined && n > 1) {
      splitError(path, `file is shard ${getUint(f, SPLIT_NO_KEY, { optional: true }) ?? '?'} of ${SPLIT_COUNT_KEY}=${n} but its name does not follow <prefix>-NNNNN-of-NNNNN.gguf`, { key: SPLIT_COUNT_KEY });
    }
  }

  const totals = shards.map((f, i) => checkShard(f, i, paths.length));
  const declared = totals[0];
  if (paths.length > 1 && declared === undefined) splitError(paths[0]!, `shard 1 of ${paths.length} has no ${SPLIT_TENSORS_COUNT_KEY}`, { key: SPLIT_TENSORS_COUNT_KEY });
  totals.forEach((t, i) => {
    if (t !== undefined && t !== declared) splitError(paths[i]!, `${SPLIT_TENSORS_COUNT_KEY}=${t} disagrees with shard 1 (${declared})`, { key: SPLIT_TENSORS_COUNT_KEY });
  });

  const tensors: GGUFModelTensor[] = [];
  const owner = new Map<string, number>();
  shards.forEach((f, shard) => {
    for (const t of f.tensors) {
      const prev = owner.get(t.name);
      if (prev !== undefined) splitError(f.path, `tensor '${t.name}' is also in shard ${prev + 1} (${paths[prev]})`, { tensor: t.name, shard });
      owner.set(t.name, shard);
      tensors.push({ ...t, shard, path: f.path });
    }
  });
  if (declared !== undefined && declared !== tensors.length) {
    splitError(paths[0]!, `${SPLIT_TENSORS_COUNT_KEY}=${declared} but the ${shards.length} shard(s) hold ${tensors.length} tensors`, { key: SPLIT_TENSORS_COUNT_KEY });
  }
  return { shards, metadata: shards[0]!.metadata, tensors };
}
