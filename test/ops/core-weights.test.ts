/**
 * Weights: copied from bytes, or memory-mapped zero-copy from a GGUF (offsets from our GGUF reader). Errors:
 * tensor bytes outside the file → GGUF_TENSOR_OUT_OF_BOUNDS naming the tensor and the file; a size that does
 * not match type × shape → BAD_TENSOR; a missing file → FILE_NOT_FOUND.
 * Zero-copy is shown two ways: mapping (and running a plan over) a 2 GiB sparse file does not grow the process
 * RSS by anything like the file size, and bytes changed in the file after mapping are what the next run reads.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync, ftruncateSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { GGMLType } from '../../src/gguf/types.js';
import { encodeGGUFHeader, readGGUF, writeGGUF } from '../../src/gguf/index.js';
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { createCpuBackend } from '../../src/runtime/index.js';
import type { WeightTensor } from '../../src/runtime/index.js';
import { randomF32, rejected, thrown } from './core-helpers.js';

const be = createCpuBackend({ threads: 2 });
const dir = mkdtempSync(path.join(os.tmpdir(), 'qh-core-weights-'));
afterAll(() => {
  be.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** y = x + W (W f32 {n} weight). */
async function addWeight(w: WeightTensor, x: Float32Array): Promise<Float32Array> {
  const g = new GraphBuilder();
  const xt = g.input('x', 'f32', [x.length]);
  const [y] = g.op(OpKind.ADD, [xt, g.weight(w)], [{ dtype: 'f32', shape: [x.length] }]);
  g.output('y', y!);
  const plan = be.compile(g.build());
  const out = (await plan.run({ x })).y as Float32Array;
  plan.dispose();
  return out;
}

describe('weights from bytes', () => {
  it('are copied: later changes to the source array do not reach the plan', async () => {
    const data = randomF32(37, 1);
    const w = be.weightFromBytes(GGMLType.F32, [37], bytesOf(data), 'bias');
    const expected = Float32Array.from(data, (v) => Math.fround(v + 1));
    data.fill(1000);
    expect([...(await addWeight(w, new Float32Array(37).fill(1)))]).toEqual([...expected]);
    w.dispose();
  });

  it('size and type mistakes are BAD_TENSOR naming the weight', () => {
    let e = thrown(() => be.weightFromBytes(GGMLType.Q4_K, [256, 2], new Uint8Array(100), 'blk.3.ffn_up.weight'));
    expect(e.code).toBe('BAD_TENSOR');
    expect(e.message).toBe("weight 'blk.3.ffn_up.weight': 100 bytes given, but a Q4_K tensor of this shape has 288");
    e = thrown(() => be.weightFromBytes(GGMLType.Q4_K, [100], new Uint8Array(144), 'w'));
    expect(e.message).toBe("weight 'w': ne0 = 100 is not a multiple of the Q4_K block size 256");
    e = thrown(() => be.weightFromBytes(GGMLType.IQ2_XXS, [256], new Uint8Array(66), 'w'));
    expect(e.message).toBe("weight 'w': unsupported tensor type id 16");
  });
});

describe('weights mapped from a GGUF', () => {
  it('serve the file bytes at the offsets the GGUF reader reports', async () => {
    const a = randomF32(64, 2), b = randomF32(33, 3);
    const file = path.join(dir, 'small.gguf');
    await writeGGUF(file, {
      metadata: {},
      tensors: [
        { name: 'a', shape: [64], type: GGMLType.F32, data: bytesOf(a) },
        { name: 'b', shape: [33], type: GGMLType.F32, data: bytesOf(b) },
      ],
    });
    const gguf = await readGGUF(file);
    const wf = await be.mapWeights(file, gguf.tensors.map((t) => ({ name: t.name, offset: t.offset, byteSize: t.byteSize, type: t.type, shape: t.shape })));
    expect(wf.names).toEqual(['a', 'b']);
    expect(wf.fileBytes).toBe(gguf.fileSize);
    const zeros = (n: number) => new Float32Array(n);
    expect([...(await addWeight(wf.get('a'), zeros(64)))]).toEqual([...a]);
    expect([...(await addWeight(wf.get('b'), zeros(33)))]).toEqual([...b]);
    expect(thrown(() => wf.get('c')).code).toBe('INVALID_ARGUMENT');
    wf.dispose();
    expect(thrown(() => wf.get('a')).code).toBe('DISPOSED');
  });

  it('a tensor whose bytes leave the file is GGUF_TENSOR_OUT_OF_BOUNDS naming the tensor, the range and the file', async () => {
    const file = path.join(dir, 'oob.gguf');
    await writeGGUF(file, { metadata: {}, tensors: [{ name: 'a', shape: [8], type: GGMLType.F32, data: new Uint8Array(32) }] });
    const g = await readGGUF(file);
    const t = g.tensors[0]!;
    let e = await rejected(be.mapWeights(file, [{ name: 'blk.0.attn_q.weight', offset: t.offset + 4, byteSize: 32, type: GGMLType.F32, shape: [8] }]));
    expect(e.code).toBe('GGUF_TENSOR_OUT_OF_BOUNDS');
    expect(e.message).toBe(`tensor 'blk.0.attn_q.weight': bytes [${t.offset + 4}, ${t.offset + 36}) lie outside ${file} (${g.fileSize} bytes)`);
    e = await rejected(be.mapWeights(file, [{ name: 'far', offset: 2 ** 40, byteSize: 4, type: GGMLType.F32, shape: [1] }]));
    expect(e.code).toBe('GGUF_TENSOR_OUT_OF_BOUNDS');
    expect(e.message).toContain("tensor 'far'");
    e = await rejected(be.mapWeights(file, [{ name: 'a', offset: t.offset, byteSize: 32, type: GGMLType.F32, shape: [9] }]));
    expect(e.code).toBe('BAD_TENSOR');
    expect(e.message).toBe("weight 'a': 32 bytes given, but a F32 tensor of this shape has 36");
    e = await rejected(be.mapWeights(path.join(dir, 'missing.gguf'), []));
    expect(e.code).toBe('FILE_NOT_FOUND');
    expect(e.message).toContain('missing.gguf');
  });

  it.skipIf(process.platform !== 'linux')('are zero-copy: a 2 GiB sparse file maps without RSS growth, and file edits show through', async () => {
    const BIG = 2 ** 29; // f32 elements: 2 GiB
    const file = path.join(dir, 'big.gguf');
    const tensors = [
      { name: 'big', shape: [BIG], type: GGMLType.F32 },
      { name: 'tail', shape: [16], type: GGMLType.F32 },
    ];
    const h = encodeGGUFHeader({ metadata: {}, tensors });
    const fd = openSync(file, 'w');
    writeSync(fd, h.header, 0, h.header.length, 0);
    ftruncateSync(fd, h.totalSize); // sparse: no data blocks written
    const tail = randomF32(16, 4);
    writeSync(fd, bytesOf(tail), 0, 64, h.tensorOffsets[1]);
    const rss0 = process.memoryUsage().rss;
    const wf = await be.mapWeights(file, tensors.map((t, i) => ({ ...t, offset: h.tensorOffsets[i]!, byteSize: t.shape[0]! * 4 })));
    // A plan over a view of the big weight (first 16 floats) and one over the tail.
    const g = new GraphBuilder();
    const big = g.weight(wf.get('big'));
    const [y] = g.op(OpKind.SCALE, [g.view(big, [16])], [{ dtype: 'f32', shape: [16] }], { f: [1, 5] });
    g.output('y', y!);
    const plan = be.compile(g.build());
    expect([...((await plan.run({})).y as Float32Array)]).toEqual(new Array(16).fill(5));
    expect([...(await addWeight(wf.get('tail'), new Float32Array(16)))]).toEqual([...tail]);
    const grown = process.memoryUsage().rss - rss0;
    expect(grown, `RSS grew by ${grown} bytes`).toBeLessThan(64 * 2 ** 20);
    // Bytes written to the file after mapping are what the mapping serves (no private copy was taken).
    const edited = Float32Array.from({ length: 16 }, (_, i) => i + 0.5);
    writeSync(fd, bytesOf(edited), 0, 64, h.tensorOffsets[0]);
    closeSync(fd);
    expect([...((await plan.run({})).y as Float32Array)]).toEqual([...edited].map((v) => v + 5));
    plan.dispose();
    wf.dispose();
  });

  it('a disposed weight cannot be added to a graph; a plan compiled before the dispose keeps its bytes', async () => {
    const data = randomF32(8, 5);
    const w = be.weightFromBytes(GGMLType.F32, [8], bytesOf(data), 'w');
    const g = new GraphBuilder();
    const x = g.input('x', 'f32', [8]);
    const [y] = g.op(OpKind.ADD, [x, g.weight(w)], [{ dtype: 'f32', shape: [8] }]);
    g.output('y', y!);
    const plan = be.compile(g.build());
    w.dispose();
    w.dispose(); // idempotent
    expect([...((await plan.run({ x: new Float32Array(8) })).y as Float32Array)]).toEqual([...data]);
    const e = thrown(() => g.build());
    expect(e.code).toBe('DISPOSED');
    expect(e.message).toBe("weight 'w' was disposed");
    plan.dispose();
  });
});
