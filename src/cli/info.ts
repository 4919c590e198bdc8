import { nativeInfo } from '../native/index.js';
import { parseCommandArgs, table, type Output } from './io.js';

export const INFO_HELP = `Usage: qwen-hybrid info [--json]

How the native addon was built (builder, CUDA compiled in and for which archs, CPU features) and which CUDA
devices it sees. On a machine without a GPU it reports "no CUDA device"; that is not an error.
`;

export async function infoCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parseCommandArgs('info', argv, {
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  }, false);
  if (values.help) {
    io.out(INFO_HELP);
    return 0;
  }
  const info = nativeInfo();
  if (values.json) {
    io.out(JSON.stringify(info) + '\n');
    return 0;
  }
  io.out(formatNativeInfo(info));
  return 0;
}

export function formatNativeInfo(info: ReturnType<typeof nativeInfo>): string {
  const b = info.build;
  const cpu = Object.entries(b.cpu).filter(([, on]) => on).map(([f]) => f).join(' ') || 'none';
  const rows = [
    ['addon', `${b.version}, built with ${b.builder} (${b.compiler})`],
    ['cuda', b.cuda ? `compiled in (runtime ${b.cudaRuntimeVersion ?? '?'}) for ${b.cudaArchs.map((a) => `sm_${a}`).join(', ')}` : 'not compiled in'],
    ['cpu features', cpu],
    ['devices', info.devices.available ? `${info.devices.devices.length}` : info.devices.reason],
  ];
  let s = table(rows, '');
  for (const d of info.devices.devices) {
    s += `  [${d.index}] ${d.name}, compute ${d.computeCapability}, ${(d.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB, ${d.multiProcessorCount} SMs\n`;
  }
  return s;
}
