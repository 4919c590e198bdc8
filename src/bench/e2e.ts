/**
 * Whole-model prefill and decode throughput through the public API (loadModel on 'cpu' or 'cuda'), with llama.cpp
 * (node-llama-cpp, optional) on the same GGUF in the same run as the peer.
 *
 *   const r = await benchModel({ modelPath, modelShape: 'qwen35-27b', backend: 'cuda', prefill: [512, 4096],
 *                                decode: [{ context: 512, tokens: 64 }], copyGBs, bytesPerToken });
 *
 * Cases (each sample on a fresh session; samples rounds run ours then peer per case, so load drift hits both):
 *   prefill-N           N prompt tokens in one evaluate() call, logits of the last row only
 *   decode-N@C          after a C-token prompt (untimed), N one-token greedy steps
 * Floors: decode floor_tok_s = copyGBs ÷ (bytesPerToken + kvBytesPerToken·C) — every weight and recurrent state byte
 * read once per token, plus the KV cache at context C; pct_of_floor = tok/s ÷ that. Prefill pct_of_floor (CUDA only,
 * when gemmTflops is given) = 2·activeParams·N / s ÷ the dense fp16 GEMM rate (matmul flops only: an approximation,
 * attention flops excluded).
 * Correctness gate before any timing: last-row logits of a 16-token prompt finite; with a peer, RMS(ours − llama) /
 * RMS(llama) < max(0.1, 2·s + 0.05), s = llama.cpp's own batched-vs-token-by-token difference (its activation
 * quantization noise, large on MoE where it flips router choices), and argmax equal wherever llama.cpp's top-1 margin
 * exceeds its own max |Δ| + 0.5. A failed gate throws BenchGateError (nothing timed).
 * Expert load (MoE): top-K of every layer's router logits (session.debugEvaluate `ffn_moe_logits-<layer>`) for a
 * 128-token prompt, as a histogram over experts; null with a note when the backend has no debug outputs.
 */
import { QwenHybridError } from '../errors.js';
import { loadModel, type Model } from '../model/index.js';
import type { SyntheticModelConfig } from '../model/synthetic.js';
import type { BenchCase, BenchPeer, ExpertLoad, PeerFigures } from './report.js';
import { benchCase } from './report.js';
import { BenchGateError, msStats } from './runner.js';

export interface DecodeCase {
  /** Tokens in the context before the timed steps. */
  context: number;
  /** Timed one-token steps. */
  tokens: number;
}

export interface BenchModelOptions {
  modelPath: string;
  /** Label of the model in the report (e.g. the synthetic shape name). */
  modelShape: string;
  backend: 'cpu' | 'cuda';
  threads?: number;
  device?: number;
  prefill: readonly number[];
  decode: readonly DecodeCase[];
  /** Timed rounds per case (default 3). */
  samples?: number;
  batchSize?: number;
  activations?: 'f32' | 'q8';
  /** 'auto' (default): llama.cpp when node-llama-cpp (and, for CUDA, its CUDA build) is usable; false: no peer. */
  peer?: 'auto' | false;
  /** Copy bandwidth measured in this run (STREAM copy GB/s), for the decode floor. */
  copyGBs?: number | null;
  /** Dense fp16 GEMM TFLOP/s measured in this run (CUDA), for the prefill floor. */
  gemmTflops?: number | null;
  /** Weight + recurrent-state bytes read per decoded token (SyntheticModelConfig.decodeBytesPerToken). */
  bytesPerToken?: number | null;
  /** KV cache bytes read per token of context per decoded token. */
  kvBytesPerToken?: number | null;
  /** Parameters touched per token (prefill flops ≈ 2·this). */
  activeParams?: number | null;
  /** MoE: experts / used per token and trunk layers, for the expert-load histogram. */
  moe?: { experts: number; used: number; layers: number } | null;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface BenchModelResult {
  cases: BenchCase[];
  peer: BenchPeer;
  expertLoad: ExpertLoad | null;
  gate: string;
  notes: string[];
}

/** Deterministic prompt ids inside the tiny BPE vocab's normal tokens (ids < 1400; valid in any Qwen vocabulary). */
export function promptTokens(n: number, salt: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((i * 7919 + salt * 104729 + 13) % 1400);
  return out;
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

/** The figures synthetic.ts computes for a model, in benchModel's terms (KV: f16, K and V, every attention layer). */
export function syntheticFloorInputs(c: SyntheticModelConfig): Pick<BenchModelOptions, 'bytesPerToken' | 'kvBytesPerToken' | 'activeParams' | 'moe'> {
  const nAttn = c.isRecurrent.filter((r) => !r).length;
  return {
    bytesPerToken: c.decodeBytesPerToken,
    kvBytesPerToken: nAttn * 2 * c.nHeadKv * c.headDim * 2,
    activeParams: c.activeParamCount,
    moe: c.arch === 'qwen35moe' ? { experts: c.nExpert, used: c.nExpertUsed, layers: c.nTrunk } : null,
  };
}

// ---- peer (node-llama-cpp), loaded only when asked for ----

interface Peer {
  engine: string;
  version: string | null;
  /** Last-row logits of `tokens` on a fresh sequence, batched. */
  lastLogits(tokens: readonly number[]): Promise<Float32Array>;
  /** The same, one decode call per token. */
  lastLogitsOneByOne(tokens: readonly number[]): Promise<Float32Array>;
  /** Empties the sequence. */
  reset(): Promise<void>;
  /** Evaluates `tokens` on the current sequence (call reset first). */
  prefill(tokens: readonly number[]): Promise<void>;
  /** ms of `n` greedy one-token steps after `prompt` on the current sequence (call reset first). */
  decode(prompt: readonly number[], n: number): Promise<number>;
  dispose(): Promise<void>;
}

async function openPeer(o: BenchModelOptions, contextSize: number, nVocab: number): Promise<{ peer: Peer | null; reason: string | null; version: string | null }> {
  let mod: typeof import('node-llama-cpp');
  try {
    mod = await import('node-llama-cpp');
  } catch (e) {
    return { peer: null, reason: `node-llama-cpp is not installed (${(e as Error).message.split('\n')[0]})`, version: null };
  }
  let version: string | null = null;
  try {
    const { createRequire } = await import('node:module');
    const { readFileSync, existsSync } = await import('node:fs');
    const { dirname, join } = await import('node:path');
    let dir = dirname(createRequire(import.meta.url).resolve('node-llama-cpp'));
    while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
    version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? null;
  } catch {
    // version unknown
  }
  const cuda = o.backend === 'cuda';
  let llama: import('node-llama-cpp').Llama;
  try {
    llama = await mod.getLlama({ gpu: cuda ? 'cuda' : false, build: 'never', logLevel: mod.LlamaLogLevel.error });
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    return { peer: null, reason: cuda ? `no node-llama-cpp CUDA build (run node scripts/build-llama-cuda.mjs): ${why}` : `node-llama-cpp could not load: ${why}`, version };
  }
  if (cuda && llama.gpu !== 'cuda') {
    await llama.dispose();
    return { peer: null, reason: 'node-llama-cpp has no CUDA build (run node scripts/build-llama-cuda.mjs)', version };
  }
  const model = await llama.loadModel({ modelPath: o.modelPath, gpuLayers: cuda ? 'max' : 0 });
  const ctx = await model.createContext({ contextSize, batchSize: o.batchSize ?? 512, threads: o.threads, flashAttention: false });
  const seq = ctx.getSequence();
  type Item = import('node-llama-cpp').Token | [import('node-llama-cpp').Token, { generateNext: { logits: true } }];
  const withLast = (tokens: readonly number[]): Item[] => tokens.map((t, i) => (i === tokens.length - 1 ? ([t, { generateNext: { logits: true } }] as Item) : (t as Item)));
  const dense = (m: Map<number, number> | undefined): Float32Array => {
    const out = new Float32Array(nVocab).fill(Number.NaN);
    for (const [t, v] of m ?? []) if (t < nVocab) out[t] = v;
    return out;
  };
  const lastOf = (res: unknown[]): Map<number, number> | undefined => (res[res.length - 1] as { next?: { logits?: Map<number, number> } } | undefined)?.next?.logits;
  const peer: Peer = {
    engine: `llama.cpp (node-llama-cpp ${version ?? '?'}, ${cuda ? 'CUDA' : 'CPU'})`,
    version,
    async lastLogits(tokens) {
      await seq.clearHistory();
      return dense(lastOf(await seq.controlledEvaluate(withLast(tokens) as never)));
    },
    async lastLogitsOneByOne(tokens) {
      await seq.clearHistory();
      let res: unknown[] = [];
      for (let i = 0; i < tokens.length; i++) res = await seq.controlledEvaluate((i === tokens.length - 1 ? withLast([tokens[i]!]) : [tokens[i]!]) as never);
      return dense(lastOf(res));
    },
    async reset() {
      await seq.clearHistory();
    },
    async prefill(tokens) {
      await seq.controlledEvaluate(withLast(tokens) as never);
    },
    async decode(prompt, n) {
      // The generator evaluates the prompt and yields token 1; from there one evaluation per further token.
      let t0 = 0;
      let i = 0;
      for await (const _ of seq.evaluate(prompt as import('node-llama-cpp').Token[], { temperature: 0 })) {
        if (i === 0) t0 = performance.now();
        if (i++ === n) break;
      }
      return performance.now() - t0;
    },
    async dispose() {
      await ctx.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
  return { peer, reason: null, version };
}

// ---- gate ----

/** RMS(a − b) / RMS(b), max |a − b|, and whether both are finite and of equal length (the gate's logits distance). */
export function relRms(a: Float32Array, b: Float32Array): { rel: number; maxAbs: number; finite: boolean } {
  let finite = a.length === b.length;
  let maxAbs = 0;
  let sd = 0;
  let sb = 0;
  for (let i = 0; i < b.length; i++) {
    if (!Number.isFinite(a[i]!) || !Number.isFinite(b[i]!)) finite = false;
    const d = a[i]! - b[i]!;
    maxAbs = Math.max(maxAbs, Math.abs(d));
    sd += d * d;
    sb += b[i]! * b[i]!;
  }
  return { rel: Math.sqrt(sd / Math.max(sb, 1e-30)), maxAbs, finite };
}

async function gate(model: Model, peer: Peer | null, nVocab: number): Promise<string> {
  const prompt = promptTokens(16, 99);
  const s = model.createSession();
  let ours: Float32Array | undefined;
  try {
    [ours] = await s.evaluate(prompt, { logits: 'last' });
  } finally {
    s.dispose();
  }
  if (!ours || ours.length !== nVocab) throw new BenchGateError('model', `our logits row is missing or has length ${ours?.length} ≠ ${nVocab}`);
  if (!ours.every(Number.isFinite)) throw new BenchGateError('model', 'our logits are not all finite');
  if (!peer) return 'logits finite (no peer to compare with)';
  const b = await peer.lastLogits(prompt);
  const self = relRms(await peer.lastLogitsOneByOne(prompt), b);
  const limit = Math.max(0.1, 2 * self.rel + 0.05);
  const d = relRms(ours, b);
  if (!d.finite) throw new BenchGateError('model', 'llama.cpp logits are not all finite');
  if (!(d.rel < limit)) throw new BenchGateError('model', `RMS(ours − llama.cpp)/RMS(llama.cpp) = ${d.rel.toFixed(4)} ≥ ${limit.toFixed(3)}`);
  const pa = argmax(b);
  let second = -Infinity;
  for (let i = 0; i < nVocab; i++) if (i !== pa && b[i]! > second) second = b[i]!;
  const margin = b[pa]! - second;
  const oa = argmax(ours);
  if (margin > self.maxAbs + 0.5 && oa !== pa) throw new BenchGateError('model', `argmax ${oa} ≠ llama.cpp ${pa} with margin ${margin.toFixed(3)}`);
  return `vs llama.cpp: rel RMS Δ ${d.rel.toFixed(4)} < ${limit.toFixed(3)} (llama.cpp self ${self.rel.toFixed(4)}), argmax ${oa}/${pa}`;
}

// ---- expert load ----

/** Expert-load histogram of router logits {E, T} per layer (see the file comment). */
export function expertLoadFromLogits(modelShape: string, logits: readonly (Float32Array | undefined)[], experts: number, used: number, tokens: number): ExpertLoad {
  const total = new Array<number>(experts).fill(0);
  let maxShare = 0;
  let idle = 0;
  for (const lg of logits) {
    if (!lg) continue;
    const counts = new Array<number>(experts).fill(0);
    for (let t = 0; t < tokens; t++) {
      const row = Array.from(lg.subarray(t * experts, (t + 1) * experts), (v, e) => [v, e] as const).sort((x, y) => y[0] - x[0] || x[1] - y[1]);
      for (let k = 0; k < used; k++) counts[row[k]![1]]!++;
    }
    counts.forEach((n, e) => (total[e]! += n));
    maxShare = Math.max(maxShare, Math.max(...counts) / (tokens * used));
    idle += counts.filter((n) => n === 0).length;
  }
  const mean = total.reduce((x, y) => x + y, 0) / experts;
  const cv = mean > 0 ? Math.sqrt(total.reduce((x, n) => x + (n - mean) ** 2, 0) / experts) / mean : 0;
  return { model_shape: modelShape, tokens, experts, used, uniform_share: 1 / experts, histogram: total, cv, max_share: maxShare, idle_pairs: idle };
}

async function expertLoad(model: Model, o: BenchModelOptions): Promise<ExpertLoad> {
  const moe = o.moe!;
  const T = 128;
  const s = model.createSession();
  try {
    const m = await s.debugEvaluate(promptTokens(T, 3));
    const logits = Array.from({ length: moe.layers }, (_, il) => m.get(`ffn_moe_logits-${il}`));
    if (logits.every((l) => !l)) throw new Error('no ffn_moe_logits-<layer> debug outputs');
    return expertLoadFromLogits(o.modelShape, logits, moe.experts, moe.used, T);
  } finally {
    s.dispose();
  }
}

// ---- the bench ----

/** Prefill and decode cases of one model (file comment). Loads and disposes the model (and peer). */
export async function benchModel(o: BenchModelOptions): Promise<BenchModelResult> {
  const samples = o.samples ?? 3;
  if (!Number.isSafeInteger(samples) || samples < 1) throw new QwenHybridError('INVALID_ARGUMENT', `samples must be a positive integer, got ${samples}`, { parameter: 'samples' });
  for (const n of o.prefill) if (!Number.isSafeInteger(n) || n < 1) throw new QwenHybridError('INVALID_ARGUMENT', `prefill lengths must be positive integers, got ${n}`, { parameter: 'prefill' });
  for (const d of o.decode) {
    if (!Number.isSafeInteger(d.context) || d.context < 1 || !Number.isSafeInteger(d.tokens) || d.tokens < 1) {
      throw new QwenHybridError('INVALID_ARGUMENT', `decode cases need positive integer context and tokens, got ${JSON.stringify(d)}`, { parameter: 'decode' });
    }
  }
  const log = o.log ?? (() => {});
  const need = Math.max(16, ...o.prefill, ...o.decode.map((d) => d.context + d.tokens + 1), o.moe ? 128 : 0);
  const contextSize = Math.ceil((need + 16) / 256) * 256;
  const notes: string[] = [];
  const model = await loadModel(o.modelPath, {
    backend: o.backend, device: o.device, threads: o.backend === 'cpu' ? o.threads : undefined, contextSize, batchSize: o.batchSize ?? 512,
    kvCacheType: 'f16', activations: o.activations ?? 'f32',
  });
  let opened: Awaited<ReturnType<typeof openPeer>> = { peer: null, reason: 'not requested', version: null };
  try {
    const nVocab = model.vocabSize;
    if (o.peer !== false) opened = await openPeer(o, contextSize, nVocab);
    const peer = opened.peer;
    log(`[${o.modelShape}] peer: ${peer ? peer.engine : `none (${opened.reason})`}`);
    const gateText = await gate(model, peer, nVocab);
    log(`[${o.modelShape}] gate: ${gateText}`);

    interface Timed { ours: number[]; peer: number[] }
    const timings = new Map<string, Timed>();
    const add = (k: string, who: 'ours' | 'peer', ms: number): void => {
      const t = timings.get(k) ?? { ours: [], peer: [] };
      t[who].push(ms);
      timings.set(k, t);
    };
    const oursPrefill = async (n: number): Promise<number> => {
      const s = model.createSession();
      try {
        const t0 = performance.now();
        await s.evaluate(promptTokens(n, n), { logits: 'last' });
        return performance.now() - t0;
      } finally {
        s.dispose();
      }
    };
    const oursDecode = async (d: DecodeCase): Promise<number> => {
      const s = model.createSession();
      try {
        const [row] = await s.evaluate(promptTokens(d.context, 7), { logits: 'last' });
        let tok = argmax(row!);
        const t0 = performance.now();
        for (let i = 0; i < d.tokens; i++) {
          const [r] = await s.evaluate([tok], { logits: 'last' });
          tok = argmax(r!);
        }
        return performance.now() - t0;
      } finally {
        s.dispose();
      }
    };
    // round 0 is an untimed warm-up of every case
    for (let round = 0; round <= samples; round++) {
      for (const n of o.prefill) {
        const k = `prefill-${n}`;
        const ms = await oursPrefill(n);
        if (round > 0) add(k, 'ours', ms);
        if (peer) {
          await peer.reset(); // outside the timed region
          const t0 = performance.now();
          await peer.prefill(promptTokens(n, n));
          const pm = performance.now() - t0;
          if (round > 0) add(k, 'peer', pm);
        }
      }
      for (const d of o.decode) {
        const k = `decode-${d.tokens}@${d.context}`;
        const ms = await oursDecode(d);
        if (round > 0) add(k, 'ours', ms);
        if (peer) {
          await peer.reset();
          const pm = await peer.decode(promptTokens(d.context, 7), d.tokens);
          if (round > 0) add(k, 'peer', pm);
        }
      }
      if (round > 0) log(`[${o.modelShape}] round ${round}/${samples} done`);
    }

    const cases: BenchCase[] = [];
    const peerFigures = (ms: number[], tokens: number): PeerFigures | null => {
      if (!peer || ms.length === 0) return null;
      const st = msStats(ms);
      return { engine: peer.engine, median_ms: st.median, min_ms: st.min, max_ms: st.max, tok_s: tokens / (st.median / 1e3) };
    };
    const variant = { backend: o.backend, ...(o.backend === 'cpu' ? { threads: o.threads ?? 0 } : { device: o.device ?? 0 }), activations: o.activations ?? 'f32', kv_cache: 'f16', micro_batch: o.batchSize ?? 512 };
    for (const n of o.prefill) {
      const t = timings.get(`prefill-${n}`)!;
      const st = msStats(t.ours);
      const tokS = n / (st.median / 1e3);
      const tflops = o.activeParams ? (2 * o.activeParams * n) / (st.median / 1e3) / 1e12 : null;
      const pf = peerFigures(t.peer, n);
      cases.push(benchCase({
        name: `${o.modelShape} prefill-${n}`, kind: 'prefill', model_shape: o.modelShape, variant, tokens: n, samples: t.ours.length,
        median_ms: st.median, min_ms: st.min, max_ms: st.max, prefill_tok_s: tokS, tflops,
        pct_of_floor: o.backend === 'cuda' && tflops !== null && o.gemmTflops ? (100 * tflops) / o.gemmTflops : null,
        peer: pf, ratio_vs_peer: pf?.tok_s ? tokS / pf.tok_s : null, gate: gateText,
      }));
    }
    for (const d of o.decode) {
      const t = timings.get(`decode-${d.tokens}@${d.context}`)!;
      const st = msStats(t.ours);
      const tokS = d.tokens / (st.median / 1e3);
      const bytes = o.bytesPerToken ? o.bytesPerToken + (o.kvBytesPerToken ?? 0) * d.context : null;
      const floor = bytes && o.copyGBs ? (o.copyGBs * 1e9) / bytes : null;
      const pf = peerFigures(t.peer, d.tokens);
      cases.push(benchCase({
        name: `${o.modelShape} decode-${d.tokens}@${d.context}`, kind: 'decode', model_shape: o.modelShape, variant, tokens: d.tokens, context: d.context,
        samples: t.ours.length, median_ms: st.median, min_ms: st.min, max_ms: st.max, decode_tok_s: tokS, gbs: bytes ? (bytes * tokS) / 1e9 : null,
        floor_tok_s: floor, pct_of_floor: floor ? (100 * tokS) / floor : null, peer: pf, ratio_vs_peer: pf?.tok_s ? tokS / pf.tok_s : null, gate: gateText,
      }));
    }
    let load: ExpertLoad | null = null;
    if (o.moe) {
      try {
        load = await expertLoad(model, o);
      } catch (e) {
        notes.push(`${o.modelShape}: expert load not measured (${(e as Error).message})`);
      }
    }
    return { cases, peer: { engine: peer?.engine ?? 'llama.cpp (node-llama-cpp)', version: opened.version, available: peer !== null, reason: opened.reason }, expertLoad: load, gate: gateText, notes };
  } finally {
    await opened.peer?.dispose();
    model.dispose();
  }
}
