/**
 * CLI hardening (issue 13): a stdout reader that closes early ends the process quietly and promptly (real child
 * processes), negative numbers as separate option values, every numeric flag checked before any output or model
 * load, no `\r` progress off a terminal, and thread counts capped at the CPUs this process may use.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { joinNegativeValues, parseCommandArgs, type Output } from '../../src/cli/io.js';
import { openModel, MODEL_OPTIONS, SAMPLING_OPTIONS } from '../../src/cli/run.js';
import { demoModelPath } from '../../src/model/demo.js';
import { resolveThreads, THREADS_CAPPED_WARNING } from '../../src/runtime/threads.js';
import { cli } from '../helpers/cli.js';

const root = resolve(import.meta.dirname, '../..');
// What bin/qwen-hybrid.js does, on the TypeScript sources (dist/ may be older than src/).
const ENTRY = "import { runCli } from './src/cli/main.ts'; process.exitCode = await runCli(process.argv.slice(1));";

let dir: string;
let cache: string;
let demo: string;
const prevCache = process.env.QWEN_HYBRID_CACHE;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qh-cli-hard-'));
  cache = join(dir, 'cache');
  process.env.QWEN_HYBRID_CACHE = cache;
  demo = await demoModelPath();
});
afterAll(async () => {
  if (prevCache === undefined) delete process.env.QWEN_HYBRID_CACHE;
  else process.env.QWEN_HYBRID_CACHE = prevCache;
  await rm(dir, { recursive: true, force: true });
});

interface Closed {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** ms from closing our end of the child's stdout to the child's exit. */
  exitMs: number;
}

/** Runs the CLI in a child process and closes its stdout pipe after the first bytes, as `| head -c 1` does. */
function runAndCloseStdout(args: string[], stdin?: string): Promise<Closed> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', ENTRY, ...args], {
      cwd: root,
      env: { ...process.env, QWEN_HYBRID_CACHE: cache },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    let closedAt: number | undefined;
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.stdin.on('error', () => {}); // the child may exit before reading what we wrote
    child.stdout.once('data', () => {
      closedAt = performance.now();
      child.stdout.destroy();
    });
    // stdin stays open (an interactive user who has not typed Ctrl-D): the exit must not wait for it.
    if (stdin !== undefined) child.stdin.write(stdin);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      child.stdin.destroy();
      done({ code, signal, stderr, exitMs: closedAt === undefined ? NaN : performance.now() - closedAt });
    });
  });
}

function expectQuietPromptExit(r: Closed): void {
  expect(r.stderr).not.toMatch(/EPIPE|Unhandled 'error'|\n\s+at /);
  expect(r.stderr).not.toMatch(/^error\[/m);
  expect(r.signal, r.stderr).toBeNull();
  expect(r.code, r.stderr).toBe(0);
  // 8000 tokens take well over 10 s on this machine's CPU backend; stopping at the next step takes milliseconds.
  expect(r.exitMs).toBeLessThan(8000);
}

describe('stdout closed early (| head)', () => {
  it('run stops generating and exits 0 without a stack trace', async () => {
    expectQuietPromptExit(await runAndCloseStdout(['run', '-p', 'hi', '-n', '8000', '-c', '8192']));
  });

  it('chat stops the reply and exits while stdin is still open', async () => {
    expectQuietPromptExit(await runAndCloseStdout(['chat', '-n', '8000', '-c', '8192'], 'hello\n'));
  });

  it('demo stops at the closed pipe', async () => {
    expectQuietPromptExit(await runAndCloseStdout(['demo', '-n', '8000']));
  });

  it('tokenize (one big write) exits 0 without a stack trace', async () => {
    const file = join(dir, 'big.txt');
    await writeFile(file, 'hello world, 你好 123 '.repeat(20_000)); // table output ≫ the 64 KiB pipe buffer
    expectQuietPromptExit(await runAndCloseStdout(['tokenize', '-m', demo, '--file', file]));
  });
});

describe('negative numbers as separate option values', () => {
  const OPTS = { ...MODEL_OPTIONS, ...SAMPLING_OPTIONS, 'max-tokens': { type: 'string', short: 'n' }, prompt: { type: 'string', short: 'p' }, json: { type: 'boolean' } } as const;

  it('joins a value-taking option with a following negative number, long or short', () => {
    expect(joinNegativeValues(['--repeat-last-n', '-1', '-n', '-5', '--temp', '-.5', '--seed', '-1e3'], OPTS)).toEqual(['--repeat-last-n=-1', '--max-tokens=-5', '--temp=-.5', '--seed=-1e3']);
    // Inline values, non-numbers, boolean options and everything after `--` are left alone.
    expect(joinNegativeValues(['--temp=-1', '-p', 'x', '--json', '-1', '--', '-n', '-1'], OPTS)).toEqual(['--temp=-1', '-p', 'x', '--json', '-1', '--', '-n', '-1']);
    // The arg after a value-taking option is its value: in `-p -n -1`, `-n` is the prompt (parseArgs calls it ambiguous).
    expect(joinNegativeValues(['-p', '-n', '-1'], OPTS)).toEqual(['-p', '-n', '-1']);
  });

  it('parseCommandArgs gives the negative value to its option', () => {
    const { values } = parseCommandArgs('run', ['--repeat-last-n', '-1', '-n', '-2'], OPTS, false);
    expect(values['repeat-last-n']).toBe('-1');
    expect(values['max-tokens']).toBe('-2');
  });

  it("run --repeat-last-n -1 (documented: 'all') works", async () => {
    const r = await cli(['run', '-m', demo, '--tokens', '1,2,3', '-n', '2', '--temp', '0', '--repeat-penalty', '1.3', '--repeat-last-n', '-1', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { tokens: number[] }).tokens.length).toBeGreaterThan(0);
    // A negative value out of range is a usage error naming the flag, not "ambiguous".
    const bad = await cli(['run', '-m', demo, '--tokens', '1', '--temp', '-0.5']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error\[USAGE\]: run: --temp must be ≥ 0/);
  });
});

describe('numeric flags are checked before any output or model load', () => {
  it('demo -n abc: usage error, nothing on stdout', async () => {
    const r = await cli(['demo', '-n', 'abc']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("error[USAGE]: demo: -n expects a positive integer, got 'abc'\n");
  });

  it('run/chat with bad values: one usage line naming the flag, before the demo model is even looked up', async () => {
    const fresh = join(dir, 'never-created');
    process.env.QWEN_HYBRID_CACHE = fresh;
    try {
      const cases: Array<[string[], RegExp]> = [
        [['run', '-p', 'hi', '-c', 'abc'], /--ctx expects an integer, got 'abc'/],
        [['run', '-p', 'hi', '-c', '0'], /--ctx must be ≥ 1/],
        [['run', '-p', 'hi', '-t', '0'], /--threads must be ≥ 1/],
        [['run', '-p', 'hi', '--batch-size', '1.5'], /--batch-size expects an integer/],
        [['run', '-p', 'hi', '--top-p', '2'], /--top-p must be in \(0, 1\]/],
        [['run', '-p', 'hi', '--repeat-last-n', '-2'], /--repeat-last-n must be an integer ≥ -1/],
        [['chat', '-c', 'abc'], /--ctx expects an integer/],
        [['chat', '-n', '-3'], /--max-tokens must be ≥ 0/],
      ];
      for (const [args, msg] of cases) {
        const r = await cli(args);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stdout, args.join(' ')).toBe('');
        expect(r.stderr, args.join(' ')).toMatch(/^error\[USAGE\]: [^\n]*\n$/);
        expect(r.stderr, args.join(' ')).toMatch(msg);
      }
      await expect(readdir(fresh)).rejects.toThrow(/ENOENT/);
    } finally {
      process.env.QWEN_HYBRID_CACHE = cache;
    }
  });
});

describe('perplexity progress', () => {
  it('writes no carriage-return progress when stderr is not a terminal', async () => {
    const file = join(dir, 'ppl.txt');
    await writeFile(file, 'The quick brown fox jumps over the lazy dog. '.repeat(20));
    const r = await cli(['perplexity', '-m', demo, '-f', file, '--chunk', '16', '--max-chunks', '3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^perplexity: \d+\.\d{4} \(\d+ tokens scored in 3 chunk\(s\) of ≤ 16\)\n$/);
    expect(r.stderr).not.toContain('\r');
    expect(r.stderr).toMatch(/^[\d.]+ tokens\/s\n$/);
  });
});

describe('threads', () => {
  const cpus = availableParallelism();
  afterEach(() => vi.restoreAllMocks());

  it('resolveThreads caps at the usable CPUs and warns', () => {
    const warn = vi.fn();
    expect(resolveThreads(undefined, { warn })).toBeUndefined();
    expect(resolveThreads(1, { warn })).toBe(1);
    expect(resolveThreads(cpus, { warn })).toBe(cpus);
    expect(warn).not.toHaveBeenCalled();
    expect(resolveThreads(1000, { warn, available: 2 })).toBe(2);
    expect(warn).toHaveBeenCalledOnce();
    expect(warn.mock.calls[0]![0]).toMatch(/1000 requested .* 2 CPU\(s\); using 2/);
    for (const bad of [0, -1, 1.5, NaN]) expect(() => resolveThreads(bad), String(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('the default warning is process.emitWarning, once per process', () => {
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    expect(resolveThreads(cpus + 1)).toBe(cpus);
    expect(resolveThreads(cpus + 7)).toBe(cpus);
    expect(spy).toHaveBeenCalledOnce();
    expect(spy.mock.calls[0]![1]).toEqual({ code: THREADS_CAPPED_WARNING });
  });

  it('the CLI loads with at most the usable CPUs and says so on stderr', async () => {
    let stderr = '';
    const io: Output = { out: () => {}, err: (t) => void (stderr += t), isTTY: false };
    const model = await openModel('run', { model: demo, threads: String(cpus + 1) }, io, { allowDemo: false });
    try {
      expect(model.threads).toBe(cpus);
      expect(stderr).toBe(`warning: threads: ${cpus + 1} requested but this process may use ${cpus} CPU(s); using ${cpus} (more threads than CPUs only slows every step)\n`);
    } finally {
      model.dispose();
    }
  });
});
