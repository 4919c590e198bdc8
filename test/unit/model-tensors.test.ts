/**
 * loadModel checks the tensor table against the config before any compute: a missing tensor → MISSING_TENSOR,
 * a wrong shape or a type our kernels cannot read in that role → BAD_TENSOR, each naming the tensor and giving
 * expected vs found. MTP tensors (blk.{n_trunk}.*) are never required; a missing output.weight means a tied head.
 * Files are tiny presets whose tensor tables are edited before writing them with writeGGUF.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNativeAddon } from '../../src/native/addon.js';
import { QwenHybridError } from '../../src/errors.js';
import { GGMLType, ggmlTensorBytes } from '../../src/gguf/types.js';
import { meta, writeGGUF, type GGUFWriteSpec, type GGUFWriteTensor } from '../../src/gguf/writer.js';
import { loadModel } from '../../src/model/index.js';
import { TINY_PRESETS, generateTinyModel } from '../../src/model/tiny/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qh-model-tensors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const dense = generateTinyModel(TINY_PRESETS['dense-r2']).f32Twin;
const tiedMtp = generateTinyModel(TINY_PRESETS['dense-r3-tied-mtp']).quantized;
const moe = generateTinyModel(TINY_PRESETS['moe-r2']).f32Twin;

let n = 0;
async function write(spec: GGUFWriteSpec, edit: (ts: GGUFWriteTensor[]) => GGUFWriteTensor[]): Promise<string> {
  const path = join(dir, `m${n++}.gguf`);
  await writeGGUF(path, { ...spec, tensors: edit([...spec.tensors]) });
  return path;
}

const without = (name: string) => (ts: GGUFWriteTensor[]) => {
  expect(ts.some((t) => t.name === name)).toBe(true);
  return ts.filter((t) => t.name !== name);
};
const retyped = (name: string, type: GGMLType, shape?: number[]) => (ts: GGUFWriteTensor[]) =>
  ts.map((t) => {
    if (t.name !== name) return t;
    const s = shape ?? [...t.shape];
    return { name, type, shape: s, data: new Uint8Array(ggmlTensorBytes(type, s)) };
  });

async function loadError(path: string): Promise<QwenHybridError> {
  const e = await loadModel(path, { backend: 'cpu', threads: 1 }).then(
    (m) => {
      m.dispose();
      throw new Error('loadModel succeeded');
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(QwenHybridError);
  return e as QwenHybridError;
}

describe('missing tensors → MISSING_TENSOR naming the tensor', () => {
  for (const name of ['blk.0.ssm_a', 'blk.1.ssm_dt.bias', 'blk.3.attn_q_norm.weight', 'blk.2.ffn_down.weight', 'output_norm.weight', 'token_embd.weight']) {
    it(name, async () => {
      const e = await loadError(await write(dense, without(name)));
      expect(e.code).toBe('MISSING_TENSOR');
      expect(e.message).toContain(`'${name}'`);
      expect(e.details.tensor).toBe(name);
    });
  }
  it('MoE shared-expert and expert tensors', async () => {
    for (const name of ['blk.1.ffn_up_exps.weight', 'blk.3.ffn_gate_inp_shexp.weight']) {
      const e = await loadError(await write(moe, without(name)));
      expect(e.code).toBe('MISSING_TENSOR');
      expect(e.details.tensor).toBe(name);
    }
  });
});

describe('wrong shape → BAD_TENSOR with expected and found', () => {
  it('ssm_a {nv} stored as {nv/2, 2}', async () => {
    const nv = TINY_PRESETS['dense-r2'].ssmNV;
    const e = await loadError(await write(dense, retyped('blk.0.ssm_a', GGMLType.F32, [nv / 2, 2])));
    expect(e.code).toBe('BAD_TENSOR');
    expect(e.details).toMatchObject({ tensor: 'blk.0.ssm_a', expected: [nv], found: [nv / 2, 2] });
    expect(e.message).toContain(`{${nv / 2}, 2}`);
  });
  it('attn_qkv with one channel too few', async () => {
    const o = TINY_PRESETS['dense-r2'];
    const C = 2 * o.ssmNK * o.ssmHeadDim + o.ssmNV * o.ssmHeadDim;
    const e = await loadError(await write(dense, retyped('blk.2.attn_qkv.weight', GGMLType.F32, [o.nEmbd, C - 1])));
    expect(e.code).toBe('BAD_TENSOR');
    expect(e.details).toMatchObject({ tensor: 'blk.2.attn_qkv.weight', expected: [o.nEmbd, C], found: [o.nEmbd, C - 1] });
  });
  it('output.weight with a different vocabulary than token_embd', async () => {
    const o = TINY_PRESETS['dense-r2'];
    const e = await loadError(await write(dense, retyped('output.weight', GGMLType.F32, [o.nEmbd, 7])));
    expect(e.code).toBe('BAD_TENSOR');
    expect(e.details.tensor).toBe('output.weight');
  });
  it('MoE expert tensor with swapped dims', async () => {
    const o = TINY_PRESETS['moe-r2'];
    const e = await loadError(await write(moe, retyped('blk.0.ffn_gate_exps.weight', GGMLType.F32, [o.nEmbd, o.nExpert!, o.nFFExp!])));
    expect(e.code).toBe('BAD_TENSOR');
    expect(e.details).toMatchObject({ tensor: 'blk.0.ffn_gate_exps.weight', expected: [o.nEmbd, o.nFFExp, o.nExpert] });
  });
});

describe('wrong type → BAD_TENSOR', () => {
  it('a norm weight must be F32 (read as an f32 activation)', async () => {
    const e = await loadError(await write(dense, retyped('blk.1.attn_norm.weight', GGMLType.F16)));
    expect(e.code).toBe('BAD_TENSOR');
    expect(e.details).toMatchObject({ tensor: 'blk.1.attn_norm.weight', found: 'F16', expected: ['F32'] });
  });
  it('ssm_conv1d must be F32', async () => {
    const e = await loadError(await write(dense, retyped('blk.0.ssm_conv1d.weight', GGMLType.BF16)));
    expect(e.code).toBe('BAD_TENSOR');
    expect(e.details.tensor).toBe('blk.0.ssm_conv1d.weight');
  });
  it('a projection in a type no kernel implements (I32)', async () => {
    const e = await loadError(await write(dense, retyped('blk.0.ssm_out.weight', GGMLType.I32)));
    expect(e.code).toBe('BAD_TENSOR');
    expect(e.details).toMatchObject({ tensor: 'blk.0.ssm_out.weight', found: 'I32' });
  });
});

describe('what is not required', () => {
  it('a tied model (no output.weight) loads and uses token_embd as its head', async () => {
    expect(tiedMtp.tensors.some((t) => t.name === 'output.weight')).toBe(false);
    const m = await loadModel(await write(tiedMtp, (ts) => ts), { backend: 'cpu', threads: 1 });
    try {
      expect(m.tiedEmbeddings).toBe(true);
      expect(m.config.nTrunk).toBe(8);
    } finally {
      m.dispose();
    }
  });
  it('MTP tensors (blk.{n_trunk}.*) are skipped: a malformed or missing one does not matter', async () => {
    const mtp = `blk.${TINY_PRESETS['dense-r3-tied-mtp'].nTrunk}.`;
    const path = await write(tiedMtp, (ts) => ts.filter((t) => t.name !== `${mtp}nextn.enorm.weight`).map((t) => (t.name === `${mtp}attn_k_norm.weight` ? { ...t, type: GGMLType.F16, shape: [2], data: new Uint8Array(4) } : t)));
    const m = await loadModel(path, { backend: 'cpu', threads: 1 });
    m.dispose();
  });
  // Without a CUDA device (CI); test/model/backend-select.test.ts covers both cases.
  it.skipIf(loadNativeAddon().cudaDevices().available)("backend 'cuda' → NO_CUDA_DEVICE before reading anything; 'auto' → CPU with a reason", async () => {
    const e = await loadModel(join(dir, 'does-not-exist.gguf'), { backend: 'cuda' }).catch((x: unknown) => x);
    expect((e as QwenHybridError).code).toBe('NO_CUDA_DEVICE');
    const m = await loadModel(await write(dense, (ts) => ts), { backend: 'auto', threads: 1 });
    expect(m.backend).toBe('cpu');
    expect(m.backendReason).toMatch(/CPU/);
    m.dispose();
  });
  it('load options: progress stages, an aborted signal → ABORTED, bad numbers → INVALID_ARGUMENT', async () => {
    const path = await write(dense, (ts) => ts);
    const stages: string[] = [];
    const m = await loadModel(path, { backend: 'cpu', threads: 1, contextSize: 32, onProgress: (p) => stages.push(`${p.stage}:${p.done}/${p.total}`) });
    expect(stages).toContain('map:1/1');
    expect(stages.at(-1)).toBe('ready:1/1');
    expect(m.contextSize).toBe(32);
    expect(m.createSession().contextSize).toBe(32);
    m.dispose();
    const ac = new AbortController();
    ac.abort();
    expect(((await loadModel(path, { signal: ac.signal }).catch((e: unknown) => e)) as QwenHybridError).code).toBe('ABORTED');
    for (const bad of [{ contextSize: 0 }, { batchSize: 1.5 }, { threads: -1 }, { kvCacheType: 'q8' as never }]) {
      expect(((await loadModel(path, bad).catch((e: unknown) => e)) as QwenHybridError).code, JSON.stringify(bad)).toBe('INVALID_ARGUMENT');
    }
  });
  it('a split model (2 shards) maps each shard and computes what the single file computes', async () => {
    const single = await write(moe, (ts) => ts);
    const md = [...(Array.isArray(moe.metadata) ? moe.metadata : Object.entries(moe.metadata))] as [string, ReturnType<typeof meta.u32>][];
    const half = Math.floor(moe.tensors.length / 2);
    const split = (no: number) => [[ 'split.no', meta.u16(no) ], [ 'split.count', meta.u16(2) ], [ 'split.tensors.count', meta.i32(moe.tensors.length) ]] as [string, ReturnType<typeof meta.u32>][];
    const prefix = join(dir, 'split-moe');
    await writeGGUF(`${prefix}-00001-of-00002.gguf`, { metadata: [...md, ...split(0)], tensors: moe.tensors.slice(0, half) });
    await writeGGUF(`${prefix}-00002-of-00002.gguf`, { metadata: split(1), tensors: moe.tensors.slice(half) });
    const tokens = [5, 77, 300, 1000, 42, 9];
    const run = async (path: string) => {
      await using m = await loadModel(path, { backend: 'cpu', threads: 1, kvCacheType: 'f32' });
      await using s = m.createSession();
      return await s.evaluate(tokens, { logits: 'all' });
    };
    const a = await run(single);
    const b = await run(`${prefix}-00002-of-00002.gguf`);
    expect(b.length).toBe(a.length);
    b.forEach((row, i) => expect(Array.from(row)).toEqual(Array.from(a[i]!)));
  });
});
