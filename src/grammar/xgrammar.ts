/**
 * Loads XGrammar's WASM build (@mlc-ai/web-xgrammar, Apache-2.0; the grammar engine of vLLM and SGLang). Its
 * lib/index.js is a UMD bundle inside a `"type": "module"` package, so `import` fails (`require is not defined`):
 * the bundle is evaluated here as the CommonJS module it is written as (module / exports / require / __filename
 * supplied; the WASM binary is embedded in it). Loaded once per process, on first use; ~1.1 MB of JS.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as XG from '@mlc-ai/web-xgrammar';
import { QwenHybridError } from '../errors.js';

export type XGrammar = typeof XG;

let loaded: XGrammar | undefined;

export function loadXGrammar(): XGrammar {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const file = require.resolve('@mlc-ai/web-xgrammar/package.json').replace(/package\.json$/, path.join('lib', 'index.js'));
  // The Emscripten glue's one dynamic import, `await import('module')`, becomes the CommonJS require it stands for:
  // a dynamic import needs a host callback that code evaluated under vm-based runners (vitest) does not have.
  const source = readFileSync(file, 'utf8');
  const code = source.replace("await import('module')", "require('module')");
  if (code === source) throw new QwenHybridError('NATIVE_ADDON_LOAD_FAILED', `${file}: unexpected @mlc-ai/web-xgrammar bundle (no \`await import('module')\` to shim); check the pinned version`, { file });
  const module = { exports: {} as Record<string, unknown> };
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const wrapped = new Function('exports', 'require', 'module', '__filename', '__dirname', `${code}\n//# sourceURL=${file}`);
  wrapped(module.exports, createRequire(file), module, file, path.dirname(file));
  loaded = module.exports as unknown as XGrammar;
  return loaded;
}
