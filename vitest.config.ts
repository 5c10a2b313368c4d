import { configDefaults, defineConfig } from "vitest/config";

/**
 * Three projects, run in this order by `vitest run` (`npm test`), or one at a time by `npm run test:unit`,
 * `test:e2e` and `test:console`:
 * - `unit`: every model-free test. It must pass with no ../shared/models (`MOESTRO_TEST_MODELS=/nonexistent`), so it
 *   never loads a GGUF, spawns the CLI or drives a browser; it may use SQLite, PostgreSQL, Redis, ports on 127.0.0.1
 *   and the fake `ModelBackend` (test/helpers/fake-backend.ts).
 * - `e2e`: tests on the shared tiny models (`x.model.test.ts` beside a module, `test/e2e`, `test/bench`) and those that
 *   spawn the built CLI.
 * - `console`: the web console in Chromium (`test/console`).
 */
const modelTests = ["src/**/*.model.test.ts", "test/e2e/**/*.test.ts", "test/bench/**/*.test.ts"];
const consoleTests = ["test/console/**/*.test.ts"];

export default defineConfig({
  test: {
    // Files run one at a time: on 2 cores llama.cpp's spinning threads starve each other, and two unit workers were no
    // faster while their PostgreSQL and Redis probes timed out and skipped tests (README, Development).
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ["default"],
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["src/**/*.test.ts", "test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, ...modelTests, ...consoleTests],
          // test/helpers/models.ts refuses to load under this project, so a model test placed here fails loudly.
          env: { MOESTRO_TEST_PROJECT: "unit" },
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: modelTests,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: "console",
          include: consoleTests,
          // A page polled for what its fetches bring (the model list, a chart's points) answers in a few hundred ms on
          // an idle machine and took over the default 1 s on a loaded one: the playground's first test then failed,
          // and the two after it with it, as the chat they build on was never sent.
          expect: { poll: { timeout: 15_000 } },
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
