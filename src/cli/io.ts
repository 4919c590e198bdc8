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

export const processOutput: Output = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  get isTTY() {
    return Boolean(process.stdout.isTTY);
  },
};

type Options = NonNullable<ParseArgsConfig['options']>;
export type ParsedCommandArgs<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: boolean }>>;

/** parseArgs in strict mode; its errors become UsageError naming the command. */
export function parseCommandArgs<O extends Options>(command: string, argv: string[], options: O, allowPositionals: boolean): ParsedCommandArgs<O> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
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
