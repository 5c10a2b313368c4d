import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PriceBookInput } from "../../src/metering/price-book.js";
import type { WireUsageEvent } from "../../src/wire/console.js";
import { testEngines } from "../helpers/engines.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { flatLocalPrice, writePriceBook } from "../helpers/price-book.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// $10 per 1M prompt tokens (10 micro-USD a token), output free: a request's cost shows how its prompt was billed.
const priceBook: PriceBookInput = {
  version: 1,
  includeDefaults: false,
  prices: [flatLocalPrice("tiny-qwen3moe", { inputMicroUsdPerMillionTokens: 10_000_000, outputMicroUsdPerMillionTokens: 0 })],
};

/** A system prompt of a few hundred tiny-qwen3moe tokens, the part a client pins. */
const manual = "Rule: answer in one short sentence, and name the tool you would use. ".repeat(20);

type OpenAiUsage = OpenAI.CompletionUsage & {
  prompt_tokens_details: { cached_tokens: number; cache_creation_input_tokens?: number; cache_type?: string };
};

describe.skipIf(!hasTestModels).each(testEngines)(
  "explicit context cache through the API, with the official clients (%s engine)",
  (engine) => {
    let test: TestServer;
    let home: string;
    let anthropic: Anthropic;

    beforeAll(async () => {
      home = mkdtempSync(path.join(os.tmpdir(), "moestro-context-cache-"));
      const priceBookPath = writePriceBook(home, priceBook);
      test = await startTestServer(
        {
          models: [{ path: testModelPath("tiny-qwen3moe.gguf") }],
          engine: { parallel: 1, contextTokens: 1024, batchSize: 64, cacheRamBytes: 8 * 2 ** 20 },
          home,
          metering: { priceBookPath },
        },
        { engine },
      );
      anthropic = new Anthropic({ baseURL: test.url, apiKey: "unused", maxRetries: 0 });
    });
    afterAll(async () => {
      await test?.close();
      if (home !== undefined) rmSync(home, { recursive: true, force: true });
    });

    const events = async (): Promise<WireUsageEvent[]> =>
      ((await (await fetch(`${test.url}/v1/moestro/usage/events`)).json()) as { data: WireUsageEvent[] }).data;

    const ask = async (question: string, stream = false) => {
      const body = {
        model: "tiny-qwen3moe",
        max_tokens: 4,
        temperature: 0,
        system: [{ type: "text" as const, text: manual, cache_control: { type: "ephemeral" as const } }],
        messages: [{ role: "user" as const, content: question }],
      };
      return stream ? await anthropic.messages.stream(body).finalMessage() : await anthropic.messages.create(body);
    };

    it("Anthropic messages: a marked system prompt is created once, then read (streamed too), and the ledger bills each at its rate", async () => {
      const created = await ask("Which tool opens a file?");
      expect(created.usage.cache_creation_input_tokens).toBeGreaterThan(100);
      expect(created.usage.cache_read_input_tokens).toBe(0);

      // Another conversation takes the only slot in between.
      await anthropic.messages.create({
        model: "tiny-qwen3moe",
        max_tokens: 4,
        messages: [{ role: "user", content: "Hello there, how are you?" }],
      });

      const read = await ask("Which tool lists a folder?");
      expect(read.usage.cache_read_input_tokens).toBe(created.usage.cache_creation_input_tokens);
      expect(read.usage.cache_creation_input_tokens).toBe(0);
      const streamed = await ask("Which tool deletes a file?", true);
      expect(streamed.usage.cache_read_input_tokens).toBe(created.usage.cache_creation_input_tokens);
      expect(streamed.usage.cache_creation_input_tokens).toBe(0);

      await expect.poll(async () => (await events()).length).toBe(4);
      const [first, , second] = await events();
      const pinned = created.usage.cache_creation_input_tokens!;
      expect(first).toMatchObject({ endpoint: "messages", cache_creation_input_tokens: pinned, cache_read_input_tokens: 0 });
      expect(second).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: pinned });
      // 10 micro-USD a prompt token: created at 125%, read at 10%, the rest at 100%; rounded half up once.
      expect(first!.cost_micro_usd).toBe(Math.round((first!.prompt_tokens - pinned) * 10 + pinned * 12.5));
      expect(second!.cost_micro_usd).toBe(Math.round((second!.prompt_tokens - pinned) * 10 + pinned * 1));
      // The engine really served the pinned prefix from its cache (the worker: its slot, taken last for other prompts).
      expect(second!.cached_prompt_tokens).toBeGreaterThanOrEqual(pinned);
    });

    it("OpenAI chat completions: cache_control on a content part, reported in prompt_tokens_details as Model Studio does", async () => {
      const messages = (question: string) =>
        [
          { role: "system", content: [{ type: "text", text: `${manual} Be kind.`, cache_control: { type: "ephemeral" } }] },
          { role: "user", content: question },
        ] as unknown as OpenAI.ChatCompletionMessageParam[];
      const first = await test.client.chat.completions.create({ model: "tiny-qwen3moe", max_tokens: 4, messages: messages("Which tool?") });
      const created = first.usage as OpenAiUsage;
      expect(created.prompt_tokens_details).toMatchObject({ cached_tokens: 0, cache_type: "ephemeral" });
      expect(created.prompt_tokens_details.cache_creation_input_tokens).toBeGreaterThan(100);
      const second = await test.client.chat.completions.create({ model: "tiny-qwen3moe", max_tokens: 4, messages: messages("Why?") });
      const read = second.usage as OpenAiUsage;
      expect(read.prompt_tokens_details).toMatchObject({
        cached_tokens: created.prompt_tokens_details.cache_creation_input_tokens,
        cache_creation_input_tokens: 0,
        cache_type: "ephemeral",
      });
      // Without a marker, cached_tokens is what the engine reused by itself, and no explicit field appears.
      const plain = await test.client.chat.completions.create({
        model: "tiny-qwen3moe",
        max_tokens: 4,
        messages: [{ role: "user", content: "Hi" }],
      });
      expect((plain.usage as OpenAiUsage).prompt_tokens_details.cache_type).toBeUndefined();
    });

    it("refuses a bad marker with a 400 in each dialect's error shape", async () => {
      const bad = { type: "forever" };
      const anthropicError = await anthropic.messages
        .create({
          model: "tiny-qwen3moe",
          max_tokens: 4,
          messages: [{ role: "user", content: [{ type: "text", text: "Hi", cache_control: bad as never }] }],
        })
        .catch((error: unknown) => error);
      expect(anthropicError).toMatchObject({ status: 400, error: { type: "error", error: { type: "invalid_request_error" } } });
      const openaiError = await test.client.chat.completions
        .create({
          model: "tiny-qwen3moe",
          max_tokens: 4,
          messages: [{ role: "user", content: [{ type: "text", text: "Hi", cache_control: bad }] }] as never,
        })
        .catch((error: unknown) => error);
      expect(openaiError).toMatchObject({ status: 400, param: "messages[0].content[0].cache_control.type" });
    });
  },
);
