import { existsSync, readdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * The llama-server binary of worker tests: `MOESTRO_TEST_LLAMA_SERVER` (CI sets it to the build `.ci/run` made with
 * `moestro engine build --backend cpu` in its cache folder), else the newest build in that cache folder
 * (`~/.cache/moestro-ci/engines`), else none: the llama-server variants of the engine-parameterised suites skip with
 * a printed reason, unless `MOESTRO_REQUIRE_LLAMA_SERVER=1` (CI), which makes a missing binary an error.
 */
export const testLlamaServer: string | undefined = findTestLlamaServer();

function findTestLlamaServer(): string | undefined {
  const fromEnv = process.env.MOESTRO_TEST_LLAMA_SERVER;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`MOESTRO_TEST_LLAMA_SERVER=${fromEnv}: no such file`);
    return fromEnv;
  }
  const cache = path.join(process.env.MOESTRO_CI_CACHE ?? path.join(os.homedir(), ".cache", "moestro-ci"), "engines");
  const builds = existsSync(cache) ? readdirSync(cache).filter((name) => name.startsWith("llama-server-")) : [];
  for (const name of builds.sort().reverse()) {
    const binary = path.join(cache, name, "llama-server");
    if (existsSync(binary)) return binary;
  }
  if (process.env.MOESTRO_REQUIRE_LLAMA_SERVER === "1") {
    throw new Error("MOESTRO_REQUIRE_LLAMA_SERVER=1 and no llama-server: set MOESTRO_TEST_LLAMA_SERVER or run `moestro engine build`.");
  }
  return undefined;
}

/** The engines the engine-parameterised suites run on: always in-process; llama-server workers when a binary exists. */
export const testEngines: ReadonlyArray<"inproc" | "llama-server"> = testLlamaServer ? ["inproc", "llama-server"] : ["inproc"];

if (testLlamaServer === undefined) {
  console.warn(
    "llama-server worker variants skipped: no binary (set MOESTRO_TEST_LLAMA_SERVER, or run `moestro engine build --backend cpu`)",
  );
}
