import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFakeApp, type FakeApp } from "../helpers/fake-app.js";
import { createFakeBackend } from "../helpers/fake-backend.js";
import { fileBytes, startFakeHub, type FakeHub } from "../helpers/fake-hub.js";
import { testModelPath } from "../helpers/models.js";
import {
  chromiumPath,
  consoleSkipReason,
  launchBrowser,
  openConsole,
  saveScreenshot,
  startConsoleSession,
  testAdminKey,
  type ConsoleSession,
} from "./console-harness.js";

const webDist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../web/dist");

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

  it("shows which engine serves each loaded model, and where its weights sit", async () => {
    const { page } = session;
    const row = page.locator('[data-testid="loaded-row"][data-model="stories260K"]');
    await row.waitFor();
    expect(await row.getByTestId("loaded-engine").textContent()).toBe("inproc");
    // The in-process engine has no worker process.
    expect(await row.getByTestId("loaded-worker").count()).toBe(0);
    const placement = (
      await fetch(`${session.url}/v1/moestro/ps`, { headers: { authorization: `Bearer ${testAdminKey}` } })
        .then((response) => response.json())
        .then((body) => (body as { data: Array<{ id: string; placement: { description: string } }> }).data)
    ).find((model) => model.id === "stories260K")!.placement;
    expect(await row.getByTestId("loaded-placement").textContent()).toContain(placement.description);
  });

  it("draws the loaded models' memory against the scheduler's budget, with the figures in text", async () => {
    const { page } = session;
    await page.locator('[data-testid="loaded-row"][data-model="stories260K"]').waitFor();
    const info = (await (
      await fetch(`${session.url}/v1/moestro/info`, { headers: { authorization: `Bearer ${testAdminKey}` } })
    ).json()) as { memory_budget_bytes: number | null };
    expect(info.memory_budget_bytes).toBeGreaterThan(0);
    const use = (await page.getByTestId("memory-use").textContent()) ?? "";
    expect(use).toMatch(/^[\d.]+ [KMG]iB of the [\d.]+ [KMGT]iB budget \(--max-memory; [\d.e-]+%\) in use by \d+ models?/);
    // A tiny model against a budget of gigabytes: a sliver of the bar, not all of it.
    const filled = await page
      .getByTestId("memory-bar")
      .evaluate(
        (bar) => [...bar.children].reduce((sum, part) => sum + part.getBoundingClientRect().width, 0) / bar.getBoundingClientRect().width,
      );
    expect(filled).toBeLessThan(0.5);
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

// No llama-server runs here: fake backends say they are served by workers (engine details as the llama-server backend
// gives them), which is all the Models page reads. Needs Chromium and the built console, not the test models.
describe.skipIf(!existsSync(chromiumPath) || !existsSync(path.join(webDist, "index.html")))(
  "console: Models shows llama-server workers (fake backends, headless Chromium)",
  () => {
    let app: FakeApp;
    let browser: Browser;
    const startedAtMs = Date.now() - 90_000;

    beforeAll(async () => {
      const args = ["--model", "/models/big.gguf", "--n-gpu-layers", "99", "--n-cpu-moe", "30"];
      app = await createFakeApp(
        [
          createFakeBackend({ id: "local" }),
          createFakeBackend({
            id: "big-moe",
            engine: {
              kind: "llama-server",
              placement: { description: "experts of the first 30 layers in RAM, the rest on the GPU", gpuLayers: 99, cpuMoeLayers: 30 },
              worker: {
                pid: 4242,
                binary: "/opt/llama-server",
                version: "version: 1 (80fb11a)",
                args,
                restarts: 2,
                startedAtMs,
                speculation: { type: "draft", backedOff: { acceptance: 0.03, draftTokens: 512, atMs: startedAtMs, restartMs: 1840 } },
              },
            },
          }),
          createFakeBackend({
            id: "restarting",
            engine: {
              kind: "llama-server",
              placement: { description: "all on the GPU", gpuLayers: 49, cpuMoeLayers: 0 },
              worker: {
                pid: null,
                binary: "/opt/llama-server",
                version: "version: 1 (80fb11a)",
                args,
                restarts: 1,
                startedAtMs,
                speculation: { type: "ngram" },
              },
            },
          }),
        ],
        { transport: "node", deps: { consoleDir: webDist } },
      );
      for (const id of ["local", "big-moe", "restarting"]) await app.models.load(id);
      browser = await launchBrowser();
    });
    afterAll(async () => {
      await browser?.close();
      await app?.close();
    });

    it("shows each model's engine and placement, and a worker's pid, restarts and speculation", async () => {
      const url = app.client.baseURL.replace(/\/v1$/, "");
      const { page, foreignRequests, pageErrors } = await openConsole(browser, url, "/models");
      const row = (model: string) => page.locator(`[data-testid="loaded-row"][data-model="${model}"]`);
      await row("big-moe").waitFor();
      expect(await row("local").getByTestId("loaded-engine").textContent()).toBe("inproc");
      expect(await row("local").getByTestId("loaded-worker").count()).toBe(0);
      expect(await row("local").getByTestId("loaded-placement").textContent()).toBe("CPU only");
      expect(await row("big-moe").getByTestId("loaded-engine").textContent()).toBe("llama-server");
      expect(await row("big-moe").getByTestId("loaded-worker").textContent()).toBe("pid 4242 · 2 restarts");
      expect(await row("big-moe").getByTestId("loaded-placement").textContent()).toBe(
        "experts of the first 30 layers in RAM, the rest on the GPU99 layers on the GPU · experts of 30 layers in RAM",
      );
      expect(await row("big-moe").getByTestId("loaded-layers").textContent()).toBe("99 layers on the GPU · experts of 30 layers in RAM");
      expect(await row("restarting").getByTestId("loaded-worker").textContent()).toBe("restarting · 1 restart");
      // The worker's speculative decoding, as `ps --json` says it (`worker.speculation`); none for the in-process engine.
      expect(await row("restarting").getByTestId("loaded-speculation").textContent()).toBe("speculative: ngram");
      expect(await row("big-moe").getByTestId("loaded-speculation").textContent()).toBe(
        "speculative: off (backed off: 3% of 512 drafted tokens accepted; restarted in 1840 ms)",
      );
      expect(await row("local").getByTestId("loaded-speculation").count()).toBe(0);
      expect(await row("restarting").getByTestId("loaded-layers").textContent()).toBe("49 layers on the GPU");
      await saveScreenshot(page, "models-workers");
      expect(foreignRequests).toEqual([]);
      expect(pageErrors).toEqual([]);
    });
  },
);
