import { describe, expect, it } from "vitest";
import { SlotPool } from "./slot-pool.js";

describe("SlotPool", () => {
  it("hands out free slots, then queues waiters first in, first out", async () => {
    const pool = new SlotPool(["a"], { maxWaiting: 2 });
    expect(await pool.acquire()).toBe("a");
    const order: string[] = [];
    const first = pool.acquire().then((slot) => order.push(`first:${slot}`));
    const second = pool.acquire().then((slot) => order.push(`second:${slot}`));
    expect(pool.waiting).toBe(2);
    expect(await pool.acquire()).toBeUndefined();
    pool.release("a");
    await first;
    pool.release("a");
    await second;
    expect(order).toEqual(["first:a", "second:a"]);
    expect(pool.inUse).toBe(1);
  });

  it("removes a waiter whose signal aborts", async () => {
    const pool = new SlotPool([1], { maxWaiting: 1 });
    await pool.acquire();
    const controller = new AbortController();
    const waiting = pool.acquire(controller.signal);
    controller.abort(new Error("gone"));
    await expect(waiting).rejects.toThrow("gone");
    expect(pool.waiting).toBe(0);
    pool.release(1);
    expect(pool.inUse).toBe(0);
  });

  it("rejects every waiter on rejectAll", async () => {
    const pool = new SlotPool([1], { maxWaiting: 4 });
    await pool.acquire();
    const waiting = pool.acquire();
    pool.rejectAll(new Error("closing"));
    await expect(waiting).rejects.toThrow("closing");
  });
});
