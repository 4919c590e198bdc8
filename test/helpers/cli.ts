/** Runs the CLI in-process (src/cli/main.ts runCli) with captured output: exit code, stdout and stderr text. */
import type { Output } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: Output = { out: (t) => void (stdout += t), err: (t) => void (stderr += t), isTTY: false };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}
