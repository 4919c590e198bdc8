// configFromMetadata: the layer rules of spec §2.3 (trunk = block_count − nextn, full attention where
// (i+1) % interval == 0, recurrent_layers overriding the interval) and a typed error naming the key for every
// missing or inconsistent value.
import { describe, expect, it } from 'vitest';
import { meta } from '../../src/gguf/writer.js';
import { GGUFValueType, type GGUFMetadataValue } from '../../src/gguf/types.js';
import { configFromMetadata } from '../../src/model/config.js';
import { TINY_PRESETS, tinyModelConfig, tinyModelMetadata } from '../../src/model/tiny/index.js';

function md(preset: keyof typeof TINY_PRESETS, edit: (m: Map<string, GGUFMetadataValue>) => void = () => {}) {
  const m = new Map(tinyModelMetadata(tinyModelConfig(TINY_PRESETS[preset])));
  edit(m);
  return m;
}

function codeOf(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error('expected an error');
}

describe('configFromMetadata', () => {
  it('derives trunk layers and layer kinds (MTP block excluded)', () => {
    const c = configFromMetadata(md('dense-r3-tied-mtp'), 'x.gguf');
    expect([c.nBlock, c.nNextn, c.nTrunk]).toEqual([9, 1, 8]);
    expect(c.layerKinds.map((k) => k[0]).join('')).toBe('gggaggga');
    const moe = configFromMetadata(md('moe-r2'));
    expect(moe.ffn).toMatchObject({ kind: 'moe', nExpert: 8, nExpertUsed: 2 });
    expect(moe.ssm.convChannels).toBe(2 * moe.ssm.nKHeads * moe.ssm.stateSize + moe.ssm.innerSize);
  });

  it('attention.recurrent_layers overrides full_attention_interval', () => {
    const c = configFromMetadata(md('dense-r2', (m) => m.set('qwen35.attention.recurrent_layers', meta.array(GGUFValueType.BOOL, [false, true, true, false]))));
    expect(c.layerKinds).toEqual(['attention', 'gdn', 'gdn', 'attention']);
    const i = configFromMetadata(md('dense-r2', (m) => m.set('qwen35.full_attention_interval', meta.u32(2))));
    expect(i.layerKinds).toEqual(['gdn', 'attention', 'gdn', 'attention']);
  });

  it('missing required keys: MISSING_METADATA naming the key and file', () => {
    for (const key of ['qwen35.embedding_length', 'qwen35.block_count', 'qwen35.ssm.group_count', 'qwen35.rope.dimension_sections', 'qwen35.feed_forward_length', 'qwen35.attention.layer_norm_rms_epsilon']) {
      const e = codeOf(() => configFromMetadata(md('dense-r2', (m) => m.delete(key)), 'model.gguf'));
      expect(e.code, key).toBe('MISSING_METADATA');
      expect(e.message).toContain(key);
      expect(e.message).toContain('model.gguf');
    }
    const e = codeOf(() => configFromMetadata(md('moe-r2', (m) => m.delete('qwen35moe.expert_used_count'))));
    expect(e.code).toBe('MISSING_METADATA');
  });

  it('inconsistent values: GGUF_BAD_METADATA naming the key', () => {
    const cases: Array<[string, GGUFMetadataValue]> = [
      ['qwen35.attention.head_count_kv', meta.u32(3)], // does not divide head_count 4
      ['qwen35.rope.dimension_count', meta.u32(65)], // odd and > key_length
      ['qwen35.nextn_predict_layers', meta.u32(4)], // ≥ block_count
      ['qwen35.ssm.time_step_rank', meta.u32(2)], // divides inner_size 256, not a multiple of group_count 4
      ['qwen35.embedding_length', meta.str('256')], // wrong type
      ['qwen35.embedding_length', meta.u32(0)],
    ];
    for (const [key, value] of cases) {
      const e = codeOf(() => configFromMetadata(md('dense-r2', (m) => m.set(key, value))));
      expect(e.code, key).toBe('GGUF_BAD_METADATA');
      expect(e.message).toContain(key);
    }
  });

  it('other architectures: UNSUPPORTED_ARCHITECTURE', () => {
    const e = codeOf(() => configFromMetadata(md('dense-r2', (m) => m.set('general.architecture', meta.str('qwen3next')))));
    expect(e.code).toBe('UNSUPPORTED_ARCHITECTURE');
    expect(e.message).toContain('qwen3next');
    expect(codeOf(() => configFromMetadata(md('dense-r2', (m) => m.delete('general.architecture')))).code).toBe('MISSING_METADATA');
  });
});
