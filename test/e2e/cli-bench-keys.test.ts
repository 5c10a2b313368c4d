import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminClient } from "../../src/client/admin-client.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { moestroBin } from "../helpers/serve-process.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const run = promisify(execFile);
if (!existsSync(path.resolve(path.dirname(moestroBin), "../dist/cli/index.js")))
  throw new Error("dist/ is missing: run `npm run build` first.");

const adminKey = "bench-keys-e2e-admin-key-0123456789";

describe.skipIf(!hasTestModels)("moestro bench (built CLI) against a server with key checks on", () => {
  let test: TestServer;
  let scopedSecret: string;

  /** `moestro bench` on the server, one tiny request; the key comes only from `env` (the caller's MOESTRO_* are cleared). */
  const bench = async (model: string, env: Record<string, string>, flags: string[] = []) => {
    const args = [moestroBin, "bench", "--url", test.url, "--model", model, "-n", "1", "-c", "1", "--warmup", "0"];
    args.push("--prompt-tokens", "8", "--max-tokens", "2", "--no-progress", "--json", ...flags);
    try {
      const { stdout } = await run(process.execPath, args, {
        encoding: "utf8",
        env: { ...process.env, MOESTRO_API_KEY: "", MOESTRO_ADMIN_KEY: "", ...env },
      });
      return { code: 0, report: JSON.parse(stdout) as { results: unknown[] }, stderr: "" };
    } catch (error) {
      const failed = error as { code: number; stderr: string };
      return { code: failed.code, report: undefined, stderr: failed.stderr };
    }
  };

  beforeAll(async () => {
    test = await startTestServer({
      models: [{ path: testModelPath("stories260K.gguf") }],
      adminKey,
      aliases: { story: "stories260K" },
      engine: { contextTokens: 256 },
    });
    const admin = createAdminClient({ baseUrl: test.url, adminKey });
    scopedSecret = (await admin.createKey({ name: "bench-scoped", models: ["stories260K"] })).secret;
  });
  afterAll(async () => {
    await test?.close();
  });

  it("sends MOESTRO_API_KEY, else MOESTRO_ADMIN_KEY, as moestro batch does; --api-key wins over both", async () => {
    const byApiKey = await bench("stories260K", { MOESTRO_API_KEY: scopedSecret });
    expect(byApiKey.stderr).toBe("");
    expect(byApiKey.code).toBe(0);
    const byAdminKey = await bench("stories260K", { MOESTRO_ADMIN_KEY: adminKey });
    expect(byAdminKey.code).toBe(0);
    // The flag first: a wrong flag fails even with a good key in the environment.
    const byFlag = await bench("stories260K", { MOESTRO_API_KEY: scopedSecret }, ["--api-key", "mst-wrongwrongwrongwrong"]);
    expect(byFlag.code).toBe(1);
    expect(byFlag.stderr).toContain("invalid_api_key");
    const without = await bench("stories260K", {});
    expect(without.code).toBe(1);
    expect(without.stderr).toContain("missing_api_key");
  });

  it("lets a key scoped to a model call it by its alias (config aliases)", async () => {
    const byAlias = await bench("story", { MOESTRO_API_KEY: scopedSecret });
    expect(byAlias.stderr).toBe("");
    expect(byAlias.code).toBe(0);
  });
});
