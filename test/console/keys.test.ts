import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postJson } from "../helpers/server.js";
import { consoleSkipReason, saveScreenshot, startConsoleSession, testAdminKey, type ConsoleSession } from "./console-harness.js";

describe.skipIf(consoleSkipReason !== undefined)("console: login and Keys (real server, key checks on, headless Chromium)", () => {
  let session: ConsoleSession;
  let secret = "";

  beforeAll(async () => {
    session = await startConsoleSession({ path: "/keys", adminKey: testAdminKey, shouldLogIn: false });
  });
  afterAll(async () => await session?.close());

  const chat = (key: string): Promise<Response> =>
    postJson(
      `${session.url}/v1/chat/completions`,
      { model: "stories260K", messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 8 },
      { headers: { "content-type": "application/json", authorization: `Bearer ${key}` } },
    );

  it("opens on the login page without a refused request (the browser would log its 401 as an error)", async () => {
    const fresh = await session.context.newPage();
    const errors: string[] = [];
    const refused: string[] = [];
    fresh.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    fresh.on("response", (response) => {
      if (response.status() === 401) refused.push(response.url());
    });
    await fresh.goto(`${session.url}/keys`);
    await fresh.getByLabel("Admin key").waitFor();
    expect(refused).toEqual([]);
    expect(errors).toEqual([]);
    await fresh.close();
  });

  it("asks for the admin key, refuses a wrong one, and opens with the right one", async () => {
    const { page } = session;
    await page.getByLabel("Admin key").waitFor();
    await saveScreenshot(page, "login");
    await page.getByLabel("Admin key").fill("not-the-admin-key-0000");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByTestId("login-error").waitFor();
    expect(await page.getByTestId("login-error").textContent()).toContain("The server refused this key");
    await page.getByLabel("Admin key").fill(testAdminKey);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByTestId("create-key").waitFor();
  });

  it("creates a key and shows its secret once; the test then uses it through the API", async () => {
    const { page } = session;
    await page.getByTestId("key-name").fill("ci-app");
    await page.getByTestId("key-rpm").fill("60");
    await page.getByTestId("key-tpm").fill("100000");
    await page.getByTestId("key-budget").fill("5");
    await page.getByTestId("create-key-button").click();
    secret = (await page.getByTestId("new-key-secret").textContent()) ?? "";
    expect(secret).toMatch(/^mst-[A-Za-z0-9_-]{43}$/);
    const row = page.locator('[data-testid="key-row"][data-key-name="ci-app"]');
    await row.waitFor();
    expect(await row.getAttribute("data-state")).toBe("active");
    expect(await row.textContent()).toContain(secret.slice(0, 12));
    expect(await row.textContent()).not.toContain(secret);
    await saveScreenshot(page, "keys");

    const response = await chat(secret);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-ratelimit-limit-requests")).toBe("60");
    // The secret is shown once: a reload lists the key by its prefix only.
    await page.reload();
    await row.waitFor();
    expect(await page.getByTestId("new-key").count()).toBe(0);
    expect(await page.content()).not.toContain(secret);
  });

  it("revokes the key; the next call with it is refused", async () => {
    const { page } = session;
    const row = page.locator('[data-testid="key-row"][data-key-name="ci-app"]');
    await row.getByTestId("revoke").click();
    await row.getByTestId("confirm-revoke").click();
    await row.waitFor({ state: "detached" });
    const response = await chat(secret);
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("api_key_revoked");
    await page.getByLabel("Show revoked").check();
    expect(await row.getAttribute("data-state")).toBe("revoked");
    expect(session.foreignRequests).toEqual([]);
    expect(session.pageErrors).toEqual([]);
  });
});
