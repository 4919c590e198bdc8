/**
 * StopMatcher: the released text and the stop decision do not depend on how the stream is chunked (checked
 * at every split offset, every pair of split offsets and one character at a time), and only a possible
 * prefix of a stop string is ever held back.
 */
import { describe, expect, it } from 'vitest';
import { QwenHybridError } from '../../src/errors.js';
import { StopMatcher } from '../../src/runtime/stop.js';

function feed(stops: string[], chunks: string[]): { text: string; stopped: boolean; matched?: string } {
  const m = new StopMatcher(stops);
  let text = '';
  for (const c of chunks) {
    const r = m.push(c);
    text += r.text;
    if (r.stopped) return { text, stopped: true, matched: r.matched! };
  }
  return { text: text + m.flush(), stopped: false };
}

// [stops, text, expected released text, matched stop or undefined]
const CASES: [string[], string, string, string | undefined][] = [
  [['<|stop|>'], 'Hello world<|stop|>tail', 'Hello world', '<|stop|>'],
  [['<|stop|>'], 'Hello world<|sto', 'Hello world<|sto', undefined],
  [['<|stop|>'], '<<|stop|>', '<', '<|stop|>'],
  [['\n\n'], 'a\nb\n\nc\n\n', 'a\nb', '\n\n'],
  [['abcd', 'bc'], 'xabcd', 'xa', 'bc'], // "bc" completes first (end 3 < 5)
  [['abcd', 'abc'], 'zabcd', 'z', 'abc'],
  [['bcd', 'abcd'], 'zabcd!', 'z', 'abcd'], // same end: the earlier start wins
  [['aab'], 'aaaab', 'aa', 'aab'],
  [['END', 'STOP'], 'no stop at all ENDING', 'no stop at all ', 'END'],
  [['你好'], '說你你好嗎', '說你', '你好'],
  [['🚀'], 'go 🚀 now', 'go ', '🚀'],
  [['xyz'], '', '', undefined],
];

describe.each(CASES)('stops %j over %j', (stops, text, want, matched) => {
  it('whole, at every split offset, every pair of offsets, one char at a time', () => {
    const expectOne = (chunks: string[]): void => {
      const r = feed(stops, chunks);
      expect(r.text, JSON.stringify(chunks)).toBe(want);
      expect(r.stopped).toBe(matched !== undefined);
      if (matched !== undefined) expect(r.matched).toBe(matched);
    };
    const cps = [...text]; // split at code points: streamed text never splits a character
    expectOne([text]);
    for (let i = 0; i <= cps.length; i++) {
      expectOne([cps.slice(0, i).join(''), cps.slice(i).join('')]);
      for (let j = i; j <= cps.length; j++) expectOne([cps.slice(0, i).join(''), cps.slice(i, j).join(''), cps.slice(j).join('')]);
    }
    expectOne(cps);
  });
});

describe('holding back', () => {
  it('holds back only a suffix that can still start a stop string', () => {
    const m = new StopMatcher(['<|stop|>', '###']);
    expect(m.push('Hello <').text).toBe('Hello ');
    expect(m.push('|st').text).toBe('');
    expect(m.push('x #').text).toBe('<|stx ');
    expect(m.push('#').text).toBe('');
    expect(m.push('!').text).toBe('##!');
    expect(m.flush()).toBe('');
  });
  it('no stop strings: everything passes through at once', () => {
    const m = new StopMatcher([]);
    expect(m.push('abc').text).toBe('abc');
    expect(m.flush()).toBe('');
  });
  it('after a stop nothing more is released', () => {
    const m = new StopMatcher(['x']);
    expect(m.push('axb')).toEqual({ text: 'a', stopped: true, matched: 'x' });
    expect(m.push('more')).toEqual({ text: '', stopped: true });
    expect(m.flush()).toBe('');
  });
  it('one string works as a one-element list (OpenAI accepts both)', () => {
    const m = new StopMatcher('\n');
    expect(m.stops).toEqual(['\n']);
    expect(m.push('line one')).toEqual({ text: 'line one', stopped: false });
    expect(m.push('\nline two')).toEqual({ text: '', stopped: true, matched: '\n' });
  });
  it('anything but a string or an array of strings is INVALID_ARGUMENT naming stop', () => {
    for (const bad of [5, null, {}, ['ok', 3], [null], '', true]) {
      let err: unknown;
      try {
        new StopMatcher(bad as string[]);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(bad)).toBeInstanceOf(QwenHybridError);
      expect((err as QwenHybridError).code).toBe('INVALID_ARGUMENT');
      expect((err as QwenHybridError).details['parameter']).toBe('stop');
    }
  });
  it('an empty stop string is INVALID_ARGUMENT', () => {
    expect(() => new StopMatcher(['ok', ''])).toThrow(QwenHybridError);
    expect(() => new StopMatcher(['ok', ''])).toThrow(/stop\[1\]/);
  });
});
