import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileBytes, startFakeHub, type FakeHub } from "../helpers/fake-hub.js";
import { testModelPath } from "../helpers/models.js";
import { consoleSkipReason, saveScreenshot, startConsoleSession, testAdminKey, type ConsoleSession } from "./console-harness.js";

describe.skipIf(consoleSkipReason !== undefined)("console: Models (real server, local hub, headless Chromium)", () => {
  let hub: FakeHub;
  let session: ConsoleSession;

  beforeAll(async () => {
    const q8 = fileBytes(testModelPath("stories260K-q8_0.gguf"));
    // About 1.5 s for the 379 kB file, in 20 steps a second, so that the progress can be seen moving.
    hub = await startFakeHub({
      repos: { "karpathy/tinyllamas": [{ path: "stories260K-Q8_0.gguf", content: q8 }] },
      bytesPerSecond: Math.ceil(q8.length / 1.5),
    });
    session = await startConsoleSession({
      path: "/models",
      models: ["stories260K.gguf", "stories260K-moe.gguf"],
      adminKey: testAdminKey,
      hubEndpoint: hub.url,
    });
  });
  afterAll(async () => {
    await session?.close();
    await hub?.close();
  });

  const loadedIds = async (): Promise<string[]> =>
    (
      (await (await fetch(`${session.url}/v1/moestro/ps`, { headers: { authorization: `Bearer ${testAdminKey}` } })).json()) as {
        data: Array<{ id: string }>;
      }
    ).data.map((model) => model.id);

  it("pulls from a local hub and shows the progress reach 100%", async () => {
    const { page } = session;
    await page.getByTestId("pull-input").fill("hf:karpathy/tinyllamas:Q8_0");
    await page.getByTestId("pull-button").click();
    const progress = page.getByTestId("pull-progress");
    await progress.waitFor();
    // Sample the bar while the download runs: it must be seen between 0 and 100, then at 100.
    const seen = new Set<number>();
    const deadline = Date.now() + 30_000;
    while ((await progress.getAttribute("data-status")) !== "done" && Date.now() < deadline) {
      const value = await page.getByTestId("pull-bar").getAttribute("aria-valuenow");
      if (value !== null) seen.add(Number(value));
      await page.waitForTimeout(50);
    }
    expect(await progress.getAttribute("data-status")).toBe("done");
    expect(await page.getByTestId("pull-percent").textContent()).toBe("100%");
    expect(await page.getByTestId("pull-bar").getAttribute("aria-valuenow")).toBe("100");
    expect(
      [...seen].filter((value) => value > 0 && value < 100).length,
      `progress values seen: ${[...seen].join(", ")}`,
    ).toBeGreaterThanOrEqual(2);
    await page.locator('[data-testid="model-row"][data-model="karpathy/tinyllamas:Q8_0"]').waitFor();
    expect(hub.requests.some((request) => request.startsWith("GET /karpathy/tinyllamas/resolve/main/stories260K-Q8_0.gguf"))).toBe(true);
  });

  it("shows the MoE facts and the plan for this machine", async () => {
    const { page } = session;
    await page.locator('[data-testid="model-row"][data-model="stories260K-moe"]').getByTestId("plan").click();
    const plan = page.getByTestId("plan-view");
    await plan.waitFor();
    expect(await plan.getByTestId("plan-experts").textContent()).toBe("2 of 4");
    expect(await plan.getByTestId("plan-placement").textContent()).not.toBe("");
    await saveScreenshot(page, "models");
  });

  it("says which model is dense and which a Mixture of Experts, and shows a dense model no MoE facts", async () => {
    const { page } = session;
    const row = (model: string) => page.locator(`[data-testid="model-row"][data-model="${model}"]`);
    expect(await row("stories260K").getByTestId("model-kind").textContent()).toBe("dense");
    expect(await row("stories260K-moe").getByTestId("model-kind").textContent()).toBe("MoE · 2 of 4 experts");
    expect(await row("stories260K-moe").getByTestId("plan").textContent()).toBe("Hide plan");
    expect(await row("stories260K").getByTestId("plan").textContent()).toBe("Facts & plan");
    await row("stories260K").getByTestId("plan").click();
    const panel = page.getByTestId("plan-panel");
    await panel.locator("h2", { hasText: "Facts and plan: stories260K" }).waitFor();
    await expect.poll(() => panel.getByTestId("plan-total-parameters").count()).toBe(1);
    expect(await panel.getByTestId("plan-experts").count()).toBe(0);
    expect(await panel.getByTestId("plan-active-parameters").count()).toBe(0);
    expect(await panel.getByTestId("plan-view").locator(".stats").first().textContent()).not.toMatch(/MoE|expert/i);
    expect(await row("stories260K-moe").getByTestId("plan").textContent()).toBe("MoE facts & plan");
    await saveScreenshot(page, "models-dense-plan");
  });

  it("unloads a model and sees it leave the loaded list", async () => {
    const { page } = session;
    const row = page.locator('[data-testid="loaded-row"][data-model="stories260K"]');
    await row.waitFor();
    expect(await loadedIds()).toContain("stories260K");
    await row.getByTestId("unload").click();
    await row.waitFor({ state: "detached" });
    expect(await loadedIds()).not.toContain("stories260K");
    await page.locator('[data-testid="loaded-row"][data-model="stories260K-moe"]').waitFor();
    await saveScreenshot(page, "models-after-unload");
    expect(session.foreignRequests).toEqual([]);
    expect(session.pageErrors).toEqual([]);
  });
});
