import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { moestroBin } from "../helpers/serve-process.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const run = promisify(execFile);
if (!existsSync(path.resolve(path.dirname(moestroBin), "../dist/cli/index.js")))
  throw new Error("dist/ is missing: run `npm run build` first.");

describe.skipIf(!hasTestModels)("moestro batch (built CLI) against a real server", () => {
  let test: TestServer;
  let folder: string;
  const cli = async (args: string[]) => {
    const { stdout } = await run(process.execPath, [moestroBin, "batch", ...args, "--url", test.url, "--json"], {
      cwd: folder,
      encoding: "utf8",
    });
    return JSON.parse(stdout) as Record<string, unknown> & { id: string; status: string };
  };

  beforeAll(async () => {
    test = await startTestServer({ models: [{ path: testModelPath("stories260K.gguf") }], engine: { contextTokens: 256 } });
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-cli-batch-"));
    const lines = [0, 1, 2].map((index) =>
      JSON.stringify({
        custom_id: `c${index}`,
        method: "POST",
        url: "/v1/completions",
        body: { model: index === 2 ? "no-such-model" : "stories260K", prompt: "Once upon a time", max_tokens: 4 },
      }),
    );
    writeFileSync(path.join(folder, "input.jsonl"), lines.join("\n"));
  });
  afterAll(async () => {
    await test?.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it("submits and watches a batch, lists it, downloads its answers and errors, and reports errors as JSON", async () => {
    const submitted = await cli(["submit", "input.jsonl", "--watch", "--interval-ms", "100", "--metadata", "team=cli"]);
    expect(submitted).toMatchObject({
      status: "completed",
      endpoint: "/v1/completions",
      request_counts: { total: 3, completed: 2, failed: 1 },
    });
    expect(submitted.metadata).toEqual({ team: "cli" });
    const listed = (await cli(["list"])) as unknown as Array<{ id: string }>;
    expect(listed.map((batch) => batch.id)).toContain(submitted.id);
    expect((await cli(["get", submitted.id])).id).toBe(submitted.id);
    const downloaded = await cli(["download", submitted.id]);
    expect(downloaded).toMatchObject({ output: `${submitted.id}_output.jsonl`, errors: `${submitted.id}_errors.jsonl` });
    const answers = readFileSync(path.join(folder, `${submitted.id}_output.jsonl`), "utf8")
      .trim()
      .split("\n");
    expect(answers.map((line) => JSON.parse(line).custom_id)).toEqual(["c0", "c1"]);
    const errors = readFileSync(path.join(folder, `${submitted.id}_errors.jsonl`), "utf8")
      .trim()
      .split("\n");
    expect(JSON.parse(errors[0]!)).toMatchObject({ custom_id: "c2", response: { status_code: 404 } });
    // A finished batch is not cancelled; an unknown one is a JSON error on stderr.
    expect((await cli(["cancel", submitted.id])).status).toBe("completed");
    const failure = await run(process.execPath, [moestroBin, "batch", "get", "batch_nope", "--url", test.url, "--json"]).catch(
      (error: { stderr: string; code: number }) => error,
    );
    expect((failure as { code: number }).code).toBe(1);
    expect(JSON.parse((failure as { stderr: string }).stderr)).toMatchObject({ error: { code: "not_found" } });
  });
});
