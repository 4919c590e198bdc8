/**
 * The TS op list (src/model/graph/ops.ts) mirrors native/core/op_list.h: checked against the addon's opList()
 * export (what the compiled code really has) and against the header's X-macro text (independently of the build).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { OP_META, OpKind } from '../../src/model/graph/index.js';
import { loadNativeAddon } from '../../src/native/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** X(NAME, id, n_inputs, n_outputs, "description") entries of op_list.h. */
function headerOps(): { name: string; id: number; nInputs: number; nOutputs: number; description: string }[] {
  const text = readFileSync(path.join(ROOT, 'native', 'core', 'op_list.h'), 'utf8');
  // Comments may mention X(...) too: drop block comments first.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '');
  return [...code.matchAll(/\bX\((\w+),\s*(\d+),\s*(-?\d+),\s*(\d+),\s*"([^"]*)"\)/g)].map((m) => ({
    name: m[1] as string,
    id: Number(m[2]),
    nInputs: Number(m[3]),
    nOutputs: Number(m[4]),
    description: m[5] as string,
  }));
}

describe('op list mirror', () => {
  it('op_list.h parses to a dense id list', () => {
    const ops = headerOps();
    expect(ops.length).toBeGreaterThanOrEqual(24);
    ops.forEach((o, i) => expect(o.id).toBe(i));
  });

  it('OpKind and OP_META equal op_list.h (names, ids, arity)', () => {
    const ops = headerOps();
    expect(OP_META.length).toBe(ops.length);
    const enumNames = Object.keys(OpKind).filter((k) => Number.isNaN(Number(k)));
    expect(enumNames.length).toBe(ops.length);
    for (const o of ops) {
      expect(OpKind[o.name as keyof typeof OpKind]).toBe(o.id);
      expect(OP_META[o.id]).toEqual({ kind: o.id, name: o.name, nInputs: o.nInputs, nOutputs: o.nOutputs });
    }
  });

  it("the addon's opList() equals the header and OP_META", () => {
    const native = loadNativeAddon().opList();
    expect(native).toEqual(headerOps());
    expect(native.map((o) => ({ kind: o.id, name: o.name, nInputs: o.nInputs, nOutputs: o.nOutputs }))).toEqual(OP_META);
  });
});
