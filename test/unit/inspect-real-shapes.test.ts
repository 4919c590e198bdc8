/**
 * `inspect` on real-shape Qwen3.6-27B and Qwen3.6-35B-A3B headers (sparse files of the real size; no weight
 * bytes written) against the figures of spec §1.3 (parameter counts), §1.5 (per-sequence state) and §1.4
 * (estimated Q4_K_M file sizes). The tensor table comes from the tiny-model generator at real shapes with the
 * real 248,320-token vocabulary rows.
 */
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeGGUFHeader } from '../../src/gguf/writer.js';
import { inspectModel } from '../../src/model/inspect.js';
import { tinyModelConfig, tinyModelMetadata, type TinyModelOptions } from '../../src/model/tiny/index.js';

const VOCAB = 248320;
const MiB = 2 ** 20;
const base = { seed: 1, headDim: 256, nRot: 64, ropeSections: [11, 11, 10, 0] as const, ssmNK: 16, ssmHeadDim: 128, mtp: true };
const Q27: TinyModelOptions = { ...base, name: 'Qwen3.6-27B-shape', arch: 'qwen35', nEmbd: 5120, nTrunk: 64, nHead: 24, nHeadKv: 4, ssmNV: 48, nFF: 17408, contextLength: 262144 };
const Q35: TinyModelOptions = { ...base, name: 'Qwen3.6-35B-A3B-shape', arch: 'qwen35moe', nEmbd: 2048, nTrunk: 40, nHead: 16, nHeadKv: 2, ssmNV: 32, nExpert: 256, nExpertUsed: 8, nFFExp: 512, nFFShexp: 512, contextLength: 262144 };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qh-real-shapes-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes the header and extends the file to its full size (sparse: no data blocks on disk). */
async function writeSparseModel(opts: TinyModelOptions): Promise<string> {
  const c = tinyModelConfig(opts);
  const tensors = c.tensors.map((t) =>
    t.name === 'token_embd.weight' || t.name === 'output.weight' ? { ...t, shape: [t.shape[0]!, VOCAB] } : t,
  );
  const { header, totalSize } = encodeGGUFHeader({ metadata: tinyModelMetadata(c), tensors });
  const path = join(dir, `${opts.arch}.gguf`);
  const fh = await open(path, 'w');
  try {
    await fh.write(header, 0, header.length, 0);
    await fh.truncate(totalSize);
  } finally {
    await fh.close();
  }
  return path;
}

describe('inspect at real shapes', () => {
  it('Qwen3.6-27B: parameters, layers, state and file size as the spec computes them', async () => {
    const r = await inspectModel(await writeSparseModel(Q27), { contextLengths: [32768] });
    expect(r.tensorCount).toBe(866); // spec §2.4, with MTP
    expect(r.parameters.trunk).toBe(26_895_998_464); // spec §1.3 total (no MTP, no vision)
    expect(r.parameters.mtp).toBe(424_699_392);
    const c = r.config!;
    expect([c.nTrunk, c.nNextn]).toEqual([64, 1]);
    expect(c.layerKinds.filter((k) => k === 'attention').length).toBe(16);
    // §1.5: GDN state 48 × 3 MiB, conv state 48 × 120 KiB, f16 KV 64 KiB per token.
    expect(r.memory[0]!.recurrentStateBytes).toBe(48 * 3 * MiB + 48 * 120 * 1024);
    expect(r.memory[0]!.kvCacheBytes).toBe(32768 * 64 * 1024);
    // §1.4: Q4_K_M file ≈ 16.8 GB (estimate, weights only, with MTP).
    expect(r.fileSize / 1e9).toBeGreaterThan(16.8 * 0.97);
    expect(r.fileSize / 1e9).toBeLessThan(16.8 * 1.03);
    expect(r.fileType).toBe('Q4_K_M');
  });

  it('Qwen3.6-35B-A3B: parameters, experts, state and file size as the spec computes them', async () => {
    const r = await inspectModel(await writeSparseModel(Q35), { contextLengths: [32768] });
    expect(r.tensorCount).toBe(753);
    expect(r.parameters.trunk).toBe(34_660_610_688);
    expect(r.parameters.mtp).toBe(844_640_768);
    const c = r.config!;
    expect(c.ffn).toEqual({ kind: 'moe', nExpert: 256, nExpertUsed: 8, nFfExpert: 512, nFfShared: 512 });
    expect(r.memory[0]!.recurrentStateBytes).toBe(30 * 2 * MiB + 30 * 96 * 1024);
    expect(r.memory[0]!.kvCacheBytes).toBe(32768 * 20 * 1024);
    expect(r.fileSize / 1e9).toBeGreaterThan(21.7 * 0.97);
    expect(r.fileSize / 1e9).toBeLessThan(21.7 * 1.03);
  });
});
