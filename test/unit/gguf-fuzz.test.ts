/**
 * Fuzzing parseGGUF: truncations at every header offset, bit flips, byte overwrites and inflated
 * counts/lengths applied to several valid files. Every case must either parse into a self-consistent
 * GGUFFile or throw a GGUFError; any other exception, or a case slower than CASE_LIMIT_MS, fails.
 * Seeded: a failure prints its seed and case so it reproduces.
 */
import { describe, expect, it } from 'vitest';
import { GGUFError } from '../../src/errors.js';
import { parseGGUF, type ParseGGUFOptions } from '../../src/gguf/reader.js';
import { GGMLType, GGUFValueType, ggmlTensorBytes, type GGUFFile, type GGUFMetadataValue } from '../../src/gguf/types.js';
import { encodeGGUF, meta } from '../../src/gguf/writer.js';
import { richMetadata, rng, smallModelSpec, tensorData } from '../helpers/gguf-fixtures.js';

const SEED = Number(process.env.GGUF_FUZZ_SEED ?? 20240611);
// Per-case bound. The largest base header is ~3 kB; a parse takes microseconds, so this only catches
// runaway loops or allocations (GC pauses on a shared 2-core machine stay far below it).
const CASE_LIMIT_MS = 50;

interface Base {
  name: string;
  bytes: Uint8Array;
  dataOffset: number;
}

function bases(): Base[] {
  const mk = (name: string, bytes: Uint8Array): Base => ({ name, bytes, dataOffset: parseGGUF(bytes).dataOffset });
  const rich = richMetadata() as Array<readonly [string, GGUFMetadataValue]>;
  return [
    mk('small-v3', encodeGGUF(smallModelSpec(1))),
    mk('small-v2-align64', encodeGGUF(smallModelSpec(2, { version: 2, alignment: 64 }))),
    mk('small-align1', encodeGGUF(smallModelSpec(3, { alignment: 1, vocab: 12 }))),
    mk(
      'rich',
      encodeGGUF({
        metadata: [...rich, ['t.nested2', meta.array(GGUFValueType.ARRAY, [{ arrayType: GGUFValueType.ARRAY, value: [{ arrayType: GGUFValueType.STRING, value: ['deep'] }] }])]],
        tensors: [
          { name: 'a', shape: [32, 2], type: GGMLType.Q8_0, data: tensorData(GGMLType.Q8_0, [32, 2], 1) },
          { name: 'b', shape: [8, 1, 1, 2], type: GGMLType.BF16, data: tensorData(GGMLType.BF16, [8, 1, 1, 2], 2) },
          { name: 'c', shape: [256], type: GGMLType.Q6_K, data: tensorData(GGMLType.Q6_K, [256], 3) },
        ],
      }),
    ),
  ];
}

/** Invariants a successful parse must satisfy, checked independently of the reader's own checks. */
function checkConsistent(f: GGUFFile): void {
  expect(f.alignment & (f.alignment - 1)).toBe(0);
  expect(f.dataOffset % f.alignment).toBe(0);
  const sorted = [...f.tensors].sort((a, b) => a.offset - b.offset);
  let end = f.dataOffset;
  const names = new Set<string>();
  for (const t of sorted) {
    expect(names.has(t.name)).toBe(false);
    names.add(t.name);
    expect(t.shape.length >= 1 && t.shape.length <= 4).toBe(true);
    expect(t.byteSize).toBe(ggmlTensorBytes(t.type, t.shape));
    expect(t.offset).toBe(f.dataOffset + t.relativeOffset);
    expect(t.relativeOffset % f.alignment).toBe(0);
    expect(t.offset).toBeGreaterThanOrEqual(end);
    end = t.offset + t.byteSize;
  }
  expect(end).toBeLessThanOrEqual(f.fileSize);
}

/** Offsets of u64 fields in the header that look like counts/lengths (0 < v < 2^20, high bytes zero). */
function lengthFields(bytes: Uint8Array, end: number): number[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let p = 8; p + 8 <= end; p++) {
    const lo = dv.getUint32(p, true);
    if (dv.getUint32(p + 4, true) === 0 && lo > 0 && lo < 1 << 20) out.push(p);
  }
  return out;
}

const HUGE: readonly bigint[] = [
  0xffffffffffffffffn, 1n << 63n, (1n << 63n) - 1n, 1n << 40n, 1n << 32n, (1n << 32n) - 1n, 1n << 53n, (1n << 53n) + 1n, 1n << 24n, (1n << 24n) + 1n, 1n << 30n,
];

describe('GGUF fuzz', () => {
  it(`mutated files parse or throw GGUFError (seed ${SEED})`, () => {
    const r = rng(SEED);
    const stats = { cases: 0, parsed: 0, retimed: 0, byCode: new Map<string, number>(), maxMs: 0, totalMs: 0, byKind: new Map<string, number>() };
    const failures: string[] = [];

    const run = (kind: string, base: Base, desc: string, bytes: Uint8Array, opts: ParseGGUFOptions = {}): void => {
      stats.cases++;
      stats.byKind.set(kind, (stats.byKind.get(kind) ?? 0) + 1);
      const t0 = performance.now();
      let outcome: GGUFFile | GGUFError | undefined;
      try {
        outcome = parseGGUF(bytes, { name: `${base.name}#${desc}`, ...opts });
      } catch (e) {
        if (e instanceof GGUFError) outcome = e;
        else failures.push(`seed ${SEED} ${base.name} ${kind} ${desc}: non-GGUF exception ${(e as Error)?.stack ?? String(e)}`);
      }
      let ms = performance.now() - t0;
      stats.totalMs += ms;
      if (ms > CASE_LIMIT_MS) {
        // Re-time before blaming the parser: a GC pause or a neighbour on this shared machine is not a
        // property of the input; a slow input is slow every time.
        stats.retimed++;
        for (let k = 0; k < 2 && ms > CASE_LIMIT_MS; k++) {
          const t1 = performance.now();
          try {
            parseGGUF(bytes, { name: `${base.name}#${desc}`, ...opts });
          } catch {
            // outcome already recorded
          }
          ms = Math.min(ms, performance.now() - t1);
        }
        if (ms > CASE_LIMIT_MS) failures.push(`seed ${SEED} ${base.name} ${kind} ${desc}: took ${ms.toFixed(1)} ms`);
      }
      stats.maxMs = Math.max(stats.maxMs, ms);
      if (outcome instanceof GGUFError) {
        stats.byCode.set(outcome.code, (stats.byCode.get(outcome.code) ?? 0) + 1);
        if (!outcome.message.includes(`${base.name}#${desc}`)) failures.push(`seed ${SEED} ${base.name} ${kind} ${desc}: message lacks the file name: ${outcome.message}`);
      } else if (outcome) {
        stats.parsed++;
        try {
          checkConsistent(outcome);
        } catch (e) {
          failures.push(`seed ${SEED} ${base.name} ${kind} ${desc}: parsed but inconsistent: ${(e as Error).message}`);
        }
      }
    };

    for (const base of bases()) {
      const { bytes, dataOffset } = base;
      const headerEnd = dataOffset;
      // 1. Truncation at every offset of the header (and the first bytes of data).
      for (let n = 0; n <= headerEnd + 8 && n < bytes.length; n++) run('truncate', base, `len=${n}`, bytes.subarray(0, n));
      // 2. Random bit flips (1–3 bits) in the header.
      for (let i = 0; i < 1500; i++) {
        const m = bytes.slice();
        const flips = 1 + ((r() * 3) | 0);
        const where: number[] = [];
        for (let k = 0; k < flips; k++) {
          const p = (r() * headerEnd) | 0;
          m[p]! ^= 1 << ((r() * 8) | 0);
          where.push(p);
        }
        run('bitflip', base, `flip@${where.join(',')}`, m);
      }
      // 3. Byte overwrites: 1–8 consecutive random bytes, or 0x00/0xff runs.
      for (let i = 0; i < 1500; i++) {
        const m = bytes.slice();
        const p = (r() * headerEnd) | 0;
        const len = 1 + ((r() * 8) | 0);
        const mode = (r() * 3) | 0;
        for (let k = 0; k < len && p + k < m.length; k++) m[p + k] = mode === 0 ? (r() * 256) | 0 : mode === 1 ? 0 : 0xff;
        run('overwrite', base, `over@${p}+${len}/m${mode}`, m);
      }
      // 4. Counts and lengths inflated to huge values; each also parsed as the prefix of a 1 TiB file, so
      //    only the caps (not the buffer length) stand between a count and an allocation.
      const fields = lengthFields(bytes, headerEnd);
      for (const p of fields) {
        for (const v of HUGE) {
          const m = bytes.slice();
          new DataView(m.buffer).setBigUint64(p, v, true);
          run('inflate', base, `u64@${p}=${v}`, m);
          run('inflate-prefix', base, `u64@${p}=${v}/1TiB`, m, { fileSize: 2 ** 40 });
        }
      }
    }

    const codes = [...stats.byCode.entries()].sort((a, b) => b[1] - a[1]);
    console.log(
      [
        `GGUF fuzz seed ${SEED}: ${stats.cases} cases (${[...stats.byKind.entries()].map(([k, n]) => `${k} ${n}`).join(', ')})`,
        `  parsed ${stats.parsed}, GGUFError ${stats.cases - stats.parsed - failures.filter((f) => f.includes('non-GGUF')).length}`,
        ...codes.map(([c, n]) => `  ${c.padEnd(26)} ${n}`),
        `  time: total ${stats.totalMs.toFixed(0)} ms, mean ${(stats.totalMs / stats.cases * 1000).toFixed(1)} µs, max ${stats.maxMs.toFixed(2)} ms after re-timing ${stats.retimed} slow case(s) (limit ${CASE_LIMIT_MS} ms)`,
      ].join('\n'),
    );
    expect(failures.slice(0, 10)).toEqual([]);
    expect(stats.cases).toBeGreaterThan(10_000);
    // Sanity: the mutations reach many different checks, not one early rejection.
    expect(stats.byCode.size).toBeGreaterThanOrEqual(10);
  });
});
