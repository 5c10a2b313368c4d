import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { engineBuildName, llamaServerFileName, readBundledLlamaCppSource } from "../../src/engines/llama-server/binary.js";

/**
 * Where tests look for a real llama-server, in order: `MOESTRO_TEST_LLAMA_SERVER` (`.ci/run` exports it); the CPU build
 * of the bundled commit in CI's cache (`$MOESTRO_CI_CACHE`, default `~/.cache/moestro-ci`, where `.ci/run` builds it,
 * so a local `.ci/run` or `MOESTRO_HOME=~/.cache/moestro-ci moestro engine build --backend cpu` provides it).
 */
export const llamaServerCandidates: readonly string[] = [
  ...(process.env.MOESTRO_TEST_LLAMA_SERVER ? [process.env.MOESTRO_TEST_LLAMA_SERVER] : []),
  path.join(
    process.env.MOESTRO_CI_CACHE ?? path.join(os.homedir(), ".cache", "moestro-ci"),
    "engines",
    engineBuildName(readBundledLlamaCppSource().commit, "cpu"),
    llamaServerFileName,
  ),
];

/**
 * A real llama-server binary for tests, or `undefined` (tests that need it skip with {@link llamaServerSkipReason}).
 * When `MOESTRO_TEST_LLAMA_SERVER` is set it is the only candidate: a wrong path then skips rather than testing another
 * binary silently.
 */
export const testLlamaServer: string | undefined = process.env.MOESTRO_TEST_LLAMA_SERVER
  ? existsSync(process.env.MOESTRO_TEST_LLAMA_SERVER)
    ? process.env.MOESTRO_TEST_LLAMA_SERVER
    : undefined
  : llamaServerCandidates.find((candidate) => existsSync(candidate));

/** Why tests that need a real llama-server skip. */
export const llamaServerSkipReason = process.env.MOESTRO_TEST_LLAMA_SERVER
  ? `MOESTRO_TEST_LLAMA_SERVER=${process.env.MOESTRO_TEST_LLAMA_SERVER} does not exist`
  : `no llama-server found (looked at ${llamaServerCandidates.join(", ")}); set MOESTRO_TEST_LLAMA_SERVER, or build one with MOESTRO_HOME=~/.cache/moestro-ci moestro engine build --backend cpu`;
