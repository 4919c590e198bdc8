/**
 * Quantization references: half conversions, a seeded RNG, float64 (and ggml-order f32) dequantization,
 * random valid blocks and quantizers for the GGUF block formats of spec §4.
 */
export { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16, roundToF32, f32Bits, f32FromBits } from './half.js';
export { Rng } from './rng.js';
export { DEQUANT_TYPES, dequantize, dequantizeF32, dequantizeRows } from './dequant.js';
export { randomTensorData } from './random-blocks.js';
export type { RandomTensorOptions } from './random-blocks.js';
export { QUANTIZE_TYPES, quantize } from './quantize.js';
export type { QuantizeOptions } from './quantize.js';
