import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ContextCachePins, explicitCacheTtlMs, maxCacheBreakpoints, minPinnedTokens } from "./context-cache.js";
import { PrefixCache } from "./inproc/prefix-cache.js";

/** A fake clock that tests move by hand: no sleeps. */
function fakeClock(startMs = Date.UTC(2026, 11, 7, 12)) {
  let nowMs = startMs;
  return { now: () => nowMs, advance: (ms: number) => void (nowMs += ms) };
}

const tokens = (length: number, seed = 1): Token[] => Array.from({ length }, (_, index) => (seed * 1000 + index) as Token);

describe("explicit-cache pins (cache_control), on a fake clock", () => {
  it("follows Model Studio's terms: 5 minutes, at most 4 markers, and a local minimum of 32 tokens", () => {
    expect(explicitCacheTtlMs).toBe(300_000);
    expect(maxCacheBreakpoints).toBe(4);
    expect(minPinnedTokens).toBe(32);
  });

  it("creates a pin on a miss, reads it on a hit, renews its TTL on each hit, and forgets it 5 minutes after the last", () => {
    const clock = fakeClock();
    const pins = new ContextCachePins({ now: clock.now });
    const prompt = tokens(100);
    expect(pins.use(prompt, [60])).toEqual({ readTokens: 0, creationTokens: 60 });
    expect(pins.expiresAt(prompt.slice(0, 60))).toBe(clock.now() + explicitCacheTtlMs);

    clock.advance(explicitCacheTtlMs - 1);
    expect(pins.use(prompt, [60])).toEqual({ readTokens: 60, creationTokens: 0 });
    // Renewed: a full TTL from this hit.
    expect(pins.expiresAt(prompt.slice(0, 60))).toBe(clock.now() + explicitCacheTtlMs);
    clock.advance(explicitCacheTtlMs - 1);
    expect(pins.use(prompt, [60])).toEqual({ readTokens: 60, creationTokens: 0 });

    clock.advance(explicitCacheTtlMs);
    expect(pins.size).toBe(0);
    expect(pins.pinnedLength(prompt)).toBe(0);
    expect(pins.use(prompt, [60])).toEqual({ readTokens: 0, creationTokens: 60 });
  });

  it("reads the longest live marked prefix and creates the longer ones from there, as Anthropic counts them", () => {
    const clock = fakeClock();
    const pins = new ContextCachePins({ now: clock.now });
    const first = tokens(200);
    expect(pins.use(first, [50])).toEqual({ readTokens: 0, creationTokens: 50 });
    // Same 50-token system prompt, a longer marked conversation: 50 read, 150 - 50 created.
    expect(pins.use(first, [50, 150])).toEqual({ readTokens: 50, creationTokens: 100 });
    expect(pins.use(first, [150, 50])).toEqual({ readTokens: 150, creationTokens: 0 });
    // A prompt that differs inside the pinned prefix reads nothing.
    const other = [...first];
    other[10] = -1 as Token;
    expect(pins.use(other, [50])).toEqual({ readTokens: 0, creationTokens: 50 });
  });

  it("ignores markers on prefixes under the minimum or past the prompt", () => {
    const pins = new ContextCachePins({ now: fakeClock().now });
    expect(pins.use(tokens(100), [minPinnedTokens - 1, 101])).toEqual({ readTokens: 0, creationTokens: 0 });
    expect(pins.size).toBe(0);
  });

  it("tells the longest live pinned prefix a token list starts with", () => {
    const clock = fakeClock();
    const pins = new ContextCachePins({ now: clock.now });
    pins.use(tokens(100), [40, 80]);
    expect(pins.pinnedLength(tokens(120))).toBe(80);
    expect(pins.pinnedLength(tokens(60))).toBe(40);
    expect(pins.pinnedLength(tokens(100, 2))).toBe(0);
    clock.advance(explicitCacheTtlMs);
    expect(pins.pinnedLength(tokens(120))).toBe(0);
  });
});

/** A sequence that "saves" a state file of `bytes` bytes for `tokens`. */
function fakeSequence(held: Token[], bytes: number): LlamaContextSequence {
  return {
    contextTokens: held,
    saveStateToFile: async (file: string) => {
      writeFileSync(file, Buffer.alloc(bytes));
      return { fileSize: bytes };
    },
  } as unknown as LlamaContextSequence;
}

describe("the prefix cache keeps pinned states beyond LRU eviction", () => {
  let root: string | undefined;
  afterEach(() => {
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  async function cacheOf(budgetBytes: number, pins: ContextCachePins): Promise<PrefixCache> {
    root = mkdtempSync(path.join(os.tmpdir(), "moestro-pin-test-"));
    return await PrefixCache.create({ budgetBytes, root, logger: pino({ level: "silent" }), modelId: "m", pins });
  }

  it("evicts other conversations' states under pressure, and the pinned one only after its pin expired", async () => {
    const clock = fakeClock();
    const pins = new ContextCachePins({ now: clock.now });
    const cache = await cacheOf(3_000, pins);
    const pinned = tokens(100, 1);
    pins.use(pinned, [64]);
    await cache.save(fakeSequence(pinned, 1_000));
    // Eight other conversations pass through, each state 1,000 bytes: the budget holds three.
    for (let seed = 2; seed < 10; seed++) await cache.save(fakeSequence(tokens(100, seed), 1_000));
    expect(cache.longestPrefix(pinned)?.length).toBe(100);
    expect(cache.stats()).toMatchObject({ entries: 3, evictions: 6, pinnedEvictions: 0 });

    clock.advance(explicitCacheTtlMs);
    await cache.save(fakeSequence(tokens(100, 10), 1_000));
    expect(cache.longestPrefix(pinned)).toBeUndefined();
    await cache.dispose();
  });

  it("evicts the least recently used pinned state, counted apart, when pinned states alone pass the budget", async () => {
    const pins = new ContextCachePins({ now: fakeClock().now });
    const cache = await cacheOf(2_500, pins);
    for (let seed = 1; seed <= 3; seed++) {
      pins.use(tokens(100, seed), [64]);
      await cache.save(fakeSequence(tokens(100, seed), 1_000));
    }
    expect(cache.stats()).toMatchObject({ entries: 2, pinnedEvictions: 1 });
    expect(cache.longestPrefix(tokens(100, 1))).toBeUndefined();
    expect(cache.longestPrefix(tokens(100, 3))?.length).toBe(100);
    await cache.dispose();
  });

  it("tells a slot to save its state when it would lose part of a pinned prefix, however few tokens it loses", async () => {
    const pins = new ContextCachePins({ now: fakeClock().now });
    const cache = await cacheOf(10_000, pins);
    pins.use(tokens(100), [64]);
    expect(cache.losesPinnedPrefix(tokens(70), 60)).toBe(true);
    expect(cache.losesPinnedPrefix(tokens(70), 64)).toBe(false);
    expect(cache.losesPinnedPrefix(tokens(70, 2), 0)).toBe(false);
    await cache.dispose();
  });
});

describe("a worker slot holding a live pin is taken last (llama-server has no pin of its own)", () => {
  it("scores a slot by its shared tokens, less a penalty past any prompt when it would lose a pinned prefix", async () => {
    const { pinAwareSlotScore } = await import("./llama-server/llama-server-backend.js");
    expect(pinAwareSlotScore(10, 0)).toBe(10);
    // The prompt shares the whole pin: no penalty.
    expect(pinAwareSlotScore(80, 64)).toBe(80);
    // An empty slot (0) beats a slot whose pin the prompt does not share, whatever it shares besides.
    expect(pinAwareSlotScore(20, 64)).toBeLessThan(pinAwareSlotScore(0, 0));
  });
});
