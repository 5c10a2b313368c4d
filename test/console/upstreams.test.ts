import type { Locator } from "playwright-core";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WireUpstreamList } from "../../src/wire/console.js";
import { testModelPath } from "../helpers/models.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { startStandInUpstream, type StandInUpstream } from "../helpers/stand-in-upstream.js";
import { consoleSkipReason, saveScreenshot, startConsoleSession, testAdminKey, type ConsoleSession } from "./console-harness.js";

/** The variable the failing upstream's key is read from: the page must never show the key. */
const flakyKeyEnv = "MOESTRO_TEST_CONSOLE_FLAKY_KEY";
const flakyKey = "sk-flaky-upstream-secret-0123456789";

/**
 * The Upstreams page on a real gateway: a real server with stories260K of its own (the pool's member `local`) in front
 * of `real` (a second moestro server of stories260K, kind `moestro`, whose /metrics gives its queue), `flaky` (a small
 * HTTP server that lists stories260K and answers every generation 500, so that the gateway ejects it) and `down`
 * (an address where nothing listens: never reached, so it serves no model).
 */
describe.skipIf(consoleSkipReason !== undefined)("console: Upstreams (real gateway, real upstreams, headless Chromium)", () => {
  let real: TestServer;
  let flaky: StandInUpstream;
  let session: ConsoleSession;
  let client: OpenAI;

  const readUpstreams = async (): Promise<WireUpstreamList> =>
    (await (
      await fetch(`${session.url}/v1/moestro/upstreams`, { headers: { authorization: `Bearer ${testAdminKey}` } })
    ).json()) as WireUpstreamList;
  const ask = () => client.chat.completions.create({ model: "stories260K", max_tokens: 4, messages: [{ role: "user", content: "Once" }] });

  beforeAll(async () => {
    process.env[flakyKeyEnv] = flakyKey;
    real = await startTestServer({
      models: [{ path: testModelPath("stories260K.gguf") }],
      engine: { contextTokens: 256, parallel: 2, batchSize: 64 },
    });
    flaky = await startStandInUpstream(["stories260K"], (_request, response) => {
      response.writeHead(500, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: { message: "the stand-in fails on purpose", type: "server_error" } }));
    });
    session = await startConsoleSession({
      path: "/playground",
      adminKey: testAdminKey,
      upstreams: [
        { name: "real", url: `${real.url}/v1`, kind: "moestro" },
        { name: "flaky", url: flaky.url, apiKeyEnv: flakyKeyEnv },
        { name: "down", url: "http://127.0.0.1:9/v1", timeoutMs: 1000 },
      ],
      // Two failures in a row eject, for long enough that the cooldown still runs when the page is read.
      gateway: { ejectAfterFailures: 2, cooldownMs: 120_000, healthCheckIntervalMs: 1000 },
      beforeOpen: async (server) => {
        client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: testAdminKey, maxRetries: 0 });
      },
    });
    // Requests go round the pool's members; each one that reaches `flaky` fails over to another member, until two
    // failures have ejected it. The client sees only answers.
    for (let attempt = 0; attempt < 20; attempt++) {
      const answer = await ask();
      expect(answer.choices[0]!.message.content!.length).toBeGreaterThan(0);
      const { data } = await readUpstreams();
      const state = (name: string) => data.find((upstream) => upstream.name === name)!;
      if (state("flaky").state === "ejected" && state("real").requests_total > 0) break;
    }
    await session.page.getByRole("link", { name: /Upstreams/ }).click();
    await session.page.getByTestId("upstreams").waitFor();
  });
  afterAll(async () => {
    await session?.close();
    await flaky?.close();
    await real?.close();
    delete process.env[flakyKeyEnv];
  });

  const row = (name: string): Locator => session.page.locator(`[data-testid="upstream-row"][data-upstream="${name}"]`);
  const text = async (locator: Locator): Promise<string> => ((await locator.textContent()) ?? "").trim();

  it("lists each upstream with its URL (no key), kind, models and state, an ejected one with its cooldown left", async () => {
    const { page } = session;
    await row("real").waitFor();
    expect(
      await page.getByTestId("upstream-row").evaluateAll((rows) => rows.map((element) => element.getAttribute("data-upstream"))),
    ).toEqual(["real", "flaky", "down"]);
    expect(await text(row("real").getByTestId("upstream-url"))).toBe(`${real.url}/v1`);
    expect(await text(row("flaky").getByTestId("upstream-url"))).toBe(flaky.url);
    expect(await text(row("real"))).toContain("moestro");
    expect(await text(row("flaky"))).toContain("openai-compatible");
    expect(await text(row("real").getByTestId("upstream-models"))).toBe("stories260K");
    expect(await text(row("down").getByTestId("upstream-models"))).toBe("none read yet");

    expect(await text(row("real").getByTestId("upstream-state"))).toBe("healthy");
    expect(await text(row("flaky").getByTestId("upstream-state"))).toBe("ejected");
    expect(await text(row("down").getByTestId("upstream-state"))).toBe("ejected");
    const cooldown = await text(row("flaky").getByTestId("upstream-cooldown"));
    const secondsLeft = Number(/cooldown: (\d+) s left/.exec(cooldown)?.[1] ?? /cooldown: (\d+) min/.exec(cooldown)?.[1]);
    expect(cooldown, cooldown).toMatch(/^cooldown: (\d+ min \d+ s|\d+ s) left · 2 failures in a row$/);
    expect(secondsLeft).toBeGreaterThan(0);
    expect(await row("real").getByTestId("upstream-cooldown").count()).toBe(0);

    // The key the flaky upstream is called with is nowhere on the page.
    expect(await page.content()).not.toContain(flakyKey);
    await saveScreenshot(page, "upstreams");
  });

  it("shows in-flight, the queue read from a moestro upstream's /metrics, the error rate and the median latency", async () => {
    const { data } = await readUpstreams();
    const byName = new Map(data.map((upstream) => [upstream.name, upstream]));
    for (const name of ["real", "flaky", "down"])
      expect(await text(row(name).getByTestId("upstream-in-flight")), name).toBe(String(byName.get(name)!.in_flight));
    // A moestro upstream publishes its queue (moestro_queue_depth); a plain OpenAI-compatible one does not.
    expect(await text(row("real").getByTestId("upstream-queue"))).toBe("0");
    expect(await text(row("flaky").getByTestId("upstream-queue"))).toBe("-");
    expect(await text(row("flaky").getByTestId("upstream-error-rate"))).toBe("100%");
    expect(await text(row("flaky").getByTestId("upstream-errors-total"))).toBe("2 of 2 since start");
    expect(await text(row("real").getByTestId("upstream-error-rate"))).toBe("0%");
    expect(await text(row("real").getByTestId("upstream-latency"))).toMatch(/^\d+(\.\d)? (ms|s)$/);
    expect(await text(row("flaky").getByTestId("upstream-latency"))).toBe("-");
    expect(await text(row("down").getByTestId("upstream-error-rate"))).toBe("-");
  });

  it("shows the pool with its members: this server's own copy, the healthy upstream and the ejected one", async () => {
    const pool = session.page.locator('[data-testid="pool-row"][data-model="stories260K"]');
    await pool.waitFor();
    expect(
      await pool
        .getByTestId("pool-member")
        .evaluateAll((members) => members.map((member) => [member.getAttribute("data-member"), member.getAttribute("data-state")])),
    ).toEqual([
      ["local", "healthy"],
      ["real", "healthy"],
      ["flaky", "ejected"],
    ]);
    expect(await text(pool.getByTestId("pool-available"))).toBe("2 of 3");
    expect(await session.page.getByTestId("pool-row").count()).toBe(1);
  });

  it("refreshes on its own: requests made meanwhile show up without a reload", async () => {
    const before = await text(row("real").getByTestId("upstream-errors-total"));
    const requestsBefore = Number(/of (\d+) since start/.exec(before)![1]);
    // Two requests in a row: the pool takes turns between `local` and `real`, so `real` gets at least one.
    await ask();
    await ask();
    const requestsAfter = (await readUpstreams()).data.find((upstream) => upstream.name === "real")!.requests_total;
    expect(requestsAfter).toBeGreaterThan(requestsBefore);
    await expect
      .poll(async () => await text(row("real").getByTestId("upstream-errors-total")), { timeout: 12_000, interval: 250 })
      .toBe(`0 of ${requestsAfter} since start`);
  });

  it("fits a phone's width, and asked nothing of another origin", async () => {
    const { page } = session;
    await page.setViewportSize({ width: 420, height: 800 });
    await page.waitForTimeout(200);
    expect(await page.evaluate<number>("document.documentElement.scrollWidth - document.documentElement.clientWidth")).toBe(0);
    await saveScreenshot(page, "narrow-upstreams-gateway");
    expect(session.foreignRequests).toEqual([]);
    expect(session.pageErrors).toEqual([]);
  });
});
