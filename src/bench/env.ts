/**
 * Where a bench ran, filled from the machine (never invented): CPU model (/proc/cpuinfo, else os.cpus()), GPU name and
 * driver (the addon's CUDA device query, else `nvidia-smi`; null where there is none), the package's git commit
 * (null outside a checkout) and whether the tree was dirty, Node version and how the addon was built.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadNativeAddon } from '../native/addon.js';

/** The package root (src/bench and dist/bench are both two levels below it). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface BenchEnvironment {
  date: string;
  /** What the timed code ran on: the CPU model for CPU runs, the GPU name for CUDA runs. */
  device: string;
  /** CPU model string, e.g. "AMD EPYC 9654 96-Core Processor". */
  cpu: string;
  /** NVIDIA driver version; null without one. */
  driver: string | null;
  /** GPU names the driver reports, [] without one. */
  gpus: string[];
  /** Logical CPUs of the machine / usable by this process. */
  cores: number;
  usableThreads: number;
  node: string;
  /** git HEAD of the package checkout; null outside one. */
  commit: string | null;
  /** True when the working tree had uncommitted changes; null outside a checkout. */
  dirty: boolean | null;
  addon: { version: string; builder: string; compiler: string; cuda: boolean; cudaArchs: number[]; cpu: Record<string, boolean> } | null;
}

function run(cmd: string, args: string[], cwd?: string): string | null {
  try {
    return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).toString().trim();
  } catch {
    return null;
  }
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model.trim() || 'unknown';
}

/** GPU names and driver: the addon's device query first (no subprocess), nvidia-smi as a fallback. */
function gpuInfo(): { driver: string | null; gpus: string[] } {
  try {
    const d = loadNativeAddon().cudaDevices();
    if (d.available && d.devices.length > 0) return { driver: d.driverVersion, gpus: d.devices.map((x) => x.name) };
  } catch {
    // addon not built
  }
  const smi = run('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader']);
  if (!smi) return { driver: null, gpus: [] };
  const rows = smi.split('\n').map((l) => l.split(',').map((s) => s.trim()));
  return { driver: rows[0]?.[1] || null, gpus: rows.map((r) => r[0]!).filter(Boolean) };
}

/** The environment line of a report; `backend` picks what `device` names. */
export function benchEnvironment(opts: { backend?: 'cpu' | 'cuda'; gpuIndex?: number } = {}): BenchEnvironment {
  const commit = run('git', ['rev-parse', 'HEAD'], PACKAGE_ROOT);
  const status = commit === null ? null : run('git', ['status', '--porcelain'], PACKAGE_ROOT);
  let addon: BenchEnvironment['addon'] = null;
  try {
    const b = loadNativeAddon().buildInfo();
    addon = { version: b.version, builder: b.builder, compiler: b.compiler, cuda: b.cuda, cudaArchs: [...b.cudaArchs], cpu: { ...b.cpu } };
  } catch {
    // addon not built: pure-TS benches still report
  }
  const cpu = cpuModel();
  const { driver, gpus } = gpuInfo();
  const gpu = gpus[opts.gpuIndex ?? 0];
  return {
    date: new Date().toISOString(),
    device: opts.backend === 'cuda' ? (gpu ?? 'no CUDA device') : cpu,
    cpu,
    driver,
    gpus,
    cores: cpus().length,
    usableThreads: availableParallelism(),
    node: process.version,
    commit,
    dirty: status === null ? null : status.length > 0,
    addon,
  };
}
