/**
 * `qwen-hybrid bench`: the bench suite (src/bench/suite.ts) from the command line. Prints a markdown table on stdout
 * (progress on stderr), writes the JSON report (--json) and an SVG chart (--svg). Arguments are checked before anything
 * runs; --backend cuda without a usable device is error[NO_CUDA_DEVICE] (exit 1).
 */
import { writeFileSync } from 'node:fs';

import { markdownTable, svgChart } from '../bench/format.js';
import { BENCH_OPS, type BenchOpName } from '../bench/op.js';
import { writeReportJson } from '../bench/report.js';
import { runBenchSuite } from '../bench/suite.js';
import { SYNTHETIC_SHAPES, type SyntheticShapeName } from '../model/synthetic.js';
import { resolveThreads } from '../runtime/threads.js';
import { parseCommandArgs, UsageError, type Output } from './io.js';
import { numberFlag } from './run.js';

export const BENCH_HELP = `Usage: qwen-hybrid bench [--ops <names>] [--e2e] [--backend cpu|cuda] [--json <file>] [--svg <file>]
                        [--quick] [--threads N] [--shapes <list>] [--samples N] [--no-peer]

Microbenchmarks (ops: every kernel variant, each gated by a correctness check before timing) and end-to-end
prefill / decode tokens/s on synthetic real-shape models, with the floors measured in the same run (memcpy
bandwidth on the CPU; device copy bandwidth and dense fp16 GEMM rate on CUDA) and llama.cpp (node-llama-cpp) on the
same GGUF as the peer when it is installed. Without --ops and --e2e both run.

  --ops       comma-separated op names (case-insensitive), or 'all': every op at real Qwen3.6 shapes (--quick: tiny
              ones), every kernel variant, each gated by a float64 reference check before timing
              (${BENCH_OPS.join(', ')})
  --e2e       whole-model prefill and decode
  --backend   cpu (default) or cuda
  --json      write the JSON report to this file
  --svg       write a bar chart (% of floor per case) to this file
  --quick     small shapes, short timings: seconds, for smoke runs
  --threads   CPU threads (default: all usable)
  --shapes    e2e synthetic shapes (${Object.keys(SYNTHETIC_SHAPES).join(', ')})
  --samples   e2e timed rounds per case (default 3; --quick 1)
  --no-peer   skip llama.cpp
`;

export async function benchCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parseCommandArgs('bench', argv, {
    ops: { type: 'string' },
    e2e: { type: 'boolean', default: false },
    backend: { type: 'string', default: 'cpu' },
    json: { type: 'string' },
    svg: { type: 'string' },
    quick: { type: 'boolean', default: false },
    threads: { type: 'string' },
    shapes: { type: 'string' },
    samples: { type: 'string' },
    'no-peer': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  }, false);
  if (values.help) {
    io.out(BENCH_HELP);
    return 0;
  }
  const backend = values.backend;
  if (backend !== 'cpu' && backend !== 'cuda') throw new UsageError(`bench: --backend must be cpu or cuda, got '${backend}'`);
  let ops: BenchOpName[] = [];
  if (values.ops !== undefined) {
    const names = values.ops.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
    if (names.length === 0) throw new UsageError('bench: --ops needs at least one op name (or all)');
    ops = names.includes('ALL') ? [...BENCH_OPS] : names.map((n) => {
      if (!(BENCH_OPS as readonly string[]).includes(n)) throw new UsageError(`bench: unknown op '${n}' (benchmarkable: ${BENCH_OPS.join(', ')}, or all)`);
      return n as BenchOpName;
    });
  }
  const e2e = values.e2e || values.ops === undefined;
  if (values.ops === undefined && !values.e2e) ops = [...BENCH_OPS];
  const requestedThreads = numberFlag('bench', 'threads', values.threads, true);
  if (requestedThreads !== undefined && requestedThreads < 1) throw new UsageError(`bench: --threads must be ≥ 1, got ${requestedThreads}`);
  const threads = resolveThreads(requestedThreads, { warn: (m) => io.err(`warning: ${m}\n`) });
  const samples = numberFlag('bench', 'samples', values.samples, true);
  if (samples !== undefined && samples < 1) throw new UsageError(`bench: --samples must be ≥ 1, got ${samples}`);
  let shapes: SyntheticShapeName[] | undefined;
  if (values.shapes !== undefined) {
    shapes = values.shapes.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
      if (!(s in SYNTHETIC_SHAPES)) throw new UsageError(`bench: unknown shape '${s}' (known: ${Object.keys(SYNTHETIC_SHAPES).join(', ')})`);
      return s as SyntheticShapeName;
    });
    if (shapes.length === 0) throw new UsageError('bench: --shapes needs at least one shape');
  }
  if (values.json !== undefined && values.json.length === 0) throw new UsageError('bench: --json needs a file name');
  if (values.svg !== undefined && values.svg.length === 0) throw new UsageError('bench: --svg needs a file name');

  const report = await runBenchSuite({
    backend, ops, e2e, quick: values.quick, threads, shapes, samples, peer: !values['no-peer'],
    log: (line) => io.err(`${line}\n`),
  });
  io.out(markdownTable(report));
  for (const l of report.expert_load ?? []) {
    io.out(`\n${l.model_shape} expert load (${l.tokens} tokens, top ${l.used} of ${l.experts}; uniform share ${(100 / l.experts).toFixed(2)} %): ` +
      `busiest expert per layer ≤ ${(100 * l.max_share).toFixed(1)} % of slots, ${l.idle_pairs} idle (expert, layer) pairs, CV ${l.cv.toFixed(2)}\n` +
      `histogram: ${l.histogram.join(' ')}\n`);
  }
  for (const n of report.notes) io.out(`note: ${n}\n`);
  if (values.json !== undefined) {
    writeReportJson(values.json, report);
    io.err(`wrote ${values.json}\n`);
  }
  if (values.svg !== undefined) {
    writeFileSync(values.svg, svgChart(report));
    io.err(`wrote ${values.svg}\n`);
  }
  return 0;
}
