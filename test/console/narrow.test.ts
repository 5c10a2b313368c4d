import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminClient } from "../../src/client/admin-client.js";
import { postJson } from "../helpers/server.js";
import { consoleSkipReason, saveScreenshot, startConsoleSession, testAdminKey, type ConsoleSession } from "./console-harness.js";

/** A phone's width, px: the console must fit it without scrolling sideways. */
const narrowWidth = 420;

describe.skipIf(consoleSkipReason !== undefined)(
  "console: every page at 420 px wide (real server, key checks on, headless Chromium)",
  () => {
    let session: ConsoleSession;

    beforeAll(async () => {
      session = await startConsoleSession({
        path: "/playground",
        adminKey: testAdminKey,
        viewport: { width: narrowWidth, height: 800 },
        // A key and a request, so that the Keys and Usage tables have rows.
        beforeOpen: async (server) => {
          await createAdminClient({ baseUrl: server.url, adminKey: testAdminKey }).createKey({
            name: "a-rather-long-key-name-for-a-narrow-page",
          });
          const response = await postJson(
            `${server.url}/v1/chat/completions`,
            { model: "stories260K", messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 8 },
            { headers: { "content-type": "application/json", authorization: `Bearer ${testAdminKey}` } },
          );
          expect(response.status).toBe(200);
          await response.text();
        },
      });
    });
    afterAll(async () => await session?.close());

    /** How far the page reaches past the window's right edge, px (0 when nothing sticks out). */
    const sidewaysOverflow = (page: Page): Promise<number> =>
      page.evaluate<number>("document.documentElement.scrollWidth - document.documentElement.clientWidth");

    it.each([
      ["/playground", "chat-log"],
      ["/models", "available-models"],
      ["/upstreams", "no-upstreams"],
      ["/keys", "create-key"],
      ["/usage", "usage-by-key"],
      ["/benchmarks", "results-empty"],
    ])("%s fits the width: nothing sticks out sideways", async (pathname, testId) => {
      const { page } = session;
      await page.goto(`${session.url}${pathname}`);
      await page.getByTestId(testId).waitFor();
      // Charts and tables measure themselves after the first paint.
      await page.waitForTimeout(200);
      expect(await sidewaysOverflow(page)).toBe(0);
      await saveScreenshot(page, `narrow${pathname.replace("/", "-")}`);
    });

    it("says the Playground's settings are below the chat when they are, and on the right when they are", async () => {
      const { page } = session;
      await page.goto(`${session.url}/playground`);
      const hint = page.getByTestId("chat-hint");
      // biome-ignore lint/performance/useDomNodeTextContent: the text as shown is the point (the stylesheet hides the other wording).
      expect(await hint.innerText()).toBe("Pick a model under Request options below, write a message and press Enter.");
      const chat = await page.getByTestId("chat-log").boundingBox();
      const settings = await page.getByRole("complementary", { name: "Request options" }).boundingBox();
      expect(settings!.y).toBeGreaterThan(chat!.y + chat!.height);
      await page.setViewportSize({ width: 1360, height: 900 });
      // biome-ignore lint/performance/useDomNodeTextContent: as above.
      expect(await hint.innerText()).toBe("Pick a model on the right, write a message and press Enter.");
      const wideChat = await page.getByTestId("chat-log").boundingBox();
      const wideSettings = await page.getByRole("complementary", { name: "Request options" }).boundingBox();
      expect(wideSettings!.x).toBeGreaterThan(wideChat!.x + wideChat!.width);
      expect(session.foreignRequests).toEqual([]);
      expect(session.pageErrors).toEqual([]);
    });
  },
);
