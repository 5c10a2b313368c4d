import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";

// A unit test must not depend on the models folder (npm run test:unit passes without it): a test that needs it is named
// x.model.test.ts, or lives in test/e2e, and runs in the e2e project (vitest.config.ts).
if (process.env.MOESTRO_TEST_PROJECT === "unit") {
  throw new Error("test/helpers/models.ts was imported by a unit test: name the file x.model.test.ts (or move it to test/e2e).");
}

/**
 * The shared test models folder: `../shared/models` beside the checkout (CI has it), or `MOESTRO_TEST_MODELS`. The models are
 * described in docs/test-models.md.
 */
export const testModelsDir =
  process.env.MOESTRO_TEST_MODELS ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../shared/models");

/** Absolute path of a shared test model. */
export function testModelPath(fileName: string): string {
  return path.join(testModelsDir, fileName);
}

/** Whether the shared test models are present. */
export const hasTestModels = existsSync(path.join(testModelsDir, "stories260K.gguf"));

/** Why model tests skip, printed once per file when the models are absent. */
export const skipReason = `model tests skipped: ${testModelsDir} not found (set MOESTRO_TEST_MODELS to a folder with the shared tiny GGUF models)`;

if (!hasTestModels) console.warn(skipReason);

/**
 * The llama.cpp binding of model tests: CPU only, the prebuilt binary (never a build), one thread (the machine's cores
 * are shared by parallel tests: docs/engine.md, "Sampling, threads and memory"), and only llama.cpp's errors in the test
 * output.
 */
export async function getTestLlama(): Promise<Llama> {
  return await getLlama({ gpu: false, build: "never", maxThreads: 1, logLevel: LlamaLogLevel.error });
}

/** The 60-token greedy continuation of "Once upon a time" by stories260K (docs/test-models.md). */
export const storiesGreedy60 =
  ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily";

/** The 40-token greedy continuation: llama2.c's own greedy sample of stories260K, word for word (docs/test-models.md). */
export const storiesGreedy40 =
  ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.";
