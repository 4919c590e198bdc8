/**
 * CLI plumbing: argument parsing with typed usage errors, the `error[CODE]: message` contract and exit codes.
 * Exit 0 ok · 1 bad input (a QwenHybridError about files, models, values) · 2 bad usage · 70 internal bug.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { QwenHybridError, isQwenHybridError } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_BAD_INPUT = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

export class UsageError extends QwenHybridError {
  constructor(message: string) {
    super('USAGE', message);
    this.name = 'UsageError';
  }
}

export interface Output {
  out(text: string): void;
  err(text: string): void;
  readonly isTTY: boolean;
}

/**
 * The real process's stdout/stderr. A reader that closes early (`qwen-hybrid run … | head`) makes writes fail with
 * EPIPE: that ends the output, it is not an error. `stdoutClosed` fires (commands stop generating), later writes are
 * dropped and the command exits 0 without a word, as `yes | head` does. Any stdout error ends the output the same
 * way; errors on stderr are dropped (there is nowhere left to report them).
 */
const stdoutClosedCtl = new AbortController();
export const stdoutClosed: AbortSignal = stdoutClosedCtl.signal;
let watching = false;

function watchStdio(): void {
  if (watching) return;
  watching = true;
  process.stdout.on('error', () => stdoutClosedCtl.abort());
  process.stderr.on('error', () => {});
}

export const processOutput: Output = {
  out: (t) => {
    watchStdio();
    if (stdoutClosed.aborted) return;
    try {
      process.stdout.write(t);
    } catch {
      stdoutClosedCtl.abort();
    }
  },
  err: (t) => {
    watchStdio();
    try {
      process.stderr.write(t);
    } catch {
      /* stderr gone: nowhere to report */
    }
  },
  get isTTY() {
    return Boolean(process.stdout.isTTY);
  },
};

/** For the real process: fires when stdout's reader has gone (see stdoutClosed); never for other outputs. */
export function outputClosedSignal(io: Output): AbortSignal | undefined {
  if (io !== processOutput) return undefined;
  watchStdio();
  return stdoutClosed;
}

type Options = NonNullable<ParseArgsConfig['options']>;
export type ParsedCommandArgs<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: boolean }>>;

const NEGATIVE_NUMBER = /^-(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * parseArgs refuses `--repeat-last-n -1` (a value that starts with '-' is "ambiguous"); only `--repeat-last-n=-1`
 * parses. A value-taking option (`--name` or `-x`, no inline value) followed by a negative number becomes
 * `--name=<number>`: no option name starts with a digit, so the number can only be that option's value.
 */
export function joinNegativeValues(argv: readonly string[], options: Options): string[] {
  const takesValue = (arg: string): string | undefined => {
    if (arg.startsWith('--') && !arg.includes('=')) {
      const name = arg.slice(2);
      return options[name]?.type === 'string' ? name : undefined;
    }
    if (/^-[^-]$/.test(arg)) return Object.keys(options).find((k) => options[k]!.short === arg[1] && options[k]!.type === 'string');
    return undefined;
  };
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const name = takesValue(arg);
    const next = argv[i + 1];
    if (name !== undefined && next !== undefined) {
      // The next arg is this option's value either way; only a negative number needs joining.
      out.push(...(NEGATIVE_NUMBER.test(next.trim()) ? [`--${name}=${next}`] : [arg, next]));
      i++;
      continue;
    }
    out.push(arg);
  }
  return out;
}

/** parseArgs in strict mode (negative numbers allowed as separate values); its errors become UsageError naming the command. */
export function parseCommandArgs<O extends Options>(command: string, argv: string[], options: O, allowPositionals: boolean): ParsedCommandArgs<O> {
  try {
    return parseArgs({ args: joinNegativeValues(argv, options), options, strict: true, allowPositionals });
  } catch (e) {
    const msg = e instanceof Error ? e.message.replace(/\. To specify a positional argument.*$/s, '') : String(e);
    throw new UsageError(`${command}: ${msg} (see 'qwen-hybrid ${command} --help')`);
  }
}

export function exitCodeFor(e: unknown): number {
  if (!isQwenHybridError(e)) return EXIT_INTERNAL;
  return e.code === 'USAGE' || e.code === 'INVALID_ARGUMENT' ? EXIT_USAGE : EXIT_BAD_INPUT;
}

/** Expected errors: one line, no stack. Anything else is a bug: print the stack so it can be reported. */
export function reportError(e: unknown, io: Output): number {
  const code = exitCodeFor(e);
  if (isQwenHybridError(e)) {
    io.err(`error[${e.code}]: ${e.message}\n`);
  } else {
    const stack = e instanceof Error ? (e.stack ?? e.message) : String(e);
    io.err(`error[INTERNAL]: ${stack}\nThis is a bug in qwen-hybrid; please report it.\n`);
  }
  return code;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}

/** Left-aligned text table. */
export function table(rows: string[][], indent = '  '): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** Reads a UTF-8 file named on the command line; a missing or unreadable file is bad input naming it. */
export async function readTextFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_READ_ERROR';
    throw new QwenHybridError(code, `cannot read ${what} file '${path}': ${(e as Error).message}`, { file: path }, { cause: e });
  }
}
