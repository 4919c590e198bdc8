// dequantizeF32 against ggml's own dequantize_row_* (ggml-quants.c of the llama.cpp source node-llama-cpp was
// built from), compiled here with the system C compiler. Needs the llama.cpp source tree (LLAMA_SRC, default
// else cloned from node-llama-cpp's bundled git source) and `cc`; skipped visibly otherwise.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dequantizeF32 } from '../../src/quant/dequant.js';
import { randomTensorData } from '../../src/quant/random-blocks.js';
import { Rng } from '../../src/quant/rng.js';
import { GGMLType, ggmlTypeTraits } from '../../src/gguf/types.js';
import { ensureLlamaSource } from '../helpers/llama-src.js';

const SRC = ensureLlamaSource() ?? '(llama.cpp source unavailable)';
const QUANTS_C = join(SRC, 'ggml/src/ggml-quants.c');
const haveCc = spawnSync('cc', ['--version']).status === 0;
const available = existsSync(QUANTS_C) && haveCc;

// Reads a type id, an element count and a block file; writes the f32 output of ggml's dequantize_row_*.
const DRIVER = `
#include <stdio.h>
#include <stdlib.h>
#include "ggml-quants.h"
void ggml_abort(const char*f,int l,const char*fmt,...){(void)f;(void)l;(void)fmt;abort();}
size_t ggml_row_size(enum ggml_type t,int64_t ne){(void)t;(void)ne;abort();}
const char* ggml_type_name(enum ggml_type t){(void)t;return "?";}
size_t ggml_type_size(enum ggml_type t){(void)t;abort();}
int main(int argc,char**argv){ if(argc<4)return 2; int type=atoi(argv[1]); long n=atol(argv[2]);
 FILE*f=fopen(argv[3],"rb"); if(!f)return 3; fseek(f,0,SEEK_END); long sz=ftell(f); fseek(f,0,SEEK_SET);
 void*b=malloc(sz); if(fread(b,1,sz,f)!=(size_t)sz)return 4; fclose(f); float*y=malloc(4*n);
 switch(type){case 2:dequantize_row_q4_0(b,y,n);break;case 3:dequantize_row_q4_1(b,y,n);break;
  case 6:dequantize_row_q5_0(b,y,n);break;case 7:dequantize_row_q5_1(b,y,n);break;case 8:dequantize_row_q8_0(b,y,n);break;
  case 12:dequantize_row_q4_K(b,y,n);break;case 13:dequantize_row_q5_K(b,y,n);break;case 14:dequantize_row_q6_K(b,y,n);break;
  default:return 5;}
 fwrite(y,4,n,stdout); return 0; }
`;

describe.skipIf(!available)(`dequantizeF32 vs ggml dequantize_row_* (${available ? QUANTS_C : `skipped: needs ${QUANTS_C} and cc`})`, () => {
  it('is bit-identical on random valid blocks and on arbitrary bytes (NaN payloads aside)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qh-ggml-'));
    try {
      writeFileSync(join(dir, 'driver.c'), DRIVER);
      const exe = join(dir, 'driver');
      // -ffp-contract=off: ggml-base is built for baseline x86-64 (no FMA); keep the C compiler from fusing too.
      execFileSync('cc', ['-O2', '-w', '-ffp-contract=off', `-I${join(SRC, 'ggml/include')}`, `-I${join(SRC, 'ggml/src')}`, join(dir, 'driver.c'), QUANTS_C, '-o', exe, '-lm']);
      const rng = new Rng(99);
      for (const type of [GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1, GGMLType.Q8_0, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K]) {
        const t = ggmlTypeTraits(type)!;
        const n = 256 * 64;
        const raw = new Uint8Array((n / t.blockSize) * t.blockBytes);
        for (let i = 0; i < raw.length; i++) raw[i] = rng.int(256);
        for (const data of [randomTensorData(type, [n], rng), raw]) {
          writeFileSync(join(dir, 'blocks.bin'), data);
          const out = execFileSync(exe, [String(type), String(n), join(dir, 'blocks.bin')], { maxBuffer: 1 << 26 });
          const want = new Uint32Array(out.buffer.slice(out.byteOffset, out.byteOffset + 4 * n));
          const got = new Uint32Array(dequantizeF32(type, data, n).buffer);
          const isNaN = (u: number) => (u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0;
          let bad = 0;
          for (let i = 0; i < n; i++) if (want[i] !== got[i] && !(isNaN(want[i]!) && isNaN(got[i]!))) bad++;
          expect(bad, `${t.name}: elements differing from ggml`).toBe(0);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
