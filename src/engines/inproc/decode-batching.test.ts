import { describe, expect, it } from "vitest";
import type { BatchItem, Token } from "node-llama-cpp";
import { inSequenceOrder } from "./batch-order.js";
import { DecodeBatching } from "./decode-batching.js";

describe("DecodeBatching: the barrier before each decode", () => {
  it("lets a generation that decodes alone pass at once, and dispatches its decode at once", async () => {
    const batching = new DecodeBatching(1000);
    batching.join();
    const startedAt = performance.now();
    await batching.turn();
    expect(performance.now() - startedAt).toBeLessThan(50);
    let dispatched = false;
    batching.schedule(() => (dispatched = true));
    expect(dispatched).toBe(true);
  });

  it("holds every generation until the last one arrives, then opens for all, and dispatches after the event loop's turn", async () => {
    const batching = new DecodeBatching(10_000);
    for (let index = 0; index < 3; index++) batching.join();
    const passed: number[] = [];
    const first = batching.turn().then(() => passed.push(1));
    const second = batching.turn().then(() => passed.push(2));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(passed).toEqual([]);
    await batching.turn();
    await Promise.all([first, second]);
    expect(passed.sort()).toEqual([1, 2]);
    let dispatched = false;
    batching.schedule(() => (dispatched = true));
    expect(dispatched).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(dispatched).toBe(true);
  });

  it("opens when the generation it waited for leaves (finished or aborted)", async () => {
    const batching = new DecodeBatching(10_000);
    batching.join();
    batching.join();
    let passed = false;
    const waiting = batching.turn().then(() => (passed = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(passed).toBe(false);
    batching.leave();
    await waiting;
    expect(passed).toBe(true);
  });

  it("opens after maxWaitMs for a generation that is slow to ask", async () => {
    const batching = new DecodeBatching(30);
    batching.join();
    batching.join();
    const startedAt = performance.now();
    await batching.turn();
    const waitedMs = performance.now() - startedAt;
    expect(waitedMs).toBeGreaterThanOrEqual(25);
    expect(waitedMs).toBeLessThan(1000);
  });

  it("waits past maxWaitMs for a generation whose decode step is running, and opens when it arrives", async () => {
    const batching = new DecodeBatching(10);
    batching.join();
    batching.join();
    let finishDecode!: () => void;
    const decoding = batching.step(false, () => new Promise<void>((resolve) => (finishDecode = resolve)));
    let passed = false;
    const waiting = batching.turn().then(() => (passed = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(passed).toBe(false);
    finishDecode();
    await decoding;
    await batching.turn();
    await waiting;
    expect(passed).toBe(true);
  });

  it("keeps waiting for the running decodes when the generation that was busy in JavaScript arrives", async () => {
    const batching = new DecodeBatching(20);
    for (let index = 0; index < 4; index++) batching.join();
    // Two generations decode; a third waits while the fourth is busy in JavaScript (the old rule armed its timer here)...
    const finishDecodes: Array<() => void> = [];
    const decodes = [0, 1].map(() => batching.step(false, () => new Promise<void>((resolve) => finishDecodes.push(resolve))));
    let passed = 0;
    const third = batching.turn().then(() => passed++);
    // ...then the fourth arrives too: all the barrier waits for are decoding, so it must wait for their decodes.
    const fourth = batching.turn().then(() => passed++);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(passed).toBe(0);
    for (const finish of finishDecodes) finish();
    await Promise.all(decodes);
    await Promise.all([batching.turn(), batching.turn(), third, fourth]);
    expect(passed).toBe(2);
  });

  it("does not open on its timer while a decode runs, even with a generation still busy in JavaScript", async () => {
    const batching = new DecodeBatching(20);
    for (let index = 0; index < 3; index++) batching.join();
    // One decodes, one waits, and the third is busy in JavaScript.
    let finishDecode!: () => void;
    const decoding = batching.step(false, () => new Promise<void>((resolve) => (finishDecode = resolve)));
    let passed = false;
    const waiting = batching.turn().then(() => (passed = true));
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(passed).toBe(false);
    // The decode ends and its generation arrives: now only the third is missing, and maxWaitMs applies to it.
    finishDecode();
    await decoding;
    const startedAt = performance.now();
    await Promise.all([batching.turn(), waiting]);
    expect(passed).toBe(true);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(15);
  });

  it("does not wait for a generation whose prompt is being evaluated (a long prefill never stalls the others)", async () => {
    const batching = new DecodeBatching(10_000);
    batching.join();
    batching.join();
    let finishPrefill!: () => void;
    const prefilling = batching.step(true, () => new Promise<void>((resolve) => (finishPrefill = resolve)));
    const startedAt = performance.now();
    await batching.turn();
    expect(performance.now() - startedAt).toBeLessThan(50);
    finishPrefill();
    await prefilling;
  });

  it("lets a prompt step pass at once while others decode, without waiting for them or being waited for", async () => {
    const batching = new DecodeBatching(10_000);
    for (let index = 0; index < 3; index++) batching.join();
    let finishDecode!: () => void;
    const decoding = batching.step(false, () => new Promise<void>((resolve) => (finishDecode = resolve)));
    const startedAt = performance.now();
    await batching.turn(true);
    expect(performance.now() - startedAt).toBeLessThan(50);
    finishDecode();
    await decoding;
  });

  it("holds dispatches back until the hold is released, then dispatches them after the event loop's turn", async () => {
    const batching = new DecodeBatching(10_000);
    batching.join();
    batching.join();
    const release = batching.hold();
    let dispatched = 0;
    batching.schedule(() => dispatched++);
    await new Promise((resolve) => setImmediate(resolve));
    expect(dispatched).toBe(0);
    release();
    release();
    expect(dispatched).toBe(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(dispatched).toBe(1);
  });

  it("dispatches a generation alone at once when it releases its own hold (nothing held back)", () => {
    const batching = new DecodeBatching(10_000);
    const release = batching.hold();
    batching.join();
    release();
    let dispatched = false;
    batching.schedule(() => (dispatched = true));
    expect(dispatched).toBe(true);
  });

  it("keeps dispatches held back until the last of several holds is released", async () => {
    const batching = new DecodeBatching(10_000);
    batching.join();
    batching.join();
    const releaseFirst = batching.hold();
    const releaseSecond = batching.hold();
    let dispatched = false;
    batching.schedule(() => (dispatched = true));
    releaseFirst();
    await new Promise((resolve) => setImmediate(resolve));
    expect(dispatched).toBe(false);
    releaseSecond();
    await new Promise((resolve) => setImmediate(resolve));
    expect(dispatched).toBe(true);
  });
});

describe("inSequenceOrder: node-llama-cpp's batch item strategy", () => {
  const item = (sequence: number, tokens: number): BatchItem => ({
    tokens: Array.from({ length: tokens }, () => 1 as Token),
    logits: [],
    evaluationPriority: sequence as 1,
  });

  it("orders the items by their sequence's index, whatever the order they were queued in", () => {
    const items = [item(3, 1), item(0, 1), item(2, 1), item(1, 1)];
    expect(inSequenceOrder({ items, size: 64 }).map((entry) => entry.item.evaluationPriority)).toEqual([0, 1, 2, 3]);
  });

  it("gives each item a token, then the rest to the items that need the fewest more first, never more than the batch", () => {
    const result = inSequenceOrder({ items: [item(1, 100), item(0, 1), item(2, 10)], size: 64 });
    expect(result.map((entry) => [entry.item.evaluationPriority, entry.processAmount])).toEqual([
      [0, 1],
      [1, 53],
      [2, 10],
    ]);
    expect(result.reduce((total, entry) => total + entry.processAmount, 0)).toBe(64);
  });

  it("evaluates the shortest prompts whole first when prompts do not fit one batch, with one token for every item", () => {
    const result = inSequenceOrder({ items: [item(0, 30), item(1, 1), item(2, 30), item(3, 20)], size: 64 });
    expect(result.map((entry) => [entry.item.evaluationPriority, entry.processAmount])).toEqual([
      [0, 30],
      [1, 1],
      [2, 13],
      [3, 20],
    ]);
  });
});
