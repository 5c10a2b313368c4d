import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Token } from "node-llama-cpp";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PrefixCache } from "./prefix-cache.js";
import { SharedPrefills } from "./shared-prefill.js";

/** `count` tokens: `shared` common ones (1, 2, ...), then ones unique to `seed`. */
function prompt(count: number, shared: number, seed: number): Token[] {
  return Array.from({ length: count }, (_, index) => (index < shared ? index + 1 : seed * 100_000 + index) as Token);
}

describe("shared prefills: who waits for whom", () => {
  let root: string;
  let cache: PrefixCache;
  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), "moestro-shared-prefill-test-"));
    cache = await PrefixCache.create({ budgetBytes: 2 ** 20, root, logger: pino({ level: "silent" }), modelId: "m" });
  });
  afterAll(async () => {
    await cache.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  it("registers a prompt evaluation of 64 tokens or more only", () => {
    const prefills = new SharedPrefills(cache);
    expect(prefills.start(prompt(64, 64, 1), 0, false)).toBeUndefined();
    expect(prefills.start(prompt(200, 200, 1), 140, false)).toBeUndefined();
    const lead = prefills.start(prompt(65, 65, 1), 0, false);
    expect(lead).toBeDefined();
    lead!.abandon();
  });

  it("a request waits for a lead that spares it 64 tokens or more, and no more of its own beyond them", () => {
    const prefills = new SharedPrefills(cache);
    const lead = prefills.start(prompt(760, 700, 1), 0, false)!;
    expect(prefills.find(prompt(750, 700, 2), 0, false)).toBe(lead);
    // Its slot holds most of the prefix already: what is left (60 tokens) is not worth a wait.
    expect(prefills.find(prompt(750, 700, 2), 640, false)).toBeUndefined();
    // Shares 63 tokens only.
    expect(prefills.find(prompt(750, 63, 2), 0, false)).toBeUndefined();
    // Shares 100 tokens, but the lead evaluates 660 more of its own before its state is saved.
    expect(prefills.find(prompt(750, 100, 2), 0, false)).toBeUndefined();
    lead.abandon();
    expect(prefills.find(prompt(750, 700, 2), 0, false)).toBeUndefined();
  });

  it("an interactive request does not wait for a batch lead (whose prompt step yields to interactive prompts)", () => {
    const prefills = new SharedPrefills(cache);
    const lead = prefills.start(prompt(760, 700, 1), 0, true)!;
    expect(prefills.find(prompt(750, 700, 2), 0, false)).toBeUndefined();
    expect(prefills.find(prompt(750, 700, 2), 0, true)).toBe(lead);
    lead.abandon();
  });

  it("waiters of an abandoned lead get nothing and go on; a cancelled waiter leaves at once", async () => {
    const prefills = new SharedPrefills(cache);
    const lead = prefills.start(prompt(760, 700, 1), 0, false)!;
    const controller = new AbortController();
    const cancelled = lead.wait(controller.signal);
    const waiting = lead.wait();
    expect(lead.waiting).toBe(2);
    controller.abort();
    await expect(cancelled).resolves.toBeUndefined();
    expect(lead.waiting).toBe(1);
    lead.abandon();
    await expect(waiting).resolves.toBeUndefined();
    expect(prefills.stats()).toEqual({ shared: 0, followers: 0, missed: 1 });
    // Ended: a late waiter does not wait.
    await expect(lead.wait()).resolves.toBeUndefined();
  });
});
