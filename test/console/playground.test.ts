import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleSkipReason, saveScreenshot, startConsoleSession, type ConsoleSession } from "./console-harness.js";

interface LedgerRow {
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
}

describe.skipIf(consoleSkipReason !== undefined)("console: Playground (real server, key checks off, headless Chromium)", () => {
  let session: ConsoleSession;

  beforeAll(async () => {
    session = await startConsoleSession({
      path: "/playground",
      models: ["stories260K.gguf", "tiny-qwen3moe.gguf"],
      engine: { contextTokens: 512 },
    });
  });
  afterAll(async () => await session?.close());

  const ledger = async (): Promise<LedgerRow[]> =>
    ((await (await fetch(`${session.url}/v1/moestro/usage/events`)).json()) as { data: LedgerRow[] }).data;

  it("sends a message, shows the answer arriving in pieces, then its token counts", async () => {
    const { page } = session;
    await expect.poll(() => page.getByTestId("model-select").inputValue()).toBe("stories260K");
    await page.getByLabel("Max tokens").fill("160");
    await page.getByLabel("Temperature").fill("0");
    // Record the answer's length at every change of the page: an answer that arrives in pieces grows step by step.
    // (A script as text: the tests are type-checked without the DOM's types.)
    await page.evaluate(`(() => {
      const lengths = (window.answerLengths = []);
      new MutationObserver(() => {
        const answer = [...document.querySelectorAll('[data-testid="assistant-text"]')].at(-1);
        if (answer) lengths.push(answer.textContent.length);
      }).observe(document.querySelector('[data-testid="chat-log"]'), { subtree: true, childList: true, characterData: true });
    })()`);
    await page.getByTestId("composer").fill("Once upon a time");
    await page.getByTestId("send").click();
    const answer = page.locator('[data-testid="assistant-message"][data-streaming="false"]');
    await answer.waitFor({ timeout: 30_000 });

    const lengths = await page.evaluate<number[]>("window.answerLengths");
    const finalText = (await answer.getByTestId("assistant-text").textContent()) ?? "";
    expect(finalText.length).toBeGreaterThan(40);
    const partial = new Set(lengths.filter((length) => length > 0 && length < finalText.length));
    expect(partial.size, `the answer grew through ${partial.size} partial lengths`).toBeGreaterThanOrEqual(3);

    const [row] = await ledger();
    expect(row!.model).toBe("stories260K");
    expect(await answer.getByTestId("prompt-tokens").textContent()).toBe(`${row!.prompt_tokens} prompt`);
    expect(await answer.getByTestId("completion-tokens").textContent()).toBe(`${row!.completion_tokens} completion`);
    await saveScreenshot(page, "playground");
  });

  it("shows the request as curl and as openai client code", async () => {
    const { page } = session;
    await page.getByTestId("composer").fill("The dragon");
    const curl = (await page.getByTestId("request-code-curl").textContent()) ?? "";
    expect(curl).toContain(`curl ${session.url}/v1/chat/completions`);
    expect(curl).toContain('"model": "stories260K"');
    expect(curl).toContain('"content": "The dragon"');
    await page.getByRole("tab", { name: "openai (JavaScript)" }).click();
    const javascript = (await page.getByTestId("request-code-javascript").textContent()) ?? "";
    expect(javascript).toContain(`new OpenAI({ baseURL: "${session.url}/v1"`);
    expect(javascript).toContain("client.chat.completions.create(");
    await page.getByRole("tab", { name: "openai (Python)" }).click();
    expect(await page.getByTestId("request-code-python").textContent()).toContain("client.chat.completions.create(");
    await page.getByTestId("composer").fill("");
  });

  it("offers no thinking options for a model that cannot think, and sends none to it", async () => {
    const { page } = session;
    const thinking = page.getByRole("radiogroup", { name: "Thinking" });
    await page.getByRole("tab", { name: "curl" }).click();
    // With text in the composer, the code shows the next request (not the last one sent).
    await page.getByTestId("composer").fill("Why is the sky blue?");
    expect(await page.getByTestId("model-select").inputValue()).toBe("stories260K");
    expect(await page.getByTestId("thinking-unavailable").textContent()).toContain("stories260K cannot think");
    expect(await thinking.count()).toBe(0);
    await page.getByTestId("model-select").selectOption("tiny-qwen3moe");
    await thinking.getByText("On", { exact: true }).click();
    expect(await page.getByTestId("thinking-unavailable").count()).toBe(0);
    expect(await page.getByTestId("request-code-curl").textContent()).toContain('"enable_thinking": true');
    await page.getByTestId("model-select").selectOption("stories260K");
    expect(await thinking.count()).toBe(0);
    expect(await page.getByTestId("request-code-curl").textContent()).not.toContain("enable_thinking");
    await page.getByTestId("model-select").selectOption("tiny-qwen3moe");
    await thinking.getByText("Default", { exact: true }).click();
    await page.getByTestId("composer").fill("");
  });

  it("shows a thought folded, with its token count, when thinking is on", async () => {
    const { page } = session;
    await page.getByRole("button", { name: "New chat" }).click();
    await page.getByTestId("model-select").selectOption("tiny-qwen3moe");
    await page.getByLabel("Max tokens").fill("24");
    await page.getByRole("radiogroup", { name: "Thinking" }).getByText("On", { exact: true }).click();
    expect(await page.getByRole("radio", { name: "On" }).isChecked()).toBe(true);
    await page.getByLabel("Thinking budget (tokens)").fill("8");
    await page.getByTestId("composer").fill("Why is the sky blue?");
    await page.getByTestId("send").click();
    const answer = page.locator('[data-testid="assistant-message"][data-streaming="false"]');
    await answer.waitFor({ timeout: 30_000 });
    const rows = await ledger();
    const row = rows.at(-1)!;
    expect(row.model).toBe("tiny-qwen3moe");
    expect(row.reasoning_tokens).toBeGreaterThan(0);
    const thinking = answer.getByTestId("thinking");
    expect(await thinking.getAttribute("open")).toBeNull();
    expect(await thinking.getByTestId("thinking-tokens").textContent()).toBe(`${row.reasoning_tokens} tokens`);
    await thinking.locator("summary").click();
    await saveScreenshot(page, "playground-thinking");
  });

  it("sends tool definitions, shows the model's tool call, and sends a result back", async () => {
    const { page } = session;
    await page.getByRole("button", { name: "New chat" }).click();
    await page.getByRole("radiogroup", { name: "Thinking" }).getByText("Off", { exact: true }).click();
    await page.getByLabel("Max tokens").fill("64");
    // Random weights at temperature 0 may write one argument string to the end of max_tokens; sampled, they close it.
    await page.getByLabel("Temperature").fill("1");
    await page.getByLabel("Seed").fill("7");
    await page.getByTestId("tools-toggle").check();
    // An enum keeps the random model's argument short (a free string may run to max_tokens).
    const tools = [
      {
        type: "function",
        function: {
          name: "get_weather",
          parameters: { type: "object", properties: { city: { type: "string", enum: ["Paris", "Tokyo"] } }, required: ["city"] },
        },
      },
    ];
    await page.getByLabel("Tool definitions (JSON)").fill(JSON.stringify(tools, null, 2));
    await page.getByLabel("Tool choice").selectOption("required");
    await page.getByTestId("composer").fill("What is the weather in Paris?");
    await page.getByRole("tab", { name: "curl" }).click();
    expect(await page.getByTestId("request-code-curl").textContent()).toContain('"tool_choice": "required"');
    await page.getByTestId("send").click();
    const finished = page.locator('[data-testid="assistant-message"][data-streaming="false"]');
    await finished.waitFor({ timeout: 30_000 });
    const call = finished.getByTestId("tool-call");
    expect(await call.count(), (await finished.textContent()) ?? "").toBe(1);
    expect(await call.locator("code").textContent()).toBe("get_weather");
    const argumentsText = (await call.locator("pre").textContent()) ?? "";
    expect(JSON.parse(argumentsText)).toHaveProperty("city");
    await page.getByLabel(/Result of get_weather/).fill('{"temperature_c": 21}');
    await page.getByRole("button", { name: "Send results" }).click();
    await expect.poll(() => page.locator('[data-testid="assistant-message"][data-streaming="false"]').count(), { timeout: 30_000 }).toBe(2);
    const rows = await ledger();
    expect(rows.at(-1)!.model).toBe("tiny-qwen3moe");
    await saveScreenshot(page, "playground-tools");
    expect(session.foreignRequests).toEqual([]);
    expect(session.pageErrors).toEqual([]);
  });
});
