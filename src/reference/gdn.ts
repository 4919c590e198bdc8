/**
 * Float64 references of the Gated DeltaNet ops (native/core/op_list.h GATED_DELTA_NET, GATED_RMS_NORM; spec §3.2
 * steps 6-8 and the chunked form). These are the executable spec the native kernels are tested against.
 *
 * Layouts (ggml order, flat arrays):
 *   q, k  {dk, nk, T}   q L2-normed and scaled by 1/sqrt(dk), k L2-normed (the op does not normalise)
 *   v     {dv, nv, T};  g, beta {nv, T};  out {dv, nv, T}
 *   state {dk, dv, nv}: V head j is a dv x dk block, element (key i, value c) at j*dk*dv + c*dk + i.
 */

export interface GdnDims {
  dk: number;
  dv: number;
  nk: number;
  nv: number;
  T: number;
  /** 0: kh(j) = j mod nk (GGUF tiled order); 1: kh(j) = floor(j / (nv/nk)) (grouped, HF order). */
  headMap: 0 | 1;
}

export interface GdnInputs {
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  v: ArrayLike<number>;
  g: ArrayLike<number>;
  beta: ArrayLike<number>;
  /** Incoming state {dk, dv, nv} (op layout). */
  state: ArrayLike<number>;
}

export interface GdnResult {
  out: Float64Array;
  /** Outgoing state, op layout. */
  state: Float64Array;
}

/** K/Q head read by V head j. */
export function gdnKeyHead(j: number, nk: number, nv: number, headMap: 0 | 1): number {
  return headMap === 0 ? j % nk : Math.floor(j / (nv / nk));
}

/**
 * Token-serial recurrence, per token t and V head j with h = kh(j):
 *   S <- e^g S;  delta = beta (v - S^T k);  S <- S + k delta^T;  o = S^T q   (S is dk x dv).
 */
export function gatedDeltaNetSerial(x: GdnInputs, d: GdnDims): GdnResult {
  const { dk, dv, nk, nv, T } = d;
  const S = Float64Array.from(x.state);
  const out = new Float64Array(dv * nv * T);
  for (let j = 0; j < nv; j++) {
    const h = gdnKeyHead(j, nk, nv, d.headMap);
    const base = j * dk * dv;
    for (let t = 0; t < T; t++) {
      const alpha = Math.exp(x.g[t * nv + j]!);
      const b = x.beta[t * nv + j]!;
      const ko = (t * nk + h) * dk, qo = ko, vo = (t * nv + j) * dv;
      for (let c = 0; c < dv; c++) {
        const col = base + c * dk;
        let r = 0; // (S^T k)_c after the decay
        for (let i = 0; i < dk; i++) {
          S[col + i] = alpha * S[col + i]!;
          r += S[col + i]! * x.k[ko + i]!;
        }
        const delta = b * (x.v[vo + c]! - r);
        let o = 0;
        for (let i = 0; i < dk; i++) {
          S[col + i] = S[col + i]! + x.k[ko + i]! * delta;
          o += S[col + i]! * x.q[qo + i]!;
        }
        out[vo + c] = o;
      }
    }
  }
  return { out, state: S };
}

/**
 * The chunked form (spec §3.2), written independently of the serial one, with the literal zero padding of the
 * last chunk (q = k = v = beta = 0 and g = 0 on padded rows). Per V head and chunk of L rows, with incoming
 * state S (dk x dv, math layout S[i][c]):
 *   gamma_t = sum_{s<=t} g_s, Gamma_t = e^gamma_t, D_ts = e^(gamma_t - gamma_s) for s <= t else 0 (masked first)
 *   A_ts = beta_t (k_t . k_s) D_ts for s < t;  Tinv = (I + A)^{-1} (forward substitution on the identity)
 *   U = Tinv diag(beta) V;  W = Tinv diag(beta Gamma) K;  V' = U - W S
 *   O = diag(Gamma) Q S + (D o Q K^T) V';  S <- Gamma_L S + (diag(e^(gamma_L - gamma_t)) K)^T V'
 */
export function gatedDeltaNetChunked(x: GdnInputs, d: GdnDims, chunk = 64): GdnResult {
  const { dk, dv, nk, nv, T } = d;
  const L = chunk;
  const outState = new Float64Array(dk * dv * nv);
  const out = new Float64Array(dv * nv * T);
  const nChunks = Math.ceil(T / L);
  for (let j = 0; j < nv; j++) {
    const h = gdnKeyHead(j, nk, nv, d.headMap);
    // S[i][c] from the op layout [j][c][i].
    const S: Float64Array[] = [];
    for (let i = 0; i < dk; i++) {
      const row = new Float64Array(dv);
      for (let c = 0; c < dv; c++) row[c] = x.state[j * dk * dv + c * dk + i]!;
      S.push(row);
    }
    for (let ch = 0; ch < nChunks; ch++) {
      // Padded chunk: rows t >= n are zeros with g = 0.
      const Q: Float64Array[] = [], K: Float64Array[] = [], V: Float64Array[] = [];
      const beta = new Float64Array(L), g = new Float64Array(L);
      for (let t = 0; t < L; t++) {
        const tt = ch * L + t;
        const q = new Float64Array(dk), k = new Float64Array(dk), v = new Float64Array(dv);
        if (tt < T) {
          for (let i = 0; i < dk; i++) {
            q[i] = x.q[(tt * nk + h) * dk + i]!;
            k[i] = x.k[(tt * nk + h) * dk + i]!;
          }
          for (let c = 0; c < dv; c++) v[c] = x.v[(tt * nv + j) * dv + c]!;
          beta[t] = x.beta[tt * nv + j]!;
          g[t] = x.g[tt * nv + j]!;
        }
        Q.push(q);
        K.push(k);
        V.push(v);
      }
      const gamma = new Float64Array(L);
      for (let t = 0, acc = 0; t < L; t++) gamma[t] = acc += g[t]!;
      const Gamma = gamma.map(Math.exp);
      const dot = (a: Float64Array, b: Float64Array): number => {
        let s = 0;
        for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
        return s;
      };
      const D = (t: number, s: number): number => (s <= t ? Math.exp(gamma[t]! - gamma[s]!) : 0);
      // Tinv = (I + A)^{-1}: column e of Tinv solves (I + A) y = e_e by forward substitution.
      const Tinv: Float64Array[] = Array.from({ length: L }, () => new Float64Array(L));
      const Arow = (t: number, s: number): number => (s < t ? beta[t]! * dot(K[t]!, K[s]!) * D(t, s) : 0);
      const Am: Float64Array[] = Array.from({ length: L }, (_, t) => Float64Array.from({ length: L }, (_, s) => Arow(t, s)));
      for (let e = 0; e < L; e++) {
        for (let t = 0; t < L; t++) {
          let y = t === e ? 1 : 0;
          for (let s = 0; s < t; s++) y -= Am[t]![s]! * Tinv[s]![e]!;
          Tinv[t]![e] = y;
        }
      }
      // U, W, V' = U - W S
      const Vp: Float64Array[] = [];
      for (let t = 0; t < L; t++) {
        const u = new Float64Array(dv), w = new Float64Array(dk);
        for (let s = 0; s <= t; s++) {
          const ts = Tinv[t]![s]!;
          if (ts === 0) continue;
          for (let c = 0; c < dv; c++) u[c] = u[c]! + ts * beta[s]! * V[s]![c]!;
          for (let i = 0; i < dk; i++) w[i] = w[i]! + ts * beta[s]! * Gamma[s]! * K[s]![i]!;
        }
        for (let c = 0; c < dv; c++) {
          let ws = 0;
          for (let i = 0; i < dk; i++) ws += w[i]! * S[i]![c]!;
          u[c] = u[c]! - ws;
        }
        Vp.push(u);
      }
      // O = diag(Gamma) Q S + (D o Q K^T) V'
      for (let t = 0; t < L; t++) {
        const tt = ch * L + t;
        if (tt >= T) continue; // padded outputs are dropped
        const qk = Float64Array.from({ length: L }, (_, s) => D(t, s) * dot(Q[t]!, K[s]!));
        for (let c = 0; c < dv; c++) {
          let qs = 0;
          for (let i = 0; i < dk; i++) qs += Q[t]![i]! * S[i]![c]!;
          let mv = 0;
          for (let s = 0; s <= t; s++) mv += qk[s]! * Vp[s]![c]!;
          out[(tt * nv + j) * dv + c] = Gamma[t]! * qs + mv;
        }
      }
      // S <- Gamma_L S + sum_t e^(gamma_L - gamma_t) k_t V'_t^T
      const gL = gamma[L - 1]!;
      for (let i = 0; i < dk; i++) {
        const row = S[i]!;
        for (let c = 0; c < dv; c++) {
          let acc = Gamma[L - 1]! * row[c]!;
          for (let t = 0; t < L; t++) acc += Math.exp(gL - gamma[t]!) * K[t]![i]! * Vp[t]![c]!;
          row[c] = acc;
        }
      }
    }
    for (let i = 0; i < dk; i++) for (let c = 0; c < dv; c++) outState[j * dk * dv + c * dk + i] = S[i]![c]!;
  }
  return { out, state: outState };
}

/** out = x / sqrt(mean(x^2) + eps) * w * SiLU(z) per row of n (per V head); w {n} shared by all rows. */
export function gatedRmsNorm(x: ArrayLike<number>, w: ArrayLike<number>, z: ArrayLike<number>, n: number, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r * n < x.length; r++) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[r * n + i]! * x[r * n + i]!;
    const inv = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; i++) {
      const zi = z[r * n + i]!;
      y[r * n + i] = x[r * n + i]! * inv * w[i]! * (zi / (1 + Math.exp(-zi)));
    }
  }
  return y;
}
