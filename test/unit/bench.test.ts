/**
 * qwen-hybrid/bench (src/bench) and `qwen-hybrid bench`: the report schema (every field present, nulls not invented),
 * the markdown table and SVG chart (well-formed XML, one bar per case, data escaped), the CLI's argument errors, and
 * benchOp on a tiny CPU shape: sane numbers, and a correctness gate that fails on a wrong reference. No timing is
 * asserted (only that figures are finite and consistent with each other).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import {
  assertBenchReport, BENCH_OPS, BenchGateError, benchCase, benchOp, CASE_FIELDS, expertLoadFromLogits, makeBenchReport, markdownTable,
  REPORT_FIELDS, svgChart, writeReportJson, type BenchReport,
} from '../../src/bench/index.js';
import { suiteOpCases } from '../../src/bench/suite.js';
import { loadNativeAddon } from '../../src/native/index.js';
import type { TensorArray } from '../../src/native/types.js';
import { cli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'qh-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A report with hostile case names and a mix of present and null figures. */
function sampleReport(): BenchReport {
  return makeBenchReport({
    bench: 'test <&> "suite"',
    backend: 'cpu',
    threads: 2,
    copy_bw_gbs: 20,
    cases: [
      benchCase({ name: 'matvec Q4_K <a|b> & "c"', kind: 'op', samples: 10, median_ms: 1.5, min_ms: 1.2, max_ms: 2, gbs: 14, tflops: 0.1, pct_of_floor: 70, gate: 'ok' }),
      benchCase({ name: "decode-32@16 'x'", kind: 'decode', model_shape: 'qwen35-quick', samples: 3, median_ms: 100, min_ms: 90, max_ms: 110, decode_tok_s: 320, floor_tok_s: 400, pct_of_floor: 80, peer: { engine: 'llama.cpp', median_ms: 120, min_ms: 110, max_ms: 130, tok_s: 266.7 }, ratio_vs_peer: 1.2, gate: 'ok' }),
      benchCase({ name: 'prefill-64', kind: 'prefill', samples: 3, median_ms: 50, min_ms: 45, max_ms: 55, prefill_tok_s: 1280, gate: 'ok' }),
    ],
  });
}

/** Minimal XML well-formedness: balanced tags, no raw '<' or '&' in text or attribute values. */
function checkXml(s: string): void {
  const body = s.replace(/^<\?xml[^>]*\?>\s*/, '');
  const stack: string[] = [];
  const re = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<&]*(?:&(?:amp|lt|gt|quot|apos);[^"<&]*)*")*)\s*(\/?)>|([^<]+)/g;
  let pos = 0;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    expect(m.index, `unparsable XML at ${pos}: ${body.slice(pos, pos + 60)}`).toBe(pos);
    pos = re.lastIndex;
    if (m[5] !== undefined) {
      expect(m[5].replace(/&(amp|lt|gt|quot|apos);/g, ''), 'raw & or > in text').not.toMatch(/[&>]/);
      continue;
    }
    if (m[1]) expect(stack.pop(), `closing </${m[2]}>`).toBe(m[2]);
    else if (!m[4]) stack.push(m[2]!);
  }
  expect(pos, `trailing garbage: ${body.slice(pos, pos + 60)}`).toBe(body.length);
  expect(stack).toEqual([]);
}

describe('bench report', () => {
  it('has every run and case field; figures that do not apply are null; environment from the machine', () => {
    const r = sampleReport();
    assertBenchReport(r);
    for (const f of REPORT_FIELDS) expect(r, f).toHaveProperty(f);
    for (const c of r.cases) for (const f of CASE_FIELDS) expect(c, `${c.name}.${f}`).toHaveProperty(f);
    expect(r.cases[0]!.decode_tok_s).toBeNull();
    expect(r.cases[2]!.peer).toBeNull();
    expect(r.gemm_tflops).toBeNull();
    expect(typeof r.device).toBe('string');
    expect(r.commit === null || /^[0-9a-f]{40}$/.test(r.commit)).toBe(true);
    // a written report reads back equal and still passes the schema check
    const file = writeReportJson(join(dir, 'sub', 'r.json'), r);
    const back = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    assertBenchReport(back);
    expect(back).toEqual(r);
  });

  it('refuses a report with a missing field or a non-finite figure', () => {
    const r = sampleReport() as unknown as Record<string, unknown>;
    delete r.driver;
    expect(() => assertBenchReport(r)).toThrow(/missing field 'driver'/);
    const r2 = sampleReport();
    delete (r2.cases[1] as unknown as Record<string, unknown>).ratio_vs_peer;
    expect(() => assertBenchReport(r2)).toThrow(/missing field 'ratio_vs_peer'/);
    const r3 = sampleReport();
    r3.cases[0]!.gbs = Number.NaN;
    expect(() => writeReportJson(join(dir, 'bad.json'), r3)).toThrow(/gbs is NaN/);
  });

  it('markdown: one row per case, pipes escaped, nulls as dashes', () => {
    const md = markdownTable(sampleReport());
    const rows = md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| case'));
    expect(rows).toHaveLength(3);
    expect(rows[0]).toContain('<a\\|b>');
    for (const row of rows) expect(row.replace(/\\\|/g, '').split('|')).toHaveLength(9);
    expect(rows[1]).toContain('1.20×');
    expect(rows[2]).toContain('—');
  });

  it('SVG: well-formed XML, one bar per case, names escaped, n/a for missing figures', () => {
    for (const metric of ['pct_of_floor', 'ratio_vs_peer'] as const) {
      const svg = svgChart(sampleReport(), { metric });
      checkXml(svg);
      expect(svg.match(/<rect class="bar"/g)).toHaveLength(3);
      expect(svg).toContain('matvec Q4_K &lt;a|b&gt; &amp; &quot;c&quot;');
      expect(svg).not.toContain('<a|b>');
      expect(svg).toContain(metric === 'pct_of_floor' ? '80.0 %' : '120.0 %');
      expect(svg).toContain('n/a');
    }
  });

  it('expert-load histogram: counts top-K slots per expert, max share and idle pairs', () => {
    // 2 tokens × 4 experts, top 2: token 0 picks experts 3, 1; token 1 picks 0, 1 (layer 0); layer 1 always 2, 3
    const l0 = new Float32Array([0, 2, -1, 3, 5, 4, 0, 0]);
    const l1 = new Float32Array([0, 0, 9, 8, 0, 0, 9, 8]);
    const h = expertLoadFromLogits('m', [l0, l1, undefined], 4, 2, 2);
    expect(h.histogram).toEqual([1, 2, 2, 3]);
    expect(h.max_share).toBe(0.5);
    expect(h.idle_pairs).toBe(1 + 2);
  });
});

describe('benchOp (CPU, tiny shape)', () => {
  it('gates, then times: finite, consistent figures', async () => {
    const r = await benchOp({ op: 'MATMUL', weightType: 'Q4_K', shape: { k: 256, m: 64 }, threads: 1, time: 20, rotateBytes: 0, floor: { copyGBs: 10 } });
    const c = r.case;
    expect(c.gate).toMatch(/outputs within the exact/);
    expect(c.samples).toBeGreaterThan(0);
    expect(c.min_ms).toBeGreaterThan(0);
    expect(c.min_ms).toBeLessThanOrEqual(c.median_ms);
    expect(c.median_ms).toBeLessThanOrEqual(c.max_ms);
    expect(r.weight_bytes).toBe(64 * 144);
    expect(c.gbs! * 1e9 * (c.median_ms / 1e3)).toBeCloseTo(r.weight_bytes, 3);
    expect(c.pct_of_floor).toBeCloseTo((100 * c.gbs!) / 10, 6);
    expect(c.shape).toEqual({ op: 'MATMUL', type: 'Q4_K', k: 256, m: 64, T: 1 });
    expect(r.copy_bw_gbs).toBe(10);
  });

  it('a GEMM case (T > 1) and q8 activations pass their gates; CPU GEMM has no floor', async () => {
    const g = await benchOp({ op: 'MATMUL', weightType: 'Q8_0', shape: { k: 64, m: 32, t: 5 }, threads: 1, time: 10 });
    expect(g.case.gbs).toBeNull();
    expect(g.case.pct_of_floor).toBeNull();
    expect(g.case.tflops).toBeGreaterThan(0);
    const q = await benchOp({ op: 'MATMUL', weightType: 'Q6_K', shape: { k: 256, m: 16 }, threads: 1, activations: 'q8', time: 10, rotateBytes: 0, floor: { copyGBs: 10 } });
    expect(q.case.gate).toMatch(/q8/);
    expect(q.case.variant).toMatchObject({ activations: 'q8', threads: 1 });
  });

  it('the gate fails (nothing timed) against a wrong reference', async () => {
    const p = benchOp({ op: 'MATMUL', weightType: 'Q4_K', shape: { k: 256, m: 8 }, threads: 1, time: 10, rotateBytes: 0, floor: { copyGBs: 10 }, reference: (w, x) => 1 + Math.abs(w[0]! * x[0]!) * 1e3 });
    await expect(p).rejects.toBeInstanceOf(BenchGateError);
    await expect(benchOp({ op: 'MATMUL', weightType: 'Q4_K', shape: { k: 256, m: 8 }, threads: 1, time: 10, rotateBytes: 0, floor: { copyGBs: 10 }, reference: () => 0.5 })).rejects.toThrow(/correctness gate failed/);
  });

  it('bad input: typed INVALID_ARGUMENT naming the parameter', async () => {
    await expect(benchOp({ op: 'MATMUL', weightType: 'Q9_Z', shape: { k: 256, m: 8 } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { parameter: 'weightType' } });
    await expect(benchOp({ op: 'MATMUL', weightType: 'Q4_K', shape: { k: 100, m: 8 } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { parameter: 'shape.k' } });
    await expect(benchOp({ op: 'SOFTMAX' as 'MATMUL', weightType: 'Q4_K', shape: { k: 256, m: 8 } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { parameter: 'op' } });
    await expect(benchOp({ op: 'MATMUL', weightType: 'Q4_K', shape: { k: 256, m: 8 }, backend: 'cuda', activations: 'q8' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { parameter: 'activations' } });
  });
});

describe('benchOp: every op (CPU, tiny --quick cases)', () => {
  /** Breaks the first element of every output (+1: an f32 far outside any bound, an i32 a different id). */
  const corrupt = (out: Record<string, TensorArray>): void => {
    for (const a of Object.values(out)) a[0] = a[0]! + 1;
  };
  const cases = BENCH_OPS.filter((op) => op !== 'MATMUL').flatMap((op) => suiteOpCases(op, 'cpu', true, 1));

  it('every op except MATMUL has a quick case; GDN has serial and chunked, ATTENTION every cache type', () => {
    expect(new Set(cases.map((c) => c.op))).toEqual(new Set(BENCH_OPS.filter((op) => op !== 'MATMUL')));
    const gdn = cases.filter((c) => c.op === 'GATED_DELTA_NET').map((c) => (c as { mode?: string }).mode);
    expect(new Set(gdn)).toEqual(new Set(['serial', 'chunked']));
    const caches = cases.filter((c) => c.op === 'ATTENTION').map((c) => (c as { cache?: string }).cache);
    expect(new Set(caches)).toEqual(new Set(['f32', 'f16', 'q8_0']));
  });

  it.each(cases.map((c, i) => [`${c.op} #${i}`, c] as const))('%s: gate passes, figures consistent; a corrupted output fails the gate', async (_, c) => {
    const r = await benchOp({ ...c, time: 5, floor: { copyGBs: 10, gemmTflops: 100 } });
    expect(r.case.gate).not.toBe('');
    expect(r.case.kind).toBe('op');
    expect(r.case.shape).toMatchObject({ op: c.op });
    expect(r.bytes).toBeGreaterThan(0);
    expect(r.case.gbs! * 1e9 * (r.case.median_ms / 1e3)).toBeCloseTo(r.bytes, 3);
    if (r.case.pct_of_floor !== null) expect(r.case.pct_of_floor).toBeCloseTo((100 * r.case.gbs!) / 10, 6);
    await expect(benchOp({ ...c, time: 5, floor: { copyGBs: 10 }, corrupt })).rejects.toMatchObject({ code: 'BENCH_GATE_FAILED' });
  });

  it('ATTENTION prefill and GDN report flops; CPU compute-bound cases have no floor', async () => {
    const a = await benchOp({ op: 'ATTENTION', shape: { d: 32, hq: 2, hkv: 1, t: 4, pos: 3 }, cache: 'f32', threads: 1, time: 5 });
    expect(a.case.tflops).toBeGreaterThan(0);
    expect(a.case.pct_of_floor).toBeNull();
    expect(a.case.variant).toMatchObject({ cache: 'f32' });
  });

  it('bad shapes: typed INVALID_ARGUMENT naming the parameter', async () => {
    await expect(benchOp({ op: 'RMS_NORM', shape: { n: 0, rows: 1 } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { parameter: 'shape.n' } });
    await expect(benchOp({ op: 'ATTENTION', shape: { d: 32, hq: 3, hkv: 2, pos: 1 } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { parameter: 'shape.hq' } });
    await expect(benchOp({ op: 'GATED_DELTA_NET', shape: { dk: 8, dv: 8, nk: 2, nv: 2 }, mode: 'fast' as 'serial' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { parameter: 'mode' } });
  });
});

describe('qwen-hybrid bench (CLI)', () => {
  it('argument errors are usage errors (exit 2), before anything runs', async () => {
    for (const args of [['--ops', 'NOPE'], ['--backend', 'tpu'], ['--threads', '0'], ['--threads', 'x'], ['--shapes', 'qwen99'], ['--samples', '0'], ['--bogus'], ['--ops', ',']]) {
      const r = await cli(['bench', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^error\[USAGE\]: bench: /);
      expect(r.stdout).toBe('');
    }
  });

  it('--help and the main help list it', async () => {
    const h = await cli(['bench', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('--backend');
    expect((await cli(['--help'])).stdout).toMatch(/\n {2}bench +kernel and whole-model benchmarks/);
  });

  it.runIf(!loadNativeAddon().cudaDevices().available)('--backend cuda without a device: error[NO_CUDA_DEVICE], exit 1, nothing on stdout', async () => {
    const r = await cli(['bench', '--backend', 'cuda', '--ops', 'MATMUL', '--quick']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error\[NO_CUDA_DEVICE\]: /);
    expect(r.stdout).toBe('');
  });

  it('--ops MATMUL --quick: markdown table, JSON report and SVG', async () => {
    const json = join(dir, 'cli.json');
    const svg = join(dir, 'cli.svg');
    const r = await cli(['bench', '--ops', 'matmul', '--quick', '--threads', '1', '--json', json, '--svg', svg]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    assertBenchReport(report);
    expect(report.backend).toBe('cpu');
    expect(report.copy_bw_gbs).toBeGreaterThan(0);
    expect(report.model_shape).toBeNull();
    expect(report.cases.length).toBeGreaterThanOrEqual(5);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('| MATMUL'))).toHaveLength(report.cases.length);
    const s = readFileSync(svg, 'utf8');
    checkXml(s);
    expect(s.match(/<rect class="bar"/g)).toHaveLength(report.cases.length);
  });

  it('--ops all --quick: one case per (op, variant), every op present; op names are case-insensitive', async () => {
    const json = join(dir, 'all.json');
    const r = await cli(['bench', '--ops', 'all', '--quick', '--threads', '1', '--json', json]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    assertBenchReport(report);
    const ops = new Set(report.cases.map((c) => c.shape?.op));
    expect(ops).toEqual(new Set(BENCH_OPS));
    const names = report.cases.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    const two = await cli(['bench', '--ops', 'attention,Gated_Delta_Net', '--quick', '--threads', '1']);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toMatch(/\| ATTENTION /);
    expect(two.stdout).toMatch(/\| GATED_DELTA_NET /);
    expect(two.stdout).not.toMatch(/\| MATMUL /);
    const bad = await cli(['bench', '--ops', 'attention,softmax']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown op 'SOFTMAX'.*GATED_DELTA_NET/);
  });
});
