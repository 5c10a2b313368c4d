import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleSkipReason, saveScreenshot, startConsoleSession, testAdminKey, type ConsoleSession } from "./console-harness.js";

/** A batch input file of `count` completions of stories260K, `maxTokens` each. */
function lines(count: number, maxTokens: number): string {
  return Array.from({ length: count }, (_, index) =>
    JSON.stringify({
      custom_id: `r${index}`,
      method: "POST",
      url: "/v1/completions",
      body: { model: "stories260K", prompt: `Once upon a time ${index}`, max_tokens: maxTokens },
    }),
  ).join("\n");
}

describe.skipIf(consoleSkipReason !== undefined)("console: Batches (real server, key checks on, headless Chromium)", () => {
  let session: ConsoleSession;
  let client: OpenAI;
  let finished = "";
  let running = "";

  beforeAll(async () => {
    session = await startConsoleSession({
      path: "/batches",
      adminKey: testAdminKey,
      beforeOpen: async (server) => {
        client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: testAdminKey, maxRetries: 0 });
        const small = await client.files.create({ file: new File([lines(3, 4)], "small.jsonl"), purpose: "batch" });
        finished = (
          await client.batches.create({
            input_file_id: small.id,
            endpoint: "/v1/completions",
            completion_window: "24h",
            metadata: { team: "docs" },
          })
        ).id;
        for (let status = ""; status !== "completed"; status = (await client.batches.retrieve(finished)).status)
          await new Promise((resolve) => setTimeout(resolve, 100));
      },
    });
  });
  afterAll(async () => await session?.close());

  it("shows each batch with its progress, and cancels a running one", async () => {
    const { page } = session;
    const done = page.locator(`[data-testid="batch-row"][data-batch-id="${finished}"]`);
    await done.waitFor();
    expect(await done.getAttribute("data-status")).toBe("completed");
    expect(await done.getByTestId("batch-counts").textContent()).toContain("3 of 3 done");
    expect(await done.getByTestId("batch-progress").getAttribute("aria-valuenow")).toBe("100");
    expect(await done.textContent()).toContain("team=docs");

    const big = await client.files.create({ file: new File([lines(200, 200)], "big.jsonl"), purpose: "batch" });
    running = (await client.batches.create({ input_file_id: big.id, endpoint: "/v1/completions", completion_window: "24h" })).id;
    const row = page.locator(`[data-testid="batch-row"][data-batch-id="${running}"]`);
    await row.waitFor();
    await saveScreenshot(page, "batches");
    await row.getByTestId("cancel-batch").click();
    await page.locator(`[data-testid="batch-row"][data-batch-id="${running}"][data-status="cancelled"]`).waitFor({ timeout: 30_000 });
    expect((await client.batches.retrieve(running)).status).toBe("cancelled");
    expect(session.foreignRequests).toEqual([]);
    expect(session.pageErrors).toEqual([]);
  });
});
