/**
 * Whole-model CPU prefill and decode, our engine vs llama.cpp (node-llama-cpp, CPU) on the SAME synthetic
 * GGUF in the same run (issue 3 §4; design §4). Target: decode ≥ 0.8× llama.cpp (goal ≥ 1.0×).
 *
 * Models: src/model/synthetic.ts real-shape ~0.5 B qwen35 (27B-like) and qwen35moe (35B-A3B-like), Q4_K_M
 * mix, written once into a cache dir ($QWEN_HYBRID_BENCH_CACHE or <os tmpdir>/qwen-hybrid-bench).
 * Cases per model and engine (same threads, same micro-batch 512, f16 KV cache, flash attention off):
 *   prefill-64, prefill-512   fresh sequence, N prompt tokens in one call, logits of the last row only
 *   decode-32                 after a 16-token prompt (untimed), 32 one-token steps, greedy (argmax) each
 * Decode floor: decodeBytesPerToken (weights read per token + GDN state r/w, synthetic.ts) / memcpy bandwidth
 * measured in this run with the same threads (STREAM-copy GB/s, bench/lib/memcpy.ts).
 * Correctness gate before any timing: last-position logits of a 16-token prompt from both engines; refuses to
 * time unless all finite, RMS(ours − llama)/RMS(llama) < max(0.1, 2·s + 0.05) where s is the same figure for
 * llama.cpp token-by-token vs llama.cpp batched (its activation-quantization noise; large on MoE, where it
 * flips router choices), and argmax equal wherever llama.cpp's top-1 margin exceeds its own max |Δ| + 0.5.
 *
 * Run: node --import tsx bench/e2e/cpu.bench.ts [--quick] [--threads N] [--shapes qwen35-0.5b,qwen35moe-0.5b]
 *        [--samples N] [--report NAME] [--activations f32|q8]   → markdown table on stdout + bench/results/e2e-cpu.json
 * --activations q8: our engine quantizes matmul activations (loadModel { activations: 'q8' }, int8 dots as
 * llama.cpp); default f32 (exact). Default report name then e2e-cpu-q8.
 * Every case runs one untimed warm-up iteration first (tinybench warmup).
 * --quick: the *-quick shapes (n_embd 256), 1 sample, few tokens; finishes in seconds; report → e2e-cpu-quick.json.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { Bench } from 'tinybench';

import { argmax, toDense } from '../../test/helpers/llama-oracle.js';
import { measureMemcpyBandwidth, tinybenchRows, writeBenchReport } from '../lib/index.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { SYNTHETIC_GENERATOR_VERSION, syntheticModelConfig, writeSyntheticModel, type SyntheticModelConfig, type SyntheticShapeName } from '../../src/model/synthetic.js';
import { relRms } from '../../src/bench/e2e.js';

interface Args {
  quick: boolean;
  threads: number;
  shapes: SyntheticShapeName[];
  samples: number;
  /** bench/results/<report>.json */
  report: string | undefined;
  activations: 'f32' | 'q8';
}

function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const val = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const threads = Number(val('--threads') ?? 2);
  const samples = Number(val('--samples') ?? (quick ? 1 : 5));
  const shapes = (val('--shapes') ?? (quick ? 'qwen35-quick,qwen35moe-quick' : 'qwen35-0.5b,qwen35moe-0.5b')).split(',') as SyntheticShapeName[];
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be a positive integer`);
  if (!Number.isInteger(samples) || samples < 1) throw new Error(`--samples must be a positive integer`);
  const activations = (val('--activations') ?? 'f32') as 'f32' | 'q8';
  if (activations !== 'f32' && activations !== 'q8') throw new Error(`--activations must be f32 or q8`);
  return { quick, threads, shapes, samples, report: val('--report'), activations };
}

const args = parseArgs(process.argv.slice(2));
const PREFILL = args.quick ? [16, 64] : [64, 512];
const DECODE_PROMPT = 16;
const DECODE_N = args.quick ? 8 : 32;
const CTX = 1024;
const BATCH = 512;

/** Deterministic prompt ids inside the tiny BPE vocab's normal tokens (ids < 1400). */
function promptTokens(n: number, salt: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((i * 7919 + salt * 104729 + 13) % 1400);
  return out;
}

async function ensureModel(shape: SyntheticShapeName): Promise<{ path: string; config: SyntheticModelConfig; generatedSeconds: number | null }> {
  const dir = process.env.QWEN_HYBRID_BENCH_CACHE ?? join(tmpdir(), 'qwen-hybrid-bench');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${shape}.v${SYNTHETIC_GENERATOR_VERSION}.s1.gguf`);
  if (existsSync(path)) return { path, config: syntheticModelConfig(shape), generatedSeconds: null };
  const tmp = `${path}.${process.pid}.tmp`;
  const r = await writeSyntheticModel(tmp, shape);
  renameSync(tmp, path);
  return { path, config: r.config, generatedSeconds: r.seconds };
}

interface PeerHandles {
  model: LlamaModel;
  ctx: LlamaContext;
  seq: LlamaContextSequence;
}

/** llama.cpp last-row logits of `tokens` on a fresh sequence, as a dense Float32Array. */
async function llamaLastLogits(p: PeerHandles, tokens: readonly number[], nVocab: number): Promise<Float32Array> {
  await p.seq.clearHistory();
  const items = tokens.map((t, i) => (i === tokens.length - 1 ? ([t, { generateNext: { logits: true } }] as const) : t));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const res = await p.seq.controlledEvaluate(items as any);
  const last = res[res.length - 1] as { next?: { logits?: Map<Token, number> } } | undefined;
  return toDense(last?.next?.logits, nVocab);
}

interface Gate {
  passed: boolean;
  oursArgmax: number;
  peerArgmax: number;
  peerMargin: number;
  maxAbsDiff: number;
  /** RMS(ours − llama.cpp batched) / RMS(llama.cpp batched) */
  relRmsDiff: number;
  /** llama.cpp's own noise: RMS(llama.cpp token-by-token − llama.cpp batched) / RMS(llama.cpp batched) */
  peerSelfRelRmsDiff: number;
  /** relRmsDiff must stay below max(0.1, 2·peerSelfRelRmsDiff + 0.05) */
  limit: number;
  reason: string;
}

/**
 * Our last-row logits vs llama.cpp's (batched prompt). Quantized activations in llama.cpp (Q8_K) make its
 * result depend on batching; on MoE models that noise flips router choices and moves the logits a lot, so the
 * allowed difference is scaled by llama.cpp's own batched-vs-token-by-token difference on the same prompt.
 */
async function correctnessGate(ours: Model, peer: PeerHandles, nVocab: number): Promise<Gate> {
  const prompt = promptTokens(DECODE_PROMPT, 99);
  const s = ours.createSession();
  const [a] = await s.evaluate(prompt, { logits: 'last' });
  s.dispose();
  const b = await llamaLastLogits(peer, prompt, nVocab);
  // llama.cpp token by token: one decode per token
  await peer.seq.clearHistory();
  let seqRow: Float32Array | undefined;
  for (let i = 0; i < prompt.length; i++) {
    const last = i === prompt.length - 1;
    const res = await peer.seq.controlledEvaluate([last ? ([prompt[i]!, { generateNext: { logits: true } }] as const) : prompt[i]!] as never);
    if (last) {
      const m = (res[0] as { next?: { logits?: Map<number, number> } } | undefined)?.next?.logits;
      seqRow = new Float32Array(nVocab).fill(Number.NaN);
      for (const [id, v] of m ?? []) seqRow[id] = v;
    }
  }
  const self = relRms(seqRow!, b);
  const limit = Math.max(0.1, 2 * self.rel + 0.05);
  if (!a || a.length !== nVocab) return { passed: false, oursArgmax: -1, peerArgmax: -1, peerMargin: 0, maxAbsDiff: NaN, relRmsDiff: NaN, peerSelfRelRmsDiff: self.rel, limit, reason: 'our logits row missing or wrong length' };
  const d = relRms(a, b);
  const oa = argmax(a);
  const pa = argmax(b);
  let second = -Infinity;
  for (let i = 0; i < nVocab; i++) if (i !== pa && b[i]! > second) second = b[i]!;
  const margin = b[pa]! - second;
  let passed = d.finite && d.rel < limit;
  let reason = d.finite ? (passed ? 'ok' : `RMS(Δ)/RMS(llama) = ${d.rel.toFixed(3)} ≥ ${limit.toFixed(3)}`) : 'non-finite logits';
  // argmax only where llama.cpp's margin exceeds its own noise
  const noise = self.maxAbs + 0.5;
  if (passed && margin > noise && oa !== pa) { passed = false; reason = `argmax ${oa} ≠ llama.cpp ${pa} with margin ${margin.toFixed(3)} > ${noise.toFixed(3)}`; }
  return { passed, oursArgmax: oa, peerArgmax: pa, peerMargin: margin, maxAbsDiff: d.maxAbs, relRmsDiff: d.rel, peerSelfRelRmsDiff: self.rel, limit, reason };
}

interface CaseResult {
  engine: 'ours' | 'llama.cpp';
  case: string;
  tokens: number;
  samples: number;
  median_ms: number;
  min_ms: number;
  max_ms: number;
  /** tokens / median seconds */
  tok_s: number;
  /** tokens / min seconds (best of the samples; the least load-disturbed figure on a shared machine) */
  best_tok_s: number;
  samples_ms: number[];
}

function toCase(task: string, ms: number[], tokens: number): CaseResult {
  const [engine, name] = task.split(' ') as ['ours' | 'llama.cpp', string];
  const sorted = [...ms].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return {
    engine, case: name, tokens, samples: ms.length, median_ms: median, min_ms: sorted[0]!, max_ms: sorted.at(-1)!,
    tok_s: tokens / (median / 1e3), best_tok_s: tokens / (sorted[0]! / 1e3), samples_ms: ms,
  };
}

/**
 * Router load on the MoE model (untimed): top-K of `ffn_moe_logits-N` {E, T} (debugEvaluate) for a 128-token
 * prompt, per layer. Uniform routing gives every expert a share of 1/E; `max_share` is the busiest expert's
 * share of the T·K slots in its layer, `idle_experts` the experts no token chose.
 */
async function expertLoad(ours: Model, c: SyntheticModelConfig, T: number): Promise<Record<string, unknown>> {
  const s = ours.createSession();
  try {
    const m = await s.debugEvaluate(promptTokens(T, 3));
    const E = c.nExpert;
    const K = c.nExpertUsed;
    const total = new Array<number>(E).fill(0);
    const perLayer: { layer: number; max_share: number; idle_experts: number }[] = [];
    for (let il = 0; il < c.nTrunk; il++) {
      const lg = m.get(`ffn_moe_logits-${il}`);
      if (!lg) continue;
      const counts = new Array<number>(E).fill(0);
      for (let t = 0; t < T; t++) {
        const row = Array.from(lg.subarray(t * E, (t + 1) * E), (v, e) => [v, e] as const).sort((x, y) => y[0] - x[0]);
        for (let k = 0; k < K; k++) counts[row[k]![1]]!++;
      }
      counts.forEach((n, e) => (total[e]! += n));
      perLayer.push({ layer: il, max_share: Math.max(...counts) / (T * K), idle_experts: counts.filter((n) => n === 0).length });
    }
    const slots = total.reduce((x, y) => x + y, 0);
    const mean = slots / E;
    const cv = Math.sqrt(total.reduce((x, n) => x + (n - mean) ** 2, 0) / E) / mean;
    return { tokens: T, experts: E, used: K, uniform_share: 1 / E, histogram_all_layers: total, cv_all_layers: cv, per_layer: perLayer };
  } finally {
    s.dispose();
  }
}

async function benchShape(llama: Llama, shape: SyntheticShapeName, copyGBs: number): Promise<Record<string, unknown>> {
  const { path, config: c, generatedSeconds } = await ensureModel(shape);
  process.stderr.write(`[${shape}] ${path} (${(c.paramCount / 1e6).toFixed(1)} M params${generatedSeconds !== null ? `, generated in ${generatedSeconds.toFixed(1)} s` : ', cached'})\n`);
  const ours = await loadModel(path, { threads: args.threads, contextSize: CTX, batchSize: BATCH, kvCacheType: 'f16', activations: args.activations });
  const lm = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const lctx = await lm.createContext({ contextSize: CTX, batchSize: BATCH, threads: args.threads, flashAttention: false });
  const peer: PeerHandles = { model: lm, ctx: lctx, seq: lctx.getSequence() };
  try {
    const gate = await correctnessGate(ours, peer, c.nVocab);
    process.stderr.write(`[${shape}] gate: ${gate.reason} (argmax ours ${gate.oursArgmax} / llama ${gate.peerArgmax}, margin ${gate.peerMargin.toFixed(3)}, max|Δ| ${gate.maxAbsDiff.toFixed(3)}, rel RMS Δ ${gate.relRmsDiff.toFixed(4)}, llama.cpp self ${gate.peerSelfRelRmsDiff.toFixed(4)}, limit ${gate.limit.toFixed(3)})\n`);
    if (!gate.passed) return { shape, gate, error: 'correctness gate failed; not timed' };

    // Rounds: each round is one tinybench run of every task once (round 0 adds one untimed warm-up per task), in
    // the order ours/llama.cpp per case, so load drift on a shared machine hits both engines alike.
    const tokensOf = new Map<string, number>();
    const makeBench = (warm: boolean): Bench => {
      const bench = new Bench({ name: `e2e-cpu ${shape}`, iterations: 1, time: 0, warmup: warm, warmupIterations: 1, warmupTime: 0, throws: true });
      for (const n of PREFILL) {
        const prompt = promptTokens(n, n);
        let sess: ReturnType<Model['createSession']> | undefined;
        bench.add(`ours prefill-${n}`, async () => {
          await sess!.evaluate(prompt, { logits: 'last' });
        }, { beforeEach: () => { sess = ours.createSession(); }, afterEach: () => { sess?.dispose(); sess = undefined; } });
        bench.add(`llama.cpp prefill-${n}`, async () => {
          await peer.seq.controlledEvaluate(prompt.map((t, i) => (i === n - 1 ? ([t, { generateNext: { logits: true } }] as const) : t)) as never);
        }, { beforeEach: async () => { await peer.seq.clearHistory(); } });
        tokensOf.set(`prefill-${n}`, n);
      }
      {
        const prompt = promptTokens(DECODE_PROMPT, 7);
        let sess: ReturnType<Model['createSession']> | undefined;
        let first = 0;
        bench.add(`ours decode-${DECODE_N}`, async () => {
          const t0 = performance.now();
          let tok = first;
          for (let i = 0; i < DECODE_N; i++) {
            const [row] = await sess!.evaluate([tok], { logits: 'last' });
            tok = argmax(row!);
          }
          return { overriddenDuration: performance.now() - t0 };
        }, {
          beforeEach: async () => {
            sess = ours.createSession();
            const [row] = await sess.evaluate(prompt, { logits: 'last' });
            first = argmax(row!);
          },
          afterEach: () => { sess?.dispose(); sess = undefined; },
        });
        bench.add(`llama.cpp decode-${DECODE_N}`, async () => {
          // The generator evaluates the prompt, yields token 1, then one evaluation per further token:
          // time from the first yield to the (DECODE_N+1)-th = DECODE_N one-token decode steps (+ greedy sampling).
          let t0 = 0;
          let n = 0;
          for await (const _ of peer.seq.evaluate(prompt as Token[], { temperature: 0 })) {
            if (n === 0) t0 = performance.now();
            if (n++ === DECODE_N) break;
          }
          return { overriddenDuration: performance.now() - t0 };
        }, { beforeEach: async () => { await peer.seq.clearHistory(); } });
        tokensOf.set(`decode-${DECODE_N}`, DECODE_N);
      }
      return bench;
    };
    const samples = new Map<string, number[]>();
    for (let r = 0; r < args.samples; r++) {
      const bench = makeBench(r === 0);
      await bench.run();
      for (const row of tinybenchRows(bench)) samples.set(row.name, [...(samples.get(row.name) ?? []), row.p50Ms]);
      process.stderr.write(`[${shape}] round ${r + 1}/${args.samples} done\n`);
    }
    const expert_load = c.arch === 'qwen35moe' ? await expertLoad(ours, c, 128) : undefined;
    const cases = [...samples].map(([name, ms]) => toCase(name, ms, tokensOf.get(name.split(' ')[1]!)!));
    const find = (engine: string, name: string): CaseResult => cases.find((x) => x.engine === engine && x.case === name)!;
    const get = (engine: string, name: string): number => find(engine, name).tok_s;
    const floor = (copyGBs * 1e9) / c.decodeBytesPerToken;
    const prefill_tok_s: Record<string, number> = {};
    const peer_prefill_tok_s: Record<string, number> = {};
    for (const n of PREFILL) {
      prefill_tok_s[n] = get('ours', `prefill-${n}`);
      peer_prefill_tok_s[n] = get('llama.cpp', `prefill-${n}`);
    }
    const decode = get('ours', `decode-${DECODE_N}`);
    const peerDecode = get('llama.cpp', `decode-${DECODE_N}`);
    const ratio: Record<string, number> = { decode: decode / peerDecode };
    for (const n of PREFILL) ratio[`prefill_${n}`] = prefill_tok_s[n]! / peer_prefill_tok_s[n]!;
    const ratioBest: Record<string, number> = {};
    for (const name of tokensOf.keys()) ratioBest[name.replace('-', '_').replace(/^decode_\d+$/, 'decode')] = find('ours', name).best_tok_s / find('llama.cpp', name).best_tok_s;
    return {
      shape,
      model: {
        path,
        arch: c.arch,
        n_embd: c.nEmbd,
        n_layer: c.nTrunk,
        n_gdn: c.isRecurrent.filter(Boolean).length,
        attention: `${c.nHead}/${c.nHeadKv}×${c.headDim}`,
        gdn: `nk ${c.ssmNK} / nv ${c.ssmNV} × ${c.ssmHeadDim}`,
        ffn: c.arch === 'qwen35' ? `dense ${c.nFF}` : `${c.nExpert} experts top ${c.nExpertUsed} × ${c.nFFExp} + shared ${c.nFFShexp}`,
        n_vocab: c.nVocab,
        params: c.paramCount,
        active_params: c.activeParamCount,
        weight_bytes: c.weightBytes,
        decode_bytes_per_token: c.decodeBytesPerToken,
        generator_version: SYNTHETIC_GENERATOR_VERSION,
      },
      gate,
      cases,
      prefill_tok_s,
      decode_tok_s: decode,
      floor_tok_s: floor,
      pct_of_floor: (100 * decode) / floor,
      peer: { engine: 'llama.cpp (node-llama-cpp, CPU)', prefill_tok_s: peer_prefill_tok_s, decode_tok_s: peerDecode, pct_of_floor: (100 * peerDecode) / floor },
      ratio_vs_peer: ratio,
      /** the same ratios from the best (min-time) samples */
      ratio_vs_peer_best: ratioBest,
      ...(expert_load ? { expert_load } : {}),
    };
  } finally {
    await lctx.dispose();
    await lm.dispose();
    ours.dispose();
  }
}

async function main(): Promise<void> {
  const memcpy = measureMemcpyBandwidth({ threads: args.threads, bytes: (args.quick ? 64 : 256) * 2 ** 20, repeats: args.quick ? 2 : 5 });
  process.stderr.write(`memcpy (${args.threads} threads): ${memcpy.gbPerSec.toFixed(1)} GB/s (STREAM copy)\n`);
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const results: Record<string, unknown>[] = [];
  for (const shape of args.shapes) results.push(await benchShape(llama, shape, memcpy.gbPerSec));
  await llama.dispose();

  const file = writeBenchReport(args.report ?? (args.quick ? 'e2e-cpu-quick' : args.activations === 'q8' ? 'e2e-cpu-q8' : 'e2e-cpu'), {
    threads: args.threads,
    quick: args.quick,
    copy_bw_gbs: memcpy.gbPerSec,
    memcpy,
    settings: { activations: args.activations, context: CTX, micro_batch: BATCH, kv_cache: 'f16', flash_attention: false, decode_prompt: DECODE_PROMPT, decode_tokens: DECODE_N, prefill_tokens: PREFILL },
    models: results,
  });

  const lines = [
    `| model | case | ours tok/s | llama.cpp tok/s | ratio (median) | ratio (best) | ours median (min–max) ms | llama.cpp median (min–max) ms |`,
    `|---|---|---|---|---|---|---|---|`,
  ];
  for (const r of results) {
    const cases = r.cases as CaseResult[] | undefined;
    if (!cases) {
      lines.push(`| ${String(r.shape)} | — | NOT TIMED: ${String(r.error)} | | | | | |`);
      continue;
    }
    for (const name of [...new Set(cases.map((x) => x.case))]) {
      const o = cases.find((x) => x.engine === 'ours' && x.case === name)!;
      const p = cases.find((x) => x.engine === 'llama.cpp' && x.case === name)!;
      const ms = (x: CaseResult): string => `${x.median_ms.toFixed(1)} (${x.min_ms.toFixed(1)}–${x.max_ms.toFixed(1)})`;
      lines.push(`| ${String(r.shape)} | ${name} | ${o.tok_s.toFixed(1)} | ${p.tok_s.toFixed(1)} | ${(o.tok_s / p.tok_s).toFixed(2)}× | ${(o.best_tok_s / p.best_tok_s).toFixed(2)}× | ${ms(o)} | ${ms(p)} |`);
    }
    const peerR = r.peer as { pct_of_floor: number };
    lines.push(`| ${String(r.shape)} | decode floor ${(r.floor_tok_s as number).toFixed(1)} tok/s | ${(r.pct_of_floor as number).toFixed(1)} % | ${peerR.pct_of_floor.toFixed(1)} % | | | | |`);
  }
  console.log(lines.join('\n'));
  for (const r of results) {
    const el = r.expert_load as { tokens: number; experts: number; used: number; cv_all_layers: number; histogram_all_layers: number[]; per_layer: { max_share: number; idle_experts: number }[] } | undefined;
    if (!el) continue;
    const worst = Math.max(...el.per_layer.map((x) => x.max_share));
    const idle = el.per_layer.reduce((a, x) => a + x.idle_experts, 0);
    console.log(`\n${String(r.shape)} expert load (${el.tokens} tokens, top ${el.used} of ${el.experts}; uniform share ${(100 / el.experts).toFixed(1)} %): ` +
      `busiest expert per layer ≤ ${(100 * worst).toFixed(1)} % of slots, ${idle} idle (expert, layer) pairs, CV over all layers ${el.cv_all_layers.toFixed(2)}; ` +
      `histogram ${el.histogram_all_layers.join(' ')}`);
  }
  console.log(`\nthreads ${args.threads}, memcpy ${memcpy.gbPerSec.toFixed(1)} GB/s → ${file}`);
  if (results.some((r) => !r.cases)) process.exitCode = 1;
}

await main();
