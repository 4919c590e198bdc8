/**
 * Constrained decoding cost (issue 17): XGrammar (WASM) at Qwen3.6's 248,320-token vocabulary, and the per-token
 * overhead of a JSON-schema constraint in generate().
 *
 * Vocabulary: the real Qwen3 vocabulary (151,936 tokens, test/helpers/vocab-gguf.ts) padded to 248,320 with unique
 * synthetic byte-level tokens (2-8 characters of a JSON-heavy alphabet, seeded), EOG = <|im_end|>.
 *   tokenizer_info_ms   TokenizerInfo over the whole vocabulary (once per model)
 *   compile_ms          a 3-property JSON schema, compiler cache off (cold) and on (the same schema again)
 *   mask_ms             getNextTokenBitmask per step while a valid document is fed token by token (median, p90, max)
 *   rss_delta_mib       resident memory added by the engine state (RSS after / before, both after gc(); run with
 *                       node --expose-gc, else null); wasm_heap_delta_mib: external + arrayBuffers (the WASM heap)
 * End to end (demo model, CPU, 1 thread; its vocabulary is small, so this is the per-step fixed cost):
 *   decode tokens/s unconstrained vs with the schema, same seed, in the same run (tinybench, warm-up first).
 * Run: node --expose-gc --import tsx bench/grammar.bench.ts [--quick]   → table + bench/results/grammar-cpu.json
 */
import { Bench } from 'tinybench';
import { writeBenchReport } from './lib/index.js';
import { loadXGrammar } from '../src/grammar/xgrammar.js';
import { GrammarEngine, loadModel, parseGGUF, Rng, Tokenizer } from '../src/index.js';
import { demoModelPath } from '../src/model/demo.js';
import { qwen3VocabGGUF } from '../test/helpers/vocab-gguf.js';
import { readFileSync } from 'node:fs';

const quick = process.argv.includes('--quick');
const V = 248_320;
const schema = { type: 'object', properties: { name: { type: 'string', maxLength: 20 }, age: { type: 'integer', minimum: 0, maximum: 120 }, tags: { type: 'array', items: { enum: ['a', 'b', 'c'] }, maxItems: 4 } }, required: ['name', 'age', 'tags'], additionalProperties: false };
// The compact grammar (anyWhitespace off) writes JSON.stringify(·, null, 2)'s layout.
const doc = JSON.stringify({ name: 'Ada Lovelace', age: 36, tags: ['a', 'c'] }, null, 2);

// GPT-2 byte-level map (byte → printable char), as the vocabulary stores tokens.
const byteChar = (() => {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) (bs.push(b), cs.push(256 + n++));
  const m: string[] = [];
  bs.forEach((b, i) => (m[b] = String.fromCodePoint(cs[i]!)));
  return m;
})();

const tok = Tokenizer.fromGGUF(parseGGUF(readFileSync(qwen3VocabGGUF('qwen35'))));
const vocab = Array.from({ length: tok.vocabSize }, (_, i) => tok.tokenText(i));
const seen = new Set(vocab);
const rng = new Rng(1);
const alphabet = 'abcdefghijklmnopqrstuvwxyz ETAOIN{}[]":,0123456789';
while (vocab.length < V) {
  let s = '';
  const L = 2 + rng.int(7);
  for (let i = 0; i < L; i++) s += byteChar[alphabet.charCodeAt(rng.int(alphabet.length))];
  if (!seen.has(s)) (seen.add(s), vocab.push(s));
}
const eog = tok.tokenId('<|im_end|>')!;

const xg = loadXGrammar();
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const mem = () => { const u = process.memoryUsage(); return { rss: u.rss, wasm: u.external + u.arrayBuffers }; };
const mem0 = mem();
let t = performance.now();
const info = await xg.TokenizerInfo.createTokenizerInfo(vocab, 'byte_level', false, V, [eog]);
const tokenizerInfoMs = performance.now() - t;
const cold = await xg.GrammarCompiler.createGrammarCompiler(info, false);
t = performance.now();
const cg = await cold.compileJSONSchema(JSON.stringify(schema), false);
const compileColdMs = performance.now() - t;
const cached = await xg.GrammarCompiler.createGrammarCompiler(info, true);
await cached.compileJSONSchema(JSON.stringify(schema), false);
t = performance.now();
await cached.compileJSONSchema(JSON.stringify(schema), false);
const compileCachedMs = performance.now() - t;

// Feed the document (tokenized by the real tokenizer) step by step.
const m = await xg.GrammarMatcher.createGrammarMatcher(cg);
const masks: number[] = [];
let accepted = 0;
const ids = tok.encode(doc);
for (const id of [...ids, eog]) {
  t = performance.now();
  await m.getNextTokenBitmask();
  masks.push(performance.now() - t);
  if (!m.acceptToken(id)) break;
  accepted++;
}
gc?.();
// Only meaningful with --expose-gc (JS garbage otherwise dominates): null without it.
const mem1 = mem();
const rssDeltaMib = gc ? (mem1.rss - mem0.rss) / 2 ** 20 : null;
// The WASM heap is an ArrayBuffer outside the JS heap: external + arrayBuffers.
const wasmDeltaMib = (mem1.wasm - mem0.wasm) / 2 ** 20;
const sorted = [...masks].sort((a, b) => a - b);
const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

// End to end on the demo model.
const model = await loadModel(await demoModelPath(), { backend: 'cpu', threads: 1 });
await (await GrammarEngine.forTokenizer(model.tokenizer, model.vocabSize)).compile({ type: 'json_schema', schema }); // warm the compiler cache
const N = quick ? 16 : 48;
let plainTokens = 0, constrainedTokens = 0;
const bench = new Bench({ iterations: quick ? 2 : 6, warmup: true, warmupIterations: 1 });
bench
  .add('decode unconstrained', async () => {
    const r = await model.createSession({ contextSize: 256 }).generate('Output:', { seed: 1, temperature: 0.8, maxTokens: N, ignoreEos: true }).complete();
    plainTokens = r.tokens.length;
  })
  .add('decode json_schema', async () => {
    const r = await model.createSession({ contextSize: 256 }).generate('Output:', { seed: 1, temperature: 0.8, maxTokens: N, jsonSchema: schema }).complete();
    constrainedTokens = r.tokens.length;
  });
await bench.run();
const perTokenMs = (name: string, n: number) => {
  const task = bench.tasks.find((x) => x.name === name)!;
  const mean = (task.result as { latency?: { mean: number } } | undefined)?.latency?.mean ?? NaN;
  return mean / Math.max(1, n);
};
const plainMs = perTokenMs('decode unconstrained', plainTokens);
const constrainedMs = perTokenMs('decode json_schema', constrainedTokens);
model.dispose();

const results = {
  vocab: { size: V, real_qwen3_tokens: tok.vocabSize, synthetic_tokens: V - tok.vocabSize },
  tokenizer_info_ms: +tokenizerInfoMs.toFixed(1),
  compile_ms: { cold: +compileColdMs.toFixed(1), cached: +compileCachedMs.toFixed(2) },
  mask_ms: { steps: masks.length, accepted_tokens: accepted, median: +q(0.5).toFixed(3), p90: +q(0.9).toFixed(3), max: +sorted[sorted.length - 1]!.toFixed(3) },
  rss_delta_mib: rssDeltaMib === null ? null : +rssDeltaMib.toFixed(1),
  wasm_heap_delta_mib: +wasmDeltaMib.toFixed(1),
  demo_decode_ms_per_token: { unconstrained: +plainMs.toFixed(3), json_schema: +constrainedMs.toFixed(3), overhead_ms: +(constrainedMs - plainMs).toFixed(3), tokens: { unconstrained: plainTokens, json_schema: constrainedTokens } },
};
console.table({
  'TokenizerInfo (248,320)': `${results.tokenizer_info_ms} ms`,
  'compile, cold / cached': `${results.compile_ms.cold} / ${results.compile_ms.cached} ms`,
  'mask per step, median / p90 / max': `${results.mask_ms.median} / ${results.mask_ms.p90} / ${results.mask_ms.max} ms`,
  'RSS / WASM heap added': `${results.rss_delta_mib} / ${results.wasm_heap_delta_mib} MiB`,
  'demo decode per token, plain / schema': `${results.demo_decode_ms_per_token.unconstrained} / ${results.demo_decode_ms_per_token.json_schema} ms`,
});
console.log(writeBenchReport(quick ? 'grammar-cpu-quick' : 'grammar-cpu', results));
