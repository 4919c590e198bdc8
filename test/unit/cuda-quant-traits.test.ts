/**
 * The CUDA weight traits (native/cuda/quant_traits.cuh: the dequantization every CUDA MATMUL / MATMUL_ID kernel
 * uses) against the CPU backend's scalar dequantization (native/cpu/quant_dot_scalar.cc, itself checked against
 * ggml), bit for bit, for every weight type — on this machine, without a GPU: the traits are __host__ __device__,
 * so test/native/quant_traits_check.cu compiles them for the host with nvcc and compares on random block bytes
 * (random half scales: subnormal, inf and NaN included), plain-type rows of odd length included, through both the
 * 8-element loader (GEMM tiles) and the 16-element one (GEMV, 128-bit path and element path). Also the MATMUL
 * variant choice (native/cuda/matmul.cuh: auto = exact GEMV for T ≤ 8, fp16 mma GEMM above; forced 1 / 2; else -1).
 * Needs nvcc (the CUDA toolkit); without it the test is skipped with that reason.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const nvcc = spawnSync('nvcc', ['--version'], { encoding: 'utf8' });
const haveNvcc = nvcc.status === 0;
const dir = mkdtempSync(path.join(os.tmpdir(), 'qh-traits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TYPES = ['F32', 'F16', 'BF16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q4_K', 'Q5_K', 'Q6_K'];

describe('CUDA quant traits == CPU dequantization (host build of the traits)', () => {
  it.skipIf(!haveNvcc)(haveNvcc ? 'every weight type bit-exact' : 'every weight type bit-exact — SKIPPED: nvcc not on PATH', () => {
    const exe = path.join(dir, 'quant_traits_check');
    execFileSync('nvcc', ['-std=c++17', '-O1', '--Werror=all-warnings', 'test/native/quant_traits_check.cu', 'native/cpu/quant_dot_scalar.cc', '-o', exe], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const r = spawnSync(exe, [], { encoding: 'utf8' });
    const lines = r.stdout.trim().split('\n');
    for (const t of TYPES) {
      const line = lines.find((l) => l.startsWith(`${t} `));
      expect(line, `${t}: no result line in\n${r.stdout}`).toBeDefined();
      expect(line, r.stdout).toMatch(new RegExp(`^${t} ok \\d+$`));
      expect(Number(line!.split(' ')[2])).toBeGreaterThan(300);
    }
    expect(lines, 'variant choice (matmul.cuh mm_choose_variant / mm_tile_pairs)').toContain('variants ok');
    expect(r.status, r.stdout + r.stderr).toBe(0);
  }, 120_000);
});
