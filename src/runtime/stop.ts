/**
 * Stop strings over streamed text. `push(chunk)` returns the text that can be released now; only the longest
 * suffix of the pending text that is a proper prefix of some stop string is held back. The output does not
 * depend on how the text is chunked: the stream stops at the stop-string occurrence that COMPLETES first
 * (smallest end offset; on a tie the earlier start, i.e. the longer string), and everything before that
 * occurrence is released, nothing after it. `stops` is one string or a list of them (OpenAI's `stop` accepts both).
 */
import { QwenHybridError } from '../errors.js';

export interface StopPush {
  /** Text safe to emit now. */
  text: string;
  /** A stop string completed; `matched` is which one. No more text follows. */
  stopped: boolean;
  matched?: string;
}

export class StopMatcher {
  readonly stops: readonly string[];
  private held = '';
  private done = false;

  constructor(stops: string | readonly string[] = []) {
    if (typeof stops === 'string') {
      if (stops.length === 0) throw new QwenHybridError('INVALID_ARGUMENT', 'stop must be a non-empty string, got ""', { parameter: 'stop' });
      this.stops = [stops];
      return;
    }
    if (!Array.isArray(stops)) {
      const got = stops === null ? 'null' : typeof stops;
      throw new QwenHybridError('INVALID_ARGUMENT', `stop must be a string or an array of strings, got ${got}`, { parameter: 'stop' });
    }
    stops.forEach((s: unknown, i) => {
      if (typeof s !== 'string' || s.length === 0) {
        throw new QwenHybridError('INVALID_ARGUMENT', `stop[${i}] must be a non-empty string, got ${JSON.stringify(s) ?? String(s)}`, { parameter: 'stop', index: i });
      }
    });
    this.stops = [...new Set(stops as readonly string[])];
  }

  get stopped(): boolean {
    return this.done;
  }

  push(chunk: string): StopPush {
    if (this.done) return { text: '', stopped: true };
    if (this.stops.length === 0) return { text: chunk, stopped: false };
    const buf = this.held + chunk;
    let bestEnd = Infinity;
    let bestStart = 0;
    let matched: string | undefined;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i < 0) continue;
      const end = i + s.length;
      if (end < bestEnd || (end === bestEnd && i < bestStart)) {
        bestEnd = end;
        bestStart = i;
        matched = s;
      }
    }
    if (matched !== undefined) {
      this.done = true;
      this.held = '';
      return { text: buf.slice(0, bestStart), stopped: true, matched };
    }
    const hold = this.holdLength(buf);
    this.held = buf.slice(buf.length - hold);
    return { text: buf.slice(0, buf.length - hold), stopped: false };
  }

  /** End of stream: releases the held-back text. */
  flush(): string {
    const t = this.done ? '' : this.held;
    this.held = '';
    return t;
  }

  /** Length of the longest suffix of buf that is a proper prefix of a stop string. */
  private holdLength(buf: string): number {
    let best = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, buf.length); k > best; k--) {
        if (buf.endsWith(s.slice(0, k))) {
          best = k;
          break;
        }
      }
    }
    return best;
  }
}
