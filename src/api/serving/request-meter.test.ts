import type { Context } from "hono";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { MoestroError } from "../../errors/index.js";
import type { Usage, UsageCounts, UsageEvent, UsageSink, UsageStart } from "../../spec/index.js";
import type { AppDeps, AppEnv } from "../app-env.js";
import { boundedAdmission, embeddingAdmission, generationAdmission, RequestMeter, sumUsage } from "./request-meter.js";

const context = (variables: Record<string, unknown>) => ({ get: (name: string) => variables[name] }) as unknown as Context<AppEnv>;
const depsWith = (sinks: UsageSink[]): AppDeps => ({
  models: {} as AppDeps["models"],
  logger: pino({ level: "silent" }),
  usageSinks: sinks,
});

/** A sink that takes starts and logs what it hears. */
function startingSink(log: string[], name: string, options: { refuse?: boolean; counts?: UsageCounts[] } = {}): UsageSink {
  return {
    async start(start: UsageStart) {
      if (options.refuse) throw new MoestroError("insufficient_quota", "no");
      log.push(`${name} start ${start.maxPromptTokens}+${start.maxCompletionTokens} ${start.budget?.keyName ?? "-"}`);
      options.counts?.push(start.readCounts());
      return {
        checkpoint: async () => {
          const { promptTokens, completionTokens } = start.readCounts();
          log.push(`${name} checkpoint ${promptTokens}+${completionTokens}`);
        },
        finish: async (event: UsageEvent) => void log.push(`${name} finish ${event.status} ${event.completionTokens}`),
        cancel: async () => void log.push(`${name} cancel`),
      };
    },
    record: async (event) => void log.push(`${name} record ${event.status}`),
  };
}

describe("the request meter", () => {
  const c = context({ requestId: "r1", keyId: "key_1", budget: { keyName: "team", limitMicroUsd: 5, period: "day" } });

  it("starts the sinks that take starts, with the key's budget, and ends each started one through its run", async () => {
    const log: string[] = [];
    const meter = new RequestMeter(
      depsWith([startingSink(log, "ledger"), { record: async (event) => void log.push(`metrics ${event.status}`) }]),
      c,
      {
        model: "m",
        endpoint: "completions",
        stream: true,
      },
    );
    await meter.start({ promptTokens: 5, maxPromptTokens: 5, maxCompletionTokens: 20 });
    meter.observeUsage({ promptTokens: 5, completionTokens: 3 });
    await meter.finish("ok");
    await meter.finish("error");
    expect(log).toEqual(["ledger start 5+20 team", "ledger finish ok 3", "metrics ok"]);
  });

  it("cancels the runs already started when a later sink refuses, and rethrows its refusal", async () => {
    const log: string[] = [];
    const meter = new RequestMeter(depsWith([startingSink(log, "first"), startingSink(log, "second", { refuse: true })]), c, {
      model: "m",
      endpoint: "completions",
      stream: false,
    });
    await expect(meter.start({ maxPromptTokens: 1, maxCompletionTokens: 1 })).rejects.toMatchObject({ code: "insufficient_quota" });
    await meter.finish("ok");
    expect(log).toEqual(["first start 1+1 team", "first cancel"]);
    expect(meter.finished).toBe(true);
  });

  it("counts the tokens so far: the prompt, finished choices exactly, the choice under way by its parts", async () => {
    const counts: UsageCounts[] = [];
    let read: (() => UsageCounts) | undefined;
    const sink: UsageSink = {
      start: async (start) => {
        read = start.readCounts;
        return { checkpoint: async () => undefined, finish: async () => undefined, cancel: async () => undefined };
      },
      record: async () => undefined,
    };
    const meter = new RequestMeter(depsWith([sink, startingSink([], "log", { counts })]), c, {
      model: "m",
      endpoint: "chat.completions",
      stream: true,
    });
    await meter.start({ promptTokens: 7, maxPromptTokens: 7, maxCompletionTokens: 100 });
    expect(counts).toEqual([{ promptTokens: 7, cachedPromptTokens: 0, completionTokens: 0, reasoningTokens: 0 }]);
    meter.observe({ type: "reasoning-delta", text: "hm" });
    meter.observe({
      type: "text-delta",
      text: "ab",
      logprobs: [
        { token: "a", logprob: 0, topLogprobs: [] },
        { token: "b", logprob: 0, topLogprobs: [] },
      ],
    } as never);
    expect(read!()).toEqual({ promptTokens: 7, cachedPromptTokens: 0, completionTokens: 3, reasoningTokens: 1 });
    meter.observe({
      type: "finish",
      finishReason: "stop",
      usage: { promptTokens: 7, cachedPromptTokens: 2, completionTokens: 4, reasoningTokens: 1 },
    });
    meter.observe({ type: "tool-call", toolCall: { id: "call_1", name: "f", arguments: "{}" } });
    expect(read!()).toEqual({ promptTokens: 7, cachedPromptTokens: 2, completionTokens: 5, reasoningTokens: 1 });
  });

  it("checkpoints the final counts with the started sinks, then reports a delivered response once", async () => {
    const log: string[] = [];
    const counts: UsageCounts[] = [];
    const meter = new RequestMeter(
      depsWith([startingSink(log, "ledger", { counts }), { record: async (event) => void log.push(`metrics ${event.status}`) }]),
      c,
      { model: "m", endpoint: "embeddings", stream: false },
    );
    // An embedding observes no parts, only its usage.
    await meter.start({ maxPromptTokens: 40, maxCompletionTokens: 0 });
    meter.observeUsage({ promptTokens: 12, completionTokens: 0 });
    await meter.checkpoint();
    await meter.finishDelivered("ok");
    await meter.finishDelivered("aborted");
    await meter.checkpoint();
    expect(log).toEqual(["ledger start 40+0 team", "ledger checkpoint 12+0", "ledger finish ok 0", "metrics ok"]);
  });

  it("after the response left, logs a sink that fails instead of throwing, and still tells the others", async () => {
    const logged: Array<{ msg: string; requestId?: string }> = [];
    const logger = pino({ level: "error" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const told: string[] = [];
    const meter = new RequestMeter(
      {
        ...depsWith([
          { record: async () => Promise.reject(new Error("ledger down")) },
          { record: async (event) => void told.push(event.status) },
        ]),
        logger,
      },
      c,
      { model: "m", endpoint: "completions", stream: true },
    );
    meter.observeUsage({ promptTokens: 1, completionTokens: 1 });
    await expect(meter.finishDelivered("ok")).resolves.toBeUndefined();
    expect(told).toEqual(["ok"]);
    expect(logged).toEqual([expect.objectContaining({ requestId: "r1", msg: expect.stringContaining("after the response was sent") })]);
  });

  it("cancels a started request whose input the model refused with a 4xx, and ends it as an error otherwise", async () => {
    const log: string[] = [];
    const refused = new RequestMeter(depsWith([startingSink(log, "ledger")]), c, { model: "m", endpoint: "embeddings", stream: false });
    await refused.start({ maxPromptTokens: 9, maxCompletionTokens: 0 });
    await refused.endWithError(new MoestroError("invalid_request", "bad token id"));
    const failed = new RequestMeter(depsWith([startingSink(log, "ledger")]), c, { model: "m", endpoint: "embeddings", stream: false });
    await failed.start({ maxPromptTokens: 9, maxCompletionTokens: 0 });
    await failed.endWithError(new Error("boom"));
    expect(log).toEqual(["ledger start 9+0 team", "ledger cancel", "ledger start 9+0 team", "ledger finish error 0"]);
  });
});

describe("admissions", () => {
  it("bound a generation by n times max_tokens, or the context's remainder", () => {
    expect(generationAdmission({ promptTokens: 12, contextTokens: 512, maxTokens: 100, n: 2 })).toEqual({
      promptTokens: 12,
      maxPromptTokens: 12,
      maxCompletionTokens: 200,
    });
    expect(generationAdmission({ promptTokens: 12, contextTokens: 512, maxTokens: undefined, n: 1 }).maxCompletionTokens).toBe(500);
    expect(generationAdmission({ promptTokens: 12, contextTokens: 512, maxTokens: 10_000, n: 1 }).maxCompletionTokens).toBe(500);
  });

  it("bound a request to an upstream before it is sent: the prompt's bound plus n times max_tokens, or the whole window", () => {
    // No tokenizer here: the bound overstates the prompt, so the completion is not cut to the window's remainder.
    expect(boundedAdmission({ promptTokens: 900, exact: false, contextTokens: 512 }, { maxTokens: 100, n: 2 })).toEqual({
      maxPromptTokens: 900,
      maxCompletionTokens: 200,
    });
    expect(boundedAdmission({ promptTokens: 900, exact: false, contextTokens: 32_768 }, { maxTokens: undefined, n: 3 })).toEqual({
      maxPromptTokens: 900,
      maxCompletionTokens: 3 * 32_768,
    });
    // A local member's exact count: as a local model's admission (the running row shows the prompt from the start).
    expect(boundedAdmission({ promptTokens: 12, exact: true, contextTokens: 512 }, { maxTokens: undefined, n: 1 })).toEqual(
      generationAdmission({ promptTokens: 12, contextTokens: 512, maxTokens: undefined, n: 1 }),
    );
  });

  it("bound an embedding by the bytes of its texts and the length of its token lists", () => {
    expect(embeddingAdmission(["héllo", [1, 2, 3]])).toEqual({ maxPromptTokens: 6 + 4 + 3, maxCompletionTokens: 0 });
  });
});

describe("sumUsage: the usage of n choices of one request", () => {
  it.each<[string, Usage[], Usage]>([
    ["no choice", [], { promptTokens: 0, completionTokens: 0, cachedPromptTokens: undefined, reasoningTokens: 0 }],
    [
      "one choice",
      [{ promptTokens: 10, completionTokens: 5, cachedPromptTokens: 4, reasoningTokens: 2 }],
      { promptTokens: 10, completionTokens: 5, cachedPromptTokens: 4, reasoningTokens: 2 },
    ],
    [
      "three choices: the prompt (and its cached part) once, completions and reasoning summed",
      [
        { promptTokens: 10, completionTokens: 5, cachedPromptTokens: 4, reasoningTokens: 2 },
        { promptTokens: 10, completionTokens: 7, cachedPromptTokens: 10, reasoningTokens: 0 },
        { promptTokens: 10, completionTokens: 1 },
      ],
      { promptTokens: 10, completionTokens: 13, cachedPromptTokens: 4, reasoningTokens: 2 },
    ],
    [
      "two choices with engine time: their engine times add up",
      [
        { promptTokens: 10, completionTokens: 5, engineTimeMs: 12.5 },
        { promptTokens: 10, completionTokens: 7, engineTimeMs: 7.5 },
      ],
      { promptTokens: 10, completionTokens: 12, cachedPromptTokens: undefined, reasoningTokens: 0, engineTimeMs: 20 },
    ],
    [
      "one estimated choice (an upstream without usage) makes the sum an estimate",
      [
        { promptTokens: 10, completionTokens: 5 },
        { promptTokens: 10, completionTokens: 7, estimated: true },
      ],
      { promptTokens: 10, completionTokens: 12, cachedPromptTokens: undefined, reasoningTokens: 0, estimated: true },
    ],
  ])("%s", (_name, usages, expected) => {
    expect(sumUsage(usages)).toEqual(expected);
  });
});
