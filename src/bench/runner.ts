/**
 * Timing on tinybench with a correctness gate: `gatedBench` runs every task's `check` once (untimed) and refuses to
 * time anything — throwing BenchGateError — unless all pass, then times the tasks with one tinybench run and returns
 * per-task latency statistics. A failed gate means the kernel computed the wrong thing: a bug, never a number.
 *
 *   const [row] = await gatedBench([{ name: 'matvec', fn: () => plan.run(x), check: async () => verify(await plan.run(x)) }]);
 *
 * tinybench is imported when a bench runs (a dependency of the package, loaded lazily).
 */
import { QwenHybridError } from '../errors.js';

export interface BenchRow {
  name: string;
  samples: number;
  meanMs: number;
  p50Ms: number;
  minMs: number;
  maxMs: number;
  rmePct: number;
}

/** Thrown when a correctness gate fails: nothing was timed. */
export class BenchGateError extends QwenHybridError {
  constructor(readonly task: string, message: string) {
    super('BENCH_GATE_FAILED', `${task}: correctness gate failed, not timing — ${message}`, { task });
    this.name = 'BenchGateError';
  }
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

export interface GatedTask {
  name: string;
  /** The timed body. */
  fn: () => unknown;
  /** Untimed correctness check: return a short description of what passed, or throw / return an Error to fail. */
  check: () => Promise<string | Error> | string | Error;
}

export interface GatedOptions {
  /** Milliseconds per task, default 500. */
  time?: number;
  /** Minimum samples per task, default 10. */
  iterations?: number;
  /** Warm-up milliseconds, default 100. */
  warmupTime?: number;
}

/** Checks every task (BenchGateError on the first failure), then times them; rows in task order with the gate text. */
export async function gatedBench(tasks: readonly GatedTask[], opts: GatedOptions = {}): Promise<(BenchRow & { gate: string })[]> {
  const gates: string[] = [];
  for (const t of tasks) {
    let g: string | Error;
    try {
      g = await t.check();
    } catch (e) {
      g = e instanceof Error ? e : new Error(String(e));
    }
    if (g instanceof Error) throw new BenchGateError(t.name, g.message);
    gates.push(g);
  }
  let Bench: typeof import('tinybench').Bench;
  try {
    ({ Bench } = await import('tinybench'));
  } catch (e) {
    throw new QwenHybridError('BACKEND_UNAVAILABLE', `qwen-hybrid/bench times with tinybench, which is not installed (npm install tinybench)`, {}, { cause: e });
  }
  const bench = new Bench({ time: opts.time ?? 500, iterations: opts.iterations ?? 10, warmup: true, warmupTime: opts.warmupTime ?? 100, throws: true });
  for (const t of tasks) bench.add(t.name, async () => { await t.fn(); });
  await bench.run();
  return tinybenchRows(bench).map((r, i) => ({ ...r, gate: gates[i]! }));
}

/** median / min / max of millisecond samples. */
export function msStats(ms: readonly number[]): { median: number; min: number; max: number } {
  if (ms.length === 0) throw new Error('msStats: no samples');
  const s = [...ms].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s.at(-1)! };
}
