/**
 * The llama.cpp source tree node-llama-cpp's prebuilt binary was built from, for tests that compile a piece of
 * ggml as an oracle. node-llama-cpp ships it as a git bundle (llama/gitRelease.bundle); we clone it once into the
 * test cache (~2 s, 200 MB). `LLAMA_SRC` overrides. Returns undefined when neither is possible (visible skip).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export function ensureLlamaSource(): string | undefined {
  if (process.env.LLAMA_SRC) return existsSync(process.env.LLAMA_SRC) ? process.env.LLAMA_SRC : undefined;
  const dest = join(tmpdir(), 'qwen-hybrid-test-cache', 'llama-src');
  if (existsSync(join(dest, 'ggml', 'src', 'ggml-quants.c'))) return dest;
  try {
    const require = createRequire(import.meta.url);
    // The package's exports hide package.json: walk up from its entry point to the package root.
    let pkgDir = dirname(require.resolve('node-llama-cpp'));
    while (!existsSync(join(pkgDir, 'llama', 'gitRelease.bundle')) && dirname(pkgDir) !== pkgDir) pkgDir = dirname(pkgDir);
    const bundle = join(pkgDir, 'llama', 'gitRelease.bundle');
    if (!existsSync(bundle)) return undefined;
    mkdirSync(dirname(dest), { recursive: true });
    const tmp = `${dest}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    execFileSync('git', ['clone', '--quiet', bundle, tmp], { stdio: 'ignore' });
    try {
      renameSync(tmp, dest);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another worker won the race
    }
    return existsSync(join(dest, 'ggml', 'src', 'ggml-quants.c')) ? dest : undefined;
  } catch {
    return undefined;
  }
}
