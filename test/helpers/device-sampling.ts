/**
 * `s` as generate() sees it with device sampling switched on: CUDA models have it, and the CPU decode plan has the
 * SAMPLE op too, so the device-sampling path of generate runs (and is checked) without a GPU. `counter.steps`
 * counts the decode steps sampled by the op.
 */
import type { Session } from '../../src/model/index.js';
import type { GenerationSession } from '../../src/runtime/generate.js';

export function deviceSamplingView(s: Session, counter: { steps: number }): GenerationSession {
  return {
    model: { tokenizer: s.model.tokenizer, vocabSize: s.model.vocabSize, deviceSampling: true, tokenize: (t, o) => s.model.tokenize(t, o) },
    get position() {
      return s.position;
    },
    get history() {
      return s.history;
    },
    evaluate: (t, o) => s.evaluate(t, o),
    decodeSample: (t, c, h, sig) => {
      counter.steps++;
      return s.decodeSample(t, c, h, sig);
    },
  };
}
