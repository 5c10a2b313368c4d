import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatNanoUsd } from "../../src/cli/commands/usage.js";
import { createAdminClient } from "../../src/client/admin-client.js";
import type { PriceBookInput } from "../../src/metering/price-book.js";
import { flatLocalPrice, writePriceBook } from "../helpers/price-book.js";
import { postJson } from "../helpers/server.js";
import { consoleSkipReason, saveScreenshot, startConsoleSession, testAdminKey, type ConsoleSession } from "./console-harness.js";

describe.skipIf(consoleSkipReason !== undefined)("console: Usage (real server, key checks on, headless Chromium)", () => {
  let session: ConsoleSession;
  const requestIds: string[] = [];

  beforeAll(async () => {
    session = await startConsoleSession({
      path: "/usage",
      adminKey: testAdminKey,
      // Three requests: two with an application's key, one with the admin key.
      beforeOpen: async (server) => {
        const { secret } = await createAdminClient({ baseUrl: server.url, adminKey: testAdminKey }).createKey({ name: "reporting" });
        for (const [index, key] of [secret, secret, testAdminKey].entries()) {
          const requestId = `usage-test-${index}`;
          const response = await postJson(
            `${server.url}/v1/chat/completions`,
            {
              model: "stories260K",
              messages: [{ role: "user", content: "Once upon a time" }],
              max_tokens: 12 + index * 8,
              stream: index === 1,
            },
            { headers: { "content-type": "application/json", authorization: `Bearer ${key}`, "x-request-id": requestId } },
          );
          expect(response.status).toBe(200);
          await response.text();
          requestIds.push(requestId);
        }
      },
    });
  });
  afterAll(async () => await session?.close());

  it("after three requests, the chart and the tables show them", async () => {
    const { page } = session;
    await page.getByTestId("usage-totals").waitFor();
    expect(await page.getByTestId("total-requests").textContent()).toBe("3");
    await expect.poll(() => page.getByTestId("tokens-chart").getByTestId("usage-point").count()).toBe(3);
    const charted = await page
      .getByTestId("usage-point")
      .evaluateAll((points) => points.map((point) => point.getAttribute("data-request")));
    expect(charted.sort()).toEqual([...requestIds].sort());
    // Each marker's tooltip names the engine that served the request (the ledger's engine column).
    const titles = await page
      .getByTestId("tokens-chart")
      .getByTestId("usage-point")
      .evaluateAll((points) => points.map((point) => point.querySelector("title")?.textContent ?? ""));
    expect(titles.every((title) => title.includes(" · inproc"))).toBe(true);
    const byModel = page.getByTestId("usage-by-model").locator('[data-testid="usage-row"][data-group="stories260K"]');
    expect(await byModel.getByTestId("row-requests").textContent()).toBe("3");
    // Cached prompt tokens are shown apart (the implicit cache here: no request marked cache_control).
    expect(await byModel.getByTestId("row-cached").textContent()).toMatch(/^\d+$/);
    const byKey = page.getByTestId("usage-by-key").getByTestId("usage-row");
    expect(await byKey.count()).toBe(2);
    expect(await page.getByTestId("usage-by-key").textContent()).toContain("reporting");
    await saveScreenshot(page, "usage");
  });

  it("prices the local requests by engine time, never $0, with the assumptions one click away and the planner beside the ledger", async () => {
    const { page } = session;
    await page.getByTestId("usage-totals").waitFor();
    // No price book: time pricing at the planner's power for this machine and the default electricity price.
    const costHere = (await page.getByTestId("cost-here").textContent()) ?? "";
    expect(costHere).toMatch(/^\$0\.0\d*[1-9]/);
    expect(costHere).toContain("estimate");
    // The same figure as the CLI writes for the API's total (three significant digits below $1), and how it was made.
    const report = await createAdminClient({ baseUrl: session.url, adminKey: testAdminKey }).usage({ groupBy: "model", from: "7d" });
    expect(costHere).toBe(`${formatNanoUsd(report.total.cost_nano_usd!)} estimate`);
    expect(await page.getByTestId("cost-basis").textContent()).toMatch(/^engine time \(\d.* m?s\) × \$0\.\d+\/hour$/);
    expect(await page.getByTestId("usage-totals").textContent()).not.toContain("Saved");
    const assumptions = page.getByTestId("pricing-assumptions");
    expect(await assumptions.getByTestId("pricing-kind").textContent()).toBe("(estimate)");
    expect(await assumptions.getByTestId("pricing-power").isVisible()).toBe(false);
    await assumptions.locator("summary").click();
    expect(await assumptions.getByTestId("pricing-power").textContent()).toMatch(
      /^Power: \d+ W \(host not in the catalog: \d+ W estimated from/,
    );
    expect(await assumptions.getByTestId("pricing-electricity").textContent()).toContain(
      "$0.165/kWh (default: U.S. average residential price 2024 (EIA)",
    );
    const row = page.getByTestId("usage-by-model").locator('[data-testid="usage-row"][data-group="stories260K"]');
    expect(await row.getByTestId("row-cost").textContent()).toMatch(/^\$0\.0\d*[1-9].*estimate$/);
    expect(await row.getByTestId("row-measured").textContent()).toMatch(/^\$\d/);
    expect(await row.getByTestId("row-planned").textContent()).toMatch(/^\$\d.*busy: \$\d/);
    await saveScreenshot(page, "usage-cost-assumptions");
    expect(session.pageErrors).toEqual([]);
  });

  it("downloads the CSV with three rows", async () => {
    const { page } = session;
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-csv").click()]);
    expect(download.suggestedFilename()).toMatch(/^moestro-usage-7d-\d{4}-\d{2}-\d{2}\.csv$/);
    const lines = readFileSync((await download.path())!, "utf8")
      .trimEnd()
      .split("\r\n");
    expect(lines[0]!.split(",").slice(0, 4)).toEqual(["request_id", "started_at", "key_id", "model"]);
    const rows = lines.slice(1);
    expect(rows).toHaveLength(3);
    expect(rows.map((row) => row.split(",")[0]).sort()).toEqual([...requestIds].sort());
    expect(rows.every((row) => row.split(",")[3] === "stories260K")).toBe(true);
    // The ledger recorded which engine served each request (a column after those of the first version, before the
    // gateway's upstream and attempts).
    const engineColumn = lines[0]!.split(",").indexOf("engine");
    expect(engineColumn).toBeGreaterThan(3);
    expect(rows.map((row) => row.split(",")[engineColumn])).toEqual(["inproc", "inproc", "inproc"]);
    expect(session.foreignRequests).toEqual([]);
    expect(session.pageErrors).toEqual([]);
  });

  it("draws the completion line above the prompt line, and no marker per request once they are too many to stand apart", async () => {
    const { page } = session;
    const chart = page.getByTestId("tokens-chart");
    const lineOrder = (): Promise<Array<string | null>> =>
      chart.locator("path[data-series]").evaluateAll((paths) => paths.map((path) => path.getAttribute("data-series")));
    // Drawn later is drawn above.
    expect(await lineOrder()).toEqual(["prompt tokens", "completion tokens"]);
    expect(await chart.getByTestId("usage-point").count()).toBe(3);
    // 60 more requests: more than one per 16 px of the chart's width.
    for (let index = 0; index < 60; index++) {
      const response = await postJson(
        `${session.url}/v1/chat/completions`,
        { model: "stories260K", messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 2 },
        { headers: { "content-type": "application/json", authorization: `Bearer ${testAdminKey}` } },
      );
      expect(response.status).toBe(200);
      await response.text();
    }
    await page.getByRole("button", { name: "Refresh" }).click();
    await expect.poll(() => page.getByTestId("total-requests").textContent()).toBe("63");
    expect(await chart.getByTestId("usage-point").count()).toBe(0);
    expect(await page.getByTestId("cost-chart").locator("circle").count()).toBe(0);
    expect(await lineOrder()).toEqual(["prompt tokens", "completion tokens"]);
    await saveScreenshot(page, "usage-many");
    expect(session.foreignRequests).toEqual([]);
    expect(session.pageErrors).toEqual([]);
  });
});

describe.skipIf(consoleSkipReason !== undefined)("console: Usage with a price book (one model by tokens, one by engine time)", () => {
  let session: ConsoleSession;
  const prices = mkdtempSync(path.join(os.tmpdir(), "moestro-console-prices-"));

  beforeAll(async () => {
    // stories260K at $1 per 1M tokens in and out (by the price book); stories260K-moe by engine time (no entry).
    const priceBook: PriceBookInput = {
      version: 1,
      prices: [flatLocalPrice("stories260K", { inputMicroUsdPerMillionTokens: 1_000_000, outputMicroUsdPerMillionTokens: 1_000_000 })],
    };
    const priceBookPath = writePriceBook(prices, priceBook);
    session = await startConsoleSession({
      path: "/usage",
      models: ["stories260K.gguf", "stories260K-moe.gguf"],
      adminKey: testAdminKey,
      metering: { priceBookPath },
      beforeOpen: async (server) => {
        for (const model of ["stories260K", "stories260K-moe"]) {
          const response = await postJson(
            `${server.url}/v1/chat/completions`,
            { model, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 8 },
            { headers: { "content-type": "application/json", authorization: `Bearer ${testAdminKey}` } },
          );
          expect(response.status).toBe(200);
          await response.text();
        }
      },
    });
  });
  afterAll(async () => {
    await session?.close();
    rmSync(prices, { recursive: true, force: true });
  });

  it("says how much of the cost here the price book made and how much engine time, in the CLI's figures", async () => {
    const { page } = session;
    await page.getByTestId("usage-totals").waitFor();
    const report = await createAdminClient({ baseUrl: session.url, adminKey: testAdminKey }).usage({ groupBy: "model", from: "7d" });
    const costOf = (model: string): number => report.data.find((row) => row.group === model)!.cost_nano_usd!;
    const basis = (await page.getByTestId("cost-basis").textContent()) ?? "";
    expect(basis).toMatch(/^\$\S+ by the price book \+ \$\S+ by engine time \(\d.* m?s\) × \$0\.\d+\/hour$/);
    expect(
      basis.startsWith(`${formatNanoUsd(costOf("stories260K"))} by the price book + ${formatNanoUsd(costOf("stories260K-moe"))} by`),
    ).toBe(true);
    expect(await page.getByTestId("cost-here").textContent()).toContain(formatNanoUsd(report.total.cost_nano_usd!));
    // $1 per 1M tokens is above the nearest cloud list price: the difference is negative, with the sign first.
    const saving = (await page.getByTestId("saving").textContent()) ?? "";
    expect(saving).toBe(formatNanoUsd(report.total.difference_nano_usd!));
    expect(saving.startsWith("-$")).toBe(true);
    await saveScreenshot(page, "usage-mixed-pricing");
    expect(session.pageErrors).toEqual([]);
  });
});
