/**
 * Float64 reference of ROPE_NEOX (native/core/op_list.h; spec §3.3 step 4): partial NeoX (rotate-half) RoPE.
 * x {d, H, T} (ggml order), pos[T]. For each head, i in [0, n_rot/2):
 *   theta_i = pos * base^(-2i/n_rot)
 *   y[i]           = x[i] cos theta_i - x[i + n_rot/2] sin theta_i
 *   y[i + n_rot/2] = x[i + n_rot/2] cos theta_i + x[i] sin theta_i
 * and y[i] = x[i] for i >= n_rot.
 */
export function ropeNeox(
  x: ArrayLike<number>,
  d: number,
  nHead: number,
  pos: ArrayLike<number>,
  nRot: number,
  base: number,
): Float64Array {
  const T = pos.length;
  const half = nRot / 2;
  const y = new Float64Array(d * nHead * T);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < nHead; h++) {
      const o = (t * nHead + h) * d;
      for (let i = 0; i < d; i++) y[o + i] = x[o + i]!;
      for (let i = 0; i < half; i++) {
        const theta = pos[t]! * Math.pow(base, (-2 * i) / nRot);
        const c = Math.cos(theta);
        const s = Math.sin(theta);
        const a = x[o + i]!;
        const b = x[o + i + half]!;
        y[o + i] = a * c - b * s;
        y[o + i + half] = b * c + a * s;
      }
    }
  }
  return y;
}
