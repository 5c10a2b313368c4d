// TEMPORARY stub, replaced by the engine-binary branch.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

export async function resolveLlamaServer(options: { configured?: string; home: string }): Promise<string | undefined> {
  return options.configured ?? process.env.MOESTRO_TEST_LLAMA_SERVER;
}

export async function checkLlamaServerBinary(path: string): Promise<{ path: string; version: string }> {
  const { stdout, stderr } = await promisify(execFile)(path, ["--version"], { timeout: 10_000 });
  const version = /version: .*/.exec(stdout + stderr)?.[0] ?? "unknown";
  return { path, version };
}
