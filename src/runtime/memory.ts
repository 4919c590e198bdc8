/**
 * Host memory this process can still commit, for refusing a session state before allocating it (a state over that
 * gets the process killed by the kernel's OOM killer once its pages are touched, instead of a typed error).
 *
 * available = min(MemAvailable of /proc/meminfo (os.freemem() elsewhere: Node reports the same figure on Linux),
 *                 cgroup limit (process.constrainedMemory(), 0 / undefined when none) − this process's RSS).
 * MemAvailable is the kernel's estimate of what can be allocated without swapping: free pages plus reclaimable page
 * cache. It already excludes the pages other sessions have touched, and not those they have only reserved (state
 * pages are committed as positions are reached: native/core/aligned.h).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface HostMemory {
  /** Bytes that can still be committed (formula in the file comment). */
  available: number;
  /** Where the figure came from, for error messages. */
  source: string;
}

function memAvailable(): { bytes: number; source: string } {
  if (process.platform === 'linux') {
    try {
      const m = /^MemAvailable:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
      if (m) return { bytes: Number(m[1]) * 1024, source: 'MemAvailable' };
    } catch {
      // no /proc: fall through to what libuv reports
    }
  }
  return { bytes: os.freemem(), source: 'os.freemem()' };
}

export function hostMemory(): HostMemory {
  const m = memAvailable();
  let available = m.bytes;
  let source = m.source;
  const limit = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  // Unconstrained processes report 0, undefined or a huge sentinel (2^63 − 1 rounded).
  if (typeof limit === 'number' && limit > 0 && limit < Number.MAX_SAFE_INTEGER) {
    const left = Math.max(0, limit - process.memoryUsage.rss());
    if (left < available) {
      available = left;
      source = 'cgroup memory limit − RSS';
    }
  }
  return { available, source };
}
