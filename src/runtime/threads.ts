/**
 * CPU worker threads for the CPU backend. A request above the CPUs this process may use (os.availableParallelism())
 * only oversubscribes them: every op of a step waits for its slowest thread, and a thread descheduled mid-op stalls
 * the rest, so 1000 threads on 2 cores is slower than 2. Such a request is capped, with a warning.
 */
import { availableParallelism } from 'node:os';
import { QwenHybridError } from '../errors.js';

export interface ResolveThreadsOptions {
  /** Receives the warning when the request is capped; default: process.emitWarning, once per process. */
  warn?: (message: string) => void;
  /** CPUs this process may use (default os.availableParallelism()). */
  available?: number;
}

export const THREADS_CAPPED_WARNING = 'QWEN_HYBRID_THREADS_CAPPED';

let warnedOnce = false;

function emitOnce(message: string): void {
  if (warnedOnce) return;
  warnedOnce = true;
  process.emitWarning(message, { code: THREADS_CAPPED_WARNING });
}

/**
 * min(requested, available CPUs); undefined stays undefined (the backend's default: every usable CPU).
 * A request that is not a positive integer is INVALID_ARGUMENT naming `threads`.
 */
export function resolveThreads(requested: number | undefined, opts: ResolveThreadsOptions = {}): number | undefined {
  if (requested === undefined) return undefined;
  if (!Number.isSafeInteger(requested) || requested < 1) {
    throw new QwenHybridError('INVALID_ARGUMENT', `threads must be a positive integer, got ${String(requested)}`, { parameter: 'threads', value: requested });
  }
  const available = Math.max(1, opts.available ?? availableParallelism());
  if (requested <= available) return requested;
  (opts.warn ?? emitOnce)(`threads: ${requested} requested but this process may use ${available} CPU(s); using ${available} (more threads than CPUs only slows every step)`);
  return available;
}
