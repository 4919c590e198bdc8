/**
 * Bench reports (design §4): every bench writes bench/results/<name>.json with the environment (device = CPU
 * model, cores, node version, commit, addon build, CPU backend ISA) and its results, and prints a table.
 *
 *   const rows = tinybenchRows(bench);                                  // after `await bench.run()`
 *   writeBenchReport('matmul-cpu', { memcpy, rows, ... });             // → bench/results/matmul-cpu.json
 */
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadNativeAddon } from '../../src/native/index.js';

const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface BenchEnvironment {
  date: string;
  /** CPU model string, e.g. "AMD EPYC 9654 96-Core Processor". */
  device: string;
  /** Logical CPUs of the machine / usable by this process. */
  cores: number;
  usableThreads: number;
  node: string;
  /** git HEAD, or 'unknown' outside a checkout. */
  commit: string;
  /** True when the working tree had uncommitted changes. */
  dirty: boolean | null;
  addon: { version: string; builder: string; compiler: string; cuda: boolean; cpu: Record<string, boolean> } | null;
}

export function benchEnvironment(): BenchEnvironment {
  let commit = 'unknown';
  let dirty: boolean | null = null;
  try {
    commit = execSync('git rev-parse HEAD', { cwd: BENCH_DIR, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    dirty = execSync('git status --porcelain', { cwd: BENCH_DIR, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim().length > 0;
  } catch {
    // not a git checkout
  }
  let addon: BenchEnvironment['addon'] = null;
  try {
    const b = loadNativeAddon().buildInfo();
    addon = { version: b.version, builder: b.builder, compiler: b.compiler, cuda: b.cuda, cpu: { ...b.cpu } };
  } catch {
    // addon not built: pure-TS benches still report
  }
  return {
    date: new Date().toISOString(),
    device: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    usableThreads: availableParallelism(),
    node: process.version,
    commit,
    dirty,
    addon,
  };
}

/** One tinybench task's latency summary (ms). */
export interface BenchRow {
  name: string;
  samples: number;
  meanMs: number;
  p50Ms: number;
  minMs: number;
  maxMs: number;
  rmePct: number;
}

/** Rows of a finished tinybench run; throws when a task did not complete (a failed bench is not a number). */
export function tinybenchRows(bench: { tasks: readonly { name: string; result: unknown }[] }): BenchRow[] {
  return bench.tasks.map((t) => {
    const r = t.result as { state?: string; error?: unknown; latency?: { samplesCount: number; mean: number; p50?: number; min: number; max: number; rme: number } };
    if (r.state !== 'completed' || !r.latency) throw new Error(`bench task ${t.name}: ${r.state ?? 'no result'}${r.error ? ` (${String(r.error)})` : ''}`);
    const l = r.latency;
    return { name: t.name, samples: l.samplesCount, meanMs: l.mean, p50Ms: l.p50 ?? l.mean, minMs: l.min, maxMs: l.max, rmePct: l.rme };
  });
}

/**
 * Writes bench/results/<name>.json = { bench: name, ...benchEnvironment(), ...results } (results win on a key
 * clash) and returns the file path. `dir` overrides the output directory (tests).
 */
export function writeBenchReport(name: string, results: Record<string, unknown>, dir = path.join(BENCH_DIR, 'results')): string {
  if (!/^[\w.-]+$/.test(name)) throw new Error(`bench report name ${JSON.stringify(name)} must be [A-Za-z0-9_.-]+`);
  const report = { bench: name, ...benchEnvironment(), ...results };
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}
