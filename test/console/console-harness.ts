import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type { ConfigInput } from "../../src/config/index.js";
import { hasTestModels, skipReason as modelsSkipReason, testModelPath } from "../helpers/models.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Debian's Chromium (`apt-get install chromium`; `.ci/run` installs it), or `MOESTRO_TEST_CHROMIUM`. */
export const chromiumPath = process.env.MOESTRO_TEST_CHROMIUM ?? "/usr/bin/chromium";

/** Where the console tests save a screenshot of each page. */
export const screenshotDir = path.join(root, "test-results", "console");

/** Why the console tests skip here, or `undefined` when they can run. */
export const consoleSkipReason: string | undefined = !existsSync(chromiumPath)
  ? `console tests skipped: ${chromiumPath} not found (apt-get install chromium, or set MOESTRO_TEST_CHROMIUM)`
  : !existsSync(path.join(root, "web", "dist", "index.html"))
    ? "console tests skipped: web/dist/index.html not found (npm run build:web)"
    : !hasTestModels
      ? modelsSkipReason
      : undefined;

if (consoleSkipReason !== undefined) console.warn(consoleSkipReason);

/** An admin key for console tests (at least 16 characters). */
export const testAdminKey = "console-admin-key-0123456789abcdef";

/**
 * Starts headless Chromium as this machine allows: no sandbox (tests run as root), no GPU, and no background
 * networking (the machine's network is closed; Chromium would otherwise try to reach Google at start). Playwright
 * gives it a fresh empty profile.
 */
export async function launchBrowser(): Promise<Browser> {
  return await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A console page in a fresh browser context, with every request that leaves the server recorded (and refused). */
export interface ConsolePage {
  page: Page;
  context: BrowserContext;
  /** URLs the page tried to load from anywhere but the server: the console must work offline. */
  foreignRequests: string[];
  /** Errors the page threw or logged. */
  pageErrors: string[];
}

/**
 * Opens `pathname` of the console at `serverUrl` in a new context (1360×900 unless `viewport` says), and logs in with
 * `adminKey` when the server asks for it.
 */
export async function openConsole(
  browser: Browser,
  serverUrl: string,
  pathname: string,
  options: { adminKey?: string; viewport?: { width: number; height: number } } = {},
): Promise<ConsolePage> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1360, height: 900 }, acceptDownloads: true });
  context.setDefaultTimeout(15_000);
  const foreignRequests: string[] = [];
  const pageErrors: string[] = [];
  await context.route("**/*", async (route) => {
    const url = route.request().url();
    if (url.startsWith(serverUrl) || url.startsWith("blob:") || url.startsWith("data:")) return await route.continue();
    foreignRequests.push(url);
    await route.abort();
  });
  const page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error" && !/Failed to load resource: the server responded with a status of 40[13]/.test(message.text()))
      pageErrors.push(message.text());
  });
  await page.goto(`${serverUrl}${pathname}`);
  if (options.adminKey !== undefined) {
    await page.getByLabel("Admin key").fill(options.adminKey);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.locator("nav.sidebar").waitFor();
  }
  return { page, context, foreignRequests, pageErrors };
}

/** Saves a full-page screenshot as `test-results/console/NAME.png` and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Options of {@link startConsoleSession}. */
export interface ConsoleSessionOptions {
  /** The console page to open (`/models`). */
  path: string;
  /** File names of the tiny test models the server serves (`test/helpers/models.ts`). Defaults to `["stories260K.gguf"]`. */
  models?: string[];
  /** Engine settings over the defaults: 256 context tokens, 2 sequences, batches of 64 (one thread, as every test). */
  engine?: ConfigInput["engine"];
  /** Turns key checks on with this admin key, which the console logs in with. Defaults to key checks off. */
  adminKey?: string;
  /** Log in with `adminKey` when the console opens. Defaults to true; false leaves the login page to the test. */
  shouldLogIn?: boolean;
  /** The hub the server pulls from (a fake hub's URL). Defaults to the server's default. */
  hubEndpoint?: string;
  /** The browser's viewport, px. Defaults to 1360×900. */
  viewport?: { width: number; height: number };
  /** Upstreams the server is a gateway for (config `upstreams`, docs/gateway.md). Defaults to none. */
  upstreams?: ConfigInput["upstreams"];
  /** The gateway's rules (config `gateway`) over the defaults. */
  gateway?: ConfigInput["gateway"];
  /** Metering settings (config `metering`: the price book's path). Defaults to none. */
  metering?: ConfigInput["metering"];
  /** Runs once the server is up, before the console opens (requests that give the pages rows). Defaults to none. */
  beforeOpen?: (server: TestServer) => Promise<void>;
}

/** A console page open on a real server of its own, in a headless Chromium of its own. */
export interface ConsoleSession extends ConsolePage {
  /** The server's base URL. */
  url: string;
  /** The server's `MOESTRO_HOME`, a temporary folder removed on close. */
  home: string;
  server: TestServer;
  browser: Browser;
  /** Closes the browser and the server and removes `home`; safe on a session that failed to start half-way. */
  close(): Promise<void>;
}

/**
 * Starts what each console test file needs: a temporary home, a real server with the tiny test models on a free port,
 * headless Chromium ({@link launchBrowser}), and the console at `options.path` ({@link openConsole}), logged in when
 * the server checks keys. On a failure half-way, what was started is closed before the error is rethrown.
 *
 * @example
 * let session: ConsoleSession;
 * beforeAll(async () => { session = await startConsoleSession({path: "/usage", adminKey: testAdminKey}); });
 * afterAll(async () => await session?.close());
 */
export async function startConsoleSession(options: ConsoleSessionOptions): Promise<ConsoleSession> {
  const home = mkdtempSync(path.join(os.tmpdir(), "moestro-console-"));
  let server: TestServer | undefined;
  let browser: Browser | undefined;
  const close = async (): Promise<void> => {
    try {
      await browser?.close();
      await server?.close();
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  };
  try {
    server = await startTestServer({
      models: (options.models ?? ["stories260K.gguf"]).map((name) => ({ path: testModelPath(name) })),
      engine: { contextTokens: 256, parallel: 2, batchSize: 64, ...options.engine },
      home,
      ...(options.adminKey === undefined ? {} : { adminKey: options.adminKey }),
      ...(options.hubEndpoint === undefined ? {} : { hub: { endpoint: options.hubEndpoint } }),
      ...(options.upstreams === undefined ? {} : { upstreams: options.upstreams }),
      ...(options.gateway === undefined ? {} : { gateway: options.gateway }),
      ...(options.metering === undefined ? {} : { metering: options.metering }),
    });
    await options.beforeOpen?.(server);
    browser = await launchBrowser();
    const view = await openConsole(browser, server.url, options.path, {
      adminKey: options.shouldLogIn === false ? undefined : options.adminKey,
      viewport: options.viewport,
    });
    return { ...view, url: server.url, home, server, browser, close };
  } catch (error) {
    await close();
    throw error;
  }
}
