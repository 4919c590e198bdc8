/**
 * Random tensor data for test models: valid blocks of any QUANTIZE_TYPES type with realistic scales.
 *
 * Method: draw normal(0, rms) values, make every quantization sub-block (32 elements; 16 for Q6_K) exactly
 * zero-mean (rescaled by √(k/(k−1)) to keep the variance), then run the quantizer with `normalScales`.
 * Why quantize instead of constructing blocks directly: the scales, mins and level histograms are then
 * those a real quantized weight of the same distribution has (mins ≈ d·sc·7.5 for Q4_K, every level used,
 * extreme levels rare), which is what keeps random models non-degenerate (oracle doc: fully random mins
 * give a few dominating tokens); the quantizer is fast enough (2048×8192 Q4_K ≈ 1.5 s).
 * F32/F16/BF16: plain normal(0, rms) values in that encoding (no centering).
 */
import { GGMLType, ggmlTypeName, ggmlTypeTraits } from '../gguf/types.js';
import { QwenHybridError } from '../errors.js';
import type { Rng } from './rng.js';
import { QUANTIZE_TYPES, quantize } from './quantize.js';

export interface RandomTensorOptions {
  /** Target RMS of the dequantized values; default 1/sqrt(shape[0]) (fan-in). */
  rms?: number;
}

// Rows are generated and quantized in chunks of about this many elements (bounded scratch memory).
const CHUNK_ELEMS = 1 << 20;

/**
 * `shape` is ggml `ne` (ne0 first); returns ggmlTensorBytes(type, shape) bytes. Deterministic for a given
 * rng state, type, shape and rms.
 * @throws QwenHybridError INVALID_ARGUMENT for an unsupported type, a bad shape (ne0 not a multiple of the
 *   block size) or a bad rms.
 */
export function randomTensorData(type: GGMLType, shape: readonly number[], rng: Rng, opts?: RandomTensorOptions): Uint8Array {
  const t = ggmlTypeTraits(type);
  if (!t || !QUANTIZE_TYPES.includes(type)) {
    throw new QwenHybridError('INVALID_ARGUMENT', `randomTensorData: unsupported tensor type ${ggmlTypeName(type)}`, { parameter: 'type', type });
  }
  if (shape.length === 0 || shape.some((d) => !Number.isSafeInteger(d) || d <= 0)) {
    throw new QwenHybridError('INVALID_ARGUMENT', `randomTensorData: shape [${shape.join(', ')}] must be non-empty positive integers`, { parameter: 'shape', shape: [...shape] });
  }
  const ne0 = shape[0]!;
  if (ne0 % t.blockSize !== 0) {
    throw new QwenHybridError('INVALID_ARGUMENT', `randomTensorData: ne0 ${ne0} is not a multiple of the ${t.name} block size ${t.blockSize}`, { parameter: 'shape', shape: [...shape], type });
  }
  const rms = opts?.rms ?? 1 / Math.sqrt(ne0);
  if (!Number.isFinite(rms) || rms <= 0) {
    throw new QwenHybridError('INVALID_ARGUMENT', `randomTensorData: rms must be a positive finite number, got ${rms}`, { parameter: 'rms', rms });
  }
  let rows = 1;
  for (let i = 1; i < shape.length; i++) rows *= shape[i]!;
  const rowBytes = (ne0 / t.blockSize) * t.blockBytes;
  const out = new Uint8Array(rowBytes * rows);

  const isFloat = type === GGMLType.F32 || type === GGMLType.F16 || type === GGMLType.BF16;
  const sub = type === GGMLType.Q6_K ? 16 : 32; // centering unit = quantization sub-block
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_ELEMS / ne0));
  const buf = new Float64Array(Math.min(rows, rowsPerChunk) * ne0);
  const gain = rms * Math.sqrt(sub / (sub - 1)); // centering k samples scales the variance by (k−1)/k

  for (let r0 = 0; r0 < rows; r0 += rowsPerChunk) {
    const nr = Math.min(rowsPerChunk, rows - r0);
    const n = nr * ne0;
    const chunk = n === buf.length ? buf : buf.subarray(0, n);
    if (isFloat) {
      for (let i = 0; i < n; i++) chunk[i] = rms * rng.normal();
    } else {
      for (let o = 0; o < n; o += sub) {
        let mean = 0;
        for (let i = 0; i < sub; i++) {
          const v = rng.normal();
          chunk[o + i] = v;
          mean += v;
        }
        mean /= sub;
        for (let i = 0; i < sub; i++) chunk[o + i] = gain * (chunk[o + i]! - mean);
      }
    }
    out.set(quantize(type, chunk, { normalScales: true }), r0 * rowBytes);
  }
  return out;
}
