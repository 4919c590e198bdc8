import { inspectModel, type ModelReport } from '../model/inspect.js';
import { formatBytes, formatCount, parseCommandArgs, table, UsageError, type Output } from './io.js';
import { kvCacheFlag } from './run.js';

export const INSPECT_HELP = `Usage: qwen-hybrid inspect <model.gguf> [--json] [--ctx N[,N...]] [--kv-cache f16|f32|q8_0]

Prints the architecture, hyperparameters, tensor count, type histogram, file size, parameter count and the
memory needed per context length, reading only the GGUF header. Split models: pass any shard.

  --json        one JSON object on stdout
  --ctx LIST    context lengths for the memory table (default: 4096, 32768, 131072, the model's maximum)
  --kv-cache T  KV cache type of the memory table: f16 (default), f32 or q8_0 (34 bytes per 32 values)
`;

function layerSummary(kinds: readonly string[]): string {
  const attn = kinds.flatMap((k, i) => (k === 'attention' ? [i] : []));
  const shown = attn.length > 6 ? `${attn.slice(0, 3).join(',')},…,${attn[attn.length - 1]}` : attn.join(',');
  return `${attn.length} full attention (${shown}) + ${kinds.length - attn.length} Gated DeltaNet`;
}

export function formatReport(r: ModelReport): string {
  let s = '';
  const head: string[][] = [
    ['file', `${r.path}${r.shards > 1 ? ` (${r.shards} shards)` : ''}`],
    ['size', `${formatBytes(r.fileSize)} (${r.fileSize} bytes)`],
    ['gguf', `v${r.ggufVersion}, alignment ${r.alignment}, ${r.tensorCount} tensors, ${r.metadataCount} metadata keys`],
    ['architecture', `${r.architecture ?? '(none)'}${r.name ? ` — ${r.name}` : ''}`],
  ];
  if (r.fileType) head.push(['file type', r.fileType]);
  head.push(['parameters', `${formatCount(r.parameters.total)}${r.parameters.mtp > 0 ? ` (trunk ${formatCount(r.parameters.trunk)} + MTP ${formatCount(r.parameters.mtp)})` : ''}`]);
  if (r.tokenizer) head.push(['tokenizer', `${r.tokenizer.model ?? '?'} / pre ${r.tokenizer.pre ?? '?'}, ${r.tokenizer.tokens} tokens${r.hasChatTemplate ? ', chat template' : ', no chat template (built-in used)'}`]);
  s += table(head, '');

  const c = r.config;
  if (c) {
    s += '\nhyperparameters\n';
    const rows: string[][] = [
      ['embedding', String(c.nEmbd)],
      ['layers', `${c.nTrunk} trunk${c.nNextn ? ` + ${c.nNextn} MTP` : ''}: ${layerSummary(c.layerKinds)}`],
      ['attention', `${c.nHead} heads, ${c.nHeadKv} KV heads (GQA ${c.nHead / c.nHeadKv}), head dim ${c.headDimK}, RoPE ${c.nRot} dims, base ${Number(c.ropeBase.toPrecision(6))}`],
      ['gated deltanet', `${c.ssm.nKHeads} K heads, ${c.ssm.nVHeads} V heads, head dim ${c.ssm.stateSize}/${c.ssm.headDimV}, conv ${c.ssm.convKernel} × ${c.ssm.convChannels} channels`],
      ['ffn', c.ffn.kind === 'dense' ? `dense SwiGLU, ${c.ffn.nFf}` : `MoE ${c.ffn.nExpert} experts, ${c.ffn.nExpertUsed} used, ff ${c.ffn.nFfExpert}, shared expert ff ${c.ffn.nFfShared}`],
      ['context', `${c.contextLength} (training)`],
      ['rms eps', String(Number(c.rmsEps.toPrecision(6)))],
    ];
    if (c.vocabSize !== undefined) rows.push(['vocab', String(c.vocabSize)]);
    s += table(rows);
  } else if (r.configError) {
    s += `\nnot runnable: [${r.configError.code}] ${r.configError.message}\n`;
  }

  s += '\ntensor types\n';
  s += table([
    ['type', 'tensors', 'parameters', 'bytes'],
    ...r.types.map((t) => [t.type, String(t.tensors), formatCount(t.elements), formatBytes(t.bytes)]),
  ]);

  if (r.memory.length > 0) {
    s += `\nmemory per sequence (weights ${formatBytes(r.weightBytes)}, ${r.kvCacheType} KV cache, f32 recurrent state; activations excluded)\n`;
    s += table([
      ['context', 'KV cache', 'recurrent state', 'total'],
      ...r.memory.map((m) => [String(m.contextLength), formatBytes(m.kvCacheBytes), formatBytes(m.recurrentStateBytes), formatBytes(m.totalBytes)]),
    ]);
  }
  return s;
}

function parseContexts(v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  const list = v.split(',').map((x) => Number(x.trim()));
  if (list.length === 0 || list.some((n) => !Number.isSafeInteger(n) || n <= 0)) throw new UsageError(`inspect: --ctx expects positive integers separated by commas, got '${v}'`);
  return list;
}

export async function inspectCommand(argv: string[], io: Output): Promise<number> {
  const { values, positionals } = parseCommandArgs('inspect', argv, {
    json: { type: 'boolean', default: false },
    ctx: { type: 'string' },
    'kv-cache': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
    model: { type: 'string', short: 'm' },
  }, true);
  if (values.help) {
    io.out(INSPECT_HELP);
    return 0;
  }
  const paths = values.model !== undefined ? [values.model, ...positionals] : positionals;
  if (paths.length !== 1) throw new UsageError(`inspect: expected exactly one model path, got ${paths.length} (see 'qwen-hybrid inspect --help')`);
  const contexts = parseContexts(values.ctx);
  const kvCacheType = kvCacheFlag('inspect', values['kv-cache']);
  const report = await inspectModel(paths[0]!, { ...(contexts ? { contextLengths: contexts } : {}), ...(kvCacheType ? { kvCacheType } : {}) });
  io.out(values.json ? JSON.stringify(report) + '\n' : formatReport(report));
  return 0;
}
