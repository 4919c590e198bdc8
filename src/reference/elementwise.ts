/**
 * Float64 references of the elementwise ops (native/core/op_list.h SILU, SIGMOID, SOFTPLUS, EXP, SCALE, ADD,
 * MUL, SWIGLU, COPY_STRIDED), written from the formulas. Shapes are ggml `ne` order (ne[0] contiguous).
 */

export type UnaryKind = 'silu' | 'sigmoid' | 'softplus' | 'exp';

/** sigmoid(x) = 1 / (1 + e^-x) */
export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** silu(x) = x * sigmoid(x) */
export function silu(x: number): number {
  return x * sigmoid(x);
}

/** softplus(x) = log(1 + e^x), and x itself for x > 20 (the op's threshold). */
export function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

const UNARY: Record<UnaryKind, (x: number) => number> = { silu, sigmoid, softplus, exp: Math.exp };

export function unary(kind: UnaryKind, x: ArrayLike<number>): Float64Array {
  const f = UNARY[kind];
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = f(x[i]!);
  return y;
}

/** y = s * x + b */
export function scale(x: ArrayLike<number>, s: number, b: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = s * x[i]! + b;
  return y;
}

export type Shape4 = readonly [number, number, number, number];

/** Pads a shape to 4 dims with 1s. */
export function shape4(shape: readonly number[]): [number, number, number, number] {
  return [shape[0] ?? 1, shape[1] ?? 1, shape[2] ?? 1, shape[3] ?? 1];
}

/** out[i0..i3] = a[i0..i3] op b[i0 % b0, i1 % b1, i2 % b2, i3 % b3] (ggml broadcasting; b.ne[d] divides a.ne[d]). */
export function broadcastBinary(
  op: 'add' | 'mul',
  a: ArrayLike<number>,
  aShape: readonly number[],
  b: ArrayLike<number>,
  bShape: readonly number[],
): Float64Array {
  const [a0, a1, a2, a3] = shape4(aShape);
  const [b0, b1, b2, b3] = shape4(bShape);
  for (const [x, y] of [[a0, b0], [a1, b1], [a2, b2], [a3, b3]] as const) {
    if (x % y !== 0) throw new Error(`broadcastBinary: b shape ${bShape} does not divide a shape ${aShape}`);
  }
  const out = new Float64Array(a0 * a1 * a2 * a3);
  for (let i3 = 0; i3 < a3; i3++)
    for (let i2 = 0; i2 < a2; i2++)
      for (let i1 = 0; i1 < a1; i1++)
        for (let i0 = 0; i0 < a0; i0++) {
          const ia = ((i3 * a2 + i2) * a1 + i1) * a0 + i0;
          const ib = (((i3 % b3) * b2 + (i2 % b2)) * b1 + (i1 % b1)) * b0 + (i0 % b0);
          out[ia] = op === 'add' ? a[ia]! + b[ib]! : a[ia]! * b[ib]!;
        }
  return out;
}

/** y = silu(gate) * up */
export function swiglu(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  const y = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) y[i] = silu(gate[i]!) * up[i]!;
  return y;
}

/**
 * out[i0,i1,i2,i3] = src[off + i0 + i1*s1 + i2*s2 + i3*s3], out contiguous with shape `outShape`
 * (element units; dim 0 contiguous in src).
 */
export function copyStrided(
  src: ArrayLike<number>,
  outShape: readonly number[],
  off: number,
  strides: readonly [number, number, number],
): Float64Array {
  const [n0, n1, n2, n3] = shape4(outShape);
  const [s1, s2, s3] = strides;
  const out = new Float64Array(n0 * n1 * n2 * n3);
  let o = 0;
  for (let i3 = 0; i3 < n3; i3++)
    for (let i2 = 0; i2 < n2; i2++)
      for (let i1 = 0; i1 < n1; i1++)
        for (let i0 = 0; i0 < n0; i0++) out[o++] = src[off + i0 + i1 * s1 + i2 * s2 + i3 * s3]!;
  return out;
}
